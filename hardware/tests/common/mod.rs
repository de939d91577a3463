//! Shared set-up: a simulator on a real pseudo-terminal and a driver opening it by path.
#![allow(dead_code)]

use enroll_hardware::fingerprint::sim::scenario::{Fault, FaultKind, Placement, Scenario};
use enroll_hardware::fingerprint::sim::Simulator;
use enroll_hardware::fingerprint::synth::ImageCondition;
use enroll_hardware::fingerprint::{Scanner, ScannerConfig};
use std::path::PathBuf;
use std::time::Duration;

/// Fast line for most tests (beyond a real R307's 115200, which the benches cover).
pub const FAST: u32 = 460_800;

pub struct Rig {
    pub sim: Simulator,
    pub link: PathBuf,
    _dir: tempfile::TempDir,
}

impl Rig {
    pub fn start(scenario: Scenario) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("ttyFINGER");
        let sim = Simulator::start(scenario, Some(link.clone())).unwrap();
        Rig {
            sim,
            link,
            _dir: dir,
        }
    }

    pub fn config(&self, baud: Option<u32>) -> ScannerConfig {
        let mut cfg = ScannerConfig::new(&self.link);
        cfg.baud = baud;
        cfg.poll_interval = Duration::from_millis(20);
        cfg.command_timeout = Duration::from_millis(400);
        cfg.reconnect_timeout = Duration::from_secs(5);
        cfg
    }

    pub fn open(&self, baud: Option<u32>) -> Scanner {
        Scanner::open(self.config(baud)).unwrap()
    }
}

pub fn scenario(baud: u32, placements: Vec<Placement>) -> Scenario {
    Scenario {
        baud,
        placements,
        ..Scenario::default()
    }
}

pub fn good(finger: &str) -> Placement {
    Placement::good(finger)
}

pub fn poor(finger: &str, c: ImageCondition) -> Placement {
    Placement::good(finger).with(c)
}

pub fn fault(on: &str, nth: u32, kind: FaultKind) -> Fault {
    Fault {
        on: on.into(),
        nth,
        kind,
    }
}
