//! HQ's HTTP endpoint: `POST /v1/sync` takes a sealed kiosk stream (hello or push) and answers
//! with a sealed reply. The body streams through a bounded channel into the session's own
//! blocking thread, which owns its connection: frames are applied as they arrive, sessions
//! never wait for each other, and a panic ends only the session it happened in.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use http_body_util::BodyExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

use crate::ahead::Chunk;
use crate::conn::{ConnLimits, Guarded};
use crate::dashboard::DashConfig;
use crate::{limits, Hq, HqError};

/// Body chunks in flight per session: enough to keep the session busy, little memory.
const CHUNKS_IN_FLIGHT: usize = 8;

/// Serves HQ on `listener` until the process ends.
pub fn serve(listener: std::net::TcpListener, hq: Hq) -> std::io::Result<()> {
    serve_shared(listener, Arc::new(hq))
}

/// Serves an `Hq` that the caller also keeps (tests, benches).
pub fn serve_shared(listener: std::net::TcpListener, hq: Arc<Hq>) -> std::io::Result<()> {
    serve_with(listener, hq, DashConfig::default(), ConnLimits::default())
}

/// Serves sync and the dashboard with these dashboard settings, connection caps and idle timeout.
pub fn serve_with(
    listener: std::net::TcpListener,
    hq: Arc<Hq>,
    dash: DashConfig,
    conn: ConnLimits,
) -> std::io::Result<()> {
    serve_tls(listener, hq, dash, conn, None)
}

/// As [`serve_with`], serving HTTPS with `tls` when given (see `crate::tls`).
pub fn serve_tls(
    listener: std::net::TcpListener,
    hq: Arc<Hq>,
    dash: DashConfig,
    conn: ConnLimits,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .enable_time()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let guarded = match tls {
            Some(config) => Guarded::with_tls(listener, conn, config),
            None => Guarded::new(listener, conn),
        };
        axum::serve(guarded, router_with(hq, dash)).await
    })
}

pub fn router(hq: Arc<Hq>) -> Router {
    router_with(hq, DashConfig::default())
}

pub fn router_with(hq: Arc<Hq>, dash: DashConfig) -> Router {
    Router::new()
        .route("/v1/sync", post(sync))
        .layer(DefaultBodyLimit::disable())
        .with_state(hq.clone())
        .merge(crate::dashboard::routes_with(hq, dash))
}

/// A short, fixed answer naming the rule; what the peer sent is never echoed.
fn refused(e: HqError) -> Response {
    let (status, code) = match &e {
        HqError::Refused(r) if r.code.ends_with("kiosk") || r.code == "bad_signature" => {
            (StatusCode::FORBIDDEN, r.code)
        }
        HqError::Refused(r) if r.code == "too_large" => (StatusCode::PAYLOAD_TOO_LARGE, r.code),
        HqError::Refused(r) => (StatusCode::BAD_REQUEST, r.code),
        // The kiosk keeps everything and tries again later; the text names HQ's own store, not input.
        HqError::Blob(crate::BlobError::Store { .. }) => {
            return (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()
        }
        _ => {
            eprintln!("enroll-hq: session failed: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    };
    (status, limits::body(code)).into_response()
}

async fn sync(State(hq): State<Arc<Hq>>, body: Body) -> Response {
    let (mut received, most) = (0u64, hq.limits().request_bytes);
    let (tx, rx) = mpsc::channel::<Chunk>(CHUNKS_IN_FLIGHT);
    let worker = tokio::task::spawn_blocking(move || session(&hq, rx));
    let mut body = body;
    while let Some(next) = body.frame().await {
        let chunk = match next {
            Ok(frame) => match frame.into_data() {
                Ok(data) => Ok(data),
                Err(_) => continue,
            },
            Err(_) => Err(()),
        };
        received += chunk.as_ref().map_or(0, |d| d.len() as u64);
        if received > most {
            let _ = tx.send(Err(())).await;
            return refused(limits::refused("too_large"));
        }
        let broken = chunk.is_err();
        // The session stopped reading (it refused the stream): its answer says why.
        if tx.send(chunk).await.is_err() || broken {
            break;
        }
    }
    drop(tx);
    match worker.await {
        Ok(Ok(bytes)) => (StatusCode::OK, bytes).into_response(),
        Ok(Err(e)) => refused(e),
        // A panic inside the session: only this session fails.
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, limits::body("internal")).into_response(),
    }
}

/// One stream on its own session, on a blocking thread; logged when it ends.
fn session(hq: &Arc<Hq>, rx: mpsc::Receiver<Chunk>) -> Result<Vec<u8>, HqError> {
    let started = (hq.now(), std::time::Instant::now());
    let mut intake = hq.intake()?;
    let bytes = Arc::new(AtomicU64::new(0));
    let answer = crate::ahead::read_stream(hq, &mut intake, rx, &bytes);
    let bytes = bytes.load(Ordering::Relaxed);
    hq.log_session(&mut intake, started, bytes, answer.as_ref());
    hq.seal_reply(&intake, &answer?.0)
}
