//! `kiosk accounts ...`: the first supervisor, adding and removing accounts, PIN changes,
//! kiosk settings. PINs come from the terminal (not echoed) or, for scripts, env `KIOSK_PIN`
//! (and `KIOSK_NEW_PIN` for a new account's or a changed PIN).

use anyhow::Context;
use chrono::Utc;
use clap::Subcommand;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use super::CliError;
use crate::accounts::{AccountError, Role, Session};
use crate::store::Store;

#[derive(Subcommand)]
pub enum AccountsCmd {
    /// Create the very first supervisor on a kiosk with no accounts (provisioning).
    InitSupervisor {
        #[arg(long)]
        name: String,
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Add an operator or supervisor (a supervisor's PIN is asked first).
    Add {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        supervisor: String,
    },
    /// Remove an account and its key slot.
    Remove {
        name: String,
        #[arg(long)]
        supervisor: String,
    },
    /// List accounts with their lockout state.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Check a PIN (signs in and out; a wrong PIN counts towards the lockout).
    SignIn { name: String },
    /// Change a PIN (old PIN from KIOSK_PIN, new from KIOSK_NEW_PIN or the terminal).
    ChangePin { name: String },
    /// Show settings, or change one with --set KEY=VALUE (a supervisor's PIN is asked).
    Settings {
        #[arg(long, value_name = "KEY=VALUE")]
        set: Option<String>,
        #[arg(long)]
        supervisor: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("unknown role `{s}`; one of: operator, supervisor"))
}

/// Reads a PIN: env `var` for scripts, else the terminal without echo, else a line of stdin.
pub(super) fn read_pin(var: &str, prompt: &str) -> Result<String, CliError> {
    if let Ok(pin) = std::env::var(var) {
        return Ok(pin);
    }
    let stdin = std::io::stdin();
    eprint!("{prompt}: ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    if stdin.is_terminal() {
        let _echo_off = EchoOff::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the PIN")?;
        eprintln!();
    } else {
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the PIN")?;
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Turns terminal echo off while a PIN is typed; restores it when dropped.
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn new() -> Self {
        // SAFETY: tcgetattr/tcsetattr on fd 0 only read/write the termios struct we own.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return EchoOff(None);
            }
            let saved = t;
            t.c_lflag &= !libc::ECHO;
            libc::tcsetattr(0, libc::TCSANOW, &t);
            EchoOff(Some(saved))
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(t) = self.0 {
            // SAFETY: restores the settings read in `new`.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, &t);
            }
        }
    }
}

pub(super) fn account_error(e: AccountError) -> CliError {
    match e {
        AccountError::Store(e) => CliError::Failed(e.into()),
        AccountError::BadPinForm { .. } | AccountError::BadName(_) => {
            CliError::Input(e.to_string())
        }
        other => CliError::Rejected(format!("{}\n{}", other.message_vi(), other.message_en())),
    }
}

/// Signs `name` in with the PIN from KIOSK_PIN or the terminal.
pub(super) fn sign_in(store: &mut Store, name: &str) -> Result<Session, CliError> {
    let pin = read_pin("KIOSK_PIN", &format!("Mã PIN của {name} / PIN for {name}"))?;
    store.unlock(name, &pin, Utc::now()).map_err(account_error)
}

/// Signs in a supervisor, refusing an operator.
pub(super) fn supervisor(store: &mut Store, name: &str) -> Result<Session, CliError> {
    let s = sign_in(store, name)?;
    if !s.is_supervisor() {
        return Err(account_error(AccountError::NotSupervisor(name.to_owned())));
    }
    Ok(s)
}

fn new_pin(name: &str) -> Result<String, CliError> {
    let prompt = format!("Mã PIN mới cho {name} / new PIN for {name}");
    let pin = read_pin("KIOSK_NEW_PIN", &prompt)?;
    if std::env::var("KIOSK_NEW_PIN").is_err() && std::io::stdin().is_terminal() {
        let again = read_pin("KIOSK_NEW_PIN", "Nhập lại / again")?;
        if again != pin {
            return Err(CliError::Input(
                "hai lần nhập PIN khác nhau / the two PINs differ".into(),
            ));
        }
    }
    Ok(pin)
}

pub fn run(cmd: AccountsCmd, data_dir: &Path) -> Result<(), CliError> {
    let mut store = Store::open(data_dir)?;
    let now = Utc::now();
    match cmd {
        AccountsCmd::InitSupervisor { name, display_name } => {
            if !store.accounts()?.is_empty() {
                return Err(account_error(AccountError::AlreadyInitialized));
            }
            let pin = new_pin(&name)?;
            let display = display_name.unwrap_or_else(|| name.clone());
            store
                .init_supervisor(&name, &display, &pin, now)
                .map_err(account_error)?;
            println!("đã tạo giám sát viên / created supervisor {name}");
        }
        AccountsCmd::Add {
            name,
            role,
            display_name,
            supervisor: sup,
        } => {
            let by = supervisor(&mut store, &sup)?;
            let pin = new_pin(&name)?;
            let display = display_name.unwrap_or_else(|| name.clone());
            store
                .add_account(&by, &name, &display, role, &pin, now)
                .map_err(account_error)?;
            println!("đã tạo / created {} {name}", role.as_str());
        }
        AccountsCmd::Remove {
            name,
            supervisor: sup,
        } => {
            let by = supervisor(&mut store, &sup)?;
            store
                .remove_account(&by, &name, now)
                .map_err(account_error)?;
            println!("đã xoá / removed {name}");
        }
        AccountsCmd::List { json } => {
            let accounts = store.accounts()?;
            if json {
                return super::records::print_json(&accounts);
            }
            for a in &accounts {
                let locked = match &a.locked_until {
                    Some(t) if t.as_str() > crate::store::timestamp(now).as_str() => {
                        format!(" khoá đến / locked until {t}")
                    }
                    _ => String::new(),
                };
                println!(
                    "{:<20} {:<11} {}{locked}",
                    a.name,
                    a.role.as_str(),
                    a.display_name
                );
            }
        }
        AccountsCmd::SignIn { name } => {
            let s = sign_in(&mut store, &name)?;
            store.lock();
            println!(
                "PIN đúng / PIN accepted: {} ({})",
                s.person,
                s.role.as_str()
            );
        }
        AccountsCmd::ChangePin { name } => {
            let old = read_pin(
                "KIOSK_PIN",
                &format!("Mã PIN hiện tại / current PIN for {name}"),
            )?;
            let new = new_pin(&name)?;
            store
                .change_pin(&name, &old, &new, now)
                .map_err(account_error)?;
            println!("đã đổi PIN / PIN changed for {name}");
        }
        AccountsCmd::Settings {
            set,
            supervisor: sup,
            json,
        } => {
            if let Some(kv) = set {
                let (key, value) = kv.split_once('=').ok_or_else(|| {
                    CliError::Input(format!("cần KEY=VALUE / expected KEY=VALUE, got `{kv}`"))
                })?;
                let sup = sup.ok_or_else(|| {
                    CliError::Input("cần --supervisor / --supervisor is required with --set".into())
                })?;
                let by = supervisor(&mut store, &sup)?;
                store
                    .set_setting(key, value)
                    .map_err(|e| CliError::Input(e.to_string()))?;
                store.audit(
                    &by.attribution(&store.kiosk().code, now),
                    "settings.set",
                    Some(key),
                    Some(value),
                )?;
            }
            let settings = store.settings()?;
            if json {
                return super::records::print_json(&settings);
            }
            let value = serde_json::to_value(&settings).context("settings")?;
            for key in crate::store::Settings::KEYS {
                println!("{key} = {}", value[key]);
            }
        }
    }
    Ok(())
}
