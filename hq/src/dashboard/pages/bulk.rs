//! Bulk actions on the records page: approve, return for re-capture with a reason, mark card
//! printed. Each is an HQ status change (`Hq::change_status`, which queues it for the owning
//! kiosk), one transaction per record, checked against the record's state and the user's
//! province scope; the answer says per record what was done and why anything was not.

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use enroll_sync::record::HqState;
use std::sync::Arc;
use uuid::Uuid;

use super::records::MESSAGES;
use crate::dashboard::auth::blocking;
use crate::dashboard::{html, Chrome, Dash, DashError, Post, Viewer};
use crate::Hq;

pub fn routes() -> Router<Arc<Dash>> {
    Router::new().route("/records/bulk", post(bulk))
}

/// Records one bulk action may touch (the form shows at most a page, 50).
pub const MAX_BULK: usize = 500;
pub const MAX_REASON_CHARS: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkAction {
    Approve,
    Return,
    CardPrinted,
}

impl BulkAction {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "approve" => Some(BulkAction::Approve),
            "return" => Some(BulkAction::Return),
            "printed" => Some(BulkAction::CardPrinted),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            BulkAction::Approve => "approve",
            BulkAction::Return => "return",
            BulkAction::CardPrinted => "printed",
        }
    }
}

/// Why an action does not apply to a record: (vi, en).
pub type Refusal = (String, String);

/// The HQ status an action sets on a record with this kiosk status and HQ status, or why not.
pub fn transition(action: BulkAction, status: &str, hq: Option<&str>) -> Result<HqState, Refusal> {
    let hq_state = hq.and_then(crate::parse_hq_state);
    let state_text = |s: Option<HqState>| {
        s.map_or(("chưa có".to_owned(), "none".to_owned()), |s| {
            let (vi, en) = s.label();
            (vi.to_owned(), en.to_owned())
        })
    };
    match action {
        BulkAction::Approve => {
            if !matches!(status, "approved" | "synced") {
                let (vi, en) = enroll_sync::record::RecordStatus::parse(status)
                    .map_or((status, status), |s| s.label());
                return Err((
                    format!("giám sát viên chưa duyệt trên ki-ốt (trạng thái: {vi})"),
                    format!("not approved by a supervisor at the kiosk (status: {en})"),
                ));
            }
            match hq_state {
                None | Some(HqState::Duplicate) => Ok(HqState::Received),
                Some(HqState::Received) => {
                    Err(("đã được duyệt rồi".into(), "already approved".into()))
                }
                other => {
                    let (vi, en) = state_text(other);
                    Err((
                        format!("trạng thái HQ «{vi}» không cho phép duyệt"),
                        format!("HQ status “{en}” does not allow approval"),
                    ))
                }
            }
        }
        BulkAction::Return => match hq_state {
            None | Some(HqState::Received) | Some(HqState::Duplicate) => {
                Ok(HqState::RecaptureNeeded)
            }
            other => {
                let (vi, en) = state_text(other);
                Err((
                    format!("trạng thái HQ «{vi}» không cho phép trả lại"),
                    format!("HQ status “{en}” does not allow a return"),
                ))
            }
        },
        BulkAction::CardPrinted => match hq_state {
            Some(HqState::Received) => Ok(HqState::CardPrinted),
            other => {
                let (vi, en) = state_text(other);
                Err((
                    format!("chỉ in thẻ cho hồ sơ HQ đã duyệt (hiện: «{vi}»)"),
                    format!("only approved records get a card (now: “{en}”)"),
                ))
            }
        },
    }
}

/// What happened to one record.
pub struct Outcome {
    pub id: String,
    pub label: String,
    pub ok: bool,
    pub message: String,
}

/// Applies `action` to each record in its own transaction (a refusal leaves the others done).
pub fn apply(
    hq: &Hq,
    v: &Viewer,
    ids: &[Uuid],
    action: BulkAction,
    reason: Option<String>,
) -> Result<Vec<Outcome>, DashError> {
    let lang = v.lang;
    let mut out = Vec::with_capacity(ids.len());
    let mut done = 0;
    for id in ids {
        let mut s = hq.session()?;
        s.begin()?;
        let rec = s.records(&[*id])?.pop();
        let fail = |label: String, vi: &str, en: &str| Outcome {
            id: id.to_string(),
            label,
            ok: false,
            message: lang.pick(vi, en).to_owned(),
        };
        // Outside the user's provinces reads the same as missing: nothing about it is shown.
        let Some(rec) = rec.filter(|r| v.may_see(r.p.province_code.as_deref())) else {
            s.rollback()?;
            out.push(fail(
                id.to_string(),
                "không có hồ sơ này (hoặc ngoài phạm vi tỉnh của bạn)",
                "no such record (or outside your provinces)",
            ));
            continue;
        };
        let label = format!("{} {}", rec.p.enrollment_no, rec.p.full_name);
        match transition(action, &rec.p.status, rec.p.hq_status.as_deref()) {
            Err((vi, en)) => {
                s.rollback()?;
                out.push(fail(label, &vi, &en));
            }
            Ok(state) => {
                hq.change_status(&mut *s, id, state, reason.clone(), &v.user_id)?;
                s.commit()?;
                done += 1;
                let (vi, en) = state.label();
                out.push(Outcome {
                    id: id.to_string(),
                    label,
                    ok: true,
                    message: format!("{}: {}", lang.pick("xong", "done"), lang.pick(vi, en)),
                });
            }
        }
    }
    let detail = format!("{}: {done}/{} done", action.as_str(), ids.len());
    hq.session()?.audit(&[hq.audit_entry(
        &v.user_id,
        "records.bulk",
        &format!("{} records", ids.len()),
        &detail,
    )])?;
    Ok(out)
}

#[derive(Template)]
#[template(path = "_bulk_result.html")]
struct BulkResult {
    c: Chrome,
    results: Vec<Outcome>,
    done: usize,
}

#[derive(Template)]
#[template(path = "bulk.html")]
struct BulkPage {
    c: Chrome,
    results: Vec<Outcome>,
    done: usize,
}

async fn bulk(
    State(dash): State<Arc<Dash>>,
    headers: HeaderMap,
    p: Post,
) -> Result<Response, DashError> {
    p.v.must_act()?;
    let action = p
        .get("action")
        .and_then(BulkAction::parse)
        .ok_or_else(|| DashError::bad_request("Thao tác không hợp lệ", "Unknown action"))?;
    let reason = p
        .get("reason")
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| r.chars().take(MAX_REASON_CHARS).collect::<String>());
    if action == BulkAction::Return && reason.is_none() {
        return Err(DashError::bad_request(
            "Trả lại cần có lý do",
            "A return needs a reason",
        ));
    }
    let raw = p.all("id");
    if raw.is_empty() {
        return Err(DashError::bad_request(
            "Chưa chọn hồ sơ nào",
            "No records selected",
        ));
    }
    if raw.len() > MAX_BULK {
        return Err(DashError::bad_request(
            format!("Tối đa {MAX_BULK} hồ sơ mỗi lần"),
            format!("At most {MAX_BULK} records at a time"),
        ));
    }
    let ids = raw
        .iter()
        .map(|s| Uuid::parse_str(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| DashError::bad_request("Mã hồ sơ hỏng", "Malformed record id"))?;
    let hq = dash.hq.clone();
    let v = p.v.clone();
    let results = blocking(move || apply(&hq, &v, &ids, action, reason)).await?;
    let done = results.iter().filter(|r| r.ok).count();
    let c = Chrome::new(&p.v, "nav.records", "bulk.title", MESSAGES);
    if headers.get("hx-request").is_some() {
        let mut r = html(&BulkResult { c, results, done });
        // The table refreshes itself (its `hx-trigger`) to show the new statuses.
        r.headers_mut().insert(
            "hx-trigger",
            axum::http::HeaderValue::from_static("records-changed"),
        );
        return Ok(r);
    }
    Ok(html(&BulkPage { c, results, done }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions() {
        use BulkAction::*;
        assert_eq!(transition(Approve, "approved", None), Ok(HqState::Received));
        assert_eq!(transition(Approve, "synced", None), Ok(HqState::Received));
        assert!(transition(Approve, "captured", None).is_err());
        assert!(transition(Approve, "approved", Some("received")).is_err());
        assert!(transition(Approve, "approved", Some("rejected")).is_err());
        assert_eq!(
            transition(Return, "approved", Some("received")),
            Ok(HqState::RecaptureNeeded)
        );
        assert!(transition(Return, "approved", Some("card_printed")).is_err());
        assert_eq!(
            transition(CardPrinted, "approved", Some("received")),
            Ok(HqState::CardPrinted)
        );
        assert!(transition(CardPrinted, "approved", None).is_err());
    }
}
