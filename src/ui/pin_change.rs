//! Changing one's own PIN on the touch screen: the current PIN (checked at once, as a sign-in:
//! a wrong one counts towards the lockout and locks the kiosk), then the new PIN twice. The
//! store applies this kiosk's PIN rule and rewrites the person's key slot.

use super::*;
use zeroize::Zeroizing;

/// The digits typed so far; cleared on leaving the page and on locking.
#[derive(Default)]
pub(super) struct PinChange {
    step: i32,
    typed: Zeroizing<String>,
    current: Zeroizing<String>,
    new: Zeroizing<String>,
}

/// The codes of this page's pad (`ui/pages/pin_change.slint`).
const PAD: &str = "new-pin";

impl Ctrl {
    /// Starts over at the first step (opening the page, locking, a refusal).
    pub(super) fn reset_pin_change(&self) {
        self.state.borrow_mut().pin_change = PinChange::default();
        self.show_pin_change("");
    }

    fn show_pin_change(&self, message: &str) {
        let app = self.app();
        let g = app.global::<PinChangeState>();
        let st = self.state.borrow();
        let p = &st.pin_change;
        g.set_step(p.step);
        g.set_count(p.typed.len() as i32);
        g.set_message(s(message));
    }

    /// Opens the page; the PIN rule's length comes from the store (TPM or not).
    pub(super) fn open_pin_change(self: &Rc<Self>) {
        self.reset_pin_change();
        self.worker.post(|store: &mut Store| {
            let min = store.pin_policy().min_digits as i32;
            Box::new(move |c: &Rc<Ctrl>| {
                c.app().global::<PinChangeState>().set_min_digits(min);
            })
        });
    }

    /// A key of the page's pad; `false` when `code` is not one.
    pub(super) fn pin_change_key(&self, code: &str) -> bool {
        let mut st = self.state.borrow_mut();
        if !super::lock::edit_pin(&mut st.pin_change.typed, code, PAD) {
            return false;
        }
        let n = st.pin_change.typed.len() as i32;
        self.app().global::<PinChangeState>().set_count(n);
        true
    }

    fn pin_change_next(self: &Rc<Self>) {
        let Some(name) = self
            .state
            .borrow()
            .session
            .as_ref()
            .map(|s| s.person.clone())
        else {
            return;
        };
        let (step, typed) = {
            let mut st = self.state.borrow_mut();
            let p = &mut st.pin_change;
            (p.step, std::mem::take(&mut p.typed))
        };
        if typed.is_empty() {
            return;
        }
        match step {
            0 => self.check_current_pin(name, typed),
            1 => self.check_new_pin(typed),
            _ => self.finish_pin_change(name, typed),
        }
    }

    /// The current PIN is checked as a sign-in is: a wrong one signs out and locks.
    fn check_current_pin(self: &Rc<Self>, name: String, pin: Zeroizing<String>) {
        self.app().global::<AppState>().set_busy(true);
        self.worker.post(move |store: &mut Store| {
            let result = store.unlock(&name, &pin, Utc::now());
            let result = result.map_err(|e| (e.message_vi(), e.message_en()));
            Box::new(move |c: &Rc<Ctrl>| {
                c.app().global::<AppState>().set_busy(false);
                match result {
                    Ok(session) => {
                        {
                            let mut st = c.state.borrow_mut();
                            st.session = Some(session);
                            st.pin_change.current = pin;
                            st.pin_change.step = 1;
                        }
                        c.show_pin_change("");
                    }
                    Err((vi, en)) => c.locked_by_pin_change(&vi, &en),
                }
            })
        });
    }

    /// The new PIN must follow this kiosk's rule and differ from the current one.
    fn check_new_pin(self: &Rc<Self>, pin: Zeroizing<String>) {
        if *pin == *self.state.borrow().pin_change.current {
            let msg = self.pick(
                "Mã PIN mới phải khác mã PIN hiện tại.",
                "The new PIN must differ from the current one.",
            );
            self.show_pin_change(&msg);
            return;
        }
        self.worker.post(move |store: &mut Store| {
            let rule = store.pin_policy().check(&pin);
            let rule = rule.map_err(|e| (e.message_vi(), e.message_en()));
            Box::new(move |c: &Rc<Ctrl>| match rule {
                Ok(()) => {
                    {
                        let mut st = c.state.borrow_mut();
                        st.pin_change.new = pin;
                        st.pin_change.step = 2;
                    }
                    c.show_pin_change("");
                }
                Err((vi, en)) => c.show_pin_change(&c.pick(&vi, &en)),
            })
        });
    }

    fn finish_pin_change(self: &Rc<Self>, name: String, again: Zeroizing<String>) {
        let (current, new) = {
            let st = self.state.borrow();
            (st.pin_change.current.clone(), st.pin_change.new.clone())
        };
        if *again != *new {
            {
                let mut st = self.state.borrow_mut();
                st.pin_change.new = Zeroizing::default();
                st.pin_change.step = 1;
            }
            let msg = self.pick(
                "Hai lần nhập mã PIN mới không giống nhau. Hãy nhập lại mã PIN mới.",
                "The two new PINs differ. Type the new PIN again.",
            );
            self.show_pin_change(&msg);
            return;
        }
        self.app().global::<AppState>().set_busy(true);
        self.worker.post(move |store: &mut Store| {
            let result = store.change_pin(&name, &current, &new, Utc::now());
            // Any refusal of the current PIN (wrong, locked out, the TPM's lockout) has signed the
            // store out: ask it rather than list those errors here.
            let signed_out = !store.is_unlocked();
            let result = result.map_err(|e| (signed_out, e.message_vi(), e.message_en()));
            Box::new(move |c: &Rc<Ctrl>| {
                c.app().global::<AppState>().set_busy(false);
                match result {
                    Ok(()) => {
                        c.navigate("settings");
                        c.reset_pin_change();
                        c.banner(
                            "Đã đổi mã PIN. Từ lần sau, mở máy bằng mã PIN mới.",
                            "The PIN is changed. From now on, unlock with the new PIN.",
                            false,
                        );
                    }
                    Err((true, vi, en)) => c.locked_by_pin_change(&vi, &en),
                    Err((false, vi, en)) => {
                        c.reset_pin_change();
                        c.show_pin_change(&c.pick(&vi, &en));
                    }
                }
            })
        });
    }

    /// A wrong current PIN signed the kiosk out (as at the lock screen): show why there.
    fn locked_by_pin_change(self: &Rc<Self>, vi: &str, en: &str) {
        self.lock();
        // Unlocking again starts from Settings, not from the half-typed change.
        self.state.borrow_mut().resume = Some(("settings".into(), 0));
        let msg = self.pick(vi, en);
        self.app().global::<LockState>().set_pin_message(msg);
    }

    pub(super) fn bind_pin_change(self: &Rc<Self>) {
        let app = self.app();
        let g = app.global::<PinChangeState>();
        on!(self, g, on_next, |c| c.pin_change_next());
        on!(self, g, on_cancel, |c| {
            c.reset_pin_change();
            c.navigate("settings")
        });
    }
}
