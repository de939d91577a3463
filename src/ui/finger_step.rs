//! The finger step: ten fingers on the scanner's thread, exceptions with proof photos.

use super::*;

impl Ctrl {
    pub(super) fn select_finger(&self, i: i32) {
        let i = (i.max(0) as usize).min(9);
        self.state.borrow_mut().current_finger = i;
        self.refresh_form();
    }

    pub(super) fn save_exception(self: &Rc<Self>) {
        let app = self.app();
        let reason: Option<ExceptionReason> = serde_json::from_value(serde_json::Value::String(
            app.global::<CaptureState>()
                .get_exception_reason()
                .to_string(),
        ))
        .ok();
        let Some(reason) = reason else { return };
        {
            let mut st = self.state.borrow_mut();
            let finger = Finger::ORDER[st.current_finger];
            let proof = st.proof.take();
            st.form.set_finger(FingerRecord {
                finger,
                outcome: FingerOutcome::Exception {
                    reason,
                    permanent: app.global::<CaptureState>().get_exception_permanent(),
                    note: None,
                    proof_photo_sha256: proof,
                },
            });
            // Move on to the next finger that has nothing yet.
            let next = (1..=10)
                .map(|k| (st.current_finger + k) % 10)
                .find(|&i| st.form.finger(Finger::ORDER[i]).is_none());
            if let Some(n) = next {
                st.current_finger = n;
            }
        }
        app.global::<CaptureState>().set_exception_open(false);
        app.global::<CaptureState>().set_exception_has_proof(false);
        self.refresh_form();
        self.save_draft();
        self.say_if_fingers_done();
    }

    pub(super) fn capture_finger(self: &Rc<Self>) {
        use enroll_hardware::fingerprint::{CapturePolicy, Finger as HwFinger};
        let Some((link, _)) = &self.scanner else {
            return self.device_missing();
        };
        let request = {
            let st = self.state.borrow();
            let finger = HwFinger::ORDER[st.current_finger];
            let (rec, _) = st.form.to_record(Utc::now());
            let elderly = rec
                .applicant
                .birth_date
                .age_on(Utc::now().date_naive())
                .is_some_and(|a| a >= 60);
            let taken = st
                .taken
                .iter()
                .filter(|(f, _)| *f != finger)
                .cloned()
                .collect();
            scanner::Request {
                finger,
                // Worn fingers of the elderly get more attempts and more time.
                policy: if elderly {
                    CapturePolicy::elderly()
                } else {
                    CapturePolicy::standard()
                },
                taken,
            }
        };
        let app = self.app();
        let g = app.global::<AppState>();
        g.set_busy(true);
        app.global::<CaptureState>()
            .set_finger_message(self.pick("Đang mở máy quét…", "Opening the scanner…"));
        if !link.capture(request) {
            g.set_busy(false);
            self.banner(
                "Máy quét đã ngừng hoạt động. Hãy khởi động lại máy.",
                "The scanner has stopped working. Restart the kiosk.",
                true,
            );
        }
    }

    pub(super) fn scanner_update(self: &Rc<Self>, u: scanner::Update) {
        use enroll_hardware::fingerprint::FingerOutcome as HwOutcome;
        let app = self.app();
        let g = app.global::<AppState>();
        match u {
            scanner::Update::Progress(vi, en) => app
                .global::<CaptureState>()
                .set_finger_message(self.pick(&vi, &en)),
            scanner::Update::Cancelled => {
                app.global::<AppState>().set_busy(false);
                app.global::<CaptureState>().set_finger_message(self.pick(
                    "Đã dừng lấy vân tay khi khoá máy. Bấm lấy lại ngón này.",
                    "Capture stopped when the kiosk locked. Capture this finger again.",
                ));
            }
            scanner::Update::Failed(vi, en) => {
                g.set_busy(false);
                app.global::<CaptureState>()
                    .set_finger_message(self.pick(&vi, &en));
                self.banner(&vi, &en, true);
            }
            scanner::Update::Done(outcome) => match *outcome {
                HwOutcome::Captured(c) => {
                    let index = usize::from(c.finger.code() - 1);
                    let hw_finger = c.finger;
                    self.worker.post(move |store: &mut Store| {
                        let image = store.put_blob(&c.image_png.bytes, "image/png");
                        let template = store.put_blob(&c.template.bytes, "application/x-r30x-template");
                        Box::new(move |ctrl: &Rc<Ctrl>| match (image, template) {
                            (Ok(image_sha256), Ok(template_sha256)) => {
                                let rec = FingerRecord {
                                    finger: Finger::ORDER[index],
                                    outcome: FingerOutcome::Captured {
                                        image_sha256,
                                        template_sha256,
                                        quality: c.quality.score,
                                        attempts: u8::try_from(c.attempts).unwrap_or(u8::MAX),
                                        force_captured: c.force_captured,
                                    },
                                };
                                {
                                    let mut st = ctrl.state.borrow_mut();
                                    st.taken.retain(|(f, _)| *f != hw_finger);
                                    st.taken.push((hw_finger, c.template.bytes.clone()));
                                }
                                ctrl.finger_recorded(rec);
                            }
                            (Err(e), _) | (_, Err(e)) => {
                                ctrl.app().global::<AppState>().set_busy(false);
                                ctrl.banner(
                                    &format!("Chưa lưu được vân tay ({e}). Hãy lấy lại ngón này."),
                                    &format!("The fingerprint could not be stored ({e}). Capture this finger again."),
                                    true,
                                );
                            }
                        })
                    });
                }
                HwOutcome::Exception { finger, exception } => {
                    let reason: Option<ExceptionReason> = serde_json::to_value(exception.reason)
                        .ok()
                        .and_then(|v| serde_json::from_value(v).ok());
                    let index = usize::from(finger.code() - 1);
                    if let Some(reason) = reason {
                        self.finger_recorded(FingerRecord {
                            finger: Finger::ORDER[index],
                            outcome: FingerOutcome::Exception {
                                reason,
                                permanent: exception.permanent,
                                note: Some(exception.note).filter(|n| !n.is_empty()),
                                proof_photo_sha256: None,
                            },
                        });
                    }
                }
            },
        }
    }

    /// A finger's result is in: record it, move to the next finger still empty, autosave.
    pub(super) fn finger_recorded(self: &Rc<Self>, rec: FingerRecord) {
        {
            let mut st = self.state.borrow_mut();
            st.form.set_finger(rec);
            let next = (1..=10)
                .map(|k| (st.current_finger + k) % 10)
                .find(|&i| st.form.finger(Finger::ORDER[i]).is_none());
            if let Some(n) = next {
                st.current_finger = n;
            }
        }
        self.app().global::<AppState>().set_busy(false);
        self.refresh_form();
        self.save_draft();
        self.say_if_fingers_done();
    }

    /// After the tenth finger, the operator is told in words that the fingers are done.
    pub(super) fn say_if_fingers_done(&self) {
        let done = {
            let st = self.state.borrow();
            Finger::ORDER.iter().all(|f| st.form.finger(*f).is_some())
        };
        if done {
            self.app()
                .global::<CaptureState>()
                .set_finger_message(self.pick(
                    "Đã xong cả mười ngón. Bấm \"Cho người dân xem lại\" để tiếp tục.",
                    "All ten fingers are done. Press \"Show the resident\" to continue.",
                ));
        }
    }

    pub(super) fn bind_finger_step(self: &Rc<Self>) {
        let app = self.app();
        let g = app.global::<CaptureState>();
        on!(self, g, on_capture_finger, |c| c.capture_finger());
        on!(self, g, on_select_finger, |c, i: i32| c.select_finger(i));
        on!(self, g, on_save_exception, |c| c.save_exception());
    }

    pub(super) fn scanner_texts(&self) {
        let app = self.app();
        let g = app.global::<CaptureState>();
        g.set_scanner_available(self.scanner.is_some());
        g.set_scanner_status(match &self.scanner {
            None => self.pick(
                "Chưa có máy quét vân tay. Kiểm tra dây cắm rồi khởi động lại máy; trong lúc đó chỉ ghi được ngón không lấy được.",
                "No fingerprint scanner is connected. Check the cable, then restart the kiosk; until then only fingers that cannot be taken can be recorded.",
            ),
            Some((_, scanner::ScannerSource::Simulated)) => self.pick(
                "Máy quét vân tay mô phỏng (chế độ thử): vân tay tổng hợp, không phải của người thật.",
                "Simulated fingerprint scanner (demo mode): synthetic fingers, not a real person's.",
            ),
            Some((_, scanner::ScannerSource::Device(..))) => self.pick(
                "Máy quét vân tay đã kết nối. Đặt ngón tay lên mặt kính khi máy báo.",
                "Fingerprint scanner connected. Place the finger on the glass when the kiosk asks.",
            ),
        });
    }
}
