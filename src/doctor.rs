//! `kiosk doctor`: one plain verdict per area (database, space, records, sync, devices, clock,
//! audit log). Device checks go through `Probe`, so the scanner and camera drivers can plug a
//! real probe in; until then they check that the device is present.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::path::PathBuf;

use crate::guards::{self, Level};
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    Warning,
    Fail,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warning => "warning",
            Verdict::Fail => "fail",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub verdict: Verdict,
    pub message_vi: String,
    pub message_en: String,
}

impl Check {
    pub fn new(name: &'static str, verdict: Verdict, vi: String, en: String) -> Self {
        Check {
            name,
            verdict,
            message_vi: vi,
            message_en: en,
        }
    }
}

/// A device check. Drivers implement this with a real handshake; see `Probes`.
pub trait Probe {
    fn check(&self) -> Check;
}

/// Scanner presence: any serial port the system lists.
pub struct SerialPresence;

impl Probe for SerialPresence {
    fn check(&self) -> Check {
        match serialport::available_ports() {
            Ok(ports) if ports.is_empty() => Check::new(
                "scanner",
                Verdict::Warning,
                "Không thấy cổng nối tiếp nào: máy quét vân tay chưa được cắm?".into(),
                "No serial port found: is the fingerprint scanner plugged in?".into(),
            ),
            Ok(ports) => {
                let names: Vec<&str> = ports.iter().map(|p| p.port_name.as_str()).collect();
                Check::new(
                    "scanner",
                    Verdict::Ok,
                    format!("Có cổng nối tiếp: {} (mới kiểm tra có thiết bị, chưa thử giao tiếp với máy quét).", names.join(", ")),
                    format!("Serial ports present: {} (presence only; the scanner was not spoken to).", names.join(", ")),
                )
            }
            Err(e) => Check::new(
                "scanner",
                Verdict::Warning,
                format!("Không liệt kê được cổng nối tiếp: {e}"),
                format!("Cannot list serial ports: {e}"),
            ),
        }
    }
}

/// Camera presence: `/dev/video*` nodes.
pub struct VideoNodes {
    pub dev_dir: PathBuf,
}

impl Default for VideoNodes {
    fn default() -> Self {
        VideoNodes {
            dev_dir: PathBuf::from("/dev"),
        }
    }
}

impl Probe for VideoNodes {
    fn check(&self) -> Check {
        let mut nodes: Vec<String> = std::fs::read_dir(&self.dev_dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| {
                        n.strip_prefix("video")
                            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        nodes.sort();
        if nodes.is_empty() {
            Check::new(
                "cameras",
                Verdict::Warning,
                "Không thấy máy ảnh nào (/dev/video*).".into(),
                "No camera found (/dev/video*).".into(),
            )
        } else {
            Check::new(
                "cameras",
                Verdict::Ok,
                format!(
                    "Thấy máy ảnh: {} (mới kiểm tra có thiết bị).",
                    nodes.join(", ")
                ),
                format!("Cameras found: {} (presence only).", nodes.join(", ")),
            )
        }
    }
}

pub struct Probes {
    pub scanner: Box<dyn Probe>,
    pub cameras: Box<dyn Probe>,
}

impl Default for Probes {
    fn default() -> Self {
        Probes {
            scanner: Box::new(SerialPresence),
            cameras: Box::new(VideoNodes::default()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub verdict: Verdict,
    pub checks: Vec<Check>,
}

fn from_level(l: Level) -> Verdict {
    match l {
        Level::Ok => Verdict::Ok,
        Level::Warning => Verdict::Warning,
        Level::Stop => Verdict::Fail,
    }
}

/// Runs every check; a check that cannot run says so as a failure, and the rest still run.
pub fn run(store: &Store, now: DateTime<Utc>, probes: &Probes) -> Report {
    let mut checks = vec![database(store)];
    match guards::check(store, now) {
        Ok(report) => {
            for f in &report.findings {
                let name = match f.code {
                    "storage" => "storage",
                    "sync" => "last_sync",
                    _ => "unapproved",
                };
                checks.push(Check::new(
                    name,
                    from_level(f.level),
                    f.message_vi.clone(),
                    f.message_en.clone(),
                ));
            }
            checks.push(forecast(&report.forecast));
        }
        Err(e) => checks.push(Check::new(
            "storage",
            Verdict::Fail,
            format!("Không kiểm tra được bộ nhớ: {e}"),
            format!("Cannot check storage: {e}"),
        )),
    }
    checks.push(counts(store));
    checks.push(probes.scanner.check());
    checks.push(probes.cameras.check());
    checks.push(clock(store, now));
    checks.push(audit(store));
    Report {
        verdict: checks
            .iter()
            .map(|c| c.verdict)
            .max()
            .unwrap_or(Verdict::Ok),
        checks,
    }
}

fn database(store: &Store) -> Check {
    match store.integrity_check() {
        Ok(()) => Check::new(
            "database",
            Verdict::Ok,
            "Cơ sở dữ liệu nguyên vẹn.".into(),
            "The database is intact.".into(),
        ),
        Err(e) => Check::new(
            "database",
            Verdict::Fail,
            format!("Cơ sở dữ liệu bị hỏng: {e}. Đừng xoá dữ liệu; hãy gọi hỗ trợ kỹ thuật."),
            format!("The database is damaged: {e}. Do not delete data; call technical support."),
        ),
    }
}

/// A stop this close is worth a warning even while the guards themselves are calm.
const FORECAST_WARN_DAYS: u64 = 3;

fn forecast(f: &guards::Forecast) -> Check {
    let pace_vi = format!(
        "Tốc độ {} ngày qua: {:.1} hồ sơ/ngày.",
        guards::PACE_DAYS,
        f.records_per_day
    );
    let pace_en = format!(
        "Pace over the last {} days: {:.1} records a day.",
        guards::PACE_DAYS,
        f.records_per_day
    );
    let storage = match f.storage_stop_days {
        // Beyond a year the exact count says nothing useful.
        Some(d) if d > 365 => (
            "Bộ nhớ còn đủ hơn một năm.".to_owned(),
            "Storage lasts more than a year.".to_owned(),
        ),
        Some(d) => (
            format!("Bộ nhớ sẽ chặn thu nhận sau khoảng {d} ngày."),
            format!("Storage will stop enrollment in about {d} days."),
        ),
        None => (
            "Không có hồ sơ mới nên bộ nhớ không đầy thêm.".to_owned(),
            "No recent enrollments, so storage is not filling.".to_owned(),
        ),
    };
    let sync = match f.sync_stop_days {
        Some(0) => (
            "Giới hạn đồng bộ đang chặn thu nhận.".to_owned(),
            "The sync limit is stopping enrollment now.".to_owned(),
        ),
        Some(d) => (
            format!("Nếu không đồng bộ, giới hạn đồng bộ sẽ chặn thu nhận sau {d} ngày."),
            format!("Without a sync, the sync limit will stop enrollment in {d} days."),
        ),
        None => (
            "Chưa có gì cần đồng bộ.".to_owned(),
            "Nothing to sync yet.".to_owned(),
        ),
    };
    let verdict = match f.soonest() {
        Some(d) if d <= FORECAST_WARN_DAYS => Verdict::Warning,
        _ => Verdict::Ok,
    };
    Check::new(
        "forecast",
        verdict,
        format!("{pace_vi} {} {}", storage.0, sync.0),
        format!("{pace_en} {} {}", storage.1, sync.1),
    )
}

fn counts(store: &Store) -> Check {
    match store.count_by_status() {
        Ok(rows) => {
            let text: Vec<String> = rows.iter().map(|(s, n)| format!("{s}: {n}")).collect();
            let text = if text.is_empty() {
                "0".to_owned()
            } else {
                text.join(", ")
            };
            Check::new(
                "records",
                Verdict::Ok,
                format!("Số hồ sơ theo trạng thái: {text}."),
                format!("Records by status: {text}."),
            )
        }
        Err(e) => Check::new(
            "records",
            Verdict::Fail,
            format!("Không đếm được hồ sơ: {e}"),
            format!("Cannot count records: {e}"),
        ),
    }
}

/// The clock must be after the build year and not behind the newest thing saved.
fn clock(store: &Store, now: DateTime<Utc>) -> Check {
    let floor = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(now);
    let latest = store
        .usage()
        .ok()
        .and_then(|u| u.latest_write)
        .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc));
    let shown = now.format("%Y-%m-%d %H:%M UTC");
    if now < floor {
        return Check::new(
            "clock",
            Verdict::Fail,
            format!("Đồng hồ sai ({shown}): hãy chỉnh giờ trước khi thu nhận."),
            format!("The clock is wrong ({shown}): set the time before enrolling."),
        );
    }
    match latest {
        Some(t) if t > now + Duration::minutes(5) => Check::new(
            "clock",
            Verdict::Fail,
            format!(
                "Đồng hồ ({shown}) chậm hơn dữ liệu mới nhất đã lưu ({}): hãy chỉnh giờ.",
                t.format("%Y-%m-%d %H:%M UTC")
            ),
            format!(
                "The clock ({shown}) is behind the newest saved data ({}): set the time.",
                t.format("%Y-%m-%d %H:%M UTC")
            ),
        ),
        _ => Check::new(
            "clock",
            Verdict::Ok,
            format!("Đồng hồ hợp lý ({shown})."),
            format!("The clock looks right ({shown})."),
        ),
    }
}

fn audit(store: &Store) -> Check {
    match store.audit_report(None) {
        Ok(r) => match r.problem_text() {
            None => Check::new(
                "audit",
                Verdict::Ok,
                format!("Nhật ký kiểm tra nguyên vẹn ({} mục).", r.verified),
                format!("The audit log is intact ({} entries).", r.verified),
            ),
            Some((vi, en)) => Check::new("audit", Verdict::Fail, vi, en),
        },
        Err(e) => Check::new(
            "audit",
            Verdict::Fail,
            format!("Không kiểm tra được nhật ký: {e}"),
            format!("Cannot check the audit log: {e}"),
        ),
    }
}
