//! Text rules for names and search: NFC, single spaces, upper case for print, and a search key
//! that ignores accents, tone placement (hòa = hoà) and đ/d.

use unicode_normalization::{char::is_combining_mark, UnicodeNormalization};

/// NFC with runs of whitespace collapsed to one space and the ends trimmed.
pub fn normalize(s: &str) -> String {
    s.nfc()
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Upper case with full diacritics, as printed on the card and compared.
pub fn card_upper(s: &str) -> String {
    normalize(s).to_uppercase().nfc().collect()
}

/// Accent-free, lower-case words separated by single spaces. Two spellings that differ only in
/// diacritics, tone placement or đ/d give the same key.
pub fn search_key(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        let c = match c {
            'đ' | 'Đ' => 'd',
            other => other,
        };
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.extend(c.to_lowercase());
        } else {
            pending_space = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_composes_and_collapses() {
        // "Nguyễn" typed with combining marks, and stray spaces.
        let decomposed = "  Nguye\u{0302}\u{0303}n   Va\u{0306}n\tHoa\u{0300} ";
        assert_eq!(normalize(decomposed), "Nguyễn Văn Hoà");
    }

    #[test]
    fn card_upper_keeps_diacritics() {
        assert_eq!(card_upper("nguyễn văn đức"), "NGUYỄN VĂN ĐỨC");
    }

    #[test]
    fn search_key_ignores_accents_tone_placement_and_d() {
        assert_eq!(search_key("Nguyễn Văn Hòa"), "nguyen van hoa");
        assert_eq!(search_key("NGUYỄN VĂN HOÀ"), "nguyen van hoa");
        assert_eq!(search_key("Đặng"), "dang");
        assert_eq!(search_key("hòa"), search_key("hoà"));
        assert_eq!(search_key("  Lê-Thị   Ánh "), "le thi anh");
    }
}
