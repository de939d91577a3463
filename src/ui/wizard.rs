//! The enrollment wizard: steps, the form's fields and findings, the picker, drafts,
//! consent and the receipt.

use super::*;

impl Ctrl {
    pub(super) fn new_enrollment(self: &Rc<Self>) {
        {
            let mut st = self.state.borrow_mut();
            st.form = Form::new();
            st.form.started_at = Some(Utc::now());
            st.current_finger = 0;
            st.receipt = None;
            st.taken.clear();
        }
        self.refresh_form();
        self.go_step(0);
    }

    pub(super) fn resume_draft(self: &Rc<Self>) {
        let waiting = self.state.borrow_mut().waiting_draft.take();
        if let Some(d) = waiting {
            self.open_draft(d);
            return;
        }
        self.worker.post(|store: &mut Store| {
            let d = store.latest_draft().ok().flatten();
            Box::new(move |c: &Rc<Ctrl>| {
                if let Some(d) = d {
                    c.open_draft(d)
                }
            })
        });
    }

    pub(super) fn open_draft(self: &Rc<Self>, d: Draft) {
        match serde_json::from_str::<Form>(&d.form) {
            Ok(form) => {
                let step = STEPS.iter().position(|s| *s == d.step).unwrap_or(0);
                self.state.borrow_mut().form = form;
                self.refresh_form();
                self.go_step(step.min(CONSENT_STEP));
            }
            Err(_) => self.banner(
                "Hồ sơ làm dở bị hỏng, không mở lại được. Hãy bắt đầu hồ sơ mới.",
                "The unfinished enrollment is damaged and cannot be reopened. Start a new one.",
                true,
            ),
        }
    }

    pub(super) fn go_step(self: &Rc<Self>, step: usize) {
        let mut step = step.min(CONSENT_STEP);
        // The resident never sees an empty review: without the basics, stay (or go) where
        // they are filled in.
        let refused = step == RESIDENT_STEP && !lists::ready_for_review(&self.state.borrow().form);
        if refused {
            let current = self.state.borrow().step;
            step = if current == RESIDENT_STEP { 2 } else { current };
        }
        self.state.borrow_mut().step = step;
        let app = self.app();
        let g = app.global::<AppState>();
        self.clear_banner();
        if refused {
            self.banner(
                "Chưa thể cho người dân xem: cần có họ tên, ngày sinh, giới tính và nơi thường trú.",
                "The resident cannot review yet: the name, date of birth, sex and permanent residence are needed.",
                true,
            );
        }
        app.global::<WizardState>().set_picker_open(false);
        app.global::<CaptureState>().set_exception_open(false);
        g.set_keyboard_open(false);
        if step == RESIDENT_STEP {
            app.global::<ResidentState>().set_resident_message(s(""));
            app.global::<ResidentState>()
                .set_resident_lines(model(lists::resident_lines(
                    &self.state.borrow().form,
                    &self.lang(),
                )));
        }
        app.global::<WizardState>().set_step(step as i32);
        g.set_page(s("wizard"));
        app.global::<CaptureState>().set_reviewing_shot(false);
        if step == PHOTO_STEP || step == RESIDENT_STEP {
            self.load_photo();
        }
        self.live_preview(step == PHOTO_STEP);
        self.state.borrow_mut().composer.reset();
        self.save_draft();
    }

    pub(super) fn save_draft(&self) {
        let st = self.state.borrow();
        if st.step >= RECEIPT_STEP {
            return;
        }
        let Ok(json) = serde_json::to_string(&st.form) else {
            return;
        };
        let id = st.form.id.to_string();
        let op = st
            .operator
            .as_ref()
            .map(|o| o.id.clone())
            .unwrap_or_default();
        let step = STEPS[st.step].to_owned();
        drop(st);
        self.worker.post(move |store: &mut Store| {
            let r = store.save_draft(&id, &op, &step, &json);
            Box::new(move |c: &Rc<Ctrl>| {
                if let Err(e) = r {
                    c.banner(
                        &format!("Chưa lưu được bản nháp ({e}). Đừng tắt máy; hãy báo cho giám sát viên."),
                        &format!("The draft could not be saved ({e}). Do not switch off; tell your supervisor."),
                        true,
                    );
                }
            })
        });
    }

    pub(super) fn edited(self: &Rc<Self>, key: &str, value: &str) {
        {
            let form = &mut self.state.borrow_mut().form;
            form.set(key, value);
            form.touch(key);
        }
        self.revalidate();
        self.save_draft();
    }

    pub(super) fn chose(self: &Rc<Self>, key: &str, code: &str) {
        match key {
            "scan-qr" => return self.scan_qr(),
            // "Same as permanent residence" for the address whose key prefix is `code`.
            "copy-residence" => {
                let target = if code.is_empty() {
                    "applicant.current_residence"
                } else {
                    code
                };
                if !crate::ui::form::ADDRESSES.contains(&target) {
                    return;
                }
                let mut st = self.state.borrow_mut();
                for part in ["province", "commune", "detail"] {
                    let v = st
                        .form
                        .get(&format!("applicant.permanent_residence.{part}"))
                        .to_owned();
                    st.form.set(&format!("{target}.{part}"), &v);
                }
                st.form.touch(target);
            }
            _ => {
                let form = &mut self.state.borrow_mut().form;
                form.set(key, code);
                form.touch(key);
            }
        }
        self.refresh_form();
        self.save_draft();
    }

    pub(super) fn acknowledge(self: &Rc<Self>, code: &str, path: &str) {
        let by = self.by();
        self.state
            .borrow_mut()
            .form
            .acknowledge(code, path, &by.person, by.at);
        self.show_findings();
        self.save_draft();
    }

    pub(super) fn refresh_form(&self) {
        let app = self.app();
        app.global::<WizardState>().set_form_version(
            app.global::<WizardState>()
                .get_form_version()
                .wrapping_add(1),
        );
        let st = self.state.borrow();
        app.global::<CaptureState>()
            .set_fingers(model(lists::finger_slots(
                &st.form,
                st.current_finger,
                &st.settings.language,
            )));
        app.global::<CaptureState>()
            .set_current_finger(st.current_finger as i32);
        app.global::<CaptureState>()
            .set_has_photo(st.form.photo.is_some());
        drop(st);
        self.revalidate();
    }

    /// Runs the shared rules and the store's duplicate check off the UI thread.
    pub(super) fn revalidate(&self) {
        let (rec, own) = self.state.borrow().form.to_record(Utc::now());
        let by = self.by();
        self.worker.post(move |store: &mut Store| {
            let mut rec = rec;
            crate::enroll::prepare(store, &mut rec, &by);
            let found = crate::enroll::findings(store, &rec, &by);
            Box::new(move |c: &Rc<Ctrl>| {
                let found = found.unwrap_or_default();
                let all = c.state.borrow().form.filter(&own, found);
                c.state.borrow_mut().findings = all;
                c.show_findings();
            })
        });
    }

    pub(super) fn show_findings(&self) {
        let st = self.state.borrow();
        let en = st.settings.language == "en";
        let items: Vec<FindingItem> = st
            .findings
            .iter()
            .map(|f| FindingItem {
                path: s(&f.path),
                code: s(&f.code),
                message: s(if en { &f.message_en } else { &f.message_vi }),
                warning: f.severity == Severity::Warning,
                acknowledged: st.form.is_acknowledged(f),
                shown: st.form.shows(&f.path),
            })
            .collect();
        let errors = st.findings.iter().filter(|f| f.is_error()).count();
        let warnings = st
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Warning && !st.form.is_acknowledged(f))
            .count();
        drop(st);
        let app = self.app();
        let ready = lists::ready_for_review(&self.state.borrow().form);
        app.global::<WizardState>().set_review_ready(ready);
        app.global::<WizardState>().set_findings(model(items));
        app.global::<WizardState>().set_open_errors(errors as i32);
        app.global::<WizardState>()
            .set_open_warnings(warnings as i32);
    }

    pub(super) fn open_picker(&self, key: &str) {
        let app = self.app();
        if key.ends_with(".commune") {
            let province = key.replace(".commune", ".province");
            if self.state.borrow().form.get(&province).is_empty() {
                self.banner(
                    "Hãy chọn tỉnh, thành phố trước, rồi mới chọn xã, phường.",
                    "Choose the province first, then the commune.",
                    false,
                );
                return;
            }
        }
        self.state.borrow_mut().picker_target = key.to_owned();
        let en = self.lang() == "en";
        app.global::<WizardState>()
            .set_picker_title(s(lists::picker_title(key, en)));
        app.global::<WizardState>().set_picker_query(s(""));
        app.global::<WizardState>().set_picker_open(true);
        // Touch screens search with the on-screen keyboard; the search box has the focus.
        self.state.borrow_mut().composer.reset();
        app.global::<AppState>().set_keyboard_numeric(false);
        app.global::<AppState>().set_keyboard_open(true);
        self.picker_search("");
    }

    pub(super) fn picker_search(&self, q: &str) {
        let st = self.state.borrow();
        let items = lists::picker_items(&st.picker_target, &st.form, q, &st.settings.language);
        drop(st);
        self.app()
            .global::<WizardState>()
            .set_picker_items(model(items));
    }

    pub(super) fn picker_chosen(self: &Rc<Self>, code: &str) {
        let target = self.state.borrow().picker_target.clone();
        {
            let form = &mut self.state.borrow_mut().form;
            form.set(&target, code);
            form.touch(&target);
        }
        let app = self.app();
        let g = app.global::<AppState>();
        app.global::<WizardState>().set_picker_open(false);
        g.set_keyboard_open(false);
        self.refresh_form();
        self.save_draft();
    }

    pub(super) fn seal(self: &Rc<Self>) {
        let now = Utc::now();
        let (mut rec, own) = self.state.borrow().form.to_record(now);
        if !own.is_empty() {
            self.show_findings();
            return;
        }
        rec.review.status = RecordStatus::Captured;
        rec.capture.captured_at = Some(now);
        let by = self.by();
        let app = self.app();
        app.global::<AppState>().set_busy(true);
        let draft_id = rec.id.to_string();
        self.worker.post(move |store: &mut Store| {
            let result = crate::enroll::submit(store, rec, &by, false);
            if let Ok(crate::enroll::Submission::Saved { .. }) = &result {
                // The record is sealed; its draft has done its job.
                let _ = store.delete_draft(&draft_id);
            }
            Box::new(move |c: &Rc<Ctrl>| {
                c.app().global::<AppState>().set_busy(false);
                match result {
                    Ok(crate::enroll::Submission::Saved { outcome, .. }) => c.show_receipt(&outcome.enrollment_no),
                    Ok(crate::enroll::Submission::Rejected { findings, .. }) => {
                        c.state.borrow_mut().findings = findings;
                        c.show_findings();
                        c.banner(
                            "Chưa lưu: còn mục cần sửa hoặc xác nhận (xem danh sách bên dưới).",
                            "Not saved: some items need correcting or acknowledging (see the list below).",
                            true,
                        );
                    }
                    Err(e) => c.banner(
                        &format!("Chưa lưu được hồ sơ ({e}). Bản nháp vẫn còn; hãy thử lại hoặc báo giám sát viên."),
                        &format!("The record could not be saved ({e}). The draft is kept; try again or tell your supervisor."),
                        true,
                    ),
                }
            })
        });
    }

    pub(super) fn show_receipt(self: &Rc<Self>, number: &str) {
        let app = self.app();
        let g = app.global::<AppState>();
        let name = {
            let st = self.state.borrow();
            let (rec, _) = st.form.to_record(Utc::now());
            enroll_sync::text::card_upper(&rec.applicant.name.full())
        };
        app.global::<WizardState>().set_receipt_number(s(number));
        app.global::<WizardState>().set_receipt_name(s(&name));
        if let Some(img) = receipt::qr_image(number, 8) {
            app.global::<WizardState>().set_receipt_qr(img);
        }
        {
            let mut st = self.state.borrow_mut();
            st.receipt = Some((number.to_owned(), name));
            st.step = RECEIPT_STEP;
        }
        g.set_keyboard_open(false);
        app.global::<WizardState>().set_step(RECEIPT_STEP as i32);
        g.set_page(s("wizard"));
        g.set_has_draft(false);
    }

    pub(super) fn bind_wizard(self: &Rc<Self>) {
        let app = self.app();
        let g = app.global::<WizardState>();
        {
            let w = Rc::downgrade(self);
            g.on_value(move |key, _version| {
                w.upgrade()
                    .map(|c| {
                        let st = c.state.borrow();
                        s(st.form.display(&key, &st.settings.language))
                    })
                    .unwrap_or_default()
            });
        }
        on!(
            self,
            g,
            on_edited,
            |c, key: SharedString, value: SharedString| c.edited(&key, &value)
        );
        on!(
            self,
            g,
            on_chose,
            |c, key: SharedString, code: SharedString| c.chose(&key, &code)
        );
        on!(
            self,
            g,
            on_acknowledge,
            |c, code: SharedString, path: SharedString| c.acknowledge(&code, &path)
        );
        on!(self, g, on_open_picker, |c, key: SharedString| c
            .open_picker(&key));
        on!(self, g, on_picker_search, |c, q: SharedString| c
            .picker_search(&q));
        on!(self, g, on_picker_chosen, |c, code: SharedString| c
            .picker_chosen(&code));
        on!(self, g, on_go_step, |c, i: i32| c
            .go_step(i.max(0) as usize));
        on!(self, g, on_next_step, |c| {
            let step = c.state.borrow().step;
            // "Tiếp" shows every finding of the step being left.
            c.state.borrow_mut().form.attempt_step(step);
            c.show_findings();
            c.go_step(step + 1)
        });
        on!(self, g, on_back_step, |c| {
            let st = c.state.borrow().step;
            c.go_step(st.saturating_sub(1))
        });
        on!(self, g, on_leave_wizard, |c| {
            c.save_draft();
            c.go_home()
        });
        on!(self, g, on_seal, |c| c.seal());
        on!(self, g, on_discard_draft, |c| c.discard_draft());
    }

    /// Step names and the closed lists' labels, in the current language.
    pub(super) fn wizard_texts(&self) {
        let app = self.app();
        let g = app.global::<WizardState>();
        let l = |p: (&str, &str)| self.pick(p.0, p.1);
        g.set_step_names(model(
            lists::STEP_LABELS.iter().map(|&p| l(p)).collect::<Vec<_>>(),
        ));
        let choices = |items: &[(&str, (&str, &str))]| choice_model(items, &l);
        g.set_kinds(choices(&lists::kinds()));
        g.set_exchange_reasons(choices(lists::EXCHANGE_REASONS));
        g.set_sexes(choices(lists::SEXES));
        g.set_provenances(choices(lists::PROVENANCES));
        g.set_marital_statuses(choices(lists::MARITAL));
        g.set_consent_givers(choices(lists::CONSENT));
        g.set_blood_types(choices(lists::BLOOD_TYPES));
    }

    /// Throws away the enrollment in progress (the operator confirmed); the store records
    /// who discarded it in the audit log.
    pub(super) fn discard_draft(self: &Rc<Self>) {
        let id = self.state.borrow().form.id.to_string();
        let by = self.by();
        self.live_preview(false);
        self.worker.post(move |store: &mut Store| {
            let result = store.discard_draft(&id, &by);
            Box::new(move |c: &Rc<Ctrl>| match result {
                Ok(_) => {
                    {
                        let mut st = c.state.borrow_mut();
                        st.form = Form::new();
                        st.current_finger = 0;
                        st.taken.clear();
                        st.waiting_draft = None;
                        st.step = 0;
                    }
                    c.refresh_form();
                    c.go_home();
                    c.banner("Đã huỷ hồ sơ đang làm.", "The unfinished enrollment was discarded.", false);
                }
                Err(e) => c.banner(
                    &format!("Chưa huỷ được hồ sơ ({e}). Hãy thử lại hoặc báo giám sát viên."),
                    &format!("The enrollment could not be discarded ({e}). Try again or tell your supervisor."),
                    true,
                ),
            })
        });
    }

    /// Shows the saved photo (after a restart the form has only its hash).
    fn load_photo(&self) {
        let Some(sha) = self
            .state
            .borrow()
            .form
            .photo
            .as_ref()
            .map(|p| p.sha256.clone())
        else {
            return;
        };
        self.worker.post(move |store: &mut Store| {
            let bytes = store.blob(&sha).ok().flatten().map(|(b, _)| b);
            Box::new(move |c: &Rc<Ctrl>| {
                if let Some(img) = bytes.as_deref().and_then(super::records::jpeg_image) {
                    c.app().global::<CaptureState>().set_photo(img);
                }
            })
        });
    }
}
