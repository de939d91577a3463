//! HQ's HTTP endpoint: `POST /v1/sync` takes a sealed kiosk stream (hello or push) and answers
//! with a sealed reply. Frames are applied as they arrive, so a cut session keeps whole frames.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use http_body_util::BodyExt;
use std::sync::{Arc, Mutex};

use super::{Hq, HqError, HqStorage, Intake};

type Shared<S> = Arc<Mutex<Hq<S>>>;

/// Serves HQ on `listener` until the process ends.
pub fn serve<S: HqStorage + 'static>(
    listener: std::net::TcpListener,
    hq: Hq<S>,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let app = Router::new()
            .route("/v1/sync", post(sync::<S>))
            .layer(DefaultBodyLimit::disable())
            .with_state(Arc::new(Mutex::new(hq)));
        axum::serve(listener, app).await
    })
}

fn refused(e: HqError) -> Response {
    let status = match &e {
        HqError::Refused(r) if r.code.ends_with("kiosk") || r.code == "bad_signature" => {
            StatusCode::FORBIDDEN
        }
        HqError::Refused(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, e.to_string()).into_response()
}

async fn sync<S: HqStorage + 'static>(State(hq): State<Shared<S>>, body: Body) -> Response {
    let mut opener = match hq.lock() {
        Ok(h) => h.opener(),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let mut intake = Intake::default();
    let mut body = body;
    while let Some(next) = body.frame().await {
        let Ok(frame) = next else {
            // The connection broke: whole frames already applied stay applied.
            return StatusCode::BAD_REQUEST.into_response();
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        opener.feed(&data);
        let result = tokio::task::block_in_place(|| -> Result<(), HqError> {
            while let Some((plain, _)) = opener.next_frame()? {
                let header = opener.stream_header().unwrap_or_default().to_vec();
                let mut hq = hq.lock().map_err(|_| {
                    HqError::Refused(super::refusal("internal", "lỗi nội bộ", "internal error"))
                })?;
                hq.intake_frame(&mut intake, &header, &plain)?;
            }
            Ok(())
        });
        if let Err(e) = result {
            return refused(e);
        }
    }
    let result = tokio::task::block_in_place(|| -> Result<Vec<u8>, HqError> {
        let mut hq = hq.lock().map_err(|_| {
            HqError::Refused(super::refusal("internal", "lỗi nội bộ", "internal error"))
        })?;
        let (reply, _) = hq.reply(&intake)?;
        hq.seal_reply(&intake, &reply)
    });
    match result {
        Ok(bytes) => (StatusCode::OK, bytes).into_response(),
        Err(e) => refused(e),
    }
}
