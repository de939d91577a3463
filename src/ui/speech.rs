//! Read-aloud of the resident review in Vietnamese with espeak-ng, as a child process on its
//! own thread so the UI never waits for it.

use std::path::Path;
use std::process::{Command, Stdio};

/// A reason read-aloud did not happen, in both languages for the banner.
pub type Failure = (String, String);

/// Whether the kiosk has a sound card to play on. espeak-ng exits 0 even when ALSA finds
/// no card, so without this check the review would fail silently.
pub fn has_audio_output() -> bool {
    let alsa_playback = std::fs::read_dir("/dev/snd").is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("pcm") && name.ends_with('p')
        })
    });
    let sound_server = std::env::var_os("PULSE_SERVER").is_some()
        || std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|dir| {
            let dir = Path::new(&dir);
            dir.join("pulse/native").exists() || dir.join("pipewire-0").exists()
        });
    alsa_playback || sound_server
}

fn no_audio() -> Failure {
    (
        "Máy không có loa hoặc thiết bị âm thanh nên không đọc to được. Hãy đọc to cho người dân nghe."
            .to_owned(),
        "The kiosk has no speaker or sound device, so it cannot read aloud. Please read the details out loud."
            .to_owned(),
    )
}

fn not_installed() -> Failure {
    (
        "Máy chưa cài chương trình đọc (espeak-ng). Hãy đọc to cho người dân nghe.".to_owned(),
        "The speech program (espeak-ng) is not installed. Please read the details out loud."
            .to_owned(),
    )
}

/// Speaks `text`; `volume` is 0–100. Calls `done` when speech ends, with the reason in plain
/// words if nothing could be heard.
pub fn speak(text: String, volume: u8, done: impl FnOnce(Option<Failure>) + Send + 'static) {
    if !has_audio_output() {
        done(Some(no_audio()));
        return;
    }
    std::thread::spawn(move || {
        // espeak-ng amplitude runs 0–200; 100 is its default.
        let amplitude = (u32::from(volume.min(100)) * 2).to_string();
        let result = Command::new("espeak-ng")
            .args(["-v", "vi", "-a", &amplitude, "--", &text])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output();
        let error = match result {
            // ALSA reports a missing device on stderr while espeak-ng still exits 0.
            Ok(out) if String::from_utf8_lossy(&out.stderr).contains("ALSA lib") => {
                Some(no_audio())
            }
            Ok(out) if out.status.success() => None,
            Ok(_) => Some((
                "Máy không đọc được. Hãy kiểm tra loa rồi thử lại.".to_owned(),
                "The kiosk could not read aloud. Check the speaker and try again.".to_owned(),
            )),
            Err(_) => Some(not_installed()),
        };
        done(error);
    });
}

/// Renders `text` as it would be spoken into a WAV file (espeak-ng `-w`), for checking
/// what the resident hears without a speaker.
pub fn render_wav(text: &str, out: &Path) -> Result<(), Failure> {
    let status = Command::new("espeak-ng")
        .args(["-v", "vi", "-w"])
        .arg(out)
        .args(["--", text])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|_| not_installed())?;
    if status.success() {
        Ok(())
    } else {
        Err((
            "Không tạo được tệp âm thanh.".to_owned(),
            "The audio file could not be made.".to_owned(),
        ))
    }
}

/// The review read aloud in Vietnamese: numbers digit by digit, dates in words.
pub fn speech_text(lines: &[super::Line]) -> String {
    lines
        .iter()
        .map(|ln| {
            let value = ln.value.as_str();
            let spoken = if crate::ui::form::parse_date(value).is_some() {
                spoken_date(value)
            } else if value.chars().filter(char::is_ascii_digit).count() >= 6 {
                spoken_digits(value)
            } else {
                value.to_owned()
            };
            format!("{}: {}.", ln.label, spoken)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// "14/03/1958" → "ngày 14 tháng 3 năm 1958"; a partial date says only what is known.
pub fn spoken_date(text: &str) -> String {
    match crate::ui::form::parse_date(text) {
        Some((y, Some(m), Some(d))) => format!("ngày {d} tháng {m} năm {y}"),
        Some((y, Some(m), None)) => format!("tháng {m} năm {y}"),
        Some((y, None, _)) => format!("năm {y}"),
        None => text.to_owned(),
    }
}

/// "001058012345" → "0 0 1 0 5 8 0 1 2 3 4 5": digit by digit, so no digit is misheard.
pub fn spoken_digits(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !out.is_empty() && !out.ends_with(' ') {
                out.push(' ');
            }
            out.push(c);
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_digit_by_digit_and_dates_in_words() {
        assert_eq!(spoken_digits("001058012345"), "0 0 1 0 5 8 0 1 2 3 4 5");
        assert_eq!(spoken_date("14/03/1958"), "ngày 14 tháng 3 năm 1958");
        assert_eq!(spoken_date("03/1958"), "tháng 3 năm 1958");
        assert_eq!(spoken_date("1958"), "năm 1958");
        let lines = [
            super::super::Line {
                label: "Số định danh cá nhân".into(),
                value: "001058012345".into(),
            },
            super::super::Line {
                label: "Ngày sinh".into(),
                value: "14/03/1958".into(),
            },
        ];
        assert_eq!(
            speech_text(&lines),
            "Số định danh cá nhân: 0 0 1 0 5 8 0 1 2 3 4 5. Ngày sinh: ngày 14 tháng 3 năm 1958."
        );
    }
}
