//! Simulator scenario files (JSON).
//!
//! (The `//` comments explain the example; JSON files cannot carry them.)
//!
//! ```json
//! {
//!   "baud": 57600,            // stored baud at power-up (9600 × N); default 57600. Real
//!                             // modules stop at N = 12 (115200); up to N = 96 (921600) is
//!                             // accepted to keep tests short
//!   "packet_size": 128,       // 32, 64, 128 or 256; default 128
//!   "security_level": 3,      // 1..=5; default 3
//!   "capacity": 1000,         // template pages in the flash library; default 1000
//!   "password": 0,            // module password; default 0
//!   "prod_info": true,        // answer ReadProdInfo (R503 style); false: answer 0x01
//!   "placements": [           // one entry per time a finger is put on the sensor
//!     { "finger": "applicant-1/right-thumb", // identity: same name = same finger
//!       "condition": "good",  // good | low_contrast | partial | smudged | blank
//!       "no_finger_polls": 3, // GenImg answers "no finger" this many times first
//!       "hold_polls": 0 }     // GenImg still sees the finger this many times after capture
//!   ],
//!   "repeat": false,          // when placements run out: start over (true) or no finger
//!   "faults": [               // scripted line faults, by instruction and occurrence (1-based)
//!     { "on": "UpImage", "nth": 1, "kind": "bad_checksum", "packet": 3 },
//!     { "on": "GenImg", "nth": 2, "kind": "stray_bytes", "bytes": [0, 85, 239] },
//!     { "on": "ReadSysPara", "nth": 1, "kind": "silence" },
//!     { "on": "Img2Tz", "nth": 1, "kind": "disconnect", "replug_after_ms": 500 }
//!   ]
//! }
//! ```
//!
//! Without placements the simulator offers ten good fingers (`sim-0` … `sim-9`) in turn,
//! forever. `bad_checksum` spoils the checksum of the reply's packet number `packet` (0 = the
//! acknowledgement, 1.. = data packets); `silence` drops the reply; `disconnect` unplugs the
//! scanner instead of replying and plugs it back in (a power-up) after `replug_after_ms`.

use super::super::protocol::Instruction;
use super::super::synth::ImageCondition;
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
    pub baud: u32,
    pub packet_size: usize,
    pub security_level: u8,
    pub capacity: u16,
    pub password: u32,
    pub prod_info: bool,
    pub placements: Vec<Placement>,
    pub repeat: bool,
    pub faults: Vec<Fault>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            baud: 57600,
            packet_size: 128,
            security_level: 3,
            capacity: 1000,
            password: 0,
            prod_info: true,
            placements: Vec::new(),
            repeat: false,
            faults: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    pub finger: String,
    #[serde(default)]
    pub condition: ImageCondition,
    #[serde(default)]
    pub no_finger_polls: u32,
    #[serde(default)]
    pub hold_polls: u32,
}

impl Placement {
    pub fn good(finger: impl Into<String>) -> Self {
        Placement {
            finger: finger.into(),
            condition: ImageCondition::Good,
            no_finger_polls: 0,
            hold_polls: 0,
        }
    }

    pub fn with(mut self, condition: ImageCondition) -> Self {
        self.condition = condition;
        self
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawFault")]
pub struct Fault {
    /// Instruction name as in the datasheet (`GenImg`, `UpImage`, …).
    pub on: String,
    /// Which occurrence of that instruction, counted from 1 since the simulator started.
    pub nth: u32,
    pub kind: FaultKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    StrayBytes { bytes: Vec<u8> },
    BadChecksum { packet: usize },
    Silence,
    Disconnect { replug_after_ms: u64 },
}

/// The flat JSON form, checked field by field (serde cannot deny unknown fields of a
/// flattened, tagged enum).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    on: String,
    nth: u32,
    kind: String,
    bytes: Option<Vec<u8>>,
    packet: Option<usize>,
    replug_after_ms: Option<u64>,
}

impl TryFrom<RawFault> for Fault {
    type Error = String;

    fn try_from(r: RawFault) -> Result<Self, String> {
        let extra = |allowed: &[&str]| {
            let given = [
                ("bytes", r.bytes.is_some()),
                ("packet", r.packet.is_some()),
                ("replug_after_ms", r.replug_after_ms.is_some()),
            ];
            match given
                .iter()
                .find(|(name, set)| *set && !allowed.contains(name))
            {
                Some((name, _)) => Err(format!(
                    "field `{name}` does not apply to a {} fault",
                    r.kind
                )),
                None => Ok(()),
            }
        };
        let kind = match r.kind.as_str() {
            "stray_bytes" => {
                extra(&["bytes"])?;
                FaultKind::StrayBytes {
                    bytes: r.bytes.clone().ok_or("a stray_bytes fault needs `bytes`")?,
                }
            }
            "bad_checksum" => {
                extra(&["packet"])?;
                FaultKind::BadChecksum {
                    packet: r.packet.unwrap_or(0),
                }
            }
            "silence" => {
                extra(&[])?;
                FaultKind::Silence
            }
            "disconnect" => {
                extra(&["replug_after_ms"])?;
                FaultKind::Disconnect {
                    replug_after_ms: r.replug_after_ms.unwrap_or_else(default_replug_ms),
                }
            }
            other => {
                return Err(format!(
                    "unknown fault kind `{other}`: use stray_bytes, bad_checksum, silence or disconnect"
                ))
            }
        };
        Ok(Fault {
            on: r.on,
            nth: r.nth,
            kind,
        })
    }
}

fn default_replug_ms() -> u64 {
    500
}

/// A scenario file that cannot be used, in plain words.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("scenario file {path} is not valid: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("scenario: {0}")]
    Invalid(String),
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: p.clone(),
            source,
        })?;
        let s: Scenario = serde_json::from_str(&text)
            .map_err(|source| ScenarioError::Parse { path: p, source })?;
        s.validate()?;
        Ok(s)
    }

    pub fn validate(&self) -> Result<(), ScenarioError> {
        if !self.baud.is_multiple_of(9600) || !(1..=96).contains(&(self.baud / 9600)) {
            return Err(ScenarioError::Invalid(format!(
                "baud {} is not 9600 × N with N in 1..=12 (up to 96 for fast tests)",
                self.baud
            )));
        }
        if super::super::protocol::PacketSize::from_bytes(self.packet_size).is_none() {
            return Err(ScenarioError::Invalid(format!(
                "packet_size {} is not 32, 64, 128 or 256",
                self.packet_size
            )));
        }
        if !(1..=5).contains(&self.security_level) {
            return Err(ScenarioError::Invalid(
                "security_level must be 1..=5".into(),
            ));
        }
        for f in &self.faults {
            if Instruction::from_name(&f.on).is_none() {
                return Err(ScenarioError::Invalid(format!(
                    "fault on unknown instruction {:?}",
                    f.on
                )));
            }
            if f.nth == 0 {
                return Err(ScenarioError::Invalid("fault nth counts from 1".into()));
            }
        }
        Ok(())
    }
}
