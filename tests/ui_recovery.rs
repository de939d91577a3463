//! Draft recovery after the process is killed: a child process (this test binary, re-run in
//! child mode) drives the UI to the addresses step with a name typed, reports READY and is
//! killed with SIGKILL; the kiosk restarted on the same data directory reopens the draft
//! where it stood.

mod ui_common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kiosk::store::Store;
use ui_common::*;

const CHILD_ENV: &str = "KIOSK_UI_RECOVERY_CHILD";

/// Child mode only (does nothing in a normal test run).
#[test]
fn child_entry() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    init(false);
    run(async move {
        let k = kiosk(std::path::Path::new(&dir));
        settle(&k).await;
        sign_in(&k, OPERATOR_PIN).await;
        press(&k, "Đăng ký hồ sơ mới").await;
        press(&k, "Cấp lại thẻ căn cước").await;
        press(&k, "Cá nhân").await;
        fill(&k, "Họ", "Phạm").await;
        fill(&k, "Tên", "Bình").await;
        press(&k, "Tiếp").await;
        assert_eq!(wizard_state(&k.window).get_step(), 3);
        println!("READY");
        // Stay up, as a kiosk would, until the power is cut.
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    });
}

#[test]
fn reopens_the_draft_after_sigkill() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("stdout");
    let start = Instant::now();
    let mut ready = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read");
        if line.trim_end().ends_with("READY") {
            ready = true;
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "child never got ready"
        );
    }
    assert!(ready, "child exited before READY");
    child.kill().expect("SIGKILL"); // std's kill() is SIGKILL on Unix
    let status = child.wait().expect("wait");
    assert!(!status.success());

    // The draft is on disk, at the step it stood.
    {
        let store = Store::open(dir.path()).expect("store");
        let draft = store
            .latest_draft()
            .expect("drafts")
            .expect("a draft survived");
        assert_eq!(draft.step, "addresses");
        assert!(draft.form.contains("Phạm"));
    }

    init(false);
    let path = dir.path().to_owned();
    run(async move {
        let k = kiosk(&path);
        settle(&k).await;
        let app = &k.window;
        assert_eq!(state(app).get_page(), "lock");
        assert!(
            state(app).get_has_draft(),
            "the lock screen says a draft waits"
        );
        sign_in(&k, OPERATOR_PIN).await;
        assert_eq!(state(app).get_page(), "wizard");
        assert_eq!(wizard_state(app).get_step(), 3, "reopened where it stood");
        press(&k, "Cá nhân").await;
        assert_eq!(find(app, "Họ").accessible_value().as_deref(), Some("Phạm"));
        assert_eq!(find(app, "Tên").accessible_value().as_deref(), Some("Bình"));
        press(&k, "Thủ tục").await;
        assert_eq!(
            find(app, "Cấp lại thẻ căn cước").accessible_checked(),
            Some(true)
        );
        settle(&k).await;
    });
}
