//! The kiosk's touch UI: Slint markup in `ui/`, callbacks here. The markup owns the layout;
//! this module owns every decision, and hands all store work to a worker thread.

/// Connects a global's callback to a `Ctrl` method without keeping the controller alive.
macro_rules! on {
    ($ctrl:expr, $g:expr, $setter:ident, |$c:ident $(, $arg:ident : $t:ty)*| $body:expr) => {{
        let w = std::rc::Rc::downgrade($ctrl);
        $g.$setter(move |$($arg: $t),*| {
            if let Some($c) = w.upgrade() {
                $body
            }
        });
    }};
}

pub mod auth;
pub mod camera;
pub mod compose;
pub mod form;
pub mod headless;
mod lists;
mod receipt;
pub mod scanner;
pub mod speech;
mod worker;

// One module per page, each binding its own Slint global (ui/state.slint).
mod finger_step;
mod home;
mod lock;
mod photo_step;
mod pin_change;
mod records;
mod resident;
mod settings;
mod transfer;
mod wizard;

pub use settings::Settings;

/// How the lock screen marks a supervisor's account (vi, en); the tour reads the same words.
pub const SUPERVISOR_TAG: (&str, &str) = ("(giám sát)", "(supervisor)");
use settings::SETTINGS_FILE;

slint::include_modules!();

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::{Rc, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use enroll_sync::record::{
    Attribution, ExceptionReason, Finger, FingerOutcome, FingerRecord, RecordStatus,
};
use enroll_sync::validate::{Finding, Severity};
use slint::{ComponentHandle, Model, ModelRc, SharedString, VecModel};

use crate::store::{Draft, ListQuery, Store};
pub use auth::Operator;
use form::Form;
use worker::{Reply, Worker};

/// The wizard's steps; their names are also what a draft records as "where it stood".
pub const STEPS: [&str; 10] = [
    "kind",
    "identity",
    "demographics",
    "addresses",
    "relatives",
    "photo",
    "fingers",
    "resident_review",
    "consent",
    "receipt",
];
const PHOTO_STEP: usize = 5;
const RESIDENT_STEP: usize = 7;
const CONSENT_STEP: usize = 8;
const RECEIPT_STEP: usize = 9;

pub struct Options {
    pub data_dir: PathBuf,
    pub demo: bool,
    /// The fingerprint scanner; `None` when there is none.
    pub scanner: Option<scanner::ScannerSource>,
    /// The camera (`Auto` finds the first V4L2 camera; in demo mode the simulator stands in).
    pub camera: Option<enroll_hardware::camera::DeviceSelector>,
}

#[derive(Default)]
struct State {
    settings: Settings,
    operator: Option<Operator>,
    device: String,
    form: Form,
    step: usize,
    /// Where to return after unlocking: (page, step).
    resume: Option<(String, usize)>,
    waiting_draft: Option<Draft>,
    picker_target: String,
    findings: Vec<Finding>,
    composer: compose::Composer,
    current_finger: usize,
    receipt: Option<(String, String)>,
    pin: String,
    store_ready: bool,
    /// Templates captured for this applicant, to catch the same finger placed twice.
    taken: Vec<(enroll_hardware::fingerprint::Finger, Vec<u8>)>,
    /// Proof photo for the finger exception being recorded.
    proof: Option<String>,
    /// The kiosk's accounts: (sign-in name, display name, supervisor).
    accounts: Vec<(String, String, bool)>,
    /// The account chosen on the lock screen.
    account: String,
    /// The signed-in session (supervisor decisions are signed in its name).
    session: Option<crate::accounts::Session>,
    /// The record open on the detail page.
    detail_id: Option<uuid::Uuid>,
    /// Provisioned or not, last contact with HQ (Home, the sync screen).
    sync_facts: home::SyncFacts,
    /// The resident review is being read aloud.
    speaking: bool,
    /// Digits typed on the PIN-change page.
    pin_change: pin_change::PinChange,
}

/// The running UI: window, state, store worker, idle timer.
pub struct Ctrl {
    window: slint::Weak<AppWindow>,
    state: RefCell<State>,
    worker: Worker,
    scanner: Option<(scanner::ScannerLink, scanner::ScannerSource)>,
    camera: Option<camera::CameraLink>,
    idle: slint::Timer,
    data_dir: PathBuf,
    demo: bool,
}

thread_local! {
    static CTRL: RefCell<Weak<Ctrl>> = const { RefCell::new(Weak::new()) };
}

fn with_ctrl(f: impl FnOnce(&Rc<Ctrl>)) {
    if let Some(c) = CTRL.with(|c| c.borrow().upgrade()) {
        f(&c);
    }
}

fn s(v: impl Into<SharedString>) -> SharedString {
    v.into()
}

fn model<T: Clone + 'static>(v: Vec<T>) -> ModelRc<T> {
    ModelRc::new(VecModel::from(v))
}

/// A closed list's choices with their labels in the current language.
fn choice_model(
    items: &[(&str, (&str, &str))],
    l: &dyn Fn((&str, &str)) -> SharedString,
) -> ModelRc<Choice> {
    model(
        items
            .iter()
            .map(|(code, label)| Choice {
                code: s(*code),
                label: l(*label),
            })
            .collect::<Vec<_>>(),
    )
}

/// A kiosk UI bound to a window. Keep it alive as long as the window runs.
pub struct Kiosk {
    pub window: AppWindow,
    ctrl: Rc<Ctrl>,
}

impl Kiosk {
    pub fn new(opts: Options) -> Result<Kiosk, slint::PlatformError> {
        let window = AppWindow::new()?;
        let settings: Settings = std::fs::read(opts.data_dir.join(SETTINGS_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let demo = opts.demo;
        let worker = Worker::start(opts.data_dir.clone(), move |store: &mut Store| {
            if demo {
                lists::seed_demo_accounts(store);
                lists::seed_demo(store);
            }
            let device = store.kiosk().code.clone();
            let draft = store.latest_draft().ok().flatten();
            let accounts = lists::account_list(store);
            let facts = home::SyncFacts::of(store);
            Box::new(move |c: &Rc<Ctrl>| {
                let mut st = c.state.borrow_mut();
                st.sync_facts = facts;
                st.device = device;
                st.store_ready = true;
                st.waiting_draft = draft;
                // The first operator is chosen; a supervisor taps their own name.
                st.account = accounts
                    .iter()
                    .find(|a| !a.2)
                    .or(accounts.first())
                    .map(|a| a.0.clone())
                    .unwrap_or_default();
                st.accounts = accounts;
                let has = st.waiting_draft.is_some();
                drop(st);
                c.app().global::<AppState>().set_has_draft(has);
                c.refresh_texts();
            }) as Reply
        });
        let ctrl = Rc::new(Ctrl {
            window: window.as_weak(),
            state: RefCell::new(State {
                settings,
                ..State::default()
            }),
            worker,
            scanner: opts.scanner.map(|src| {
                (
                    scanner::ScannerLink::start(src.clone(), scanner_update),
                    src,
                )
            }),
            camera: opts
                .camera
                .map(|sel| camera::CameraLink::start(sel, demo, camera_shot)),
            idle: slint::Timer::default(),
            data_dir: opts.data_dir,
            demo,
        });
        CTRL.with(|c| *c.borrow_mut() = Rc::downgrade(&ctrl));
        ctrl.bind();
        ctrl.apply_settings();
        ctrl.refresh_texts();
        ctrl.refresh_form();
        Ok(Kiosk { window, ctrl })
    }

    /// Store jobs whose replies have not reached the UI yet (tests wait for 0).
    pub fn pending(&self) -> usize {
        self.ctrl.worker.pending()
    }

    /// The form as it stands (tests compare it with what the store holds).
    pub fn form(&self) -> Form {
        self.ctrl.state.borrow().form.clone()
    }

    /// Replaces the form in progress (QR prefill, screenshots) and shows it.
    pub fn load_form(&self, form: Form) {
        self.ctrl.state.borrow_mut().form = form;
        self.ctrl.refresh_form();
    }

    pub fn run(&self) -> Result<(), slint::PlatformError> {
        self.window.run()
    }
}

impl Drop for Kiosk {
    fn drop(&mut self) {
        // Closes the store even if a callback still holds the controller.
        self.ctrl.worker.stop();
    }
}

impl Ctrl {
    pub(super) fn app(&self) -> AppWindow {
        // The controller only runs from the window's own callbacks and event loop.
        self.window
            .upgrade()
            .expect("window outlives its controller")
    }

    pub(super) fn lang(&self) -> String {
        self.state.borrow().settings.language.clone()
    }

    pub(super) fn pick(&self, vi: &str, en: &str) -> SharedString {
        if self.lang() == "en" {
            s(en)
        } else {
            s(vi)
        }
    }

    pub(super) fn by(&self) -> Attribution {
        let st = self.state.borrow();
        Attribution {
            person: st
                .operator
                .as_ref()
                .map(|o| o.id.clone())
                .unwrap_or_default(),
            device: st.device.clone(),
            at: Utc::now(),
        }
    }

    pub(super) fn banner(&self, vi: &str, en: &str, error: bool) {
        let app = self.app();
        let g = app.global::<AppState>();
        g.set_banner(self.pick(vi, en));
        g.set_banner_error(error);
    }

    pub(super) fn clear_banner(&self) {
        self.app().global::<AppState>().set_banner(s(""));
    }

    pub(super) fn store_failed(&self, msg: &str) {
        self.banner(
            &format!("Không mở được dữ liệu của máy: {msg}. Hãy báo cho giám sát viên; không nhập hồ sơ mới."),
            &format!("The kiosk's data could not be opened: {msg}. Tell your supervisor; do not start new enrollments."),
            true,
        );
    }

    /// Connects every page's callbacks; each page module binds its own global.
    pub(super) fn bind(self: &Rc<Self>) {
        let app = self.app();
        let g = app.global::<AppState>();
        on!(
            self,
            g,
            on_field_focused,
            |c, key: SharedString, kind: SharedString| c.field_focused(&key, &kind)
        );
        on!(self, g, on_key, |c, code: SharedString| c.key(&code));
        on!(self, g, on_navigate, |c, page: SharedString| c
            .navigate(&page));
        on!(self, g, on_lock, |c| c.lock());
        on!(self, g, on_touched, |c| c.touched());
        on!(self, g, on_go_home, |c| c.go_home());
        self.bind_lock();
        self.bind_home();
        self.bind_wizard();
        self.bind_photo_step();
        self.bind_finger_step();
        self.bind_resident();
        self.bind_records();
        self.bind_sync();
        self.bind_settings();
        self.bind_pin_change();
    }

    /// Every text the Rust side supplies, in the current language.
    pub(super) fn refresh_texts(&self) {
        self.wizard_texts();
        self.capture_texts();
        self.sync_texts();
        self.records_texts();
        self.home_texts();
        self.lock_texts();
    }

    pub(super) fn touched(self: &Rc<Self>) {
        let secs = self.state.borrow().settings.idle_seconds.max(30);
        let w = Rc::downgrade(self);
        self.idle.start(
            slint::TimerMode::SingleShot,
            Duration::from_secs(u64::from(secs)),
            move || {
                if let Some(c) = w.upgrade() {
                    c.idle_expired();
                }
            },
        );
    }

    pub(super) fn idle_expired(self: &Rc<Self>) {
        let app = self.app();
        let g = app.global::<AppState>();
        // Nothing is timed against the resident: the review screen never locks.
        if g.get_page() == "wizard" && self.state.borrow().step == RESIDENT_STEP {
            self.touched();
            return;
        }
        if g.get_page() != "lock" {
            self.lock();
        }
    }

    pub(super) fn go_home(self: &Rc<Self>) {
        self.navigate("home");
    }

    pub(super) fn navigate(self: &Rc<Self>, page: &str) {
        let app = self.app();
        let g = app.global::<AppState>();
        self.live_preview(false);
        self.clear_banner();
        g.set_keyboard_open(false);
        app.global::<WizardState>().set_picker_open(false);
        match page {
            "home" => self.refresh_home(),
            "records" => {
                let q = app.global::<RecordsState>().get_records_query().to_string();
                self.search_records(&q);
            }
            "supervisor" => self.refresh_awaiting(),
            "settings" => self.refresh_hq_settings(),
            "pin-change" => self.open_pin_change(),
            _ => {}
        }
        g.set_page(s(page));
    }

    /// A field took the focus: the right keyboard opens. The field's form step has measured it
    /// already and scrolls it above the keyboard (`FormStep` in `ui/components/fields.slint`).
    pub(super) fn field_focused(&self, _key: &str, kind: &str) {
        self.state.borrow_mut().composer.reset();
        let app = self.app();
        let g = app.global::<AppState>();
        g.set_keyboard_numeric(kind != "text");
        g.set_keyboard_open(true);
    }

    /// A key of an on-screen keyboard: the PIN pad's digits stay in Rust; text keys go
    /// through the Telex composer and reach the focused field as key events.
    pub(super) fn key(self: &Rc<Self>, code: &str) {
        let app = self.app();
        let g = app.global::<AppState>();
        if self.pin_key(code) || self.pin_change_key(code) {
            return;
        }
        use slint::platform::{Key, WindowEvent};
        let window = app.window();
        let press = |text: SharedString| {
            window.dispatch_event(WindowEvent::KeyPressed { text: text.clone() });
            window.dispatch_event(WindowEvent::KeyReleased { text });
        };
        let mut st = self.state.borrow_mut();
        st.composer.telex = g.get_telex();
        let edit = match code {
            "shift" => {
                st.composer.toggle_shift();
                return;
            }
            "backspace" => {
                st.composer.reset();
                compose::Edit {
                    delete: 1,
                    insert: String::new(),
                }
            }
            "space" => st.composer.key(" "),
            other => st.composer.key(other),
        };
        drop(st);
        for _ in 0..edit.delete {
            press(Key::Backspace.into());
        }
        if !edit.insert.is_empty() {
            press(s(&edit.insert));
        }
    }

    pub(super) fn device_missing(&self) {
        self.banner(
            "Thiết bị hoặc chức năng này chưa có trên máy. Hãy tiếp tục các bước khác; hồ sơ vẫn được lưu nháp.",
            "This device or feature is not available on this kiosk. Carry on with the other steps; the draft is kept.",
            false,
        );
    }
}

fn camera_shot(s: camera::Shot) {
    with_ctrl(|c| c.camera_shot(s));
}

fn scanner_update(u: scanner::Update) {
    with_ctrl(|c| c.scanner_update(u));
}

fn select_language(lang: &str) {
    // Vietnamese is the source language of the markup: no catalogue, so select none.
    let code = if lang == "en" { "en" } else { "" };
    if slint::select_bundled_translation(code).is_err() {
        let _ = slint::select_bundled_translation("");
    }
}

/// Runs the kiosk until its window closes. The backend comes from `SLINT_BACKEND`
/// (`winit` on a desktop, `linuxkms-software` full-screen without one).
pub fn run(opts: Options) -> Result<(), slint::PlatformError> {
    if std::env::var_os("KIOSK_HEADLESS").is_some() {
        let exit = std::env::var_os("KIOSK_EXIT_AFTER_FIRST_FRAME").is_some();
        slint::platform::set_platform(Box::new(headless::Headless::new(exit)))
            .map_err(|e| slint::PlatformError::Other(e.to_string()))?;
    }
    let kiosk = Kiosk::new(opts)?;
    kiosk.run()
}

/// Model helper for tests: the rows of a `[RecordRow]` model.
pub fn rows(m: &ModelRc<RecordRow>) -> Vec<RecordRow> {
    m.iter().collect()
}
