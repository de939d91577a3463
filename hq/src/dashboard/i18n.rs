//! Vietnamese first, English on request. Each page module owns one message table
//! (`&[(key, vi, en)]`) so two people never edit the same table; `COMMON` holds the layout's.
//! The language comes from `?lang=` or the `hq_lang` cookie (set by `/lang`).

use axum::http::request::Parts;

/// One page's messages: (key, Vietnamese, English).
pub type Messages = &'static [(&'static str, &'static str, &'static str)];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Vi,
    En,
}

pub const LANG_COOKIE: &str = "hq_lang";

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
    /// The other language (the switch in the layout).
    pub fn other(self) -> Lang {
        match self {
            Lang::Vi => Lang::En,
            Lang::En => Lang::Vi,
        }
    }
    /// One of a vi/en pair.
    pub fn pick<'a>(self, vi: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }
    /// `?lang=` first, then the cookie, then Vietnamese.
    pub fn of_request(parts: &Parts) -> Lang {
        let from_query = parts.uri.query().and_then(|q| {
            q.split('&')
                .filter_map(|kv| kv.strip_prefix("lang="))
                .find_map(Lang::parse)
        });
        from_query
            .or_else(|| {
                super::auth::cookie(&parts.headers, LANG_COOKIE).and_then(|c| Lang::parse(&c))
            })
            .unwrap_or_default()
    }
}

/// The message for `key` in the first table that has it; "?" (and a line in the server log)
/// when none has it, so a missing message shows on screen instead of an empty label.
pub fn lookup(tables: &[Messages], lang: Lang, key: &str) -> &'static str {
    for table in tables {
        if let Some((_, vi, en)) = table.iter().find(|(k, _, _)| *k == key) {
            return lang.pick(vi, en);
        }
    }
    eprintln!("dashboard: no message `{key}`");
    "?"
}

/// The layout's messages (nav, roles, shared words).
pub const COMMON: Messages = &[
    ("app.title", "Trụ sở tuyển sinh", "Enrollment HQ"),
    ("app.skip", "Bỏ qua, tới nội dung", "Skip to content"),
    ("nav.label", "Trang chính", "Main pages"),
    ("nav.fleet", "Ki-ốt", "Fleet"),
    ("nav.records", "Hồ sơ", "Records"),
    ("nav.duplicates", "Trùng lặp", "Duplicates"),
    ("nav.quality", "Chất lượng", "Quality"),
    ("nav.sessions", "Phiên đồng bộ", "Sessions"),
    ("nav.audit", "Nhật ký", "Audit"),
    ("nav.signout", "Đăng xuất", "Sign out"),
    ("lang.switch", "English", "Tiếng Việt"),
    (
        "lang.switch.label",
        "Switch to English",
        "Chuyển sang tiếng Việt",
    ),
    ("role.admin", "quản trị", "admin"),
    ("role.reviewer", "người duyệt", "reviewer"),
    ("role.viewer", "người xem", "viewer"),
    ("common.next", "Trang sau", "Next page"),
    ("common.first", "Trang đầu", "First page"),
    ("common.none", "Không có", "None"),
    ("common.filter", "Lọc", "Filter"),
    ("common.clear", "Xoá bộ lọc", "Clear filters"),
    ("common.all", "Tất cả", "All"),
    ("common.never", "chưa bao giờ", "never"),
    ("common.cancel", "Huỷ", "Cancel"),
    ("common.user", "Người dùng", "User"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_first_english_on_request() {
        assert_eq!(lookup(&[COMMON], Lang::Vi, "nav.fleet"), "Ki-ốt");
        assert_eq!(lookup(&[COMMON], Lang::En, "nav.fleet"), "Fleet");
        assert_eq!(Lang::default(), Lang::Vi);
        assert_eq!(Lang::parse("en"), Some(Lang::En));
        assert_eq!(Lang::parse("fr"), None);
    }

    #[test]
    fn common_keys_are_unique() {
        let mut keys: Vec<_> = COMMON.iter().map(|(k, _, _)| *k).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }
}
