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
        let data_dir = self.data_dir.clone();
        self.worker.post(move |store: &mut Store| {
            let now = Utc::now();
            let result = crate::store::vault::device_key(&data_dir)
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
            // The photo is sealed at rest; a signed-in session has the key to open it.
            let photo = rec
                .as_ref()
                .ok()
                .and_then(|r| r.as_ref())
                .and_then(|r| r.biometrics.photo.as_ref())
                .and_then(|p| store.blob(&p.sha256).ok().flatten())
                .map(|(bytes, _)| bytes);
            Box::new(move |c: &Rc<Ctrl>| match rec {
                Ok(Some(rec)) => {
                    let lang = c.lang();
                    let tz = c.tz();
                    let operator = c.display_name(&rec.capture.operator_id);
                    let app = c.app();
                    let g = app.global::<RecordsState>();
                    g.set_detail_title(s(format!(
                        "{} — {}",
                        rec.enrollment_no,
                        enroll_sync::text::card_upper(&rec.applicant.name.full())
                    )));
                    g.set_detail_lines(model(lists::detail_lines(&rec, &operator, &lang)));
                    g.set_detail_fingers(model(lists::finger_lines(&rec, &lang)));
                    g.set_detail_history(model(lists::history_lines(&rec, &lang, tz, &|p| {
                        c.display_name(p)
                    })));
                    g.set_detail_hq(s(lists::hq_line(&rec, &lang)));
                    g.set_detail_awaiting(rec.review.status == RecordStatus::Captured);
                    match photo.as_deref().and_then(jpeg_image) {
                        Some(img) => {
                            g.set_detail_photo(img);
                            g.set_detail_has_photo(true);
                        }
                        None => g.set_detail_has_photo(false),
                    }
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
        on!(self, g, on_search_records, |c, q: SharedString| c
            .search_records(&q));
        on!(self, g, on_open_record, |c, id: SharedString| c
            .open_record(&id));
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

    /// An account's display name (records keep the sign-in name).
    pub(super) fn display_name(&self, person: &str) -> String {
        self.state
            .borrow()
            .accounts
            .iter()
            .find(|a| a.0 == person)
            .map(|a| a.1.clone())
            .unwrap_or_else(|| person.to_owned())
    }
}

/// A stored JPEG as a Slint image; `None` when it does not decode.
pub(super) fn jpeg_image(bytes: &[u8]) -> Option<slint::Image> {
    let rgb = image::load_from_memory(bytes).ok()?.to_rgb8();
    let buf = slint::SharedPixelBuffer::<slint::Rgb8Pixel>::clone_from_slice(
        rgb.as_raw(),
        rgb.width(),
        rgb.height(),
    );
    Some(slint::Image::from_rgb8(buf))
}
