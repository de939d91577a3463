//! `enroll-hq`: the headquarters server and its administration commands.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use enroll_hq::{self as hq, Hq, HqError, Options, Page, RecordQuery};
use enroll_sync::provision::{fingerprint, spoken_fingerprint, EnrolmentRequest};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "enroll-hq",
    version,
    about = "Trụ sở (HQ) / enrollment headquarters"
)]
struct Cli {
    /// HQ's data directory (database and keys).
    #[arg(
        long,
        env = "ENROLL_HQ_DATA_DIR",
        global = true,
        default_value = "hq-data"
    )]
    data_dir: PathBuf,
    /// PostgreSQL (`postgres://USER@HOST/DB`); without it, SQLite in the data directory.
    #[arg(long, env = "ENROLL_HQ_DATABASE", global = true)]
    database: Option<String>,
    /// Blob storage (`s3://bucket/prefix`, with the usual AWS variables); default `blobs/` in
    /// the data directory.
    #[arg(long, env = "ENROLL_HQ_BLOBS", global = true)]
    blobs: Option<String>,
    /// A PostgreSQL streaming replica for listings, duplicate groups, counts and the kiosk
    /// list; without it, the primary serves them.
    #[arg(long, env = "ENROLL_HQ_READ_DATABASE", global = true)]
    read_database: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve kiosk sync sessions over HTTP.
    Serve {
        #[arg(long, default_value = "127.0.0.1:7070")]
        listen: String,
        /// Dashboard cookies without `Secure`: only for plain-HTTP tests on loopback.
        #[arg(long)]
        insecure_cookies: bool,
        /// Seconds HQ waits on a silent peer (mid-request or not reading) before closing.
        #[arg(long, default_value_t = 60)]
        idle_timeout: u64,
        /// Open connections at most, overall.
        #[arg(long, default_value_t = 256)]
        max_connections: usize,
        /// Open connections at most from one address (kiosks behind one NAT share one).
        #[arg(long, default_value_t = 32)]
        max_connections_per_address: usize,
        /// Records (new or changed) one kiosk may send per UTC day.
        #[arg(long)]
        quota_records_per_day: Option<u64>,
        /// Blob bytes one kiosk may send over its life.
        #[arg(long)]
        quota_blob_bytes: Option<u64>,
        /// Serve HTTPS with this certificate (PEM, leaf first); needs --tls-key. Without it,
        /// plain HTTP (for loopback or behind a TLS-terminating proxy).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The certificate's private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// HQ's TLS certificate.
    #[command(subcommand)]
    Tls(TlsCmd),
    /// Dashboard users.
    #[command(subcommand)]
    Users(UsersCmd),
    /// Enrol or revoke one kiosk.
    #[command(subcommand)]
    Kiosk(KioskCmd),
    /// List enrolled kiosks.
    #[command(subcommand)]
    Kiosks(KiosksCmd),
    /// List records, set a record's HQ status.
    #[command(subcommand)]
    Records(RecordsCmd),
    /// Import USB bundles (any number, any order); writes a signed receipt beside each.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Where receipts go (default: beside each bundle, `<bundle>.receipt`).
        #[arg(long)]
        receipt_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KioskCmd {
    /// Allow a kiosk's device key and write its provisioning file.
    Add {
        #[arg(long)]
        name: String,
        /// The kiosk's public key (hex), as `kiosk provision --request` printed it.
        #[arg(long, required_unless_present = "request", conflicts_with = "request")]
        key: Option<String>,
        /// The enrolment request file `kiosk provision --request FILE` wrote.
        #[arg(long)]
        request: Option<PathBuf>,
        /// Kiosk id/code (default: the next `K00001`-style id).
        #[arg(long)]
        code: Option<String>,
        /// The address kiosks sync to.
        #[arg(long, default_value = "http://127.0.0.1:7070")]
        hq_url: String,
        /// Provisioning file to write (default: `<id>.provision.json`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The certificate `serve --tls-cert` uses (PEM): its pin goes into the file, and is the
        /// only certificate the kiosk will accept. Needed for an https:// --hq-url.
        #[arg(long)]
        tls_cert: Option<PathBuf>,
    },
    /// Refuse everything from this kiosk from now on.
    Revoke { id: String },
}

#[derive(Subcommand)]
enum TlsCmd {
    /// Make a self-signed certificate and key (PEM) for `serve --tls-cert/--tls-key`, for a
    /// deployment with no CA: kiosks trust it through the pin in their provisioning file.
    Generate {
        /// Names kiosks use to reach HQ: DNS names or IP addresses (repeat or comma-separate).
        #[arg(long = "name", value_delimiter = ',', required = true)]
        names: Vec<String>,
        #[arg(long, default_value = "hq-tls.crt")]
        cert_out: PathBuf,
        #[arg(long, default_value = "hq-tls.key")]
        key_out: PathBuf,
    },
}

#[derive(Subcommand)]
enum UsersCmd {
    /// Add a dashboard user; the password is read from the first line of standard input.
    Add {
        #[arg(long)]
        name: String,
        /// admin, reviewer or viewer.
        #[arg(long)]
        role: String,
        /// Province codes the user may see (repeat or comma-separate); none: every province.
        #[arg(long = "province", value_delimiter = ',')]
        provinces: Vec<String>,
        /// Read the password from standard input (the only way; accepted for scripts).
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum KiosksCmd {
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum RecordsCmd {
    /// Records matching the filters, a page at a time (oldest first unless --newest-first).
    List {
        #[arg(long)]
        json: bool,
        #[arg(long)]
        kiosk: Option<String>,
        #[arg(long)]
        province: Option<String>,
        #[arg(long)]
        commune: Option<String>,
        /// Kiosk status (draft, awaiting_review, approved, returned...).
        #[arg(long)]
        status: Option<String>,
        /// HQ status, or `none`.
        #[arg(long)]
        hq_status: Option<String>,
        /// Captured on or after this day (YYYY-MM-DD, UTC).
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        /// Captured before this day (YYYY-MM-DD, UTC).
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
        /// Name search, with or without diacritics.
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        id_number: Option<String>,
        /// The last record id of the previous page.
        #[arg(long)]
        after: Option<uuid::Uuid>,
        #[arg(long, default_value_t = 1000)]
        limit: u32,
        #[arg(long)]
        newest_first: bool,
    },
    /// Groups of records that share an ID number.
    Duplicates {
        #[arg(long)]
        after: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Record counts per kiosk by status and HQ status.
    Counts {
        #[arg(long)]
        after: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// received, duplicate, recapture_needed, card_printed, rejected
    SetStatus {
        id: String,
        status: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long, default_value = "hq-admin")]
        by: String,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lỗi / error: {e:#}");
            ExitCode::from(3)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Tls(TlsCmd::Generate {
        names,
        cert_out,
        key_out,
    }) = &cli.command
    {
        let pin = hq::tls::generate(names, cert_out, key_out)?;
        println!(
            "đã tạo chứng chỉ / certificate written: {} (khóa / key {})\n\
             dấu ghim / pin (SHA-256): {}",
            cert_out.display(),
            key_out.display(),
            hex::encode(pin)
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut hq = Hq::open_with(Options {
        database: cli.database.clone(),
        blobs: cli.blobs.clone(),
        read_database: cli.read_database.clone(),
        ..Options::in_dir(&cli.data_dir)
    })
    .with_context(|| format!("opening HQ data in {}", cli.data_dir.display()))?;
    match cli.command {
        Command::Serve {
            listen,
            insecure_cookies,
            idle_timeout,
            max_connections,
            max_connections_per_address,
            quota_records_per_day,
            quota_blob_bytes,
            tls_cert,
            tls_key,
        } => {
            let mut limits = hq.limits().clone();
            limits.records_per_day = quota_records_per_day.unwrap_or(limits.records_per_day);
            limits.blob_bytes_per_kiosk = quota_blob_bytes.unwrap_or(limits.blob_bytes_per_kiosk);
            hq.set_limits(limits);
            let conn = hq::conn::ConnLimits {
                per_address: max_connections_per_address,
                total: max_connections,
                idle: std::time::Duration::from_secs(idle_timeout.max(1)),
            };
            let listener = std::net::TcpListener::bind(&listen)
                .with_context(|| format!("listening on {listen}"))?;
            let tls = match (&tls_cert, &tls_key) {
                (Some(cert), Some(key)) => Some(hq::tls::server_config(cert, key)?),
                _ => None,
            };
            let scheme = if tls.is_some() { "https" } else { "http" };
            eprintln!(
                "enroll-hq listening on {scheme}://{}",
                listener.local_addr()?
            );
            if let Some(cert) = &tls_cert {
                eprintln!(
                    "dấu ghim chứng chỉ TLS / TLS certificate pin: {}",
                    hex::encode(hq::tls::pin_of(cert)?)
                );
            }
            let dash = hq::dashboard::DashConfig {
                secure_cookies: !insecure_cookies,
            };
            hq::server::serve_tls(listener, std::sync::Arc::new(hq), dash, conn, tls)?;
        }
        Command::Users(UsersCmd::Add {
            name,
            role,
            provinces,
            password_stdin: _,
        }) => {
            use std::io::{BufRead, IsTerminal};
            if std::io::stdin().is_terminal() {
                eprint!("Mật khẩu / Password: ");
            }
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            let user =
                hq::dashboard::auth::add_user(&hq, &name, &role, &provinces, password, "cli")?;
            println!(
                "đã thêm người dùng / user added: {} ({}){}",
                user.name,
                user.role,
                if user.provinces.is_empty() {
                    String::new()
                } else {
                    format!(" provinces {}", user.provinces.join(","))
                }
            );
        }
        Command::Kiosk(KioskCmd::Add {
            name,
            key,
            request,
            code,
            hq_url,
            out,
            tls_cert,
        }) => {
            let pin = match &tls_cert {
                Some(cert) => Some(hq::tls::pin_of(cert)?),
                None => None,
            };
            if hq_url.starts_with("https://") && pin.is_none() {
                bail!(
                    "--hq-url là https:// nên cần --tls-cert (chứng chỉ HQ phục vụ) / \
                     an https:// --hq-url needs --tls-cert (the certificate HQ serves)"
                );
            }
            let key = match (key, request) {
                (Some(k), _) => k,
                (None, Some(path)) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    let req: EnrolmentRequest = serde_json::from_str(&text).with_context(|| {
                        format!("{} is not an enrolment request", path.display())
                    })?;
                    req.kiosk_public
                }
                (None, None) => bail!("give --key HEX or --request FILE"),
            };
            let entry = hq.add_kiosk(&name, &key, code.as_deref())?;
            let file = hq.provisioning_pinned(&entry, &hq_url, pin);
            let out = out.unwrap_or_else(|| PathBuf::from(format!("{}.provision.json", entry.id)));
            std::fs::write(&out, serde_json::to_string_pretty(&file)?)
                .with_context(|| format!("writing {}", out.display()))?;
            println!(
                "đã đăng ký ki-ốt / kiosk enrolled: {} ({}) key {}\nprovisioning file: {}\n\
                 dấu khóa HQ (đọc cho người vận hành so) / HQ key fingerprint (read it to the operator): {}",
                entry.id,
                entry.name,
                fingerprint(&entry.public_key),
                out.display(),
                spoken_fingerprint(&hq.sign_public())
            );
        }
        // Made and printed above, before HQ's data was opened.
        Command::Tls(_) => {}
        Command::Kiosk(KioskCmd::Revoke { id }) => {
            hq.revoke_kiosk(&id)?;
            println!("đã thu hồi / revoked {id}");
        }
        Command::Kiosks(KiosksCmd::List { json }) => {
            let kiosks = hq.kiosks()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&kiosks)?);
            } else {
                for k in &kiosks {
                    println!(
                        "{:<10} {:<24} {} {}",
                        k.id,
                        k.name,
                        fingerprint(&k.public_key),
                        k.revoked_at
                            .map_or("active".to_owned(), |t| format!("REVOKED {t}"))
                    );
                }
            }
        }
        Command::Records(RecordsCmd::List {
            json,
            kiosk,
            province,
            commune,
            status,
            hq_status,
            from,
            to,
            name,
            id_number,
            after,
            limit,
            newest_first,
        }) => {
            let day = |d: chrono::NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc();
            let q = RecordQuery {
                kiosk,
                province,
                commune,
                status,
                hq_status: hq_status.map(|s| (s != "none").then_some(s)),
                captured_from: from.map(day),
                captured_to: to.map(day),
                name_key: name.map(|n| enroll_sync::text::search_key(&n)),
                id_number,
                ..RecordQuery::default()
            };
            let page = Page {
                after,
                limit,
                newest_first,
            };
            let rows = hq.list_records(&q, &page)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in &rows {
                    println!(
                        "{} {:<8} {:<22} {:<30} {:<12} {}",
                        r.id,
                        r.kiosk_id,
                        r.p.enrollment_no,
                        r.p.full_name,
                        r.p.id_number.as_deref().unwrap_or("-"),
                        r.p.hq_status.as_deref().unwrap_or("-")
                    );
                }
                println!("{} hồ sơ / records", rows.len());
            }
        }
        Command::Records(RecordsCmd::SetStatus {
            id,
            status,
            reason,
            by,
        }) => {
            let Some(state) = hq::parse_hq_state(&status) else {
                eprintln!(
                    "lỗi / error: trạng thái không hợp lệ / unknown status `{status}` \
                     (received, duplicate, recapture_needed, card_printed, rejected)"
                );
                return Ok(ExitCode::from(2));
            };
            let id =
                uuid::Uuid::parse_str(&id).with_context(|| format!("`{id}` is not a record id"))?;
            hq.set_status(&id, state, reason, &by)?;
            println!("đã đặt / set {id} → {status}");
        }
        Command::Records(RecordsCmd::Duplicates { after, limit }) => {
            let groups = hq
                .read_session()?
                .duplicate_groups(after.as_deref(), limit)?;
            println!("{}", serde_json::to_string_pretty(&groups)?);
        }
        Command::Records(RecordsCmd::Counts { after, limit }) => {
            let counts = hq.read_session()?.kiosk_counts(after.as_deref(), limit)?;
            println!("{}", serde_json::to_string_pretty(&counts)?);
        }
        Command::Import { files, receipt_dir } => {
            return import(&hq, &files, receipt_dir.as_deref())
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn import(hq: &Hq, files: &[PathBuf], receipt_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let mut failed = 0;
    for file in files {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        match hq.import_bundle(&bytes) {
            Ok((sealed, receipt)) => {
                let name = format!(
                    "{}.receipt",
                    file.file_name()
                        .map_or("bundle".into(), |n| n.to_string_lossy())
                );
                let out = match receipt_dir {
                    Some(d) => d.join(name),
                    None => file.with_file_name(name),
                };
                std::fs::write(&out, sealed)
                    .with_context(|| format!("writing {}", out.display()))?;
                println!(
                    "{}: ki-ốt / kiosk {}: {} hồ sơ đã nhận / records acknowledged, {} bị từ chối / refused; receipt {}",
                    file.display(),
                    receipt.kiosk_id,
                    receipt.acks.len(),
                    receipt.rejections.len(),
                    out.display()
                );
                for r in &receipt.rejections {
                    println!(
                        "  {} [{}] {} / {}",
                        r.record, r.code, r.message_vi, r.message_en
                    );
                }
            }
            Err(HqError::Refused(r)) => {
                failed += 1;
                eprintln!(
                    "{}: từ chối cả tệp / whole file refused: {r}",
                    file.display()
                );
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
