//! The sync session log: one row per sync stream or USB import, written when it ends, with the
//! signed receipt HQ answered (downloadable later, verifiable with HQ's public key).

use chrono::{DateTime, Utc};
use std::time::Instant;

use enroll_sync::protocol::{Receipt, Reply, StreamKind};

use crate::storage::review::{RefusedRecord, SessionQuery, SyncSessionRow, REFUSALS_KEPT};
use crate::{Hq, HqError, Intake};

/// When a session started: HQ's clock for the log, a monotonic instant for its duration.
pub type Started = (DateTime<Utc>, Instant);

fn kind_str(k: Option<StreamKind>) -> &'static str {
    match k {
        Some(StreamKind::Hello) => "hello",
        Some(StreamKind::Push) => "push",
        Some(StreamKind::Bundle) => "bundle",
        None => "unknown",
    }
}

impl Hq {
    /// Writes the session's row on the stream's connection (after rolling back whatever a
    /// failure left open). A failure to log is reported on stderr and never fails the session
    /// itself: the kiosk's data is already committed frame by frame.
    pub fn log_session(
        &self,
        intake: &mut Intake,
        started: Started,
        bytes: u64,
        answer: Result<&(Reply, Receipt), &HqError>,
    ) {
        let ended = self.now();
        let refusals: Vec<RefusedRecord> = intake
            .rejections()
            .iter()
            .take(REFUSALS_KEPT)
            .map(|r| RefusedRecord {
                record: r.record,
                code: r.code.clone(),
                message_vi: r.message_vi.clone(),
                message_en: r.message_en.clone(),
            })
            .collect();
        let (receipt_id, signed, changes_out, error) = match answer {
            Ok((reply, receipt)) => {
                // The receipt and HQ's signature, in the form a kiosk reads (`Reply::decode`).
                let signed = Reply {
                    receipt: reply.receipt.clone(),
                    signature: reply.signature.clone(),
                }
                .encode();
                let out: usize = receipt.downlink.iter().map(|d| d.changes.len()).sum();
                (Some(receipt.id.clone()), signed, out as u64, None)
            }
            Err(e) => (None, Vec::new(), 0, Some(e.to_string())),
        };
        let row = SyncSessionRow {
            seq: 0,
            kind: kind_str(intake.kind()).to_owned(),
            kiosk_id: intake.kiosk().map(|k| k.id.clone()).unwrap_or_default(),
            started_at: started.0,
            ended_at: ended,
            records_in: intake.applied_count() as u64,
            refused: intake.rejections().len() as u64,
            refusals,
            changes_out,
            bytes,
            duration_ms: started.1.elapsed().as_millis().min(u128::from(u64::MAX)) as u64,
            error,
            receipt_id,
            receipt_len: signed.len() as u64,
        };
        let s = intake.session_mut();
        let written = s
            .rollback()
            .and_then(|()| s.add_sync_session(&row, &signed));
        if let Err(e) = written {
            eprintln!("không ghi được nhật ký phiên đồng bộ / cannot log the sync session: {e}");
        }
    }

    /// Sessions newest first, a page at a time.
    pub fn sync_sessions(&self, q: &SessionQuery) -> Result<Vec<SyncSessionRow>, HqError> {
        Ok(self.session()?.sync_sessions(q)?)
    }

    /// One session and its signed receipt (empty when the stream was refused whole).
    pub fn sync_session(&self, seq: u64) -> Result<Option<(SyncSessionRow, Vec<u8>)>, HqError> {
        Ok(self.session()?.sync_session(seq)?)
    }
}
