//! The resident's review: what the card will carry, Yes / No, read-aloud.

use super::*;

impl Ctrl {
    pub(super) fn resident_answer(self: &Rc<Self>, yes: bool) {
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

    pub(super) fn read_aloud(&self) {
        let st = self.state.borrow();
        let lines = lists::resident_lines(&st.form, "vi");
        let volume = st.settings.volume;
        drop(st);
        let text = lines
            .iter()
            .map(|l| format!("{}: {}.", l.label, l.value))
            .collect::<Vec<_>>()
            .join(" ");
        speech::speak(text, volume, |err| {
            if let Some((vi, en)) = err {
                // Only fails once the event loop is gone.
                drop(slint::invoke_from_event_loop(move || {
                    with_ctrl(|c| c.banner(&vi, &en, true))
                }));
            }
        });
    }

    pub(super) fn bind_resident(self: &Rc<Self>) {
        let app = self.app();
        let g = app.global::<ResidentState>();
        on!(self, g, on_resident_answer, |c, yes: bool| c.resident_answer(yes));
        on!(self, g, on_read_aloud, |c| c.read_aloud());
    }
}
