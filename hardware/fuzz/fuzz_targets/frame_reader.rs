//! Fuzzes the R30x frame reader: arbitrary bytes in arbitrary chunks must never panic, every
//! frame it yields must re-encode to bytes that decode to the same frame, and after a valid
//! frame appended to the input the reader must be in step with the end of the stream.
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
    let mut stream = bytes.to_vec();
    stream.extend(marker.encode().expect("3-byte payload fits a frame"));

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
    // The stream ends with a valid frame, so the last frame read must end there too (usually
    // the marker; the input may also have opened a frame that the marker's bytes complete).
    let last = last.expect("the appended frame was never read");
    let tail = last.encode().expect("decoded payloads fit a frame");
    assert!(stream.ends_with(&tail), "reader lost sync: last frame {last:?}");
});
