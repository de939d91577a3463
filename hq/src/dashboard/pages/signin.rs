//! Sign-in (with lockout), sign-out, the language switch, and `/` (to the fleet page).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use std::sync::Arc;

use crate::dashboard::auth::{self, blocking, cookie, set_cookie, SignIn};
use crate::dashboard::i18n::{self, Lang, Messages, LANG_COOKIE};
use crate::dashboard::{html, Dash, DashError, Post};

pub fn routes() -> Router<Arc<Dash>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/fleet") }))
        .route("/signin", get(form).post(submit))
        .route("/signout", post(sign_out))
        .route("/lang", get(switch_lang))
}

pub const MESSAGES: Messages = &[
    ("signin.title", "Đăng nhập", "Sign in"),
    ("signin.name", "Tên đăng nhập", "User name"),
    ("signin.password", "Mật khẩu", "Password"),
    ("signin.submit", "Đăng nhập", "Sign in"),
    (
        "signin.wrong",
        "Sai tên đăng nhập hoặc mật khẩu.",
        "Wrong user name or password.",
    ),
    (
        "signin.locked",
        "Tài khoản tạm khoá vì nhập sai nhiều lần. Thử lại sau",
        "The account is locked after repeated failures. Try again after",
    ),
    (
        "signin.expired",
        "Biểu mẫu đã cũ; hãy đăng nhập lại.",
        "The form expired; sign in again.",
    ),
];

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    lang: Lang,
    csrf: String,
    next: String,
    name: String,
    /// A message key, and for a lockout the time it ends.
    error: Option<&'static str>,
    until: String,
}

impl SignInPage {
    fn t(&self, key: &str) -> &'static str {
        i18n::lookup(&[MESSAGES, i18n::COMMON], self.lang, key)
    }
    fn lang_switch(&self) -> String {
        let back = format!("/signin?next={}", auth::urlencode(&self.next));
        format!(
            "/lang?to={}&back={}",
            self.lang.other().code(),
            auth::urlencode(&back)
        )
    }
}

#[derive(serde::Deserialize)]
struct Next {
    next: Option<String>,
}

fn lang_of(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE)
        .and_then(|c| Lang::parse(&c))
        .unwrap_or_default()
}

/// The form, with a fresh double-submit token in a cookie scoped to this page.
fn render(
    dash: &Dash,
    headers: &HeaderMap,
    status: StatusCode,
    next: String,
    name: String,
    error: Option<&'static str>,
    until: String,
) -> Result<Response, DashError> {
    let csrf = auth::random_token()?;
    let page = SignInPage {
        lang: lang_of(headers),
        csrf: csrf.clone(),
        next,
        name,
        error,
        until,
    };
    let c = set_cookie(
        auth::PRE_COOKIE,
        &csrf,
        "/signin",
        3600,
        dash.cfg.secure_cookies,
    );
    Ok((status, [(header::SET_COOKIE, c)], html(&page)).into_response())
}

async fn form(
    State(dash): State<Arc<Dash>>,
    headers: HeaderMap,
    Query(q): Query<Next>,
) -> Result<Response, DashError> {
    let next = auth::local_path(q.next.as_deref().unwrap_or("/")).to_owned();
    render(
        &dash,
        &headers,
        StatusCode::OK,
        next,
        String::new(),
        None,
        String::new(),
    )
}

#[derive(serde::Deserialize)]
struct SignInForm {
    name: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

async fn submit(
    State(dash): State<Arc<Dash>>,
    headers: HeaderMap,
    Form(f): Form<SignInForm>,
) -> Result<Response, DashError> {
    let next = auth::local_path(f.next.as_deref().unwrap_or("/")).to_owned();
    let pre = cookie(&headers, auth::PRE_COOKIE).unwrap_or_default();
    if pre.is_empty() || !auth::same_secret(&pre, &f.csrf) {
        let mut r = render(
            &dash,
            &headers,
            StatusCode::FORBIDDEN,
            next,
            f.name,
            Some("signin.expired"),
            String::new(),
        )?;
        *r.status_mut() = StatusCode::FORBIDDEN;
        return Ok(r);
    }
    let hq = dash.hq.clone();
    let (name, password) = (f.name.clone(), f.password);
    let outcome = blocking(move || auth::sign_in(&hq, &name, &password)).await?;
    match outcome {
        SignIn::Ok { token, .. } => {
            let c = set_cookie(
                auth::SESSION_COOKIE,
                &token,
                "/",
                auth::SESSION_HOURS * 3600,
                dash.cfg.secure_cookies,
            );
            let gone = set_cookie(auth::PRE_COOKIE, "", "/signin", 0, dash.cfg.secure_cookies);
            let mut r = Redirect::to(&next).into_response();
            r.headers_mut().append(
                header::SET_COOKIE,
                c.parse()
                    .map_err(|_| DashError::Internal("cookie".into()))?,
            );
            r.headers_mut().append(
                header::SET_COOKIE,
                gone.parse()
                    .map_err(|_| DashError::Internal("cookie".into()))?,
            );
            Ok(r)
        }
        SignIn::Wrong => render(
            &dash,
            &headers,
            StatusCode::UNAUTHORIZED,
            next,
            f.name,
            Some("signin.wrong"),
            String::new(),
        ),
        SignIn::Locked { until } => render(
            &dash,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            next,
            f.name,
            Some("signin.locked"),
            until.format("%Y-%m-%d %H:%M UTC").to_string(),
        ),
    }
}

async fn sign_out(
    State(dash): State<Arc<Dash>>,
    headers: HeaderMap,
    p: Post,
) -> Result<Response, DashError> {
    let token = cookie(&headers, auth::SESSION_COOKIE).unwrap_or_default();
    let hq = dash.hq.clone();
    let user = p.v.user_id.clone();
    blocking(move || {
        let mut s = hq.session()?;
        s.end_web_session(&auth::token_hash(&token))?;
        s.audit(&[hq.audit_entry(&user, "user.sign_out", &user, "")])?;
        Ok(())
    })
    .await?;
    let gone = set_cookie(auth::SESSION_COOKIE, "", "/", 0, dash.cfg.secure_cookies);
    Ok(([(header::SET_COOKIE, gone)], Redirect::to("/signin")).into_response())
}

#[derive(serde::Deserialize)]
struct Switch {
    to: String,
    back: Option<String>,
}

/// Remembers the language in a cookie (a year) and goes back to the page.
async fn switch_lang(
    State(dash): State<Arc<Dash>>,
    Query(q): Query<Switch>,
) -> Result<Response, DashError> {
    let lang = Lang::parse(&q.to)
        .ok_or_else(|| DashError::bad_request("Ngôn ngữ không hỗ trợ", "Unsupported language"))?;
    let back = auth::local_path(q.back.as_deref().unwrap_or("/")).to_owned();
    let c = set_cookie(
        LANG_COOKIE,
        lang.code(),
        "/",
        365 * 24 * 3600,
        dash.cfg.secure_cookies,
    );
    Ok(([(header::SET_COOKIE, c)], Redirect::to(&back)).into_response())
}
