//! The enrollment record, its validation rules, and (later) signing, sync and the HQ server.
