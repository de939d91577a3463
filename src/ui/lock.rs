//! The lock screen: choose an account, type the PIN; locking keeps the enrollment in progress.

use super::*;

impl Ctrl {
    pub(super) fn lock(self: &Rc<Self>) {
        let app = self.app();
        let g = app.global::<AppState>();
        let page = g.get_page().to_string();
        if page == "lock" {
            return;
        }
        if page == "wizard" {
            self.save_draft();
            self.live_preview(false);
        }
        // A capture in progress stops: nobody signed in may take a finger.
        if let Some((link, _)) = &self.scanner {
            link.cancel();
        }
        {
            let mut st = self.state.borrow_mut();
            st.resume = Some((page.clone(), st.step));
            st.operator = None;
            st.session = None;
            st.pin.clear();
        }
        self.reset_pin_change();
        app.global::<LockState>().set_pin(s(""));
        g.set_operator_name(s(""));
        g.set_keyboard_open(false);
        app.global::<WizardState>().set_picker_open(false);
        app.global::<CaptureState>().set_exception_open(false);
        g.set_has_draft(page == "wizard" || self.state.borrow().waiting_draft.is_some());
        self.refresh_texts();
        app.global::<LockState>().set_pin_message(s(""));
        g.set_page(s("lock"));
        // Forget the data key: biometrics stay sealed until the next PIN.
        self.worker.post(|store: &mut Store| {
            store.lock();
            Box::new(|_: &Rc<Ctrl>| {})
        });
    }

    pub(super) fn unlock(self: &Rc<Self>, pin: &str) {
        let name = self.state.borrow().account.clone();
        if name.is_empty() {
            return;
        }
        let pin = pin.to_owned();
        let app = self.app();
        app.global::<AppState>().set_busy(true);
        self.worker.post(move |store: &mut Store| {
            // The PIN opens the data key on the store's own thread (Argon2id takes a while).
            let result = store.unlock(&name, &pin, Utc::now());
            let result = result.map_err(|e| (e.message_vi(), e.message_en()));
            // A PIN set before this kiosk's policy still opens it; its owner is asked to lengthen it.
            let short = store.pin_policy().check(&pin).err();
            Box::new(move |c: &Rc<Ctrl>| {
                c.app().global::<AppState>().set_busy(false);
                let result = result.map(|session| {
                    let op = Operator {
                        id: session.person.clone(),
                        name: session.display_name.clone(),
                        supervisor: session.is_supervisor(),
                    };
                    c.state.borrow_mut().session = Some(session);
                    op
                });
                let signed_in = result.is_ok();
                c.signed_in(result);
                if let (true, Some(e)) = (signed_in, short) {
                    c.banner(
                        &format!("{} Hãy đổi mã PIN: Cài đặt → Đổi mã PIN.", e.message_vi()),
                        &format!("{} Change your PIN: Settings → Change PIN.", e.message_en()),
                        true,
                    );
                }
            })
        });
    }

    pub(super) fn signed_in(self: &Rc<Self>, result: Result<Operator, (String, String)>) {
        let app = self.app();
        let g = app.global::<AppState>();
        match result {
            Err((vi, en)) => {
                self.state.borrow_mut().pin.clear();
                app.global::<LockState>().set_pin(s(""));
                app.global::<LockState>()
                    .set_pin_message(self.pick(&vi, &en));
            }
            Ok(op) => {
                g.set_operator_name(s(&op.name));
                g.set_is_supervisor(op.supervisor);
                self.state.borrow_mut().operator = Some(op.clone());
                self.refresh_texts();
                app.global::<LockState>().set_pin(s(""));
                app.global::<LockState>().set_pin_message(s(""));
                let resume = {
                    let mut st = self.state.borrow_mut();
                    st.operator = Some(op);
                    st.pin.clear();
                    st.resume.take()
                };
                self.touched();
                let draft = self.state.borrow_mut().waiting_draft.take();
                match (resume, draft) {
                    (Some((page, step)), _) if page != "lock" => {
                        if page == "wizard" {
                            self.go_step(step);
                        } else {
                            self.navigate(&page);
                        }
                    }
                    // After a crash or power cut: straight back to where the draft stood.
                    (_, Some(d)) => self.open_draft(d),
                    _ => self.go_home(),
                }
            }
        }
    }

    pub(super) fn bind_lock(self: &Rc<Self>) {
        let app = self.app();
        let g = app.global::<LockState>();
        on!(self, g, on_unlock, |c, pin: SharedString| c.unlock(&pin));
        on!(self, g, on_choose_account, |c, name: SharedString| {
            c.state.borrow_mut().account = name.to_string();
            let app = c.app();
            let g = app.global::<LockState>();
            g.set_account(name);
            // A lockout or wrong-PIN message belongs to the account it was about.
            g.set_pin_message(s(""));
        });
    }

    pub(super) fn lock_texts(&self) {
        let app = self.app();
        let g = app.global::<LockState>();
        let signin = !self.state.borrow().accounts.is_empty();
        g.set_signin_available(signin);
        {
            let st = self.state.borrow();
            g.set_accounts(model(
                st.accounts
                    .iter()
                    .map(|(name, display, supervisor)| Choice {
                        code: s(name),
                        label: if *supervisor {
                            s(format!(
                                "{display} {}",
                                self.pick(super::SUPERVISOR_TAG.0, super::SUPERVISOR_TAG.1)
                            ))
                        } else {
                            s(display)
                        },
                    })
                    .collect::<Vec<_>>(),
            ));
            g.set_account(s(&st.account));
        }
        if signin {
            if app.global::<AppState>().get_page() == "lock" && g.get_pin() == "" {
                g.set_pin_message(s(""));
            }
        } else if self.state.borrow().store_ready {
            g.set_pin_message(self.pick(
                "Máy chưa có tài khoản cán bộ nào. Giám sát viên tạo tài khoản đầu tiên bằng lệnh: kiosk accounts init-supervisor",
                "This kiosk has no accounts yet. A supervisor creates the first one with: kiosk accounts init-supervisor",
            ));
        }
        g.set_demo_hint(if self.demo {
            self.pick(
                &format!(
                    "Chế độ thử — cán bộ: mã PIN {}; giám sát viên: mã PIN {}.",
                    lists::DEMO_OPERATOR_PIN,
                    lists::DEMO_SUPERVISOR_PIN
                ),
                &format!(
                    "Demo mode — operator PIN {}; supervisor PIN {}.",
                    lists::DEMO_OPERATOR_PIN,
                    lists::DEMO_SUPERVISOR_PIN
                ),
            )
        } else {
            s("")
        });
    }

    /// A key of the lock screen's pad; `false` when `code` is not one.
    pub(super) fn pin_key(&self, code: &str) -> bool {
        let mut st = self.state.borrow_mut();
        if !edit_pin(&mut st.pin, code, "pin") {
            return false;
        }
        self.app().global::<LockState>().set_pin(s(&st.pin));
        true
    }
}

/// Applies a key of the PIN pad whose codes start with `prefix` (`ui/components/pin_pad.slint`):
/// `<prefix>:<digit>` adds a digit up to the longest PIN, `<prefix>-backspace` removes one.
/// `false` when `code` belongs to no key of that pad.
pub(super) fn edit_pin(pin: &mut String, code: &str, prefix: &str) -> bool {
    let Some(rest) = code.strip_prefix(prefix) else {
        return false;
    };
    if let Some(digit) = rest.strip_prefix(':') {
        if pin.len() < crate::accounts::MAX_PIN_DIGITS {
            pin.push_str(digit);
        }
    } else if rest == "-backspace" {
        pin.pop();
    } else {
        return false;
    }
    true
}
