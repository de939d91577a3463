//! The real `enroll-hq` binary: kiosk enrolment, listing, revocation, imports, and `serve`
//! answering a signed, sealed hello over TCP.

#[macro_use]
mod backend;

use backend::Backend;
use enroll_sync::client::{self, Traffic};
use enroll_sync::identity::DeviceKey;
use enroll_sync::protocol::{Frame, Header, Hello, Reply, StreamKind};
use enroll_sync::provision::Provisioning;
use enroll_sync::seal::{self, Sealer};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs a command; the PostgreSQL database is given by `ENROLL_HQ_DATABASE` here and by
/// `--database` to `serve`, so both ways are exercised.
fn hq(db: &Backend, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_enroll-hq"));
    match db.database() {
        Some(url) => cmd.env("ENROLL_HQ_DATABASE", url),
        None => cmd.env_remove("ENROLL_HQ_DATABASE"),
    };
    cmd.arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("run enroll-hq")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn enrol_list_serve_revoke_and_refuse_bad_imports(db: &Backend) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("hq");
    let key = DeviceKey::generate();
    let prov_file = tmp.path().join("k.provision.json");
    let out = hq(
        db,
        &dir,
        &[
            "kiosk",
            "add",
            "--name",
            "Xã Mường Nhé",
            "--key",
            &hex::encode(key.public()),
            "--out",
            prov_file.to_str().expect("utf8"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let prov: Provisioning =
        serde_json::from_str(&std::fs::read_to_string(&prov_file).expect("read")).expect("json");
    assert_eq!(prov.kiosk_id, "K00001");
    assert_eq!(prov.kiosk_public, hex::encode(key.public()));
    // The same key twice is refused.
    let again = hq(
        db,
        &dir,
        &[
            "kiosk",
            "add",
            "--name",
            "x",
            "--key",
            &hex::encode(key.public()),
        ],
    );
    assert!(!again.status.success());
    let list = hq(db, &dir, &["kiosks", "list", "--json"]);
    let kiosks: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(kiosks[0]["name"], "Xã Mường Nhé");

    // `serve` on a free loopback port answers a sealed, signed hello with a signed receipt.
    let mut server = Command::new(env!("CARGO_BIN_EXE_enroll-hq"));
    server.env_remove("ENROLL_HQ_DATABASE");
    if let Some(url) = db.database() {
        server.args(["--database", &url]);
    }
    let mut server = server
        .arg("--data-dir")
        .arg(&dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let mut line = String::new();
    BufReader::new(server.stderr.take().expect("stderr"))
        .read_line(&mut line)
        .expect("line");
    let url = line.trim().rsplit(' ').next().expect("url").to_owned();
    let seal_to: [u8; 32] = hex::decode(&prov.hq_seal_public)
        .expect("hex")
        .try_into()
        .expect("32");
    let hello = |kiosk_id: &str| {
        let mut s = Sealer::new(&seal_to).expect("sealer");
        let mut body = s.header().to_vec();
        let h = Header::new(StreamKind::Hello, kiosk_id, &key, s.header());
        body.extend(s.frame(&Frame::Header(h).encode(), false));
        body.extend(s.frame(&Frame::Hello(Hello::default()).encode(), false));
        body.extend(s.frame(&Frame::End { frames: 2 }.encode(), true));
        client::post(
            &url,
            "/v1/sync",
            &mut body.as_slice(),
            &mut Traffic::default(),
        )
        .expect("post")
    };
    let (status, bytes) = hello("K00001");
    assert_eq!(status, 200, "{}", text(&bytes));
    let frames = seal::open_all(&key.seal_secret(), &bytes).expect("sealed to the kiosk");
    let reply = Reply::decode(&frames[0]).expect("reply");
    let sign: Vec<u8> = hex::decode(&prov.hq_sign_public).expect("hex");
    let receipt = reply.verified_receipt(&sign).expect("HQ signed it");
    assert_eq!(receipt.kiosk_id, "K00001");
    let (status, bytes) = hello("K99999");
    assert_eq!(status, 403);
    assert!(text(&bytes).contains("unknown_kiosk"), "{}", text(&bytes));

    let out = hq(db, &dir, &["kiosk", "revoke", "K00001"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (status, bytes) = hello("K00001");
    assert_eq!(status, 403);
    assert!(text(&bytes).contains("revoked_kiosk"), "{}", text(&bytes));
    server.kill().expect("kill");
    let _ = server.wait();
    let list = hq(db, &dir, &["kiosks", "list"]);
    assert!(
        text(&list.stdout).contains("REVOKED"),
        "{}",
        text(&list.stdout)
    );

    // A file that is not a bundle is refused whole, with the reason; exit code 1.
    let junk = tmp.path().join("junk.bundle");
    std::fs::write(&junk, b"not a bundle at all, just bytes").expect("write");
    let out = hq(db, &dir, &["import", junk.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("whole file refused"),
        "{}",
        text(&out.stderr)
    );
    let out = hq(db, &dir, &["records", "list", "--json"]);
    assert_eq!(text(&out.stdout).trim(), "[]");
    let out = hq(
        db,
        &dir,
        &[
            "records",
            "set-status",
            "01a21c83-06c3-706e-9f95-4f19e150c112",
            "lost",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
}

on_each_backend!(enrol_list_serve_revoke_and_refuse_bad_imports);
