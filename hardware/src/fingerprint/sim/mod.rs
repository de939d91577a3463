//! An R307 simulated at the byte level over a pseudo-terminal.
//!
//! The host opens the pty's slave path exactly as it would open `/dev/ttyUSB0`. The simulator:
//!
//! - paces its output at its own baud rate (10 bits per byte) and only answers a command once
//!   the command's bytes would have arrived on a real line, so transfers take real time;
//! - reads the baud rate the host set on the slave (the master shares the slave's termios on
//!   Linux) and ignores bytes sent at another rate, as a UART would see only framing errors;
//! - keeps its "flash" (parameters, template library) across simulated power cycles; a
//!   SetSysPara baud change acts at the next power-up;
//! - can be unplugged and plugged back by a scenario fault. With a `link` path (like
//!   `/dev/serial/by-id/...`) the symlink disappears while unplugged and then points at the
//!   new pty, so the host reopens the same path. At power-up it sends the 0x55 ready byte.

pub mod module;
pub mod scenario;

use super::codec::{FrameError, FrameReader};
use super::protocol::Instruction;
use module::Module;
use scenario::{FaultKind, Scenario};
use serialport::{SerialPort, TTYPort};
use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Pseudo-terminal pair creation (ptsname and friends) is not thread-safe: one at a time.
static PTY_LOCK: Mutex<()> = Mutex::new(());

/// Creates a pty pair under a process-wide lock: (master, slave, slave path).
pub fn pty_pair() -> io::Result<(TTYPort, TTYPort, PathBuf)> {
    let _guard = PTY_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (master, slave) = TTYPort::pair().map_err(io::Error::from)?;
    let path = slave
        .name()
        .map(PathBuf::from)
        .ok_or_else(|| io::Error::other("pty slave has no name"))?;
    Ok((master, slave, path))
}

/// Counters a test or benchmark can read while the simulator runs.
#[derive(Debug, Default)]
pub struct SimStats {
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Bytes ignored because the host's baud rate differed from the module's.
    pub bytes_garbled: AtomicU64,
    pub commands: AtomicU64,
    pub power_ups: AtomicU64,
    /// Every instruction answered so far (a test's proof that it covered the table).
    pub answered: Mutex<HashSet<Instruction>>,
}

struct Shared {
    stop: AtomicBool,
    path: Mutex<PathBuf>,
    stats: SimStats,
}

/// A running simulator; stops when dropped.
pub struct Simulator {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Simulator {
    /// Starts serving `scenario` on a new pty. With `link`, a symlink at that path points to
    /// the pty's slave and follows it across simulated unplug/replug.
    pub fn start(scenario: Scenario, link: Option<PathBuf>) -> io::Result<Simulator> {
        scenario
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let module = Module::new(&scenario);
        let line = Line::open(link.as_deref())?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            path: Mutex::new(link.clone().unwrap_or_else(|| line.pts.clone())),
            stats: SimStats::default(),
        });
        shared.stats.power_ups.fetch_add(1, Ordering::Relaxed);
        let s2 = shared.clone();
        let thread = thread::Builder::new()
            .name("r307-sim".into())
            .spawn(move || {
                let mut sim = Running {
                    shared: s2,
                    module,
                    line: Some(line),
                    link,
                    faults: scenario.faults,
                    counts: HashMap::new(),
                    reader: FrameReader::new(),
                };
                sim.run();
                sim.unplug();
            })?;
        Ok(Simulator {
            shared,
            thread: Some(thread),
        })
    }

    /// The path the host should open.
    pub fn path(&self) -> PathBuf {
        self.shared
            .path
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn stats(&self) -> &SimStats {
        &self.shared.stats
    }

    /// Stops serving and closes the pty.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            // A panic in the simulator thread has already been reported on stderr.
            let _ = t.join();
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// One "cable": the pty pair, plus line timing.
struct Line {
    master: TTYPort,
    /// Held open so the master never sees a hang-up while the host has the port closed.
    _slave: TTYPort,
    pts: PathBuf,
    tx_free: Instant,
    rx_done: Instant,
}

impl Line {
    fn open(link: Option<&Path>) -> io::Result<Line> {
        let (mut master, slave, pts) = pty_pair()?;
        master
            .set_timeout(Duration::from_millis(20))
            .map_err(io::Error::from)?;
        if let Some(link) = link {
            // Atomic replace: create beside it, then rename over.
            let tmp = link.with_extension("tmp-link");
            let _ = std::fs::remove_file(&tmp);
            std::os::unix::fs::symlink(&pts, &tmp)?;
            std::fs::rename(&tmp, link)?;
        }
        let now = Instant::now();
        Ok(Line {
            master,
            _slave: slave,
            pts,
            tx_free: now,
            rx_done: now,
        })
    }

    /// The host's current baud rate on the slave side, if readable.
    fn host_baud(&self) -> Option<u32> {
        self.master.baud_rate().ok()
    }

    /// Received `n` bytes: they finish arriving one line time after the line was last free.
    fn note_rx(&mut self, n: usize, baud: u32) {
        self.rx_done = self.rx_done.max(Instant::now()) + byte_time(n, baud);
    }

    /// Writes `bytes` as a UART at `baud` would deliver them: each 2 ms chunk appears when
    /// its last bit has been sent. Times are absolute, so sleep jitter does not add up.
    fn send(&mut self, bytes: &[u8], baud: u32, stop: &AtomicBool) -> io::Result<()> {
        let chunk = (baud as usize / 5000).max(1);
        let mut t = self.tx_free.max(self.rx_done).max(Instant::now());
        for c in bytes.chunks(chunk) {
            t += byte_time(c.len(), baud);
            let now = Instant::now();
            if t > now {
                thread::sleep(t - now);
            }
            let mut rest = c;
            while !rest.is_empty() {
                if stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                match self.master.write(rest) {
                    Ok(n) => rest = &rest[n..],
                    Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        self.tx_free = t;
        Ok(())
    }
}

fn byte_time(n: usize, baud: u32) -> Duration {
    Duration::from_nanos(n as u64 * 10 * 1_000_000_000 / u64::from(baud.max(1)))
}

struct Running {
    shared: Arc<Shared>,
    module: Module,
    line: Option<Line>,
    link: Option<PathBuf>,
    faults: Vec<scenario::Fault>,
    counts: HashMap<Instruction, u32>,
    reader: FrameReader,
}

impl Running {
    fn stopped(&self) -> bool {
        self.shared.stop.load(Ordering::Relaxed)
    }

    fn run(&mut self) {
        let mut buf = [0u8; 1024];
        while !self.stopped() {
            let Some(line) = self.line.as_mut() else {
                return;
            };
            let n = match line.master.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => continue,
                Err(_) => {
                    thread::sleep(Duration::from_millis(10));
                    continue;
                }
            };
            let baud = self.module.baud();
            if line.host_baud().is_some_and(|b| b != baud) {
                self.shared
                    .stats
                    .bytes_garbled
                    .fetch_add(n as u64, Ordering::Relaxed);
                self.reader.clear();
                continue;
            }
            self.shared
                .stats
                .bytes_in
                .fetch_add(n as u64, Ordering::Relaxed);
            line.note_rx(n, baud);
            self.reader.push(&buf[..n]);
            if let Err(e) = self.answer_frames() {
                eprintln!("simulator: {e}");
                return;
            }
        }
    }

    fn answer_frames(&mut self) -> io::Result<()> {
        while let Some(frame) = self.reader.next_frame() {
            let reply = match frame {
                Ok(p) => self.module.on_packet(p),
                Err(FrameError::Checksum { id, .. }) => self.module.on_bad_frame(id),
                Err(FrameError::TooLong(_)) => continue,
            };
            let fault = reply.instruction.and_then(|i| {
                self.shared.stats.commands.fetch_add(1, Ordering::Relaxed);
                self.shared
                    .stats
                    .answered
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(i);
                let n = self.counts.entry(i).or_insert(0);
                *n += 1;
                let n = *n;
                self.faults
                    .iter()
                    .find(|f| Instruction::from_name(&f.on) == Some(i) && f.nth == n)
                    .map(|f| f.kind.clone())
            });
            let mut frames = Vec::with_capacity(reply.packets.len());
            for p in &reply.packets {
                frames.push(p.encode().map_err(io::Error::other)?);
            }
            let mut prefix = Vec::new();
            match fault {
                None => {}
                Some(FaultKind::StrayBytes { bytes }) => prefix = bytes,
                Some(FaultKind::BadChecksum { packet }) => {
                    if let Some(f) = frames.get_mut(packet) {
                        if let Some(last) = f.last_mut() {
                            *last ^= 0x5A;
                        }
                    }
                }
                Some(FaultKind::Silence) => continue,
                Some(FaultKind::Disconnect { replug_after_ms }) => {
                    self.replug(Duration::from_millis(replug_after_ms))?;
                    return Ok(());
                }
            }
            let baud = self.module.baud();
            let Some(line) = self.line.as_mut() else {
                return Ok(());
            };
            let mut out = prefix;
            frames.iter().for_each(|f| out.extend_from_slice(f));
            if reply.restarted {
                // The ready byte every R30x sends after power-up.
                out.push(0x55);
                self.shared.stats.power_ups.fetch_add(1, Ordering::Relaxed);
            }
            line.send(&out, baud, &self.shared.stop)?;
            self.shared
                .stats
                .bytes_out
                .fetch_add(out.len() as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Pulls the cable: the pty closes (the host sees a hang-up) and the link disappears.
    fn unplug(&mut self) {
        self.line = None;
        if let Some(link) = &self.link {
            let _ = std::fs::remove_file(link);
        }
    }

    fn replug(&mut self, after: Duration) -> io::Result<()> {
        self.unplug();
        self.reader.clear();
        let end = Instant::now() + after;
        while Instant::now() < end && !self.stopped() {
            thread::sleep(Duration::from_millis(10));
        }
        if self.stopped() {
            return Ok(());
        }
        self.module.power_up();
        self.shared.stats.power_ups.fetch_add(1, Ordering::Relaxed);
        let mut line = Line::open(self.link.as_deref())?;
        *self.shared.path.lock().unwrap_or_else(|e| e.into_inner()) =
            self.link.clone().unwrap_or_else(|| line.pts.clone());
        // The ready byte every R30x sends after power-up.
        line.send(&[0x55], self.module.baud(), &self.shared.stop)?;
        self.line = Some(line);
        Ok(())
    }
}
