//! `kiosk`: the enrollment kiosk's command line; with no subcommand, the kiosk itself.

use std::process::ExitCode;

fn main() -> ExitCode {
    kiosk::cli::main()
}
