//! Browser tests of the HQ dashboard: the real `enroll-hq serve` binary on a free loopback port
//! with a temp data directory (SQLite, or a PostgreSQL the test starts), Debian's Chromium
//! headless driven through `/usr/bin/chromedriver` by fantoccini, axe-core injected into pages.
//!
//! Use: `let hq = HqServer::start(dir, database)`, `hq.add_user(..)`, then
//! `let b = Browser::start(&hq.url).await`, `b.sign_in(user, password)`, `b.axe_check()`,
//! `b.screenshot(name)`. Tests hold a `Browser` and `HqServer` for their whole run; both stop
//! their processes when dropped.
#![allow(dead_code)]

use fantoccini::{Client, ClientBuilder, Locator};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `enroll-hq` binary of this build.
pub fn hq_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_enroll-hq"))
}

/// The target directory this test runs from (`<target>/<profile>/deps/<test>`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    exe.ancestors().nth(3).expect("target dir").to_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running `enroll-hq serve` (plain HTTP on loopback, so cookies without `Secure`).
pub struct HqServer {
    child: Child,
    pub url: String,
    pub dir: PathBuf,
    pub database: Option<String>,
}

impl HqServer {
    pub fn start(dir: &Path, database: Option<String>) -> HqServer {
        let mut cmd = Command::new(hq_bin());
        cmd.arg("--data-dir").arg(dir);
        if let Some(db) = &database {
            cmd.args(["--database", db]);
        }
        let log = std::fs::File::create(dir.join("serve.log")).expect("log file");
        let mut child = cmd
            .args(["serve", "--listen", "127.0.0.1:0", "--insecure-cookies"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start enroll-hq serve");
        // The first line on stderr says where it listens; the rest goes to a log file.
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr);
        let mut first = String::new();
        lines.read_line(&mut first).expect("read serve output");
        let url = first
            .trim()
            .rsplit(' ')
            .next()
            .filter(|u| u.starts_with("http://"))
            .unwrap_or_else(|| panic!("unexpected serve output: {first}"))
            .to_owned();
        let mut err_log = std::fs::File::create(dir.join("serve.err")).expect("err log");
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                let _ = writeln!(err_log, "{line}");
            }
        });
        HqServer {
            child,
            url,
            dir: dir.to_owned(),
            database,
        }
    }

    /// `enroll-hq users add` with the password on standard input.
    pub fn add_user(&self, name: &str, role: &str, provinces: &[&str], password: &str) {
        add_user(
            &self.dir,
            self.database.as_deref(),
            name,
            role,
            provinces,
            password,
        );
    }
}

impl Drop for HqServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn add_user(
    dir: &Path,
    database: Option<&str>,
    name: &str,
    role: &str,
    provinces: &[&str],
    password: &str,
) {
    let mut cmd = Command::new(hq_bin());
    cmd.arg("--data-dir").arg(dir);
    if let Some(db) = database {
        cmd.args(["--database", db]);
    }
    cmd.args([
        "users",
        "add",
        "--name",
        name,
        "--role",
        role,
        "--password-stdin",
    ]);
    for p in provinces {
        cmd.args(["--province", p]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("enroll-hq users add");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("write password");
    let out = child.wait_with_output().expect("users add");
    assert!(
        out.status.success(),
        "users add failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Chromium headless under chromedriver, one fresh profile per browser.
pub struct Browser {
    pub client: Client,
    pub base: String,
    driver: Child,
    profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start(base: &str) -> Browser {
        let port = free_port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver (apt-get install chromium-driver)");
        let profile = tempfile::tempdir().expect("profile dir");
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--window-size=1366,768".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "args": args, "binary": "/usr/bin/chromium" }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            match ClientBuilder::new(connector.clone())
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(c) => break c,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("cannot reach chromedriver: {e}"),
            }
        };
        client
            .set_window_size(1366, 768)
            .await
            .expect("window size");
        Browser {
            client,
            base: base.trim_end_matches('/').to_owned(),
            driver,
            profile,
        }
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("goto {path}: {e}"));
    }

    pub async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"))
            .text()
            .await
            .expect("text")
    }

    pub async fn exists(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("find_all")
            .is_empty()
    }

    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .expect("find_all")
            .len()
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let el = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"));
        el.clear().await.expect("clear");
        el.send_keys(value).await.expect("type");
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Runs JavaScript and returns its value.
    pub async fn js(&self, script: &str) -> serde_json::Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Runs asynchronous JavaScript: the script calls `done(value)`.
    pub async fn js_async(&self, script: &str) -> serde_json::Value {
        let wrapped = format!("const done = arguments[arguments.length - 1];\n{script}");
        self.client
            .execute_async(&wrapped, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until `css` matches something (htmx swaps land asynchronously).
    pub async fn wait_for(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.exists(css).await {
            assert!(Instant::now() < deadline, "`{css}` never appeared");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `check` holds on the page's text content.
    pub async fn wait_until(&self, what: &str, check: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let body = self.js("return document.body.innerText").await;
            if check(body.as_str().unwrap_or_default()) {
                return;
            }
            assert!(Instant::now() < deadline, "never happened: {what}\n{body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Signs in through the form; panics unless it lands on a dashboard page.
    pub async fn sign_in(&self, user: &str, password: &str) {
        self.try_sign_in(user, password).await;
        self.wait_for("nav[aria-label] a[aria-current=page]").await;
    }

    /// Fills and sends the sign-in form (whatever the outcome).
    pub async fn try_sign_in(&self, user: &str, password: &str) {
        self.goto("/signin").await;
        self.fill("#name", user).await;
        self.fill("#password", password).await;
        // Marks this document, so the wait below is for the answer's page, not the form's own h1.
        self.js("document.documentElement.dataset.sent = '1'; return 1")
            .await;
        self.click("form button[type=submit]").await;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let answered = self
                .client
                .execute(
                    "return document.readyState === 'complete' && !document.documentElement.dataset.sent && !!document.querySelector('h1')",
                    vec![],
                )
                .await
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            if answered {
                return;
            }
            assert!(Instant::now() < deadline, "the sign-in form never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn sign_out(&self) {
        self.click("header form[action='/signout'] button").await;
        self.wait_for("#password").await;
    }

    /// axe-core on the current page: no serious or critical violations.
    pub async fn axe_check(&self) {
        let axe = axe_js();
        self.client
            .execute(&axe, vec![])
            .await
            .expect("inject axe-core");
        let v = self
            .js_async(
                "axe.run(document, { resultTypes: ['violations'] }).then(r => done(JSON.stringify(\
                 r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')\
                 .map(v => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target) })))))\
                 .catch(e => done('axe failed: ' + e));",
            )
            .await;
        let text = v.as_str().unwrap_or_default().to_owned();
        let url = self
            .client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default();
        assert_eq!(text, "[]", "axe violations on {url}");
    }

    /// A 1366×768 PNG of the page: into `docs/screens/dashboard-NAME.png` when
    /// `UPDATE_SCREENSHOTS=1`, else into the target directory.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screens")
        } else {
            target_dir().join("screens")
        };
        std::fs::create_dir_all(&dir).expect("screens dir");
        let path = dir.join(format!("dashboard-{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// A POST from inside the page (same origin, with its cookies); returns the HTTP status.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> u16 {
        let body = serde_json::to_string(
            &fields
                .iter()
                .map(|(k, v)| vec![k.to_string(), v.to_string()])
                .collect::<Vec<_>>(),
        )
        .expect("json");
        let v = self
            .js_async(&format!(
                "fetch({path:?}, {{ method: 'POST', body: new URLSearchParams({body}) }})\
                 .then(r => done(r.status)).catch(e => done(-1));"
            ))
            .await;
        v.as_u64().unwrap_or(0) as u16
    }

    /// The session's CSRF token as the layout carries it.
    pub async fn csrf(&self) -> String {
        self.js("return document.querySelector('input[name=csrf]').value")
            .await
            .as_str()
            .expect("csrf field")
            .to_owned()
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // A test that failed before `close` leaves Chromium running without its driver; its
        // processes are the ones started with this browser's own profile directory.
        let _ = Command::new("pkill")
            .arg("-f")
            .arg(format!("--user-data-dir={}", self.profile.path().display()))
            .status();
    }
}

/// axe-core's script: `AXE_CORE_JS`, or where `scripts/setup.sh` puts it.
fn axe_js() -> String {
    let path = std::env::var_os("AXE_CORE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("npm/node_modules/axe-core/axe.min.js"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core not found at {} ({e}); run scripts/setup.sh",
            path.display()
        )
    })
}
