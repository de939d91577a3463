//! The enrollment record and everything both the kiosk and HQ need to agree on: the record's
//! typed form and its Automerge document, the data rules, the reference lists, text folding.

pub mod identity;
pub mod idnumber;
pub mod record;
pub mod refdata;
pub mod text;
pub mod validate;
