//! Errors of the scanner driver, each with a plain Vietnamese and English message.

use super::codec::FrameError;
use super::protocol::{ConfirmationCode, Instruction};
use std::io;

#[derive(Debug, thiserror::Error)]
pub enum ScannerError {
    #[error("cannot open the scanner port {path}: {source}")]
    Open {
        path: String,
        source: serialport::Error,
    },
    #[error("no fingerprint module answered on {path} at any baud rate")]
    NoModule { path: String },
    #[error("{} refused: {}", instruction.name(), code.message_en())]
    Module {
        instruction: Instruction,
        code: ConfirmationCode,
    },
    #[error("no reply to {} within the deadline", .0.name())]
    Timeout(Instruction),
    #[error("no finger was placed before the deadline")]
    NoFinger,
    #[error("the finger was not lifted before the deadline")]
    FingerNotLifted,
    #[error("cancelled by the operator")]
    Cancelled,
    #[error("the scanner was disconnected: {0}")]
    Disconnected(io::Error),
    #[error("corrupted reply: {0}")]
    Frame(#[from] FrameError),
    #[error("unexpected reply to {}: {detail}", instruction.name())]
    Protocol {
        instruction: Instruction,
        detail: String,
    },
}

impl ScannerError {
    /// The module's confirmation code, when the module itself refused.
    pub fn code(&self) -> Option<ConfirmationCode> {
        match self {
            ScannerError::Module { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Worth repeating the same command: the line garbled or lost a packet.
    pub fn is_line_error(&self) -> bool {
        matches!(
            self,
            ScannerError::Timeout(_)
                | ScannerError::Frame(_)
                | ScannerError::Module {
                    code: ConfirmationCode::PacketError,
                    ..
                }
        )
    }

    pub fn message_en(&self) -> String {
        match self {
            ScannerError::Module { code, .. } => code.message_en(),
            ScannerError::Open { path, .. } => {
                format!("cannot open the scanner at {path}: check the cable")
            }
            ScannerError::NoModule { .. } => {
                "the scanner does not answer: check the cable and power".into()
            }
            ScannerError::Timeout(_) => "the scanner stopped answering".into(),
            ScannerError::NoFinger => "no finger was placed in time".into(),
            ScannerError::FingerNotLifted => "please lift the finger off the scanner".into(),
            ScannerError::Cancelled => "cancelled".into(),
            ScannerError::Disconnected(_) => "the scanner was unplugged".into(),
            ScannerError::Frame(_) | ScannerError::Protocol { .. } => {
                "the scanner sent garbled data".into()
            }
        }
    }

    pub fn message_vi(&self) -> String {
        match self {
            ScannerError::Module { code, .. } => code.message_vi(),
            ScannerError::Open { path, .. } => {
                format!("không mở được máy quét tại {path}: hãy kiểm tra dây cáp")
            }
            ScannerError::NoModule { .. } => {
                "máy quét không trả lời: hãy kiểm tra dây cáp và nguồn điện".into()
            }
            ScannerError::Timeout(_) => "máy quét ngừng trả lời".into(),
            ScannerError::NoFinger => "chưa đặt ngón tay kịp thời gian".into(),
            ScannerError::FingerNotLifted => "xin nhấc ngón tay khỏi máy quét".into(),
            ScannerError::Cancelled => "đã hủy".into(),
            ScannerError::Disconnected(_) => "máy quét đã bị rút ra".into(),
            ScannerError::Frame(_) | ScannerError::Protocol { .. } => {
                "máy quét gửi dữ liệu bị lỗi".into()
            }
        }
    }
}
