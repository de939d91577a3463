//! The channel between a capture thread and its consumer.

use super::{CameraError, VideoMode};
use image::RgbImage;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Frames waiting in the channel beyond this are dropped at the source, so a busy UI sees
/// the newest picture rather than a growing backlog.
const MAX_QUEUED_FRAMES: usize = 2;
/// How long stopping waits for the capture thread.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// One decoded camera picture.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Counts every frame the thread produced, including dropped ones.
    pub seq: u64,
    /// Time since the stream started.
    pub timestamp: Duration,
    pub image: RgbImage,
}

/// What a capture thread reports.
#[derive(Clone, Debug)]
pub enum CameraEvent {
    Frame(Frame),
    /// The device vanished (unplugged, driver error); the thread keeps trying to reopen it.
    DeviceLost(CameraError),
    /// The device is back, in this mode.
    Reopened(VideoMode),
    /// The thread gave up; no more events follow.
    Failed(CameraError),
}

/// A running capture. Dropping it stops and joins the capture thread.
pub struct FrameStream {
    rx: Receiver<CameraEvent>,
    shared: Arc<Shared>,
    mode: VideoMode,
    handle: Option<JoinHandle<()>>,
}

/// State shared by the stream and its capture thread.
#[derive(Default)]
pub(crate) struct Shared {
    stop: AtomicBool,
    queued_frames: AtomicUsize,
    dropped_frames: AtomicU64,
}

/// The capture thread's end of the channel.
pub(crate) struct EventSink {
    tx: Sender<CameraEvent>,
    shared: Arc<Shared>,
    started: Instant,
    seq: u64,
}

impl EventSink {
    pub(crate) fn should_stop(&self) -> bool {
        self.shared.stop.load(Ordering::Acquire)
    }

    /// Sends a frame unless the consumer is behind. Returns false when the consumer is gone.
    pub(crate) fn frame(&mut self, image: RgbImage) -> bool {
        let seq = self.seq;
        self.seq += 1;
        if self.shared.queued_frames.load(Ordering::Acquire) >= MAX_QUEUED_FRAMES {
            self.shared.dropped_frames.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        self.shared.queued_frames.fetch_add(1, Ordering::AcqRel);
        let frame = Frame {
            seq,
            timestamp: self.started.elapsed(),
            image,
        };
        self.tx.send(CameraEvent::Frame(frame)).is_ok()
    }

    /// Sends a status event; these are never dropped.
    pub(crate) fn event(&self, event: CameraEvent) -> bool {
        self.tx.send(event).is_ok()
    }

    /// Sleeps up to `d`, waking early when asked to stop. Returns false if stopping.
    pub(crate) fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        loop {
            if self.should_stop() {
                return false;
            }
            let now = Instant::now();
            if now >= end {
                return true;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(20)));
        }
    }
}

/// Spawns a capture thread. `body` first opens the device (on the thread: nokhwa's camera is
/// not `Send`), reports the outcome through `opened`, then loops until asked to stop.
pub(crate) fn spawn<F>(thread_name: &str, body: F) -> Result<FrameStream, CameraError>
where
    F: FnOnce(Opened, EventSink) + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let (open_tx, open_rx) = mpsc::sync_channel(1);
    let shared = Arc::new(Shared::default());
    let sink = EventSink {
        tx,
        shared: Arc::clone(&shared),
        started: Instant::now(),
        seq: 0,
    };
    let handle = std::thread::Builder::new()
        .name(thread_name.to_owned())
        .spawn(move || body(Opened { tx: open_tx }, sink))
        .map_err(|e| CameraError::Open {
            device: thread_name.to_owned(),
            detail: format!("cannot start capture thread: {e}"),
        })?;
    match open_rx.recv() {
        Ok(Ok(mode)) => Ok(FrameStream {
            rx,
            shared,
            mode,
            handle: Some(handle),
        }),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => {
            let _ = handle.join();
            Err(CameraError::ThreadGone)
        }
    }
}

/// Lets the capture thread report whether the device opened.
pub(crate) struct Opened {
    tx: mpsc::SyncSender<Result<VideoMode, CameraError>>,
}

impl Opened {
    pub(crate) fn report(self, result: Result<VideoMode, CameraError>) {
        // The receiver waits in `spawn` until this arrives, so the send cannot fail
        // unless the stream was already abandoned; nothing to do then.
        let _ = self.tx.send(result);
    }
}

impl FrameStream {
    /// The mode the device was opened in.
    pub fn mode(&self) -> VideoMode {
        self.mode
    }

    /// Frames the capture thread discarded because the consumer was behind.
    pub fn dropped_frames(&self) -> u64 {
        self.shared.dropped_frames.load(Ordering::Relaxed)
    }

    /// Waits up to `timeout` for the next event. `None` on timeout; a vanished capture
    /// thread shows as `Failed(ThreadGone)`.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<CameraEvent> {
        match self.rx.recv_timeout(timeout) {
            Ok(ev) => Some(self.account(ev)),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                Some(CameraEvent::Failed(CameraError::ThreadGone))
            }
        }
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Option<CameraEvent> {
        match self.rx.try_recv() {
            Ok(ev) => Some(self.account(ev)),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(CameraEvent::Failed(CameraError::ThreadGone)),
        }
    }

    /// Waits for the next frame, skipping reopen notices; a lost device or failure is an error.
    pub fn next_frame(&self, timeout: Duration) -> Result<Frame, CameraError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv_timeout(left) {
                Some(CameraEvent::Frame(f)) => return Ok(f),
                Some(CameraEvent::Reopened(_)) => continue,
                Some(CameraEvent::DeviceLost(e)) | Some(CameraEvent::Failed(e)) => return Err(e),
                None => return Err(CameraError::Timeout(timeout.as_millis() as u64)),
            }
        }
    }

    fn account(&self, ev: CameraEvent) -> CameraEvent {
        if matches!(ev, CameraEvent::Frame(_)) {
            self.shared.queued_frames.fetch_sub(1, Ordering::AcqRel);
        }
        ev
    }

    /// Stops the capture thread and waits for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            // A wedged driver can block a V4L2 read forever: wait a while, then leave the
            // thread behind (it exits at its next frame) rather than freeze the caller.
            let deadline = Instant::now() + STOP_GRACE;
            while !h.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }
}

impl Drop for FrameStream {
    fn drop(&mut self) {
        self.shutdown();
    }
}
