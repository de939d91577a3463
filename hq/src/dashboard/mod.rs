//! The HQ dashboard in the browser, served by `enroll-hq serve` under `/` beside `/v1/sync`:
//! server-rendered pages (askama templates in `hq/templates/`), htmx for partial updates,
//! both embedded in the binary (no CDN, no JS build step). Vietnamese first, English switch.
//!
//! Every page handler takes a `Viewer` (signed in, with role and province scope); every form
//! POST takes a `Post` (CSRF-checked); every action writes HQ's audit log with the user's id.

pub mod auth;
pub mod i18n;
pub mod pages;

use askama::Template;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

pub use auth::{DashError, Post, Role, Viewer};
pub use i18n::{Lang, Messages};

use crate::Hq;

/// How the dashboard is served.
#[derive(Debug, Clone)]
pub struct DashConfig {
    /// `Secure` on cookies. Only plain-HTTP loopback tests turn it off (`serve --insecure-cookies`).
    pub secure_cookies: bool,
}

impl Default for DashConfig {
    fn default() -> Self {
        DashConfig {
            secure_cookies: true,
        }
    }
}

/// The dashboard's shared state.
pub struct Dash {
    pub hq: Arc<Hq>,
    pub cfg: DashConfig,
}

/// The dashboard's routes with secure cookies.
pub fn routes(hq: Arc<Hq>) -> Router {
    routes_with(hq, DashConfig::default())
}

pub fn routes_with(hq: Arc<Hq>, cfg: DashConfig) -> Router {
    let dash = Arc::new(Dash { hq, cfg });
    Router::new()
        .route("/static/htmx.min.js", get(htmx_js))
        .route("/static/app.css", get(app_css))
        .merge(pages::routes())
        .with_state(dash)
}

const HTMX_JS: &[u8] = include_bytes!("../../static/htmx.min.js");
const APP_CSS: &[u8] = include_bytes!("../../static/app.css");
/// Static URLs carry a version so they can be cached for a year.
pub const STATIC_VERSION: &str = "2";

fn static_file(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response()
}

async fn htmx_js() -> Response {
    static_file("text/javascript; charset=utf-8", HTMX_JS)
}

async fn app_css() -> Response {
    static_file("text/css; charset=utf-8", APP_CSS)
}

/// Renders a template; a template error is an internal error page.
pub fn html<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(body) => (
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::X_FRAME_OPTIONS, "DENY"),
            ],
            Html(body),
        )
            .into_response(),
        Err(e) => {
            eprintln!("dashboard: template error: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

/// An error page in both languages (it may come before the language is known).
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub status: u16,
    pub vi: String,
    pub en: String,
}

/// One nav entry of the layout.
pub struct NavItem {
    pub key: &'static str,
    pub href: &'static str,
    pub current: bool,
}

/// The pages in the nav, in order (key in `i18n::COMMON`, path).
pub const NAV: &[(&str, &str)] = &[
    ("nav.fleet", "/fleet"),
    ("nav.records", "/records"),
    ("nav.duplicates", "/duplicates"),
    ("nav.quality", "/quality"),
    ("nav.sessions", "/sessions"),
    ("nav.audit", "/audit"),
];

/// What the layout (`base.html`) needs: every page template has a `c: Chrome` field.
pub struct Chrome {
    pub lang: Lang,
    pub user: String,
    pub role: Role,
    pub csrf: String,
    /// The nav key of this page (`nav.records`...).
    pub active: &'static str,
    /// The page title's message key.
    pub title: &'static str,
    /// This page's messages; `i18n::COMMON` is searched after them.
    pub page: Messages,
    /// This request's path and query (the language switch returns to it).
    pub path: String,
}

impl Chrome {
    pub fn new(v: &Viewer, active: &'static str, title: &'static str, page: Messages) -> Self {
        Chrome {
            lang: v.lang,
            user: v.name.clone(),
            role: v.role,
            csrf: v.csrf.clone(),
            active,
            title,
            page,
            path: v.path.clone(),
        }
    }
    /// A message in the user's language.
    pub fn t(&self, key: &str) -> &'static str {
        i18n::lookup(&[self.page, i18n::COMMON], self.lang, key)
    }
    pub fn nav(&self) -> Vec<NavItem> {
        NAV.iter()
            .map(|(key, href)| NavItem {
                key,
                href,
                current: *key == self.active,
            })
            .collect()
    }
    pub fn role_key(&self) -> &'static str {
        match self.role {
            Role::Admin => "role.admin",
            Role::Reviewer => "role.reviewer",
            Role::Viewer => "role.viewer",
        }
    }
    pub fn can_act(&self) -> bool {
        self.role.can_act()
    }
    pub fn is_admin(&self) -> bool {
        self.role.is_admin()
    }
    /// The language switch link: back to this page in the other language.
    pub fn lang_switch(&self) -> String {
        format!(
            "/lang?to={}&back={}",
            self.lang.other().code(),
            auth::urlencode(&self.path)
        )
    }
    pub fn static_version(&self) -> &'static str {
        STATIC_VERSION
    }
}
