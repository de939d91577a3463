//! HQ on PostgreSQL under sync load, through the real kiosk client over loopback HTTP:
//! one kiosk pushing 10,000 text records (target ≤ 4 s wall), then 20 kiosks pushing 1,000
//! records each at once (target ≥ 5,000 records/s aggregate; p50/p99 of the kiosks' sync
//! times), then those 20 kiosks' requests replayed byte for byte to a copy of HQ as it was
//! before they synced (HQ and its database alone on the cores, as with kiosks in the field).
//! Starts its own PostgreSQL 15 cluster (the tests' harness). One-shot scenarios, so a plain
//! bench binary rather than criterion's repeated sampling.
//!
//! `cargo bench -p enroll-hq --bench postgres` (env BENCH_ONE_KIOSK, BENCH_KIOSKS,
//! BENCH_PER_KIOSK scale it; BENCH_SQLITE=1 runs the same load on SQLite).

#[path = "../tests/backend/mod.rs"]
mod backend;

use chrono::Utc;
use enroll_hq::{server, Hq, Options, Page, RecordQuery};
use enroll_sync::record::Attribution;
use kiosk::store::Store;
use kiosk::sync::{self as ksync, Provisioned};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

fn by() -> Attribution {
    Attribution {
        person: "bench".into(),
        device: "bench".into(),
        at: Utc::now(),
    }
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct BenchKiosk {
    data: PathBuf,
    prov: Provisioned,
}

fn kiosk_with_records(
    hq: &Hq,
    data: &Path,
    name: &str,
    url: &str,
    n: usize,
    seed: u64,
) -> BenchKiosk {
    let mut store = Store::open(data).expect("store");
    let key = ksync::device_key(data).expect("key");
    let entry = hq
        .add_kiosk(name, &hex::encode(key.public()), None)
        .expect("add kiosk");
    let text = serde_json::to_string(&hq.provisioning(&entry, url)).expect("json");
    let prov = ksync::provision(&mut store, &key, &text, &by(), None).expect("provision");
    let mut g = kiosk::demo::DemoGenerator::new(seed, Utc::now());
    for _ in 0..n {
        store.save(&g.record(), &by()).expect("save");
    }
    BenchKiosk {
        data: data.to_owned(),
        prov,
    }
}

/// Syncs until nothing is left to send; the wall time of the whole sync.
fn sync(k: &BenchKiosk, url: &str) -> Duration {
    let mut store = Store::open(&k.data).expect("store");
    let key = ksync::device_key(&k.data).expect("key");
    let t = Instant::now();
    ksync::sync(&mut store, &key, &k.prov, url, &mut |_| {}).expect("sync");
    t.elapsed()
}

/// (utime + stime, ppid, comm) of a process or thread, from its `stat` file; CPU in seconds.
fn stat(path: &str) -> Option<(f64, u32, String, f64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let (head, rest) = text.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_owned();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    // After the name: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
    Some((
        (n(11) + n(12)) / 100.0,
        n(1) as u32,
        comm,
        (n(13) + n(14)) / 100.0,
    ))
}

/// Where CPU time went, in seconds: this process (kiosks and HQ), the senders' threads within
/// it (kiosks or replaying clients, with their proxies), and the PostgreSQL server's processes.
/// HQ's share is the process's less the senders': HQ's session and read-ahead threads end with
/// their streams, and a thread that has ended is no longer listed (counting HQ's threads by
/// name put their CPU on the kiosks' side).
#[derive(Clone, Copy, Default)]
struct Cpu {
    total: f64,
    senders: f64,
    db: f64,
}

/// CPU the senders' threads used, in nanoseconds; each adds its own as it finishes.
static SENDERS_CPU: AtomicU64 = AtomicU64::new(0);

/// This thread's CPU time so far, in nanoseconds.
fn thread_cpu() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill; the clock id is a constant.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0;
    if ok {
        t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
    } else {
        0
    }
}

/// Runs `f` on this thread and counts the CPU it used as the senders'.
fn as_sender<R>(f: impl FnOnce() -> R) -> R {
    let t0 = thread_cpu();
    let r = f();
    SENDERS_CPU.fetch_add(thread_cpu().saturating_sub(t0), Ordering::Relaxed);
    r
}

fn cpu_now(postmaster: Option<u32>) -> Cpu {
    let mut c = Cpu {
        total: stat("/proc/self/stat").map_or(0.0, |s| s.0),
        senders: SENDERS_CPU.load(Ordering::Relaxed) as f64 / 1e9,
        ..Cpu::default()
    };
    if let Some(pm) = postmaster {
        for p in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let name = p.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if let Some((secs, ppid, _, children)) = stat(&format!("/proc/{pid}/stat")) {
                if pid == pm {
                    c.db += secs + children;
                } else if ppid == pm {
                    c.db += secs;
                }
            }
        }
    }
    c
}

/// CPU per record between two readings: senders (kiosks, or the clients replaying them), HQ,
/// database server.
fn cpu_line(a: Cpu, b: Cpu, records: usize, senders: &str) -> String {
    let per = |x: f64| x * 1000.0 / records.max(1) as f64;
    let (kiosk, db) = (b.senders - a.senders, b.db - a.db);
    let hq = (b.total - a.total) - kiosk;
    format!(
        "  CPU: {senders} {kiosk:.2} s ({:.3} ms/record), HQ {hq:.2} s ({:.3} ms/record), database {db:.2} s ({:.3} ms/record); load average {}",
        per(kiosk),
        per(hq),
        per(db),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn hq_records(hq: &Hq) -> usize {
    let page = Page {
        limit: 1_000_000,
        ..Page::default()
    };
    hq.list_records(&RecordQuery::default(), &page)
        .expect("records")
        .len()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // Only HQ uses rayon (its parallel change checks): named threads, to tell them in a profile.
    rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("hq-rayon-{i}"))
        .build_global()
        .expect("rayon's global pool is built once, here");
    let one = env_count("BENCH_ONE_KIOSK", 10_000);
    let kiosks = env_count("BENCH_KIOSKS", 20);
    let per = env_count("BENCH_PER_KIOSK", 1_000);
    // BENCH_SQLITE=1: the same load on SQLite, to tell HQ's own costs from the database's.
    let pg = std::env::var_os("BENCH_SQLITE")
        .is_none()
        .then(backend::PgServer::start);
    let db = if pg.is_some() { "postgres" } else { "sqlite" };
    // Kiosk files on tmpfs when there is one: the figures are about HQ, not the kiosk's disk.
    let base = if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm")
    } else {
        tempfile::tempdir()
    }
    .expect("tmp");
    let hq = Arc::new(
        Hq::open_with(Options {
            database: pg.as_ref().map(backend::PgServer::url),
            ..Options::in_dir(&base.path().join("hq"))
        })
        .expect("hq"),
    );
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let h = hq.clone();
    std::thread::spawn(move || server::serve_shared(listener, h));

    // 1. One kiosk, many text records.
    let postmaster = pg.as_ref().and_then(backend::PgServer::postmaster_pid);
    let k = kiosk_with_records(&hq, &base.path().join("one"), "one", &url, one, 42);
    // The mark lets a profiler attach for the sync alone (setup is not what is measured).
    eprintln!("bench: syncing");
    let c0 = cpu_now(postmaster);
    let wall = as_sender(|| sync(&k, &url));
    let c1 = cpu_now(postmaster);
    println!(
        "{db}, 1 kiosk x {one} text records: {:.2} s wall, {:.0} records/s",
        wall.as_secs_f64(),
        one as f64 / wall.as_secs_f64()
    );
    println!("{}", cpu_line(c0, c1, one, "kiosks"));

    eprintln!("bench: synced");
    assert_eq!(hq_records(&hq), one, "HQ holds every record pushed");
    if kiosks > 0 {
        many_kiosks(&base, pg.as_ref(), (db, postmaster), (kiosks, per));
    }
    // BENCH_HOLD_SECS keeps the database up that long, to read its statistics (psql).
    if let (Some(pg), Ok(secs)) = (&pg, std::env::var("BENCH_HOLD_SECS")) {
        eprintln!("bench: holding {}", pg.url());
        std::thread::sleep(Duration::from_secs(secs.parse().unwrap_or(60)));
    }
    drop(hq);
    drop(pg);
}

/// Case 2, many kiosks at once, each through a proxy that records what it sends; then case 3,
/// the same requests replayed from memory to a second HQ holding what the first held before,
/// so that HQ's throughput is measured without the kiosks' CPU on the same two cores.
fn many_kiosks(
    base: &tempfile::TempDir,
    pg: Option<&backend::PgServer>,
    (db, postmaster): (&str, Option<u32>),
    (kiosks, per): (usize, usize),
) {
    let options = |dir: &Path, name: &str| Options {
        database: pg.map(|p| p.url_of(name)),
        ..Options::in_dir(dir)
    };
    let (live_dir, replay_dir) = (base.path().join("many"), base.path().join("many-replay"));
    if let Some(pg) = pg {
        pg.create_database("many", None);
    }
    let live = TcpListener::bind("127.0.0.1:0").expect("bind");
    let live_addr = live.local_addr().expect("addr").to_string();
    let ks: Vec<BenchKiosk> = {
        let hq = Hq::open_with(options(&live_dir, "many")).expect("hq");
        (0..kiosks)
            .map(|i| {
                kiosk_with_records(
                    &hq,
                    &base.path().join(format!("k{i}")),
                    &format!("k{i}"),
                    &format!("http://{live_addr}"),
                    per,
                    100 + i as u64,
                )
            })
            .collect()
    };
    // HQ closed: its state before the sync is copied for the replay.
    copy_dir(&live_dir, &replay_dir);
    if let Some(pg) = pg {
        pg.create_database("many_replay", Some("many"));
    }
    let hq = Arc::new(Hq::open_with(options(&live_dir, "many")).expect("hq"));
    let h = hq.clone();
    std::thread::spawn(move || server::serve_shared(live, h));
    let recorders: Vec<Recorder> = (0..kiosks)
        .map(|i| Recorder::start(&live_addr, i))
        .collect();

    let work: Vec<(&BenchKiosk, &Recorder)> = ks.iter().zip(&recorders).collect();
    let total = kiosks * per;
    at_once(
        &work,
        ("kiosk", "kiosks"),
        postmaster,
        &format!("{db}, {kiosks} kiosks x {per} records at once"),
        total,
        |(k, r)| sync(k, &r.url),
    );
    assert_eq!(hq_records(&hq), total, "HQ holds every record pushed");

    // Case 3: the same requests again, byte for byte, to a copy of HQ as it was before the sync.
    let requests: Vec<Vec<Vec<u8>>> = recorders.iter().map(Recorder::requests).collect();
    let sent: usize = requests.iter().flatten().map(Vec::len).sum();
    println!(
        "  kiosks sent {sent} bytes (HTTP included), {:.0} per record",
        sent as f64 / total as f64
    );
    let replay_hq = Arc::new(Hq::open_with(options(&replay_dir, "many_replay")).expect("hq"));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let h = replay_hq.clone();
    std::thread::spawn(move || server::serve_shared(listener, h));
    at_once(
        &requests,
        ("replay", "replaying clients"),
        postmaster,
        &format!("{db}, HQ alone: the same {kiosks} x {per} replayed"),
        total,
        |reqs| {
            let t = Instant::now();
            for r in reqs {
                replay(addr, r);
            }
            t.elapsed()
        },
    );
    assert_eq!(
        hq_records(&replay_hq),
        total,
        "the replayed HQ holds every record"
    );
}

/// Runs `work` for every item at once, one thread each named `name-i` (for profiles); prints
/// wall time, rate, p50/p99 of the items' own times, and where the CPU went (the items' own
/// threads' as `senders`).
fn at_once<T: Sync>(
    items: &[T],
    (name, senders): (&str, &str),
    postmaster: Option<u32>,
    what: &str,
    total: usize,
    work: impl Fn(&T) -> Duration + Sync,
) {
    let start = Barrier::new(items.len() + 1);
    let (mut c0, mut t) = (Cpu::default(), Instant::now());
    let mut times: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let (start, work) = (&start, &work);
                std::thread::Builder::new()
                    .name(format!("{name}-{i}"))
                    .spawn_scoped(s, move || {
                        start.wait();
                        as_sender(|| work(item))
                    })
                    .expect("thread")
            })
            .collect();
        c0 = cpu_now(postmaster);
        // The marks let a profiler attach for the load alone.
        eprintln!("bench: {name} start");
        t = Instant::now();
        start.wait();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let wall = t.elapsed();
    let c1 = cpu_now(postmaster);
    eprintln!("bench: {name} done");
    times.sort();
    println!(
        "{what}: {:.2} s wall, {:.0} records/s aggregate, session p50 {:.2} s, p99 {:.2} s",
        wall.as_secs_f64(),
        total as f64 / wall.as_secs_f64(),
        percentile(&times, 0.50).as_secs_f64(),
        percentile(&times, 0.99).as_secs_f64(),
    );
    println!("{}", cpu_line(c0, c1, total, senders));
}

/// Sends one recorded request and reads the answer to its end (HQ closes each connection).
fn replay(addr: std::net::SocketAddr, request: &[u8]) {
    let mut c = TcpStream::connect(addr).expect("connect");
    c.write_all(request).expect("send");
    let mut answer = Vec::new();
    c.read_to_end(&mut answer).expect("answer");
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "replayed request refused: {}",
        String::from_utf8_lossy(&answer[..answer.len().min(300)])
    );
}

/// A loopback proxy in front of HQ for one kiosk: forwards each connection both ways and keeps
/// the bytes the kiosk sent, one request per connection, in order.
struct Recorder {
    url: String,
    sent: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Recorder {
    fn start(to: &str, i: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let (log, to) = (sent.clone(), to.to_owned());
        std::thread::Builder::new()
            .name(format!("kiosk-proxy-{i}"))
            .spawn(move || {
                // One connection at a time: a kiosk sends its requests one after another.
                for client in listener.incoming() {
                    let Ok(mut client) = client else { return };
                    let t0 = thread_cpu();
                    let mut server = TcpStream::connect(&to).expect("connect to HQ");
                    let (mut from_server, mut to_client) = (
                        server.try_clone().expect("clone"),
                        client.try_clone().expect("clone"),
                    );
                    let back = std::thread::spawn(move || {
                        as_sender(|| {
                            let _ = std::io::copy(&mut from_server, &mut to_client);
                            let _ = to_client.shutdown(Shutdown::Write);
                        })
                    });
                    // Kept before forwarded: a request is logged whole before HQ can answer
                    // it, so once a kiosk's sync returns its requests are all in the log.
                    log.lock().expect("recorder log").push(Vec::new());
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n @ 1..) = client.read(&mut buf) {
                        if let Some(bytes) = log.lock().expect("recorder log").last_mut() {
                            bytes.extend_from_slice(&buf[..n]);
                        }
                        if server.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = server.shutdown(Shutdown::Write);
                    let _ = back.join();
                    SENDERS_CPU.fetch_add(thread_cpu().saturating_sub(t0), Ordering::Relaxed);
                }
            })
            .expect("proxy thread");
        Recorder { url, sent }
    }

    fn requests(&self) -> Vec<Vec<u8>> {
        self.sent.lock().expect("recorder log").clone()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}
