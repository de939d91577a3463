//! Sync sessions and USB bundles: when, which kiosk, records in, refused with their reasons,
//! bytes, duration, and the signed receipt HQ answered (downloadable, verifiable with HQ's key).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

use super::fleet::human_bytes;
use crate::dashboard::auth::blocking;
use crate::dashboard::{html, Chrome, Dash, DashError, Messages, Viewer};
use crate::storage::review::{SessionQuery, SyncSessionRow};

pub fn routes() -> Router<Arc<Dash>> {
    Router::new()
        .route("/sessions", get(page))
        .route("/sessions/{seq}/receipt", get(receipt))
}

pub const MESSAGES: Messages = &[
    ("sessions.title", "Phiên đồng bộ", "Sync sessions"),
    (
        "sessions.caption",
        "Phiên đồng bộ và gói USB, mới nhất trước",
        "Sync sessions and USB bundles, newest first",
    ),
    ("sessions.kiosk", "Ki-ốt", "Kiosk"),
    ("sessions.at", "Bắt đầu (UTC)", "Started (UTC)"),
    ("sessions.kind", "Loại", "Kind"),
    ("sessions.in", "Hồ sơ nhận", "Records in"),
    ("sessions.refused", "Bị từ chối", "Refused"),
    ("sessions.out", "Thay đổi gửi về", "Changes sent back"),
    ("sessions.bytes", "Dung lượng", "Bytes"),
    ("sessions.duration", "Thời gian", "Duration"),
    ("sessions.receipt", "Biên nhận đã ký", "Signed receipt"),
    ("sessions.download", "Tải về", "Download"),
    ("sessions.error", "Lỗi", "Error"),
    ("sessions.kind.hello", "Chào hỏi", "Hello"),
    ("sessions.kind.push", "Đồng bộ mạng", "Network sync"),
    ("sessions.kind.bundle", "Gói USB", "USB bundle"),
    ("sessions.kind.unknown", "Không rõ", "Unknown"),
    (
        "sessions.empty",
        "Chưa có phiên đồng bộ nào.",
        "No sync sessions yet.",
    ),
];

pub const PAGE_SIZE: u32 = 50;

#[derive(serde::Deserialize, serde::Serialize, Default)]
struct Params {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    kiosk: String,
    #[serde(default, skip_serializing)]
    before: Option<u64>,
}

pub struct SessionView {
    pub seq: u64,
    pub at: String,
    pub kiosk: String,
    pub kind_key: &'static str,
    pub records_in: u64,
    pub refused: u64,
    /// (record id, reason in the user's language)
    pub refusals: Vec<(String, String)>,
    pub changes_out: u64,
    pub bytes: String,
    pub duration: String,
    pub error: String,
    pub receipt: bool,
}

#[derive(Template)]
#[template(path = "sessions.html")]
struct SessionsPage {
    c: Chrome,
    kiosk: String,
    sessions: Vec<SessionView>,
    next: Option<String>,
    paged: bool,
}

fn view(r: SyncSessionRow, c: &Chrome) -> SessionView {
    SessionView {
        seq: r.seq,
        at: r.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
        kiosk: r.kiosk_id,
        kind_key: match r.kind.as_str() {
            "hello" => "sessions.kind.hello",
            "push" => "sessions.kind.push",
            "bundle" => "sessions.kind.bundle",
            _ => "sessions.kind.unknown",
        },
        records_in: r.records_in,
        refused: r.refused,
        refusals: r
            .refusals
            .into_iter()
            .map(|x| {
                let msg = c.lang.pick(&x.message_vi, &x.message_en).to_owned();
                (x.record.to_string(), msg)
            })
            .collect(),
        changes_out: r.changes_out,
        bytes: human_bytes(r.bytes),
        duration: if r.duration_ms < 1000 {
            format!("{} ms", r.duration_ms)
        } else {
            format!("{:.1} s", r.duration_ms as f64 / 1000.0)
        },
        error: r.error.unwrap_or_default(),
        receipt: r.receipt_len > 0,
    }
}

async fn page(
    State(dash): State<Arc<Dash>>,
    v: Viewer,
    Query(p): Query<Params>,
) -> Result<Response, DashError> {
    let hq = dash.hq.clone();
    let q = SessionQuery {
        kiosk: Some(p.kiosk.trim().to_owned()).filter(|k| !k.is_empty()),
        before: p.before,
        limit: PAGE_SIZE + 1,
    };
    let mut rows = blocking(move || Ok(hq.sync_sessions(&q)?)).await?;
    let more = rows.len() > PAGE_SIZE as usize;
    rows.truncate(PAGE_SIZE as usize);
    let qs = serde_urlencoded::to_string(&p).unwrap_or_default();
    let next = more
        .then(|| rows.last().map(|r| format!("{qs}&before={}", r.seq)))
        .flatten();
    let c = Chrome::new(&v, "nav.sessions", "sessions.title", MESSAGES);
    let sessions = rows.into_iter().map(|r| view(r, &c)).collect();
    Ok(html(&SessionsPage {
        c,
        paged: p.before.is_some(),
        kiosk: p.kiosk,
        sessions,
        next,
    }))
}

async fn receipt(
    State(dash): State<Arc<Dash>>,
    _v: Viewer,
    Path(seq): Path<u64>,
) -> Result<Response, DashError> {
    let hq = dash.hq.clone();
    let (row, bytes) = blocking(move || Ok(hq.sync_session(seq)?))
        .await?
        .filter(|(_, b)| !b.is_empty())
        .ok_or(DashError::NotFound)?;
    let name = row
        .receipt_id
        .filter(|id| id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or_else(|| seq.to_string());
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"receipt-{name}.bin\""),
            ),
        ],
        bytes,
    )
        .into_response())
}
