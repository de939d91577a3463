//! `kiosk camera list` and `kiosk camera snap`.

use clap::{Args, Subcommand};
use enroll_hardware::camera::v4l2::{list_devices, probe_modes};
use enroll_hardware::camera::{
    negotiate, open_source, CameraError, DeviceSelector, ModeRequirements, VideoMode,
};
use enroll_hardware::photo::save_image;
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::CliError;

#[derive(Subcommand)]
pub enum CameraCmd {
    /// List V4L2 cameras, the modes they offer and the mode the kiosk would pick.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Take one picture and save it (PNG or JPEG, by the file extension).
    Snap(SnapArgs),
}

#[derive(Args)]
pub struct SnapArgs {
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// A V4L2 index (0 for /dev/video0), `sim`, `sim:<faults>` (e.g. `sim:dark`,
    /// `sim:ok:30,lost:20,ok`), `sim:dir=<folder>`, or `auto`.
    #[arg(long, alias = "camera", default_value = "auto")]
    device: String,
    /// Demo mode: with `auto`, use the simulated camera when no camera is found.
    #[arg(long, env = "KIOSK_DEMO")]
    demo: bool,
    /// Let a real camera settle its exposure this long before the picture is kept.
    #[arg(long, default_value_t = 1500, value_name = "MS")]
    settle_ms: u64,
}

pub fn run(cmd: CameraCmd) -> Result<(), CliError> {
    match cmd {
        CameraCmd::List { json } => list(json),
        CameraCmd::Snap(args) => snap(args),
    }
}

/// Bilingual one-line form of a camera error.
pub fn camera_message(e: &CameraError) -> String {
    format!("{} / {}", e.message_vi(), e.message_en())
}

#[derive(Serialize)]
struct Listed {
    index: u32,
    name: String,
    description: String,
    modes: Vec<VideoMode>,
    chosen: Option<VideoMode>,
    meets_requirements: bool,
    error: Option<String>,
}

fn list(json: bool) -> Result<(), CliError> {
    let devices =
        list_devices().map_err(|e| CliError::Failed(anyhow::anyhow!(camera_message(&e))))?;
    let listed: Vec<Listed> = devices
        .into_iter()
        .map(|d| {
            let (modes, error) = match probe_modes(d.index) {
                Ok(m) => (m, None),
                Err(e) => (Vec::new(), Some(camera_message(&e))),
            };
            let chosen = negotiate(&modes, &ModeRequirements::default());
            Listed {
                index: d.index,
                name: d.name,
                description: d.description,
                chosen: chosen.map(|c| c.mode),
                meets_requirements: chosen.is_some_and(|c| c.meets_requirements),
                modes,
                error,
            }
        })
        .collect();
    if json {
        let out = serde_json::json!({ "devices": listed, "simulator": "sim" });
        println!("{out:#}");
        return Ok(());
    }
    if listed.is_empty() {
        println!("{}", camera_message(&CameraError::NoCamera));
    }
    for d in &listed {
        println!("[{}] {} — {}", d.index, d.name, d.description);
        match (&d.chosen, &d.error) {
            (_, Some(e)) => println!("    {e}"),
            (Some(m), None) => {
                let note = if d.meets_requirements {
                    ""
                } else {
                    " (dưới chuẩn 1280x720 / below the 1280x720 standard)"
                };
                println!("    chọn / picks: {m}{note}");
                println!("    {} chế độ / modes offered", d.modes.len());
            }
            (None, None) => println!("    không có chế độ MJPEG/YUYV / no MJPEG or YUYV mode"),
        }
    }
    println!("Camera giả lập / simulated camera: --device sim");
    Ok(())
}

fn snap(args: SnapArgs) -> Result<(), CliError> {
    let selector: DeviceSelector = args
        .device
        .parse()
        .map_err(|e: CameraError| CliError::Input(camera_message(&e)))?;
    let simulated = matches!(selector, DeviceSelector::Sim(_));
    let fail = |e: CameraError| CliError::Failed(anyhow::anyhow!(camera_message(&e)));
    let source = open_source(&selector, args.demo).map_err(fail)?;
    let stream = source.start().map_err(fail)?;
    // A real camera needs a moment for auto-exposure; the simulator is right at once.
    let settle = if simulated {
        Duration::ZERO
    } else {
        Duration::from_millis(args.settle_ms)
    };
    let started = Instant::now();
    let frame = loop {
        let f = stream.next_frame(Duration::from_secs(5)).map_err(fail)?;
        if started.elapsed() >= settle {
            break f;
        }
    };
    stream.stop();
    save_image(&frame.image, &args.out).map_err(|e| {
        CliError::Failed(anyhow::anyhow!("{} / {}", e.message_vi(), e.message_en()))
    })?;
    println!(
        "{} {}x{} — {}",
        args.out.display(),
        frame.image.width(),
        frame.image.height(),
        source.describe().name
    );
    Ok(())
}
