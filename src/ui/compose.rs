//! Vietnamese composition for the on-screen keyboard (bamboo-core Telex). A key becomes an
//! edit of the text before the cursor: delete so many characters, then insert.

use bamboo_core::{Engine, InputMethod, Mode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub delete: usize,
    pub insert: String,
}

pub struct Composer {
    engine: Engine,
    pub telex: bool,
    shift: bool,
}

impl Default for Composer {
    fn default() -> Self {
        Composer {
            engine: Engine::new(InputMethod::telex()),
            telex: true,
            shift: false,
        }
    }
}

impl Composer {
    /// Forget the word in progress (focus moved, a space or a punctuation mark was typed).
    pub fn reset(&mut self) {
        self.engine.reset();
    }

    pub fn toggle_shift(&mut self) {
        self.shift = !self.shift;
    }

    fn feed(&mut self, keys: &str, mode: Mode) -> Edit {
        let mut delete = 0usize;
        let mut text = String::new();
        for k in keys.chars() {
            let d = self.engine.process_key_edit(k, mode);
            // Apply the edit to what this call has inserted so far, then carry the rest.
            let own = text.chars().count();
            if d.delete_chars > own {
                delete += d.delete_chars - own;
                text.clear();
            } else {
                let keep = own - d.delete_chars;
                text = text.chars().take(keep).collect();
            }
            text.push_str(d.insert);
        }
        Edit {
            delete,
            insert: text,
        }
    }

    /// One key of the on-screen keyboard: a letter, a direct Vietnamese letter (ă â đ ê ô ơ ư),
    /// a tone key (`tone:s|f|r|x|j`), or anything else typed as is.
    pub fn key(&mut self, key: &str) -> Edit {
        let upper = std::mem::take(&mut self.shift);
        let case = |s: &str| {
            if upper {
                s.to_uppercase()
            } else {
                s.to_owned()
            }
        };
        if let Some(tone) = key.strip_prefix("tone:") {
            return self.feed(tone, Mode::Vietnamese);
        }
        let direct = match key {
            "ă" => Some("aw"),
            "â" => Some("aa"),
            "đ" => Some("dd"),
            "ê" => Some("ee"),
            "ô" => Some("oo"),
            "ơ" => Some("ow"),
            "ư" => Some("uw"),
            _ => None,
        };
        if let Some(seq) = direct {
            return self.feed(&case(seq), Mode::Vietnamese);
        }
        let mut chars = key.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_alphabetic() => {
                let mode = if self.telex {
                    Mode::Vietnamese
                } else {
                    Mode::English
                };
                self.feed(&case(key), mode)
            }
            _ => {
                self.reset();
                Edit {
                    delete: 0,
                    insert: key.to_owned(),
                }
            }
        }
    }
}

/// Applies edits to a string, as the text field does; for tests and the composer's own checks.
pub fn apply(text: &mut String, edit: &Edit) {
    let keep = text.chars().count().saturating_sub(edit.delete);
    *text = text.chars().take(keep).collect();
    text.push_str(&edit.insert);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn type_keys(keys: &[&str]) -> String {
        let mut c = Composer::default();
        let mut out = String::new();
        for k in keys {
            let e = c.key(k);
            apply(&mut out, &e);
        }
        out
    }

    #[test]
    fn telex_composes_nguyen() {
        let keys: Vec<String> = "Nguyeenx".chars().map(String::from).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        assert_eq!(type_keys(&keys), "Nguyễn");
    }

    #[test]
    fn direct_diacritic_and_tone_keys() {
        assert_eq!(type_keys(&["đ", "ư", "ơ", "n", "g", "tone:f"]), "đường");
        assert_eq!(type_keys(&["h", "o", "a", "tone:f"]).chars().count(), 3);
    }

    #[test]
    fn shift_capitalises_one_letter() {
        let mut c = Composer::default();
        c.toggle_shift();
        let mut out = String::new();
        for k in ["l", "a", "n"] {
            let e = c.key(k);
            apply(&mut out, &e);
        }
        assert_eq!(out, "Lan");
    }
}
