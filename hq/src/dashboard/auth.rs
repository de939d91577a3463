//! Dashboard users, sign-in with lockout, server-side sessions, CSRF, and the `Viewer`
//! extractor every page takes: who is asking, their role, their province scope, their
//! session's CSRF token and their language.
//!
//! Passwords are Argon2id (PHC strings). The session cookie holds a random token; the database
//! keeps only its SHA-256, so a copy of the database cannot be replayed as a session.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use std::sync::{Arc, LazyLock};

use super::i18n::Lang;
use super::Dash;
use crate::storage::{DashUser, WebSession};
use crate::{Hq, HqError, StorageError};

pub const SESSION_COOKIE: &str = "hq_session";
/// Double-submit token of the sign-in form (there is no session yet to hold one).
pub const PRE_COOKIE: &str = "hq_pre";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Failed sign-ins in a row before the account locks.
pub const MAX_FAILURES: u32 = 5;
pub const LOCKOUT_MINUTES: i64 = 15;
pub const SESSION_HOURS: i64 = 12;
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Form bodies are small; anything bigger is refused before it is parsed.
const FORM_LIMIT: usize = 256 * 1024;
/// Names longer than this are refused before any lookup (they also go to the audit log).
const NAME_LIMIT: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Reviewer,
    Viewer,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "reviewer" => Some(Role::Reviewer),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Reviewer => "reviewer",
            Role::Viewer => "viewer",
        }
    }
    /// Reviewers and admins change records; viewers only look.
    pub fn can_act(self) -> bool {
        matches!(self, Role::Admin | Role::Reviewer)
    }
    pub fn is_admin(self) -> bool {
        self == Role::Admin
    }
}

/// The signed-in person behind a request.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Also the sign-in name; the audit log's actor.
    pub user_id: String,
    pub name: String,
    pub role: Role,
    /// Province codes; empty: every province.
    pub provinces: Vec<String>,
    pub csrf: String,
    pub lang: Lang,
    /// Path and query of this request (the language switch comes back to it).
    pub path: String,
    /// Columns chosen on the records page (comma-separated keys), if ever chosen.
    pub columns: Option<String>,
}

impl Viewer {
    /// Whether a record in `province` is inside this user's scope.
    pub fn may_see(&self, province: Option<&str>) -> bool {
        self.provinces.is_empty() || province.is_some_and(|p| self.provinces.iter().any(|s| s == p))
    }
    /// The scope as a `RecordQuery::provinces_in` value.
    pub fn scope(&self) -> Option<Vec<String>> {
        (!self.provinces.is_empty()).then(|| self.provinces.clone())
    }
    /// Refuses viewers.
    pub fn must_act(&self) -> Result<(), DashError> {
        if self.role.can_act() {
            Ok(())
        } else {
            Err(DashError::forbidden(
                "Vai trò người xem không được thay đổi hồ sơ",
                "The viewer role cannot change records",
            ))
        }
    }
    pub fn must_be_admin(&self) -> Result<(), DashError> {
        if self.role.is_admin() {
            Ok(())
        } else {
            Err(DashError::forbidden(
                "Chỉ quản trị viên được làm việc này",
                "Only an admin may do this",
            ))
        }
    }
}

/// Everything a dashboard handler can answer instead of its page.
#[derive(Debug)]
pub enum DashError {
    /// Not signed in (or the session ended): to the sign-in page, then back to `next`.
    SignIn {
        next: String,
    },
    Forbidden {
        vi: String,
        en: String,
    },
    NotFound,
    BadRequest {
        vi: String,
        en: String,
    },
    Internal(String),
}

impl DashError {
    pub fn forbidden(vi: impl Into<String>, en: impl Into<String>) -> Self {
        DashError::Forbidden {
            vi: vi.into(),
            en: en.into(),
        }
    }
    pub fn bad_request(vi: impl Into<String>, en: impl Into<String>) -> Self {
        DashError::BadRequest {
            vi: vi.into(),
            en: en.into(),
        }
    }
    pub fn csrf() -> Self {
        DashError::forbidden(
            "Biểu mẫu thiếu hoặc sai mã chống giả mạo (CSRF); hãy tải lại trang",
            "The form's anti-forgery (CSRF) token is missing or wrong; reload the page",
        )
    }
}

impl From<HqError> for DashError {
    fn from(e: HqError) -> Self {
        match e {
            // Out of the user's provinces reads the same as missing.
            HqError::NoSuchRecord(_) => DashError::NotFound,
            HqError::Refused(r) => DashError::BadRequest {
                vi: r.message_vi,
                en: r.message_en,
            },
            e => DashError::Internal(e.to_string()),
        }
    }
}

impl From<StorageError> for DashError {
    fn from(e: StorageError) -> Self {
        DashError::Internal(e.to_string())
    }
}

impl IntoResponse for DashError {
    fn into_response(self) -> Response {
        let (status, vi, en) = match self {
            DashError::SignIn { next } => {
                let to = format!("/signin?next={}", urlencode(&next));
                let mut r = Redirect::to(&to).into_response();
                // htmx follows this header instead of swapping the sign-in page into a table.
                if let Ok(v) = HeaderValue::from_str(&to) {
                    r.headers_mut().insert("hx-redirect", v);
                }
                return r;
            }
            DashError::Forbidden { vi, en } => (StatusCode::FORBIDDEN, vi, en),
            DashError::NotFound => (
                StatusCode::NOT_FOUND,
                "Không tìm thấy trang".into(),
                "Page not found".into(),
            ),
            DashError::BadRequest { vi, en } => (StatusCode::BAD_REQUEST, vi, en),
            DashError::Internal(e) => {
                eprintln!("dashboard: internal error: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Lỗi nội bộ; xem nhật ký máy chủ".into(),
                    "Internal error; see the server log".into(),
                )
            }
        };
        let page = super::ErrorPage {
            status: status.as_u16(),
            vi,
            en,
        };
        (status, super::html(&page)).into_response()
    }
}

/// A blocking action whose refusal (HQ's own words) the page shows instead of failing.
pub async fn attempt(
    f: impl FnOnce() -> Result<(), HqError> + Send + 'static,
) -> Result<Option<crate::Refusal>, DashError> {
    blocking(move || match f() {
        Ok(()) => Ok(None),
        Err(HqError::Refused(r)) => Ok(Some(r)),
        Err(e) => Err(e.into()),
    })
    .await
}

/// A blocking storage job off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DashError> + Send + 'static,
) -> Result<T, DashError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DashError::Internal(format!("worker: {e}")))?
}

/// A cookie's value from the request headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, `Secure` unless turned off.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

/// 32 random bytes as hex, from the operating system.
pub fn random_token() -> Result<String, DashError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| DashError::Internal(format!("random: {e}")))?;
    Ok(hex::encode(b))
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Comparison that takes the same time wherever the first difference is.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub fn hash_password(password: &str) -> Result<String, DashError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| DashError::Internal(format!("random: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| DashError::Internal(e.to_string()))?;
    // Argon2::default() is Argon2id, version 0x13, m=19 MiB, t=2, p=1 (OWASP's minimum).
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| DashError::Internal(format!("argon2: {e}")))
}

pub fn verify_password(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Verified against when the name is unknown, so a wrong name costs as long as a wrong password.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password("not a password of anyone").unwrap_or_default());

/// Why `users add` refused.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("vai trò không hợp lệ `{0}` (admin, reviewer, viewer) / unknown role `{0}`")]
    Role(String),
    #[error("mã tỉnh không có trong danh mục `{0}` / unknown province code `{0}`")]
    Province(String),
    #[error("mật khẩu cần ít nhất {MIN_PASSWORD_CHARS} ký tự / the password needs at least {MIN_PASSWORD_CHARS} characters")]
    ShortPassword,
    #[error("tên không hợp lệ (1–{NAME_LIMIT} ký tự, không dấu cách) / bad name (1–{NAME_LIMIT} characters, no spaces)")]
    Name,
    #[error("tên `{0}` đã có / the name `{0}` is taken")]
    Taken(String),
    #[error("{0}")]
    Hq(#[from] HqError),
    #[error("{0:?}")]
    Dash(DashError),
}

/// Adds a dashboard user (the `enroll-hq users add` command); written to the audit log.
pub fn add_user(
    hq: &Hq,
    name: &str,
    role: &str,
    provinces: &[String],
    password: &str,
    by: &str,
) -> Result<DashUser, UserError> {
    let role = Role::parse(role).ok_or_else(|| UserError::Role(role.to_owned()))?;
    if name.is_empty()
        || name.chars().count() > NAME_LIMIT
        || name.chars().any(|c| c.is_whitespace() || c == ',')
    {
        return Err(UserError::Name);
    }
    for p in provinces {
        if enroll_sync::refdata::refdata().province(p).is_none() {
            return Err(UserError::Province(p.clone()));
        }
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(UserError::ShortPassword);
    }
    let user = DashUser {
        id: name.to_owned(),
        name: name.to_owned(),
        role: role.as_str().to_owned(),
        provinces: provinces.to_vec(),
        password_hash: hash_password(password).map_err(UserError::Dash)?,
        failed_logins: 0,
        locked_until: None,
        columns: None,
        created_at: hq.now(),
    };
    let mut s = hq.session()?;
    s.begin().map_err(HqError::from)?;
    if !s.add_user(&user).map_err(HqError::from)? {
        return Err(UserError::Taken(name.to_owned()));
    }
    let detail = format!("role={} provinces={}", user.role, user.provinces.join(","));
    s.audit(&[hq.audit_entry(by, "user.add", name, &detail)])
        .map_err(HqError::from)?;
    s.commit().map_err(HqError::from)?;
    Ok(user)
}

/// The outcome of a sign-in attempt.
#[derive(Debug)]
pub enum SignIn {
    /// The new session's cookie token and its row.
    Ok {
        token: String,
        session: WebSession,
    },
    /// Wrong name or password (which one is not said).
    Wrong,
    Locked {
        until: DateTime<Utc>,
    },
}

/// Checks a name and password; counts failures and locks the account after `MAX_FAILURES`.
pub fn sign_in(hq: &Hq, name: &str, password: &str) -> Result<SignIn, DashError> {
    let now = hq.now();
    let name: String = name.chars().take(NAME_LIMIT).collect();
    let mut s = hq.session()?;
    let Some(user) = s.user_by_name(&name)? else {
        let _ = verify_password(&DUMMY_HASH, password);
        s.audit(&[hq.audit_entry(&name, "user.sign_in_failed", &name, "unknown name")])?;
        return Ok(SignIn::Wrong);
    };
    if let Some(until) = user.locked_until.filter(|u| *u > now) {
        s.audit(&[hq.audit_entry(&user.id, "user.sign_in_refused", &user.id, "locked")])?;
        return Ok(SignIn::Locked { until });
    }
    if !verify_password(&user.password_hash, password) {
        let failed = user.failed_logins + 1;
        s.begin()?;
        if failed >= MAX_FAILURES {
            let until = now + Duration::minutes(LOCKOUT_MINUTES);
            s.set_user_login(&user.id, 0, Some(until))?;
            s.audit(&[hq.audit_entry(
                &user.id,
                "user.locked",
                &user.id,
                &format!(
                    "{failed} failed sign-ins; until {}",
                    crate::storage::ts(until)
                ),
            )])?;
            s.commit()?;
            return Ok(SignIn::Locked { until });
        }
        s.set_user_login(&user.id, failed, None)?;
        s.audit(&[hq.audit_entry(
            &user.id,
            "user.sign_in_failed",
            &user.id,
            &format!("wrong password ({failed})"),
        )])?;
        s.commit()?;
        return Ok(SignIn::Wrong);
    }
    let token = random_token()?;
    let session = WebSession {
        token_hash: token_hash(&token),
        user_id: user.id.clone(),
        csrf: random_token()?,
        created_at: now,
        expires_at: now + Duration::hours(SESSION_HOURS),
    };
    s.begin()?;
    s.set_user_login(&user.id, 0, None)?;
    s.add_web_session(&session)?;
    s.audit(&[hq.audit_entry(&user.id, "user.sign_in", &user.id, "")])?;
    s.commit()?;
    Ok(SignIn::Ok { token, session })
}

/// The request's path and query, for coming back after sign-in or a language switch.
fn path_of(parts: &Parts) -> String {
    parts
        .uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned())
}

/// Only local paths are followed after sign-in (no open redirect to another site).
pub fn local_path(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next
    } else {
        "/"
    }
}

pub fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|e| e.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

impl FromRequestParts<Arc<Dash>> for Viewer {
    type Rejection = DashError;

    async fn from_request_parts(parts: &mut Parts, dash: &Arc<Dash>) -> Result<Self, DashError> {
        let lang = Lang::of_request(parts);
        let path = path_of(parts);
        let sign_in = || DashError::SignIn { next: path.clone() };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(sign_in());
        };
        let hq = dash.hq.clone();
        let found = blocking(move || {
            let mut s = hq.session()?;
            let Some(w) = s.web_session(&token_hash(&token))? else {
                return Ok(None);
            };
            if w.expires_at <= hq.now() {
                s.end_web_session(&w.token_hash)?;
                return Ok(None);
            }
            Ok(s.user(&w.user_id)?.map(|u| (w, u)))
        })
        .await?;
        let Some((w, u)) = found else {
            return Err(sign_in());
        };
        let role = Role::parse(&u.role)
            .ok_or_else(|| DashError::Internal(format!("user {} has role {}", u.id, u.role)))?;
        Ok(Viewer {
            user_id: u.id,
            name: u.name,
            role,
            provinces: u.provinces,
            csrf: w.csrf,
            lang,
            path,
            columns: u.columns,
        })
    }
}

/// A form POST from a signed-in user whose CSRF token (form field `csrf` or header
/// `X-CSRF-Token`) matches their session's; anything else is refused before a handler runs.
pub struct Post {
    pub v: Viewer,
    pub form: Vec<(String, String)>,
}

impl Post {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    /// Every value of a repeated field (checkboxes).
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.form
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

impl FromRequest<Arc<Dash>> for Post {
    type Rejection = DashError;

    async fn from_request(req: Request, dash: &Arc<Dash>) -> Result<Self, DashError> {
        let (mut parts, body) = req.into_parts();
        let v = Viewer::from_request_parts(&mut parts, dash).await?;
        let bytes = axum::body::to_bytes(body, FORM_LIMIT)
            .await
            .map_err(|_| DashError::bad_request("Biểu mẫu quá lớn", "The form is too large"))?;
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| DashError::bad_request("Biểu mẫu hỏng", "The form is malformed"))?;
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| {
                form.iter()
                    .find(|(k, _)| k == "csrf")
                    .map(|(_, v)| v.clone())
            });
        match sent {
            Some(t) if same_secret(&t, &v.csrf) => Ok(Post { v, form }),
            _ => Err(DashError::csrf()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_argon2id_and_verify() {
        let h = hash_password("correct horse battery").expect("hash");
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        assert!(verify_password(&h, "correct horse battery"));
        assert!(!verify_password(&h, "correct horse batterz"));
        assert!(!verify_password("not a hash", "x"));
    }

    #[test]
    fn cookies_and_paths() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; hq_session=abc; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "zz"), None);
        let c = set_cookie("n", "v", "/", 60, true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(!set_cookie("n", "v", "/", 60, false).contains("Secure"));
        assert_eq!(local_path("/records?x=1"), "/records?x=1");
        assert_eq!(local_path("//evil.example/"), "/");
        assert_eq!(local_path("https://evil.example/"), "/");
        assert!(same_secret("abcd", "abcd"));
        assert!(!same_secret("abcd", "abce"));
        assert!(!same_secret("abc", "abcd"));
    }

    #[test]
    fn roles() {
        assert!(Role::Reviewer.can_act());
        assert!(!Role::Viewer.can_act());
        assert!(Role::Admin.is_admin() && !Role::Reviewer.is_admin());
        assert_eq!(Role::parse("viewer"), Some(Role::Viewer));
        assert_eq!(Role::parse("root"), None);
    }
}
