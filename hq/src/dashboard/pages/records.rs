//! Records: a keyset-paged table with filters (province → commune, kiosk, operator, kiosk
//! status, HQ status, capture dates, accent-insensitive name search, ID number) and the columns
//! each user chose. The filter form is a plain GET form; with htmx it swaps only the table.
//! Bulk actions are in `bulk`, exports in `export`; both take the same filter.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::NaiveDate;
use enroll_sync::record::{HqState, RecordStatus};
use enroll_sync::refdata::refdata;
use std::sync::Arc;

use crate::dashboard::auth::blocking;
use crate::dashboard::{html, Chrome, Dash, DashError, Lang, Messages, Post, Viewer};
use crate::storage::{Page, RecordQuery, RecordRow};

pub fn routes() -> Router<Arc<Dash>> {
    Router::new()
        .route("/records", get(page))
        .route("/records/communes", get(communes))
        .route("/records/columns", post(columns))
        .merge(super::bulk::routes())
        .merge(super::export::routes())
}

pub const MESSAGES: Messages = &[
    ("records.title", "Hồ sơ", "Records"),
    (
        "records.caption",
        "Hồ sơ khớp bộ lọc, mới nhất trước",
        "Records matching the filters, newest first",
    ),
    ("records.province", "Tỉnh/thành", "Province"),
    ("records.commune", "Xã/phường", "Commune"),
    ("records.kiosk", "Ki-ốt", "Kiosk"),
    ("records.operator", "Người thu nhận", "Operator"),
    ("records.status", "Trạng thái ki-ốt", "Kiosk status"),
    ("records.hq", "Trạng thái HQ", "HQ status"),
    ("records.hq.none", "Chưa có", "None yet"),
    ("records.from", "Thu nhận từ ngày", "Captured from"),
    ("records.to", "Đến trước ngày", "Captured before"),
    (
        "records.q",
        "Họ tên (có dấu hoặc không)",
        "Name (with or without accents)",
    ),
    ("records.idno", "Số định danh", "ID number"),
    ("records.columns", "Cột hiển thị", "Columns shown"),
    ("records.columns.save", "Lưu cột", "Save columns"),
    ("records.select", "Chọn", "Select"),
    ("records.select.one", "Chọn hồ sơ", "Select record"),
    (
        "records.empty",
        "Không có hồ sơ nào khớp bộ lọc.",
        "No records match the filters.",
    ),
    (
        "records.bad_date",
        "Ngày không hợp lệ (YYYY-MM-DD); bộ lọc ngày bị bỏ qua.",
        "Invalid date (YYYY-MM-DD); the date filter was ignored.",
    ),
    ("records.export.csv", "Xuất CSV", "Export CSV"),
    (
        "records.export.zip",
        "Tải ảnh và vân tay (ZIP)",
        "Download media (ZIP)",
    ),
    ("col.enrollment_no", "Số hồ sơ", "Enrollment no."),
    ("col.full_name", "Họ và tên", "Full name"),
    ("col.id_number", "Số định danh", "ID number"),
    ("col.province", "Tỉnh/thành", "Province"),
    ("col.commune", "Xã/phường", "Commune"),
    ("col.kiosk", "Ki-ốt", "Kiosk"),
    ("col.operator", "Người thu nhận", "Operator"),
    ("col.captured_at", "Thu nhận lúc", "Captured at"),
    ("col.status", "Trạng thái ki-ốt", "Kiosk status"),
    ("col.hq_status", "Trạng thái HQ", "HQ status"),
    (
        "bulk.legend",
        "Thao tác với hồ sơ đã chọn",
        "Act on the selected records",
    ),
    ("bulk.action", "Thao tác", "Action"),
    (
        "bulk.approve",
        "Duyệt (HQ đã nhận)",
        "Approve (received by HQ)",
    ),
    (
        "bulk.return",
        "Trả lại, cần thu nhận lại",
        "Return for re-capture",
    ),
    ("bulk.printed", "Đánh dấu đã in thẻ", "Mark card printed"),
    (
        "bulk.reason",
        "Lý do (bắt buộc khi trả lại)",
        "Reason (needed to return)",
    ),
    ("bulk.submit", "Thực hiện", "Apply"),
    ("bulk.title", "Kết quả thao tác", "Results"),
    ("bulk.done", "xong", "done"),
    ("bulk.failed", "không thực hiện được", "not done"),
    ("bulk.summary", "thành công / tổng số", "succeeded / total"),
    ("bulk.back", "Về danh sách hồ sơ", "Back to the records"),
];

/// Records per page.
pub const PAGE_SIZE: u32 = 50;

/// Columns a user can choose: (key, message key).
pub const COLUMNS: &[(&str, &str)] = &[
    ("enrollment_no", "col.enrollment_no"),
    ("full_name", "col.full_name"),
    ("id_number", "col.id_number"),
    ("province", "col.province"),
    ("commune", "col.commune"),
    ("kiosk", "col.kiosk"),
    ("operator", "col.operator"),
    ("captured_at", "col.captured_at"),
    ("status", "col.status"),
    ("hq_status", "col.hq_status"),
];
pub const DEFAULT_COLUMNS: &str =
    "enrollment_no,full_name,id_number,province,kiosk,captured_at,status,hq_status";

pub const HQ_STATES: [HqState; 5] = [
    HqState::Received,
    HqState::Duplicate,
    HqState::RecaptureNeeded,
    HqState::CardPrinted,
    HqState::Rejected,
];

/// The filter as it travels in the query string (and the CSV/ZIP export links).
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct Filter {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub province: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub commune: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kiosk: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operator: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hq: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub to: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub q: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub idno: String,
}

/// The page parameters beside the filter.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Paging {
    pub after: Option<String>,
}

fn some(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// A `YYYY-MM-DD` form field as the start of that day (UTC); empty is `None`, unreadable `Err`.
pub(crate) fn day(s: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, ()> {
    match some(s) {
        None => Ok(None),
        Some(d) => NaiveDate::parse_from_str(&d, "%Y-%m-%d")
            .map(|d| Some(d.and_time(chrono::NaiveTime::MIN).and_utc()))
            .map_err(|_| ()),
    }
}

impl Filter {
    /// The storage query for this filter inside the viewer's scope; the second value is a
    /// message key when part of the filter could not be read.
    pub fn query(&self, v: &Viewer) -> (RecordQuery, Option<&'static str>) {
        let mut bad = None;
        let (from, to) = match (day(&self.from), day(&self.to)) {
            (Ok(f), Ok(t)) => (f, t),
            _ => {
                bad = Some("records.bad_date");
                (None, None)
            }
        };
        let province = some(&self.province);
        // A commune of another province (left over from a province change) is not applied.
        let commune = some(&self.commune).filter(|c| {
            province
                .as_deref()
                .is_none_or(|p| refdata().commune(c).is_some_and(|x| x.province_code == p))
        });
        let q = RecordQuery {
            kiosk: some(&self.kiosk),
            province,
            commune,
            status: some(&self.status),
            hq_status: some(&self.hq).map(|s| (s != "none").then_some(s)),
            captured_from: from,
            captured_to: to,
            name_key: some(&self.q)
                .map(|n| enroll_sync::text::search_key(&n))
                .filter(|k| !k.is_empty()),
            id_number: some(&self.idno),
            operator: some(&self.operator),
            provinces_in: v.scope(),
        };
        (q, bad)
    }

    pub fn query_string(&self) -> String {
        serde_urlencoded::to_string(self).unwrap_or_default()
    }
}

/// A `<select>` option.
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn opts(items: impl Iterator<Item = (String, String)>, chosen: &str) -> Vec<Opt> {
    items
        .map(|(value, label)| Opt {
            selected: value == chosen,
            value,
            label,
        })
        .collect()
}

pub fn province_opts(v: &Viewer, chosen: &str) -> Vec<Opt> {
    let list = refdata()
        .provinces
        .iter()
        .filter(|p| v.may_see(Some(&p.code)))
        .map(|p| (p.code.clone(), p.name.clone()));
    opts(list, chosen)
}

pub fn commune_opts(province: &str, chosen: &str) -> Vec<Opt> {
    let list = refdata()
        .communes_of(province)
        .map(|c| (c.code.clone(), c.name.clone()));
    opts(list, chosen)
}

pub fn status_label(s: &str, lang: Lang) -> String {
    RecordStatus::parse(s).map_or(s.to_owned(), |st| {
        let (vi, en) = st.label();
        lang.pick(vi, en).to_owned()
    })
}

pub fn hq_label(s: Option<&str>, lang: Lang) -> String {
    match s.and_then(crate::parse_hq_state) {
        Some(st) => {
            let (vi, en) = st.label();
            lang.pick(vi, en).to_owned()
        }
        None => s.unwrap_or("–").to_owned(),
    }
}

/// The chosen columns, in the table's order; unknown keys are dropped.
pub fn chosen_columns(v: &Viewer) -> Vec<&'static str> {
    let saved = v.columns.as_deref().unwrap_or(DEFAULT_COLUMNS);
    let keys: Vec<&str> = saved.split(',').map(str::trim).collect();
    let cols: Vec<&'static str> = COLUMNS
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| keys.contains(k))
        .collect();
    if cols.is_empty() {
        vec!["enrollment_no", "full_name"]
    } else {
        cols
    }
}

/// One cell's text.
pub fn cell(r: &RecordRow, col: &str, lang: Lang) -> String {
    let p = &r.p;
    match col {
        "enrollment_no" => p.enrollment_no.clone(),
        "full_name" => p.full_name.clone(),
        "id_number" => p.id_number.clone().unwrap_or_default(),
        "province" => p
            .province_code
            .as_deref()
            .map(|c| {
                refdata()
                    .province(c)
                    .map_or(c.to_owned(), |x| x.name.clone())
            })
            .unwrap_or_default(),
        "commune" => p
            .commune_code
            .as_deref()
            .map(|c| {
                refdata()
                    .commune(c)
                    .map_or(c.to_owned(), |x| x.name.clone())
            })
            .unwrap_or_default(),
        "kiosk" => r.kiosk_id.clone(),
        "operator" => p.operator_id.clone(),
        "captured_at" => p
            .captured_at
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default(),
        "status" => status_label(&p.status, lang),
        "hq_status" => hq_label(p.hq_status.as_deref(), lang),
        _ => String::new(),
    }
}

pub struct RowView {
    pub id: String,
    pub label: String,
    pub cells: Vec<String>,
}

/// The table part (the htmx swap target `#results`).
pub struct TableData {
    pub headers: Vec<&'static str>,
    pub rows: Vec<RowView>,
    /// Query string of the next page.
    pub next: Option<String>,
    pub first: Option<String>,
    pub can_act: bool,
    pub error: Option<&'static str>,
    /// This filter's query string (export links, refresh after a bulk action).
    pub qs: String,
}

#[derive(Template)]
#[template(path = "records.html")]
struct RecordsPage {
    c: Chrome,
    t: TableData,
    f: Filter,
    provinces: Vec<Opt>,
    communes: Vec<Opt>,
    statuses: Vec<Opt>,
    hq_states: Vec<Opt>,
    columns: Vec<Opt>,
}

#[derive(Template)]
#[template(path = "_records_table.html")]
struct RecordsTable {
    c: Chrome,
    t: TableData,
}

#[derive(Template)]
#[template(path = "_communes.html")]
struct CommuneSelect {
    c: Chrome,
    communes: Vec<Opt>,
}

/// Loads one page of the filtered table.
pub async fn table(
    dash: &Arc<Dash>,
    v: &Viewer,
    f: &Filter,
    paging: &Paging,
) -> Result<TableData, DashError> {
    let (q, error) = f.query(v);
    let after = match paging.after.as_deref().filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => Some(uuid::Uuid::parse_str(a).map_err(|_| {
            DashError::bad_request("Vị trí trang không hợp lệ", "Invalid page position")
        })?),
    };
    let hq = dash.hq.clone();
    let mut rows = blocking(move || {
        let page = Page {
            after,
            limit: PAGE_SIZE + 1,
            newest_first: true,
        };
        Ok(hq.list_records(&q, &page)?)
    })
    .await?;
    let more = rows.len() > PAGE_SIZE as usize;
    rows.truncate(PAGE_SIZE as usize);
    let cols = chosen_columns(v);
    let qs = f.query_string();
    let next = more.then(|| {
        let last = rows.last().map(|r| r.id.to_string()).unwrap_or_default();
        if qs.is_empty() {
            format!("after={last}")
        } else {
            format!("{qs}&after={last}")
        }
    });
    let headers = cols
        .iter()
        .filter_map(|k| COLUMNS.iter().find(|(c, _)| c == k).map(|(_, m)| *m))
        .collect();
    let rows = rows
        .iter()
        .map(|r| RowView {
            id: r.id.to_string(),
            label: format!("{} {}", r.p.enrollment_no, r.p.full_name),
            cells: cols.iter().map(|c| cell(r, c, v.lang)).collect(),
        })
        .collect();
    Ok(TableData {
        headers,
        rows,
        next,
        first: paging.after.is_some().then(|| qs.clone()),
        can_act: v.role.can_act(),
        error,
        qs,
    })
}

fn is_htmx_to(headers: &HeaderMap, target: &str) -> bool {
    headers.get("hx-request").is_some()
        && headers
            .get("hx-target")
            .and_then(|h| h.to_str().ok())
            .is_some_and(|t| t == target)
}

async fn page(
    State(dash): State<Arc<Dash>>,
    v: Viewer,
    headers: HeaderMap,
    Query(f): Query<Filter>,
    Query(paging): Query<Paging>,
) -> Result<Response, DashError> {
    let t = table(&dash, &v, &f, &paging).await?;
    let c = Chrome::new(&v, "nav.records", "records.title", MESSAGES);
    if is_htmx_to(&headers, "results") {
        return Ok(html(&RecordsTable { c, t }));
    }
    let lang = v.lang;
    let chosen = chosen_columns(&v);
    let page = RecordsPage {
        provinces: province_opts(&v, &f.province),
        communes: commune_opts(&f.province, &f.commune),
        statuses: opts(
            RecordStatus::ALL.iter().map(|s| {
                let (vi, en) = s.label();
                (s.as_str().to_owned(), lang.pick(vi, en).to_owned())
            }),
            &f.status,
        ),
        hq_states: opts(
            std::iter::once(("none".to_owned(), c.t("records.hq.none").to_owned())).chain(
                HQ_STATES.iter().map(|s| {
                    let (vi, en) = s.label();
                    (crate::hq_state_str(*s), lang.pick(vi, en).to_owned())
                }),
            ),
            &f.hq,
        ),
        columns: COLUMNS
            .iter()
            .map(|(k, m)| Opt {
                value: (*k).to_owned(),
                label: c.t(m).to_owned(),
                selected: chosen.contains(k),
            })
            .collect(),
        c,
        t,
        f,
    };
    Ok(html(&page))
}

#[derive(serde::Deserialize)]
struct ProvinceOnly {
    #[serde(default)]
    province: String,
}

/// The commune list of a province (htmx swaps it when the province changes).
async fn communes(v: Viewer, Query(p): Query<ProvinceOnly>) -> Result<Response, DashError> {
    let c = Chrome::new(&v, "nav.records", "records.title", MESSAGES);
    let communes = if v.may_see(Some(&p.province)) {
        commune_opts(&p.province, "")
    } else {
        Vec::new()
    };
    Ok(html(&CommuneSelect { c, communes }))
}

/// Saves the user's column choice, then back to the records.
async fn columns(State(dash): State<Arc<Dash>>, p: Post) -> Result<Response, DashError> {
    let chosen: Vec<&str> = p
        .all("col")
        .into_iter()
        .filter(|k| COLUMNS.iter().any(|(c, _)| c == k))
        .collect();
    let value = chosen.join(",");
    let back = p
        .get("back")
        .map(crate::dashboard::auth::local_path)
        .unwrap_or("/records")
        .to_owned();
    let hq = dash.hq.clone();
    let user = p.v.user_id.clone();
    blocking(move || {
        let mut s = hq.session()?;
        s.set_user_columns(&user, &value)?;
        s.audit(&[hq.audit_entry(&user, "user.columns", &user, &value)])?;
        Ok(())
    })
    .await?;
    Ok(Redirect::to(&back).into_response())
}
