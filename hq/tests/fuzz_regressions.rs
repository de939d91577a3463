//! Every input the fuzzer ever crashed HQ with (`hq/fuzz/regressions/`) replays through the
//! fuzz target's own harness on a real HQ: each must end in a refusal or a reply, never in a
//! panic that escapes HQ.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::Path;

#[test]
fn every_fuzz_regression_input_is_refused_or_answered() {
    let regressions = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut inputs: Vec<_> = std::fs::read_dir(&regressions)
        .expect("hq/fuzz/regressions")
        .map(|e| e.expect("entry").path())
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 3, "regression inputs: {inputs:?}");
    for input in inputs {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = std::fs::read(&input).expect("read input");
        let h = harness::Harness::new(dir.path());
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h.run(&data)));
        assert!(outcome.is_ok(), "{} made HQ panic", input.display());
    }
}
