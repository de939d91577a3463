//! An `Enrollment` held as an Automerge document. The bridge goes through serde's JSON value,
//! so the document's shape is exactly the JSON form: objects are maps, arrays are lists,
//! strings are scalar strings (last writer wins per field, which is what a form needs).

use automerge::{
    hydrate, transaction::CommitOptions, transaction::Transactable, ActorId, AutoCommit,
    ChangeHash, ObjId as ExId, Prop, ReadDoc, ScalarValue, ROOT,
};
use chrono::{DateTime, Utc};
use serde_json::Value as J;
use std::collections::HashMap;

use super::Enrollment;

#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("the record document could not be read: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error("the record document holds a value of an unexpected kind at {path}")]
    UnexpectedValue { path: String },
    #[error("the record document does not match the record form: {0}")]
    Shape(#[from] serde_json::Error),
    #[error("Automerge failed on these changes (they are inconsistent)")]
    Inconsistent,
}

/// Runs Automerge on bytes from elsewhere. Automerge 0.12 panics on some well-formed but
/// inconsistent changes (an operation on an object no change made); that is a refusal of
/// those bytes, not a crash of whoever read them. The document a panic interrupted is
/// dropped by the caller with the error.
pub fn guarded<T>(f: impl FnOnce() -> Result<T, DocError>) -> Result<T, DocError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(Err(DocError::Inconsistent))
}

/// Who made a change, on which device, when: stored in every change's message and time.
#[derive(Debug, Clone)]
pub struct Attribution {
    pub person: String,
    pub device: String,
    pub at: DateTime<Utc>,
}

impl Attribution {
    fn commit_options(&self) -> CommitOptions {
        let message = serde_json::json!({ "by": self.person, "device": self.device }).to_string();
        CommitOptions::default()
            .with_message(message)
            .with_time(self.at.timestamp_millis())
    }
}

/// One record's CRDT document.
pub struct RecordDoc {
    doc: AutoCommit,
}

impl RecordDoc {
    /// A new document holding `record`, built in one batch (far faster than a put per field).
    pub fn create(record: &Enrollment, actor: ActorId, by: &Attribution) -> Result<Self, DocError> {
        let mut doc = AutoCommit::new().with_actor(actor);
        let hydrate::Value::Map(map) = to_hydrate(&serde_json::to_value(record)?) else {
            // A struct always serialises to a JSON object.
            return Err(DocError::UnexpectedValue { path: "/".into() });
        };
        doc.init_root_from_hydrate(&map)?;
        doc.commit_with(by.commit_options());
        Ok(Self { doc })
    }

    /// Loads a document from saved bytes: a snapshot, optionally followed by change chunks.
    pub fn load(bytes: &[u8], actor: ActorId) -> Result<Self, DocError> {
        let doc = guarded(|| Ok(AutoCommit::load(bytes)?))?.with_actor(actor);
        Ok(Self { doc })
    }

    /// The typed record as the document holds it now.
    pub fn read(&self) -> Result<Enrollment, DocError> {
        Ok(serde_json::from_value(self.read_json()?)?)
    }

    fn read_json(&self) -> Result<J, DocError> {
        guarded(|| to_json(&self.doc.hydrate(ROOT, None)?, &mut String::new()))
    }

    /// The document as JSON as it stood at `heads` (an empty slice: before any change).
    pub fn json_at(&self, heads: &[ChangeHash]) -> Result<J, DocError> {
        if heads.is_empty() {
            return Ok(J::Object(serde_json::Map::new()));
        }
        to_json(&self.doc.hydrate(ROOT, Some(heads))?, &mut String::new())
    }

    /// Makes the document equal `record`, writing only the fields that differ.
    /// Returns the new change's hash, or `None` when nothing changed.
    pub fn update(
        &mut self,
        record: &Enrollment,
        by: &Attribution,
    ) -> Result<Option<ChangeHash>, DocError> {
        let old = self.read_json()?;
        let new = serde_json::to_value(record)?;
        if let (J::Object(old), J::Object(new)) = (&old, &new) {
            reconcile_map(&mut self.doc, &ROOT, old, new)?;
        }
        Ok(self.doc.commit_with(by.commit_options()))
    }

    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// The whole document, compacted.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// The changes made since `heads`, as one chunk that `load`/`apply` accept after a snapshot.
    pub fn save_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        self.doc.save_after(heads)
    }

    /// Every change as its own (compressed where that helps) change chunk: loads like
    /// `save()`, and `split_changes` gives the changes back without building the document.
    pub fn save_changes(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        for mut c in self.doc.get_changes(&[]) {
            out.extend_from_slice(&c.bytes());
        }
        out
    }

    /// Merges changes from elsewhere (idempotent; out-of-order changes wait for their deps).
    pub fn apply(&mut self, chunk: &[u8]) -> Result<(), DocError> {
        guarded(|| Ok(self.doc.load_incremental(chunk)?)).map(drop)
    }

    /// Which of `hashes` the document does not hold applied (queued ones count as not held).
    /// Automerge's `get_change_by_hash` rebuilds a whole change to answer that; its missing-deps
    /// walk only looks hashes up, and with nothing queued it says exactly the same.
    pub fn not_held(&mut self, hashes: &[ChangeHash]) -> Result<Vec<ChangeHash>, DocError> {
        guarded(|| {
            let am = &mut self.doc;
            if !am.get_missing_deps(&[]).is_empty() {
                // Something is queued: rare (a refused record), so the exact, slow check.
                return Ok(hashes
                    .iter()
                    .filter(|h| am.get_change_by_hash(h).is_none())
                    .copied()
                    .collect());
            }
            let missing: std::collections::HashSet<ChangeHash> =
                am.get_missing_deps(hashes).into_iter().collect();
            Ok(hashes
                .iter()
                .filter(|h| missing.contains(h))
                .copied()
                .collect())
        })
    }

    pub fn automerge(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }
}

/// The blob references (`sha256` / `*_sha256` string values, as `protocol::blob_refs` finds
/// them in the record's JSON) of a record saved once: one change with nothing before it that
/// only makes maps and lists and puts scalars, never overwriting, so each of its values is the
/// record's. Read off the operations without building the document; `None` for anything else.
pub fn first_change_blob_refs(change: &automerge::Change) -> Option<Vec<String>> {
    use automerge::legacy::{Key, ObjectId, OpType};
    use automerge::ObjType;
    if !change.deps().is_empty() || change.seq() != 1 {
        return None;
    }
    let first = change.start_op().get();
    let mut out = Vec::new();
    // Objects made under a blob key: `blob_refs` does not look inside them.
    let mut skipped = std::collections::HashSet::new();
    for (i, op) in change.decode().operations.iter().enumerate() {
        if !op.pred.is_empty() {
            return None;
        }
        let inside_skipped = match &op.obj {
            ObjectId::Root => false,
            ObjectId::Id(o) => skipped.contains(&o.counter()),
        };
        let blob_key = matches!(&op.key, Key::Map(k) if k == "sha256" || k.ends_with("_sha256"));
        match &op.action {
            OpType::Make(ObjType::Map | ObjType::List) => {
                if inside_skipped || blob_key {
                    skipped.insert(first + i as u64);
                }
            }
            OpType::Put(ScalarValue::Str(s)) if blob_key && !inside_skipped => {
                out.push(s.to_string())
            }
            OpType::Put(_) => {}
            _ => return None,
        }
    }
    Some(out)
}

/// Writes into `obj` only the keys whose values differ between `old` (the document now) and `new`.
fn reconcile_map(
    doc: &mut AutoCommit,
    obj: &ExId,
    old: &serde_json::Map<String, J>,
    new: &serde_json::Map<String, J>,
) -> Result<(), DocError> {
    for (key, value) in new {
        match (old.get(key), value) {
            (Some(before), after) if before == after => {}
            (Some(J::Object(before)), J::Object(after)) => {
                let child = child(doc, obj, key.as_str())?;
                reconcile_map(doc, &child, before, after)?;
            }
            (Some(J::Array(before)), J::Array(after)) => {
                let child = child(doc, obj, key.as_str())?;
                reconcile_list(doc, &child, before, after)?;
            }
            _ => put(doc, obj, key.as_str().into(), value, false)?,
        }
    }
    for key in old.keys().filter(|k| !new.contains_key(*k)) {
        doc.delete(obj, key.as_str())?;
    }
    Ok(())
}

/// Lists are reconciled by position: shared indexes are updated in place, the tail is
/// appended or trimmed (the record's lists only grow at the end or are replaced).
fn reconcile_list(doc: &mut AutoCommit, obj: &ExId, old: &[J], new: &[J]) -> Result<(), DocError> {
    for (i, (before, after)) in old.iter().zip(new).enumerate() {
        match (before, after) {
            (b, a) if b == a => {}
            (J::Object(b), J::Object(a)) => {
                let child = child(doc, obj, i)?;
                reconcile_map(doc, &child, b, a)?;
            }
            (J::Array(b), J::Array(a)) => {
                let child = child(doc, obj, i)?;
                reconcile_list(doc, &child, b, a)?;
            }
            _ => put(doc, obj, i.into(), after, false)?,
        }
    }
    for (i, value) in new.iter().enumerate().skip(old.len()) {
        put(doc, obj, i.into(), value, true)?;
    }
    for i in (new.len()..old.len()).rev() {
        doc.delete(obj, i)?;
    }
    Ok(())
}

fn child<P: Into<Prop> + std::fmt::Display + Copy>(
    doc: &AutoCommit,
    obj: &ExId,
    prop: P,
) -> Result<ExId, DocError> {
    match doc.get(obj, prop)? {
        Some((automerge::Value::Object(_), id)) => Ok(id),
        _ => Err(DocError::UnexpectedValue {
            path: prop.to_string(),
        }),
    }
}

fn put(
    doc: &mut AutoCommit,
    obj: &ExId,
    prop: Prop,
    value: &J,
    insert: bool,
) -> Result<(), DocError> {
    match (value, prop) {
        (J::Object(_) | J::Array(_), prop) => {
            doc.batch_create_object(obj, prop, &to_hydrate(value), insert)?;
        }
        (scalar, Prop::Seq(i)) if insert => doc.insert(obj, i, to_scalar(scalar))?,
        (scalar, prop) => doc.put(obj, prop, to_scalar(scalar))?,
    }
    Ok(())
}

fn to_scalar(value: &J) -> ScalarValue {
    match value {
        J::Bool(b) => ScalarValue::Boolean(*b),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                ScalarValue::Int(i)
            } else if let Some(u) = n.as_u64() {
                ScalarValue::Uint(u)
            } else {
                // serde_json numbers are i64, u64 or finite f64.
                ScalarValue::F64(n.as_f64().unwrap_or_default())
            }
        }
        J::String(s) => ScalarValue::Str(s.as_str().into()),
        J::Null | J::Array(_) | J::Object(_) => ScalarValue::Null,
    }
}

fn to_hydrate(value: &J) -> hydrate::Value {
    match value {
        J::Null | J::Bool(_) | J::Number(_) | J::String(_) => {
            hydrate::Value::Scalar(to_scalar(value))
        }
        J::Array(items) => items
            .iter()
            .map(to_hydrate)
            .collect::<Vec<hydrate::Value>>()
            .into(),
        J::Object(fields) => hydrate::Value::Map(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), to_hydrate(v)))
                .collect::<HashMap<String, hydrate::Value>>()
                .into(),
        ),
    }
}

/// A scalar as the record's JSON form holds it; `None` for kinds a record never has.
pub(super) fn scalar_json(v: &ScalarValue) -> Option<J> {
    Some(match v {
        ScalarValue::Null => J::Null,
        ScalarValue::Boolean(b) => J::Bool(*b),
        ScalarValue::Int(i) => J::from(*i),
        ScalarValue::Uint(u) => J::from(*u),
        ScalarValue::F64(f) => J::Number(serde_json::Number::from_f64(*f)?),
        ScalarValue::Str(s) => J::String(s.to_string()),
        _ => return None,
    })
}

fn to_json(value: &hydrate::Value, path: &mut String) -> Result<J, DocError> {
    let unexpected = |path: &str| DocError::UnexpectedValue {
        path: if path.is_empty() {
            "/".into()
        } else {
            path.into()
        },
    };
    Ok(match value {
        hydrate::Value::Scalar(s) => scalar_json(s).ok_or_else(|| unexpected(path))?,
        hydrate::Value::Text(t) => J::String(t.to_string()),
        hydrate::Value::List(list) => {
            let mut out = Vec::with_capacity(list.len());
            for (i, item) in list.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                out.push(to_json(&item.value, path)?);
                path.truncate(len);
            }
            J::Array(out)
        }
        hydrate::Value::Map(map) => {
            let mut out = serde_json::Map::new();
            for (key, item) in map.iter() {
                let len = path.len();
                path.push('/');
                path.push_str(key);
                out.insert(key.clone(), to_json(&item.value, path)?);
                path.truncate(len);
            }
            J::Object(out)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_automerge_is_a_refusal_and_errors_pass_through() {
        let caught: Result<(), DocError> = guarded(|| panic!("Obj Missing from Index"));
        assert!(matches!(caught, Err(DocError::Inconsistent)));
        let passed: Result<(), DocError> =
            guarded(|| Err(DocError::UnexpectedValue { path: "/a".into() }));
        assert!(matches!(passed, Err(DocError::UnexpectedValue { .. })));
        assert_eq!(guarded(|| Ok(7)).ok(), Some(7));
    }
}
