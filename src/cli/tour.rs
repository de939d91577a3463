//! `kiosk tour --out DIR [--hq-bin PATH]`: a whole visit through the real UI, no display needed.

use clap::Args;
use std::path::PathBuf;

use super::CliError;
use crate::tour::{self, TourOptions};

#[derive(Args)]
pub struct TourArgs {
    /// Where the screenshots, `tour.md` and the tour's own data go.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The `enroll-hq` binary to sync to (default: beside `kiosk`).
    #[arg(long, value_name = "PATH")]
    hq_bin: Option<PathBuf>,
}

pub fn run(args: TourArgs) -> Result<(), CliError> {
    let report = tour::run(&TourOptions {
        out: args.out.clone(),
        hq_bin: args.hq_bin,
    })
    .map_err(|e| CliError::Failed(e.into()))?;
    for s in &report.steps {
        println!("{:>6} ms  {:<16} {}", s.ms, s.name, s.seen_vi);
        println!("{:>26}{}", "", s.seen_en);
    }
    println!("{}", report.verdict());
    println!(
        "Ảnh và báo cáo / screens and report: {}",
        args.out.join("tour.md").display()
    );
    if !report.reached_hq() {
        return Err(CliError::Failed(anyhow::anyhow!(
            "hồ sơ chưa đến trung tâm / the record did not reach HQ"
        )));
    }
    Ok(())
}
