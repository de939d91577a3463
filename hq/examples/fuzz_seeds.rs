//! Writes seeds for the `intake` fuzz target: real frames from a real kiosk store, in the
//! target's input format (mode byte, then `u16 length | frame`).
//! `cargo run -p enroll-hq --example fuzz_seeds -- hq/fuzz/corpus/intake`

#[path = "../tests/fixture/mod.rs"]
mod fixture;

use enroll_sync::protocol::{
    BlobChunk, Frame, Header, Hello, RecordChanges, SignedChange, StreamKind,
};
use std::path::Path;
use uuid::Uuid;

const KIOSK: &str = "K00001";
fn main() {
    let out = std::env::args().nth(1).expect("usage: fuzz_seeds DIR");
    let out = Path::new(&out);
    std::fs::create_dir_all(out).expect("dir");
    let tmp = tempfile::tempdir().expect("tmp");
    let hq = enroll_hq::Hq::open(&tmp.path().join("hq")).expect("hq");
    let k = fixture::Kiosk::new(&hq, &tmp.path().join("k"), KIOSK, "http://127.0.0.1:9");
    let ids = k.add_demo(3, 9);
    let mut store = k.store();
    // One record approved by a signed-in supervisor: its change carries an endorsement.
    store.use_test_only_kdf();
    let now = chrono::Utc::now();
    let sup = store
        .init_supervisor("sup", "Trần Văn Giám", "1357902468", now)
        .expect("supervisor");
    let mut captured = store.load(&ids[2]).expect("load").expect("record");
    captured.review.status = enroll_sync::record::RecordStatus::Captured;
    store
        .save(&captured, &sup.attribution(&store.kiosk().code, now))
        .expect("captured");
    kiosk::review::approve(&mut store, &k.key, &sup, &ids[2], now).expect("approve");
    let group = |id: &Uuid| {
        let endorsed = store.endorsements(id).expect("endorsements");
        RecordChanges {
            record: *id,
            changes: store
                .changes_after(id, &[])
                .expect("changes")
                .into_iter()
                .map(|(h, b)| {
                    let mut c = SignedChange::sign(&k.key, *id, &h, b);
                    c.endorsement = endorsed.get(&h).cloned();
                    c
                })
                .collect(),
            heads: Vec::new(),
        }
    };
    let hello = Frame::Hello(Hello {
        cursor: 0,
        records: ids
            .iter()
            .map(|id| {
                let heads = store.heads(id).expect("heads").unwrap_or_default();
                (*id, enroll_sync::protocol::heads_digest(&heads))
            })
            .collect(),
        blobs: vec![[3; 32]],
        telemetry: None,
        audit: None,
    });
    let blob = Frame::Blob(BlobChunk {
        sha256: [3; 32],
        media_type: "image/jpeg".into(),
        total: 8,
        offset: 0,
        data: vec![1, 2, 3, 4, 5, 6, 7, 8],
    });
    let header = Frame::Header(Header::new(StreamKind::Push, KIOSK, &k.key, &[0; 40]));
    let seeds: Vec<(u8, Vec<Frame>)> = vec![
        (0, vec![hello.clone()]),
        (0, vec![Frame::Changes(vec![group(&ids[0])])]),
        (0, vec![Frame::Changes(vec![group(&ids[2])])]),
        (
            0,
            vec![Frame::Changes(ids.iter().map(group).collect()), blob],
        ),
        (
            0,
            vec![Frame::Changes(vec![RecordChanges {
                record: ids[1],
                changes: Vec::new(),
                heads: store.heads(&ids[1]).expect("heads").unwrap_or_default(),
            }])],
        ),
        (1, vec![header, hello]),
    ];
    for (i, (mode, frames)) in seeds.into_iter().enumerate() {
        let mut bytes = vec![mode];
        let n = frames.len() as u64 + u64::from(mode == 0);
        for f in frames.into_iter().chain([Frame::End { frames: n }]) {
            let e = f.encode();
            bytes.extend((e.len() as u16).to_be_bytes());
            bytes.extend(e);
        }
        std::fs::write(out.join(format!("seed-{i}")), bytes).expect("write");
    }
}
