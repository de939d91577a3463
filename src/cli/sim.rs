//! `kiosk sim …`: device simulators for development and tests.

use super::CliError;
use clap::{Args, Subcommand};
use enroll_hardware::fingerprint::sim::scenario::Scenario;
use enroll_hardware::fingerprint::sim::Simulator;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Subcommand)]
pub enum SimCmd {
    /// An R307 fingerprint scanner on a pseudo-terminal. Prints the path to open on the first
    /// line of stdout, then serves until killed.
    Scanner(SimScannerArgs),
}

#[derive(Args)]
pub struct SimScannerArgs {
    /// Scenario file (JSON): finger placements, image conditions, scripted faults.
    /// See enroll_hardware::fingerprint::sim::scenario for the format.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// The module's baud rate at power-up (9600 × N); overrides the scenario's.
    #[arg(long)]
    baud: Option<u32>,
    /// Also keep a symlink at this path pointing at the pty; it follows simulated
    /// unplug/replug, like /dev/serial/by-id does for a real scanner.
    #[arg(long, value_name = "PATH")]
    link: Option<PathBuf>,
}

pub fn run(cmd: SimCmd) -> Result<(), CliError> {
    match cmd {
        SimCmd::Scanner(args) => scanner(args),
    }
}

fn scanner(args: SimScannerArgs) -> Result<(), CliError> {
    let mut scenario = match &args.scenario {
        Some(path) => Scenario::load(path).map_err(|e| CliError::Input(e.to_string()))?,
        None => Scenario::default(),
    };
    if let Some(baud) = args.baud {
        scenario.baud = baud;
    }
    scenario
        .validate()
        .map_err(|e| CliError::Input(e.to_string()))?;
    let baud = scenario.baud;
    let sim = Simulator::start(scenario, args.link)
        .map_err(|e| CliError::Failed(anyhow::anyhow!("starting the simulator: {e}")))?;
    println!("{}", sim.path().display());
    std::io::stdout()
        .flush()
        .map_err(|e| CliError::Failed(e.into()))?;
    eprintln!(
        "Máy quét giả lập R307 @ {baud} baud; Ctrl-C để dừng / simulated R307 @ {baud} baud; Ctrl-C to stop"
    );
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
