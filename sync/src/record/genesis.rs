//! A new record's first change read straight from its operations. A kiosk sends most records
//! as one change with no dependencies that only lays down maps, lists and scalars. For exactly
//! that shape the document is the operations as written: no operation has a predecessor, so
//! nothing conflicts or is deleted, and each list is appended in order. Loading and hydrating an
//! Automerge document (most of HQ's CPU per new record) would say nothing more. Any other shape
//! gives `None`, and the caller builds the document.

use automerge::legacy::{ElementId, Key, ObjectId, Op, OpType};
use automerge::{Change, ObjType};
use serde_json::Value as J;

use super::doc::scalar_json;
use super::own_offset;

/// Deeper nesting than any record form has takes the document path (and no recursion here).
const MAX_DEPTH: usize = 16;

enum Slot {
    Value(J),
    Object(usize),
}

enum Container<'a> {
    /// Fields in the order written; a key written twice is not the plain shape.
    Map(Vec<(&'a str, Slot)>),
    /// Items, and the counter of the last inserted item (the next insert must follow it).
    List(Vec<Slot>, Option<u64>),
}

/// The JSON the document made by `change` alone holds, when the change has the plain first
/// shape described above; `None` otherwise. `ops`: the change's operations (`decode()`, or
/// [`super::plain_ops`]).
pub fn genesis_json(change: &Change, ops: &[Op]) -> Option<J> {
    if !change.deps().is_empty() {
        return None;
    }
    let start = change.start_op().get();
    let actor = change.actor_id();
    let mut nodes = vec![Container::Map(Vec::new())];
    let mut depth = vec![0usize];
    // By operation counter's offset from `start`: the node a `Make` made.
    let mut made: Vec<Option<usize>> = vec![None; ops.len()];
    for (i, op) in ops.iter().enumerate() {
        let counter = start.checked_add(i as u64)?;
        if !op.pred.is_empty() {
            return None;
        }
        let parent = match &op.obj {
            ObjectId::Root => 0,
            ObjectId::Id(id) => made[own_offset(id, actor, start, ops.len())?]?,
        };
        let slot = match &op.action {
            OpType::Make(kind @ (ObjType::Map | ObjType::List)) => {
                if depth[parent] + 1 > MAX_DEPTH {
                    return None;
                }
                nodes.push(match kind {
                    ObjType::Map => Container::Map(Vec::new()),
                    _ => Container::List(Vec::new(), None),
                });
                depth.push(depth[parent] + 1);
                made[i] = Some(nodes.len() - 1);
                Slot::Object(nodes.len() - 1)
            }
            OpType::Put(v) => Slot::Value(scalar_json(v)?),
            _ => return None,
        };
        match (&mut nodes[parent], &op.key, op.insert) {
            (Container::Map(fields), Key::Map(k), false) => fields.push((k.as_str(), slot)),
            (Container::List(items, last), Key::Seq(after), true) => {
                let follows = match (after, *last) {
                    (ElementId::Head, None) => true,
                    (ElementId::Id(id), Some(l)) => id.0 == l && &id.1 == actor,
                    _ => false,
                };
                if !follows {
                    return None;
                }
                items.push(slot);
                *last = Some(counter);
            }
            _ => return None,
        }
    }
    // Children are made after their parents: building from the last node back, every child
    // is whole before its parent takes it.
    let mut built: Vec<Option<J>> = Vec::with_capacity(nodes.len());
    built.resize_with(nodes.len(), || None);
    for (n, node) in nodes.into_iter().enumerate().rev() {
        let mut take = |slot: Slot| match slot {
            Slot::Value(v) => Some(v),
            Slot::Object(o) => built.get_mut(o)?.take(),
        };
        let value = match node {
            Container::Map(fields) => {
                let mut out = serde_json::Map::new();
                for (k, slot) in fields {
                    if out.insert(k.to_owned(), take(slot)?).is_some() {
                        return None;
                    }
                }
                J::Object(out)
            }
            Container::List(items, _) => {
                J::Array(items.into_iter().map(take).collect::<Option<_>>()?)
            }
        };
        built[n] = Some(value);
    }
    built.into_iter().next().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{example, Attribution, RecordDoc, ReviewAction, ReviewEvent};
    use automerge::transaction::Transactable;
    use automerge::{ActorId, AutoCommit, ScalarValue, ROOT};

    fn by() -> Attribution {
        Attribution {
            person: "op".into(),
            device: "K1".into(),
            at: chrono::DateTime::from_timestamp(1_790_000_000, 0).expect("fixed time"),
        }
    }

    fn only_change(am: &mut AutoCommit) -> automerge::Change {
        let heads = am.get_heads();
        am.get_change_by_hash(&heads[0]).expect("the change")
    }

    #[test]
    fn a_new_records_first_change_reads_as_its_document_does() {
        let now = by().at;
        let mut plain = example(now);
        plain.applicant.other_name = None;
        plain.relatives = Default::default();
        let mut reviewed = example(now);
        reviewed.review.history.push(ReviewEvent {
            at: now,
            by: "sup".into(),
            device: "K1".into(),
            action: ReviewAction::Returned,
            reason: Some("ảnh mờ".into()),
            signature: None,
        });
        for record in [example(now), plain, reviewed] {
            let mut doc = RecordDoc::create(&record, ActorId::random(), &by()).expect("doc");
            let heads = doc.heads();
            let from_doc = doc.json_at(&heads).expect("hydrated");
            let change = only_change(doc.automerge());
            // Read from the columns as automerge decodes it, and into the document's JSON.
            let ops = crate::record::plain_ops(&change).expect("a new record has the plain shape");
            assert_eq!(ops, change.decode().operations);
            let read = genesis_json(&change, &ops).expect("the plain first shape");
            assert_eq!(read, from_doc);
        }
    }

    /// Writes one shape into a new document.
    type Shape = fn(&mut AutoCommit);

    #[test]
    fn any_other_shape_takes_the_document_path() {
        let shapes: [(&str, Shape); 6] = [
            ("a key written twice", |am| {
                am.put(ROOT, "a", 1).expect("put");
                am.put(ROOT, "a", 2).expect("put");
            }),
            ("a list item inserted in front", |am| {
                let l = am.put_object(ROOT, "l", ObjType::List).expect("list");
                am.insert(&l, 0, "b").expect("insert");
                am.insert(&l, 0, "a").expect("insert");
            }),
            ("a deletion", |am| {
                am.put(ROOT, "a", 1).expect("put");
                am.delete(ROOT, "a").expect("delete");
            }),
            ("a counter", |am| {
                am.put(ROOT, "n", ScalarValue::counter(1)).expect("put");
            }),
            ("a text object", |am| {
                am.put_object(ROOT, "t", ObjType::Text).expect("text");
            }),
            ("nesting deeper than any record", |am| {
                let mut obj = ROOT;
                for _ in 0..=MAX_DEPTH {
                    obj = am.put_object(&obj, "x", ObjType::Map).expect("map");
                }
            }),
        ];
        for (what, make) in shapes {
            let mut am = AutoCommit::new();
            make(&mut am);
            am.commit();
            let change = only_change(&mut am);
            assert_eq!(
                genesis_json(&change, &change.decode().operations),
                None,
                "{what}"
            );
        }
        // A second change (it has a dependency) is never a first shape.
        let mut am = AutoCommit::new();
        am.put(ROOT, "a", 1).expect("put");
        am.commit();
        am.put(ROOT, "b", 2).expect("put");
        am.commit();
        let change = only_change(&mut am);
        assert_eq!(genesis_json(&change, &change.decode().operations), None);
    }
}
