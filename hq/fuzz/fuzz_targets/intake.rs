//! `cargo fuzz run intake`: HQ's intake of decrypted frames (see `../harness.rs` for the
//! input's shape). HQ runs on SQLite in a directory under /dev/shm.
#![no_main]

#[path = "../harness.rs"]
mod harness;

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn harness() -> &'static harness::Harness {
    static H: OnceLock<harness::Harness> = OnceLock::new();
    H.get_or_init(|| {
        // libfuzzer-sys aborts from its panic hook, before any `catch_unwind` runs. HQ catches
        // Automerge's panics on hostile changes and refuses them (`record::guarded`): with the
        // default hook those stay refusals, and a panic that escapes the target still aborts
        // (libfuzzer-sys catches it at the target's edge).
        drop(std::panic::take_hook());
        let name = format!("enroll-fuzz-{}", std::process::id());
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.join(name)
        } else {
            std::env::temp_dir().join(name)
        };
        let _ = std::fs::remove_dir_all(&dir);
        harness::Harness::new(&dir)
    })
}

fuzz_target!(|data: &[u8]| harness().run(data));
