//! `kiosk records ...`, `kiosk check`, `kiosk demo-data`.

use anyhow::Context;
use chrono::Utc;
use clap::{Args, Subcommand};
use enroll_sync::record::{json_schema, Attribution, Enrollment, RecordStatus};
use enroll_sync::validate::{self, Finding, Severity};
use std::io::Write;
use std::path::Path;

use super::input::read_records;
use super::CliError;
use crate::enroll::{self, Submission};
use crate::store::{ListQuery, Store};

#[derive(Subcommand)]
pub enum RecordsCmd {
    /// Validate and save records from a JSON file (one record or an array).
    Add {
        #[arg(long = "json", value_name = "FILE")]
        file: std::path::PathBuf,
        /// Acknowledge every warning (recorded in each record, attributed to the operator).
        #[arg(long)]
        accept_warnings: bool,
        /// The account adding the records; signs in with its PIN (KIOSK_PIN or the terminal).
        #[arg(long, env = "KIOSK_OPERATOR")]
        operator: String,
    },
    /// List records, newest first.
    List {
        #[arg(long, value_parser = parse_status)]
        status: Option<RecordStatus>,
        /// Name, ID number or enrollment number; accents and đ/d are ignored.
        #[arg(long)]
        search: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Show one record (by id, id prefix, enrollment number or ID number).
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of the record's import/export form.
    Schema,
}

#[derive(Args)]
pub struct DemoArgs {
    #[arg(long, default_value_t = 10)]
    count: usize,
    /// Print the records as a JSON array (the default).
    #[arg(long, conflicts_with = "save")]
    json: bool,
    /// Save the records to the store, printing each one as its save returns.
    #[arg(long)]
    save: bool,
    /// Seed for repeatable output (default: random).
    #[arg(long)]
    seed: Option<u64>,
}

fn parse_status(s: &str) -> Result<RecordStatus, String> {
    RecordStatus::parse(s).ok_or_else(|| {
        let all: Vec<&str> = RecordStatus::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown status `{s}`; one of: {}", all.join(", "))
    })
}

fn attribution(store: &Store, person: &str) -> Attribution {
    Attribution {
        person: person.to_owned(),
        device: store.kiosk().code.clone(),
        at: Utc::now(),
    }
}

pub fn run(cmd: RecordsCmd, data_dir: &Path) -> Result<(), CliError> {
    match cmd {
        RecordsCmd::Schema => print_json(&json_schema()),
        RecordsCmd::Add {
            file,
            accept_warnings,
            operator,
        } => add(&file, accept_warnings, &operator, data_dir),
        RecordsCmd::List {
            status,
            search,
            limit,
            json,
        } => {
            let store = Store::open(data_dir)?;
            let rows = store.list(&ListQuery {
                status,
                search,
                limit,
                before: None,
            })?;
            if json {
                return print_json(&rows);
            }
            println!(
                "{:<22} {:<10} {:<32} {:<10} {:<12}",
                "SỐ HỒ SƠ/NO.", "TRẠNG THÁI", "HỌ TÊN/NAME", "NGÀY SINH", "SỐ ĐỊNH DANH"
            );
            for r in &rows {
                println!(
                    "{:<22} {:<10} {:<32} {:<10} {:<12}",
                    r.enrollment_no,
                    r.status,
                    r.full_name,
                    r.birth_date.replace("-00", ""),
                    r.id_number.as_deref().unwrap_or("-")
                );
            }
            println!("{} hồ sơ / records", rows.len());
            Ok(())
        }
        RecordsCmd::Show { id, json } => {
            let store = Store::open(data_dir)?;
            let uuid = store.resolve(&id)?.ok_or_else(|| {
                CliError::Input(format!("không tìm thấy hồ sơ / no record matches `{id}`"))
            })?;
            let record = store.load(&uuid)?.ok_or_else(|| {
                CliError::Input(format!("không tìm thấy hồ sơ / no record {uuid}"))
            })?;
            if json {
                print_json(&record)
            } else {
                print_record(&record);
                Ok(())
            }
        }
    }
}

fn add(
    file: &Path,
    accept_warnings: bool,
    operator: &str,
    data_dir: &Path,
) -> Result<(), CliError> {
    let records = read_records(file)?;
    let mut store = Store::open(data_dir)?;
    let session = super::accounts::sign_in(&mut store, operator)?;
    let guard = crate::guards::check(&store, Utc::now())?;
    if !guard.allows_new_enrollment() {
        return Err(CliError::Rejected(format!(
            "{}\nKhông lưu hồ sơ nào / nothing was saved.",
            guard.text()
        )));
    }
    if guard.level > crate::guards::Level::Ok {
        eprintln!("{}", guard.text());
    }
    // Check everything first so that a file with one bad record writes nothing.
    let by = attribution(&store, &session.person);
    let mut rejected = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, record) in records.iter().enumerate() {
        let mut refused = enroll::import_authority(&store, record, &session.person)?;
        if !seen.insert(record.id) {
            refused.push(Finding {
                path: "id".into(),
                severity: Severity::Error,
                code: "import.repeated".into(),
                message_vi: format!("Hồ sơ {} xuất hiện hai lần trong tệp.", record.id),
                message_en: format!("Record {} appears twice in the file.", record.id),
            });
        }
        if !refused.is_empty() {
            rejected.push(format_findings(i, record, &refused));
            continue;
        }
        let mut r = record.clone();
        enroll::prepare(&store, &mut r, &by);
        let found = enroll::findings(&store, &r, &by)?;
        let blocking: Vec<&Finding> = validate::blocking(&r, &found)
            .into_iter()
            .filter(|f| !(accept_warnings && f.severity == Severity::Warning))
            .collect();
        if !blocking.is_empty() {
            rejected.push(format_findings(
                i,
                &r,
                &blocking.into_iter().cloned().collect::<Vec<_>>(),
            ));
        }
    }
    if !rejected.is_empty() {
        return Err(CliError::Rejected(format!(
            "{}\nKhông lưu hồ sơ nào / nothing was saved: sửa lỗi hoặc xác nhận cảnh báo (--accept-warnings) / fix the errors or acknowledge the warnings.",
            rejected.join("\n")
        )));
    }
    for record in records {
        match enroll::submit(&mut store, record, &by, accept_warnings)? {
            Submission::Saved { outcome, findings } => {
                println!("đã lưu / saved {} {}", outcome.enrollment_no, outcome.id);
                for f in &findings {
                    println!("  {}", finding_line(f));
                }
            }
            Submission::Rejected { blocking, .. } => {
                return Err(CliError::Rejected(
                    blocking
                        .iter()
                        .map(finding_line)
                        .collect::<Vec<_>>()
                        .join("\n"),
                ));
            }
        }
    }
    Ok(())
}

pub fn check(file: &Path) -> Result<(), CliError> {
    let records = read_records(file)?;
    let now = Utc::now();
    let mut any_error = false;
    let report: Vec<serde_json::Value> = records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            validate::normalize_record(&mut r);
            let findings = validate::validate(&r, now);
            any_error |= !validate::blocking(&r, &findings).is_empty();
            serde_json::json!({ "id": r.id, "findings": findings })
        })
        .collect();
    print_json(&report)?;
    if any_error {
        return Err(CliError::Rejected(
            "có lỗi cần sửa / some records have findings to fix or acknowledge".into(),
        ));
    }
    Ok(())
}

pub fn demo(args: DemoArgs, data_dir: &Path) -> Result<(), CliError> {
    let seed = args.seed.unwrap_or_else(rand::random);
    let mut generator = crate::demo::DemoGenerator::new(seed, Utc::now());
    if !args.save {
        let records: Vec<Enrollment> = (0..args.count).map(|_| generator.record()).collect();
        return print_json(&records);
    }
    let mut store = Store::open(data_dir)?;
    let mut out = std::io::stdout().lock();
    for _ in 0..args.count {
        let record = generator.record();
        let by = attribution(&store, "demo");
        match enroll::submit(&mut store, record, &by, false)? {
            Submission::Saved { outcome, .. } => {
                // One line per returned save, flushed, so a watcher knows exactly what is durable.
                writeln!(out, "saved {} {}", outcome.id, outcome.enrollment_no)
                    .context("writing to stdout")?;
                out.flush().context("writing to stdout")?;
            }
            Submission::Rejected { blocking, .. } => {
                let lines: Vec<String> = blocking.iter().map(finding_line).collect();
                return Err(CliError::Failed(anyhow::anyhow!(
                    "demo record rejected: {}",
                    lines.join("; ")
                )));
            }
        }
    }
    Ok(())
}

fn finding_line(f: &Finding) -> String {
    let level = match f.severity {
        Severity::Error => "LỖI/ERROR",
        Severity::Warning => "CẢNH BÁO/WARNING",
    };
    format!(
        "[{level}] {} ({}): {} / {}",
        f.path, f.code, f.message_vi, f.message_en
    )
}

fn format_findings(index: usize, r: &Enrollment, findings: &[Finding]) -> String {
    let mut out = format!("hồ sơ / record {index} ({}):", r.applicant.name.full());
    for f in findings {
        out.push_str("\n  ");
        out.push_str(&finding_line(f));
    }
    out
}

pub(super) fn print_json<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).context("encoding JSON")?;
    println!("{text}");
    Ok(())
}

fn print_record(r: &Enrollment) {
    use enroll_sync::text::card_upper;
    let a = &r.applicant;
    let (kind_vi, kind_en) = r.application.kind.label();
    let (status_vi, status_en) = r.review.status.label();
    let (sex_vi, sex_en) = a.sex.label();
    let lines = [
        ("Số hồ sơ / Enrollment no.", r.enrollment_no.clone()),
        ("Mã hồ sơ / Record id", r.id.to_string()),
        ("Thủ tục / Application", format!("{kind_vi} / {kind_en}")),
        ("Trạng thái / Status", format!("{status_vi} / {status_en}")),
        ("Họ tên / Name", card_upper(&a.name.full())),
        (
            "Số định danh / ID number",
            a.id_number.clone().unwrap_or_else(|| "-".into()),
        ),
        ("Ngày sinh / Born", a.birth_date.display()),
        ("Giới tính / Sex", format!("{sex_vi} / {sex_en}")),
        ("Quốc tịch / Nationality", a.nationality.clone()),
        (
            "Kiosk / Operator",
            format!("{} / {}", r.capture.kiosk_id, r.capture.operator_id),
        ),
    ];
    for (label, value) in lines {
        println!("{label:<28} {value}");
    }
    if let Some(addr) = a
        .permanent_residence
        .as_ref()
        .or(a.current_residence.as_ref())
    {
        let data = enroll_sync::refdata::refdata();
        let commune = data
            .commune(&addr.commune_code)
            .map_or("", |c| c.name.as_str());
        let province = data
            .province(&addr.province_code)
            .map_or("", |p| p.name.as_str());
        println!(
            "{:<28} {}, {commune}, {province}",
            "Nơi ở / Residence", addr.detail
        );
    }
    if let Some(hq) = &r.review.hq {
        let (vi, en) = hq.status.label();
        println!(
            "{:<28} {vi} / {en} {}",
            "HQ",
            hq.reason.as_deref().unwrap_or("")
        );
    }
    if let Some(d) = &r.review.duplicate {
        let (vi, en) = d.verdict.label();
        println!(
            "{:<28} {vi} / {en}: {} ({})",
            "Trùng hồ sơ / Duplicate", d.reason, d.by
        );
    }
    for e in &r.review.history {
        println!(
            "  {} {:?} {} @ {} {}",
            e.at.to_rfc3339(),
            e.action,
            e.by,
            e.device,
            e.reason.as_deref().unwrap_or("")
        );
    }
}
