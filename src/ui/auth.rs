//! Who is signed in, as the UI needs it. Accounts, PIN hashes and the lockout live in the
//! store (`store::accounts`); the UI signs in through the store on its worker thread.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// Sign-in name: the `person` in every attribution.
    pub id: String,
    pub name: String,
    pub supervisor: bool,
}
