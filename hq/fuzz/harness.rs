//! HQ's intake of decrypted frames, as a provisioned kiosk (or an unknown peer) could send
//! them. Shared by the fuzz target (`fuzz_targets/intake.rs`) and by
//! `hq/tests/fuzz_regressions.rs`, which replays every input in `regressions/`.
//!
//! Input: a mode byte (even: a valid signed header comes first; odd: the peer is unknown),
//! then frames as `u16 length | bytes`. Change bytes in a changes frame are re-signed with the
//! kiosk's key (and their checksum fixed), so an input reaches what a hostile kiosk holding
//! its key reaches: Automerge parsing, merging, validation, storage. An endorsement in the
//! input is kept, its certificate re-issued by the device key (with the input's kiosk id,
//! account and role) and re-signed by that account key, so write-authority checks see
//! certified supervisors and operators, of this kiosk and of others.

use chrono::TimeZone;
use enroll_hq::{Hq, Options};
use enroll_sync::identity::DeviceKey;
use enroll_sync::protocol::{Certificate, Endorsement, Frame, Header, SignedChange, StreamKind};
use sha2::Digest;
use std::path::Path;
use std::sync::Arc;

const KIOSK: &str = "K00001";
/// Any 40 bytes stand for the sealed stream's header: signatures bind to them.
const STREAM_HEADER: [u8; 40] = *b"ENRSEAL1fuzz-ephemeral-key-0123456789abc";

/// A real HQ (SQLite in `dir`, a fixed clock) with one provisioned kiosk.
pub struct Harness {
    hq: Hq,
    key: DeviceKey,
    /// The key every endorsement in an input is re-signed with.
    account: DeviceKey,
    header: Vec<u8>,
}

impl Harness {
    pub fn new(dir: &Path) -> Harness {
        let clock = Arc::new(|| {
            chrono::Utc
                .with_ymd_and_hms(2026, 6, 1, 8, 0, 0)
                .single()
                .expect("valid time")
        });
        let hq = Hq::open_with(Options {
            clock,
            ..Options::in_dir(dir)
        })
        .expect("hq");
        let key = DeviceKey::generate();
        hq.add_kiosk("fuzz", &hex::encode(key.public()), Some(KIOSK))
            .expect("kiosk");
        let h = Header::new(StreamKind::Push, KIOSK, &key, &STREAM_HEADER);
        Harness {
            hq,
            key,
            account: DeviceKey::generate(),
            header: Frame::Header(h).encode(),
        }
    }

    /// Feeds one input to HQ's intake, then asks for the reply when the stream ended. A
    /// refusal is a normal outcome; a panic that escapes HQ is a finding.
    pub fn run(&self, data: &[u8]) {
        let Some((&mode, mut rest)) = data.split_first() else {
            return;
        };
        let Ok(mut intake) = self.hq.intake() else {
            return;
        };
        if mode & 1 == 0
            && self
                .hq
                .intake_frame(&mut intake, &STREAM_HEADER, &self.header)
                .is_err()
        {
            panic!("the valid header was refused");
        }
        while rest.len() >= 2 {
            let n = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            let frame = &rest[2..(2 + n).min(rest.len())];
            rest = &rest[(2 + n).min(rest.len())..];
            let frame = self.resign(frame);
            if self
                .hq
                .intake_frame(&mut intake, &STREAM_HEADER, &frame)
                .is_err()
            {
                return;
            }
        }
        if intake.ended() {
            let _ = self.hq.reply(&mut intake);
        }
    }

    /// Re-signs every change of a changes frame with the kiosk's key, fixing its checksum; an
    /// endorsement is re-certified and re-signed (see the module comment).
    fn resign(&self, frame: &[u8]) -> Vec<u8> {
        let key = &self.key;
        let Ok(Frame::Changes(mut groups)) = Frame::decode(frame) else {
            return frame.to_vec();
        };
        for g in &mut groups {
            for c in &mut g.changes {
                let mut bytes = std::mem::take(&mut c.bytes);
                let hash: [u8; 32] =
                    sha2::Sha256::digest(bytes.get(8..).unwrap_or_default()).into();
                if bytes.len() >= 8 {
                    bytes[4..8].copy_from_slice(&hash[..4]);
                }
                let endorsement = c.endorsement.take();
                let hash = automerge::ChangeHash(hash);
                *c = SignedChange::sign(key, g.record, &hash, bytes);
                c.endorsement = endorsement.map(|e| {
                    let cert = Certificate::issue(
                        key,
                        &e.certificate.kiosk_id,
                        &e.certificate.account,
                        &e.certificate.role,
                        self.account.public(),
                    );
                    Endorsement::sign(&self.account, cert, g.record, &hash)
                });
            }
        }
        Frame::Changes(groups).encode()
    }
}
