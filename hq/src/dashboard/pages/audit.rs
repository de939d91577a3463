//! HQ's audit log: every entry of the hash chain, newest first, filtered by who, action and
//! date, keyset-paged by sequence number.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

use super::records::{day, Opt};
use crate::dashboard::auth::blocking;
use crate::dashboard::{html, Chrome, Dash, DashError, Messages, Viewer};
use crate::storage::AuditQuery;

pub fn routes() -> Router<Arc<Dash>> {
    Router::new().route("/audit", get(page))
}

pub const MESSAGES: Messages = &[
    ("audit.title", "Nhật ký kiểm toán", "Audit log"),
    (
        "audit.caption",
        "Mục nhật ký, mới nhất trước",
        "Log entries, newest first",
    ),
    ("audit.seq", "Số", "No."),
    ("audit.at", "Thời điểm (UTC)", "Time (UTC)"),
    ("audit.actor", "Người làm", "Who"),
    (
        "audit.action",
        "Việc (bắt đầu bằng)",
        "Action (starts with)",
    ),
    ("audit.action.col", "Việc", "Action"),
    ("audit.subject", "Đối tượng", "Subject"),
    ("audit.detail", "Chi tiết", "Detail"),
    ("audit.from", "Từ ngày", "From"),
    ("audit.to", "Đến trước ngày", "Before"),
    (
        "audit.empty",
        "Không có mục nào khớp bộ lọc.",
        "No entries match the filters.",
    ),
    (
        "audit.bad_date",
        "Ngày không hợp lệ (YYYY-MM-DD); bộ lọc ngày bị bỏ qua.",
        "Invalid date (YYYY-MM-DD); the date filter was ignored.",
    ),
];

pub const PAGE_SIZE: u32 = 50;

#[derive(Debug, Default, serde::Deserialize, serde::Serialize)]
struct Filter {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    actor: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    action: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    from: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    to: String,
    #[serde(default, skip_serializing)]
    before: Option<u64>,
}

pub struct Entry {
    pub seq: u64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    c: Chrome,
    f: Filter,
    entries: Vec<Entry>,
    next: Option<String>,
    paged: bool,
    error: Option<&'static str>,
    actions: Vec<Opt>,
}

/// Common action prefixes offered in the filter (free text works too).
const ACTIONS: &[&str] = &[
    "user.",
    "kiosk.",
    "record.",
    "records.",
    "records.export",
    "user.sign_in",
];

async fn page(
    State(dash): State<Arc<Dash>>,
    v: Viewer,
    Query(f): Query<Filter>,
) -> Result<Response, DashError> {
    let (from, to, error) = match (day(&f.from), day(&f.to)) {
        (Ok(a), Ok(b)) => (a, b, None),
        _ => (None, None, Some("audit.bad_date")),
    };
    let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    let q = AuditQuery {
        actor: some(&f.actor),
        action: some(&f.action),
        from,
        to,
    };
    let hq = dash.hq.clone();
    let before = f.before;
    let mut rows =
        blocking(move || Ok(hq.session()?.audit_search(&q, before, PAGE_SIZE + 1)?)).await?;
    let more = rows.len() > PAGE_SIZE as usize;
    rows.truncate(PAGE_SIZE as usize);
    let qs = serde_urlencoded::to_string(&f).unwrap_or_default();
    let next = more.then(|| {
        let last = rows.last().map_or(0, |r| r.seq);
        if qs.is_empty() {
            format!("before={last}")
        } else {
            format!("{qs}&before={last}")
        }
    });
    let entries = rows
        .into_iter()
        .map(|r| Entry {
            seq: r.seq,
            at: r.entry.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            actor: r.entry.actor,
            action: r.entry.action,
            subject: r.entry.subject,
            detail: r.entry.detail,
        })
        .collect();
    let c = Chrome::new(&v, "nav.audit", "audit.title", MESSAGES);
    let actions = ACTIONS
        .iter()
        .map(|a| Opt {
            value: (*a).to_owned(),
            label: (*a).to_owned(),
            selected: false,
        })
        .collect();
    Ok(html(&AuditPage {
        c,
        paged: f.before.is_some(),
        f,
        entries,
        next,
        error,
        actions,
    }))
}
