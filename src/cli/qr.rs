//! `kiosk qr read`: the identity card QR code in a picture, parsed all or nothing.

use clap::Subcommand;
use enroll_hardware::photo::load_image;
use enroll_hardware::qr::{read_card_qr_rgb, CardQr};
use std::path::PathBuf;

use super::CliError;

#[derive(Subcommand)]
pub enum QrCmd {
    /// Read the CCCD QR code in a picture and print its fields; exit 1 if it is not a valid
    /// identity card code.
    Read {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: QrCmd) -> Result<(), CliError> {
    match cmd {
        QrCmd::Read { file, json } => {
            let img = load_image(&file)
                .map_err(|e| CliError::Input(format!("{} / {}", e.message_vi(), e.message_en())))?;
            let card = read_card_qr_rgb(&img).map_err(|e| {
                CliError::Rejected(format!("{} / {}", e.message_vi(), e.message_en()))
            })?;
            if json {
                println!("{:#}", to_json(&card));
            } else {
                print_card(&card);
            }
            Ok(())
        }
    }
}

fn to_json(card: &CardQr) -> serde_json::Value {
    let warnings: Vec<serde_json::Value> = card
        .warnings
        .iter()
        .map(|w| serde_json::json!({ "message_vi": w.message_vi(), "message_en": w.message_en() }))
        .collect();
    serde_json::json!({
        "id_number": card.id_number,
        "old_id": card.old_id,
        "full_name": card.full_name,
        "date_of_birth": card.date_of_birth,
        "sex": card.sex,
        "address": card.address,
        "issue_date": card.issue_date,
        "warnings": warnings,
    })
}

fn print_card(card: &CardQr) {
    println!("Số định danh / ID number:      {}", card.id_number);
    println!(
        "Số CMND cũ / old ID:           {}",
        card.old_id.as_deref().unwrap_or("—")
    );
    println!("Họ tên / full name:            {}", card.full_name);
    println!(
        "Ngày sinh / date of birth:     {}",
        card.date_of_birth.format("%d/%m/%Y")
    );
    println!("Giới tính / sex:               {}", card.sex.label_vi());
    println!("Nơi thường trú / address:      {}", card.address);
    println!(
        "Ngày cấp / issue date:         {}",
        card.issue_date.format("%d/%m/%Y")
    );
    for w in &card.warnings {
        println!(
            "Cảnh báo / warning: {} / {}",
            w.message_vi(),
            w.message_en()
        );
    }
}
