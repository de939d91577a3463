//! Read-aloud of the resident review in Vietnamese with espeak-ng, as a child process on its
//! own thread so the UI never waits for it.

use std::process::{Command, Stdio};

/// Speaks `text`; `volume` is 0–100. Calls `done` with an error in plain words if it failed.
pub fn speak(
    text: String,
    volume: u8,
    done: impl FnOnce(Option<(String, String)>) + Send + 'static,
) {
    std::thread::spawn(move || {
        // espeak-ng amplitude runs 0–200; 100 is its default.
        let amplitude = (u32::from(volume.min(100)) * 2).to_string();
        let result = Command::new("espeak-ng")
            .args(["-v", "vi", "-a", &amplitude, "--", &text])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let error = match result {
            Ok(s) if s.success() => None,
            Ok(_) => Some((
                "Máy không đọc được. Hãy kiểm tra loa rồi thử lại.".to_owned(),
                "The kiosk could not read aloud. Check the speaker and try again.".to_owned(),
            )),
            Err(_) => Some((
                "Máy chưa cài chương trình đọc (espeak-ng). Hãy đọc to cho người dân nghe.".to_owned(),
                "The speech program (espeak-ng) is not installed. Please read the details out loud.".to_owned(),
            )),
        };
        done(error);
    });
}
