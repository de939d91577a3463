//! Rows for the dashboard's review pages (helper dashB): change signatures kept for the
//! timeline, comments, duplicate adjudications, the sync session log and per-record quality
//! figures. Both back-ends store them in their own tables (migration 2).

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

/// The signature a change arrived with (a kiosk's device key) or HQ made (HQ's signing key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSig {
    pub record: Uuid,
    pub hash: [u8; 32],
    /// The kiosk id, or `HQ`.
    pub signer: String,
    pub signature: Vec<u8>,
}

/// The signer name HQ's own changes carry.
pub const HQ_SIGNER: &str = "HQ";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CommentRow {
    pub seq: u64,
    pub record: Uuid,
    pub at: DateTime<Utc>,
    /// The HQ user's id.
    pub author: String,
    pub body: String,
}

/// One decision on a pair of records sharing an ID number (stored with `a < b`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AdjudicationRow {
    pub id_number: String,
    pub a: Uuid,
    pub b: Uuid,
    /// `same_person` or `different_people`.
    pub verdict: String,
    pub reason: String,
    pub by: String,
    pub at: DateTime<Utc>,
}

/// One record refused in a session, as the receipt states it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RefusedRecord {
    pub record: Uuid,
    pub code: String,
    pub message_vi: String,
    pub message_en: String,
}

/// One sync session or USB import, written when it ends.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SyncSessionRow {
    /// Assigned by the store; ignored on insert.
    pub seq: u64,
    /// `hello`, `push`, `bundle`, or `unknown` for a stream refused before its header.
    pub kind: String,
    /// Empty when the stream was refused before its kiosk was known.
    pub kiosk_id: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub records_in: u64,
    pub refused: u64,
    /// The first `REFUSALS_KEPT` refusals; `refused` counts them all.
    pub refusals: Vec<RefusedRecord>,
    /// HQ's changes sent to the kiosk in the reply.
    pub changes_out: u64,
    pub bytes: u64,
    pub duration_ms: u64,
    /// Why the whole stream was refused, if it was.
    pub error: Option<String>,
    pub receipt_id: Option<String>,
    /// Length of the signed receipt (the bytes themselves come from `sync_session_receipt`).
    pub receipt_len: u64,
}

/// Refusals kept per session row: a hostile stream cannot make the log row unbounded.
pub const REFUSALS_KEPT: usize = 200;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionQuery {
    pub kiosk: Option<String>,
    /// Sessions with `seq` below this (keyset paging, newest first).
    pub before: Option<u64>,
    pub limit: u32,
}

/// The figures HQ keeps per record for the quality page, written when the record is.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityFacts {
    pub record: Uuid,
    pub kiosk_id: String,
    pub operator_id: String,
    pub province_code: Option<String>,
    /// Monday of the capture week; records not captured yet are left out of the figures.
    pub week: Option<NaiveDate>,
    /// Whole minutes from start to capture, capped at `MINUTES_CAP`.
    pub minutes: Option<u32>,
    /// The photo is missing or a photo warning was accepted.
    pub photo_failed: bool,
    pub fingers_captured: u32,
    pub finger_exceptions: u32,
    /// Captured fingers by quality: 0–19, 20–39, 40–59, 60–79, 80–100.
    pub quality_bins: [u32; 5],
    /// Times a supervisor returned the record.
    pub returns: u32,
}

/// Longer enrollments count as this many minutes (a form left open overnight).
pub const MINUTES_CAP: u32 = 240;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QualityBy {
    Kiosk,
    Operator,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualityQuery {
    pub by: QualityBy,
    /// Weeks (Mondays) from..=to.
    pub from_week: NaiveDate,
    pub to_week: NaiveDate,
    /// Only these provinces (a scoped user); `None`: all.
    pub provinces: Option<Vec<String>>,
    /// Keys (kiosk or operator ids) after this one, ordered.
    pub after: Option<String>,
    /// Keys per page.
    pub limit: u32,
}

/// One kiosk's or operator's figures for one week.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct QualityWeek {
    pub key: String,
    pub week: Option<NaiveDate>,
    pub records: u64,
    pub photo_failed: u64,
    pub fingers_captured: u64,
    pub finger_exceptions: u64,
    pub quality_bins: [u64; 5],
    pub returns: u64,
    /// (whole minutes, records) for the median.
    pub minutes: Vec<(u32, u64)>,
}

impl QualityWeek {
    /// The median minutes per enrollment, from the per-minute counts.
    pub fn median_minutes(&self) -> Option<u32> {
        let total: u64 = self.minutes.iter().map(|(_, n)| n).sum();
        if total == 0 {
            return None;
        }
        let mut sorted = self.minutes.clone();
        sorted.sort_unstable();
        let middle = total.div_ceil(2);
        let mut seen = 0;
        for (m, n) in sorted {
            seen += n;
            if seen >= middle {
                return Some(m);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_counted_minutes() {
        let w = |minutes: Vec<(u32, u64)>| QualityWeek {
            minutes,
            ..QualityWeek::default()
        };
        assert_eq!(w(vec![]).median_minutes(), None);
        assert_eq!(w(vec![(9, 1)]).median_minutes(), Some(9));
        assert_eq!(w(vec![(30, 1), (5, 2)]).median_minutes(), Some(5));
        assert_eq!(w(vec![(30, 3), (5, 2)]).median_minutes(), Some(30));
        assert_eq!(w(vec![(7, 2), (12, 2)]).median_minutes(), Some(7));
    }
}
