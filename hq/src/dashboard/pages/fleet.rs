//! Fleet: every kiosk with what it last said about itself, how long since it synced (amber after
//! 3 days, red after 7, by HQ's clock), and when it will reach its storage guard at its recent
//! pace (from the telemetry history `kiosk_seen` keeps). Admins revoke from here, after a
//! confirmation page.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Redirect, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::Arc;

use crate::dashboard::auth::blocking;
use crate::dashboard::{html, Chrome, Dash, DashError, Lang, Messages, Post, Viewer};
use crate::storage::{KioskEntry, TelemetryPoint};

pub fn routes() -> Router<Arc<Dash>> {
    Router::new()
        .route("/fleet", get(page))
        .route("/fleet/{id}/revoke", get(confirm).post(revoke))
}

pub const MESSAGES: Messages = &[
    ("fleet.title", "Ki-ốt", "Fleet"),
    ("fleet.caption", "Các ki-ốt, sắp theo mã", "Kiosks, by code"),
    ("fleet.kiosk", "Ki-ốt", "Kiosk"),
    ("fleet.last_seen", "Liên lạc lần cuối", "Last seen"),
    ("fleet.last_sync", "Đồng bộ lần cuối", "Last sync"),
    ("fleet.waiting", "Hồ sơ chờ gửi", "Records waiting"),
    ("fleet.oldest", "Chờ lâu nhất", "Oldest waiting"),
    ("fleet.free", "Dung lượng trống", "Free storage"),
    ("fleet.version", "Phiên bản", "Version"),
    ("fleet.forecast", "Chạm ngưỡng lưu trữ", "Storage guard reached"),
    ("fleet.actions", "Thao tác", "Actions"),
    ("fleet.revoke", "Thu hồi", "Revoke"),
    ("fleet.revoked", "đã thu hồi", "revoked"),
    ("fleet.health.ok", "bình thường", "in sync"),
    ("fleet.health.amber", "quá 3 ngày", "over 3 days"),
    ("fleet.health.red", "quá 7 ngày", "over 7 days"),
    ("fleet.forecast.unknown", "chưa đủ số liệu", "not enough data"),
    ("fleet.forecast.steady", "không giảm", "not filling"),
    ("fleet.forecast.reached", "đã chạm ngưỡng", "reached now"),
    ("fleet.confirm.title", "Thu hồi ki-ốt", "Revoke a kiosk"),
    (
        "fleet.confirm.text",
        "Mọi dữ liệu từ ki-ốt này sẽ bị từ chối từ lần đồng bộ tới. Không thể hoàn tác. Thu hồi",
        "Everything from this kiosk will be refused from its next sync. This cannot be undone. Revoke",
    ),
    ("fleet.confirm.yes", "Thu hồi ki-ốt", "Revoke the kiosk"),
    ("fleet.none", "Chưa có ki-ốt nào.", "No kiosks yet."),
];

/// Kiosks per page.
pub const PAGE_SIZE: u32 = 50;
/// The kiosk keeps this much free (its `guards::RESERVE_BYTES`); below it, enrollment stops.
pub const KIOSK_STORAGE_GUARD_BYTES: u64 = 100 * 1024 * 1024;
/// The pace is measured over this many days of telemetry (the kiosk's own `PACE_DAYS`).
pub const PACE_DAYS: i64 = 7;
pub const AMBER_DAYS: i64 = 3;
pub const RED_DAYS: i64 = 7;

/// How long since a kiosk's last sync (since it was added, if it never synced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Ok,
    Amber,
    Red,
}

impl Health {
    pub fn class(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Amber => "amber",
            Health::Red => "red",
        }
    }
}

pub fn sync_health(
    last_sync: Option<DateTime<Utc>>,
    added: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Health {
    let age = now - last_sync.unwrap_or(added);
    if age >= Duration::days(RED_DAYS) {
        Health::Red
    } else if age >= Duration::days(AMBER_DAYS) {
        Health::Amber
    } else {
        Health::Ok
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forecast {
    /// Fewer than two points an hour apart in the pace window.
    Unknown,
    /// Free storage is not going down.
    Steady,
    /// Already at or below the guard.
    Reached,
    At(DateTime<Utc>),
}

/// When free storage reaches `guard` at the pace of the last `PACE_DAYS` (least-squares line
/// through the points), from the latest point.
pub fn storage_forecast(
    points: &[(DateTime<Utc>, u64)],
    guard: u64,
    now: DateTime<Utc>,
) -> Forecast {
    let since = now - Duration::days(PACE_DAYS);
    let recent: Vec<(f64, f64)> = points
        .iter()
        .filter(|(t, _)| *t >= since && *t <= now)
        .map(|(t, b)| ((*t - since).num_seconds() as f64, *b as f64))
        .collect();
    let Some(&(last_x, last_free)) = recent.iter().max_by(|a, b| a.0.total_cmp(&b.0)) else {
        return Forecast::Unknown;
    };
    if last_free <= guard as f64 {
        return Forecast::Reached;
    }
    let first_x = recent.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    if recent.len() < 2 || last_x - first_x < 3600.0 {
        return Forecast::Unknown;
    }
    let n = recent.len() as f64;
    let mx = recent.iter().map(|p| p.0).sum::<f64>() / n;
    let my = recent.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = recent.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = recent.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let slope = sxy / sxx; // bytes per second
    if slope >= 0.0 || !slope.is_finite() {
        return Forecast::Steady;
    }
    let secs = (last_free - guard as f64) / -slope;
    if secs > 10.0 * 365.0 * 86400.0 {
        return Forecast::Steady;
    }
    let last_at = since + Duration::seconds(last_x as i64);
    Forecast::At(last_at + Duration::seconds(secs as i64))
}

/// "1.5 GB" style sizes (decimal units, as disks are sold).
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// "3 ngày" / "3 days", the larger unit only.
pub fn age(d: Duration, lang: Lang) -> String {
    let (n, vi, en) = if d.num_days() >= 1 {
        (d.num_days(), "ngày", "days")
    } else if d.num_hours() >= 1 {
        (d.num_hours(), "giờ", "hours")
    } else {
        (d.num_minutes().max(0), "phút", "minutes")
    };
    format!("{n} {}", lang.pick(vi, en))
}

pub fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

pub struct KioskRow {
    pub id: String,
    pub name: String,
    pub revoked: bool,
    pub last_seen: String,
    pub last_sync: String,
    pub health: Health,
    pub health_key: &'static str,
    pub waiting: String,
    pub oldest: String,
    pub free: String,
    pub version: String,
    pub forecast: String,
}

#[derive(Template)]
#[template(path = "fleet.html")]
struct FleetPage {
    c: Chrome,
    rows: Vec<KioskRow>,
    next: Option<String>,
    paged: bool,
}

#[derive(serde::Deserialize)]
struct FleetQuery {
    after: Option<String>,
}

fn row(
    k: &KioskEntry,
    points: &[(DateTime<Utc>, u64)],
    now: DateTime<Utc>,
    c: &Chrome,
) -> KioskRow {
    let t = k.telemetry.as_ref();
    let health = sync_health(k.last_sync_at, k.added_at, now);
    let never = c.t("common.never").to_owned();
    let forecast = match storage_forecast(points, KIOSK_STORAGE_GUARD_BYTES, now) {
        Forecast::Unknown => c.t("fleet.forecast.unknown").to_owned(),
        Forecast::Steady => c.t("fleet.forecast.steady").to_owned(),
        Forecast::Reached => c.t("fleet.forecast.reached").to_owned(),
        Forecast::At(at) => format!("{} ({})", when(at), age(at - now, c.lang)),
    };
    KioskRow {
        id: k.id.clone(),
        name: k.name.clone(),
        revoked: k.revoked_at.is_some(),
        last_seen: k.last_seen_at.map_or(never.clone(), |t| {
            format!("{} ({})", when(t), age(now - t, c.lang))
        }),
        last_sync: k
            .last_sync_at
            .map_or(never, |t| format!("{} ({})", when(t), age(now - t, c.lang))),
        health,
        health_key: match health {
            Health::Ok => "fleet.health.ok",
            Health::Amber => "fleet.health.amber",
            Health::Red => "fleet.health.red",
        },
        waiting: t.map_or("–".into(), |t| t.records_waiting.to_string()),
        oldest: t
            .and_then(|t| t.oldest_waiting_at)
            .map_or("–".into(), |o| age(now - o, c.lang)),
        free: t.map_or("–".into(), |t| human_bytes(t.free_bytes)),
        version: t.map_or("–".into(), |t| t.software_version.clone()),
        forecast,
    }
}

async fn page(
    State(dash): State<Arc<Dash>>,
    v: Viewer,
    Query(q): Query<FleetQuery>,
) -> Result<Response, DashError> {
    let c = Chrome::new(&v, "nav.fleet", "fleet.title", MESSAGES);
    let hq = dash.hq.clone();
    let after = q.after.clone();
    let (mut kiosks, history, now) = blocking(move || {
        let now = hq.now();
        let mut s = hq.session()?;
        let kiosks = s.kiosks(after.as_deref(), PAGE_SIZE + 1)?;
        let ids: Vec<String> = kiosks.iter().map(|k| k.id.clone()).collect();
        let history = s.telemetry_history(&ids, now - Duration::days(PACE_DAYS))?;
        Ok((kiosks, history, now))
    })
    .await?;
    let more = kiosks.len() > PAGE_SIZE as usize;
    kiosks.truncate(PAGE_SIZE as usize);
    let mut by_kiosk: HashMap<&str, Vec<(DateTime<Utc>, u64)>> = HashMap::new();
    for TelemetryPoint {
        kiosk_id,
        at,
        free_bytes,
        ..
    } in &history
    {
        by_kiosk
            .entry(kiosk_id.as_str())
            .or_default()
            .push((*at, *free_bytes));
    }
    let rows = kiosks
        .iter()
        .map(|k| {
            let pts = by_kiosk
                .get(k.id.as_str())
                .map_or(&[][..], |p| p.as_slice());
            row(k, pts, now, &c)
        })
        .collect();
    let next = more
        .then(|| {
            kiosks
                .last()
                .map(|k| crate::dashboard::auth::urlencode(&k.id))
        })
        .flatten();
    Ok(html(&FleetPage {
        c,
        rows,
        next,
        paged: q.after.is_some(),
    }))
}

#[derive(Template)]
#[template(path = "fleet_revoke.html")]
struct ConfirmPage {
    c: Chrome,
    id: String,
    name: String,
}

async fn confirm(
    State(dash): State<Arc<Dash>>,
    v: Viewer,
    Path(id): Path<String>,
) -> Result<Response, DashError> {
    v.must_be_admin()?;
    let hq = dash.hq.clone();
    let kid = id.clone();
    let k = blocking(move || Ok(hq.session()?.kiosk(&kid)?))
        .await?
        .ok_or(DashError::NotFound)?;
    let c = Chrome::new(&v, "nav.fleet", "fleet.confirm.title", MESSAGES);
    Ok(html(&ConfirmPage {
        c,
        id: k.id,
        name: k.name,
    }))
}

async fn revoke(
    State(dash): State<Arc<Dash>>,
    Path(id): Path<String>,
    p: Post,
) -> Result<Response, DashError> {
    p.v.must_be_admin()?;
    let hq = dash.hq.clone();
    let user = p.v.user_id.clone();
    blocking(move || {
        let mut s = hq.session()?;
        s.begin()?;
        if s.kiosk(&id)?.is_none() {
            return Err(DashError::NotFound);
        }
        s.revoke_kiosk(&id, hq.now())?;
        s.audit(&[hq.audit_entry(&user, "kiosk.revoke", &id, "dashboard")])?;
        s.commit()?;
        Ok(())
    })
    .await?;
    Ok(axum::response::IntoResponse::into_response(Redirect::to(
        "/fleet",
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, d, h, 0, 0)
            .single()
            .expect("time")
    }

    #[test]
    fn amber_after_three_days_red_after_seven() {
        let now = at(20, 12);
        let added = at(1, 0);
        assert_eq!(sync_health(Some(at(18, 13)), added, now), Health::Ok);
        assert_eq!(sync_health(Some(at(17, 12)), added, now), Health::Amber);
        assert_eq!(sync_health(Some(at(13, 13)), added, now), Health::Amber);
        assert_eq!(sync_health(Some(at(13, 12)), added, now), Health::Red);
        // Never synced: counted from when it was added.
        assert_eq!(sync_health(None, at(19, 0), now), Health::Ok);
        assert_eq!(sync_health(None, added, now), Health::Red);
    }

    #[test]
    fn forecast_follows_the_recent_pace() {
        let now = at(20, 12);
        let gb = 1_000_000_000u64;
        // 1 GB a day down from 10 GB over the last 4 days: 6 GB left at now.
        let pts: Vec<_> = (0..=4)
            .map(|i| (now - Duration::days(4 - i), (10 - i as u64) * gb))
            .collect();
        match storage_forecast(&pts, gb, now) {
            Forecast::At(t) => {
                let days = (t - now).num_hours() as f64 / 24.0;
                assert!((days - 5.0).abs() < 0.01, "{days}");
            }
            f => panic!("{f:?}"),
        }
        // Points older than the pace window do not count.
        let old = vec![
            (now - Duration::days(20), 9 * gb),
            (now - Duration::days(19), 2 * gb),
        ];
        assert_eq!(storage_forecast(&old, gb, now), Forecast::Unknown);
        let flat = vec![(now - Duration::days(2), 5 * gb), (now, 5 * gb)];
        assert_eq!(storage_forecast(&flat, gb, now), Forecast::Steady);
        let full = vec![(now, gb / 2)];
        assert_eq!(storage_forecast(&full, gb, now), Forecast::Reached);
        assert_eq!(storage_forecast(&[], gb, now), Forecast::Unknown);
    }

    #[test]
    fn sizes_and_ages() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1_500_000_000), "1.5 GB");
        assert_eq!(age(Duration::days(3), Lang::Vi), "3 ngày");
        assert_eq!(age(Duration::minutes(5), Lang::En), "5 minutes");
    }
}
