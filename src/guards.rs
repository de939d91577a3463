//! Operational guards, asked before a new enrollment starts: room left on disk, days since the
//! last sync, records awaiting a supervisor. Each first warns, then stops new work, saying why.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::Path;

use crate::store::{Settings, Store, StoreError};

/// Assumed size of one record with its photo and ten finger images before any is stored.
pub const DEFAULT_RECORD_BYTES: u64 = 1_500_000;
/// Disk space kept free for the database to grow, logs and the system.
pub const RESERVE_BYTES: u64 = 100 * 1024 * 1024;
/// The window the recent pace of enrollment is measured over.
pub const PACE_DAYS: u32 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    Warning,
    Stop,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuardFinding {
    pub code: &'static str,
    pub level: Level,
    pub message_vi: String,
    pub message_en: String,
}

/// What the guards look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuardInputs {
    pub free_bytes: u64,
    pub avg_record_bytes: u64,
    /// Days since HQ was last reached or, never synced, since the oldest waiting record;
    /// `None` when there is nothing to sync yet.
    pub days_since_sync: Option<i64>,
    /// HQ was never reached: the days count from the oldest waiting record.
    pub never_synced: bool,
    pub unapproved: u64,
    /// Records captured in the last [`PACE_DAYS`] days.
    pub recent_records: u64,
}

/// When, at the recent pace, each guard would stop new enrollments (days from now).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Forecast {
    pub records_per_day: f64,
    /// `None` when nothing was enrolled lately (storage does not fill).
    pub storage_stop_days: Option<u64>,
    /// `None` when there is nothing to sync; the limit counts from the last sync whatever
    /// the pace.
    pub sync_stop_days: Option<u64>,
}

impl Forecast {
    /// The nearer of the two stops.
    pub fn soonest(&self) -> Option<u64> {
        match (self.storage_stop_days, self.sync_stop_days) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuardReport {
    pub level: Level,
    pub records_fit: u64,
    pub inputs: GuardInputs,
    pub forecast: Forecast,
    pub findings: Vec<GuardFinding>,
}

impl GuardReport {
    /// True when a new enrollment may start (possibly with warnings shown).
    pub fn allows_new_enrollment(&self) -> bool {
        self.level < Level::Stop
    }

    /// The reasons, one per line, Vietnamese then English.
    pub fn text(&self) -> String {
        self.findings
            .iter()
            .filter(|f| f.level > Level::Ok)
            .map(|f| format!("{}\n{}", f.message_vi, f.message_en))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn level(value: u64, warn: u64, stop: u64, higher_is_worse: bool) -> Level {
    let (w, s) = if higher_is_worse {
        (value >= warn, value >= stop)
    } else {
        (value < warn, value < stop)
    };
    if s {
        Level::Stop
    } else if w {
        Level::Warning
    } else {
        Level::Ok
    }
}

/// Applies the limits in `settings` to `inputs`.
pub fn evaluate(inputs: &GuardInputs, settings: &Settings) -> GuardReport {
    let records_fit =
        inputs.free_bytes.saturating_sub(RESERVE_BYTES) / inputs.avg_record_bytes.max(1);
    let mut findings = Vec::new();

    let l = level(
        records_fit,
        settings.records_fit_warn,
        settings.records_fit_stop,
        false,
    );
    findings.push(GuardFinding {
        code: "storage",
        level: l,
        message_vi: match l {
            Level::Ok => format!("Bộ nhớ còn đủ cho khoảng {records_fit} hồ sơ."),
            Level::Warning => format!("Bộ nhớ sắp đầy: chỉ còn chỗ cho khoảng {records_fit} hồ sơ. Hãy đồng bộ và xoá dữ liệu sinh trắc đã gửi."),
            Level::Stop => format!("Bộ nhớ đầy (còn chỗ cho khoảng {records_fit} hồ sơ): không nhận hồ sơ mới cho đến khi đồng bộ và giải phóng bộ nhớ."),
        },
        message_en: match l {
            Level::Ok => format!("Storage has room for about {records_fit} records."),
            Level::Warning => format!("Storage is nearly full: room for about {records_fit} more records. Sync and purge sent biometrics."),
            Level::Stop => format!("Storage is full (room for about {records_fit} records): no new enrollments until you sync and free space."),
        },
    });

    if let Some(days) = inputs.days_since_sync {
        let d = u64::try_from(days).unwrap_or(0);
        let l = level(d, settings.sync_warn_days, settings.sync_stop_days, true);
        let (vi, en) = sync_messages(l, d, inputs.never_synced, settings.sync_stop_days);
        findings.push(GuardFinding {
            code: "sync",
            level: l,
            message_vi: vi,
            message_en: en,
        });
    }

    let n = inputs.unapproved;
    let l = level(n, settings.unapproved_warn, settings.unapproved_stop, true);
    findings.push(GuardFinding {
        code: "unapproved",
        level: l,
        message_vi: match l {
            Level::Ok => format!("{n} hồ sơ chờ duyệt."),
            Level::Warning => format!("Có {n} hồ sơ chờ giám sát viên duyệt. Hãy duyệt sớm."),
            Level::Stop => format!("Có {n} hồ sơ chờ duyệt (giới hạn {}): không nhận hồ sơ mới cho đến khi giám sát viên duyệt.", settings.unapproved_stop),
        },
        message_en: match l {
            Level::Ok => format!("{n} records awaiting approval."),
            Level::Warning => format!("{n} records are waiting for a supervisor. Review them soon."),
            Level::Stop => format!("{n} records await approval (limit {}): no new enrollments until a supervisor reviews them.", settings.unapproved_stop),
        },
    });

    GuardReport {
        level: findings.iter().map(|f| f.level).max().unwrap_or(Level::Ok),
        records_fit,
        inputs: inputs.clone(),
        forecast: forecast(inputs, records_fit, settings),
        findings,
    }
}

fn sync_messages(l: Level, d: u64, never: bool, limit: u64) -> (String, String) {
    if never {
        // Nothing has reached HQ: say so, and how long the oldest record has waited.
        return match l {
            Level::Ok => (
                format!("Chưa đồng bộ lần nào — hồ sơ chờ gửi lâu nhất đã {d} ngày."),
                format!("Never synced — oldest waiting record {d} days old."),
            ),
            Level::Warning => (
                format!("Chưa đồng bộ lần nào — hồ sơ chờ gửi lâu nhất đã {d} ngày. Hãy gửi hồ sơ sớm."),
                format!("Never synced — oldest waiting record {d} days old. Send records soon."),
            ),
            Level::Stop => (
                format!("Chưa đồng bộ lần nào — hồ sơ chờ gửi lâu nhất đã {d} ngày (giới hạn {limit} ngày): không nhận hồ sơ mới cho đến khi đồng bộ."),
                format!("Never synced — oldest waiting record {d} days old (limit {limit} days): no new enrollments until you sync."),
            ),
        };
    }
    match l {
        Level::Ok => (
            format!("Lần đồng bộ gần nhất: {d} ngày trước."),
            format!("Last sync: {d} days ago."),
        ),
        Level::Warning => (
            format!("Đã {d} ngày chưa đồng bộ với trung tâm. Hãy gửi hồ sơ sớm."),
            format!("No sync with HQ for {d} days. Send records soon."),
        ),
        Level::Stop => (
            format!("Đã {d} ngày chưa đồng bộ (giới hạn {limit} ngày): không nhận hồ sơ mới cho đến khi đồng bộ."),
            format!("No sync for {d} days (limit {limit} days): no new enrollments until you sync."),
        ),
    }
}

/// Days until each guard stops new work, at the pace of the last [`PACE_DAYS`] days.
pub fn forecast(inputs: &GuardInputs, records_fit: u64, settings: &Settings) -> Forecast {
    let per_day = inputs.recent_records as f64 / f64::from(PACE_DAYS);
    let room = records_fit.saturating_sub(settings.records_fit_stop);
    let storage_stop_days = (per_day > 0.0).then(|| (room as f64 / per_day).floor() as u64);
    let sync_stop_days = inputs.days_since_sync.map(|d| {
        settings
            .sync_stop_days
            .saturating_sub(u64::try_from(d).unwrap_or(0))
    });
    Forecast {
        records_per_day: per_day,
        storage_stop_days,
        sync_stop_days,
    }
}

/// Free bytes for unprivileged writers on the filesystem holding `path`.
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: statvfs only writes into the zeroed struct we own; `c` is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // The field types are narrower on some 32-bit targets.
    #[allow(clippy::useless_conversion)]
    Ok(u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize)))
}

fn days_between(from: &str, now: DateTime<Utc>) -> Option<i64> {
    let t = DateTime::parse_from_rfc3339(from).ok()?.with_timezone(&Utc);
    Some((now - t).num_days().max(0))
}

/// Gathers the inputs from the store and its filesystem.
pub fn gather(store: &Store, now: DateTime<Utc>) -> Result<GuardInputs, StoreError> {
    let usage = store.usage()?;
    let dir = store.path().parent().unwrap_or(Path::new("."));
    let free = free_bytes(dir).map_err(|e| StoreError::Corrupt(format!("free space: {e}")))?;
    let avg = if usage.records > 0 {
        (usage.bytes / usage.records).max(1) as u64
    } else {
        DEFAULT_RECORD_BYTES
    };
    // Never synced: count from the first record, which has waited that long.
    let since = usage
        .last_sync
        .as_deref()
        .or(usage.first_record_at.as_deref());
    let recent_records =
        store.records_created_since(now - chrono::Duration::days(i64::from(PACE_DAYS)))?;
    let unapproved = store
        .count_by_status()?
        .iter()
        .filter(|(s, _)| s == "captured")
        .map(|(_, n)| *n)
        .sum::<i64>();
    Ok(GuardInputs {
        free_bytes: free,
        avg_record_bytes: avg,
        days_since_sync: since.and_then(|s| days_between(s, now)),
        never_synced: usage.last_sync.is_none(),
        unapproved: u64::try_from(unapproved).unwrap_or(0),
        recent_records,
    })
}

/// The check the UI and `kiosk records add` run before starting a new enrollment.
pub fn check(store: &Store, now: DateTime<Utc>) -> Result<GuardReport, StoreError> {
    Ok(evaluate(&gather(store, now)?, &store.settings()?))
}
