//! A signed-in person: who, in what role, and when they last touched the kiosk (idle lock).

use chrono::{DateTime, Duration, Utc};
use enroll_sync::record::Attribution;

use super::Role;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub person: String,
    pub display_name: String,
    pub role: Role,
    pub started_at: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
}

impl Session {
    pub fn new(person: &str, display_name: &str, role: Role, now: DateTime<Utc>) -> Self {
        Session {
            person: person.to_owned(),
            display_name: display_name.to_owned(),
            role,
            started_at: now,
            last_activity: now,
        }
    }

    /// Call on every touch or key press.
    pub fn touch(&mut self, now: DateTime<Utc>) {
        self.last_activity = self.last_activity.max(now);
    }

    /// True once `idle_after` has passed since the last activity: the UI then calls `Store::lock`.
    pub fn is_idle(&self, now: DateTime<Utc>, idle_after: Duration) -> bool {
        now - self.last_activity >= idle_after
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
        let idle = Duration::seconds(120);
        assert!(!s.is_idle(t0 + Duration::seconds(119), idle));
        assert!(s.is_idle(t0 + Duration::seconds(120), idle));
        s.touch(t0 + Duration::seconds(100));
        assert!(!s.is_idle(t0 + Duration::seconds(200), idle));
        // A clock stepping backwards never makes the session look fresher than it was.
        s.touch(t0);
        assert_eq!(s.last_activity, t0 + Duration::seconds(100));
    }
}
