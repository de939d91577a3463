//! Every screen (the lock screen and the PIN change with the longest PIN too), at every text size, in Vietnamese and English, on the kiosk's 1280×800
//! screen: every interactive element lies inside the window (what does not fit must scroll,
//! and then it is clipped by its scroll view, not by the screen's edge), and the controls a
//! person needs to go on can be reached. Renders each screen with the software renderer to
//! `$CARGO_TARGET_TMPDIR/fit/` for looking at.

mod ui_common;

use std::path::{Path, PathBuf};

use chrono::Utc;
use enroll_sync::record::{example, Attribution};
use i_slint_backend_testing::{AccessibleRole, ElementHandle, ElementQuery};
use kiosk::enroll::{submit, Submission};
use kiosk::store::Store;
use kiosk::ui::form::Form;
use slint::{ComponentHandle, Model};
use ui_common::*;

const WIDTH: f32 = 1280.0;
const HEIGHT: f32 = 800.0;
const SCALES: [f32; 3] = [1.0, 1.25, 1.5];

fn interactive(role: Option<AccessibleRole>) -> bool {
    matches!(
        role,
        Some(
            AccessibleRole::Button
                | AccessibleRole::Tab
                | AccessibleRole::TextInput
                | AccessibleRole::Checkbox
                | AccessibleRole::Combobox
                | AccessibleRole::Slider
                | AccessibleRole::Spinbox
                | AccessibleRole::Switch
                | AccessibleRole::RadioButton
                | AccessibleRole::ListItem
        )
    )
}

/// A scroll view's (or list view's) rectangle: what sticks out of it is clipped, not lost.
fn scroll_views(app: &AppWindow) -> Vec<(f32, f32, f32, f32)> {
    ElementQuery::from_root(app)
        .match_descendants()
        .match_predicate(|e| {
            let scrolls = |n: &str| matches!(n, "ScrollView" | "ListView" | "Flickable");
            e.type_name().is_some_and(|t| scrolls(&t))
                || e.bases().is_some_and(|mut b| b.any(|t| scrolls(&t)))
        })
        .find_all()
        .into_iter()
        .map(|e| {
            let p = e.absolute_position();
            let s = e.size();
            (p.x, p.y, p.x + s.width, p.y + s.height)
        })
        .collect()
}

/// Interactive elements (found, so not entirely clipped away by a scroll view) that stick
/// out of the window and are not inside a scroll view that itself fits, in words.
fn outside(app: &AppWindow) -> Vec<String> {
    let inside_window = |r: &(f32, f32, f32, f32)| {
        r.0 >= -0.5 && r.1 >= -0.5 && r.2 <= WIDTH + 0.5 && r.3 <= HEIGHT + 0.5
    };
    let scrolls: Vec<_> = scroll_views(app)
        .into_iter()
        .filter(inside_window)
        .collect();
    let mut out: Vec<String> = ElementQuery::from_root(app)
        .match_descendants()
        .match_predicate(|e| interactive(e.accessible_role()))
        .find_all()
        .into_iter()
        .filter_map(|e| {
            let p = e.absolute_position();
            let s = e.size();
            if s.width <= 0.0 || s.height <= 0.0 {
                return None;
            }
            let r = (p.x, p.y, p.x + s.width, p.y + s.height);
            // Partly scrolled out of a scroll view that fits the window: reachable.
            let scrolled = scrolls
                .iter()
                .any(|v| r.0 >= v.0 - 0.5 && r.2 <= v.2 + 0.5 && r.1 < v.3 && r.3 > v.1);
            (!inside_window(&r) && !scrolled).then(|| {
                format!(
                    "{:?} at ({:.0}, {:.0}) size {:.0}×{:.0}",
                    e.accessible_label().unwrap_or_default(),
                    p.x,
                    p.y,
                    s.width,
                    s.height
                )
            })
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Whether a control can be reached: on screen now, or after scrolling the page that holds
/// `anchor` (a control known to be on the page).
fn reachable(app: &AppWindow, label: &str, anchor: &str) -> bool {
    let visible = |app: &AppWindow| {
        ElementHandle::find_by_accessible_label(app, label)
            .any(|e| e.accessible_role() != Some(AccessibleRole::Text))
    };
    if visible(app) {
        return true;
    }
    for dy in [-4000.0, 4000.0] {
        if let Some(a) = ElementHandle::find_by_accessible_label(app, anchor).next() {
            a.scroll(0.0, dy);
        }
        if visible(app) {
            return true;
        }
    }
    false
}

/// WCAG relative luminance of an sRGB colour.
fn luminance(c: slint::Color) -> f64 {
    let lin = |v: u8| {
        let v = f64::from(v) / 255.0;
        if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(c.red()) + 0.7152 * lin(c.green()) + 0.0722 * lin(c.blue())
}

fn contrast(a: slint::Color, b: slint::Color) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

struct Check<'a> {
    k: &'a Kiosk,
    dir: &'a Path,
    tag: String,
    problems: Vec<String>,
}

impl Check<'_> {
    fn screen(&mut self, name: &str) {
        let app = &self.k.window;
        for p in outside(app) {
            self.problems.push(format!("{}-{name}: {p}", self.tag));
        }
        let buf = app.window().take_snapshot().expect("snapshot");
        let img = image::RgbaImage::from_raw(buf.width(), buf.height(), buf.as_bytes().to_vec())
            .expect("pixels");
        img.save(self.dir.join(format!("{}-{name}.png", self.tag)))
            .expect("png");
    }

    fn needs(&mut self, screen: &str, label: &str, anchor: &str) {
        if !reachable(&self.k.window, label, anchor) {
            self.problems.push(format!(
                "{}-{screen}: {label:?} cannot be reached",
                self.tag
            ));
        }
    }
}

fn seed_record(dir: &Path) {
    seed_accounts(dir);
    let mut store = Store::open(dir).expect("store");
    let by = Attribution {
        person: "canbo".into(),
        device: "test".into(),
        at: Utc::now(),
    };
    let saved = submit(&mut store, example(Utc::now()), &by, false).expect("submit");
    assert!(matches!(saved, Submission::Saved { .. }), "{saved:?}");
}

#[test]
fn every_screen_fits_at_every_text_size_in_both_languages() {
    init(true);
    let data = tempfile::tempdir().expect("tempdir");
    seed_record(data.path());
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fit");
    std::fs::create_dir_all(&out).expect("dir");
    let path = data.path().to_owned();
    let problems = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let found = problems.clone();
    run(async move {
        let k = kiosk(&path);
        k.window
            .window()
            .set_size(slint::PhysicalSize::new(1280, 800));
        settle(&k).await;
        let app = &k.window;
        // Control boundaries stand out from the page and from a field's inside (WCAG 1.4.11).
        let theme = app.global::<kiosk::ui::Theme>();
        for (name, edge) in [
            ("field", theme.get_field_border()),
            ("button", theme.get_border()),
        ] {
            for (against, bg) in [
                ("page", theme.get_background()),
                ("surface", theme.get_surface()),
            ] {
                let ratio = contrast(edge, bg);
                assert!(ratio >= 3.0, "{name} edge on {against}: {ratio:.2}:1");
            }
        }
        for lang in ["vi", "en"] {
            for scale in SCALES {
                let en = lang == "en";
                let t = |vi: &'static str, en_: &'static str| if en { en_ } else { vi };
                let mut c = Check {
                    k: &k,
                    dir: &out,
                    tag: format!("{lang}-{}", (scale * 100.0) as u32),
                    problems: Vec::new(),
                };
                let settings = settings_state(app);
                settings.invoke_set_language(lang.into());
                settings.invoke_set_text_scale(scale);
                state(app).invoke_go_home();
                state(app).invoke_lock();
                settle(&k).await;
                c.screen("lock");
                c.needs("lock", t("Mở máy", "Unlock"), "1");
                c.needs("lock", "0", "1");
                // The longest PIN: twelve dots still fit their box, and no key moves as they come.
                let key_at = || find(app, "1").absolute_position();
                let before = key_at();
                for _ in 0..12 {
                    state(app).invoke_key("pin:7".into());
                }
                settle(&k).await;
                c.screen("lock-12-digits");
                if key_at() != before {
                    c.problems.push(format!(
                        "{}-lock: the keys moved as the PIN was typed",
                        c.tag
                    ));
                }
                for _ in 0..12 {
                    state(app).invoke_key("pin-backspace".into());
                }
                press(&k, t("Lê Văn Nam (giám sát)", "Lê Văn Nam (supervisor)")).await;
                sign_in(&k, SUPERVISOR_PIN).await;
                assert_eq!(state(app).get_page(), "home", "{}", c.tag);
                c.screen("home");
                let new = t("Đăng ký hồ sơ mới", "New enrollment");
                c.needs("home", t("Cài đặt", "Settings"), new);
                c.needs(
                    "home",
                    t("Gửi dữ liệu / Xuất ra USB", "Sync / export to USB"),
                    new,
                );
                for page in ["records", "supervisor", "sync", "settings"] {
                    state(app).invoke_navigate(page.into());
                    settle(&k).await;
                    c.screen(page);
                }
                state(app).invoke_navigate("pin-change".into());
                for _ in 0..12 {
                    state(app).invoke_key("new-pin:7".into());
                }
                settle(&k).await;
                c.screen("pin-change");
                c.needs("pin-change", t("Tiếp", "Next"), "1");
                c.needs(
                    "pin-change",
                    t("Huỷ, không đổi", "Cancel, keep the PIN"),
                    "1",
                );
                state(app).invoke_navigate("records".into());
                settle(&k).await;
                let first = records_state(app)
                    .get_records()
                    .row_data(0)
                    .expect("a record");
                records_state(app).invoke_open_record(first.id);
                settle(&k).await;
                c.screen("detail");

                home_state(app).invoke_new_enrollment();
                settle(&k).await;
                c.screen("step0-empty");
                k.load_form(Form::from_record(&example(Utc::now())));
                settle(&k).await;
                let wizard = wizard_state(app);
                for step in 0..9 {
                    wizard.invoke_go_step(step);
                    settle(&k).await;
                    let name = kiosk::ui::STEPS[step as usize];
                    c.screen(name);
                    if step != 7 {
                        c.needs(name, t("Quay lại", "Back"), t("Quay lại", "Back"));
                    }
                }
                wizard.invoke_go_step(3);
                settle(&k).await;
                state(app).invoke_field_focused(
                    "applicant.permanent_residence.detail".into(),
                    "text".into(),
                );
                settle(&k).await;
                c.screen("keyboard");
                c.needs("keyboard", t("Ẩn bàn phím", "Hide keyboard"), "a");
                wizard.invoke_go_step(1);
                state(app).invoke_field_focused("applicant.id_number".into(), "number".into());
                settle(&k).await;
                c.screen("numberpad");
                wizard.invoke_open_picker("applicant.permanent_residence.province".into());
                settle(&k).await;
                c.screen("picker");
                wizard.set_picker_open(false);
                wizard.invoke_go_step(6);
                capture_state(app).set_exception_open(true);
                settle(&k).await;
                c.screen("exception");
                capture_state(app).set_exception_open(false);
                wizard.invoke_go_step(2);
                settle(&k).await;
                press(&k, t("Huỷ hồ sơ", "Discard")).await;
                c.screen("discard");
                press(&k, t("Không huỷ", "Keep it")).await;
                wizard.invoke_go_step(8);
                settle(&k).await;
                for f in wizard.get_findings().iter().filter(|f| f.warning) {
                    wizard.invoke_acknowledge(f.code, f.path);
                }
                settle(&k).await;
                wizard.invoke_seal();
                settle(&k).await;
                assert_eq!(
                    wizard.get_step(),
                    9,
                    "{}: {:?}",
                    c.tag,
                    state(app).get_banner()
                );
                c.screen("receipt");
                found.borrow_mut().extend(c.problems);
            }
        }
        settings_state(app).invoke_set_text_scale(1.0);
        settings_state(app).invoke_set_language("vi".into());
        settle(&k).await;
    });
    let problems = problems.borrow();
    assert!(
        problems.is_empty(),
        "{} controls do not fit:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
