//! The enrollment record and everything both the kiosk and HQ need to agree on: the record's
//! typed form and its Automerge document, the data rules, the reference lists, text folding.

pub mod audit;
pub mod client;
mod deflate;
pub mod identity;
pub mod idnumber;
pub mod limits;
pub mod protocol;
pub mod provision;
pub mod record;
pub mod refdata;
pub mod seal;
pub mod text;
pub mod validate;
pub mod wire;
