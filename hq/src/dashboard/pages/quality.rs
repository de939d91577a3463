//! Quality per kiosk or per operator over recent weeks: photo-check failure rate, finger
//! quality distribution, finger exception rate, supervisor returns and median minutes per
//! enrollment, with a server-rendered SVG chart of the rates week by week.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{Duration, NaiveDate};
use std::collections::BTreeMap;
use std::sync::Arc;

use super::records::Opt;
use crate::dashboard::auth::{blocking, urlencode};
use crate::dashboard::{html, Chrome, Dash, DashError, Lang, Messages, Viewer};
use crate::review::chart::{rates_chart, Series};
use crate::review::quality::{rates, week_of, Rates};
use crate::storage::review::{QualityBy, QualityQuery, QualityWeek};

pub fn routes() -> Router<Arc<Dash>> {
    Router::new().route("/quality", get(page))
}

pub const MESSAGES: Messages = &[
    ("quality.title", "Chất lượng thu nhận", "Capture quality"),
    ("quality.by", "Theo", "By"),
    ("quality.by.kiosk", "Ki-ốt", "Kiosk"),
    ("quality.by.operator", "Người thu nhận", "Operator"),
    ("quality.weeks", "Số tuần", "Weeks"),
    ("quality.to", "Tính đến ngày", "Up to"),
    (
        "quality.caption",
        "Tỉ lệ trong các tuần đã chọn",
        "Rates over the chosen weeks",
    ),
    ("quality.records", "Hồ sơ", "Records"),
    (
        "quality.photo",
        "Ảnh không đạt kiểm tra",
        "Photo check failures",
    ),
    ("quality.exceptions", "Ngón ngoại lệ", "Finger exceptions"),
    (
        "quality.returns",
        "Bị giám sát trả lại (mỗi hồ sơ)",
        "Supervisor returns (per record)",
    ),
    (
        "quality.minutes",
        "Số phút trung vị mỗi hồ sơ",
        "Median minutes per enrollment",
    ),
    (
        "quality.bins",
        "Chất lượng vân tay (0–19 / 20–39 / 40–59 / 60–79 / 80–100)",
        "Finger quality (0–19 / 20–39 / 40–59 / 60–79 / 80–100)",
    ),
    (
        "quality.chart",
        "Tỉ lệ theo tuần (các mục trên trang này)",
        "Rates by week (the rows on this page)",
    ),
    (
        "quality.empty",
        "Chưa có hồ sơ nào được thu nhận trong các tuần này.",
        "No records were captured in these weeks.",
    ),
];

pub const PAGE_SIZE: u32 = 50;
pub const WEEKS: &[u32] = &[4, 8, 13, 26, 52];

#[derive(serde::Deserialize, Default)]
struct Params {
    by: Option<String>,
    weeks: Option<u32>,
    /// The last day of the period (default: today at HQ), to look back at past weeks.
    #[serde(default)]
    to: String,
    after: Option<String>,
}

pub struct QualityRow {
    pub key: String,
    pub records: u64,
    pub photo: String,
    pub exceptions: String,
    pub returns: String,
    pub minutes: String,
    pub bins: String,
}

#[derive(Template)]
#[template(path = "quality.html")]
struct QualityPage {
    c: Chrome,
    by_operator: bool,
    /// The filter as a query string (paging links keep it).
    qs: String,
    to: String,
    bys: Vec<Opt>,
    week_opts: Vec<Opt>,
    rows: Vec<QualityRow>,
    chart: String,
    next: Option<String>,
    paged: bool,
}

fn pct(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

fn row(key: String, r: &Rates, lang: Lang) -> QualityRow {
    let fingers: u64 = r.quality_bins.iter().sum();
    let bins = r
        .quality_bins
        .iter()
        .map(|n| {
            pct(if fingers == 0 {
                0.0
            } else {
                *n as f64 / fingers as f64
            })
        })
        .collect::<Vec<_>>()
        .join(" / ");
    QualityRow {
        key,
        records: r.records,
        photo: pct(r.photo_failure),
        exceptions: pct(r.finger_exception),
        returns: format!("{:.2}", r.returns),
        minutes: r.median_minutes.map_or("–".into(), |m| {
            format!("{m} {}", lang.pick("phút", "min"))
        }),
        bins,
    }
}

/// The page's weeks summed over its rows, one point per week and rate.
fn chart(weeks: &[QualityWeek], c: &Chrome) -> String {
    let mut by_week: BTreeMap<NaiveDate, Vec<&QualityWeek>> = BTreeMap::new();
    for w in weeks {
        if let Some(d) = w.week {
            by_week.entry(d).or_default().push(w);
        }
    }
    let per_week: Vec<(NaiveDate, Rates)> =
        by_week.into_iter().map(|(d, ws)| (d, rates(&ws))).collect();
    let series = |key: &str, f: fn(&Rates) -> f64| Series {
        name: c.t(key).to_owned(),
        points: per_week.iter().map(|(d, r)| (*d, f(r))).collect(),
    };
    rates_chart(
        c.t("quality.chart"),
        &[
            series("quality.photo", |r| r.photo_failure),
            series("quality.exceptions", |r| r.finger_exception),
            series("quality.returns", |r| r.returns.min(1.0)),
        ],
    )
}

async fn page(
    State(dash): State<Arc<Dash>>,
    v: Viewer,
    Query(p): Query<Params>,
) -> Result<Response, DashError> {
    let (by, by_key) = match p.by.as_deref() {
        Some("operator") => (QualityBy::Operator, "operator"),
        _ => (QualityBy::Kiosk, "kiosk"),
    };
    let weeks = p.weeks.filter(|w| WEEKS.contains(w)).unwrap_or(8);
    let hq = dash.hq.clone();
    let to = match super::records::day(&p.to) {
        Ok(Some(t)) => t,
        _ => hq.now(),
    };
    let to_week = week_of(to);
    let q = QualityQuery {
        by,
        from_week: to_week - Duration::weeks(i64::from(weeks) - 1),
        to_week,
        provinces: v.scope(),
        after: p.after.clone().filter(|a| !a.is_empty()),
        limit: PAGE_SIZE,
    };
    let found = blocking(move || Ok(hq.quality(&q)?)).await?;
    let c = Chrome::new(&v, "nav.quality", "quality.title", MESSAGES);
    let mut keys: BTreeMap<&str, Vec<&QualityWeek>> = BTreeMap::new();
    for w in &found {
        keys.entry(w.key.as_str()).or_default().push(w);
    }
    let rows: Vec<QualityRow> = keys
        .iter()
        .map(|(k, ws)| row((*k).to_owned(), &rates(ws), v.lang))
        .collect();
    // A full page of keys may have more after it.
    let qs = format!("by={by_key}&weeks={weeks}&to={}", to.format("%Y-%m-%d"));
    let next = (rows.len() >= PAGE_SIZE as usize)
        .then(|| {
            rows.last()
                .map(|r| format!("{qs}&after={}", urlencode(&r.key)))
        })
        .flatten();
    let chart = if rows.is_empty() {
        String::new()
    } else {
        chart(&found, &c)
    };
    let opt = |value: &str, label: &str, selected: bool| Opt {
        value: value.to_owned(),
        label: label.to_owned(),
        selected,
    };
    Ok(html(&QualityPage {
        bys: vec![
            opt("kiosk", c.t("quality.by.kiosk"), by_key == "kiosk"),
            opt("operator", c.t("quality.by.operator"), by_key == "operator"),
        ],
        week_opts: WEEKS
            .iter()
            .map(|w| opt(&w.to_string(), &w.to_string(), *w == weeks))
            .collect(),
        c,
        by_operator: by_key == "operator",
        qs,
        to: to.format("%Y-%m-%d").to_string(),
        rows,
        chart,
        next,
        paged: p.after.is_some(),
    }))
}
