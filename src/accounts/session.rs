//! A signed-in person: who, in what role, and when they last touched the kiosk (idle lock).

use chrono::{DateTime, Utc};
use enroll_sync::record::Attribution;
use std::time::{Duration as StdDuration, Instant};

use super::Role;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub person: String,
    pub display_name: String,
    pub role: Role,
    pub started_at: DateTime<Utc>,
    /// Monotonic, so setting the wall clock back cannot hold the idle lock off.
    pub last_activity: Instant,
}

impl Session {
    pub fn new(person: &str, display_name: &str, role: Role, now: DateTime<Utc>) -> Self {
        Session {
            person: person.to_owned(),
            display_name: display_name.to_owned(),
            role,
            started_at: now,
            last_activity: Instant::now(),
        }
    }

    /// Call on every touch or key press.
    pub fn touch(&mut self, at: Instant) {
        self.last_activity = self.last_activity.max(at);
    }

    /// True once `idle_after` has passed since the last activity: the UI then calls `Store::lock`.
    pub fn is_idle(&self, at: Instant, idle_after: StdDuration) -> bool {
        at.saturating_duration_since(self.last_activity) >= idle_after
    }

    pub fn is_supervisor(&self) -> bool {
        self.role == Role::Supervisor
    }

    /// Who did an action now, for records and the audit log.
    pub fn attribution(&self, device: &str, now: DateTime<Utc>) -> Attribution {
        Attribution {
            person: self.person.clone(),
            device: device.to_owned(),
            at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_after_configured_time_and_touch_resets() {
        let t0 = DateTime::parse_from_rfc3339("2026-11-27T08:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let mut s = Session::new("lan", "Lan", Role::Operator, t0);
        let start = s.last_activity;
        let secs = StdDuration::from_secs;
        let idle = secs(120);
        assert!(!s.is_idle(start + secs(119), idle));
        assert!(s.is_idle(start + secs(120), idle));
        s.touch(start + secs(100));
        assert!(!s.is_idle(start + secs(200), idle));
        // An older reading never makes the session look fresher than it was.
        s.touch(start);
        assert_eq!(s.last_activity, start + secs(100));
    }
}
