//! A record's timeline from its document's own change history: per change who made it, when,
//! which fields went from what to what (the document at the change's parents against the
//! document at the change), and whether the signature HQ holds for it verifies.

use automerge::{Change, ChangeHash};
use chrono::{DateTime, Utc};
use serde_json::Value as J;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

use enroll_sync::identity::SIGNATURE_LEN;
use enroll_sync::protocol::SignedChange;
use enroll_sync::record::RecordDoc;

use super::labels::label;
use crate::storage::review::HQ_SIGNER;
use crate::{Hq, HqError};

/// Changes shown at most: a record has a handful; a longer history is cut and says so.
pub const MAX_CHANGES: usize = 200;
/// Field changes shown per change at most (the first change of a record sets every field).
pub const MAX_FIELDS: usize = 120;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Who {
    /// The kiosk itself (no person named in the change).
    Kiosk,
    Operator,
    /// A kiosk change that approved or returned the record.
    Supervisor,
    HqUser,
}

impl Who {
    pub fn label(&self) -> (&'static str, &'static str) {
        match self {
            Who::Kiosk => ("Ki-ốt", "Kiosk"),
            Who::Operator => ("Cán bộ thu nhận", "Operator"),
            Who::Supervisor => ("Cán bộ giám sát", "Supervisor"),
            Who::HqUser => ("Người dùng HQ", "HQ user"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum SigState {
    /// Signed by `signer` (kiosk id or HQ) and the signature verifies with its key.
    Verified { signer: String },
    /// A signature is held but does not verify with the key HQ holds for `signer`.
    Invalid { signer: String },
    /// No signature is held (the change arrived before HQ kept them).
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldChange {
    pub path: String,
    pub label_vi: String,
    pub label_en: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TimelineEntry {
    pub hash: String,
    pub at: Option<DateTime<Utc>>,
    pub who: Who,
    pub person: String,
    pub device: String,
    pub fields: Vec<FieldChange>,
    /// More fields changed than `MAX_FIELDS`.
    pub fields_cut: usize,
    pub signature: SigState,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Timeline {
    pub record: Uuid,
    pub kiosk_id: String,
    pub entries: Vec<TimelineEntry>,
    /// Changes left out after `MAX_CHANGES`.
    pub changes_cut: usize,
}

/// Scalars by field path (`a.b.0.c`), so two versions compare field by field.
pub(crate) fn flatten(v: &J, path: &mut String, out: &mut BTreeMap<String, String>) {
    let mut walk = |key: &str, child: &J, path: &mut String| {
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
        flatten(child, path, out);
        path.truncate(len);
    };
    match v {
        J::Object(m) => m.iter().for_each(|(k, c)| walk(k, c, path)),
        J::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, c)| walk(&i.to_string(), c, path)),
        J::Null => {}
        J::String(s) => {
            out.insert(path.clone(), s.clone());
        }
        other => {
            out.insert(path.clone(), other.to_string());
        }
    }
}

fn diff(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let paths: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for p in paths {
        let (b, a) = (before.get(p), after.get(p));
        if b != a {
            let (vi, en) = label(p);
            out.push(FieldChange {
                path: p.clone(),
                label_vi: vi,
                label_en: en,
                before: b.cloned(),
                after: a.cloned(),
            });
        }
    }
    out
}

/// Who the change's message names, on which device.
fn attribution(c: &Change) -> (String, String) {
    let m: serde_json::Value = c
        .message()
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or_default();
    let s = |k: &str| m.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    (s("by"), s("device"))
}

/// True when the change added an approval or a return to the review history.
fn reviews(fields: &[FieldChange]) -> bool {
    fields.iter().any(|f| {
        f.path.starts_with("review.history.")
            && f.path.ends_with(".action")
            && matches!(f.after.as_deref(), Some("approved" | "returned"))
    })
}

impl Hq {
    /// The timeline of record `id`, oldest change first.
    pub fn timeline(&self, id: &Uuid) -> Result<Timeline, HqError> {
        let mut s = self.session()?;
        let rec = s
            .records(&[*id])?
            .pop()
            .ok_or_else(|| HqError::NoSuchRecord(id.to_string()))?;
        let bad = |e: enroll_sync::record::DocError| HqError::BadStoredRecord(*id, e.to_string());
        let mut doc = RecordDoc::load(&rec.doc, self.actor.clone()).map_err(bad)?;
        let all = doc.automerge().get_changes(&[]);
        let changes_cut = all.len().saturating_sub(MAX_CHANGES);
        let changes = &all[..all.len().min(MAX_CHANGES)];
        let hashes: Vec<[u8; 32]> = changes.iter().map(|c| c.hash().0).collect();
        let sigs: HashMap<[u8; 32], (String, Vec<u8>)> = s
            .change_sigs(id, &hashes)?
            .into_iter()
            .map(|x| (x.hash, (x.signer, x.signature)))
            .collect();
        let kiosk_key = s
            .kiosk(&rec.kiosk_id)?
            .and_then(|k| hex::decode(k.public_key).ok());
        // Versions by heads: a linear history hydrates each version once.
        let mut versions: HashMap<Vec<ChangeHash>, BTreeMap<String, String>> = HashMap::new();
        let mut version = |heads: Vec<ChangeHash>| -> Result<BTreeMap<String, String>, HqError> {
            if let Some(v) = versions.get(&heads) {
                return Ok(v.clone());
            }
            let mut flat = BTreeMap::new();
            flatten(
                &doc.json_at(&heads).map_err(bad)?,
                &mut String::new(),
                &mut flat,
            );
            versions.insert(heads, flat.clone());
            Ok(flat)
        };
        let mut entries = Vec::with_capacity(changes.len());
        for c in changes {
            let before = version(c.deps().to_vec())?;
            let after = version(vec![c.hash()])?;
            let mut fields = diff(&before, &after);
            let (person, device) = attribution(c);
            let by_hq = *c.actor_id() == self.actor;
            let who = if by_hq {
                Who::HqUser
            } else if reviews(&fields) {
                Who::Supervisor
            } else if person.is_empty() {
                Who::Kiosk
            } else {
                Who::Operator
            };
            let signature = match sigs.get(&c.hash().0) {
                None => SigState::Missing,
                Some((signer, sig)) => {
                    let key = if signer == HQ_SIGNER {
                        Some(self.sign_public().to_vec())
                    } else if *signer == rec.kiosk_id {
                        kiosk_key.clone()
                    } else {
                        None
                    };
                    let ok = match (key, <[u8; SIGNATURE_LEN]>::try_from(sig.as_slice())) {
                        (Some(key), Ok(signature)) => SignedChange {
                            record: *id,
                            signature,
                            bytes: Vec::new(),
                            endorsement: None,
                        }
                        .verify(&key, &c.hash()),
                        _ => false,
                    };
                    // A kiosk change must carry the kiosk's signature, an HQ change HQ's.
                    let right_signer = (signer == HQ_SIGNER) == by_hq;
                    if ok && right_signer {
                        SigState::Verified {
                            signer: signer.clone(),
                        }
                    } else {
                        SigState::Invalid {
                            signer: signer.clone(),
                        }
                    }
                }
            };
            let fields_cut = fields.len().saturating_sub(MAX_FIELDS);
            fields.truncate(MAX_FIELDS);
            entries.push(TimelineEntry {
                hash: hex::encode(c.hash().0),
                at: DateTime::<Utc>::from_timestamp_millis(c.timestamp())
                    .filter(|_| c.timestamp() > 0),
                who,
                person,
                device,
                fields,
                fields_cut,
                signature,
            });
        }
        Ok(Timeline {
            record: *id,
            kiosk_id: rec.kiosk_id,
            entries,
            changes_cut,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattened_versions_diff_by_field_path() {
        let flat = |v: J| {
            let mut out = BTreeMap::new();
            flatten(&v, &mut String::new(), &mut out);
            out
        };
        let before = flat(serde_json::json!({"a": {"b": "x", "n": 1}, "l": [{"q": 5}]}));
        let after = flat(
            serde_json::json!({"a": {"b": "y", "n": 1}, "l": [{"q": 5}, {"q": 9}], "z": null}),
        );
        let d = diff(&before, &after);
        let got: Vec<(&str, Option<&str>, Option<&str>)> = d
            .iter()
            .map(|f| (f.path.as_str(), f.before.as_deref(), f.after.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![("a.b", Some("x"), Some("y")), ("l.1.q", None, Some("9"))]
        );
    }
}
