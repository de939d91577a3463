//! Home: the day's counters, the devices, the way into each task.

use super::*;

impl Ctrl {
    /// Counters (sealed today and unfinished, in the kiosk's time zone), the last contact
    /// with HQ and whether HQ has provisioned this kiosk.
    pub(super) fn refresh_home(&self) {
        let tz = self.tz();
        let today = Utc::now().with_timezone(&tz).date_naive();
        self.worker.post(move |store: &mut Store| {
            let counts = store.count_by_status().unwrap_or_default();
            let rows = store
                .list(&ListQuery {
                    limit: 10_000,
                    ..ListQuery::default()
                })
                .unwrap_or_default();
            let is_today = |at: &str| {
                chrono::DateTime::parse_from_rfc3339(at)
                    .is_ok_and(|t| t.with_timezone(&tz).date_naive() == today)
            };
            let sealed_today = rows
                .iter()
                .filter(|r| r.status != "draft" && is_today(&r.updated_at))
                .count();
            let awaiting = counts
                .iter()
                .find(|(k, _)| k == "captured")
                .map(|(_, n)| *n)
                .unwrap_or(0);
            let drafts = store.count_drafts().unwrap_or(0);
            let facts = SyncFacts::of(store);
            Box::new(move |c: &Rc<Ctrl>| {
                let app = c.app();
                let g = app.global::<HomeState>();
                g.set_today_count(sealed_today as i32);
                g.set_awaiting_count(awaiting as i32);
                g.set_draft_count(drafts as i32);
                app.global::<AppState>().set_has_draft(drafts > 0);
                c.state.borrow_mut().sync_facts = facts;
                c.home_texts();
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
        let facts = self.state.borrow().sync_facts.clone();
        app.global::<HomeState>()
            .set_last_sync(match facts.last_sync {
                Some(at) => s(lists::local_time(at, self.tz())),
                None => l(("Chưa gửi lần nào", "Never")),
            });
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
                dev(
                    ("Camera", "Camera"),
                    (
                        "chưa kết nối — kiểm tra dây cắm rồi khởi động lại máy",
                        "not connected — check the cable, then restart the kiosk",
                    ),
                    false,
                )
            },
            match &self.scanner {
                None => dev(
                    ("Máy quét vân tay", "Fingerprint scanner"),
                    (
                        "chưa kết nối — kiểm tra dây cắm rồi khởi động lại máy",
                        "not connected — check the cable, then restart the kiosk",
                    ),
                    false,
                ),
                Some((_, scanner::ScannerSource::Simulated)) => dev(
                    ("Máy quét vân tay", "Fingerprint scanner"),
                    ("mô phỏng (chế độ thử)", "simulated (demo mode)"),
                    true,
                ),
                Some(_) => dev(
                    ("Máy quét vân tay", "Fingerprint scanner"),
                    ("đã kết nối", "connected"),
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
            if facts.provisioned {
                dev(
                    ("Gửi dữ liệu", "Sync"),
                    (
                        "sẵn sàng: qua mạng hoặc USB",
                        "ready: over the network or by USB",
                    ),
                    true,
                )
            } else {
                dev(
                    ("Gửi dữ liệu", "Sync"),
                    (
                        "chưa được trung tâm cấp phép — báo giám sát viên",
                        "not yet set up by HQ — tell your supervisor",
                    ),
                    false,
                )
            },
        ]));
    }
}

/// What Home and the sync screen say about HQ.
#[derive(Debug, Clone, Default)]
pub(super) struct SyncFacts {
    pub provisioned: bool,
    pub last_sync: Option<DateTime<Utc>>,
}

impl SyncFacts {
    pub(super) fn of(store: &Store) -> SyncFacts {
        let last_sync = store
            .usage()
            .ok()
            .and_then(|u| u.last_sync)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc));
        SyncFacts {
            provisioned: crate::sync::Provisioned::load(store).is_ok(),
            last_sync,
        }
    }
}
