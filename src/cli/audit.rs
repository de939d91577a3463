//! `kiosk audit verify|show|checkpoint`.

use anyhow::Context;
use chrono::Utc;
use clap::Subcommand;
use std::path::Path;

use super::CliError;
use crate::store::Store;

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Check the whole log; names the first entry that was edited, deleted or moved.
    Verify {
        #[arg(long)]
        json: bool,
    },
    /// The newest entries, newest first.
    Show {
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Sign the log's current head with the device key (done on every export too).
    Checkpoint,
}

pub fn run(cmd: AuditCmd, data_dir: &Path) -> Result<(), CliError> {
    let store = Store::open(data_dir)?;
    let key_path = data_dir.join(crate::DEVICE_KEY_FILE);
    match cmd {
        AuditCmd::Verify { json } => {
            // Check the checkpoint against this kiosk's own key when it has one.
            let public = if key_path.exists() {
                Some(
                    crate::store::vault::device_key(data_dir)
                        .context("loading the device key")?
                        .public(),
                )
            } else {
                None
            };
            let report = store.audit_report(public.as_ref().map(|p| p.as_slice()))?;
            if json {
                super::records::print_json(&report)?;
            }
            match report.problem_text() {
                None => {
                    if !json {
                        println!(
                            "nhật ký nguyên vẹn / audit log intact: {} mục / entries",
                            report.verified
                        );
                    }
                    Ok(())
                }
                Some((vi, en)) => Err(CliError::Rejected(format!("{vi}\n{en}"))),
            }
        }
        AuditCmd::Show { limit, json } => {
            let entries = store.audit_entries(limit)?;
            if json {
                return super::records::print_json(&entries);
            }
            for e in &entries {
                println!(
                    "{:>6} {} {:<14} {:<24} {} {}",
                    e.seq,
                    e.at,
                    e.actor,
                    e.action,
                    e.subject.as_deref().unwrap_or("-"),
                    e.detail.as_deref().unwrap_or("")
                );
            }
            Ok(())
        }
        AuditCmd::Checkpoint => {
            let key =
                crate::store::vault::device_key(data_dir).context("loading the device key")?;
            let cp = store.checkpoint_audit(&key, Utc::now())?;
            println!("đã ký / signed checkpoint at {} entries", cp.count);
            Ok(())
        }
    }
}
