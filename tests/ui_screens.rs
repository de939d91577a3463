//! Renders every screen in Vietnamese and English at 1280×800 with the software renderer and
//! writes PNGs to `$CARGO_TARGET_TMPDIR/screens/` (and to `docs/screens/` for the README
//! when `UPDATE_SCREENS=1`).

mod ui_common;

use std::path::PathBuf;

use chrono::Utc;
use enroll_sync::record::{example, ExceptionReason, Finger, FingerOutcome, FingerRecord};
use kiosk::ui::form::Form;
use kiosk::ui::{Kiosk, Options};
use slint::ComponentHandle;
use ui_common::*;

fn snap(k: &Kiosk, dir: &std::path::Path, name: &str) {
    let buf = k.window.window().take_snapshot().expect("snapshot");
    assert_eq!((buf.width(), buf.height()), (1280, 800), "{name}");
    let img = image::RgbaImage::from_raw(buf.width(), buf.height(), buf.as_bytes().to_vec())
        .expect("pixels");
    // A blank frame would mean nothing rendered.
    let first = img.get_pixel(0, 0);
    assert!(img.pixels().any(|p| p != first), "{name} rendered blank");
    img.save(dir.join(format!("{name}.png"))).expect("png");
}

const README: &[&str] = &[
    "vi-lock",
    "vi-demographics",
    "vi-fingers",
    "vi-resident_review",
    "en-home",
    "vi-receipt",
];

#[test]
fn every_screen_in_both_languages() {
    init(true);
    let data = tempfile::tempdir().expect("tempdir");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screens");
    std::fs::create_dir_all(&out).expect("dir");
    let path = data.path().to_owned();
    let dir = out.clone();
    run(async move {
        let k = Kiosk::new(Options {
            data_dir: path,
            demo: true,
            scanner: None,
            camera: None,
        })
        .expect("window");
        k.window
            .window()
            .set_size(slint::PhysicalSize::new(1280, 800));
        k.window.show().expect("show");
        settle(&k).await;
        let app = &k.window;
        for lang in ["vi", "en"] {
            let g = state(app);
            app.global::<SettingsState>()
                .invoke_set_language(lang.into());
            g.invoke_navigate("home".into());
            g.invoke_lock();
            settle(&k).await;
            snap(&k, &dir, &format!("{lang}-lock"));
            sign_in(&k, "1357902468").await;
            snap(&k, &dir, &format!("{lang}-home"));
            app.global::<HomeState>().invoke_new_enrollment();
            settle(&k).await;
            let mut form = Form::from_record(&example(Utc::now()));
            // Show every finger state: captured, forced after three weak attempts, exception.
            form.set_finger(FingerRecord {
                finger: Finger::RightLittle,
                outcome: FingerOutcome::Captured {
                    image_sha256: "ab".repeat(32),
                    template_sha256: "cd".repeat(32),
                    quality: 31,
                    attempts: 3,
                    force_captured: true,
                },
            });
            form.set_finger(FingerRecord {
                finger: Finger::LeftLittle,
                outcome: FingerOutcome::Exception {
                    reason: ExceptionReason::Bandaged,
                    permanent: false,
                    note: None,
                    proof_photo_sha256: None,
                },
            });
            k.load_form(form);
            settle(&k).await;
            for (i, name) in kiosk::ui::STEPS.iter().enumerate().take(9) {
                app.global::<WizardState>().invoke_go_step(i as i32);
                settle(&k).await;
                snap(&k, &dir, &format!("{lang}-{name}"));
            }
            app.global::<WizardState>().invoke_go_step(3);
            g.invoke_field_focused("applicant.permanent_residence.detail".into(), "text".into());
            settle(&k).await;
            snap(&k, &dir, &format!("{lang}-keyboard"));
            app.global::<WizardState>()
                .invoke_open_picker("applicant.permanent_residence.commune".into());
            settle(&k).await;
            snap(&k, &dir, &format!("{lang}-picker"));
            app.global::<WizardState>().invoke_go_step(6);
            app.global::<CaptureState>().set_exception_open(true);
            settle(&k).await;
            snap(&k, &dir, &format!("{lang}-exception"));
            app.global::<CaptureState>().set_exception_open(false);
            app.global::<WizardState>().invoke_go_step(8);
            settle(&k).await;
            use slint::Model;
            for f in app
                .global::<WizardState>()
                .get_findings()
                .iter()
                .filter(|f| f.warning)
            {
                app.global::<WizardState>()
                    .invoke_acknowledge(f.code, f.path);
            }
            settle(&k).await;
            app.global::<WizardState>().invoke_seal();
            settle(&k).await;
            assert_eq!(
                app.global::<WizardState>().get_step(),
                9,
                "sealed: {:?}",
                g.get_banner()
            );
            snap(&k, &dir, &format!("{lang}-receipt"));
            for page in ["records", "supervisor", "sync", "settings"] {
                g.invoke_navigate(page.into());
                settle(&k).await;
                snap(&k, &dir, &format!("{lang}-{page}"));
            }
            g.invoke_navigate("records".into());
            settle(&k).await;
            let first = app
                .global::<RecordsState>()
                .get_records()
                .row_data(0)
                .expect("demo records");
            app.global::<RecordsState>().invoke_open_record(first.id);
            settle(&k).await;
            snap(&k, &dir, &format!("{lang}-detail"));
        }
        g_reset(&k);
    });
    if std::env::var_os("UPDATE_SCREENS").is_some() {
        let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screens");
        std::fs::create_dir_all(&docs).expect("docs dir");
        for name in README {
            std::fs::copy(
                out.join(format!("{name}.png")),
                docs.join(format!("{name}.png")),
            )
            .expect("copy");
        }
    }
}

fn g_reset(k: &Kiosk) {
    settings_state(&k.window).invoke_set_language("vi".into());
}
