//! `kiosk doctor [--json]`: a plain verdict per area; exit 1 when any check fails.

use chrono::Utc;
use clap::Args;
use std::path::Path;

use super::CliError;
use crate::doctor::{self, Probes, Verdict};
use crate::store::Store;

#[derive(Args)]
pub struct DoctorArgs {
    #[arg(long)]
    json: bool,
}

pub fn run(args: DoctorArgs, data_dir: &Path) -> Result<(), CliError> {
    let store = Store::open(data_dir)?;
    let report = doctor::run(&store, Utc::now(), &Probes::default());
    if args.json {
        super::records::print_json(&report)?;
    } else {
        for c in &report.checks {
            println!("[{:<7}] {:<11} {}", c.verdict.label(), c.name, c.message_vi);
            println!("{:>21}{}", "", c.message_en);
        }
    }
    if report.verdict == Verdict::Fail {
        return Err(CliError::Rejected(
            "Có mục kiểm tra không đạt / some checks failed".into(),
        ));
    }
    Ok(())
}
