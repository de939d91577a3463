//! A record: its fields under their labels, the photo and each finger with its quality,
//! exceptions with proof photos, the timeline built from the document's own change history
//! (who, when, which fields from what to what, whether the signature verified), HQ status
//! changes with reasons and a comment thread. Changes made here travel to the owning kiosk.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use enroll_sync::record::{DuplicateVerdict, RecordStatus};
use std::sync::Arc;
use uuid::Uuid;

use super::media::{fingers, photo_url, FingerView};
use super::records::{hq_label, status_label, Opt, HQ_STATES};
use crate::dashboard::auth::{attempt, blocking};
use crate::dashboard::{html, Chrome, Dash, DashError, Lang, Messages, Post, Viewer};
use crate::review::timeline::{SigState, Timeline};
use crate::review::Scope;
use crate::status::hq_state_str;

pub fn routes() -> Router<Arc<Dash>> {
    Router::new()
        .route("/records/{id}", get(page))
        .route("/records/{id}/image/{sha}", get(image))
        .route("/records/{id}/status", post(status))
        .route("/records/{id}/comments", post(comment))
}

pub const MESSAGES: Messages = &[
    ("record.title", "Hồ sơ", "Record"),
    ("record.back", "Về danh sách hồ sơ", "Back to the records"),
    ("record.kiosk", "Ki-ốt", "Kiosk"),
    ("record.status", "Trạng thái ki-ốt", "Kiosk status"),
    ("record.hq", "Trạng thái HQ", "HQ status"),
    (
        "record.media",
        "Ảnh chân dung và vân tay",
        "Photo and fingers",
    ),
    ("record.photo", "Ảnh chân dung của", "Photo of"),
    ("record.nophoto", "Chưa có ảnh chân dung", "No photo"),
    ("record.finger", "Ngón", "Finger"),
    ("record.finger.result", "Kết quả", "Result"),
    ("record.finger.image", "Ảnh vân tay", "Finger image"),
    (
        "record.proof",
        "Ảnh xác minh ngoại lệ",
        "Exception proof photo",
    ),
    ("record.fields", "Thông tin hồ sơ", "Record fields"),
    ("record.field", "Trường", "Field"),
    ("record.value", "Giá trị", "Value"),
    ("record.timeline", "Lịch sử thay đổi", "Timeline"),
    (
        "record.timeline.cut",
        "thay đổi cũ hơn không hiển thị",
        "older changes not shown",
    ),
    (
        "record.fields.cut",
        "trường khác cũng đổi",
        "more fields changed",
    ),
    ("record.change.fields", "trường thay đổi", "fields changed"),
    ("record.before", "Trước", "Before"),
    ("record.after", "Sau", "After"),
    ("record.by", "bởi", "by"),
    ("record.on", "trên", "on"),
    ("record.sig.ok", "Chữ ký hợp lệ", "Signature verified"),
    (
        "record.sig.bad",
        "Chữ ký KHÔNG hợp lệ",
        "Signature does NOT verify",
    ),
    ("record.sig.none", "Không có chữ ký", "No signature held"),
    (
        "record.change_status",
        "Đổi trạng thái HQ",
        "Change HQ status",
    ),
    ("record.new_status", "Trạng thái mới", "New status"),
    (
        "record.reason",
        "Lý do (bắt buộc khi trả lại hoặc từ chối)",
        "Reason (needed to return or reject)",
    ),
    ("record.save_status", "Lưu trạng thái", "Save status"),
    ("record.comments", "Nhận xét", "Comments"),
    (
        "record.comments.none",
        "Chưa có nhận xét.",
        "No comments yet.",
    ),
    ("record.comment", "Nhận xét mới", "New comment"),
    ("record.comment.add", "Gửi nhận xét", "Post comment"),
    (
        "record.travels",
        "Thay đổi ở đây được gửi về ki-ốt của hồ sơ ở lần đồng bộ tiếp theo.",
        "Changes made here reach the record's kiosk at its next sync.",
    ),
];

/// Comments shown at most (a thread is a handful; the rest are counted).
pub const COMMENTS_SHOWN: u32 = 200;

pub struct ChangeView {
    pub at: String,
    pub who: String,
    pub person: String,
    pub device: String,
    /// `ok`, `red` or `amber` (a badge class).
    pub sig_class: &'static str,
    pub sig_key: &'static str,
    pub signer: String,
    pub fields: Vec<(String, String, String)>,
    pub fields_cut: usize,
}

pub struct CommentView {
    pub at: String,
    pub author: String,
    pub body: String,
}

#[derive(Template)]
#[template(path = "record.html")]
struct RecordPage {
    c: Chrome,
    id: String,
    heading: String,
    kiosk: String,
    status: String,
    hq: String,
    hq_reason: String,
    photo: Option<String>,
    fingers: Vec<FingerView>,
    fields: Vec<(String, String)>,
    changes: Vec<ChangeView>,
    changes_cut: usize,
    comments: Vec<CommentView>,
    states: Vec<Opt>,
    error: Option<String>,
}

/// A field's value as people read it: times without nanoseconds, coded states by their label.
fn readable(path: &str, v: String, lang: Lang) -> String {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&v) {
        return t.format("%Y-%m-%d %H:%M:%S").to_string();
    }
    let label = |pair: Option<(&str, &str)>| pair.map(|(vi, en)| lang.pick(vi, en).to_owned());
    let found = if path == "review.status" {
        label(RecordStatus::parse(&v).map(RecordStatus::label))
    } else if path == "review.hq.status" {
        label(crate::parse_hq_state(&v).map(|s| s.label()))
    } else if path == "review.duplicate.verdict" {
        label(DuplicateVerdict::parse(&v).map(DuplicateVerdict::label))
    } else if path.starts_with("review.history.") && path.ends_with(".action") {
        label(
            ACTIONS
                .iter()
                .find(|(k, _, _)| *k == v)
                .map(|(_, vi, en)| (*vi, *en)),
        )
    } else {
        None
    };
    found.unwrap_or(v)
}

/// Review actions in a record's history: (code, vi, en).
const ACTIONS: &[(&str, &str, &str)] = &[
    ("created", "Tạo hồ sơ", "Created"),
    ("edited", "Sửa", "Edited"),
    ("sealed", "Niêm phong", "Sealed"),
    ("approved", "Duyệt", "Approved"),
    ("returned", "Trả lại", "Returned"),
    ("synced", "Đồng bộ", "Synced"),
    ("hq_status", "HQ đổi trạng thái", "HQ status"),
];

fn change_views(t: Timeline, lang: Lang) -> Vec<ChangeView> {
    let dash = || "–".to_owned();
    t.entries
        .into_iter()
        .rev()
        .map(|e| {
            let (sig_class, sig_key, signer) = match e.signature {
                SigState::Verified { signer } => ("ok", "record.sig.ok", signer),
                SigState::Invalid { signer } => ("red", "record.sig.bad", signer),
                SigState::Missing => ("amber", "record.sig.none", String::new()),
            };
            let (vi, en) = e.who.label();
            ChangeView {
                at: e
                    .at
                    .map_or(dash(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
                who: lang.pick(vi, en).to_owned(),
                person: e.person,
                device: e.device,
                sig_class,
                sig_key,
                signer,
                fields: e
                    .fields
                    .into_iter()
                    .map(|f| {
                        let shown =
                            |v: Option<String>| v.map_or_else(dash, |v| readable(&f.path, v, lang));
                        (
                            lang.pick(&f.label_vi, &f.label_en).to_owned(),
                            shown(f.before.clone()),
                            shown(f.after.clone()),
                        )
                    })
                    .collect(),
                fields_cut: e.fields_cut,
            }
        })
        .collect()
}

fn parse_id(id: &str) -> Result<Uuid, DashError> {
    Uuid::parse_str(id).map_err(|_| DashError::NotFound)
}

async fn render(
    dash: &Arc<Dash>,
    v: &Viewer,
    id: Uuid,
    error: Option<String>,
) -> Result<Response, DashError> {
    let hq = dash.hq.clone();
    let scope = Scope(v.scope());
    let (view, timeline, comments) = blocking(move || {
        // The view checks the scope first; the timeline and comments only follow it.
        let view = hq.record_view(&id, &scope)?;
        let timeline = hq.timeline(&id)?;
        let comments = hq.comments(&id, 0, COMMENTS_SHOWN)?;
        Ok((view, timeline, comments))
    })
    .await?;
    let lang = v.lang;
    let p = &view.row.p;
    let hq_status = view.record.review.hq.as_ref();
    let page = RecordPage {
        c: Chrome::new(v, "nav.records", "record.title", MESSAGES),
        id: id.to_string(),
        heading: format!("{} · {}", p.enrollment_no, p.full_name),
        kiosk: view.row.kiosk_id.clone(),
        status: status_label(&p.status, lang),
        hq: hq_label(p.hq_status.as_deref(), lang),
        hq_reason: hq_status.and_then(|h| h.reason.clone()).unwrap_or_default(),
        photo: photo_url(&id, &view.record),
        fingers: fingers(&id, &view.record, lang),
        fields: view
            .fields()
            .into_iter()
            .map(|(vi, en, value)| (lang.pick(&vi, &en).to_owned(), value))
            .collect(),
        changes_cut: timeline.changes_cut,
        changes: change_views(timeline, lang),
        comments: comments
            .into_iter()
            .map(|c| CommentView {
                at: c.at.format("%Y-%m-%d %H:%M").to_string(),
                author: c.author,
                body: c.body,
            })
            .collect(),
        states: HQ_STATES
            .iter()
            .map(|s| {
                let (vi, en) = s.label();
                Opt {
                    value: hq_state_str(*s),
                    label: lang.pick(vi, en).to_owned(),
                    selected: hq_status.is_some_and(|h| h.status == *s),
                }
            })
            .collect(),
        error,
    };
    Ok(html(&page))
}

async fn page(
    State(dash): State<Arc<Dash>>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, DashError> {
    let id = parse_id(&id)?;
    render(&dash, &v, id, None).await
}

async fn image(
    State(dash): State<Arc<Dash>>,
    v: Viewer,
    Path((id, sha)): Path<(String, String)>,
) -> Result<Response, DashError> {
    let id = parse_id(&id)?;
    let hq = dash.hq.clone();
    let scope = Scope(v.scope());
    let found = blocking(move || Ok(hq.record_image(&id, &sha, &scope)?)).await?;
    let (bytes, kind) = found.ok_or(DashError::NotFound)?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, kind),
            // Biometrics: kept out of shared caches, and never sniffed as anything else.
            (header::CACHE_CONTROL, "private, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response())
}

/// Runs an action; a refusal (a missing reason, a record out of scope) is shown on the page,
/// success goes back to the record.
async fn act(
    dash: Arc<Dash>,
    p: Post,
    id: Uuid,
    anchor: &str,
    f: impl FnOnce(&crate::Hq, &Scope, &str) -> Result<(), crate::HqError> + Send + 'static,
) -> Result<Response, DashError> {
    p.v.must_act()?;
    let hq = dash.hq.clone();
    let scope = Scope(p.v.scope());
    let user = p.v.user_id.clone();
    let done = attempt(move || f(&hq, &scope, &user)).await?;
    match done {
        None => Ok(Redirect::to(&format!("/records/{id}#{anchor}")).into_response()),
        Some(r) => {
            let msg = p.v.lang.pick(&r.message_vi, &r.message_en).to_owned();
            let mut resp = render(&dash, &p.v, id, Some(msg)).await?;
            *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(resp)
        }
    }
}

async fn status(
    State(dash): State<Arc<Dash>>,
    Path(id): Path<String>,
    p: Post,
) -> Result<Response, DashError> {
    let id = parse_id(&id)?;
    let state = p
        .get("state")
        .and_then(crate::parse_hq_state)
        .ok_or_else(|| DashError::bad_request("Trạng thái không hợp lệ", "Unknown status"))?;
    let reason = p.get("reason").unwrap_or("").to_owned();
    act(dash, p, id, "status", move |hq, scope, user| {
        hq.review_status(&id, state, &reason, user, scope)
    })
    .await
}

async fn comment(
    State(dash): State<Arc<Dash>>,
    Path(id): Path<String>,
    p: Post,
) -> Result<Response, DashError> {
    let id = parse_id(&id)?;
    let body = p.get("body").unwrap_or("").to_owned();
    act(dash, p, id, "comments", move |hq, scope, user| {
        hq.add_comment(&id, user, &body, scope).map(|_| ())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_people_read_them() {
        let r = |p: &str, v: &str| readable(p, v.to_owned(), Lang::Vi);
        assert_eq!(
            r("review.hq.at", "2026-12-02T04:34:14.089250710Z"),
            "2026-12-02 04:34:14"
        );
        assert_eq!(
            r("review.hq.status", "recapture_needed"),
            "Cần thu nhận lại"
        );
        assert_eq!(
            r("review.history.0.action", "hq_status"),
            "HQ đổi trạng thái"
        );
        assert_eq!(r("applicant.name.given", "An"), "An");
        assert_eq!(
            readable("review.status", "approved".into(), Lang::En),
            "Approved"
        );
    }
}
