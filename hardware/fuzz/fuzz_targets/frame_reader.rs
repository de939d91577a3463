//! Fuzzes the R30x frame reader: arbitrary bytes in arbitrary chunks must never panic, every
//! frame it yields must re-encode to bytes that decode to the same frame, and valid frames
//! appended to the input must be read (resynchronisation).
#![no_main]

use enroll_hardware::fingerprint::codec::{FrameReader, Packet, PacketId};
use enroll_hardware::fingerprint::protocol::Command;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, bytes)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let marker = Packet::new(0xFFFF_FFFF, PacketId::Ack, vec![0x00, 0xA5, 0x5A]);
    // Stray bytes may open a false frame that swallows up to 267 bytes of what follows, so
    // the marker is repeated past that reach: the last frame read must be a marker.
    let mut stream = bytes.to_vec();
    let encoded = marker.encode().expect("3-byte payload fits a frame");
    for _ in 0..(267 / encoded.len() + 2) {
        stream.extend_from_slice(&encoded);
    }

    let mut reader = FrameReader::new();
    let mut last = None;
    for c in stream.chunks(chunk) {
        reader.push(c);
        while let Some(frame) = reader.next_frame() {
            if let Ok(p) = frame {
                let again = p.encode().expect("decoded payloads fit a frame");
                let mut r2 = FrameReader::new();
                r2.push(&again);
                assert_eq!(r2.next_frame(), Some(Ok(p.clone())));
                if p.id == PacketId::Command {
                    let _ = Command::parse(&p.payload);
                }
                last = Some(p);
            }
        }
    }
    assert_eq!(last.as_ref(), Some(&marker), "reader lost sync");
});
