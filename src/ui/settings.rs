//! Settings kept in `ui-settings.json`: language, text size, idle lock, read-aloud. The HQ
//! address and HQ's key fingerprint come from the provisioning in the store; only a signed-in
//! supervisor may change the address.

use super::*;

/// Settings kept in `ui-settings.json` in the data directory.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Settings {
    pub language: String,
    pub text_scale: f32,
    pub idle_seconds: u32,
    pub read_aloud: bool,
    pub volume: u8,
    /// The kiosk's time zone as minutes east of UTC; times on screen use it. Vietnam
    /// (Asia/Ho_Chi_Minh) has kept +07:00 without daylight saving since 1975, so a fixed
    /// offset is exact there and needs no time-zone database.
    pub utc_offset_minutes: i32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            language: "vi".into(),
            text_scale: 1.0,
            idle_seconds: 300,
            read_aloud: true,
            volume: 75,
            utc_offset_minutes: 7 * 60,
        }
    }
}

pub(super) const SETTINGS_FILE: &str = "ui-settings.json";

impl Ctrl {
    pub(super) fn apply_settings(self: &Rc<Self>) {
        let app = self.app();
        let st = self.state.borrow();
        let set = &st.settings;
        app.global::<Theme>().set_text_scale(set.text_scale);
        let g = app.global::<AppState>();
        g.set_language(s(&set.language));
        app.global::<SettingsState>()
            .set_idle_seconds(set.idle_seconds as i32);
        app.global::<ResidentState>()
            .set_read_aloud_enabled(set.read_aloud);
        app.global::<SettingsState>()
            .set_volume(i32::from(set.volume));
        select_language(&set.language);
        drop(st);
        self.touched();
    }

    pub(super) fn save_settings(&self) {
        let json = serde_json::to_vec_pretty(&self.state.borrow().settings).unwrap_or_default();
        let path = self.data_dir.join(SETTINGS_FILE);
        self.worker.post(move |_store| {
            let failed = std::fs::write(&path, json).is_err();
            Box::new(move |c: &Rc<Ctrl>| {
                if failed {
                    c.banner(
                        "Không lưu được cài đặt. Cài đặt vẫn dùng được đến khi tắt máy.",
                        "The settings could not be saved. They apply until the kiosk is switched off.",
                        true,
                    );
                }
            })
        });
    }

    pub(super) fn set_language(self: &Rc<Self>, lang: &str) {
        let lang = if lang == "en" { "en" } else { "vi" };
        self.state.borrow_mut().settings.language = lang.into();
        self.apply_settings();
        self.save_settings();
        self.refresh_texts();
        self.refresh_form();
        self.show_findings();
        let page = self.app().global::<AppState>().get_page();
        if matches!(page.as_str(), "home" | "records" | "supervisor") {
            self.navigate(&page);
        }
    }

    pub(super) fn bind_settings(self: &Rc<Self>) {
        let app = self.app();
        let g = app.global::<SettingsState>();
        on!(self, g, on_set_language, |c, lang: SharedString| c
            .set_language(&lang));
        on!(self, g, on_set_text_scale, |c, v: f32| {
            c.state.borrow_mut().settings.text_scale = v;
            c.apply_settings();
            c.save_settings()
        });
        on!(self, g, on_set_idle, |c, v: i32| {
            c.state.borrow_mut().settings.idle_seconds = v.max(30) as u32;
            c.apply_settings();
            c.save_settings()
        });
        on!(self, g, on_set_read_aloud, |c, v: bool| {
            c.state.borrow_mut().settings.read_aloud = v;
            c.apply_settings();
            c.save_settings()
        });
        on!(self, g, on_set_volume, |c, v: i32| {
            c.state.borrow_mut().settings.volume = v.clamp(0, 100) as u8;
            c.apply_settings();
            c.save_settings()
        });
        on!(self, g, on_set_hq, |c, v: SharedString| c
            .set_hq_address(&v));
    }

    /// Shows the provisioned HQ address and HQ's key fingerprint (read from the store).
    pub(super) fn refresh_hq_settings(self: &Rc<Self>) {
        self.worker.post(move |store: &mut Store| {
            let prov = crate::sync::Provisioned::load(store).ok();
            Box::new(move |c: &Rc<Ctrl>| {
                let app = c.app();
                let g = app.global::<SettingsState>();
                match prov {
                    Some(p) => {
                        g.set_hq_address(s(&p.hq_url));
                        g.set_hq_fingerprint(s(p.hq_fingerprint()));
                    }
                    None => {
                        g.set_hq_address(s(""));
                        g.set_hq_fingerprint(s(""));
                    }
                }
            })
        });
    }

    /// A supervisor changes where HQ is; HQ's keys stay as HQ signed them.
    fn set_hq_address(self: &Rc<Self>, url: &str) {
        let by = self.state.borrow().session.as_ref().and_then(|sess| {
            sess.is_supervisor()
                .then(|| enroll_sync::record::Attribution {
                    person: sess.person.clone(),
                    device: String::new(),
                    at: chrono::Utc::now(),
                })
        });
        let Some(mut by) = by else {
            self.banner(
                "Chỉ giám sát viên được đổi địa chỉ trung tâm.",
                "Only a supervisor may change the HQ address.",
                true,
            );
            self.refresh_hq_settings();
            return;
        };
        let url = url.trim().to_owned();
        let https = url.starts_with("https://");
        let scheme = if https { "https://" } else { "http://" };
        if !url.starts_with(scheme) || url.len() <= scheme.len() {
            self.banner(
                "Địa chỉ trung tâm phải bắt đầu bằng http:// hoặc https://",
                "The HQ address must start with http:// or https://",
                true,
            );
            return;
        }
        self.worker.post(move |store: &mut Store| {
            let result = (|| -> Result<bool, crate::store::StoreError> {
                if store.sync_setting("kiosk_id")?.is_none() {
                    return Ok(true);
                }
                // HTTPS trusts only the certificate HQ pinned in its signed provisioning file.
                let pinned = store
                    .sync_setting("hq_tls_pin")?
                    .is_some_and(|p| !p.is_empty());
                if https && !pinned {
                    return Ok(false);
                }
                by.device = store.kiosk().code.clone();
                store.set_sync_setting("hq_url", &url)?;
                store.audit(&by, "sync.hq_url", None, Some(&url))?;
                Ok(true)
            })();
            Box::new(move |c: &Rc<Ctrl>| {
                match result {
                    Ok(true) => {}
                    Ok(false) => c.banner(
                        "Máy chưa có chứng chỉ của trung tâm để dùng https://: hãy nạp tệp cấu hình mới từ HQ.",
                        "This kiosk has no HQ certificate pinned for https://: load a new provisioning file from HQ.",
                        true,
                    ),
                    Err(_) => c.banner(
                        "Không lưu được địa chỉ trung tâm.",
                        "The HQ address could not be saved.",
                        true,
                    ),
                }
                c.refresh_hq_settings();
            })
        });
    }

    /// The kiosk's time zone (an unusable setting falls back to Vietnam's +07:00).
    pub(super) fn tz(&self) -> chrono::FixedOffset {
        let minutes = self.state.borrow().settings.utc_offset_minutes;
        chrono::FixedOffset::east_opt(minutes * 60)
            .or_else(|| chrono::FixedOffset::east_opt(7 * 3600))
            .expect("+07:00 is a valid offset")
    }
}
