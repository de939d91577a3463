//! The photo step (and the identity step's QR scan): live preview, taking and checking the
//! photo on the camera's thread.

use super::*;

impl Ctrl {
    /// The camera's live preview runs only while the photo step is on screen.
    pub(super) fn live_preview(&self, on: bool) {
        if let Some(link) = &self.camera {
            link.ask(camera::Ask::Preview(on));
        }
        if !on {
            self.app().global::<CaptureState>().set_previewing(false);
        }
    }

    pub(super) fn take_photo(self: &Rc<Self>, profile: enroll_hardware::photo::PhotoProfile) {
        let Some(link) = &self.camera else {
            return self.device_missing();
        };
        let app = self.app();
        let g = app.global::<AppState>();
        g.set_busy(true);
        self.banner(
            "Đang chụp, xin giữ yên…",
            "Taking the photo, please hold still…",
            false,
        );
        if !link.ask(camera::Ask::Photo(profile)) {
            g.set_busy(false);
            self.banner(
                "Camera đã ngừng hoạt động. Hãy khởi động lại máy.",
                "The camera has stopped working. Restart the kiosk.",
                true,
            );
        }
    }

    pub(super) fn scan_qr(self: &Rc<Self>) {
        let Some(link) = &self.camera else {
            return self.device_missing();
        };
        self.app().global::<AppState>().set_busy(true);
        self.banner(
            "Đưa mã QR trên thẻ căn cước lại gần camera và giữ yên…",
            "Hold the QR code of the identity card close to the camera and keep still…",
            false,
        );
        if !link.ask(camera::Ask::CardQr) {
            self.app().global::<AppState>().set_busy(false);
        }
    }

    /// Fills the form from an identity card's QR code; the operator still checks every field.
    pub(super) fn prefill_from_card(self: &Rc<Self>, card: &enroll_hardware::qr::CardQr) {
        use enroll_hardware::qr::Sex as CardSex;
        let words: Vec<&str> = card.full_name.split_whitespace().collect();
        {
            let mut st = self.state.borrow_mut();
            let f = &mut st.form;
            f.set("applicant.id_number", &card.id_number);
            if let Some(old) = &card.old_id {
                f.set("applicant.old_id_number", old);
            }
            if let [family, middle @ .., given] = words.as_slice() {
                f.set("applicant.name.family", family);
                f.set("applicant.name.middle", &middle.join(" "));
                f.set("applicant.name.given", given);
            }
            f.set(
                "applicant.birth_date",
                &card.date_of_birth.format("%d/%m/%Y").to_string(),
            );
            f.set("applicant.birth_date.provenance", "documented");
            f.set(
                "applicant.sex",
                match card.sex {
                    CardSex::Male => "male",
                    CardSex::Female => "female",
                },
            );
            f.set("applicant.permanent_residence.detail", &card.address);
        }
        self.refresh_form();
        self.save_draft();
        let vi: Vec<String> = card.warnings.iter().map(|w| w.message_vi()).collect();
        let en: Vec<String> = card.warnings.iter().map(|w| w.message_en()).collect();
        self.banner(
            &format!(
                "Đã điền từ mã QR: số định danh, họ tên, ngày sinh, giới tính, địa chỉ thường trú (chọn lại tỉnh, xã). Hãy kiểm tra từng mục.{}",
                if vi.is_empty() { String::new() } else { format!(" Lưu ý: {}", vi.join("; ")) }
            ),
            &format!(
                "Filled in from the QR code: ID number, name, date of birth, sex, permanent address (pick the province and commune again). Check every field.{}",
                if en.is_empty() { String::new() } else { format!(" Note: {}", en.join("; ")) }
            ),
            !vi.is_empty(),
        );
    }

    pub(super) fn camera_shot(self: &Rc<Self>, shot: camera::Shot) {
        use enroll_hardware::photo::PhotoProfile;
        let app = self.app();
        let g = app.global::<AppState>();
        match shot {
            camera::Shot::Card(card) => {
                g.set_busy(false);
                self.prefill_from_card(&card);
            }
            camera::Shot::Failed(vi, en) => {
                g.set_busy(false);
                app.global::<CaptureState>().set_previewing(false);
                self.banner(&vi, &en, true);
            }
            camera::Shot::Preview(frame) => {
                // A frame may still arrive just after the operator left the step.
                if g.get_page() == "wizard"
                    && app.global::<WizardState>().get_step() == PHOTO_STEP as i32
                {
                    app.global::<CaptureState>()
                        .set_live_preview(slint::Image::from_rgb8(frame));
                    app.global::<CaptureState>().set_previewing(true);
                }
            }
            camera::Shot::Rejected(checks, view) => {
                g.set_busy(false);
                if app.global::<WizardState>().get_step() == PHOTO_STEP as i32 {
                    self.show_shot(
                        view,
                        &checks,
                        (
                            "Ảnh chưa đạt nên chưa lưu. Sửa theo các mục dưới rồi bấm \"Chụp lại\".",
                            "The photo is not good enough and was not saved. Fix what is marked below, then press \"Take again\".",
                        ),
                    );
                }
                let problems: Vec<_> = checks.iter().filter(|c| !c.0).collect();
                let vi: Vec<&str> = problems.iter().map(|p| p.1.as_str()).collect();
                let en: Vec<&str> = problems.iter().map(|p| p.2.as_str()).collect();
                self.banner(
                    &format!(
                        "Ảnh chưa đạt, chưa lưu: {}. Sửa rồi chụp lại.",
                        vi.join("; ")
                    ),
                    &format!(
                        "Photo not good enough, not saved: {}. Fix it and take it again.",
                        en.join("; ")
                    ),
                    true,
                );
            }
            camera::Shot::Taken {
                profile,
                jpeg,
                width,
                height,
                view,
                checks,
            } => {
                self.worker.post(move |store: &mut Store| {
                    let sha = store.put_blob(&jpeg, "image/jpeg");
                    Box::new(move |c: &Rc<Ctrl>| {
                        let app = c.app();
                        let g = app.global::<AppState>();
                        g.set_busy(false);
                        match sha {
                            Err(e) => c.banner(
                                &format!("Chưa lưu được ảnh ({e}). Hãy chụp lại."),
                                &format!("The photo could not be stored ({e}). Take it again."),
                                true,
                            ),
                            Ok(sha256) if profile == PhotoProfile::CardFace => {
                                c.state.borrow_mut().form.photo =
                                    Some(enroll_sync::record::PhotoRef {
                                        sha256,
                                        width,
                                        height,
                                    });
                                app.global::<CaptureState>()
                                    .set_photo(slint::Image::from_rgb8(view.clone()));
                                c.show_shot(
                                    view,
                                    &checks,
                                    (
                                        "Đã lưu ảnh. Ảnh đạt mọi kiểm tra:",
                                        "Photo saved. It passed every check:",
                                    ),
                                );
                                c.clear_banner();
                                c.refresh_form();
                                c.save_draft();
                            }
                            Ok(sha256) => {
                                c.state.borrow_mut().proof = Some(sha256);
                                app.global::<CaptureState>().set_exception_has_proof(true);
                                c.clear_banner();
                            }
                        }
                    })
                });
            }
        }
    }

    /// Shows the shot just taken beside each check's verdict in words, with "Chụp lại".
    fn show_shot(
        &self,
        view: slint::SharedPixelBuffer<slint::Rgb8Pixel>,
        checks: &[camera::Verdict],
        verdict: (&str, &str),
    ) {
        let app = self.app();
        let g = app.global::<CaptureState>();
        g.set_shot(slint::Image::from_rgb8(view));
        g.set_photo_verdict(self.pick(verdict.0, verdict.1));
        g.set_photo_checks(model(
            checks
                .iter()
                .map(|(ok, vi, en)| PhotoCheck {
                    ok: *ok,
                    text: self.pick(vi, en),
                })
                .collect::<Vec<_>>(),
        ));
        g.set_reviewing_shot(true);
    }

    pub(super) fn bind_photo_step(self: &Rc<Self>) {
        let app = self.app();
        let g = app.global::<CaptureState>();
        on!(self, g, on_retake, |c| {
            c.app().global::<CaptureState>().set_reviewing_shot(false);
            c.clear_banner();
            c.live_preview(true);
        });
        on!(self, g, on_take_photo, |c| c
            .take_photo(enroll_hardware::photo::PhotoProfile::CardFace));
        on!(self, g, on_take_proof_photo, |c| c.take_photo(
            enroll_hardware::photo::PhotoProfile::FingerException
        ));
    }

    /// What the camera can do on this kiosk, in the current language.
    pub(super) fn capture_texts(&self) {
        let app = self.app();
        let g = app.global::<CaptureState>();
        g.set_exception_reasons(choice_model(lists::EXCEPTION_REASONS, &|p| {
            self.pick(p.0, p.1)
        }));
        g.set_camera_available(self.camera.is_some());
        g.set_camera_status(if self.camera.is_some() {
            self.pick(
                "Camera sẵn sàng. Máy tự kiểm tra ánh sáng, độ nét và nền của ảnh.",
                "Camera ready. The kiosk checks the photo's light, sharpness and background.",
            )
        } else {
            self.pick(
                "Chưa có camera. Kiểm tra dây cắm rồi khởi động lại máy; các bước khác vẫn làm được.",
                "No camera is connected. Check the cable, then restart the kiosk; the other steps still work.",
            )
        });
        self.scanner_texts();
    }
}
