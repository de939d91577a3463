//! Kiosk settings (idle lock, purge delay, guard limits): plain key/value rows, typed here,
//! with a default for every key so a fresh kiosk works without provisioning.

use rusqlite::params;
use serde::Serialize;

use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Settings {
    /// Lock the kiosk after this many seconds without a touch.
    pub idle_lock_secs: u64,
    /// Purge biometric blobs this many hours after HQ's receipt.
    pub purge_after_hours: u64,
    /// Warn when fewer records than this still fit on disk; stop below `records_fit_stop`.
    pub records_fit_warn: u64,
    pub records_fit_stop: u64,
    /// Warn / stop when the last sync is this many days old.
    pub sync_warn_days: u64,
    pub sync_stop_days: u64,
    /// Warn / stop at this many records awaiting a supervisor.
    pub unapproved_warn: u64,
    pub unapproved_stop: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            idle_lock_secs: 120,
            purge_after_hours: 72,
            records_fit_warn: 300,
            records_fit_stop: 50,
            sync_warn_days: 3,
            sync_stop_days: 7,
            unapproved_warn: 150,
            unapproved_stop: 300,
        }
    }
}

impl Settings {
    pub const KEYS: [&'static str; 8] = [
        "idle_lock_secs",
        "purge_after_hours",
        "records_fit_warn",
        "records_fit_stop",
        "sync_warn_days",
        "sync_stop_days",
        "unapproved_warn",
        "unapproved_stop",
    ];

    fn slot(&mut self, key: &str) -> Option<&mut u64> {
        Some(match key {
            "idle_lock_secs" => &mut self.idle_lock_secs,
            "purge_after_hours" => &mut self.purge_after_hours,
            "records_fit_warn" => &mut self.records_fit_warn,
            "records_fit_stop" => &mut self.records_fit_stop,
            "sync_warn_days" => &mut self.sync_warn_days,
            "sync_stop_days" => &mut self.sync_stop_days,
            "unapproved_warn" => &mut self.unapproved_warn,
            "unapproved_stop" => &mut self.unapproved_stop,
            _ => return None,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingError {
    #[error("không có thiết lập `{0}` / unknown setting `{0}`")]
    UnknownKey(String),
    #[error("`{key}` cần một số nguyên không âm / `{key}` needs a whole number, got `{value}`")]
    BadValue { key: String, value: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// The settings, defaults filled in for keys never set.
    pub fn settings(&self) -> Result<Settings, StoreError> {
        let mut out = Settings::default();
        let mut stmt = self.conn.prepare("SELECT key, value FROM settings")?;
        let rows: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (key, value) in rows {
            // A row this build does not know (from a newer kiosk) is kept but ignored.
            if let (Some(slot), Ok(v)) = (out.slot(&key), value.parse::<u64>()) {
                *slot = v;
            }
        }
        Ok(out)
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), SettingError> {
        let mut probe = Settings::default();
        if probe.slot(key).is_none() {
            return Err(SettingError::UnknownKey(key.to_owned()));
        }
        value
            .trim()
            .parse::<u64>()
            .map_err(|_| SettingError::BadValue {
                key: key.to_owned(),
                value: value.to_owned(),
            })?;
        self.conn
            .execute(
                "INSERT INTO settings(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value.trim()],
            )
            .map_err(StoreError::from)?;
        Ok(())
    }
}
