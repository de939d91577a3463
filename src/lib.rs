//! The enrollment kiosk: local store, command line and UI glue.
