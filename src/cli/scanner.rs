//! `kiosk scanner …`: talk to an R30x fingerprint scanner on a serial port.

use super::CliError;
use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use enroll_hardware::fingerprint::capture::{capture_finger, FingerCapture};
use enroll_hardware::fingerprint::{
    enroll, CaptureEvent, CapturePolicy, ExceptionReason, Finger, FingerException, FingerOutcome,
    FingerPlan, Scanner, ScannerConfig, ScannerError,
};
use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum ScannerCmd {
    /// System parameters and template count.
    Info {
        #[command(flatten)]
        port: PortArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Capture one finger: writes image.png, template.bin and quality.json to --out.
    Capture {
        #[command(flatten)]
        port: PortArgs,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Finger position: right-thumb … left-little, or 1 … 10.
        #[arg(long, default_value = "right-thumb")]
        finger: String,
        #[arg(long, value_enum, default_value_t = Profile::Standard)]
        profile: Profile,
    },
    /// The ten-finger sequence (right thumb → right little, left thumb → left little).
    Enroll {
        #[command(flatten)]
        port: PortArgs,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long, value_enum, default_value_t = Profile::Standard)]
        profile: Profile,
        /// A finger that cannot be captured: FINGER:REASON[:permanent], REASON one of
        /// missing, amputated, bandaged, unreadable. Repeatable.
        #[arg(long = "exception", value_name = "FINGER:REASON[:permanent]")]
        exceptions: Vec<String>,
        /// Never prompt, even on a terminal (exceptions only from --exception).
        #[arg(long)]
        no_prompt: bool,
    },
}

#[derive(Args)]
pub struct PortArgs {
    /// Serial device, e.g. /dev/ttyUSB0 or the simulator's path.
    #[arg(long, value_name = "PATH")]
    port: PathBuf,
    /// Baud rate; without it 57600 then 9600 × N are tried.
    #[arg(long)]
    baud: Option<u32>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    Standard,
    /// More attempts and longer deadlines for worn fingers.
    Elderly,
}

impl Profile {
    fn policy(self) -> CapturePolicy {
        match self {
            Profile::Standard => CapturePolicy::standard(),
            Profile::Elderly => CapturePolicy::elderly(),
        }
    }
}

pub fn run(cmd: ScannerCmd) -> Result<(), CliError> {
    match cmd {
        ScannerCmd::Info { port, json } => info(&port, json),
        ScannerCmd::Capture {
            port,
            out,
            finger,
            profile,
        } => {
            let finger: Finger = finger.parse().map_err(
                |e: enroll_hardware::fingerprint::capture::UnknownFinger| {
                    CliError::Input(e.to_string())
                },
            )?;
            capture(&port, &out, finger, profile)
        }
        ScannerCmd::Enroll {
            port,
            out,
            profile,
            exceptions,
            no_prompt,
        } => {
            let declared = parse_exceptions(&exceptions)?;
            let prompt = !no_prompt && std::io::stdin().is_terminal();
            enroll_ten(&port, &out, profile, declared, prompt)
        }
    }
}

fn open(port: &PortArgs) -> Result<Scanner, CliError> {
    let mut cfg = ScannerConfig::new(&port.port);
    cfg.baud = port.baud;
    Scanner::open(cfg).map_err(|e| scanner_failed(e, "opening the scanner"))
}

fn scanner_failed(e: ScannerError, doing: &str) -> CliError {
    CliError::Failed(anyhow::anyhow!(
        "{} / {} ({doing}: {e})",
        e.message_vi(),
        e.message_en()
    ))
}

fn info(port: &PortArgs, json: bool) -> Result<(), CliError> {
    let mut scanner = open(port)?;
    let info = scanner
        .info()
        .map_err(|e| scanner_failed(e, "reading parameters"))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&info).context("encoding JSON")?
        );
        return Ok(());
    }
    let p = &info.params;
    println!("Cổng / port: {} @ {} baud", info.path, info.baud);
    if let Some(prod) = &info.prod_info {
        println!("Kiểu máy / model: {} (sensor {})", prod.model, prod.sensor);
    }
    println!(
        "Ảnh / image: {} × {}; gói dữ liệu / data packet: {} bytes",
        info.image_width, info.image_height, info.packet_bytes
    );
    println!(
        "Mức bảo mật / security level: {}; địa chỉ / address: {:#010x}",
        p.security_level, p.address
    );
    println!(
        "Mẫu đã lưu / templates stored: {} / {}",
        info.template_count, p.library_capacity
    );
    println!(
        "Tốc độ lưu cho lần bật sau / stored baud for next power-up: {}",
        p.baud()
    );
    Ok(())
}

fn print_event(e: &CaptureEvent) {
    eprintln!("{} / {}", e.message_vi(), e.message_en());
}

fn capture(port: &PortArgs, out: &Path, finger: Finger, profile: Profile) -> Result<(), CliError> {
    let mut scanner = open(port)?;
    let outcome = capture_finger(
        &mut scanner,
        finger,
        &profile.policy(),
        &[],
        &mut print_event,
    )
    .map_err(|e| scanner_failed(e, "capturing"))?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    match &outcome {
        FingerOutcome::Captured(c) => {
            write_capture(out, c)?;
            println!("{}", out.display());
            Ok(())
        }
        FingerOutcome::Exception { exception, .. } => {
            write_json(&out.join("quality.json"), &outcome)?;
            Err(CliError::Rejected(format!(
                "không lấy được vân tay / finger not captured: {}",
                exception.note
            )))
        }
    }
}

/// image.png, template.bin and quality.json (quality, attempts, flags, SHA-256 of each blob).
fn write_capture(dir: &Path, c: &FingerCapture) -> Result<(), CliError> {
    write_file(&dir.join("image.png"), &c.image_png.bytes)?;
    write_file(&dir.join("template.bin"), &c.template.bytes)?;
    write_json(&dir.join("quality.json"), c)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).context("encoding JSON")?;
    write_file(path, text.as_bytes())
}

/// `FINGER:REASON[:permanent]` flags.
fn parse_exceptions(flags: &[String]) -> Result<HashMap<Finger, FingerException>, CliError> {
    let mut out = HashMap::new();
    for flag in flags {
        let parts: Vec<&str> = flag.split(':').collect();
        let bad = || {
            CliError::Input(format!(
                "--exception {flag:?}: viết FINGER:REASON[:permanent] / write FINGER:REASON[:permanent]"
            ))
        };
        if !(2..=3).contains(&parts.len()) {
            return Err(bad());
        }
        let finger: Finger = parts[0].parse().map_err(
            |e: enroll_hardware::fingerprint::capture::UnknownFinger| {
                CliError::Input(e.to_string())
            },
        )?;
        let reason: ExceptionReason = parts[1].parse().map_err(
            |e: enroll_hardware::fingerprint::capture::UnknownReason| {
                CliError::Input(e.to_string())
            },
        )?;
        let permanent = match parts.get(2) {
            None => false,
            Some(p) if p.eq_ignore_ascii_case("permanent") => true,
            Some(p) if p.eq_ignore_ascii_case("temporary") => false,
            Some(_) => return Err(bad()),
        };
        let exception = FingerException {
            reason,
            permanent,
            note: String::new(),
            automatic: false,
        };
        if out.insert(finger, exception).is_some() {
            return Err(CliError::Input(format!(
                "--exception: {finger} given twice / {finger} khai báo hai lần"
            )));
        }
    }
    Ok(out)
}

/// Asks before each finger: Enter to scan, or `x REASON [permanent] [note…]`.
fn ask(finger: Finger) -> FingerPlan {
    let stdin = std::io::stdin();
    loop {
        eprint!(
            "{} / {} — Enter: quét / scan; x LÝ-DO [permanent] [ghi chú]: ngoại lệ / exception > ",
            finger.name_vi(),
            finger.name_en()
        );
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if stdin.lock().read_line(&mut line).unwrap_or(0) == 0 {
            return FingerPlan::Capture;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => return FingerPlan::Capture,
            ["x", reason, rest @ ..] => match reason.parse::<ExceptionReason>() {
                Ok(reason) => {
                    let permanent = rest.first().is_some_and(|w| *w == "permanent");
                    let note = rest[usize::from(permanent)..].join(" ");
                    return FingerPlan::Exception(FingerException {
                        reason,
                        permanent,
                        note,
                        automatic: false,
                    });
                }
                Err(e) => eprintln!("{e}"),
            },
            _ => eprintln!(
                "Lý do: missing, amputated, bandaged, unreadable / reasons: missing, amputated, bandaged, unreadable"
            ),
        }
    }
}

fn enroll_ten(
    port: &PortArgs,
    out: &Path,
    profile: Profile,
    declared: HashMap<Finger, FingerException>,
    prompt: bool,
) -> Result<(), CliError> {
    let mut scanner = open(port)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut plan = |finger: Finger| match declared.get(&finger) {
        Some(e) => FingerPlan::Exception(e.clone()),
        None if prompt => ask(finger),
        None => FingerPlan::Capture,
    };
    let enrollment = enroll(&mut scanner, &profile.policy(), &mut plan, &mut print_event)
        .map_err(|e| scanner_failed(e, "enrolling"))?;
    for outcome in &enrollment.fingers {
        if let FingerOutcome::Captured(c) = outcome {
            let dir = out.join(c.finger.slug());
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            write_capture(&dir, c)?;
        }
    }
    write_json(&out.join("enrollment.json"), &enrollment)?;
    let captured = enrollment
        .fingers
        .iter()
        .filter(|o| matches!(o, FingerOutcome::Captured(_)))
        .count();
    eprintln!(
        "Đã lấy {captured}/10 ngón, {} ngoại lệ / captured {captured}/10, {} exceptions",
        10 - captured,
        10 - captured
    );
    println!("{}", out.join("enrollment.json").display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use enroll_hardware::fingerprint::sim::scenario::{Placement, Scenario};
    use enroll_hardware::fingerprint::sim::Simulator;

    fn sim(placements: Vec<Placement>) -> (Simulator, PortArgs) {
        let scenario = Scenario {
            baud: 460_800,
            placements,
            ..Scenario::default()
        };
        let sim = Simulator::start(scenario, None).unwrap();
        let port = PortArgs {
            port: sim.path(),
            baud: Some(460_800),
        };
        (sim, port)
    }

    #[test]
    fn exception_flags_parse_and_reject_bad_input() {
        let ok = parse_exceptions(&["left-ring:bandaged".into(), "3:amputated:permanent".into()])
            .unwrap();
        assert_eq!(ok[&Finger::LeftRing].reason, ExceptionReason::Bandaged);
        assert!(ok[&Finger::RightMiddle].permanent);
        for bad in [
            "thumb:missing",
            "left-ring",
            "left-ring:gone",
            "1:missing:forever",
        ] {
            assert!(matches!(
                parse_exceptions(&[bad.to_string()]),
                Err(CliError::Input(_))
            ));
        }
    }

    #[test]
    fn capture_writes_image_template_and_quality() {
        let (_sim, port) = sim(vec![Placement::good("cli/thumb")]);
        let dir = tempfile::tempdir().unwrap();
        capture(&port, dir.path(), Finger::RightThumb, Profile::Standard).unwrap();
        let png = std::fs::read(dir.path().join("image.png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert_eq!(
            std::fs::read(dir.path().join("template.bin"))
                .unwrap()
                .len(),
            512
        );
        let q: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("quality.json")).unwrap())
                .unwrap();
        assert!(q["quality"]["score"].as_u64().unwrap() >= 50);
        assert_eq!(q["image_png"]["sha256"].as_str().unwrap().len(), 64);
        assert_eq!(q["attempts"], 1);
    }
}
