//! Time for lockouts that nobody can move: seconds since boot (CLOCK_BOOTTIME, which keeps
//! counting through suspend and ignores the wall clock) and the id of that boot.

/// A reading of the boot clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootTime {
    /// Changes at every boot (`/proc/sys/kernel/random/boot_id`).
    pub boot_id: String,
    pub secs: i64,
}

pub trait BootClock: Send {
    fn now(&self) -> BootTime;
}

/// The machine's boot clock.
pub struct SystemBootClock;

impl BootClock for SystemBootClock {
    fn now(&self) -> BootTime {
        let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_owned())
            // Without a boot id every reading looks like a fresh boot: locks then count from boot,
            // which can only lengthen them.
            .unwrap_or_default();
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes only into the timespec we own.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
        let secs = if rc == 0 { ts.tv_sec } else { 0 };
        BootTime { boot_id, secs }
    }
}

/// A stored lockout: when it ends on the boot clock, and how long it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootLock {
    pub boot_id: String,
    pub until_secs: i64,
    pub length_secs: i64,
}

impl BootLock {
    pub fn starting(now: &BootTime, length_secs: i64) -> Self {
        BootLock {
            boot_id: now.boot_id.clone(),
            until_secs: now.secs.saturating_add(length_secs),
            length_secs,
        }
    }

    /// Seconds still to wait. After a reboot the whole length counts again from boot, so
    /// neither the wall clock nor a restart can shorten a lockout.
    pub fn remaining(&self, now: &BootTime) -> i64 {
        let left = if !self.boot_id.is_empty() && self.boot_id == now.boot_id {
            self.until_secs - now.secs
        } else {
            self.length_secs - now.secs
        };
        left.max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(boot: &str, secs: i64) -> BootTime {
        BootTime {
            boot_id: boot.into(),
            secs,
        }
    }

    #[test]
    fn a_lock_counts_on_the_boot_clock_and_restarts_after_a_reboot() {
        let lock = BootLock::starting(&at("a", 1000), 120);
        assert_eq!(lock.remaining(&at("a", 1000)), 120);
        assert_eq!(lock.remaining(&at("a", 1119)), 1);
        assert_eq!(lock.remaining(&at("a", 1120)), 0);
        // Rebooted: the whole length again from boot.
        assert_eq!(lock.remaining(&at("b", 30)), 90);
        assert_eq!(lock.remaining(&at("b", 500)), 0);
    }

    #[test]
    fn the_system_boot_clock_moves_forward() {
        let a = SystemBootClock.now();
        let b = SystemBootClock.now();
        assert_eq!(a.boot_id, b.boot_id);
        assert!(!a.boot_id.is_empty());
        assert!(b.secs >= a.secs && a.secs > 0);
    }
}
