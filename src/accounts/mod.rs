//! Operators and supervisors: roles, PIN rules, the lockout policy and signed-in sessions.
//! Storage (accounts, key slots, failure counts) lives in `store::accounts`.

mod clock;
mod session;

pub use clock::{BootClock, BootLock, BootTime, SystemBootClock};
pub use session::Session;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::store::StoreError;

/// Failed PINs in a row before the account locks.
pub const MAX_FAILURES: u32 = 5;
pub const MAX_PIN_DIGITS: usize = 12;

/// How long a PIN must be on this kiosk. A PIN only guards its key slot well when the slot is
/// also sealed by a TPM; on TPM-less hardware a copied disk lets a thief try every PIN offline,
/// so there a PIN must be long enough to outlast that (10¹⁰ Argon2id runs, not 10⁶).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinPolicy {
    pub min_digits: usize,
}

impl PinPolicy {
    pub const WITH_TPM: PinPolicy = PinPolicy { min_digits: 6 };
    pub const WITHOUT_TPM: PinPolicy = PinPolicy { min_digits: 10 };

    pub fn for_vault(hardware: bool) -> PinPolicy {
        if hardware {
            Self::WITH_TPM
        } else {
            Self::WITHOUT_TPM
        }
    }

    /// Digits only, `min_digits` to [`MAX_PIN_DIGITS`] of them.
    pub fn check(self, pin: &str) -> Result<(), AccountError> {
        let ok = (self.min_digits..=MAX_PIN_DIGITS).contains(&pin.len())
            && pin.bytes().all(|b| b.is_ascii_digit());
        if ok {
            Ok(())
        } else {
            Err(AccountError::BadPinForm {
                min: self.min_digits,
                no_tpm: self.min_digits > Self::WITH_TPM.min_digits,
            })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Operator,
    Supervisor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Supervisor => "supervisor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "operator" => Some(Role::Operator),
            "supervisor" => Some(Role::Supervisor),
            _ => None,
        }
    }

    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Role::Operator => ("Cán bộ thu nhận", "Operator"),
            Role::Supervisor => ("Giám sát viên", "Supervisor"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// Sign-in name, also the `person` in every attribution.
    pub name: String,
    pub display_name: String,
    pub role: Role,
    pub created_at: String,
    pub created_by: String,
    pub failures: u32,
    pub locked_until: Option<String>,
}

/// How long the account stays locked after `failures` failed PINs in a row: none below
/// `MAX_FAILURES`, then 1 minute, doubling with each further failure, at most 1 hour.
pub fn lockout_after(failures: u32) -> Option<Duration> {
    let over = failures.checked_sub(MAX_FAILURES)?;
    let minutes = 1i64 << over.min(6);
    Some(Duration::minutes(minutes.min(60)))
}

/// Sign-in names: 2–32 lowercase letters, digits, `.`, `-`, `_`.
pub fn check_name_form(name: &str) -> Result<(), AccountError> {
    let ok = (2..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(AccountError::BadName(name.to_owned()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{} / {}", self.message_vi(), self.message_en())]
    NoSuchAccount(String),
    #[error("{} / {}", self.message_vi(), self.message_en())]
    WrongPin { left: u32 },
    #[error("{} / {}", self.message_vi(), self.message_en())]
    LockedOut { until: DateTime<Utc> },
    #[error("{} / {}", self.message_vi(), self.message_en())]
    BadPinForm { min: usize, no_tpm: bool },
    /// The TPM counted too many wrong PINs (on any account) and refuses every PIN for a while.
    #[error("{} / {}", self.message_vi(), self.message_en())]
    TpmLockout,
    #[error("{} / {}", self.message_vi(), self.message_en())]
    BadName(String),
    #[error("{} / {}", self.message_vi(), self.message_en())]
    NameTaken(String),
    #[error("{} / {}", self.message_vi(), self.message_en())]
    NotSupervisor(String),
    #[error("{} / {}", self.message_vi(), self.message_en())]
    AlreadyInitialized,
    #[error("{} / {}", self.message_vi(), self.message_en())]
    NotInitialized,
    #[error("{} / {}", self.message_vi(), self.message_en())]
    LastSupervisor,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AccountError {
    pub fn message_vi(&self) -> String {
        match self {
            Self::NoSuchAccount(n) => format!("Không có tài khoản \"{n}\"."),
            Self::WrongPin { left: 0 } => "Sai mã PIN. Tài khoản đã bị khoá tạm thời.".into(),
            Self::WrongPin { left } => format!("Sai mã PIN. Còn {left} lần thử trước khi khoá."),
            Self::LockedOut { until } => format!(
                "Tài khoản đang bị khoá do nhập sai PIN nhiều lần. Thử lại sau {} UTC.",
                until.format("%H:%M:%S")
            ),
            Self::BadPinForm { min, no_tpm } => {
                let why = if *no_tpm {
                    " Máy này không có chip bảo mật TPM nên cần mã PIN dài hơn."
                } else {
                    ""
                };
                format!("Mã PIN phải gồm {min} đến {MAX_PIN_DIGITS} chữ số.{why}")
            }
            Self::TpmLockout => "Chip bảo mật TPM đang tạm khoá vì máy đã bị nhập sai mã PIN nhiều lần. Không có mã PIN nào mở được lúc này; hãy thử lại sau ít phút.".into(),
            Self::BadName(n) => {
                format!("Tên đăng nhập \"{n}\" không hợp lệ: dùng 2–32 chữ thường, số, dấu . - _.")
            }
            Self::NameTaken(n) => format!("Tên đăng nhập \"{n}\" đã có."),
            Self::NotSupervisor(n) => format!("\"{n}\" không phải giám sát viên."),
            Self::AlreadyInitialized => {
                "Máy đã có tài khoản; giám sát viên tạo thêm tài khoản.".into()
            }
            Self::NotInitialized => {
                "Máy chưa có tài khoản nào: hãy tạo giám sát viên đầu tiên.".into()
            }
            Self::LastSupervisor => "Không thể xoá giám sát viên cuối cùng.".into(),
            Self::Store(e) => format!("Lỗi lưu trữ: {e}"),
        }
    }

    pub fn message_en(&self) -> String {
        match self {
            Self::NoSuchAccount(n) => format!("No account \"{n}\"."),
            Self::WrongPin { left: 0 } => {
                "Wrong PIN. The account is now locked for a while.".into()
            }
            Self::WrongPin { left } => {
                format!("Wrong PIN. {left} tries left before the account locks.")
            }
            Self::LockedOut { until } => format!(
                "The account is locked after repeated wrong PINs. Try again after {} UTC.",
                until.format("%H:%M:%S")
            ),
            Self::BadPinForm { min, no_tpm } => {
                let why = if *no_tpm {
                    " This kiosk has no TPM security chip, so PINs must be longer."
                } else {
                    ""
                };
                format!("A PIN is {min} to {MAX_PIN_DIGITS} digits.{why}")
            }
            Self::TpmLockout => "The TPM security chip is locked for a while after too many wrong PINs on this kiosk. No PIN opens it now; try again in a few minutes.".into(),
            Self::BadName(n) => format!(
                "Sign-in name \"{n}\" is not valid: use 2–32 lowercase letters, digits, . - _."
            ),
            Self::NameTaken(n) => format!("Sign-in name \"{n}\" already exists."),
            Self::NotSupervisor(n) => format!("\"{n}\" is not a supervisor."),
            Self::AlreadyInitialized => {
                "This kiosk already has accounts; a supervisor adds more.".into()
            }
            Self::NotInitialized => {
                "This kiosk has no accounts yet: create the first supervisor.".into()
            }
            Self::LastSupervisor => "The last supervisor cannot be removed.".into(),
            Self::Store(e) => format!("Storage error: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_grows_and_is_capped() {
        assert_eq!(lockout_after(4), None);
        assert_eq!(lockout_after(5), Some(Duration::minutes(1)));
        assert_eq!(lockout_after(6), Some(Duration::minutes(2)));
        assert_eq!(lockout_after(8), Some(Duration::minutes(8)));
        assert_eq!(lockout_after(40), Some(Duration::minutes(60)));
    }

    #[test]
    fn pin_and_name_forms() {
        let tpm = PinPolicy::for_vault(true);
        assert!(tpm.check("123456").is_ok());
        assert!(tpm.check("12345").is_err());
        assert!(tpm.check("12345a").is_err());
        assert!(tpm.check("1234567890123").is_err());
        let disk = PinPolicy::for_vault(false);
        assert!(disk.check("123456789").is_err());
        assert!(disk.check("1234567890").is_ok());
        let refusal = disk.check("123456").expect_err("too short without a TPM");
        assert!(
            refusal.message_en().contains("10 to 12 digits"),
            "{refusal}"
        );
        assert!(refusal.message_en().contains("no TPM"), "{refusal}");
        assert!(check_name_form("lan.nguyen").is_ok());
        assert!(check_name_form("Lan").is_err());
    }
}
