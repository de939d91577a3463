//! One HQ test suite, two storage back-ends: each test written once as `fn name(b: &Backend)`
//! and run on SQLite and on a real PostgreSQL 15 that the test starts (and stops) itself.
#![allow(dead_code)]

use enroll_hq::storage::postgres::PgStorage;
use enroll_hq::storage::sqlite::SqliteStorage;
use enroll_hq::{Hq, HqStorage, Options};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tempfile::TempDir;

/// Runs each named `fn NAME(b: &Backend)` as two tests, `NAME::sqlite` and `NAME::postgres`.
#[macro_export]
macro_rules! on_each_backend {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[test]
            fn sqlite() {
                super::$test(&$crate::backend::Backend::sqlite())
            }
            #[test]
            fn postgres() {
                super::$test(&$crate::backend::Backend::postgres())
            }
        }
    )*};
}

pub enum Backend {
    Sqlite,
    Postgres(PgServer),
}

impl Backend {
    pub fn sqlite() -> Self {
        Backend::Sqlite
    }
    pub fn postgres() -> Self {
        Backend::Postgres(PgServer::start())
    }
    /// `None` for SQLite (in the data directory).
    pub fn database(&self) -> Option<String> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres(pg) => Some(pg.url()),
        }
    }
    pub fn options(&self, dir: &Path) -> Options {
        Options {
            database: self.database(),
            ..Options::in_dir(dir)
        }
    }
    /// The bare storage pool (SQLite's file in `dir`).
    pub fn storage(&self, dir: &Path) -> Box<dyn HqStorage> {
        match self {
            Backend::Sqlite => {
                std::fs::create_dir_all(dir).expect("dir");
                Box::new(SqliteStorage::open(&dir.join(enroll_hq::DB_FILE)).expect("sqlite"))
            }
            Backend::Postgres(pg) => Box::new(PgStorage::open(&pg.url()).expect("postgres")),
        }
    }
    pub fn open(&self, dir: &Path) -> Hq {
        Hq::open_with(self.options(dir)).expect("open hq")
    }
}

/// The PostgreSQL server binaries (Debian's `postgresql-15`), or `ENROLL_PG_BIN`.
fn pg_bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("ENROLL_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"));
    dir.join(name)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// A throw-away PostgreSQL cluster on a loopback port; stopped (`-m immediate`) when dropped.
pub struct PgServer {
    dir: TempDir,
    port: u16,
    root: bool,
}

impl PgServer {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let root = is_root();
        if root {
            // initdb refuses to run as root: the cluster belongs to `postgres`.
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(ok.success(), "chown of the cluster directory failed");
        }
        let server = PgServer { dir, port: 0, root };
        server.run(
            "initdb",
            &[
                "-D",
                &server.data(),
                "-U",
                "enroll",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
        );
        server.listen()
    }

    /// A streaming replica of this server (`pg_basebackup -R`), on its own port.
    pub fn replica(&self) -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        if self.root {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(ok.success(), "chown of the replica directory failed");
        }
        let replica = PgServer {
            dir,
            port: 0,
            root: self.root,
        };
        let port = self.port.to_string();
        replica.run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "enroll",
                "-D",
                &replica.data(),
                "-R",
                "-X",
                "stream",
                "--no-sync",
            ],
        );
        replica.listen()
    }

    fn listen(mut self) -> Self {
        let server = &mut self;
        // A free port now may be taken by the time the server binds: try a few.
        for _ in 0..5 {
            server.port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            // ENROLL_PG_OPTS adds server settings for a diagnosis (e.g. auto_explain in a bench).
            let opts = format!(
                "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c max_connections=300 {}",
                server.port,
                server.dir.path().display(),
                std::env::var("ENROLL_PG_OPTS").unwrap_or_default()
            );
            if server.try_run(
                "pg_ctl",
                &[
                    "-D",
                    &server.data(),
                    "-l",
                    &server.log(),
                    "-w",
                    "-o",
                    &opts,
                    "start",
                ],
            ) {
                return self;
            }
        }
        panic!(
            "PostgreSQL did not start; its log:\n{}",
            std::fs::read_to_string(server.log()).unwrap_or_default()
        );
    }

    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    /// The URL of database `name` on this server.
    pub fn url_of(&self, name: &str) -> String {
        format!("postgres://enroll@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates database `name`: empty, or a copy of `template` (which nobody may be connected to).
    pub fn create_database(&self, name: &str, template: Option<&str>) {
        let port = self.port.to_string();
        let mut args = vec!["-h", "127.0.0.1", "-p", &port, "-U", "enroll"];
        if let Some(t) = template {
            args.extend(["-T", t]);
        }
        args.push(name);
        self.run("createdb", &args);
    }

    /// The postmaster's process id (benches add up the server's CPU time).
    pub fn postmaster_pid(&self) -> Option<u32> {
        let pid = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid")).ok()?;
        pid.lines().next()?.trim().parse().ok()
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }
    fn log(&self) -> String {
        self.dir.path().join("server.log").display().to_string()
    }

    fn command(&self, bin: &str, args: &[&str]) -> Command {
        let mut cmd = if self.root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(pg_bin(bin));
            c
        } else {
            Command::new(pg_bin(bin))
        };
        // Output to the cluster's log, never the test's own stdio (an orphan holding it hangs CI).
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("tools.log"))
            .expect("tools log");
        cmd.args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        cmd
    }

    fn try_run(&self, bin: &str, args: &[&str]) -> bool {
        self.command(bin, args).status().is_ok_and(|s| s.success())
    }

    fn run(&self, bin: &str, args: &[&str]) {
        assert!(
            self.try_run(bin, args),
            "{bin} failed:\n{}",
            std::fs::read_to_string(self.dir.path().join("tools.log")).unwrap_or_default()
        );
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.try_run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "stop"]);
    }
}
