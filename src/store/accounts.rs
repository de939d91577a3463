//! Accounts and sign-in in the store: the failure count and lock time are persisted, so a
//! restart does not reset a lockout; each account's key slot goes with it.

use chrono::{DateTime, Duration, Utc};
use enroll_sync::record::Attribution;
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::keyslots::{self, DataKey};
use super::{audit, timestamp, Store, StoreError};
use crate::accounts::{
    check_name_form, lockout_after, Account, AccountError, BootClock, BootLock, Role, Session,
    MAX_FAILURES,
};
use enroll_sync::identity::DeviceKey;
use zeroize::Zeroizing;

fn row_to_account(r: &rusqlite::Row) -> rusqlite::Result<Account> {
    let role: String = r.get(2)?;
    Ok(Account {
        name: r.get(0)?,
        display_name: r.get(1)?,
        // The table's CHECK constraint allows only the two roles.
        role: Role::parse(&role).unwrap_or(Role::Operator),
        created_at: r.get(3)?,
        created_by: r.get(4)?,
        failures: r.get(5)?,
        locked_until: r.get(6)?,
    })
}

const ACCOUNT_COLUMNS: &str =
    "name, display_name, role, created_at, created_by, failures, locked_until";

impl Store {
    pub fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY name"
        ))?;
        let rows = stmt.query_map([], row_to_account)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn account(&self, name: &str) -> Result<Option<Account>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = ?1"),
                [name],
                row_to_account,
            )
            .optional()?)
    }

    fn attribution_for(&self, person: &str, now: DateTime<Utc>) -> Attribution {
        Attribution {
            person: person.to_owned(),
            device: self.kiosk.code.clone(),
            at: now,
        }
    }

    /// Creates the very first supervisor on a kiosk with no accounts, and the kiosk's data key.
    /// The kiosk is left unlocked, signed in as that supervisor.
    pub fn init_supervisor(
        &mut self,
        name: &str,
        display_name: &str,
        pin: &str,
        now: DateTime<Utc>,
    ) -> Result<Session, AccountError> {
        check_name_form(name)?;
        self.pin_policy().check(pin)?;
        let key = DataKey::generate();
        let by = self.attribution_for(name, now);
        let kdf = self.kdf;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let any: i64 = tx
            .query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0))
            .map_err(StoreError::from)?;
        if any > 0 {
            return Err(AccountError::AlreadyInitialized);
        }
        insert_account(&tx, name, display_name, Role::Supervisor, name, now)?;
        let account_key = DeviceKey::generate();
        keyslots::write_slot(
            &tx,
            name,
            pin,
            &key,
            &Zeroizing::new(account_key.seed()),
            kdf,
            &self.slot_binding,
        )?;
        audit::append(&tx, &by, "account.init_supervisor", Some(name), None)?;
        tx.commit().map_err(StoreError::from)?;
        self.data_key = Some(key);
        self.account_keys.insert(name.to_owned(), account_key);
        self.seal_plain_blobs()?;
        Ok(Session::new(name, display_name, Role::Supervisor, now))
    }

    /// Checks `pin` for `name` and, when right, unlocks the kiosk's data key.
    /// A wrong PIN counts towards the lockout, and the count survives restarts.
    pub fn unlock(
        &mut self,
        name: &str,
        pin: &str,
        now: DateTime<Utc>,
    ) -> Result<Session, AccountError> {
        // Whoever was signed in is signed out first: a failed attempt leaves the kiosk locked.
        self.data_key = None;
        let account = match self.account(name)? {
            Some(a) => a,
            None if self.accounts()?.is_empty() => return Err(AccountError::NotInitialized),
            None => return Err(AccountError::NoSuchAccount(name.to_owned())),
        };
        let boot = self.boot_clock.now();
        let left = match self.boot_lock(name)? {
            Some(lock) => lock.remaining(&boot),
            // Written before lockouts moved to the boot clock.
            None => account
                .locked_until
                .as_deref()
                .and_then(parse_time)
                .map_or(0, |until| (until - now).num_seconds().max(0)),
        };
        if left > 0 {
            return Err(AccountError::LockedOut {
                until: now + Duration::seconds(left),
            });
        }
        // Count the attempt before checking, so cutting power mid-check does not give a free try.
        self.conn
            .execute(
                "UPDATE accounts SET failures = failures + 1 WHERE name = ?1",
                [name],
            )
            .map_err(StoreError::from)?;
        let opened = match keyslots::open_slot(&self.conn, name, pin, &self.slot_binding) {
            Err(StoreError::Vault(super::vault::VaultError::TpmLockout)) => {
                // The TPM refused before checking the PIN: not a wrong try on this account.
                self.conn
                    .execute(
                        "UPDATE accounts SET failures = max(failures - 1, 0) WHERE name = ?1",
                        [name],
                    )
                    .map_err(StoreError::from)?;
                let by = self.attribution_for(name, now);
                audit::append(&self.conn, &by, "account.tpm_lockout", Some(name), None)?;
                return Err(AccountError::TpmLockout);
            }
            other => other?,
        };
        let by = self.attribution_for(name, now);
        match opened {
            Some((key, seed)) => {
                // An account from before accounts had keys gets its key now, in its slot.
                let account_key = match seed {
                    Some(seed) => DeviceKey::from_seed(&seed),
                    None => {
                        let k = DeviceKey::generate();
                        keyslots::write_slot(
                            &self.conn,
                            name,
                            pin,
                            &key,
                            &Zeroizing::new(k.seed()),
                            self.kdf,
                            &self.slot_binding,
                        )?;
                        k
                    }
                };
                self.account_keys.insert(name.to_owned(), account_key);
                self.conn
                    .execute(
                        "UPDATE accounts SET failures = 0, locked_until = NULL, locked_boot_id = NULL,
                         locked_boot_until = NULL, locked_secs = NULL WHERE name = ?1",
                        [name],
                    )
                    .map_err(StoreError::from)?;
                audit::append(&self.conn, &by, "account.sign_in", Some(name), None)?;
                self.data_key = Some(key);
                self.seal_plain_blobs()?;
                Ok(Session::new(name, &account.display_name, account.role, now))
            }
            None => {
                let failures = account.failures + 1;
                let length = lockout_after(failures);
                let until = length.map(|d| now + d);
                let lock = length.map(|d| BootLock::starting(&boot, d.num_seconds()));
                self.conn
                    .execute(
                        "UPDATE accounts SET locked_until = ?2, locked_boot_id = ?3,
                         locked_boot_until = ?4, locked_secs = ?5 WHERE name = ?1",
                        params![
                            name,
                            until.map(timestamp),
                            lock.as_ref().map(|l| l.boot_id.clone()),
                            lock.as_ref().map(|l| l.until_secs),
                            lock.as_ref().map(|l| l.length_secs),
                        ],
                    )
                    .map_err(StoreError::from)?;
                let detail = format!("failures={failures}");
                audit::append(
                    &self.conn,
                    &by,
                    "account.pin_failed",
                    Some(name),
                    Some(&detail),
                )?;
                match until {
                    Some(until) => Err(AccountError::LockedOut { until }),
                    None => Err(AccountError::WrongPin {
                        left: MAX_FAILURES - failures,
                    }),
                }
            }
        }
    }

    /// The account's lockout on the boot clock, if one is set.
    fn boot_lock(&self, name: &str) -> Result<Option<BootLock>, StoreError> {
        let row: Option<(Option<String>, Option<i64>, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT locked_boot_id, locked_boot_until, locked_secs FROM accounts WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        Ok(match row {
            Some((Some(boot_id), Some(until_secs), Some(length_secs))) => Some(BootLock {
                boot_id,
                until_secs,
                length_secs,
            }),
            _ => None,
        })
    }

    /// Times lockouts on `clock` instead of the machine's boot clock (tests pass the clock in).
    pub fn use_boot_clock(&mut self, clock: Box<dyn BootClock>) {
        self.boot_clock = clock;
    }

    /// Adds an operator or supervisor; `by` must be a signed-in supervisor (the kiosk unlocked).
    pub fn add_account(
        &mut self,
        by: &Session,
        name: &str,
        display_name: &str,
        role: Role,
        pin: &str,
        now: DateTime<Utc>,
    ) -> Result<Account, AccountError> {
        if !by.is_supervisor() {
            return Err(AccountError::NotSupervisor(by.person.clone()));
        }
        check_name_form(name)?;
        self.pin_policy().check(pin)?;
        let key = self.data_key()?.clone();
        let kdf = self.kdf;
        let attribution = by.attribution(&self.kiosk.code, now);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let exists: Option<i64> = tx
            .query_row("SELECT 1 FROM accounts WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(StoreError::from)?;
        if exists.is_some() {
            return Err(AccountError::NameTaken(name.to_owned()));
        }
        insert_account(&tx, name, display_name, role, &by.person, now)?;
        let seed = Zeroizing::new(DeviceKey::generate().seed());
        keyslots::write_slot(&tx, name, pin, &key, &seed, kdf, &self.slot_binding)?;
        audit::append(
            &tx,
            &attribution,
            "account.add",
            Some(name),
            Some(role.as_str()),
        )?;
        tx.commit().map_err(StoreError::from)?;
        self.account(name)?
            .ok_or_else(|| AccountError::NoSuchAccount(name.to_owned()))
    }

    /// Removes an account and its key slot; the last supervisor stays.
    pub fn remove_account(
        &mut self,
        by: &Session,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AccountError> {
        if !by.is_supervisor() {
            return Err(AccountError::NotSupervisor(by.person.clone()));
        }
        let account = self
            .account(name)?
            .ok_or_else(|| AccountError::NoSuchAccount(name.to_owned()))?;
        let attribution = by.attribution(&self.kiosk.code, now);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        if account.role == Role::Supervisor {
            let supervisors: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM accounts WHERE role = 'supervisor'",
                    [],
                    |r| r.get(0),
                )
                .map_err(StoreError::from)?;
            if supervisors <= 1 {
                return Err(AccountError::LastSupervisor);
            }
        }
        tx.execute("DELETE FROM accounts WHERE name = ?1", [name])
            .map_err(StoreError::from)?;
        audit::append(&tx, &attribution, "account.remove", Some(name), None)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(())
    }

    /// Changes `name`'s PIN, checking the old one (which counts towards the lockout).
    pub fn change_pin(
        &mut self,
        name: &str,
        old_pin: &str,
        new_pin: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AccountError> {
        self.pin_policy().check(new_pin)?;
        let session = self.unlock(name, old_pin, now)?;
        let key = self.data_key()?.clone();
        let seed = Zeroizing::new(
            self.account_keys
                .get(name)
                .ok_or(StoreError::Locked)?
                .seed(),
        );
        keyslots::write_slot(
            &self.conn,
            name,
            new_pin,
            &key,
            &seed,
            self.kdf,
            &self.slot_binding,
        )?;
        let by = session.attribution(&self.kiosk.code, now);
        audit::append(&self.conn, &by, "account.change_pin", Some(name), None)?;
        Ok(())
    }
}

fn insert_account(
    conn: &rusqlite::Connection,
    name: &str,
    display_name: &str,
    role: Role,
    created_by: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO accounts(name, display_name, role, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![name, display_name, role.as_str(), timestamp(now), created_by],
    )?;
    Ok(())
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
