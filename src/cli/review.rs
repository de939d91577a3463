//! `kiosk review list|approve|return`: a supervisor's decisions, signed with the device key.

use anyhow::Context;
use chrono::Utc;
use clap::Subcommand;
use std::path::Path;

use super::accounts::supervisor;
use super::CliError;
use crate::review::{self, ReviewError};
use crate::store::Store;

#[derive(Subcommand)]
pub enum ReviewCmd {
    /// Records awaiting a supervisor, oldest first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Approve a record (id, id prefix or enrollment number).
    Approve {
        id: String,
        #[arg(long)]
        supervisor: String,
    },
    /// Send a record back to its operator with a reason.
    Return {
        id: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        supervisor: String,
    },
}

fn review_error(e: ReviewError) -> CliError {
    match e {
        ReviewError::Store(e) => CliError::Failed(e.into()),
        ReviewError::ReasonRequired | ReviewError::NoSuchRecord(_) => {
            CliError::Input(e.to_string())
        }
        other => CliError::Rejected(format!("{}\n{}", other.message_vi(), other.message_en())),
    }
}

pub fn run(cmd: ReviewCmd, data_dir: &Path) -> Result<(), CliError> {
    let mut store = Store::open(data_dir)?;
    let (id, sup, reason) = match cmd {
        ReviewCmd::List { json } => {
            let rows = review::awaiting(&store)?;
            if json {
                return super::records::print_json(&rows);
            }
            for r in &rows {
                println!("{:<22} {:<32} {}", r.enrollment_no, r.full_name, r.id);
            }
            println!("{} hồ sơ chờ duyệt / records awaiting approval", rows.len());
            return Ok(());
        }
        ReviewCmd::Approve { id, supervisor } => (id, supervisor, None),
        ReviewCmd::Return {
            id,
            reason,
            supervisor,
        } => (id, supervisor, Some(reason)),
    };
    if reason.as_deref().is_some_and(|r| r.trim().is_empty()) {
        return Err(review_error(ReviewError::ReasonRequired));
    }
    let uuid = store.resolve(&id)?.ok_or_else(|| {
        CliError::Input(format!("không tìm thấy hồ sơ / no record matches `{id}`"))
    })?;
    let by = supervisor(&mut store, &sup)?;
    let key = crate::store::vault::device_key(data_dir).context("loading the device key")?;
    let now = Utc::now();
    let event = match reason {
        None => review::approve(&mut store, &key, &by, &uuid, now),
        Some(reason) => review::return_to_operator(&mut store, &key, &by, &uuid, &reason, now),
    }
    .map_err(review_error)?;
    store.lock();
    match event.reason {
        None => println!("đã duyệt / approved {uuid}"),
        Some(r) => println!("đã trả lại / returned {uuid}: {r}"),
    }
    Ok(())
}
