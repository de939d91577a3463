//! The kiosk's transport against hostile and real HQs, with the real binaries on loopback:
//! a hostile fake HQ's answers (huge Content-Length, a chunk size of 2^64-1, endless headers)
//! end `kiosk sync` quickly with a plain error, bounded memory, and records still waiting;
//! `enroll-hq serve --tls-cert/--tls-key` with a self-signed certificate syncs a kiosk
//! provisioned with its pin over https://, refuses nothing to it, while an HQ serving another
//! certificate is refused by the kiosk with the pin error and acknowledges nothing; a stalled
//! TLS handshake is closed by HQ's idle timeout and counts against its connection caps.

mod common;

use chrono::Utc;
use common::{kiosk, kiosk_bin, stderr, stdout, Serve};
use enroll_sync::client::{self, Options, Traffic};
use enroll_sync::record::{Attribution, Enrollment};
use kiosk::store::Store;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

const PIN: &str = "2468101357";

fn hq(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_enroll-hq"))
        .env_remove("ENROLL_HQ_DATABASE")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("run enroll-hq")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// `enroll-hq serve` on `dir` with `args` (its address, TLS files).
fn start_hq(dir: &Path, args: &[&str]) -> Serve {
    Serve::spawn(
        Command::new(env!("CARGO_BIN_EXE_enroll-hq"))
            .env_remove("ENROLL_HQ_DATABASE")
            .arg("--data-dir")
            .arg(dir)
            .arg("serve")
            .args(args),
    )
}

/// A kiosk enrolled at HQ with `kiosk add` (extra arguments: `--hq-url`, `--tls-cert`).
fn enrolled_kiosk(hq_dir: &Path, data: &Path, add: &[&str]) {
    let req = data.with_extension("req.json");
    let out = kiosk(
        data,
        &["provision", "--request", req.to_str().expect("utf8")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let prov = data.with_extension("prov.json");
    let mut args = vec![
        "kiosk",
        "add",
        "--name",
        "Xã Sìn Hồ",
        "--request",
        req.to_str().expect("utf8"),
        "--out",
        prov.to_str().expect("utf8"),
    ];
    args.extend_from_slice(add);
    let out = hq(hq_dir, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kiosk(data, &["provision", prov.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let mut store = Store::open(data).expect("store");
    store.use_test_only_kdf();
    store
        .init_supervisor("sup", "Trần Văn Giám", PIN, Utc::now())
        .expect("supervisor");
}

fn add_records(data: &Path, n: u32) {
    let mut store = Store::open(data).expect("store");
    store.unlock("sup", PIN, Utc::now()).expect("unlock");
    for seed in 0..n {
        let mut r = enroll_sync::record::example(Utc::now());
        r.id = Uuid::now_v7();
        r.enrollment_no.clear();
        r.applicant.id_number = Some(format!("0010587{seed:05}"));
        let photo = store
            .put_blob(format!("photo {seed}").as_bytes(), "image/jpeg")
            .expect("blob");
        let mut v = serde_json::to_value(&r).expect("json");
        common::replace_hashes(&mut v, &store, &photo);
        let r: Enrollment = serde_json::from_value(v).expect("record");
        let by = Attribution {
            person: "op".into(),
            device: "test".into(),
            at: Utc::now(),
        };
        store.save(&r, &by).expect("save");
    }
}

fn pending(data: &Path) -> usize {
    Store::open(data)
        .expect("store")
        .pending_sync()
        .expect("pending")
        .len()
}

/// Runs `kiosk sync` with these arguments; returns its output, time and peak RSS (KiB).
/// The child is reaped with `wait4` (for its own rusage), not `Child::wait`.
#[allow(clippy::zombie_processes)]
fn kiosk_sync(data: &Path, args: &[&str]) -> (Output, Duration, i64) {
    let started = Instant::now();
    let child = Command::new(kiosk_bin())
        .arg("sync")
        .args(args)
        .env("KIOSK_DATA_DIR", data)
        .env("KIOSK_PIN", PIN)
        .env_remove("KIOSK_OPERATOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kiosk sync");
    let pid = child.id() as libc::pid_t;
    let (mut out, mut err) = (child.stdout.expect("out"), child.stderr.expect("err"));
    let readers = std::thread::spawn(move || {
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let t = std::thread::spawn(move || {
            let _ = err.read_to_end(&mut e);
            e
        });
        let _ = out.read_to_end(&mut o);
        (o, t.join().unwrap_or_default())
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 reaps our own child and fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4");
    let took = started.elapsed();
    let (stdout, stderr) = readers.join().expect("readers");
    use std::os::unix::process::ExitStatusExt;
    let output = Output {
        status: std::process::ExitStatus::from_raw(status),
        stdout,
        stderr,
    };
    (output, took, usage.ru_maxrss)
}

/// A fake HQ that reads each request to its end and answers it with `answer`.
fn hostile_hq(answer: &'static [u8], then: &'static [u8]) -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(10))).ok();
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while !seen.ends_with(b"0\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                if s.write_all(answer).is_err() {
                    return;
                }
                // Keep sending for as long as the kiosk reads, up to 8 GiB.
                let mut sent = 0u64;
                while !then.is_empty() && sent < 8 << 30 {
                    if s.write_all(then).is_err() {
                        return;
                    }
                    sent += then.len() as u64;
                }
            });
        }
    });
    url
}

#[test]
fn hostile_answers_end_the_sync_plainly_with_records_waiting() {
    let root = tempfile::tempdir().expect("tmp");
    let hq_dir = root.path().join("hq");
    let data = root.path().join("k");
    enrolled_kiosk(&hq_dir, &data, &[]);
    add_records(&data, 3);
    assert_eq!(pending(&data), 3);
    static ZEROS: [u8; 64 * 1024] = [0u8; 64 * 1024];
    let cases: [(&str, &[u8], &[u8], &str); 3] = [
        (
            "Content-Length 2^40",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1099511627776\r\n\r\n",
            &ZEROS,
            "larger than",
        ),
        (
            "chunk size ffffffffffffffff",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
            &ZEROS,
            "larger than",
        ),
        (
            "endless headers",
            b"HTTP/1.1 200 OK\r\n",
            b"X-More: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
            "headers ran past",
        ),
    ];
    for (what, answer, then, says) in cases {
        let url = hostile_hq(answer, then);
        let (out, took, rss_kib) = kiosk_sync(&data, &["--hq", &url]);
        eprintln!(
            "{what}: exit {:?} in {took:?}, peak RSS {} MiB",
            out.status.code(),
            rss_kib / 1024
        );
        assert!(!out.status.success(), "{what}: {}", stdout(&out));
        let err = stderr(&out);
        assert!(err.contains(says), "{what}: {err}");
        assert!(err.contains("nothing was lost"), "{what}: {err}");
        assert!(took < Duration::from_secs(30), "{what}: {took:?}");
        // The answer cap is 64 MiB: the kiosk stays well inside that plus its own size.
        assert!(rss_kib < 200 * 1024, "{what}: peak RSS {rss_kib} KiB");
        assert_eq!(pending(&data), 3, "{what}: records still waiting");
    }
}

fn tls_generate(dir: &Path, name: &str) -> (String, String, String) {
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    let out = hq(
        dir,
        &[
            "tls",
            "generate",
            "--name",
            "127.0.0.1,localhost",
            "--cert-out",
            cert.to_str().expect("utf8"),
            "--key-out",
            key.to_str().expect("utf8"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let pin = stdout(&out)
        .trim()
        .rsplit(' ')
        .next()
        .expect("pin")
        .to_owned();
    assert_eq!(pin.len(), 64, "{}", stdout(&out));
    (
        cert.to_str().expect("utf8").to_owned(),
        key.to_str().expect("utf8").to_owned(),
        pin,
    )
}

#[test]
fn https_with_the_pinned_certificate_syncs_and_another_certificate_is_refused() {
    let root = tempfile::tempdir().expect("tmp");
    let hq_dir = root.path().join("hq");
    std::fs::create_dir_all(&hq_dir).expect("dir");
    let (cert, key, pin) = tls_generate(root.path(), "hq");
    let (other_cert, other_key, other_pin) = tls_generate(root.path(), "impostor");
    assert_ne!(pin, other_pin);
    let port = free_port();
    let url = format!("https://127.0.0.1:{port}");
    // An https:// address without the certificate is refused at HQ, before any file is made.
    let out = hq(
        &hq_dir,
        &[
            "kiosk",
            "add",
            "--name",
            "x",
            "--key",
            &"ab".repeat(32),
            "--hq-url",
            &url,
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--tls-cert"), "{}", stderr(&out));

    let data = root.path().join("k");
    enrolled_kiosk(&hq_dir, &data, &["--hq-url", &url, "--tls-cert", &cert]);
    let prov = std::fs::read_to_string(data.with_extension("prov.json")).expect("prov");
    assert!(prov.contains(&pin), "{prov}");
    add_records(&data, 3);

    // The same HQ data behind another certificate: the kiosk refuses it, HQ gets nothing.
    let listen = format!("127.0.0.1:{port}");
    {
        let _impostor = start_hq(
            &hq_dir,
            &[
                "--listen",
                &listen,
                "--tls-cert",
                &other_cert,
                "--tls-key",
                &other_key,
            ],
        );
        let (out, took, _) = kiosk_sync(&data, &[]);
        assert!(!out.status.success(), "{}", stdout(&out));
        let err = stderr(&out);
        assert!(err.contains("not the one pinned"), "{err}");
        assert!(err.contains(&other_pin), "{err}");
        assert!(took < Duration::from_secs(30), "{took:?}");
        assert_eq!(pending(&data), 3);
    }
    let listed = hq(&hq_dir, &["records", "list", "--json"]);
    assert_eq!(stdout(&listed).trim(), "[]", "HQ holds nothing");

    // The real certificate: synced over https://, everything acknowledged.
    let _serve = start_hq(
        &hq_dir,
        &["--listen", &listen, "--tls-cert", &cert, "--tls-key", &key],
    );
    let (out, _, _) = kiosk_sync(&data, &["--supervisor", "sup"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("3 được xác nhận"), "{}", stdout(&out));
    assert_eq!(pending(&data), 0);

    // Plain http:// to a TLS port fails plainly, and so does https:// to nothing.
    let mut traffic = Traffic::default();
    let e = client::post(
        &format!("http://{listen}"),
        "/v1/sync",
        &mut &b"x"[..],
        &mut traffic,
    )
    .expect_err("not HTTP");
    eprintln!("http to a TLS port: {e}");
}

#[test]
fn stalled_tls_handshakes_are_closed_and_capped() {
    let root = tempfile::tempdir().expect("tmp");
    let hq_dir = root.path().join("hq");
    std::fs::create_dir_all(&hq_dir).expect("dir");
    let (cert, key, pin) = tls_generate(root.path(), "hq");
    let listen = format!("127.0.0.1:{}", free_port());
    let _serve = start_hq(
        &hq_dir,
        &[
            "--listen",
            &listen,
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--idle-timeout",
            "1",
            "--max-connections-per-address",
            "2",
        ],
    );
    // Two peers open connections and stall: one says nothing, one sends half a ClientHello.
    let mut silent = TcpStream::connect(&listen).expect("connect");
    let mut half = TcpStream::connect(&listen).expect("connect");
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])
        .expect("write");
    std::thread::sleep(Duration::from_millis(200));
    // A third from the same address is over the cap: the fixed 503, closed.
    let mut third = TcpStream::connect(&listen).expect("connect");
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut got = Vec::new();
    let _ = third.read_to_end(&mut got);
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 503"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    // The stalled handshakes are closed after the idle timeout (1 s), not held open.
    for s in [&mut silent, &mut half] {
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let started = Instant::now();
        let mut buf = [0u8; 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => continue, // a TLS alert
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
    // Their slots are free again: a pinned TLS client is served (HQ refuses the junk body).
    std::thread::sleep(Duration::from_millis(200));
    let options = Options {
        pin: Some(hex::decode(&pin).expect("hex").try_into().expect("32")),
        ..Options::default()
    };
    let mut traffic = Traffic::default();
    let (status, _) = client::post_with(
        &format!("https://{listen}"),
        "/v1/sync",
        &mut &b"not a sealed stream"[..],
        &mut traffic,
        &options,
    )
    .expect("served over TLS");
    assert_eq!(status / 100, 4, "{status}");
    assert!(traffic.sent > 0 && traffic.received > 0);
}
