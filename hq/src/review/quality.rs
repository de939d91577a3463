//! Data quality per kiosk and per operator. The per-record figures are taken when a record is
//! written at intake (`facts`) and kept in their own table, so the quality page sums a range
//! of weeks for a page of kiosks or operators and never reads a document.
//!
//! "Photo-check failure" is what the record can show: the photo is missing, or the operator
//! accepted a warning on it. Shots the kiosk rejected and retook never reach the document.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use enroll_sync::record::{Enrollment, FingerOutcome, ReviewAction};

use crate::storage::review::{QualityFacts, QualityQuery, QualityWeek, MINUTES_CAP};
use crate::{Hq, HqError};

/// The Monday of `t`'s week (UTC).
pub fn week_of(t: DateTime<Utc>) -> NaiveDate {
    let d = t.date_naive();
    d - Duration::days(i64::from(d.weekday().num_days_from_monday()))
}

/// The figures HQ keeps for one record.
pub fn facts(r: &Enrollment, kiosk_id: &str) -> QualityFacts {
    let mut bins = [0u32; 5];
    let (mut captured, mut exceptions) = (0, 0);
    for f in &r.biometrics.fingers {
        match &f.outcome {
            FingerOutcome::Captured { quality, .. } => {
                captured += 1;
                bins[usize::from((*quality).min(100) / 20).min(4)] += 1;
            }
            FingerOutcome::Exception { .. } => exceptions += 1,
        }
    }
    let c = &r.capture;
    let minutes = match (c.started_at, c.captured_at) {
        (Some(s), Some(e)) if e >= s => Some(((e - s).num_minutes() as u32).min(MINUTES_CAP)),
        _ => None,
    };
    let photo_failed = r.biometrics.photo.is_none()
        || r.review
            .acknowledged
            .iter()
            .any(|a| a.path.starts_with("biometrics.photo"));
    let a = &r.applicant;
    let residence = a
        .permanent_residence
        .as_ref()
        .or(a.current_residence.as_ref());
    QualityFacts {
        record: r.id,
        kiosk_id: kiosk_id.to_owned(),
        operator_id: c.operator_id.clone(),
        province_code: residence.map(|x| x.province_code.clone()),
        week: c.captured_at.map(week_of),
        minutes,
        photo_failed,
        fingers_captured: captured,
        finger_exceptions: exceptions,
        quality_bins: bins,
        returns: r
            .review
            .history
            .iter()
            .filter(|e| e.action == ReviewAction::Returned)
            .count() as u32,
    }
}

/// Rates over a kiosk's or operator's weeks, for tables and the chart.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Rates {
    pub records: u64,
    /// Share of records, 0..=1.
    pub photo_failure: f64,
    /// Share of fingers taken as exceptions, 0..=1.
    pub finger_exception: f64,
    /// Supervisor returns per record.
    pub returns: f64,
    pub median_minutes: Option<u32>,
    pub quality_bins: [u64; 5],
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// The rates of weeks summed together.
pub fn rates(weeks: &[&QualityWeek]) -> Rates {
    let mut all = QualityWeek::default();
    for w in weeks {
        all.records += w.records;
        all.photo_failed += w.photo_failed;
        all.fingers_captured += w.fingers_captured;
        all.finger_exceptions += w.finger_exceptions;
        all.returns += w.returns;
        for i in 0..5 {
            all.quality_bins[i] += w.quality_bins[i];
        }
        for (m, n) in &w.minutes {
            match all.minutes.iter_mut().find(|(x, _)| x == m) {
                Some(slot) => slot.1 += n,
                None => all.minutes.push((*m, *n)),
            }
        }
    }
    Rates {
        records: all.records,
        photo_failure: ratio(all.photo_failed, all.records),
        finger_exception: ratio(
            all.finger_exceptions,
            all.finger_exceptions + all.fingers_captured,
        ),
        returns: ratio(all.returns, all.records),
        median_minutes: all.median_minutes(),
        quality_bins: all.quality_bins,
    }
}

impl Hq {
    /// Figures per key and week for one page of kiosks or operators.
    pub fn quality(&self, q: &QualityQuery) -> Result<Vec<QualityWeek>, HqError> {
        Ok(self.session()?.quality(q)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use enroll_sync::record::{example, Acknowledgement, ExceptionReason, ReviewEvent};

    #[test]
    fn facts_of_a_record() {
        let now = DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let mut r = example(now);
        r.capture.started_at = Some(now - Duration::minutes(7));
        r.biometrics.fingers[0].outcome = FingerOutcome::Exception {
            reason: ExceptionReason::Amputated,
            permanent: true,
            note: None,
            proof_photo_sha256: None,
        };
        if let FingerOutcome::Captured { quality, .. } = &mut r.biometrics.fingers[1].outcome {
            *quality = 15;
        }
        r.review.history.push(ReviewEvent {
            at: now,
            by: "sup".into(),
            device: "KS01".into(),
            action: ReviewAction::Returned,
            reason: Some("ảnh mờ".into()),
            signature: None,
        });
        let f = facts(&r, "KS01");
        assert_eq!(f.week, NaiveDate::from_ymd_opt(2026, 11, 23));
        assert_eq!(f.minutes, Some(7));
        assert_eq!((f.fingers_captured, f.finger_exceptions), (9, 1));
        assert_eq!(f.quality_bins, [1, 0, 0, 8, 0]);
        assert_eq!(f.returns, 1);
        assert!(!f.photo_failed);
        r.review.acknowledged.push(Acknowledgement {
            code: "photo.dark".into(),
            path: "biometrics.photo".into(),
            by: "op".into(),
            at: now,
        });
        assert!(facts(&r, "KS01").photo_failed);
        assert_eq!(f.province_code.as_deref(), Some("01"));
    }
}
