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
        let doc = AutoCommit::load(bytes)?.with_actor(actor);
        Ok(Self { doc })
    }

    /// The typed record as the document holds it now.
    pub fn read(&self) -> Result<Enrollment, DocError> {
        Ok(serde_json::from_value(self.read_json()?)?)
    }

    fn read_json(&self) -> Result<J, DocError> {
        to_json(&self.doc.hydrate(ROOT, None)?, &mut String::new())
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

    /// Merges changes from elsewhere (idempotent; out-of-order changes wait for their deps).
    pub fn apply(&mut self, chunk: &[u8]) -> Result<(), DocError> {
        self.doc.load_incremental(chunk)?;
        Ok(())
    }

    pub fn automerge(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }
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

fn to_json(value: &hydrate::Value, path: &mut String) -> Result<J, DocError> {
    let unexpected = |path: &str| DocError::UnexpectedValue {
        path: if path.is_empty() {
            "/".into()
        } else {
            path.into()
        },
    };
    Ok(match value {
        hydrate::Value::Scalar(s) => match s {
            ScalarValue::Null => J::Null,
            ScalarValue::Boolean(b) => J::Bool(*b),
            ScalarValue::Int(i) => J::from(*i),
            ScalarValue::Uint(u) => J::from(*u),
            ScalarValue::F64(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .ok_or_else(|| unexpected(path))?,
            ScalarValue::Str(s) => J::String(s.to_string()),
            _ => return Err(unexpected(path)),
        },
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
