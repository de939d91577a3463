//! A real S3-speaking server for tests: moto (PyPI, `moto[server]`) in server mode on a free
//! loopback port, from the venv `scripts/setup.sh` makes in the target directory
//! (`ENROLL_MOTO_SERVER` names another `moto_server`). It never skips: no moto, the test fails.
#![allow(dead_code)]

use object_store::aws::AmazonS3Builder;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub const BUCKET: &str = "enroll-blobs";

fn moto_server() -> PathBuf {
    if let Some(p) = std::env::var_os("ENROLL_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    // CARGO_TARGET_TMPDIR is <target>/tmp; setup.sh puts the venv beside it.
    let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("s3-server/venv/bin/moto_server");
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup.sh (it installs moto[server] into that venv)",
        p.display()
    );
    p
}

fn wait_ready(child: &mut Child, port: u16) -> bool {
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// One moto server with one bucket; killed when dropped.
pub struct Moto {
    child: Child,
    pub port: u16,
    dir: TempDir,
}

impl Moto {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let log = dir.path().join("moto.log");
        // A free port now may be taken by the time moto binds: try a few.
        for _ in 0..5 {
            let port = free_port();
            let out = std::fs::File::create(&log).expect("log");
            let child = Command::new(moto_server())
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("log"))
                .stderr(out)
                .spawn()
                .expect("start moto_server");
            let mut child = child;
            if wait_ready(&mut child, port) {
                let moto = Moto { child, port, dir };
                moto.create_bucket(BUCKET);
                return moto;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "moto_server did not start; its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What `enroll-hq` reads from its environment to reach this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
        ]
    }

    /// The same settings for `Blobs::open_s3` inside the test.
    pub fn builder(&self) -> AmazonS3Builder {
        AmazonS3Builder::new()
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .with_region("us-east-1")
            .with_endpoint(self.endpoint())
    }

    /// Plain HTTP to moto (it does not check signatures): status and body.
    pub fn http(&self, method: &str, path: &str) -> (u16, String) {
        self.try_http(method, path).expect("talk to moto")
    }

    fn try_http(&self, method: &str, path: &str) -> std::io::Result<(u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        let status = out
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = out
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    }

    fn create_bucket(&self, name: &str) {
        // moto accepts connections a moment before it answers them.
        for _ in 0..100 {
            match self.try_http("PUT", &format!("/{name}")) {
                Ok((200, _)) => return,
                Ok((status, body)) => panic!("creating bucket {name}: {status} {body}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        panic!("moto never answered");
    }

    /// Every key under `prefix` in the bucket with its size (one listing page: tests stay small).
    pub fn objects(&self, prefix: &str) -> Vec<(String, u64)> {
        let (status, body) = self.http("GET", &format!("/{BUCKET}?list-type=2&prefix={prefix}"));
        assert_eq!(status, 200, "{body}");
        assert!(!body.contains("<IsTruncated>true"), "listing truncated");
        body.split("<Contents>")
            .skip(1)
            .map(|c| {
                let field = |name: &str| {
                    c.split(&format!("<{name}>"))
                        .nth(1)
                        .and_then(|x| x.split('<').next())
                        .unwrap_or_default()
                        .to_owned()
                };
                (field("Key"), field("Size").parse().expect("size"))
            })
            .collect()
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
