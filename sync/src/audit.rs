//! The kiosk's audit chain as HQ checks it: the entry hash, the signed checkpoint, and the
//! proof a hello carries that the chain HQ last acknowledged continues unbroken to a new one.

use sha2::{Digest, Sha256};

use crate::identity::{self, DeviceKey, SIGNATURE_LEN};

pub const CHECKPOINT_DOMAIN: &str = "kiosk/audit-checkpoint/v1";

/// The chain hash of an entry: length-prefixed fields after the previous hash.
/// Fields: at, actor, device, action, subject ("" for none), detail ("" for none).
pub fn chain_hash(prev: &[u8], seq: i64, fields: [&str; 6]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(seq.to_be_bytes());
    for f in fields {
        h.update((f.len() as u64).to_be_bytes());
        h.update(f.as_bytes());
    }
    h.finalize().to_vec()
}

/// What a checkpoint signature covers.
pub fn checkpoint_parts(count: i64, head: &[u8], at: &str) -> [Vec<u8>; 3] {
    [
        count.to_be_bytes().to_vec(),
        head.to_vec(),
        at.as_bytes().to_vec(),
    ]
}

/// "The log had `count` entries ending in `head` at `at`", signed by the device key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub count: u64,
    pub head: [u8; 32],
    pub at: String,
    pub signature: [u8; SIGNATURE_LEN],
}

impl Checkpoint {
    pub fn sign(key: &DeviceKey, count: u64, head: [u8; 32], at: String) -> Checkpoint {
        let parts = checkpoint_parts(count as i64, &head, &at);
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        Checkpoint {
            count,
            head,
            at,
            signature: key.sign(CHECKPOINT_DOMAIN, &refs),
        }
    }

    pub fn verify(&self, public: &[u8]) -> bool {
        let parts = checkpoint_parts(self.count as i64, &self.head, &self.at);
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        identity::verify(public, CHECKPOINT_DOMAIN, &refs, &self.signature).is_ok()
    }
}

/// One audit entry as it travels: its number and the six hashed fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub seq: u64,
    pub fields: [String; 6],
}

/// Entries after entry `after` (whose hash is `after_hash`, zeros for the start), ending at
/// the signed `checkpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditProof {
    pub after: u64,
    pub after_hash: [u8; 32],
    pub entries: Vec<Link>,
    pub checkpoint: Checkpoint,
}

/// The checkpoint HQ holds for a kiosk: its last verified count and head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub count: u64,
    pub head: [u8; 32],
}

/// Why a kiosk's audit log does not continue from what HQ holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Break {
    /// The checkpoint is not signed by the kiosk's key, or does not match the entries sent.
    BadProof,
    /// The log now has fewer entries than HQ already acknowledged.
    Truncated { held: u64, now: u64 },
    /// Entry `seq`, already acknowledged by HQ, is no longer the one HQ acknowledged.
    Rewritten { seq: u64 },
    /// The kiosk did not send the entries after HQ's checkpoint.
    Gap { held: u64, from: u64 },
}

impl Break {
    pub fn code(&self) -> &'static str {
        match self {
            Break::BadProof => "audit_bad_proof",
            Break::Truncated { .. } => "audit_truncated",
            Break::Rewritten { .. } => "audit_rewritten",
            Break::Gap { .. } => "audit_gap",
        }
    }

    pub fn message_vi(&self) -> String {
        match self {
            Break::BadProof => "Điểm kiểm tra nhật ký của ki-ốt không khớp chữ ký hoặc các mục gửi kèm.".into(),
            Break::Truncated { held, now } => format!(
                "Nhật ký của ki-ốt đã bị cắt bớt: HQ đã xác nhận {held} mục, nay ki-ốt chỉ còn {now} mục."
            ),
            Break::Rewritten { seq } => format!(
                "Nhật ký của ki-ốt đã bị viết lại: mục số {seq} khác với mục HQ đã xác nhận."
            ),
            Break::Gap { held, from } => format!(
                "Ki-ốt không gửi các mục nhật ký sau mục {held} mà HQ giữ (gửi từ mục {from}); không chứng minh được nhật ký liền mạch."
            ),
        }
    }

    pub fn message_en(&self) -> String {
        match self {
            Break::BadProof => "The kiosk's audit checkpoint does not match its signature or the entries sent with it.".into(),
            Break::Truncated { held, now } => format!(
                "The kiosk's audit log was cut short: HQ had acknowledged {held} entries, the kiosk now has {now}."
            ),
            Break::Rewritten { seq } => format!(
                "The kiosk's audit log was rewritten: entry {seq} is not the one HQ acknowledged."
            ),
            Break::Gap { held, from } => format!(
                "The kiosk did not send its audit entries after entry {held}, which HQ holds (it sent from {from}); the log cannot be shown to continue."
            ),
        }
    }
}

impl AuditProof {
    /// Checks the proof against the kiosk's key and HQ's last checkpoint `held`. `Ok` is the
    /// new checkpoint to hold. On a break, the proof's own checkpoint is still returned when it
    /// is sound (HQ keeps watching from there), `None` when even that does not verify.
    pub fn verify(&self, public: &[u8], held: Option<Held>) -> Result<Held, (Break, Option<Held>)> {
        let cp = &self.checkpoint;
        // Walk the entries from `after`, noting the hash at HQ's held count on the way.
        let mut prev = self.after_hash.to_vec();
        let mut n = self.after;
        let mut at_held = held.and_then(|h| (h.count == n).then(|| prev.clone()));
        for e in &self.entries {
            if e.seq != n + 1 {
                return Err((Break::BadProof, None));
            }
            prev = chain_hash(&prev, e.seq as i64, e.fields.each_ref().map(String::as_str));
            n = e.seq;
            if held.is_some_and(|h| h.count == n) {
                at_held = Some(prev.clone());
            }
        }
        if n != cp.count || prev != cp.head || !cp.verify(public) {
            return Err((Break::BadProof, None));
        }
        let new = Held {
            count: cp.count,
            head: cp.head,
        };
        let Some(h) = held else { return Ok(new) };
        if cp.count < h.count {
            return Err((
                Break::Truncated {
                    held: h.count,
                    now: cp.count,
                },
                Some(new),
            ));
        }
        match at_held {
            None => Err((
                Break::Gap {
                    held: h.count,
                    from: self.after,
                },
                Some(new),
            )),
            Some(x) if x != h.head => Err((Break::Rewritten { seq: h.count }, Some(new))),
            Some(_) => Ok(new),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(key: &DeviceKey, n: u64, salt: &str) -> (Vec<Link>, Vec<[u8; 32]>) {
        let mut prev = vec![0u8; 32];
        let mut links = Vec::new();
        let mut hashes = Vec::new();
        for seq in 1..=n {
            let fields = [
                format!("2026-06-01T08:00:{seq:02}Z"),
                "op".into(),
                "K1".into(),
                format!("act{salt}"),
                String::new(),
                String::new(),
            ];
            prev = chain_hash(&prev, seq as i64, fields.each_ref().map(String::as_str));
            links.push(Link { seq, fields });
            hashes.push(prev.clone().try_into().expect("32"));
        }
        let _ = key;
        (links, hashes)
    }

    fn proof(key: &DeviceKey, links: &[Link], hashes: &[[u8; 32]], after: u64) -> AuditProof {
        let count = links.len() as u64;
        let head = hashes.last().copied().unwrap_or([0; 32]);
        AuditProof {
            after,
            after_hash: if after == 0 {
                [0; 32]
            } else {
                hashes[after as usize - 1]
            },
            entries: links[after as usize..].to_vec(),
            checkpoint: Checkpoint::sign(key, count, head, "2026-06-01T09:00:00Z".into()),
        }
    }

    #[test]
    fn continuation_truncation_rewrite_and_gap() {
        let key = DeviceKey::generate();
        let (links, hashes) = chain(&key, 10, "");
        let first = proof(&key, &links[..6], &hashes[..6], 0)
            .verify(&key.public(), None)
            .expect("first");
        assert_eq!(first.count, 6);
        // Continues from 6 (and from an earlier point that still passes 6).
        for after in [6, 3] {
            let p = proof(&key, &links, &hashes, after);
            assert_eq!(p.verify(&key.public(), Some(first)).expect("ok").count, 10);
        }
        // Cut to 4 entries.
        let p = proof(&key, &links[..4], &hashes[..4], 4);
        assert!(matches!(
            p.verify(&key.public(), Some(first)),
            Err((Break::Truncated { held: 6, now: 4 }, Some(_)))
        ));
        // Rewritten: another chain of the same length.
        let (other, other_h) = chain(&key, 12, "x");
        let p = proof(&key, &other, &other_h, 0);
        assert!(matches!(
            p.verify(&key.public(), Some(first)),
            Err((Break::Rewritten { seq: 6 }, Some(_)))
        ));
        // Sent from after HQ's point.
        let p = proof(&key, &links, &hashes, 8);
        assert!(matches!(
            p.verify(&key.public(), Some(first)),
            Err((Break::Gap { .. }, Some(_)))
        ));
        // Another key, or an entry altered in transit.
        let p = proof(&DeviceKey::generate(), &links, &hashes, 6);
        assert!(matches!(
            p.verify(&key.public(), Some(first)),
            Err((Break::BadProof, None))
        ));
        let mut p = proof(&key, &links, &hashes, 6);
        p.entries[1].fields[3] = "edited".into();
        assert!(matches!(
            p.verify(&key.public(), Some(first)),
            Err((Break::BadProof, None))
        ));
    }
}
