//! Hostile input against the real `enroll-hq serve` over loopback HTTP, with HQ's peak RSS
//! (VmHWM) read from /proc: first from a peer HQ does not know yet, then from a provisioned
//! kiosk that turns hostile. Each test prints its figures (time to refuse, bytes answered,
//! peak RSS growth).

mod common;
mod fixture;

use automerge::ChangeHash;
use common::Serve;
use enroll_sync::identity::DeviceKey;
use enroll_sync::protocol::{
    BlobChunk, Frame, Header, Hello, RecordChanges, Reply, SignedChange, StreamKind,
};
use enroll_sync::seal::{self, Sealer};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use uuid::Uuid;

const KIOSK: &str = "K00001";

/// The real binary serving `dir`, with `args` after `serve`.
struct Server {
    hq: Serve,
    addr: String,
}

impl Server {
    /// `HOSTILE_HQ_BIN` points the attacks at another build (to show what an older HQ did).
    fn start(dir: &Path, args: &[&str]) -> Server {
        let bin = std::env::var_os("HOSTILE_HQ_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_enroll-hq").into());
        let hq = Serve::spawn(
            Command::new(bin)
                .env_remove("ENROLL_HQ_DATABASE")
                .arg("--data-dir")
                .arg(dir)
                .args(["serve", "--listen", "127.0.0.1:0"])
                .args(args),
        );
        assert!(hq.url.starts_with("http://"), "{}", hq.url);
        let addr = hq.url.trim_start_matches("http://").to_owned();
        Server { hq, addr }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn status_kb(&mut self, field: &str) -> u64 {
        assert!(
            self.hq.child.try_wait().expect("wait").is_none(),
            "HQ died under attack"
        );
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.hq.child.id()))
            .expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("field")
    }

    /// HQ's peak resident set so far, in MiB.
    fn peak_mib(&mut self) -> f64 {
        self.status_kb("VmHWM:") as f64 / 1024.0
    }
}

/// HQ's data directory with one kiosk enrolled; returns the kiosk's key and HQ's seal key.
fn hq_with_kiosk(dir: &Path) -> (DeviceKey, [u8; 32], [u8; 32]) {
    let hq = enroll_hq::Hq::open(dir).expect("hq");
    let key = DeviceKey::generate();
    hq.add_kiosk("Xã A", &hex::encode(key.public()), Some(KIOSK))
        .expect("add");
    (key, hq.seal_public(), hq.sign_public())
}

/// A stream of `frames` after a header signed by `key`, ended properly.
fn stream(seal: &[u8; 32], key: &DeviceKey, kind: StreamKind, frames: &[Frame]) -> Vec<u8> {
    let mut s = Sealer::new(seal).expect("sealer");
    let mut out = s.header().to_vec();
    let h = Header::new(kind, KIOSK, key, s.header());
    out.extend(s.frame(&Frame::Header(h).encode(), false));
    for f in frames {
        out.extend(s.frame(&f.encode(), false));
    }
    let end = Frame::End {
        frames: frames.len() as u64 + 1,
    };
    out.extend(s.frame(&end.encode(), true));
    out
}

struct Answer {
    status: u16,
    /// The body's first 64 KB.
    body: Vec<u8>,
    /// Every byte HQ answered, headers included.
    bytes: u64,
    elapsed: Duration,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn send(addr: &str, body: &[u8]) -> TcpStream {
    let mut c = TcpStream::connect(addr).expect("connect");
    let head = format!(
        "POST /v1/sync HTTP/1.1\r\nHost: hq\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).expect("head");
    c.write_all(body).expect("body");
    c
}

/// Posts `body` and reads the whole answer (to the connection's close).
fn post(addr: &str, body: &[u8]) -> Answer {
    let t = Instant::now();
    let mut c = send(addr, body);
    c.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut all = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                bytes += n as u64;
                if all.len() < 1 << 16 {
                    all.extend_from_slice(&buf[..n]);
                }
            }
            // HQ closes without reading the rest of a refused body: a reset after the answer.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !all.is_empty() => break,
            Err(e) => panic!("reading HQ's answer: {e}"),
        }
    }
    let elapsed = t.elapsed();
    let text = String::from_utf8_lossy(&all).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let at = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(all.len(), |p| p + 4);
    Answer {
        status,
        body: all[at..].to_vec(),
        bytes,
        elapsed,
    }
}

fn honest_hello_works(srv: &Server, seal: &[u8; 32], key: &DeviceKey, sign: &[u8; 32]) {
    let body = stream(
        seal,
        key,
        StreamKind::Hello,
        &[Frame::Hello(Hello::default())],
    );
    let a = post(&srv.addr, &body);
    assert_eq!(a.status, 200, "{}", a.text());
    let frames = seal::open_all(&key.seal_secret(), &a.body).expect("sealed to the kiosk");
    let reply = Reply::decode(&frames[0]).expect("reply");
    reply.verified_receipt(sign).expect("HQ signed it");
}

/// A sealed header frame naming a kiosk id of `n` bytes: compresses to ~n/1000 bytes.
fn huge_header(seal: &[u8; 32], n: usize) -> Vec<u8> {
    let mut s = Sealer::new(seal).expect("sealer");
    let mut out = s.header().to_vec();
    let h = Header {
        version: enroll_sync::protocol::PROTOCOL,
        kind: StreamKind::Hello,
        kiosk_id: "A".repeat(n),
        stream_id: [0; 16],
        created_ms: 0,
        signature: [0; 64],
    };
    out.extend(s.frame(&Frame::Header(h).encode(), true));
    out
}

#[test]
fn before_hq_knows_the_peer_answers_are_short_and_hq_stays_small() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("hq");
    let (key, seal, sign) = hq_with_kiosk(&dir);
    let mut srv = Server::start(&dir, &["--idle-timeout", "5"]);
    honest_hello_works(&srv, &seal, &key, &sign);
    let base = srv.peak_mib();
    // Just under the old 32 MiB inflate limit, so the old HQ decodes it and echoes it twice.
    let attack = huge_header(&seal, (32 << 20) - 4096);
    assert!(attack.len() < 64 << 10, "{}", attack.len());
    // 16 peers send it and never read their answers.
    let silent: Vec<TcpStream> = (0..16).map(|_| send(&srv.addr, &attack)).collect();
    std::thread::sleep(Duration::from_millis(1500));
    let a = post(&srv.addr, &attack);
    let peak = srv.peak_mib();
    eprintln!(
        "unauthenticated {} KB header x17: {} in {:?}, {} bytes answered, peak RSS {base:.1} -> {peak:.1} MiB",
        attack.len() / 1024,
        a.status,
        a.elapsed,
        a.bytes
    );
    assert!(matches!(a.status, 400 | 403), "{}", a.status);
    assert!(a.body.len() <= 512, "answer of {} bytes", a.body.len());
    assert!(!a.text().contains("AAAA"), "the answer echoes the input");
    assert!(
        peak - base < 48.0,
        "HQ grew from {base:.1} to {peak:.1} MiB"
    );
    drop(silent);
    // Not a header first: refused without decoding the rest.
    let mut s = Sealer::new(&seal).expect("sealer");
    let mut junk = s.header().to_vec();
    junk.extend(s.frame(&Frame::Hello(Hello::default()).encode(), true));
    let a = post(&srv.addr, &junk);
    assert_eq!(a.status, 400, "{}", a.text());
    assert!(a.text().contains("[protocol]"), "{}", a.text());
    honest_hello_works(&srv, &seal, &key, &sign);
}

#[test]
fn stalled_peers_are_closed_and_connections_are_capped_per_address() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("hq");
    let (key, seal, sign) = hq_with_kiosk(&dir);
    let srv = Server::start(
        &dir,
        &["--idle-timeout", "4", "--max-connections-per-address", "4"],
    );
    let closed_within = |c: &mut TcpStream| {
        let t = Instant::now();
        c.set_read_timeout(Some(Duration::from_secs(15)))
            .expect("timeout");
        let mut buf = [0u8; 4096];
        let mut got = Vec::new();
        loop {
            match c.read(&mut buf) {
                Ok(0) => return (t.elapsed(), got),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return (t.elapsed(), got)
                }
                Err(e) => panic!("HQ kept a stalled connection open: {e}"),
            }
        }
    };
    // Half a request line and headers, then nothing.
    let mut half = TcpStream::connect(&srv.addr).expect("connect");
    half.write_all(b"POST /v1/sync HTTP/1.1\r\nHost: hq\r\n")
        .expect("write");
    // A whole head and the start of a body, then nothing.
    let body = stream(
        &seal,
        &key,
        StreamKind::Hello,
        &[Frame::Hello(Hello::default())],
    );
    let mut stalled = TcpStream::connect(&srv.addr).expect("connect");
    let head = format!(
        "POST /v1/sync HTTP/1.1\r\nHost: hq\r\nContent-Length: {}\r\n\r\n",
        body.len() + 1000
    );
    stalled.write_all(head.as_bytes()).expect("write");
    stalled.write_all(&body[..60]).expect("write");
    let (t1, _) = closed_within(&mut half);
    let (t2, answer) = closed_within(&mut stalled);
    eprintln!(
        "stalled head closed after {t1:?}, stalled body after {t2:?} ({} bytes answered)",
        answer.len()
    );
    assert!(t1 < Duration::from_secs(9) && t2 < Duration::from_secs(9));
    assert!(answer.len() <= 1024, "{}", answer.len());

    // Four open connections from this address; the fifth is refused at once. HQ frees a
    // closed connection's place when its task ends, a moment after the peer sees the close:
    // each held connection is kept only once HQ has admitted it (no 503 within 150 ms).
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut held: Vec<TcpStream> = Vec::new();
    while held.len() < 4 {
        let mut c = TcpStream::connect(&srv.addr).expect("connect");
        c.set_read_timeout(Some(Duration::from_millis(150)))
            .expect("timeout");
        let mut first = [0u8; 1];
        match c.read(&mut first) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                held.push(c)
            }
            _ => assert!(
                Instant::now() < deadline,
                "HQ kept refusing a held connection"
            ),
        }
    }
    let t = Instant::now();
    let mut fifth = TcpStream::connect(&srv.addr).expect("connect");
    fifth
        // Within the idle timeout, so the four held connections still count.
        .set_read_timeout(Some(Duration::from_millis(3500)))
        .expect("timeout");
    let mut got = Vec::new();
    let _ = fifth.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    eprintln!(
        "fifth connection: {:?} after {:?}",
        text.lines().next(),
        t.elapsed()
    );
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("[busy]"), "{text}");
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    honest_hello_works(&srv, &seal, &key, &sign);
}

/// An Automerge chunk of type 2 (compressed change) that inflates to `n` zero bytes.
fn compressed_change_bomb(n: usize) -> Vec<u8> {
    let deflated = miniz_oxide::deflate::compress_to_vec(&vec![0u8; n], 10);
    let mut c = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
    let mut len = deflated.len();
    while len >= 0x80 {
        c.push((len as u8) | 0x80);
        len >>= 7;
    }
    c.push(len as u8);
    c.extend(deflated);
    c
}

fn changes(key: &DeviceKey, per_record: Vec<Vec<Vec<u8>>>) -> Frame {
    Frame::Changes(
        per_record
            .into_iter()
            .map(|bytes| {
                let id = Uuid::now_v7();
                RecordChanges {
                    record: id,
                    changes: bytes
                        .into_iter()
                        .map(|b| SignedChange::sign(key, id, &ChangeHash([0; 32]), b))
                        .collect(),
                    heads: Vec::new(),
                }
            })
            .collect(),
    )
}

#[test]
fn a_hostile_kiosk_is_refused_by_rule_before_parsing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("hq");
    let (key, seal, sign) = hq_with_kiosk(&dir);
    let mut srv = Server::start(&dir, &["--idle-timeout", "5"]);
    honest_hello_works(&srv, &seal, &key, &sign);
    let base = srv.peak_mib();
    let refused = |srv: &mut Server, what: &str, frames: &[Frame], rule: &str| {
        let body = stream(&seal, &key, StreamKind::Push, frames);
        let a = post(&srv.addr, &body);
        let peak = srv.peak_mib();
        eprintln!(
            "{what} ({} KB): {} in {:?}, {} bytes answered, peak RSS {base:.1} -> {peak:.1} MiB",
            body.len() / 1024,
            a.status,
            a.elapsed,
            a.bytes
        );
        assert_eq!(a.status, 400, "{what}: {}", a.text());
        assert!(
            a.text().contains(&format!("[{rule}]")),
            "{what}: {}",
            a.text()
        );
        assert!(a.body.len() <= 512);
        assert!(peak - base < 48.0, "{what}: HQ grew to {peak:.1} MiB");
    };
    // Compressed change chunks: each would inflate to 64 MiB inside automerge.
    let bomb = compressed_change_bomb(64 << 20);
    refused(
        &mut srv,
        "compressed change chunks",
        &[changes(&key, vec![vec![bomb.clone()]; 6])],
        "limit_change_chunk",
    );
    // A document chunk where a change belongs.
    let mut doc_chunk = bomb[..12].to_vec();
    doc_chunk[8] = 0;
    refused(
        &mut srv,
        "document chunk as a change",
        &[changes(&key, vec![vec![doc_chunk]])],
        "limit_change_chunk",
    );
    refused(
        &mut srv,
        "5000 changes for one record",
        &[changes(&key, vec![vec![vec![1u8; 4]; 5000]])],
        "limit_changes",
    );
    refused(
        &mut srv,
        "a blob claiming 1 TiB",
        &[Frame::Blob(BlobChunk {
            sha256: [7; 32],
            media_type: "image/jpeg".into(),
            total: 1 << 40,
            offset: 0,
            data: vec![1; 100],
        })],
        "limit_blob",
    );
    refused(
        &mut srv,
        "a blob chunk past its total",
        &[Frame::Blob(BlobChunk {
            sha256: [7; 32],
            media_type: "image/jpeg".into(),
            total: 10,
            offset: 5,
            data: vec![1; 100],
        })],
        "limit_blob",
    );
    let hello = Hello {
        records: (0..250_000u32)
            .map(|i| (Uuid::from_u128(u128::from(i) + 1), [0; 8]))
            .collect(),
        ..Hello::default()
    };
    refused(
        &mut srv,
        "a hello offering 250,000 records",
        &[Frame::Hello(hello)],
        "limit_hello",
    );
    honest_hello_works(&srv, &seal, &key, &sign);
}

#[test]
fn blobs_no_record_of_the_kiosk_refers_to_are_not_kept() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("hq");
    let (key, seal, sign) = hq_with_kiosk(&dir);
    let srv = Server::start(&dir, &["--idle-timeout", "5"]);
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sha: [u8; 32] = {
        use sha2::Digest;
        sha2::Sha256::digest(&data).into()
    };
    let blob = Frame::Blob(BlobChunk {
        sha256: sha,
        media_type: "application/octet-stream".into(),
        total: data.len() as u64,
        offset: 0,
        data,
    });
    let a = post(&srv.addr, &stream(&seal, &key, StreamKind::Push, &[blob]));
    assert_eq!(a.status, 200, "{}", a.text());
    let frames = seal::open_all(&key.seal_secret(), &a.body).expect("sealed");
    let receipt = Reply::decode(&frames[0])
        .expect("reply")
        .verified_receipt(&sign)
        .expect("signed");
    assert_eq!(receipt.rejections.len(), 1, "{:?}", receipt.rejections);
    assert_eq!(receipt.rejections[0].code, "blob_unreferenced");
    let hq = enroll_hq::Hq::open(&dir).expect("hq");
    assert_eq!(hq.blobs().have(&sha).expect("have"), (0, false));
}

#[test]
fn a_kiosk_past_its_daily_record_quota_is_refused_by_name() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("hq");
    let hq = enroll_hq::Hq::open(&dir).expect("hq");
    let srv = Server::start(&dir, &["--quota-records-per-day", "3"]);
    let k = fixture::Kiosk::new(&hq, &tmp.path().join("k"), KIOSK, &srv.url());
    drop(hq);
    k.add_demo(5, 3);
    let err = k.sync().expect_err("over quota");
    let text = err.to_string();
    eprintln!("quota: {text}");
    assert!(text.contains("quota_records"), "{text}");
    assert!(text.contains("hạn mức"), "{text}");
}

#[test]
fn duplicate_notices_do_not_reveal_another_kiosks_record_ids() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (hq, url) = fixture::serve_in_process(&tmp.path().join("hq"));
    let a = fixture::Kiosk::new(&hq, &tmp.path().join("a"), "K00001", &url);
    let b = fixture::Kiosk::new(&hq, &tmp.path().join("b"), "K00002", &url);
    let mut g = kiosk::demo::DemoGenerator::new(5, fixture::fixed_now());
    let person = g.record();
    let mut again = person.clone();
    again.id = Uuid::now_v7();
    again.enrollment_no.clear();
    // Kiosk A enrols the person twice (its own duplicate), kiosk B once more.
    let mut twice = person.clone();
    twice.id = Uuid::now_v7();
    twice.enrollment_no.clear();
    let a_ids = a.add(vec![person, twice]);
    let b_ids = b.add(vec![again]);
    a.sync().expect("a");
    b.sync().expect("b");
    a.sync().expect("a again");
    b.sync().expect("b again");
    let reason = |k: &fixture::Kiosk, id: &Uuid| {
        let r = k.store().load(id).expect("load").expect("record");
        let hq = r.review.hq.expect("HQ status reached the kiosk");
        assert_eq!(hq.status, enroll_hq::HqState::Duplicate);
        let mut text = hq.reason.unwrap_or_default();
        for e in &r.review.history {
            text.push_str(e.reason.as_deref().unwrap_or_default());
        }
        text
    };
    for id in &a_ids {
        let text = reason(&a, id);
        assert!(!text.contains(&b_ids[0].to_string()), "{text}");
    }
    let text = reason(&b, &b_ids[0]);
    for id in &a_ids {
        assert!(!text.contains(&id.to_string()), "{text}");
    }
    // Within one kiosk the other record is named: it is the kiosk's own.
    let text = reason(&a, &a_ids[0]);
    assert!(text.contains(&a_ids[1].to_string()), "{text}");
}

#[test]
fn a_kiosk_signed_change_to_hqs_status_is_refused_naming_the_path() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (hq, url) = fixture::serve_in_process(&tmp.path().join("hq"));
    let k = fixture::Kiosk::new(&hq, &tmp.path().join("k"), KIOSK, &url);
    let id = k.add_demo(1, 4)[0];
    k.sync().expect("sync");
    hq.set_status(
        &id,
        enroll_hq::HqState::Rejected,
        Some("ảnh mờ".into()),
        "hq-admin",
    )
    .expect("status");
    k.sync().expect("HQ's status reaches the kiosk");
    // The kiosk, turned hostile, signs a change that prints the card over HQ's refusal.
    let mut store = k.store();
    let mut r = store.load(&id).expect("load").expect("record");
    let mut status = r.review.hq.clone().expect("HQ's status");
    assert_eq!(status.status, enroll_hq::HqState::Rejected);
    status.status = enroll_hq::HqState::CardPrinted;
    status.reason = None;
    r.review.hq = Some(status);
    store.save(&r, &fixture::by("op")).expect("save");
    let report = k.sync().expect("sync");
    eprintln!("refused: {:?}", report.rejected);
    assert!(
        report
            .rejected
            .iter()
            .any(|x| x.contains("[write_authority]") && x.contains("review.hq")),
        "{:?}",
        report.rejected
    );
    let rows = fixture::all_records(&hq);
    assert_eq!(rows[0].p.hq_status.as_deref(), Some("rejected"));
}

#[test]
fn a_record_changed_in_two_frames_of_one_stream_keeps_both_changes() {
    // HQ reads and merges the second frame ahead, before the first is written: writing it must
    // merge again onto what the first frame wrote.
    let tmp = tempfile::tempdir().expect("tmp");
    let (hq, url) = fixture::serve_in_process(&tmp.path().join("hq"));
    let k = fixture::Kiosk::new(&hq, &tmp.path().join("k"), KIOSK, &url);
    let id = k.add_demo(1, 7)[0];
    let mut store = k.store();
    let mut r = store.load(&id).expect("load").expect("present");
    r.contact.phone = Some("0900000009".into());
    assert!(store.save(&r, &fixture::by("op")).expect("edit").changed);
    let sent = store.changes_after(&id, &[]).expect("changes");
    assert_eq!(sent.len(), 2, "the record and its edit");
    let frame = |cs: &[(ChangeHash, Vec<u8>)]| {
        Frame::Changes(vec![RecordChanges {
            record: id,
            changes: cs
                .iter()
                .map(|(h, b)| SignedChange::sign(&k.key, id, h, b.clone()))
                .collect(),
            heads: Vec::new(),
        }])
    };
    let frames = [frame(&sent[..1]), frame(&sent[1..])];
    let body = stream(&k.prov.hq_seal, &k.key, StreamKind::Push, &frames);
    let answer = post(url.trim_start_matches("http://"), &body);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let held = hq.session().expect("session").records(&[id]).expect("read");
    let heads = store.heads(&id).expect("heads").expect("present");
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].heads, heads, "HQ holds the edit too");
}
