//! A sync stream read ahead: a second thread decrypts and decodes the next frames, checks
//! their changes' signatures and merges them against what HQ holds (on a connection of its
//! own) while the session thread writes the frame before. Profiled: HQ's work and the
//! database's writes ran one after the other, and that sum was the wall time of a one-kiosk
//! sync. The session thread merges again any record written meanwhile (`Hq::write_frame`).
//!
//! Nothing but the first frame is decoded before the session thread has verified the stream's
//! signed header; every frame's limits are checked before its changes are.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use enroll_sync::protocol::{Frame, Receipt, Reply};
use tokio::sync::mpsc;

use crate::intake::{FrameWork, Intake};
use crate::storage::Session;
use crate::{limits, Hq, HqError, KioskEntry};

/// A body chunk, or word that the connection broke.
pub(crate) type Chunk = Result<axum::body::Bytes, ()>;

/// Frames decoded ahead of the session thread: enough to keep both threads busy.
const FRAMES_AHEAD: usize = 2;

enum Ahead {
    /// The first frame, still as sent: the session thread decodes and verifies it.
    First {
        plain: Vec<u8>,
        stream_header: Vec<u8>,
    },
    /// Boxed: a frame and its work are large, the channel moves them by value.
    Decoded(Box<(Frame, Option<FrameWork>)>),
}

/// Reads a stream from `rx` into `intake`, then answers it. `bytes` counts what arrived.
pub(crate) fn read_stream(
    hq: &Arc<Hq>,
    intake: &mut Intake,
    rx: mpsc::Receiver<Chunk>,
    bytes: &Arc<AtomicU64>,
) -> Result<(Reply, Receipt), HqError> {
    let (tx, frames) = sync_channel(FRAMES_AHEAD);
    let (kiosk_tx, kiosk_rx) = sync_channel(1);
    let reader = {
        let (hq, bytes) = (hq.clone(), bytes.clone());
        std::thread::Builder::new()
            .name("hq-read-ahead".into())
            .spawn(move || read_ahead(&hq, rx, kiosk_rx, tx, &bytes))
            .map_err(|e| HqError::Internal(format!("read-ahead thread: {e}")))?
    };
    let mut header = Vec::new();
    // On an error the channels drop here and the reader stops at its next step; it is not
    // waited for (it may be waiting on a stalled kiosk).
    for item in frames.iter() {
        match item? {
            Ahead::First {
                plain,
                stream_header,
            } => {
                header = stream_header;
                hq.intake_frame(intake, &header, &plain)?;
                if let Some(k) = intake.kiosk() {
                    // The reader waits for this before decoding anything more.
                    let _ = kiosk_tx.send(k.clone());
                }
            }
            Ahead::Decoded(d) => {
                let (frame, work) = *d;
                hq.take_frame(intake, &header, frame, work)?
            }
        }
    }
    // The reader has dropped its sender, so it has ended: a panic there fails this session.
    if let Err(panic) = reader.join() {
        std::panic::resume_unwind(panic);
    }
    hq.reply(intake)
}

fn read_ahead(
    hq: &Hq,
    mut rx: mpsc::Receiver<Chunk>,
    kiosk_rx: Receiver<KioskEntry>,
    tx: SyncSender<Result<Ahead, HqError>>,
    bytes: &AtomicU64,
) {
    let mut opener = hq.opener();
    let mut kiosk = None;
    // Its own count of the per-stream limits, so that no frame's changes are checked before
    // its limits are; the session thread counts them again for itself.
    let mut tally = limits::Tally::default();
    let mut n = 0u64;
    // Its own connection for reading; with none to spare, the session thread does the reading.
    let mut reads: Option<Option<Box<dyn Session>>> = None;
    while let Some(chunk) = rx.blocking_recv() {
        let Ok(data) = chunk else {
            // The connection broke: whole frames already applied stay applied.
            let _ = tx.send(Err(limits::refused("broken")));
            return;
        };
        bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        opener.feed(&data);
        loop {
            let plain = match opener.next_frame() {
                Ok(Some((plain, _))) => plain,
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Err(e.into()));
                    return;
                }
            };
            let item = match &kiosk {
                None if n == 0 => {
                    let stream_header = opener.stream_header().unwrap_or_default().to_vec();
                    let sent = tx.send(Ok(Ahead::First {
                        plain,
                        stream_header,
                    }));
                    // The session thread either verifies the header or ends the session.
                    match (sent, kiosk_rx.recv()) {
                        (Ok(()), Ok(k)) => kiosk = Some(k),
                        _ => return,
                    }
                    n += 1;
                    continue;
                }
                None => return,
                Some(k) => {
                    if reads.is_none() {
                        // A connection that cannot be had is not an error: the session reads.
                        reads = Some(hq.storage().spare_session().ok().flatten());
                    }
                    let s = reads
                        .as_mut()
                        .and_then(Option::as_mut)
                        .map(|b| &mut **b as &mut dyn Session);
                    decode(hq, k, s, &mut tally, n, &plain)
                }
            };
            n += 1;
            let failed = item.is_err();
            if tx.send(item).is_err() || failed {
                return;
            }
        }
    }
}

fn decode(
    hq: &Hq,
    kiosk: &KioskEntry,
    reads: Option<&mut dyn Session>,
    tally: &mut limits::Tally,
    n: u64,
    plain: &[u8],
) -> Result<Ahead, HqError> {
    let frame = Frame::decode(plain)?;
    limits::check_frame(hq.limits(), tally, &frame, n)?;
    let work = match (&frame, reads) {
        (Frame::Changes(groups), Some(s)) => Some(hq.prepare_frame(s, kiosk, groups.clone())?),
        _ => None,
    };
    Ok(Ahead::Decoded(Box::new((frame, work))))
}
