//! The kiosk's touch UI: Slint markup in `ui/`, callbacks here. The markup owns the layout;
//! this module owns every decision, and hands all store work to a worker thread.

pub mod auth;
pub mod camera;
pub mod compose;
pub mod form;
pub mod headless;
mod lists;
mod receipt;
pub mod scanner;
mod speech;
mod transfer;
mod worker;

slint::include_modules!();

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::{Rc, Weak};
use std::time::Duration;

use chrono::Utc;
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

/// Settings kept in `ui-settings.json` in the data directory.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Settings {
    pub language: String,
    pub text_scale: f32,
    pub idle_seconds: u32,
    pub read_aloud: bool,
    pub volume: u8,
    pub hq_address: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            language: "vi".into(),
            text_scale: 1.0,
            idle_seconds: 300,
            read_aloud: true,
            volume: 75,
            hq_address: String::new(),
        }
    }
}

const SETTINGS_FILE: &str = "ui-settings.json";

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
            Box::new(move |c: &Rc<Ctrl>| {
                let mut st = c.state.borrow_mut();
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

impl Ctrl {
    fn app(&self) -> AppWindow {
        // The controller only runs from the window's own callbacks and event loop.
        self.window
            .upgrade()
            .expect("window outlives its controller")
    }

    fn lang(&self) -> String {
        self.state.borrow().settings.language.clone()
    }

    fn pick(&self, vi: &str, en: &str) -> SharedString {
        if self.lang() == "en" {
            s(en)
        } else {
            s(vi)
        }
    }

    fn by(&self) -> Attribution {
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

    fn banner(&self, vi: &str, en: &str, error: bool) {
        let app = self.app();
        let g = app.global::<AppState>();
        g.set_banner(self.pick(vi, en));
        g.set_banner_error(error);
    }

    fn clear_banner(&self) {
        self.app().global::<AppState>().set_banner(s(""));
    }

    fn store_failed(&self, msg: &str) {
        self.banner(
            &format!("Không mở được dữ liệu của máy: {msg}. Hãy báo cho giám sát viên; không nhập hồ sơ mới."),
            &format!("The kiosk's data could not be opened: {msg}. Tell your supervisor; do not start new enrollments."),
            true,
        );
    }

    fn bind(self: &Rc<Self>) {
        let app = self.app();
        let g = app.global::<AppState>();
        macro_rules! on {
            ($setter:ident, |$c:ident $(, $arg:ident : $t:ty)*| $body:expr) => {{
                let w = Rc::downgrade(self);
                g.$setter(move |$($arg: $t),*| {
                    if let Some($c) = w.upgrade() {
                        $body
                    }
                });
            }};
        }
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
        on!(on_edited, |c, key: SharedString, value: SharedString| c
            .edited(&key, &value));
        on!(on_chose, |c, key: SharedString, code: SharedString| c
            .chose(&key, &code));
        on!(
            on_field_focused,
            |c, key: SharedString, kind: SharedString| c.field_focused(&key, &kind)
        );
        on!(
            on_acknowledge,
            |c, code: SharedString, path: SharedString| c.acknowledge(&code, &path)
        );
        on!(on_open_picker, |c, key: SharedString| c.open_picker(&key));
        on!(on_picker_search, |c, q: SharedString| c.picker_search(&q));
        on!(on_picker_chosen, |c, code: SharedString| c
            .picker_chosen(&code));
        on!(on_key, |c, code: SharedString| c.key(&code));
        on!(on_take_photo, |c| c
            .take_photo(enroll_hardware::photo::PhotoProfile::CardFace));
        on!(on_take_proof_photo, |c| c.take_photo(
            enroll_hardware::photo::PhotoProfile::FingerException
        ));
        on!(on_capture_finger, |c| c.capture_finger());
        on!(on_select_finger, |c, i: i32| c.select_finger(i));
        on!(on_save_exception, |c| c.save_exception());
        on!(on_resident_answer, |c, yes: bool| c.resident_answer(yes));
        on!(on_read_aloud, |c| c.read_aloud());
        on!(on_seal, |c| c.seal());
        on!(on_new_enrollment, |c| c.new_enrollment());
        on!(on_resume_draft, |c| c.resume_draft());
        on!(on_go_step, |c, i: i32| c.go_step(i.max(0) as usize));
        on!(on_next_step, |c| {
            let st = c.state.borrow().step;
            c.go_step(st + 1)
        });
        on!(on_back_step, |c| {
            let st = c.state.borrow().step;
            c.go_step(st.saturating_sub(1))
        });
        on!(on_leave_wizard, |c| {
            c.save_draft();
            c.go_home()
        });
        on!(on_search_records, |c, q: SharedString| c.search_records(&q));
        on!(on_open_record, |c, id: SharedString| c.open_record(&id));
        on!(on_start_sync, |c| c.start_sync());
        on!(on_start_export, |c| c.start_export());
        on!(on_set_language, |c, lang: SharedString| c
            .set_language(&lang));
        on!(on_set_text_scale, |c, v: f32| {
            c.state.borrow_mut().settings.text_scale = v;
            c.apply_settings();
            c.save_settings()
        });
        on!(on_set_idle, |c, v: i32| {
            c.state.borrow_mut().settings.idle_seconds = v.max(30) as u32;
            c.apply_settings();
            c.save_settings()
        });
        on!(on_set_read_aloud, |c, v: bool| {
            c.state.borrow_mut().settings.read_aloud = v;
            c.apply_settings();
            c.save_settings()
        });
        on!(on_set_volume, |c, v: i32| {
            c.state.borrow_mut().settings.volume = v.clamp(0, 100) as u8;
            c.apply_settings();
            c.save_settings()
        });
        on!(on_set_hq, |c, v: SharedString| {
            c.state.borrow_mut().settings.hq_address = v.to_string();
            c.save_settings()
        });
        on!(on_navigate, |c, page: SharedString| c.navigate(&page));
        on!(on_lock, |c| c.lock());
        on!(on_unlock, |c, pin: SharedString| c.unlock(&pin));
        on!(on_approve_record, |c| c.decide(None));
        on!(on_return_record, |c, reason: SharedString| c
            .decide(Some(reason.to_string())));
        on!(on_choose_account, |c, name: SharedString| {
            c.state.borrow_mut().account = name.to_string();
            c.app().global::<AppState>().set_account(name);
        });
        on!(on_touched, |c| c.touched());
        on!(on_go_home, |c| c.go_home());
    }

    // ---- settings, language ----

    fn apply_settings(self: &Rc<Self>) {
        let app = self.app();
        let st = self.state.borrow();
        let set = &st.settings;
        app.global::<Theme>().set_text_scale(set.text_scale);
        let g = app.global::<AppState>();
        g.set_language(s(&set.language));
        g.set_idle_seconds(set.idle_seconds as i32);
        g.set_read_aloud_enabled(set.read_aloud);
        g.set_volume(i32::from(set.volume));
        g.set_hq_address(s(&set.hq_address));
        select_language(&set.language);
        drop(st);
        self.touched();
    }

    fn save_settings(&self) {
        let json = serde_json::to_vec_pretty(&self.state.borrow().settings).unwrap_or_default();
        let path = self.data_dir.join(SETTINGS_FILE);
        self.worker.post(move |_store| {
            let failed = std::fs::write(&path, json).is_err();
            Box::new(move |c: &Rc<Ctrl>| {
                if failed {
                    c.banner(
                        "Không lưu được cài đặt. Cài đặt vẫn dùng được đến khi tắt máy.",
                        "The settings could not be saved. They apply until the kiosk is switched off.",
                        true,
                    );
                }
            })
        });
    }

    fn set_language(self: &Rc<Self>, lang: &str) {
        let lang = if lang == "en" { "en" } else { "vi" };
        self.state.borrow_mut().settings.language = lang.into();
        self.apply_settings();
        self.save_settings();
        self.refresh_texts();
        self.refresh_form();
        self.show_findings();
        let page = self.app().global::<AppState>().get_page();
        if matches!(page.as_str(), "home" | "records" | "supervisor") {
            self.navigate(&page);
        }
    }

    /// Every text the Rust side supplies, in the current language.
    fn refresh_texts(&self) {
        let app = self.app();
        let g = app.global::<AppState>();
        let en = self.lang() == "en";
        let l = |p: (&str, &str)| s(if en { p.1 } else { p.0 });
        g.set_step_names(model(
            lists::STEP_LABELS.iter().map(|&p| l(p)).collect::<Vec<_>>(),
        ));
        let choices = |items: &[(&str, (&str, &str))]| {
            model(
                items
                    .iter()
                    .map(|(code, label)| Choice {
                        code: s(*code),
                        label: l(*label),
                    })
                    .collect::<Vec<_>>(),
            )
        };
        g.set_kinds(choices(&lists::kinds()));
        g.set_exchange_reasons(choices(lists::EXCHANGE_REASONS));
        g.set_sexes(choices(lists::SEXES));
        g.set_provenances(choices(lists::PROVENANCES));
        g.set_marital_statuses(choices(lists::MARITAL));
        g.set_consent_givers(choices(lists::CONSENT));
        g.set_exception_reasons(choices(lists::EXCEPTION_REASONS));
        let missing = |vi: &str, en_: &str| l((vi, en_));
        let signin = !self.state.borrow().accounts.is_empty();
        // Devices and features whose drivers have not been installed on this build.
        g.set_camera_available(self.camera.is_some());
        g.set_camera_status(if self.camera.is_some() {
            missing(
                "Camera sẵn sàng. Máy tự kiểm tra ánh sáng, độ nét và nền của ảnh.",
                "Camera ready. The kiosk checks the photo's light, sharpness and background.",
            )
        } else {
            missing(
                "Không có camera: chưa chỉ định camera. Không chụp ảnh được.",
                "No camera: none was given. Photos cannot be taken.",
            )
        });
        g.set_scanner_available(self.scanner.is_some());
        g.set_scanner_status(match &self.scanner {
            None => missing(
                "Không có máy quét vân tay: chưa chỉ định máy quét (--scanner). Chỉ ghi được ngoại lệ.",
                "No fingerprint scanner: none was given (--scanner). Only exceptions can be recorded.",
            ),
            Some((_, scanner::ScannerSource::Simulated)) => missing(
                "Máy quét vân tay mô phỏng (chế độ thử): vân tay tổng hợp, không phải của người thật.",
                "Simulated fingerprint scanner (demo mode): synthetic fingers, not a real person's.",
            ),
            Some((_, scanner::ScannerSource::Device(path, _))) => {
                s(format!("{} {}", l(("Máy quét vân tay:", "Fingerprint scanner:")), path.display()))
            }
        });
        g.set_sync_available(true);
        g.set_sync_status(missing(
            "Gửi qua mạng khi có kết nối, hoặc xuất tệp ra USB. Máy phải được trung tâm cấp phép trước (kiosk provision).",
            "Send over the network when connected, or export a file to a USB stick. HQ must have provisioned this kiosk first (kiosk provision).",
        ));
        let supervisor = self
            .state
            .borrow()
            .operator
            .as_ref()
            .is_some_and(|o| o.supervisor);
        g.set_supervisor_available(supervisor);
        g.set_supervisor_message(if supervisor {
            missing(
                "Chạm vào một hồ sơ để xem, rồi duyệt hoặc trả lại kèm lý do.",
                "Tap a record to see it, then approve it or return it with a reason.",
            )
        } else {
            missing(
                "Chỉ giám sát viên được duyệt hồ sơ. Khoá máy rồi để giám sát viên đăng nhập.",
                "Only a supervisor can review records. Lock the kiosk and let the supervisor sign in.",
            )
        });
        g.set_last_sync(missing("Chưa gửi lần nào", "Never"));
        let dev = |name: (&str, &str), status: (&str, &str), ok: bool| DeviceRow {
            name: l(name),
            status: l(status),
            ok,
        };
        g.set_devices(model(vec![
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
        g.set_signin_available(signin);
        {
            let st = self.state.borrow();
            g.set_accounts(model(
                st.accounts
                    .iter()
                    .map(|(name, display, _)| Choice {
                        code: s(name),
                        label: s(display),
                    })
                    .collect::<Vec<_>>(),
            ));
            g.set_account(s(&st.account));
        }
        if signin {
            if g.get_page() == "lock" && g.get_pin() == "" {
                g.set_pin_message(s(""));
            }
        } else if self.state.borrow().store_ready {
            g.set_pin_message(missing(
                "Máy chưa có tài khoản cán bộ nào. Giám sát viên tạo tài khoản đầu tiên bằng lệnh: kiosk accounts init-supervisor",
                "This kiosk has no accounts yet. A supervisor creates the first one with: kiosk accounts init-supervisor",
            ));
        }
        g.set_demo_hint(if self.demo {
            missing(
                "Chế độ thử — cán bộ: mã PIN 135790; giám sát viên: mã PIN 246810.",
                "Demo mode — operator PIN 135790; supervisor PIN 246810.",
            )
        } else {
            s("")
        });
    }

    // ---- navigation, lock ----

    fn touched(self: &Rc<Self>) {
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

    fn idle_expired(self: &Rc<Self>) {
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

    fn lock(self: &Rc<Self>) {
        let app = self.app();
        let g = app.global::<AppState>();
        let page = g.get_page().to_string();
        if page == "lock" {
            return;
        }
        if page == "wizard" {
            self.save_draft();
            self.live_preview(false);
        }
        {
            let mut st = self.state.borrow_mut();
            st.resume = Some((page.clone(), st.step));
            st.operator = None;
            st.session = None;
            st.pin.clear();
        }
        g.set_pin(s(""));
        g.set_pin_dots(s(""));
        g.set_operator_name(s(""));
        g.set_keyboard_open(false);
        g.set_picker_open(false);
        g.set_exception_open(false);
        g.set_has_draft(page == "wizard" || self.state.borrow().waiting_draft.is_some());
        self.refresh_texts();
        g.set_pin_message(s(""));
        g.set_page(s("lock"));
        // Forget the data key: biometrics stay sealed until the next PIN.
        self.worker.post(|store: &mut Store| {
            store.lock();
            Box::new(|_: &Rc<Ctrl>| {})
        });
    }

    fn unlock(self: &Rc<Self>, pin: &str) {
        let name = self.state.borrow().account.clone();
        if name.is_empty() {
            return;
        }
        let pin = pin.to_owned();
        let app = self.app();
        app.global::<AppState>().set_busy(true);
        self.worker.post(move |store: &mut Store| {
            // The PIN opens the data key on the store's own thread (Argon2id takes a while).
            let result = store.unlock(&name, &pin, Utc::now());
            let result = result.map_err(|e| (e.message_vi(), e.message_en()));
            Box::new(move |c: &Rc<Ctrl>| {
                c.app().global::<AppState>().set_busy(false);
                let result = result.map(|session| {
                    let op = Operator {
                        id: session.person.clone(),
                        name: session.display_name.clone(),
                        supervisor: session.is_supervisor(),
                    };
                    c.state.borrow_mut().session = Some(session);
                    op
                });
                c.signed_in(result);
            })
        });
    }

    fn signed_in(self: &Rc<Self>, result: Result<Operator, (String, String)>) {
        let app = self.app();
        let g = app.global::<AppState>();
        match result {
            Err((vi, en)) => {
                self.state.borrow_mut().pin.clear();
                g.set_pin(s(""));
                g.set_pin_dots(s(""));
                g.set_pin_message(self.pick(&vi, &en));
            }
            Ok(op) => {
                g.set_operator_name(s(&op.name));
                g.set_is_supervisor(op.supervisor);
                self.state.borrow_mut().operator = Some(op.clone());
                self.refresh_texts();
                g.set_pin(s(""));
                g.set_pin_dots(s(""));
                g.set_pin_message(s(""));
                let resume = {
                    let mut st = self.state.borrow_mut();
                    st.operator = Some(op);
                    st.pin.clear();
                    st.resume.take()
                };
                self.touched();
                let draft = self.state.borrow_mut().waiting_draft.take();
                match (resume, draft) {
                    (Some((page, step)), _) if page != "lock" => {
                        if page == "wizard" {
                            self.go_step(step);
                        } else {
                            self.navigate(&page);
                        }
                    }
                    // After a crash or power cut: straight back to where the draft stood.
                    (_, Some(d)) => self.open_draft(d),
                    _ => self.go_home(),
                }
            }
        }
    }

    fn go_home(self: &Rc<Self>) {
        self.navigate("home");
    }

    fn navigate(self: &Rc<Self>, page: &str) {
        let app = self.app();
        let g = app.global::<AppState>();
        self.live_preview(false);
        self.clear_banner();
        g.set_keyboard_open(false);
        g.set_picker_open(false);
        match page {
            "home" => self.refresh_home(),
            "records" => {
                let q = g.get_records_query().to_string();
                self.search_records(&q);
            }
            "supervisor" => self.refresh_awaiting(),
            _ => {}
        }
        g.set_page(s(page));
    }

    fn refresh_home(&self) {
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
                g.set_today_count(today_count as i32);
                g.set_awaiting_count(awaiting as i32);
                g.set_draft_count(i32::from(drafts));
                g.set_has_draft(drafts);
            })
        });
    }

    // ---- records ----

    fn search_records(&self, q: &str) {
        self.app().global::<AppState>().set_records_query(s(q));
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
                    c.app().global::<AppState>().set_records(model(rows));
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
    fn decide(self: &Rc<Self>, return_reason: Option<String>) {
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

    fn refresh_awaiting(&self) {
        self.worker.post(move |store: &mut Store| {
            let rows = store.list(&ListQuery {
                status: Some(RecordStatus::Captured),
                limit: 500,
                ..ListQuery::default()
            });
            Box::new(move |c: &Rc<Ctrl>| {
                let rows = lists::record_rows(&rows.unwrap_or_default(), &c.lang());
                c.app().global::<AppState>().set_awaiting(model(rows));
            })
        });
    }

    fn open_record(self: &Rc<Self>, id: &str) {
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
                    g.set_detail_title(s(format!(
                        "{} — {}",
                        rec.enrollment_no,
                        enroll_sync::text::card_upper(&rec.applicant.name.full())
                    )));
                    g.set_detail_lines(model(lists::detail_lines(&rec, &lang)));
                    g.set_detail_history(model(lists::history_lines(&rec, &lang)));
                    g.set_detail_hq(s(lists::hq_line(&rec, &lang)));
                    g.set_detail_awaiting(rec.review.status == RecordStatus::Captured);
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

    // ---- the wizard ----

    fn new_enrollment(self: &Rc<Self>) {
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

    fn resume_draft(self: &Rc<Self>) {
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

    fn open_draft(self: &Rc<Self>, d: Draft) {
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

    fn go_step(self: &Rc<Self>, step: usize) {
        let step = step.min(CONSENT_STEP);
        self.state.borrow_mut().step = step;
        let app = self.app();
        let g = app.global::<AppState>();
        self.clear_banner();
        g.set_picker_open(false);
        g.set_exception_open(false);
        g.set_keyboard_open(false);
        if step == RESIDENT_STEP {
            g.set_resident_message(s(""));
            g.set_resident_lines(model(lists::resident_lines(
                &self.state.borrow().form,
                &self.lang(),
            )));
        }
        g.set_step(step as i32);
        g.set_page(s("wizard"));
        self.live_preview(step == PHOTO_STEP);
        self.state.borrow_mut().composer.reset();
        self.save_draft();
    }

    /// The camera's live preview runs only while the photo step is on screen.
    fn live_preview(&self, on: bool) {
        if let Some(link) = &self.camera {
            link.ask(camera::Ask::Preview(on));
        }
        if !on {
            self.app().global::<AppState>().set_previewing(false);
        }
    }

    fn save_draft(&self) {
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

    fn edited(self: &Rc<Self>, key: &str, value: &str) {
        self.state.borrow_mut().form.set(key, value);
        self.revalidate();
        self.save_draft();
    }

    fn chose(self: &Rc<Self>, key: &str, code: &str) {
        match key {
            "scan-qr" => return self.scan_qr(),
            "copy-residence" => {
                let mut st = self.state.borrow_mut();
                for part in ["province", "commune", "detail"] {
                    let v = st
                        .form
                        .get(&format!("applicant.permanent_residence.{part}"))
                        .to_owned();
                    st.form
                        .set(&format!("applicant.current_residence.{part}"), &v);
                }
            }
            _ => self.state.borrow_mut().form.set(key, code),
        }
        self.refresh_form();
        self.save_draft();
    }

    fn field_focused(&self, _key: &str, kind: &str) {
        self.state.borrow_mut().composer.reset();
        let app = self.app();
        let g = app.global::<AppState>();
        g.set_keyboard_numeric(kind != "text");
        g.set_keyboard_open(true);
    }

    fn key(self: &Rc<Self>, code: &str) {
        let app = self.app();
        let g = app.global::<AppState>();
        if let Some(d) = code.strip_prefix("pin:") {
            let mut st = self.state.borrow_mut();
            if st.pin.len() < 12 {
                st.pin.push_str(d);
            }
            g.set_pin(s(&st.pin));
            g.set_pin_dots(s("●".repeat(st.pin.len())));
            return;
        }
        if code == "pin-backspace" {
            let mut st = self.state.borrow_mut();
            st.pin.pop();
            g.set_pin(s(&st.pin));
            g.set_pin_dots(s("●".repeat(st.pin.len())));
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

    fn acknowledge(self: &Rc<Self>, code: &str, path: &str) {
        let by = self.by();
        self.state
            .borrow_mut()
            .form
            .acknowledge(code, path, &by.person, by.at);
        self.show_findings();
        self.save_draft();
    }

    fn refresh_form(&self) {
        let app = self.app();
        let g = app.global::<AppState>();
        g.set_form_version(g.get_form_version().wrapping_add(1));
        let st = self.state.borrow();
        g.set_fingers(model(lists::finger_slots(
            &st.form,
            st.current_finger,
            &st.settings.language,
        )));
        g.set_current_finger(st.current_finger as i32);
        g.set_has_photo(st.form.photo.is_some());
        drop(st);
        self.revalidate();
    }

    /// Runs the shared rules and the store's duplicate check off the UI thread.
    fn revalidate(&self) {
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

    fn show_findings(&self) {
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
        let g = app.global::<AppState>();
        g.set_findings(model(items));
        g.set_open_errors(errors as i32);
        g.set_open_warnings(warnings as i32);
    }

    fn open_picker(&self, key: &str) {
        let app = self.app();
        let g = app.global::<AppState>();
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
        g.set_picker_title(s(lists::picker_title(key, en)));
        g.set_picker_query(s(""));
        g.set_picker_open(true);
        self.picker_search("");
    }

    fn picker_search(&self, q: &str) {
        let st = self.state.borrow();
        let items = lists::picker_items(&st.picker_target, &st.form, q, &st.settings.language);
        drop(st);
        self.app()
            .global::<AppState>()
            .set_picker_items(model(items));
    }

    fn picker_chosen(self: &Rc<Self>, code: &str) {
        let target = self.state.borrow().picker_target.clone();
        self.state.borrow_mut().form.set(&target, code);
        let app = self.app();
        let g = app.global::<AppState>();
        g.set_picker_open(false);
        g.set_keyboard_open(false);
        self.refresh_form();
        self.save_draft();
    }

    fn device_missing(&self) {
        self.banner(
            "Thiết bị hoặc chức năng này chưa có trên máy. Hãy tiếp tục các bước khác; hồ sơ vẫn được lưu nháp.",
            "This device or feature is not available on this kiosk. Carry on with the other steps; the draft is kept.",
            false,
        );
    }

    fn select_finger(&self, i: i32) {
        let i = (i.max(0) as usize).min(9);
        self.state.borrow_mut().current_finger = i;
        self.refresh_form();
    }

    fn save_exception(self: &Rc<Self>) {
        let app = self.app();
        let g = app.global::<AppState>();
        let reason: Option<ExceptionReason> = serde_json::from_value(serde_json::Value::String(
            g.get_exception_reason().to_string(),
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
                    permanent: g.get_exception_permanent(),
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
        g.set_exception_open(false);
        g.set_exception_has_proof(false);
        self.refresh_form();
        self.save_draft();
    }

    fn take_photo(self: &Rc<Self>, profile: enroll_hardware::photo::PhotoProfile) {
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

    fn scan_qr(self: &Rc<Self>) {
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
    fn prefill_from_card(self: &Rc<Self>, card: &enroll_hardware::qr::CardQr) {
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

    fn camera_shot(self: &Rc<Self>, shot: camera::Shot) {
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
                g.set_previewing(false);
                self.banner(&vi, &en, true);
            }
            camera::Shot::Preview(frame) => {
                // A frame may still arrive just after the operator left the step.
                if g.get_page() == "wizard" && g.get_step() == PHOTO_STEP as i32 {
                    g.set_live_preview(slint::Image::from_rgb8(frame));
                    g.set_previewing(true);
                }
            }
            camera::Shot::Rejected(problems, view) => {
                g.set_busy(false);
                if g.get_step() == PHOTO_STEP as i32 {
                    g.set_photo(slint::Image::from_rgb8(view));
                    g.set_has_photo(true);
                }
                let vi: Vec<&str> = problems.iter().map(|p| p.0.as_str()).collect();
                let en: Vec<&str> = problems.iter().map(|p| p.1.as_str()).collect();
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
                                g.set_photo(slint::Image::from_rgb8(view));
                                c.clear_banner();
                                c.refresh_form();
                                c.save_draft();
                            }
                            Ok(sha256) => {
                                c.state.borrow_mut().proof = Some(sha256);
                                g.set_exception_has_proof(true);
                                c.clear_banner();
                            }
                        }
                    })
                });
            }
        }
    }

    fn capture_finger(self: &Rc<Self>) {
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
        g.set_finger_message(self.pick("Đang mở máy quét…", "Opening the scanner…"));
        if !link.capture(request) {
            g.set_busy(false);
            self.banner(
                "Máy quét đã ngừng hoạt động. Hãy khởi động lại máy.",
                "The scanner has stopped working. Restart the kiosk.",
                true,
            );
        }
    }

    fn scanner_update(self: &Rc<Self>, u: scanner::Update) {
        use enroll_hardware::fingerprint::FingerOutcome as HwOutcome;
        let app = self.app();
        let g = app.global::<AppState>();
        match u {
            scanner::Update::Progress(vi, en) => g.set_finger_message(self.pick(&vi, &en)),
            scanner::Update::Failed(vi, en) => {
                g.set_busy(false);
                g.set_finger_message(self.pick(&vi, &en));
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
    fn finger_recorded(self: &Rc<Self>, rec: FingerRecord) {
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
    }

    fn resident_answer(self: &Rc<Self>, yes: bool) {
        if yes {
            self.go_step(CONSENT_STEP);
        } else {
            self.go_step(2);
            self.banner(
                "Người dân báo thông tin chưa đúng. Hãy hỏi lại từng mục, sửa, rồi cho người dân xem lại.",
                "The resident says something is wrong. Ask again item by item, correct it, then show the review again.",
                false,
            );
        }
    }

    fn read_aloud(&self) {
        let st = self.state.borrow();
        let lines = lists::resident_lines(&st.form, "vi");
        let volume = st.settings.volume;
        drop(st);
        let text = lines
            .iter()
            .map(|l| format!("{}: {}.", l.label, l.value))
            .collect::<Vec<_>>()
            .join(" ");
        speech::speak(text, volume, |err| {
            if let Some((vi, en)) = err {
                // Only fails once the event loop is gone.
                drop(slint::invoke_from_event_loop(move || {
                    with_ctrl(|c| c.banner(&vi, &en, true))
                }));
            }
        });
    }

    fn seal(self: &Rc<Self>) {
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

    fn show_receipt(self: &Rc<Self>, number: &str) {
        let app = self.app();
        let g = app.global::<AppState>();
        let name = {
            let st = self.state.borrow();
            let (rec, _) = st.form.to_record(Utc::now());
            enroll_sync::text::card_upper(&rec.applicant.name.full())
        };
        g.set_receipt_number(s(number));
        g.set_receipt_name(s(&name));
        if let Some(img) = receipt::qr_image(number, 8) {
            g.set_receipt_qr(img);
        }
        {
            let mut st = self.state.borrow_mut();
            st.receipt = Some((number.to_owned(), name));
            st.step = RECEIPT_STEP;
        }
        g.set_keyboard_open(false);
        g.set_step(RECEIPT_STEP as i32);
        g.set_page(s("wizard"));
        g.set_has_draft(false);
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
