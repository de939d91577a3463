//! Each kiosk's audit checkpoint as HQ holds it: the last count and chain head it verified,
//! and, once found, the break in the kiosk's log. A hello's proof must continue from it; a
//! log cut short or rewritten at the kiosk is flagged here and in the kiosk's telemetry.

use chrono::{DateTime, Utc};
use enroll_sync::audit::{AuditProof, Held};
use serde::{Deserialize, Serialize};

use crate::storage::{AuditEntry, Session};
use crate::{HqError, KioskEntry};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Kept {
    count: u64,
    /// Hex chain head at `count`.
    head: String,
    /// The first break found: "vi / en", and when.
    problem: Option<String>,
    problem_at: Option<DateTime<Utc>>,
}

fn meta_key(kiosk: &str) -> String {
    format!("kiosk_audit/{kiosk}")
}

/// What a hello's audit proof left HQ holding for the kiosk.
pub struct Outcome {
    pub held: Option<Held>,
    pub problem: Option<String>,
}

/// Checks `proof` (if the hello carried one) against what HQ holds for `kiosk`, keeps the new
/// checkpoint, and records a break in HQ's audit log the first time it is seen.
pub fn check(
    s: &mut dyn Session,
    kiosk: &KioskEntry,
    proof: Option<&AuditProof>,
    now: DateTime<Utc>,
) -> Result<Outcome, HqError> {
    let key = meta_key(&kiosk.id);
    let mut kept: Option<Kept> = s.meta(&key)?.and_then(|b| serde_json::from_slice(&b).ok());
    let held = kept.as_ref().and_then(|k| {
        let head: [u8; 32] = hex::decode(&k.head).ok()?.try_into().ok()?;
        Some(Held {
            count: k.count,
            head,
        })
    });
    let Some(proof) = proof else {
        return Ok(Outcome {
            held,
            problem: kept.and_then(|k| k.problem),
        });
    };
    let public = hex::decode(&kiosk.public_key).unwrap_or_default();
    let (new, broken) = match proof.verify(&public, held) {
        Ok(new) => (Some(new), None),
        Err((b, new)) => (new, Some(b)),
    };
    let mut k = kept.take().unwrap_or_default();
    if let Some(b) = broken {
        let text = format!("{} / {}", b.message_vi(), b.message_en());
        s.audit(&[AuditEntry {
            at: now,
            actor: kiosk.id.clone(),
            action: "kiosk.audit_broken".into(),
            subject: kiosk.id.clone(),
            detail: format!("{}: {text}", b.code()),
        }])?;
        if k.problem.is_none() {
            k.problem = Some(text);
            k.problem_at = Some(now);
        }
    }
    // From a sound checkpoint HQ keeps watching, even after a break: later edits show too.
    if let Some(n) = new {
        k.count = n.count;
        k.head = hex::encode(n.head);
    }
    let json = serde_json::to_vec(&k).map_err(|e| HqError::Internal(e.to_string()))?;
    s.set_meta(&key, &json)?;
    let held = hex::decode(&k.head)
        .ok()
        .and_then(|h| <[u8; 32]>::try_from(h).ok())
        .map(|head| Held {
            count: k.count,
            head,
        });
    Ok(Outcome {
        held,
        problem: k.problem,
    })
}
