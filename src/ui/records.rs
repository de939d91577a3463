//! The records list, one record's detail, and the supervisor's review queue and decisions.

use super::*;

impl Ctrl {
    pub(super) fn search_records(&self, q: &str) {
        self.app().global::<RecordsState>().set_records_query(s(q));
        let query = ListQuery {
            search: Some(q.to_owned()).filter(|q| !q.trim().is_empty()),
            limit: 200,
            ..ListQuery::default()
        };
        self.worker.post(move |store: &mut Store| {
            let rows = store.list(&query);
            Box::new(move |c: &Rc<Ctrl>| match rows {
                Ok(rows) => {
                    let rows = lists::record_rows(&rows, &c.lang());
                    c.app().global::<RecordsState>().set_records(model(rows));
                }
                Err(e) => c.banner(
                    &format!("Không tìm được hồ sơ: {e}. Hãy thử lại."),
                    &format!("Records could not be searched: {e}. Try again."),
                    true,
                ),
            })
        });
    }

    /// A supervisor approves (`None`) or returns (with the reason) the open record; the
    /// decision is signed with the device key and attributed to the supervisor.
    pub(super) fn decide(self: &Rc<Self>, return_reason: Option<String>) {
        let (session, id) = {
            let st = self.state.borrow();
            (st.session.clone(), st.detail_id)
        };
        let (Some(session), Some(id)) = (session, id) else {
            return;
        };
        let key_path = self.data_dir.join(crate::DEVICE_KEY_FILE);
        self.worker.post(move |store: &mut Store| {
            let now = Utc::now();
            let result = enroll_sync::identity::DeviceKey::load_or_create(&key_path)
                .map_err(|e| {
                    (
                        format!("Không đọc được khoá của máy: {e}"),
                        format!("The device key could not be read: {e}"),
                    )
                })
                .and_then(|key| {
                    match &return_reason {
                        None => crate::review::approve(store, &key, &session, &id, now),
                        Some(r) => {
                            crate::review::return_to_operator(store, &key, &session, &id, r, now)
                        }
                    }
                    .map_err(|e| (e.message_vi(), e.message_en()))
                });
            let approved = return_reason.is_none();
            Box::new(move |c: &Rc<Ctrl>| match result {
                Ok(_) => {
                    c.navigate("supervisor");
                    if approved {
                        c.banner("Đã duyệt hồ sơ.", "Record approved.", false);
                    } else {
                        c.banner(
                            "Đã trả hồ sơ cho cán bộ, kèm lý do.",
                            "Record returned to the operator with the reason.",
                            false,
                        );
                    }
                }
                Err((vi, en)) => c.banner(&vi, &en, true),
            })
        });
    }

    pub(super) fn refresh_awaiting(&self) {
        self.worker.post(move |store: &mut Store| {
            let rows = store.list(&ListQuery {
                status: Some(RecordStatus::Captured),
                limit: 500,
                ..ListQuery::default()
            });
            Box::new(move |c: &Rc<Ctrl>| {
                let rows = lists::record_rows(&rows.unwrap_or_default(), &c.lang());
                c.app().global::<RecordsState>().set_awaiting(model(rows));
            })
        });
    }

    pub(super) fn open_record(self: &Rc<Self>, id: &str) {
        let Ok(uuid) = id.parse::<uuid::Uuid>() else {
            return;
        };
        self.worker.post(move |store: &mut Store| {
            let rec = store.load(&uuid);
            Box::new(move |c: &Rc<Ctrl>| match rec {
                Ok(Some(rec)) => {
                    let lang = c.lang();
                    let app = c.app();
                    let g = app.global::<AppState>();
                    app.global::<RecordsState>().set_detail_title(s(format!(
                        "{} — {}",
                        rec.enrollment_no,
                        enroll_sync::text::card_upper(&rec.applicant.name.full())
                    )));
                    app.global::<RecordsState>().set_detail_lines(model(lists::detail_lines(&rec, &lang)));
                    app.global::<RecordsState>().set_detail_history(model(lists::history_lines(&rec, &lang)));
                    app.global::<RecordsState>().set_detail_hq(s(lists::hq_line(&rec, &lang)));
                    app.global::<RecordsState>().set_detail_awaiting(rec.review.status == RecordStatus::Captured);
                    c.state.borrow_mut().detail_id = Some(rec.id);
                    c.navigate("detail");
                }
                _ => c.banner(
                    "Không mở được hồ sơ này. Hãy báo cho giám sát viên.",
                    "This record could not be opened. Tell your supervisor.",
                    true,
                ),
            })
        });
    }

    pub(super) fn bind_records(self: &Rc<Self>) {
        let app = self.app();
        let g = app.global::<RecordsState>();
        on!(self, g, on_search_records, |c, q: SharedString| c.search_records(&q));
        on!(self, g, on_open_record, |c, id: SharedString| c.open_record(&id));
        on!(self, g, on_approve_record, |c| c.decide(None));
        on!(self, g, on_return_record, |c, reason: SharedString| c
            .decide(Some(reason.to_string())));
    }

    pub(super) fn records_texts(&self) {
        let app = self.app();
        let g = app.global::<RecordsState>();
        let supervisor = self
            .state
            .borrow()
            .operator
            .as_ref()
            .is_some_and(|o| o.supervisor);
        g.set_supervisor_available(supervisor);
        g.set_supervisor_message(if supervisor {
            self.pick(
                "Chạm vào một hồ sơ để xem, rồi duyệt hoặc trả lại kèm lý do.",
                "Tap a record to see it, then approve it or return it with a reason.",
            )
        } else {
            self.pick(
                "Chỉ giám sát viên được duyệt hồ sơ. Khoá máy rồi để giám sát viên đăng nhập.",
                "Only a supervisor can review records. Lock the kiosk and let the supervisor sign in.",
            )
        });
    }
}
