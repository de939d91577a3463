//! Helpers for the UI tests: the Slint testing backend, driving by accessible label, waiting
//! for the store worker. Each UI test file is its own process (one Slint platform each).
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use i_slint_backend_testing::ElementHandle;
pub use kiosk::ui::{
    AppState, AppWindow, CaptureState, HomeState, Kiosk, LockState, Options, RecordsState,
    ResidentState, SettingsState, SyncState, WizardState,
};
use slint::platform::PointerEventButton;
use slint::ComponentHandle;

/// PINs of the accounts every UI test kiosk has.
pub const OPERATOR_PIN: &str = "1234567890";
pub const SUPERVISOR_PIN: &str = "9999999999";

/// Creates the test accounts (cheap test-only key derivation) unless the store has some.
pub fn seed_accounts(dir: &std::path::Path) {
    use kiosk::accounts::Role;
    let mut store = kiosk::store::Store::open(dir).expect("store");
    if !store.accounts().expect("accounts").is_empty() {
        return;
    }
    store.use_test_only_kdf();
    let now = chrono::Utc::now();
    let sup = store
        .init_supervisor("giamsat", "Lê Văn Nam", SUPERVISOR_PIN, now)
        .expect("supervisor");
    store
        .add_account(
            &sup,
            "canbo",
            "Trần Thị Mai",
            Role::Operator,
            OPERATOR_PIN,
            now,
        )
        .expect("operator");
}

pub fn init(renderer: bool) {
    let backend = i_slint_backend_testing::TestingBackend::new(
        i_slint_backend_testing::TestingBackendOptions {
            mock_time: true,
            threading: true,
            renderer_name: renderer.then(|| "software".into()),
        },
    );
    slint::platform::set_platform(Box::new(backend)).expect("platform set once per test process");
}

/// A kiosk on `dir`. The window is tall so that no field is scrolled out of view: the
/// testing backend's element search skips what is clipped away.
pub fn kiosk(dir: &std::path::Path) -> Kiosk {
    kiosk_with_camera(
        dir,
        enroll_hardware::camera::DeviceSelector::Sim(Default::default()),
    )
}

/// As [`kiosk`], with this camera.
pub fn kiosk_with_camera(
    dir: &std::path::Path,
    camera: enroll_hardware::camera::DeviceSelector,
) -> Kiosk {
    seed_accounts(dir);
    let k = Kiosk::new(Options {
        data_dir: dir.to_owned(),
        demo: false,
        scanner: Some(kiosk::ui::scanner::ScannerSource::Simulated),
        camera: Some(camera),
    })
    .expect("window");
    k.window
        .window()
        .set_size(slint::PhysicalSize::new(1280, 2400));
    k.window.show().expect("show");
    k
}

/// Runs `f` inside the Slint event loop (worker replies arrive through it).
pub fn run<F: Future<Output = ()> + 'static>(f: F) {
    slint::spawn_local(async move {
        f.await;
        slint::quit_event_loop().expect("quit");
    })
    .expect("spawn");
    slint::run_event_loop().expect("event loop");
}

struct Yield(bool);

impl Future for Yield {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        let waker = cx.waker().clone();
        slint::invoke_from_event_loop(move || {
            std::thread::sleep(Duration::from_millis(1));
            waker.wake()
        })
        .expect("event loop");
        Poll::Pending
    }
}

/// Waits until every store job has answered and the UI has caught up.
pub async fn settle(k: &Kiosk) {
    for _ in 0..20_000 {
        i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(1));
        if k.pending() == 0 {
            Yield(false).await;
            i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(1));
            if k.pending() == 0 {
                return;
            }
        }
        Yield(false).await;
    }
    panic!("the store worker did not answer");
}

pub fn find_all(app: &AppWindow, label: &str) -> Vec<ElementHandle> {
    ElementHandle::find_by_accessible_label(app, label).collect()
}

/// The first element with this label, preferring controls over the plain text labelling them.
pub fn find(app: &AppWindow, label: &str) -> ElementHandle {
    let all = find_all(app, label);
    let control = all
        .iter()
        .find(|e| e.accessible_role() != Some(i_slint_backend_testing::AccessibleRole::Text))
        .cloned();
    control
        .or_else(|| all.into_iter().next())
        .unwrap_or_else(|| {
            panic!(
                "no element labelled {label:?} on page {}; labels: {:?}",
                state(app).get_page(),
                labels(app)
            )
        })
}

pub fn state(app: &AppWindow) -> AppState<'_> {
    app.global::<AppState>()
}

pub fn lock_state(app: &AppWindow) -> LockState<'_> {
    app.global::<LockState>()
}

pub fn home_state(app: &AppWindow) -> HomeState<'_> {
    app.global::<HomeState>()
}

pub fn wizard_state(app: &AppWindow) -> WizardState<'_> {
    app.global::<WizardState>()
}

pub fn capture_state(app: &AppWindow) -> CaptureState<'_> {
    app.global::<CaptureState>()
}

pub fn resident_state(app: &AppWindow) -> ResidentState<'_> {
    app.global::<ResidentState>()
}

pub fn records_state(app: &AppWindow) -> RecordsState<'_> {
    app.global::<RecordsState>()
}

pub fn sync_state(app: &AppWindow) -> SyncState<'_> {
    app.global::<SyncState>()
}

pub fn settings_state(app: &AppWindow) -> SettingsState<'_> {
    app.global::<SettingsState>()
}

/// Presses a button the way a finger does (pointer down/up on its centre).
pub async fn tap(k: &Kiosk, label: &str) {
    find(&k.window, label).mock_single_click(PointerEventButton::Left);
    settle(k).await;
}

/// Activates a button by its accessible default action (it may be scrolled out of view).
pub async fn press(k: &Kiosk, label: &str) {
    let e = find(&k.window, label);
    assert_ne!(e.accessible_enabled(), Some(false), "{label:?} is disabled");
    e.invoke_accessible_default_action();
    settle(k).await;
}

/// Types into the text field with this label (as a screen reader or paste would).
pub async fn fill(k: &Kiosk, label: &str, text: &str) {
    find(&k.window, label).set_accessible_value(text);
    settle(k).await;
}

pub async fn sign_in(k: &Kiosk, pin: &str) {
    for d in pin.chars() {
        tap(k, &d.to_string()).await;
    }
    let unlock = if find_all(&k.window, "Mở máy").is_empty() {
        "Unlock"
    } else {
        "Mở máy"
    };
    tap(k, unlock).await;
    // The PIN is checked on the store's thread (Argon2id).
    wait_until(k, 60, |k| !state(&k.window).get_busy()).await;
}

/// Finding messages currently shown, for assertion messages.
pub fn findings(app: &AppWindow) -> Vec<String> {
    use slint::Model;
    wizard_state(app)
        .get_findings()
        .iter()
        .map(|f| format!("{} [{}] {}", f.path, f.code, f.message))
        .collect()
}

/// Picks the first item the picker shows for `query`.
pub async fn pick(k: &Kiosk, opener: &str, query: &str) -> String {
    use slint::Model;
    press(k, opener).await;
    assert!(
        wizard_state(&k.window).get_picker_open(),
        "picker did not open for {opener}"
    );
    fill(k, "Tìm theo tên", query).await;
    let item = wizard_state(&k.window)
        .get_picker_items()
        .row_data(0)
        .unwrap_or_else(|| panic!("nothing found for {query:?}"));
    // The overlay is drawn last: its row is the last control with this label (a picker
    // button elsewhere may already show the same name).
    let row = find_all(&k.window, &item.label)
        .into_iter()
        .filter(|e| e.accessible_role() != Some(i_slint_backend_testing::AccessibleRole::Text))
        .last()
        .expect("picker row");
    row.invoke_accessible_default_action();
    settle(k).await;
    assert!(
        !wizard_state(&k.window).get_picker_open(),
        "choosing closes the picker"
    );
    item.label.to_string()
}

/// Every accessible label in the window, for failure messages.
pub fn labels(app: &AppWindow) -> Vec<String> {
    i_slint_backend_testing::ElementQuery::from_root(app)
        .match_descendants()
        .find_all()
        .iter()
        .filter_map(|e| e.accessible_label().map(|l| l.to_string()))
        .filter(|l| !l.is_empty())
        .collect()
}

/// Waits (real time, up to `secs`) until `cond` holds, letting the event loop run.
pub async fn wait_until(k: &Kiosk, secs: u64, cond: impl Fn(&Kiosk) -> bool) {
    let start = std::time::Instant::now();
    while !cond(k) {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting"
        );
        Yield(false).await;
        std::thread::sleep(Duration::from_millis(5));
    }
    settle(k).await;
}
