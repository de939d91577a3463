//! Duplicates: the groups of records that share an ID number, and a group side by side (fields
//! that differ, photos and fingers) with the decision — same person or different people, with a
//! reason — which is recorded, audited and written into both records for their kiosks.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use enroll_sync::record::DuplicateVerdict;
use std::sync::Arc;
use uuid::Uuid;

use super::media::{fingers, photo_url, FingerView};
use super::records::{hq_label, status_label};
use crate::dashboard::auth::{attempt, blocking, urlencode};
use crate::dashboard::{html, Chrome, Dash, DashError, Lang, Messages, Post, Viewer};
use crate::review::actions::GROUP_MAX;
use crate::review::{Adjudication, DuplicateView, Scope};

pub fn routes() -> Router<Arc<Dash>> {
    Router::new()
        .route("/duplicates", get(list))
        .route("/duplicates/{idno}", get(group))
        .route("/duplicates/{idno}/decide", post(decide))
}

pub const MESSAGES: Messages = &[
    ("dup.title", "Hồ sơ trùng số định danh", "Records sharing an ID number"),
    ("dup.group.title", "Đối chiếu hồ sơ trùng", "Duplicate adjudication"),
    (
        "dup.caption",
        "Nhóm hồ sơ có cùng số định danh",
        "Groups of records with one ID number",
    ),
    ("dup.idno", "Số định danh", "ID number"),
    ("dup.records", "Hồ sơ", "Records"),
    ("dup.kiosks", "Ki-ốt", "Kiosks"),
    ("dup.decided", "Đã quyết định", "Decided"),
    ("dup.pairs", "cặp", "pairs"),
    (
        "dup.empty",
        "Không có hồ sơ nào trùng số định danh.",
        "No records share an ID number.",
    ),
    (
        "dup.hidden",
        "hồ sơ khác ở tỉnh ngoài phạm vi của bạn",
        "more records in provinces outside your scope",
    ),
    (
        "dup.cut",
        "hồ sơ nữa không hiển thị",
        "more records not shown",
    ),
    ("dup.back", "Về danh sách trùng lặp", "Back to the duplicates"),
    ("dup.side", "Các hồ sơ cạnh nhau", "The records side by side"),
    ("dup.diff", "Các trường khác nhau", "Fields that differ"),
    ("dup.same", "Mọi trường đều giống nhau.", "Every field is the same."),
    ("dup.field", "Trường", "Field"),
    ("dup.decisions", "Các quyết định", "Decisions"),
    ("dup.decisions.none", "Chưa có quyết định.", "No decision yet."),
    ("dup.decide", "Quyết định", "Decide"),
    ("dup.pair", "Cặp hồ sơ", "Pair of records"),
    ("dup.verdict", "Kết luận", "Verdict"),
    ("dup.reason", "Lý do (bắt buộc)", "Reason (required)"),
    ("dup.submit", "Ghi quyết định", "Record the decision"),
    (
        "dup.travels",
        "Quyết định được ghi vào cả hai hồ sơ và gửi về ki-ốt của từng hồ sơ ở lần đồng bộ tiếp theo.",
        "The decision is written into both records and reaches each record's kiosk at its next sync.",
    ),
    ("dup.photo", "Ảnh chân dung của", "Photo of"),
    ("dup.nophoto", "Chưa có ảnh", "No photo"),
    ("dup.status", "Trạng thái", "Status"),
    ("record.finger.image", "Ảnh vân tay", "Finger image"),
];

pub const PAGE_SIZE: u32 = 50;

pub struct GroupRow {
    pub id_number: String,
    pub names: Vec<(String, String)>,
    pub kiosks: String,
    pub hidden: usize,
    pub decided: usize,
    pub pairs: usize,
}

#[derive(Template)]
#[template(path = "duplicates.html")]
struct ListPage {
    c: Chrome,
    groups: Vec<GroupRow>,
    next: Option<String>,
    paged: bool,
}

#[derive(serde::Deserialize)]
struct ListQuery {
    after: Option<String>,
}

async fn list(
    State(dash): State<Arc<Dash>>,
    v: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, DashError> {
    let hq = dash.hq.clone();
    let after = q.after.clone();
    let (groups, more) = blocking(move || {
        let mut s = hq.read_session()?;
        let mut groups = s.duplicate_groups(after.as_deref(), PAGE_SIZE + 1)?;
        let more = groups.len() > PAGE_SIZE as usize;
        groups.truncate(PAGE_SIZE as usize);
        let mut out = Vec::with_capacity(groups.len());
        for g in groups {
            let decided = s
                .adjudications(&g.id_number, (GROUP_MAX * GROUP_MAX) as u32)?
                .len();
            out.push((g, decided));
        }
        Ok((out, more))
    })
    .await?;
    let next = more
        .then(|| groups.last().map(|(g, _)| urlencode(&g.id_number)))
        .flatten();
    let rows = groups
        .into_iter()
        .filter_map(|(g, decided)| {
            let (seen, hidden): (Vec<_>, Vec<_>) = g
                .records
                .iter()
                .partition(|r| v.may_see(r.p.province_code.as_deref()));
            if seen.is_empty() {
                return None;
            }
            let mut kiosks: Vec<&str> = seen.iter().map(|r| r.kiosk_id.as_str()).collect();
            kiosks.dedup();
            let n = g.records.len().min(GROUP_MAX);
            Some(GroupRow {
                names: seen
                    .iter()
                    .map(|r| (r.id.to_string(), r.p.full_name.clone()))
                    .collect(),
                kiosks: kiosks.join(", "),
                hidden: hidden.len(),
                decided,
                pairs: n * n.saturating_sub(1) / 2,
                id_number: g.id_number,
            })
        })
        .collect();
    Ok(html(&ListPage {
        c: Chrome::new(&v, "nav.duplicates", "dup.title", MESSAGES),
        groups: rows,
        next,
        paged: q.after.is_some(),
    }))
}

pub struct Side {
    pub id: String,
    pub heading: String,
    pub kiosk: String,
    pub status: String,
    pub photo: Option<String>,
    pub fingers: Vec<FingerView>,
}

pub struct PairOpt {
    pub value: String,
    pub label: String,
}

pub struct DecisionView {
    pub pair: String,
    pub verdict: String,
    pub reason: String,
    pub by: String,
    pub at: String,
}

#[derive(Template)]
#[template(path = "duplicate.html")]
struct GroupPage {
    c: Chrome,
    id_number: String,
    sides: Vec<Side>,
    diff: Vec<(String, Vec<String>)>,
    decisions: Vec<DecisionView>,
    pairs: Vec<PairOpt>,
    verdicts: Vec<(String, String)>,
    hidden: usize,
    cut: usize,
    error: Option<String>,
}

fn short(r: &(crate::storage::RecordRow, enroll_sync::record::Enrollment)) -> String {
    format!("{} {}", r.0.p.enrollment_no, r.0.p.full_name)
}

fn group_page(v: &Viewer, view: DuplicateView, error: Option<String>) -> GroupPage {
    let lang: Lang = v.lang;
    let label = |id: &Uuid| {
        view.records
            .iter()
            .find(|r| r.0.id == *id)
            .map_or(id.to_string(), short)
    };
    let decisions = view
        .decisions
        .iter()
        .map(|d| DecisionView {
            pair: format!("{} ↔ {}", label(&d.a), label(&d.b)),
            verdict: DuplicateVerdict::parse(&d.verdict).map_or(d.verdict.clone(), |x| {
                let (vi, en) = x.label();
                lang.pick(vi, en).to_owned()
            }),
            reason: d.reason.clone(),
            by: d.by.clone(),
            at: d.at.format("%Y-%m-%d %H:%M").to_string(),
        })
        .collect();
    let mut pairs = Vec::new();
    for (i, a) in view.records.iter().enumerate() {
        for b in &view.records[i + 1..] {
            pairs.push(PairOpt {
                value: format!("{}:{}", a.0.id, b.0.id),
                label: format!("{} ↔ {}", short(a), short(b)),
            });
        }
    }
    let diff = view
        .differing_fields()
        .into_iter()
        .map(|(_, vi, en, values)| {
            let cells = values
                .into_iter()
                .map(|x| x.unwrap_or_else(|| "–".into()))
                .collect();
            (lang.pick(&vi, &en).to_owned(), cells)
        })
        .collect();
    let sides = view
        .records
        .iter()
        .map(|(row, e)| Side {
            id: row.id.to_string(),
            heading: format!("{} · {}", row.p.enrollment_no, row.p.full_name),
            kiosk: row.kiosk_id.clone(),
            status: format!(
                "{} / {}",
                status_label(&row.p.status, lang),
                hq_label(row.p.hq_status.as_deref(), lang)
            ),
            photo: photo_url(&row.id, e),
            fingers: fingers(&row.id, e, lang),
        })
        .collect();
    GroupPage {
        c: Chrome::new(v, "nav.duplicates", "dup.group.title", MESSAGES),
        id_number: view.id_number,
        sides,
        diff,
        decisions,
        pairs,
        verdicts: DuplicateVerdict::ALL
            .iter()
            .map(|x| {
                let (vi, en) = x.label();
                (x.as_str().to_owned(), lang.pick(vi, en).to_owned())
            })
            .collect(),
        hidden: view.hidden,
        cut: view.cut,
        error,
    }
}

async fn load(dash: &Arc<Dash>, v: &Viewer, idno: String) -> Result<DuplicateView, DashError> {
    let hq = dash.hq.clone();
    let scope = Scope(v.scope());
    let view = blocking(move || Ok(hq.duplicate_view(&idno, &scope)?)).await?;
    // A group the user sees nothing of is, to them, no group.
    if view.records.is_empty() {
        return Err(DashError::NotFound);
    }
    Ok(view)
}

async fn group(
    State(dash): State<Arc<Dash>>,
    v: Viewer,
    Path(idno): Path<String>,
) -> Result<Response, DashError> {
    let view = load(&dash, &v, idno).await?;
    Ok(html(&group_page(&v, view, None)))
}

async fn decide(
    State(dash): State<Arc<Dash>>,
    Path(idno): Path<String>,
    p: Post,
) -> Result<Response, DashError> {
    p.v.must_act()?;
    let bad = || DashError::bad_request("Cặp hồ sơ không hợp lệ", "Invalid pair of records");
    let (a, b) = p
        .get("pair")
        .and_then(|x| x.split_once(':'))
        .ok_or_else(bad)?;
    let (a, b) = (
        Uuid::parse_str(a).map_err(|_| bad())?,
        Uuid::parse_str(b).map_err(|_| bad())?,
    );
    let verdict = p
        .get("verdict")
        .and_then(DuplicateVerdict::parse)
        .ok_or_else(|| DashError::bad_request("Hãy chọn kết luận", "Choose a verdict"))?;
    let d = Adjudication {
        a,
        b,
        verdict,
        reason: p.get("reason").unwrap_or("").to_owned(),
    };
    let hq = dash.hq.clone();
    let scope = Scope(p.v.scope());
    let user = p.v.user_id.clone();
    let refused = attempt(move || hq.adjudicate(&d, &user, &scope)).await?;
    match refused {
        None => Ok(
            Redirect::to(&format!("/duplicates/{}#decisions", urlencode(&idno))).into_response(),
        ),
        Some(r) => {
            let msg = p.v.lang.pick(&r.message_vi, &r.message_en).to_owned();
            let view = load(&dash, &p.v, idno).await?;
            let mut resp = html(&group_page(&p.v, view, Some(msg)));
            *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(resp)
        }
    }
}
