//! Who may write what in a record: the one rule table, and the reading of a change's own
//! operations against it. HQ reads every change a kiosk signs with it before keeping the
//! change; the kiosk reads every change HQ sends down with it before merging. Nothing here
//! compares states: each operation is resolved to the field path it writes (an operation on
//! an object the change did not make is resolved in the merged document), so a change racing
//! another writer's change is judged by what it does, not by what the merge shows.

use automerge::legacy::{ElementId, Key, ObjectId, OpId, OpType};
use automerge::{AutoCommit, Change, ReadDoc, ScalarValue};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::doc::{guarded, DocError};
use super::own_offset;

/// Whose signature a write needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// The kiosk that owns the record: its device key.
    Kiosk,
    /// A supervisor of that kiosk: the device key, and the supervisor's own key, certified by
    /// the device key, over the change.
    Supervisor,
    /// HQ's key.
    Hq,
}

/// When a rule applies to a write at its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Always,
    /// The value written is one of these strings.
    Value(&'static [&'static str]),
    /// The history event written (or changed) has one of these actions.
    Event(&'static [&'static str]),
}

/// One line of the table: writes at `path` (or inside it) need `writer`.
#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    /// Dotted field path; `[]` stands for any element of a list.
    pub path: &'static str,
    pub when: When,
    pub writer: Writer,
    /// Stable name of the rule, shown in refusals.
    pub code: &'static str,
    pub vi: &'static str,
    pub en: &'static str,
}

/// The rule table. A path not named here is the kiosk's. A write that replaces a container
/// of a named path (`review`, `review.history`) writes that path too, and needs its writer;
/// only a record's first shape, which overwrites nothing (a new record, operations with no
/// predecessor), may lay those containers down, with `review.hq` empty.
pub const RULES: &[Rule] = &[
    Rule {
        path: "review.hq",
        when: When::Always,
        writer: Writer::Hq,
        code: "hq_only",
        vi: "chỉ khóa của HQ được ghi trạng thái HQ",
        en: "only HQ's key may write HQ's status",
    },
    Rule {
        path: "review.duplicate",
        when: When::Always,
        writer: Writer::Hq,
        code: "hq_only",
        vi: "chỉ khóa của HQ được ghi quyết định trùng hồ sơ",
        en: "only HQ's key may write the duplicate decision",
    },
    Rule {
        path: "review.history[]",
        when: When::Event(&["hq_status"]),
        writer: Writer::Hq,
        code: "hq_only",
        vi: "chỉ khóa của HQ được ghi sự kiện trạng thái HQ",
        en: "only HQ's key may write HQ status events",
    },
    Rule {
        path: "review.history[]",
        when: When::Event(&["approved", "returned"]),
        writer: Writer::Supervisor,
        code: "supervisor_signature",
        vi: "duyệt và trả lại cần chữ ký riêng của một giám sát viên của ki-ốt này, ghi đúng tên người đó",
        en: "approval and return need the own signature of a supervisor of this kiosk, naming that supervisor",
    },
    Rule {
        path: "review.status",
        when: When::Value(&["approved", "returned"]),
        writer: Writer::Supervisor,
        code: "supervisor_signature",
        vi: "duyệt và trả lại cần chữ ký riêng của một giám sát viên của ki-ốt này, ghi đúng tên người đó",
        en: "approval and return need the own signature of a supervisor of this kiosk, naming that supervisor",
    },
];

/// Every path the table does not name.
pub const KIOSK_RULE: Rule = Rule {
    path: "*",
    when: When::Always,
    writer: Writer::Kiosk,
    code: "kiosk_only",
    vi: "chỉ ki-ốt sở hữu hồ sơ được ghi",
    en: "only the kiosk that owns the record may write it",
};

const HQ_STATUS: &Rule = &RULES[0];
const HQ_DUPLICATE: &Rule = &RULES[1];
const HQ_EVENT: &Rule = &RULES[2];
const SUPERVISOR_EVENT: &Rule = &RULES[3];
const SUPERVISOR_STATUS: &Rule = &RULES[4];

/// What one change writes, by writer: the first path of each, and the people its approval
/// and return events name.
#[derive(Debug, Default, Clone)]
pub struct Writes {
    pub hq: Option<(String, &'static Rule)>,
    pub supervisor: Option<(String, &'static Rule)>,
    pub kiosk: Option<(String, &'static Rule)>,
    /// `by` of each approval or return event the change makes ("" when it names nobody).
    pub approvers: Vec<String>,
}

impl Writes {
    fn note(&mut self, path: impl FnOnce() -> String, rule: &'static Rule) {
        let slot = match rule.writer {
            Writer::Hq => &mut self.hq,
            Writer::Supervisor => &mut self.supervisor,
            Writer::Kiosk => &mut self.kiosk,
        };
        if slot.is_none() {
            *slot = Some((path(), rule));
        }
    }
}

/// A write refused: the path and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: String,
    pub rule: &'static Rule,
}

impl Violation {
    pub fn message_vi(&self) -> String {
        format!(
            "ghi `{}` bị từ chối [{}]: {}",
            self.path, self.rule.code, self.rule.vi
        )
    }
    pub fn message_en(&self) -> String {
        format!(
            "writing `{}` is refused [{}]: {}",
            self.path, self.rule.code, self.rule.en
        )
    }
}

/// A change signed by the owning kiosk's device key. `supervisor` is the account whose
/// certified supervisor key also signed this change, if any: approval and return events
/// must all name that account.
pub fn check_kiosk_change(w: &Writes, supervisor: Option<&str>) -> Result<(), Violation> {
    if let Some((path, rule)) = &w.hq {
        return Err(Violation {
            path: path.clone(),
            rule,
        });
    }
    if let Some((path, rule)) = &w.supervisor {
        let named =
            !w.approvers.is_empty() && w.approvers.iter().all(|a| Some(a.as_str()) == supervisor);
        if !named {
            return Err(Violation {
                path: path.clone(),
                rule,
            });
        }
    }
    Ok(())
}

/// A change signed by HQ's key, as the kiosk merges it: only HQ's paths.
pub fn check_hq_change(w: &Writes) -> Result<(), Violation> {
    match w.kiosk.as_ref().or(w.supervisor.as_ref()) {
        Some((path, rule)) => Err(Violation {
            path: path.clone(),
            rule,
        }),
        None => Ok(()),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Item,
}

impl Seg {
    fn key(&self) -> Option<&str> {
        match self {
            Seg::Key(k) => Some(k),
            Seg::Item => None,
        }
    }
}

/// Where an object sits: its path, and the history event it is (inside), if any.
#[derive(Debug)]
struct ObjInfo {
    segs: Vec<Seg>,
    event: Option<String>,
}

fn is(segs: &[Seg], keys: &[&str]) -> bool {
    segs.len() == keys.len() && segs.iter().zip(keys).all(|(s, k)| s.key() == Some(*k))
}

fn starts(segs: &[Seg], keys: &[&str]) -> bool {
    segs.len() >= keys.len() && is(&segs[..keys.len()], keys)
}

/// The dotted path of `segs` and then `last` (a map key, or `None` for a list element).
fn show(segs: &[Seg], last: Option<&str>) -> String {
    let mut out = String::new();
    let key = |out: &mut String, k: &str| {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(k);
    };
    for s in segs {
        match s {
            Seg::Key(k) => key(&mut out, k),
            Seg::Item => out.push_str("[]"),
        }
    }
    match last {
        Some(k) => key(&mut out, k),
        None => out.push_str("[]"),
    }
    out
}

fn op_name(id: &OpId) -> String {
    format!("{}@{}", id.0, id.1)
}

/// The path of an object the change did not make, from the merged document.
fn resolve(doc: &AutoCommit, id: &OpId) -> Result<ObjInfo, DocError> {
    let exid = doc.import_obj(&op_name(id))?;
    let path = doc.parents(&exid)?.path();
    let mut segs = Vec::with_capacity(path.len() + 1);
    let mut event = None;
    for (i, (_, prop)) in path.iter().enumerate() {
        segs.push(match prop {
            automerge::Prop::Map(k) => Seg::Key(k.clone()),
            automerge::Prop::Seq(_) => Seg::Item,
        });
        if event.is_none() && segs.len() == 3 && starts(&segs, &["review", "history"]) {
            event = Some(
                path.get(i + 1)
                    .map_or_else(|| exid.to_string(), |(o, _)| o.to_string()),
            );
        }
    }
    Ok(ObjInfo { segs, event })
}

fn str_value(action: &OpType) -> Option<&str> {
    match action {
        OpType::Put(ScalarValue::Str(s)) => Some(s.as_str()),
        _ => None,
    }
}

fn event_rule(actions: &[String]) -> &'static Rule {
    let has = |r: &Rule| matches!(r.when, When::Event(list) if actions.iter().any(|a| list.contains(&a.as_str())));
    if has(HQ_EVENT) {
        HQ_EVENT
    } else if has(SUPERVISOR_EVENT) {
        SUPERVISOR_EVENT
    } else {
        &KIOSK_RULE
    }
}

/// What `change` writes, resolved against `doc` (which holds the change, merged). `genesis`:
/// the record is new to whoever checks, so operations that overwrite nothing may lay down its
/// first shape. Runs guarded: the change may be hostile.
pub fn writes(doc: &AutoCommit, change: &Change, genesis: bool) -> Result<Writes, DocError> {
    guarded(|| writes_inner(doc, change, &change.decode().operations, genesis))
}

/// `writes`, for a caller that already holds the change's operations (`decode()`, or
/// [`super::plain_ops`]).
pub fn writes_decoded(
    doc: &AutoCommit,
    change: &Change,
    ops: &[automerge::legacy::Op],
    genesis: bool,
) -> Result<Writes, DocError> {
    guarded(|| writes_inner(doc, change, ops, genesis))
}

fn writes_inner(
    doc: &AutoCommit,
    change: &Change,
    ops: &[automerge::legacy::Op],
    genesis: bool,
) -> Result<Writes, DocError> {
    let start = change.start_op().get();
    let actor = change.actor_id();
    let root = Rc::new(ObjInfo {
        segs: Vec::new(),
        event: None,
    });
    // Objects this change made, by their counter's offset from `start` (most lookups: no
    // hashing); objects made before it, resolved once each.
    let mut made: Vec<Option<Rc<ObjInfo>>> = vec![None; ops.len()];
    let mut objs: HashMap<OpId, Rc<ObjInfo>> = HashMap::new();
    let mut out = Writes::default();
    // History events: made by this change, their actions and people; writes into events.
    let mut made_events: HashSet<String> = HashSet::new();
    let mut actions: HashMap<String, Vec<String>> = HashMap::new();
    let mut people: HashMap<String, Vec<String>> = HashMap::new();
    let mut event_writes: Vec<(String, String, Option<String>)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let id = || OpId(start + i as u64, actor.clone());
        let parent = match &op.obj {
            ObjectId::Root => root.clone(),
            ObjectId::Id(o) => match own_offset(o, actor, start, ops.len())
                .and_then(|k| made[k].as_ref())
                .or(objs.get(o))
            {
                Some(p) => p.clone(),
                None => {
                    let info = Rc::new(resolve(doc, o)?);
                    objs.insert(o.clone(), info.clone());
                    info
                }
            },
        };
        // The key written: a map key, or `None` for a list element.
        let key: Option<&str> = match &op.key {
            Key::Map(k) => Some(k.as_str()),
            Key::Seq(_) => None,
        };
        let in_history_list = is(&parent.segs, &["review", "history"]);
        // The history event this operation writes (in), if any.
        let event = if in_history_list {
            match (&op.key, op.insert) {
                (_, true) => Some(op_name(&id())),
                (Key::Seq(ElementId::Id(e)), false) => Some(op_name(e)),
                _ => None,
            }
        } else {
            parent.event.clone()
        };
        if let OpType::Make(_) = op.action {
            if in_history_list && op.insert {
                made_events.insert(op_name(&id()));
            }
            let mut segs = parent.segs.clone();
            segs.push(key.map_or(Seg::Item, |k| Seg::Key(k.to_owned())));
            made[i] = Some(Rc::new(ObjInfo {
                segs,
                event: event.clone(),
            }));
        }
        let path = || show(&parent.segs, key);
        if let Some(e) = event {
            let own = match (key, str_value(&op.action)) {
                (Some("action"), Some(v)) if parent.segs.len() == 3 => {
                    actions.entry(e.clone()).or_default().push(v.to_owned());
                    Some(v.to_owned())
                }
                (Some("by"), Some(v)) if parent.segs.len() == 3 => {
                    people.entry(e.clone()).or_default().push(v.to_owned());
                    None
                }
                _ => None,
            };
            event_writes.push((path(), e, own));
            continue;
        }
        let first_shape = genesis && op.pred.is_empty();
        let target_is = |keys: &[&str]| {
            parent.segs.len() + 1 == keys.len()
                && is(&parent.segs, &keys[..keys.len() - 1])
                && key == keys.last().copied()
        };
        let rule: &'static Rule = if target_is(&["review", "status"]) {
            match str_value(&op.action) {
                Some(v) if matches!(SUPERVISOR_STATUS.when, When::Value(vs) if vs.contains(&v)) => {
                    SUPERVISOR_STATUS
                }
                _ => &KIOSK_RULE,
            }
        } else if target_is(&["review", "hq"]) {
            let empty = matches!(op.action, OpType::Put(ScalarValue::Null));
            if first_shape && empty {
                &KIOSK_RULE
            } else {
                HQ_STATUS
            }
        } else if starts(&parent.segs, &["review", "hq"]) {
            HQ_STATUS
        } else if target_is(&["review", "duplicate"])
            || starts(&parent.segs, &["review", "duplicate"])
        {
            HQ_DUPLICATE
        } else if target_is(&["review"]) || target_is(&["review", "history"]) {
            // Replacing a container replaces what HQ wrote inside it.
            if first_shape && matches!(op.action, OpType::Make(_)) {
                &KIOSK_RULE
            } else if target_is(&["review"]) {
                HQ_STATUS
            } else {
                HQ_EVENT
            }
        } else {
            &KIOSK_RULE
        };
        out.note(path, rule);
    }
    for (path, e, own) in event_writes {
        let mut acts: Vec<String> = own.into_iter().collect();
        if made_events.contains(&e) {
            acts.extend(actions.get(&e).cloned().unwrap_or_default());
        } else {
            let obj = doc.import_obj(&e)?;
            for (v, _) in doc.get_all(&obj, "action")? {
                acts.extend(v.as_str().map(str::to_owned));
            }
        }
        out.note(|| path, event_rule(&acts));
    }
    for e in &made_events {
        let acts = actions.get(e).map_or(&[][..], Vec::as_slice);
        if event_rule(acts) == SUPERVISOR_EVENT {
            match people.get(e).map(Vec::as_slice) {
                Some([one]) => out.approvers.push(one.clone()),
                _ => out.approvers.push(String::new()),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{
        example, Attribution, HqState, HqStatus, RecordDoc, RecordStatus, ReviewAction, ReviewEvent,
    };
    use automerge::ActorId;

    fn by() -> Attribution {
        Attribution {
            person: "op".into(),
            device: "K1".into(),
            at: chrono::Utc::now(),
        }
    }

    fn last_writes(doc: &mut RecordDoc, genesis: bool) -> Writes {
        let heads = doc.heads();
        let am = doc.automerge();
        let change = am.get_change_by_hash(&heads[0]).expect("change");
        writes(am, &change, genesis).expect("writes")
    }

    #[test]
    fn the_first_shape_is_the_kiosks_and_hq_writes_are_hqs() {
        let now = chrono::Utc::now();
        let mut r = example(now);
        let mut doc = RecordDoc::create(&r, ActorId::random(), &by()).expect("doc");
        let w = last_writes(&mut doc, true);
        assert!(check_kiosk_change(&w, None).is_ok(), "{w:?}");
        // The same first change checked as if HQ already held the record is refused.
        let w = last_writes(&mut doc, false);
        assert_eq!(w.hq.as_ref().map(|h| h.0.as_str()), Some("review"));
        // An edit is the kiosk's.
        r.applicant.other_name = Some("Tý".into());
        doc.update(&r, &by()).expect("edit");
        let w = last_writes(&mut doc, false);
        assert!(check_kiosk_change(&w, None).is_ok());
        assert!(check_hq_change(&w).is_err());
        // HQ's status with its event.
        r.review.hq = Some(HqStatus {
            status: HqState::Rejected,
            reason: Some("x".into()),
            at: now,
        });
        r.review.history.push(ReviewEvent {
            at: now,
            by: "hq-admin".into(),
            device: "HQ".into(),
            action: ReviewAction::HqStatus,
            reason: None,
            signature: None,
        });
        doc.update(&r, &by()).expect("hq");
        let w = last_writes(&mut doc, false);
        assert!(check_hq_change(&w).is_ok(), "{w:?}");
        let v = check_kiosk_change(&w, None).expect_err("kiosk may not");
        assert!(v.path.starts_with("review.h"), "{v:?}");
        // Changing HQ's status inside its map.
        r.review.hq.as_mut().expect("hq").status = HqState::CardPrinted;
        doc.update(&r, &by()).expect("over");
        let w = last_writes(&mut doc, false);
        let v = check_kiosk_change(&w, None).expect_err("kiosk may not");
        assert_eq!(v.path, "review.hq.status");
        assert_eq!(v.rule.code, "hq_only");
        // An approval names its supervisor.
        r.review.status = RecordStatus::Approved;
        r.review.history.push(ReviewEvent {
            at: now,
            by: "sup".into(),
            device: "K1".into(),
            action: ReviewAction::Approved,
            reason: None,
            signature: None,
        });
        doc.update(&r, &by()).expect("approve");
        let w = last_writes(&mut doc, false);
        assert_eq!(w.approvers, vec!["sup".to_owned()]);
        assert!(check_kiosk_change(&w, None).is_err());
        assert!(check_kiosk_change(&w, Some("other")).is_err());
        assert!(check_kiosk_change(&w, Some("sup")).is_ok());
        assert!(check_hq_change(&w).is_err());
        // Rewriting that approval event later is still a supervisor's write.
        r.review.history.last_mut().expect("ev").by = "op".into();
        doc.update(&r, &by()).expect("rewrite");
        let w = last_writes(&mut doc, false);
        assert_eq!(
            w.supervisor.as_ref().map(|s| s.0.as_str()),
            Some("review.history[].by")
        );
        assert!(check_kiosk_change(&w, Some("sup")).is_err());
    }
}
