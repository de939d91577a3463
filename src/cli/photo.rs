//! `kiosk photo check` and `kiosk photo prepare`.

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use enroll_hardware::photo::{
    check_frame, load_image, process_frame, write_atomically, Guide, PhotoConfig, PhotoError,
    PhotoOutcome, PhotoProfile, PhotoReport, RgbImage, DEFAULT_MAX_BYTES,
};
use std::path::PathBuf;

use super::CliError;

#[derive(Subcommand)]
pub enum PhotoCmd {
    /// Run the quality checks on a camera picture; exit 1 when it would be rejected.
    Check {
        file: PathBuf,
        #[command(flatten)]
        opts: PhotoOpts,
        #[arg(long)]
        json: bool,
    },
    /// Crop, check and encode a camera picture into the card photo JPEG.
    Prepare {
        file: PathBuf,
        #[arg(long, value_name = "OUT.jpg")]
        out: PathBuf,
        /// JPEG size budget in bytes.
        #[arg(long, default_value_t = DEFAULT_MAX_BYTES)]
        max_bytes: usize,
        #[command(flatten)]
        opts: PhotoOpts,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct PhotoOpts {
    /// `card`: the 2:3 face photo; `exception`: face with both palms, 3:2, for a finger
    /// exception.
    #[arg(long, value_enum, default_value_t = Profile::Card)]
    profile: Profile,
    /// Use the largest centred crop instead of the kiosk's on-screen guide (for pictures
    /// that are already framed).
    #[arg(long)]
    whole: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Profile {
    Card,
    Exception,
}

impl PhotoOpts {
    fn config(&self, max_bytes: usize) -> PhotoConfig {
        let profile = match self.profile {
            Profile::Card => PhotoProfile::CardFace,
            Profile::Exception => PhotoProfile::FingerException,
        };
        let mut config = PhotoConfig::new(profile);
        config.max_bytes = max_bytes;
        if self.whole {
            config.guide = Guide {
                height: 1.0,
                ..Guide::centred()
            };
        }
        config
    }
}

pub fn run(cmd: PhotoCmd) -> Result<(), CliError> {
    match cmd {
        PhotoCmd::Check { file, opts, json } => {
            let frame = load(&file)?;
            let report = check_frame(&frame, &opts.config(DEFAULT_MAX_BYTES)).map_err(cli_error)?;
            if json {
                println!(
                    "{:#}",
                    serde_json::to_value(&report).map_err(anyhow::Error::from)?
                );
            } else {
                print_report(&report);
            }
            verdict(&report)
        }
        PhotoCmd::Prepare {
            file,
            out,
            max_bytes,
            opts,
            json,
        } => {
            let frame = load(&file)?;
            let outcome = process_frame(&frame, &opts.config(max_bytes)).map_err(cli_error)?;
            let photo = match outcome {
                PhotoOutcome::Accepted { photo, .. } => photo,
                PhotoOutcome::Rejected { report } => {
                    if !json {
                        print_report(&report);
                    }
                    return verdict(&report);
                }
            };
            write_atomically(&out, &photo.jpeg)
                .with_context(|| format!("cannot write {}", out.display()))?;
            if json {
                println!(
                    "{:#}",
                    serde_json::to_value(&photo).map_err(anyhow::Error::from)?
                );
            } else {
                println!(
                    "{} {}x{} {} byte, chất lượng / quality {}, sha256 {}",
                    out.display(),
                    photo.width,
                    photo.height,
                    photo.bytes,
                    photo.quality,
                    photo.sha256
                );
            }
            Ok(())
        }
    }
}

fn load(file: &std::path::Path) -> Result<RgbImage, CliError> {
    load_image(file).map_err(|e| CliError::Input(photo_message(&e)))
}

/// A picture that cannot be used is the caller's input problem; anything else failed.
fn cli_error(e: PhotoError) -> CliError {
    match e {
        PhotoError::TooSmall { .. } | PhotoError::Read { .. } => CliError::Input(photo_message(&e)),
        other => CliError::Failed(anyhow::anyhow!(photo_message(&other))),
    }
}

fn photo_message(e: &PhotoError) -> String {
    format!("{} / {}", e.message_vi(), e.message_en())
}

fn print_report(report: &PhotoReport) {
    for c in &report.checks {
        let mark = if c.passed {
            "đạt / ok  "
        } else {
            "LỖI / FAIL"
        };
        println!(
            "{mark}  {:?} = {:.2}: {} / {}",
            c.check, c.value, c.message_vi, c.message_en
        );
    }
    if report.accepted {
        println!("Ảnh đạt yêu cầu / photo accepted");
    }
}

fn verdict(report: &PhotoReport) -> Result<(), CliError> {
    if report.accepted {
        return Ok(());
    }
    let failed: Vec<String> = report
        .failures()
        .map(|c| format!("{:?}", c.check))
        .collect();
    Err(CliError::Rejected(format!(
        "Ảnh không đạt / photo rejected: {}",
        failed.join(", ")
    )))
}
