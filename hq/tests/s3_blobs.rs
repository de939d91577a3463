//! Blobs in S3-compatible object storage: a real S3 server (moto) started by each test, the real
//! `enroll-hq serve --blobs s3://…` binary, real kiosk data directories, loopback TCP.

mod common;
mod s3support;

use chrono::Utc;
use common::{kiosk, proxy, stderr, stdout, Serve};
use enroll_hq::Blobs;
use enroll_sync::client::{self, Traffic};
use enroll_sync::identity::DeviceKey;
use enroll_sync::protocol::{Frame, Header, Hello, Reply, StreamKind};
use enroll_sync::provision::Provisioning;
use enroll_sync::record::{Attribution, Enrollment};
use enroll_sync::seal::{self, Sealer};
use kiosk::store::Store;
use kiosk::sync::{self as ksync, Provisioned};
use s3support::{free_port, Moto, BUCKET};
use sha2::{Digest, Sha256};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tempfile::TempDir;
use uuid::Uuid;

const PREFIX: &str = "hq/blobs";
const PIN: &str = "2468101357";

fn spec() -> String {
    format!("s3://{BUCKET}/{PREFIX}")
}

/// `enroll-hq` with blobs in S3 at `endpoint` (`Moto::env`, or a port where nothing listens).
fn hq_command(dir: &Path, env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_enroll-hq"));
    cmd.env_remove("ENROLL_HQ_DATABASE")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .arg("--data-dir")
        .arg(dir)
        .args(["--blobs", &spec()]);
    cmd
}

fn hq(dir: &Path, env: &[(&str, String)], args: &[&str]) -> Output {
    hq_command(dir, env)
        .args(args)
        .output()
        .expect("run enroll-hq")
}

/// `enroll-hq serve` on a free loopback port; killed when dropped.
fn start_hq(dir: &Path, env: &[(&str, String)]) -> Serve {
    Serve::spawn(hq_command(dir, env).args(["serve", "--listen", "127.0.0.1:0"]))
}

/// A kiosk enrolled the way a field team does it: request file → `enroll-hq kiosk add` →
/// provisioning file; with a supervisor, so its biometrics can be read for sending.
fn enrolled_kiosk(hq_dir: &Path, env: &[(&str, String)], data: &Path) -> Provisioning {
    let req = data.with_extension("req.json");
    let out = kiosk(
        data,
        &["provision", "--request", req.to_str().expect("utf8")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let prov = data.with_extension("prov.json");
    let out = hq(
        hq_dir,
        env,
        &[
            "kiosk",
            "add",
            "--name",
            "Xã Sìn Hồ",
            "--request",
            req.to_str().expect("utf8"),
            "--out",
            prov.to_str().expect("utf8"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kiosk(data, &["provision", prov.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let mut store = Store::open(data).expect("store");
    store.use_test_only_kdf();
    store
        .init_supervisor("sup", "Trần Văn Giám", PIN, Utc::now())
        .expect("supervisor");
    serde_json::from_str(&std::fs::read_to_string(&prov).expect("read")).expect("provisioning")
}

fn unlocked(data: &Path) -> Store {
    let mut store = Store::open(data).expect("store");
    store.unlock("sup", PIN, Utc::now()).expect("unlock");
    store
}

/// Bytes that do not compress, different for each `seed`.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| ((i ^ seed.wrapping_mul(0x9E37_79B9)).wrapping_mul(2654435761) >> 13) as u8)
        .collect()
}

/// A record with a photo of `photo_len` bytes and small finger images and templates of its own.
fn add_photo_record(data: &Path, photo_len: usize, seed: u32) -> Uuid {
    let mut store = unlocked(data);
    let mut r = enroll_sync::record::example(Utc::now());
    r.id = Uuid::now_v7();
    r.enrollment_no.clear();
    r.applicant.id_number = Some(format!("0010587{seed:05}"));
    let photo = store
        .put_blob(&noise(photo_len, seed), "image/jpeg")
        .expect("blob");
    let mut v = serde_json::to_value(&r).expect("json");
    replace_hashes(&mut v, &store, &photo, seed);
    let r: Enrollment = serde_json::from_value(v).expect("record");
    let by = Attribution {
        person: "op".into(),
        device: "test".into(),
        at: Utc::now(),
    };
    store.save(&r, &by).expect("save");
    r.id
}

/// Points the photo at `photo` and every other blob reference at a small blob of its own.
fn replace_hashes(v: &mut serde_json::Value, store: &Store, photo: &str, seed: u32) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "sha256" {
                    *x = photo.into();
                } else if k.ends_with("_sha256") && x.is_string() {
                    let bytes = format!("{seed}-{k}-{x}").into_bytes();
                    *x = store
                        .put_blob(&bytes, "application/octet-stream")
                        .expect("blob")
                        .into();
                } else {
                    replace_hashes(x, store, photo, seed);
                }
            }
        }
        serde_json::Value::Array(items) => items
            .iter_mut()
            .for_each(|x| replace_hashes(x, store, photo, seed)),
        _ => {}
    }
}

fn sync(data: &Path, url: &str) -> Result<ksync::SyncReport, ksync::SyncError> {
    let mut store = unlocked(data);
    let prov = Provisioned::load(&store).expect("provisioned");
    let key = ksync::device_key(data).expect("key");
    ksync::sync(&mut store, &key, &prov, url, &mut |_| {})
}

/// Every blob the kiosk's unacknowledged records refer to, with its bytes.
fn pending_blobs(data: &Path) -> Vec<(String, Vec<u8>)> {
    let store = unlocked(data);
    let mut hashes: Vec<String> = store
        .pending_sync()
        .expect("pending")
        .into_iter()
        .flat_map(|p| p.blobs)
        .collect();
    hashes.sort();
    hashes.dedup();
    hashes
        .into_iter()
        .map(|h| {
            let bytes = store.blob(&h).expect("read").expect("held").0;
            (h, bytes)
        })
        .collect()
}

fn pending(data: &Path) -> usize {
    Store::open(data)
        .expect("store")
        .unacknowledged()
        .expect("unacknowledged")
        .len()
}

fn key_of(hex: &str) -> String {
    format!("{PREFIX}/{}/{hex}", &hex[..2])
}

fn sha(hex: &str) -> [u8; 32] {
    enroll_sync::protocol::sha_from_hex(hex).expect("sha")
}

/// Files left in HQ's local blob directory (staging included).
fn local_files(hq_dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&hq_dir.join(enroll_hq::BLOB_DIR), &mut out);
    out
}

#[test]
fn a_kiosk_syncs_photos_and_fingers_into_s3_through_the_real_binary() {
    let moto = Moto::start();
    let root = TempDir::new().expect("tmp");
    let hq_dir = root.path().join("hq");
    let k = root.path().join("k");
    enrolled_kiosk(&hq_dir, &moto.env(), &k);
    let ids: Vec<Uuid> = (0..3)
        .map(|i| add_photo_record(&k, 300_000 + i * 150_000, i as u32))
        .collect();
    let blobs = pending_blobs(&k);
    assert_eq!(
        blobs.len(),
        3 * 21,
        "a photo, ten finger images, ten templates each"
    );
    let serve = start_hq(&hq_dir, &moto.env());

    let report = sync(&k, &serve.url).expect("sync");
    assert_eq!(report.acknowledged, ids.len(), "{report:?}");
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(pending(&k), 0);

    // Every blob is in the bucket under its hash, whole; nothing stays on HQ's disk.
    let objects = moto.objects(PREFIX);
    assert_eq!(objects.len(), blobs.len(), "{objects:?}");
    let reader =
        Blobs::open_s3(&root.path().join("reader"), &spec(), moto.builder()).expect("blobs");
    for (hex, bytes) in &blobs {
        assert!(
            objects.contains(&(key_of(hex), bytes.len() as u64)),
            "{hex} missing from {objects:?}"
        );
        assert_eq!(
            reader.get(&sha(hex)).expect("get").as_deref(),
            Some(&bytes[..])
        );
        assert_eq!(
            reader.have(&sha(hex)).expect("have"),
            (bytes.len() as u64, true)
        );
    }
    assert_eq!(local_files(&hq_dir), Vec::<PathBuf>::new());
    let listed = hq(&hq_dir, &moto.env(), &["records", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(rows.as_array().map(Vec::len), Some(ids.len()));

    // Nothing is sent again: the next sync is idle.
    let again = sync(&k, &serve.url).expect("idle sync");
    assert_eq!(again.round_trips, 1, "{again:?}");
    assert!(again.traffic.sent < 4_000, "{again:?}");
}

#[test]
fn an_interrupted_upload_resumes_from_where_it_stopped() {
    let moto = Moto::start();
    let root = TempDir::new().expect("tmp");

    // In the library: half a blob, HQ restarts, the rest; overlaps and gaps are harmless.
    let data = noise(600_000, 7);
    let id: [u8; 32] = Sha256::digest(&data).into();
    let dir = root.path().join("lib");
    let blobs = Blobs::open_s3(&dir, &spec(), moto.builder()).expect("blobs");
    assert_eq!(
        blobs.append(&id, 600_000, 0, &data[..150_000]).expect("a"),
        150_000
    );
    assert_eq!(
        blobs
            .append(&id, 600_000, 150_000, &data[150_000..300_000])
            .expect("a"),
        300_000
    );
    drop(blobs);
    let blobs = Blobs::open_s3(&dir, &spec(), moto.builder()).expect("reopen");
    assert_eq!(blobs.have(&id).expect("have"), (300_000, false));
    assert_eq!(
        blobs.get(&id).expect("get"),
        None,
        "not visible before it is whole"
    );
    assert_eq!(moto.objects(PREFIX), vec![]);
    assert_eq!(
        blobs
            .append(&id, 600_000, 200_000, &data[200_000..400_000])
            .expect("overlap"),
        400_000
    );
    assert_eq!(
        blobs
            .append(&id, 600_000, 500_000, &data[500_000..])
            .expect("gap"),
        400_000,
        "a chunk past a gap is ignored"
    );
    assert_eq!(
        blobs
            .append(&id, 600_000, 400_000, &data[400_000..])
            .expect("rest"),
        600_000
    );
    assert_eq!(blobs.have(&id).expect("have"), (600_000, true));
    assert_eq!(blobs.get(&id).expect("get").as_deref(), Some(&data[..]));
    assert_eq!(
        moto.objects(PREFIX),
        vec![(key_of(&hex::encode(id)), 600_000)]
    );
    assert_eq!(local_files(&dir), Vec::<PathBuf>::new());

    // Through the binary: HQ holds the first 1 MB of a 2 MB photo (an earlier session was cut
    // there); the kiosk's next sync sends only the rest.
    let hq_dir = root.path().join("hq");
    let k = root.path().join("k");
    enrolled_kiosk(&hq_dir, &moto.env(), &k);
    add_photo_record(&k, 2_000_000, 1);
    let photo = pending_blobs(&k)
        .into_iter()
        .max_by_key(|(_, b)| b.len())
        .expect("photo");
    let staged = Blobs::open_s3(&hq_dir, &spec(), moto.builder()).expect("blobs");
    let held = staged
        .append(&sha(&photo.0), 2_000_000, 0, &photo.1[..1_000_000])
        .expect("stage");
    drop(staged);
    let serve = start_hq(&hq_dir, &moto.env());
    let report = sync(&k, &serve.url).expect("resumed");
    assert_eq!(report.acknowledged, 1, "{report:?}");
    assert!(
        report.traffic.sent < 2_000_000 - held + 100_000,
        "only the rest was sent: {report:?}, HQ held {held}"
    );
    let reader =
        Blobs::open_s3(&root.path().join("reader"), &spec(), moto.builder()).expect("blobs");
    assert_eq!(
        reader.get(&sha(&photo.0)).expect("get").as_deref(),
        Some(&photo.1[..])
    );

    // Many sessions cut at random points, then one whole: HQ ends exact.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let proxy_url = format!("http://{}", listener.local_addr().expect("addr"));
    let budget = Arc::new(AtomicI64::new(0));
    let to = serve.url.trim_start_matches("http://").to_owned();
    let b = budget.clone();
    std::thread::spawn(move || proxy(listener, to, b));
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(add_photo_record(&k, 400_000, 10 + i));
    }
    let blobs = pending_blobs(&k);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..12 {
        budget.store((next() % 900_000) as i64, Ordering::SeqCst);
        let _ = sync(&k, &proxy_url);
    }
    sync(&k, &serve.url).expect("final sync");
    assert_eq!(pending(&k), 0);
    for (hex, bytes) in &blobs {
        assert_eq!(
            reader.get(&sha(hex)).expect("get").as_deref(),
            Some(&bytes[..])
        );
    }
    assert_eq!(local_files(&hq_dir), Vec::<PathBuf>::new());
}

/// A push stream from `key`'s kiosk carrying `frame`, posted to `url`: status and body.
fn post(
    url: &str,
    prov: &Provisioning,
    key: &DeviceKey,
    kind: StreamKind,
    frame: Frame,
) -> (u16, Vec<u8>) {
    let seal_to: [u8; 32] = hex::decode(&prov.hq_seal_public)
        .expect("hex")
        .try_into()
        .expect("32");
    let mut s = Sealer::new(&seal_to).expect("sealer");
    let mut body = s.header().to_vec();
    let h = Header::new(kind, &prov.kiosk_id, key, s.header());
    body.extend(s.frame(&Frame::Header(h).encode(), false));
    body.extend(s.frame(&frame.encode(), false));
    body.extend(s.frame(&Frame::End { frames: 2 }.encode(), true));
    client::post(
        url,
        "/v1/sync",
        &mut body.as_slice(),
        &mut Traffic::default(),
    )
    .expect("post")
}

#[test]
fn a_blob_whose_hash_does_not_check_is_never_visible() {
    let moto = Moto::start();
    let root = TempDir::new().expect("tmp");
    let hq_dir = root.path().join("hq");
    let k = root.path().join("k");
    let prov = enrolled_kiosk(&hq_dir, &moto.env(), &k);
    let key = ksync::device_key(&k).expect("key");
    let serve = start_hq(&hq_dir, &moto.env());

    // Every byte of a blob arrives, but they are not the bytes its name promises. (Over the wire
    // HQ keeps only blobs a record in the same stream refers to, so the blob store is fed
    // directly here, as intake feeds it.)
    let claimed = noise(300_000, 1);
    let id: [u8; 32] = Sha256::digest(&claimed).into();
    let mut sent = claimed.clone();
    sent[123_456] ^= 1;
    let staging = Blobs::open_s3(&hq_dir, &spec(), moto.builder()).expect("blobs");
    let total = sent.len() as u64;
    staging
        .append(&id, total, 0, &sent[..200_000])
        .expect("first part");
    let after = staging.append(&id, total, 200_000, &sent[200_000..]);
    assert!(matches!(after, Ok(0) | Err(_)), "{after:?}");
    assert_eq!(moto.objects(PREFIX), vec![], "nothing in the bucket");
    assert_eq!(
        local_files(&hq_dir),
        Vec::<PathBuf>::new(),
        "nothing staged"
    );

    // HQ tells the kiosk it holds none of it, so the kiosk starts again from byte 0.
    let hello = Hello {
        blobs: vec![id],
        ..Hello::default()
    };
    let (status, body) = post(
        &serve.url,
        &prov,
        &key,
        StreamKind::Hello,
        Frame::Hello(hello),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let frames = seal::open_all(&key.seal_secret(), &body).expect("sealed to the kiosk");
    let reply = Reply::decode(&frames[0]).expect("reply");
    let receipt = enroll_sync::protocol::Receipt::decode(&reply.receipt).expect("receipt");
    assert_eq!(receipt.blobs_have, vec![(id, 0)]);
    let reader =
        Blobs::open_s3(&root.path().join("reader"), &spec(), moto.builder()).expect("blobs");
    assert_eq!(reader.get(&id).expect("get"), None);
    assert_eq!(reader.have(&id).expect("have"), (0, false));

    // The right bytes are taken.
    staging
        .append(&id, claimed.len() as u64, 0, &claimed)
        .expect("right bytes");
    assert_eq!(reader.get(&id).expect("get").as_deref(), Some(&claimed[..]));
}

#[test]
fn s3_unreachable_refuses_the_session_and_nothing_is_acknowledged() {
    let root = TempDir::new().expect("tmp");
    let hq_dir = root.path().join("hq");
    let k = root.path().join("k");
    // Nothing listens on this port.
    let nowhere = vec![
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        (
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", free_port()),
        ),
    ];
    enrolled_kiosk(&hq_dir, &nowhere, &k);
    add_photo_record(&k, 300_000, 1);
    add_photo_record(&k, 300_000, 2);
    let serve = start_hq(&hq_dir, &nowhere);
    let err = sync(&k, &serve.url).expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("503"), "{text}");
    assert!(
        text.contains("blob storage `s3://enroll-blobs/hq/blobs` is unavailable")
            && text.contains("không dùng được"),
        "{text}"
    );
    assert_eq!(pending(&k), 2, "nothing acknowledged");
    drop(serve);

    // Storage back: the same HQ data directory takes everything.
    let moto = Moto::start();
    let serve = start_hq(&hq_dir, &moto.env());
    let blobs = pending_blobs(&k);
    let report = sync(&k, &serve.url).expect("sync");
    assert_eq!(report.acknowledged, 2, "{report:?}");
    assert_eq!(pending(&k), 0);
    assert_eq!(moto.objects(PREFIX).len(), blobs.len());

    // Storage gone again mid-life: refused, and new records stay unacknowledged.
    add_photo_record(&k, 300_000, 3);
    drop(moto);
    let err = sync(&k, &serve.url).expect_err("refused");
    assert!(err.to_string().contains("is unavailable"), "{err}");
    assert_eq!(pending(&k), 1);
}
