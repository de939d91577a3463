//! Property tests of the frame codec and the simulator's template format.

use enroll_hardware::fingerprint::codec::{encode, FrameReader, Packet, PacketId};
use enroll_hardware::fingerprint::protocol::{Command, ConfirmationCode};
use proptest::prelude::*;

fn packet_id() -> impl Strategy<Value = PacketId> {
    prop_oneof![
        Just(PacketId::Command),
        Just(PacketId::Data),
        Just(PacketId::Ack),
        Just(PacketId::EndData),
    ]
}

fn packet() -> impl Strategy<Value = Packet> {
    (
        any::<u32>(),
        packet_id(),
        proptest::collection::vec(any::<u8>(), 0..=256),
    )
        .prop_map(|(a, id, p)| Packet::new(a, id, p))
}

/// Every packet the reader yields for `bytes`, fed in chunks of `chunk` bytes.
fn read_all(bytes: &[u8], chunk: usize) -> Vec<Packet> {
    let mut r = FrameReader::new();
    let mut out = Vec::new();
    for c in bytes.chunks(chunk.max(1)) {
        r.push(c);
        while let Some(f) = r.next_frame() {
            if let Ok(p) = f {
                out.push(p);
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_decode(packets in proptest::collection::vec(packet(), 1..5), chunk in 1usize..300) {
        let mut bytes = Vec::new();
        for p in &packets {
            bytes.extend(p.encode().unwrap());
        }
        prop_assert_eq!(read_all(&bytes, chunk), packets);
    }

    #[test]
    fn frame_length_counts_payload_and_checksum(p in packet()) {
        let bytes = p.encode().unwrap();
        let len = u16::from_be_bytes([bytes[7], bytes[8]]) as usize;
        prop_assert_eq!(len, p.payload.len() + 2);
        prop_assert_eq!(bytes.len(), p.payload.len() + 11);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), chunk in 1usize..64) {
        let _ = read_all(&bytes, chunk);
    }

    #[test]
    fn reader_resynchronises_after_garbage(
        garbage in proptest::collection::vec(any::<u8>(), 0..600),
        p in packet(),
        chunk in 1usize..300,
    ) {
        // A false frame opened by the garbage can swallow up to 267 following bytes (and
        // pass its checksum by chance), so the frame is repeated beyond that reach.
        let mut bytes = garbage;
        let frame = p.encode().unwrap();
        for _ in 0..(267 / frame.len() + 2) {
            bytes.extend_from_slice(&frame);
        }
        let got = read_all(&bytes, chunk);
        prop_assert_eq!(got.last(), Some(&p));
    }

    #[test]
    fn corrupted_frame_is_reported_and_the_next_one_read(p in packet(), q in packet(), at in 2usize..11) {
        let mut bad = p.encode().unwrap();
        let i = at.min(bad.len() - 1);
        bad[i] ^= 0xFF;
        bad.extend(q.encode().unwrap());
        let got = read_all(&bad, 7);
        prop_assert_eq!(got.last(), Some(&q));
    }

    #[test]
    fn command_parser_never_panics(payload in proptest::collection::vec(any::<u8>(), 0..40)) {
        match Command::parse(&payload) {
            Ok(cmd) => prop_assert_eq!(Command::parse(&cmd.payload()), Ok(cmd)),
            Err(code) => prop_assert!(matches!(code, ConfirmationCode::PacketError | ConfirmationCode::InvalidRegister)),
        }
    }

    #[test]
    fn template_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = enroll_hardware::fingerprint::template::Template::from_bytes(&bytes);
    }
}

#[test]
fn checksum_wraps_at_16_bits() {
    let payload = vec![0xFF; 256];
    let bytes = encode(0, PacketId::Data, &payload).unwrap();
    let sum = (2u32 + 0x01 + 0x02 + 0xFF * 256) & 0xFFFF;
    assert_eq!(&bytes[bytes.len() - 2..], &(sum as u16).to_be_bytes());
}

#[test]
fn example_scenario_file_loads_and_bad_ones_are_explained() {
    use enroll_hardware::fingerprint::sim::scenario::{FaultKind, Scenario};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let s = Scenario::load(&dir.join("faults.json")).unwrap();
    assert_eq!(s.placements.len(), 15);
    assert_eq!(s.faults.len(), 4);
    assert_eq!(
        s.faults[3].kind,
        FaultKind::Disconnect {
            replug_after_ms: 800
        }
    );
    let tmp = tempfile::tempdir().unwrap();
    for (text, needle) in [
        (r#"{"baud": 12345}"#, "baud"),
        (
            r#"{"faults": [{"on": "Nope", "nth": 1, "kind": "silence"}]}"#,
            "Nope",
        ),
        (
            r#"{"placements": [{"finger": "a", "condition": "wet"}]}"#,
            "wet",
        ),
        (r#"{"packet_size": 100}"#, "packet_size"),
        (
            r#"{"faults": [{"on": "GenImg", "nth": 1, "kind": "silence", "x": 1}]}"#,
            "x",
        ),
        (
            r#"{"faults": [{"on": "GenImg", "nth": 1, "kind": "silence", "packet": 1}]}"#,
            "packet",
        ),
        (
            r#"{"faults": [{"on": "GenImg", "nth": 1, "kind": "melt"}]}"#,
            "melt",
        ),
    ] {
        let p = tmp.path().join("s.json");
        std::fs::write(&p, text).unwrap();
        let e = Scenario::load(&p).unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
    }
}
