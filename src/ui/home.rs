//! Home: the day's counters, the devices, the way into each task.

use super::*;

impl Ctrl {
    pub(super) fn refresh_home(&self) {
        let today = Utc::now().format("%Y%m%d").to_string();
        self.worker.post(move |store: &mut Store| {
            let counts = store.count_by_status().unwrap_or_default();
            let rows = store
                .list(&ListQuery {
                    limit: 10_000,
                    ..ListQuery::default()
                })
                .unwrap_or_default();
            let today_count = rows
                .iter()
                .filter(|r| r.enrollment_no.contains(&today) && r.status != "draft")
                .count();
            let awaiting = counts
                .iter()
                .find(|(k, _)| k == "captured")
                .map(|(_, n)| *n)
                .unwrap_or(0);
            let drafts = store.latest_draft().ok().flatten().is_some();
            Box::new(move |c: &Rc<Ctrl>| {
                let app = c.app();
                let g = app.global::<AppState>();
                app.global::<HomeState>().set_today_count(today_count as i32);
                app.global::<HomeState>().set_awaiting_count(awaiting as i32);
                app.global::<HomeState>().set_draft_count(i32::from(drafts));
                g.set_has_draft(drafts);
            })
        });
    }

    pub(super) fn bind_home(self: &Rc<Self>) {
        let app = self.app();
        let g = app.global::<HomeState>();
        on!(self, g, on_new_enrollment, |c| c.new_enrollment());
        on!(self, g, on_resume_draft, |c| c.resume_draft());
    }

    /// The devices list (Home and Settings) and the last-sync tile.
    pub(super) fn home_texts(&self) {
        let app = self.app();
        let l = |p: (&str, &str)| self.pick(p.0, p.1);
        let signin = !self.state.borrow().accounts.is_empty();
        app.global::<HomeState>()
            .set_last_sync(l(("Chưa gửi lần nào", "Never")));
        let dev = |name: (&str, &str), status: (&str, &str), ok: bool| DeviceRow {
            name: l(name),
            status: l(status),
            ok,
        };
        app.global::<AppState>().set_devices(model(vec![
            if self.camera.is_some() {
                dev(
                    ("Camera", "Camera"),
                    if self.demo {
                        (
                            "camera USB; mô phỏng nếu không có (chế độ thử)",
                            "USB camera; simulated if none (demo mode)",
                        )
                    } else {
                        ("camera USB đầu tiên", "first USB camera")
                    },
                    true,
                )
            } else {
                dev(("Camera", "Camera"), ("chưa chỉ định", "none given"), false)
            },
            match &self.scanner {
                None => dev(
                    ("Máy quét vân tay", "Fingerprint scanner"),
                    ("chưa chỉ định (--scanner)", "none given (--scanner)"),
                    false,
                ),
                Some((_, scanner::ScannerSource::Simulated)) => dev(
                    ("Máy quét vân tay", "Fingerprint scanner"),
                    ("mô phỏng (chế độ thử)", "simulated (demo mode)"),
                    true,
                ),
                Some(_) => dev(
                    ("Máy quét vân tay", "Fingerprint scanner"),
                    ("đã chỉ định", "configured"),
                    true,
                ),
            },
            dev(
                ("Tài khoản cán bộ", "Operator accounts"),
                if signin {
                    ("sẵn sàng", "ready")
                } else {
                    ("chưa có tài khoản nào", "no accounts yet")
                },
                signin,
            ),
            dev(
                ("Gửi dữ liệu", "Sync"),
                (
                    "qua mạng hoặc USB, sau khi trung tâm cấp phép",
                    "over the network or USB, once HQ has provisioned this kiosk",
                ),
                true,
            ),
        ]));
    }
}
