//! What the dashboard's review pages need from HQ (helper dashB): a record's timeline from its
//! own change history, comments, HQ status changes with reasons, duplicate adjudication, the
//! sync session log and the quality figures. Pages render these; only the chart is markup (SVG).

pub mod actions;
pub mod chart;
pub mod labels;
pub mod quality;
pub mod record;
pub mod sessions;
pub mod timeline;

pub use actions::{Adjudication, DuplicateView};
pub use timeline::{SigState, Timeline, TimelineEntry, Who};

/// Which provinces a user may see and touch; `None`: all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope(pub Option<Vec<String>>);

impl Scope {
    pub fn all() -> Self {
        Scope(None)
    }

    pub fn provinces(codes: Vec<String>) -> Self {
        Scope(Some(codes))
    }

    /// A record with no province is visible only to unscoped users.
    pub fn allows(&self, province: Option<&str>) -> bool {
        match (&self.0, province) {
            (None, _) => true,
            (Some(codes), Some(p)) => codes.iter().any(|c| c == p),
            (Some(_), None) => false,
        }
    }
}

/// Refusals of a dashboard action, in both languages.
pub(crate) fn refused(
    code: &'static str,
    vi: impl Into<String>,
    en: impl Into<String>,
) -> crate::HqError {
    crate::HqError::Refused(crate::refusal(code, vi, en))
}
