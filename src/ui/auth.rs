//! Operator sign-in as the UI needs it. The accounts module (PIN hashes, lock-out) implements
//! this; until it is installed the kiosk says so on the lock screen and cannot be unlocked.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub id: String,
    pub name: String,
    pub supervisor: bool,
}

pub trait Authenticator {
    /// The operator this PIN belongs to, or why not, in (Vietnamese, English).
    fn sign_in(&self, pin: &str) -> Result<Operator, (String, String)>;
    /// In demo mode only: the demo accounts' PINs, shown on the lock screen.
    fn demo_hint(&self) -> Option<(String, String)> {
        None
    }
}
