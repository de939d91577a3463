//! What a reviewer does to records at HQ: comments, HQ status changes with reasons, and the
//! adjudication of records that share an ID number. Every action is audited with the user's
//! id; changes to documents travel to the owning kiosk on its next sync.

use std::collections::BTreeMap;
use uuid::Uuid;

use enroll_sync::record::{DuplicateDecision, DuplicateVerdict, Enrollment, HqState, RecordDoc};

use super::{refused, Scope};
use crate::storage::review::{AdjudicationRow, CommentRow};
use crate::storage::{RecordRow, Session};
use crate::{Hq, HqError};

/// Characters in a comment at most.
pub const COMMENT_MAX: usize = 4_000;
/// Characters in a reason at most.
pub const REASON_MAX: usize = 1_000;
/// Records of one duplicate group shown at most.
pub const GROUP_MAX: usize = 20;

fn text(value: &str, max: usize, what_vi: &str, what_en: &str) -> Result<String, HqError> {
    let t = value.trim();
    if t.is_empty() {
        return Err(refused(
            "reason_required",
            format!("cần nhập {what_vi}"),
            format!("a {what_en} is required"),
        ));
    }
    if t.chars().count() > max {
        return Err(refused(
            "too_long",
            format!("{what_vi} dài quá {max} ký tự"),
            format!("the {what_en} is longer than {max} characters"),
        ));
    }
    Ok(t.to_owned())
}

/// Refuses a record outside the user's provinces exactly as a missing one, so a scoped user
/// learns nothing about records elsewhere.
fn in_scope(s: &mut dyn Session, id: &Uuid, scope: &Scope) -> Result<RecordRow, HqError> {
    let rec = s
        .records(&[*id])?
        .pop()
        .filter(|r| scope.allows(r.p.province_code.as_deref()))
        .ok_or_else(|| HqError::NoSuchRecord(id.to_string()))?;
    Ok(RecordRow {
        id: rec.id,
        kiosk_id: rec.kiosk_id,
        p: rec.p,
    })
}

/// One duplicate group as the adjudication page shows it.
#[derive(Debug, Clone)]
pub struct DuplicateView {
    pub id_number: String,
    /// The records the user may see, with their documents, oldest first.
    pub records: Vec<(RecordRow, Enrollment)>,
    /// Records of the group outside the user's provinces (not shown).
    pub hidden: usize,
    /// Records beyond `GROUP_MAX` (not shown).
    pub cut: usize,
    pub decisions: Vec<AdjudicationRow>,
}

/// A decision as the form sends it.
#[derive(Debug, Clone)]
pub struct Adjudication {
    pub a: Uuid,
    pub b: Uuid,
    pub verdict: DuplicateVerdict,
    pub reason: String,
}

impl DuplicateView {
    /// Fields whose values differ between the shown records: (path, vi, en, value per record).
    pub fn differing_fields(&self) -> Vec<(String, String, String, Vec<Option<String>>)> {
        let flat: Vec<BTreeMap<String, String>> = self
            .records
            .iter()
            .map(|(_, e)| {
                let mut out = BTreeMap::new();
                let v = serde_json::to_value(e).unwrap_or_default();
                super::timeline::flatten(&v, &mut String::new(), &mut out);
                out
            })
            .collect();
        let mut paths: Vec<&String> = flat.iter().flat_map(|m| m.keys()).collect();
        paths.sort();
        paths.dedup();
        paths
            .into_iter()
            .filter(|p| !p.starts_with("review.") && p.as_str() != "id")
            .filter_map(|p| {
                let values: Vec<Option<String>> = flat.iter().map(|m| m.get(p).cloned()).collect();
                if values.windows(2).all(|w| w[0] == w[1]) {
                    return None;
                }
                let (vi, en) = super::labels::label(p);
                Some((p.clone(), vi, en, values))
            })
            .collect()
    }
}

impl Hq {
    /// Adds a comment by `author` (an HQ user id) to a record the user may see.
    pub fn add_comment(
        &self,
        record: &Uuid,
        author: &str,
        body: &str,
        scope: &Scope,
    ) -> Result<CommentRow, HqError> {
        let body = text(body, COMMENT_MAX, "nội dung nhận xét", "comment")?;
        let mut s = self.session()?;
        s.begin()?;
        in_scope(&mut *s, record, scope)?;
        let mut row = CommentRow {
            seq: 0,
            record: *record,
            at: self.now(),
            author: author.to_owned(),
            body,
        };
        row.seq = s.add_comment(&row)?;
        s.audit(&[self.audit_entry(
            author,
            "record.comment",
            &record.to_string(),
            &row.seq.to_string(),
        )])?;
        s.commit()?;
        Ok(row)
    }

    /// A record's comments in order, a page at a time.
    pub fn comments(
        &self,
        record: &Uuid,
        after: u64,
        limit: u32,
    ) -> Result<Vec<CommentRow>, HqError> {
        Ok(self.session()?.comments(record, after, limit)?)
    }

    /// A reviewer's HQ status change: returning for recapture and rejecting need a reason.
    pub fn review_status(
        &self,
        id: &Uuid,
        state: HqState,
        reason: &str,
        by: &str,
        scope: &Scope,
    ) -> Result<(), HqError> {
        let needs_reason = matches!(state, HqState::RecaptureNeeded | HqState::Rejected);
        let reason = if needs_reason || !reason.trim().is_empty() {
            Some(text(reason, REASON_MAX, "lý do", "reason")?)
        } else {
            None
        };
        let mut s = self.session()?;
        s.begin()?;
        in_scope(&mut *s, id, scope)?;
        self.change_status(&mut *s, id, state, reason, by)?;
        s.commit()?;
        Ok(())
    }

    /// One group of records sharing `id_number`, as far as the user may see it.
    pub fn duplicate_view(&self, id_number: &str, scope: &Scope) -> Result<DuplicateView, HqError> {
        let mut s = self.session()?;
        let mut ids = s.records_with_id_number(id_number)?;
        ids.sort();
        let mut view = DuplicateView {
            id_number: id_number.to_owned(),
            records: Vec::new(),
            hidden: 0,
            cut: ids.len().saturating_sub(GROUP_MAX),
            decisions: Vec::new(),
        };
        ids.truncate(GROUP_MAX);
        for rec in s.records(&ids)? {
            if !scope.allows(rec.p.province_code.as_deref()) {
                view.hidden += 1;
                continue;
            }
            let bad =
                |e: enroll_sync::record::DocError| HqError::BadStoredRecord(rec.id, e.to_string());
            let doc = RecordDoc::load(&rec.doc, self.actor.clone()).map_err(bad)?;
            let e = doc.read().map_err(bad)?;
            let row = RecordRow {
                id: rec.id,
                kiosk_id: rec.kiosk_id,
                p: rec.p,
            };
            view.records.push((row, e));
        }
        view.records.sort_by_key(|(r, _)| r.id);
        // Pairs among at most GROUP_MAX records.
        let shown: Vec<Uuid> = view.records.iter().map(|(r, _)| r.id).collect();
        view.decisions = s
            .adjudications(id_number, (GROUP_MAX * GROUP_MAX) as u32)?
            .into_iter()
            .filter(|d| shown.contains(&d.a) && shown.contains(&d.b))
            .collect();
        Ok(view)
    }

    /// Records the decision on a pair sharing an ID number, and writes it into both records'
    /// documents as an HQ change queued to each owning kiosk. The change names no other record.
    pub fn adjudicate(&self, d: &Adjudication, by: &str, scope: &Scope) -> Result<(), HqError> {
        let reason = text(&d.reason, REASON_MAX, "lý do", "reason")?;
        let (a, b) = if d.a < d.b { (d.a, d.b) } else { (d.b, d.a) };
        let mut s = self.session()?;
        s.begin()?;
        let ra = in_scope(&mut *s, &a, scope)?;
        in_scope(&mut *s, &b, scope)?;
        if a == b || !s.is_duplicate_pair(&a, &b)? {
            return Err(refused(
                "not_duplicates",
                "hai hồ sơ này không nằm trong cùng một nhóm trùng",
                "these two records are not in one duplicate group",
            ));
        }
        let at = self.now();
        let id_number = ra.p.id_number.clone().unwrap_or_default();
        s.put_adjudication(&AdjudicationRow {
            id_number: id_number.clone(),
            a,
            b,
            verdict: d.verdict.as_str().to_owned(),
            reason: reason.clone(),
            by: by.to_owned(),
            at,
        })?;
        let decision = DuplicateDecision {
            verdict: d.verdict,
            reason,
            by: by.to_owned(),
            at,
        };
        for id in [a, b] {
            let decision = decision.clone();
            self.hq_change(
                &mut *s,
                &id,
                by,
                "duplicate.adjudicate",
                d.verdict.as_str(),
                |r| {
                    // Different people: the records are no longer held as duplicates.
                    if d.verdict == DuplicateVerdict::DifferentPeople {
                        if let Some(h) = r.review.hq.as_mut() {
                            if h.status == HqState::Duplicate {
                                h.status = HqState::Received;
                                h.reason = Some(decision.reason.clone());
                                h.at = decision.at;
                            }
                        }
                    }
                    r.review.duplicate = Some(decision);
                },
            )?;
        }
        s.commit()?;
        Ok(())
    }
}
