//! The resident's review: what the card will carry, Yes / No, read-aloud.

use super::*;

impl Ctrl {
    pub(super) fn resident_answer(self: &Rc<Self>, yes: bool) {
        if yes && !lists::ready_for_review(&self.state.borrow().form) {
            return;
        }
        if yes {
            self.go_step(CONSENT_STEP);
        } else {
            self.go_step(2);
            self.banner(
                "Người dân báo thông tin chưa đúng. Hãy hỏi lại từng mục, sửa, rồi cho người dân xem lại.",
                "The resident says something is wrong. Ask again item by item, correct it, then show the review again.",
                false,
            );
        }
    }

    /// Reads the review aloud: ID numbers digit by digit, dates as "ngày … tháng … năm …".
    /// The screen shows it is speaking, and says so in words when nothing can be heard.
    pub(super) fn read_aloud(&self) {
        if self.state.borrow().speaking {
            return;
        }
        let st = self.state.borrow();
        let text = speech::speech_text(&lists::resident_lines(&st.form, "vi"));
        let volume = st.settings.volume;
        drop(st);
        self.state.borrow_mut().speaking = true;
        self.app().global::<ResidentState>().set_speaking(true);
        speech::speak(text, volume, |err| {
            // Only fails once the event loop is gone.
            drop(slint::invoke_from_event_loop(move || {
                with_ctrl(|c| {
                    c.state.borrow_mut().speaking = false;
                    let app = c.app();
                    let g = app.global::<ResidentState>();
                    g.set_speaking(false);
                    if let Some((vi, en)) = err {
                        g.set_resident_message(c.pick(&vi, &en));
                    }
                })
            }));
        });
    }

    pub(super) fn bind_resident(self: &Rc<Self>) {
        let app = self.app();
        let g = app.global::<ResidentState>();
        on!(self, g, on_resident_answer, |c, yes: bool| c
            .resident_answer(yes));
        on!(self, g, on_read_aloud, |c| c.read_aloud());
    }
}
