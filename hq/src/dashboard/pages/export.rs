//! Exports of the records page's current filter: CSV (UTF-8 with a BOM so Excel shows
//! Vietnamese, one row per record) and the media as a ZIP (stored: photos and finger images are
//! already compressed). Both stream page by page from a blocking thread through a bounded
//! channel, so a million rows never sit in memory; each export is written to the audit log.

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::io::Write;
use std::sync::Arc;
use tokio::sync::mpsc;

use super::records::{cell, Filter, COLUMNS, MESSAGES};
use crate::dashboard::auth::blocking;
use crate::dashboard::{i18n, Dash, DashError, Viewer};
use crate::storage::{Page, RecordRow};
use crate::Hq;

pub fn routes() -> Router<Arc<Dash>> {
    Router::new()
        .route("/records/export.csv", get(csv))
        .route("/records/media.zip", get(media))
}

/// Rows read per query while exporting.
const EXPORT_PAGE: u32 = 1000;
/// Bytes gathered before a chunk goes to the client.
const CHUNK: usize = 64 * 1024;
/// Chunks in flight: the producer waits when the client reads slowly.
const CHUNKS_IN_FLIGHT: usize = 4;

/// A `Write` that sends full chunks down the channel; fails once the client is gone.
pub struct ChannelWriter {
    tx: mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    pub fn new(tx: mpsc::Sender<Bytes>) -> Self {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// A response body fed by a producer on a blocking thread.
fn streamed(
    content_type: &'static str,
    filename: &str,
    produce: impl FnOnce(ChannelWriter) + Send + 'static,
) -> Response {
    let (tx, rx) = mpsc::channel::<Bytes>(CHUNKS_IN_FLIGHT);
    tokio::task::spawn_blocking(move || produce(ChannelWriter::new(tx)));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    });
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Each page of records matching the filter, oldest first, until `f` says stop.
fn each_page(
    hq: &Hq,
    q: &crate::storage::RecordQuery,
    mut f: impl FnMut(&[RecordRow]) -> std::io::Result<()>,
) -> Result<(), String> {
    let mut after = None;
    loop {
        let page = Page {
            after,
            limit: EXPORT_PAGE,
            newest_first: false,
        };
        let rows = hq.list_records(q, &page).map_err(|e| e.to_string())?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = Some(last.id);
        f(&rows).map_err(|e| e.to_string())?;
        if rows.len() < EXPORT_PAGE as usize {
            return Ok(());
        }
    }
}

/// One CSV field: quoted when needed; a leading formula character is neutralised so a
/// spreadsheet never runs a cell as a formula.
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

async fn audit_export(
    dash: &Arc<Dash>,
    v: &Viewer,
    action: &'static str,
    detail: String,
) -> Result<(), DashError> {
    let hq = dash.hq.clone();
    let user = v.user_id.clone();
    blocking(move || {
        hq.session()?
            .audit(&[hq.audit_entry(&user, action, "records", &detail)])?;
        Ok(())
    })
    .await
}

async fn csv(
    State(dash): State<Arc<Dash>>,
    v: Viewer,
    Query(f): Query<Filter>,
) -> Result<Response, DashError> {
    let (q, _) = f.query(&v);
    audit_export(&dash, &v, "records.export_csv", f.query_string()).await?;
    let hq = dash.hq.clone();
    let lang = v.lang;
    let stamp = hq.now().format("%Y%m%d-%H%M");
    Ok(streamed(
        "text/csv; charset=utf-8",
        &format!("ho-so-{stamp}.csv"),
        move |mut w| {
            let mut header = vec!["id".to_owned()];
            header.extend(
                COLUMNS
                    .iter()
                    .map(|(_, m)| i18n::lookup(&[MESSAGES], lang, m).to_owned()),
            );
            header.push(lang.pick("Lý do HQ", "HQ reason").to_owned());
            let head = header
                .iter()
                .map(|h| csv_field(h))
                .collect::<Vec<_>>()
                .join(",");
            if write!(w, "\u{feff}{head}\r\n").is_err() {
                return;
            }
            let result = each_page(&hq, &q, |rows| {
                for r in rows {
                    let mut line = vec![r.id.to_string()];
                    line.extend(COLUMNS.iter().map(|(k, _)| cell(r, k, lang)));
                    line.push(r.p.hq_reason.clone().unwrap_or_default());
                    let line = line
                        .iter()
                        .map(|x| csv_field(x))
                        .collect::<Vec<_>>()
                        .join(",");
                    write!(w, "{line}\r\n")?;
                }
                Ok(())
            });
            if let Err(e) = result {
                // The client sees a cut-off file; the reason goes to the server log.
                eprintln!("dashboard: CSV export stopped: {e}");
            }
            let _ = w.flush();
        },
    ))
}

/// A file name extension from the first bytes (JPEG, PNG, or plain data).
fn extension(b: &[u8]) -> &'static str {
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "jpg"
    } else if b.starts_with(b"\x89PNG") {
        "png"
    } else {
        "bin"
    }
}

async fn media(
    State(dash): State<Arc<Dash>>,
    v: Viewer,
    Query(f): Query<Filter>,
) -> Result<Response, DashError> {
    let (q, _) = f.query(&v);
    audit_export(&dash, &v, "records.export_media", f.query_string()).await?;
    let hq = dash.hq.clone();
    let stamp = hq.now().format("%Y%m%d-%H%M");
    Ok(streamed(
        "application/zip",
        &format!("anh-{stamp}.zip"),
        move |w| {
            let mut zip = zip::ZipWriter::new_stream(w);
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored);
            let result = each_page(&hq, &q, |rows| {
                let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.id).collect();
                let states = hq
                    .session()
                    .and_then(|mut s| Ok(s.record_states(&ids)?))
                    .map_err(std::io::Error::other)?;
                for st in states {
                    let no = rows
                        .iter()
                        .find(|r| r.id == st.id)
                        .map_or(st.id.to_string(), |r| r.p.enrollment_no.clone());
                    for sha in &st.blobs {
                        let Some(bytes) = hq.blobs().get(sha).map_err(std::io::Error::other)?
                        else {
                            continue;
                        };
                        let name = format!("{no}/{}.{}", hex::encode(sha), extension(&bytes));
                        zip.start_file(name, opts).map_err(std::io::Error::other)?;
                        zip.write_all(&bytes)?;
                    }
                }
                Ok(())
            });
            if let Err(e) = result {
                eprintln!("dashboard: media export stopped: {e}");
                return;
            }
            match zip.finish() {
                Ok(mut w) => {
                    let _ = w.flush();
                }
                Err(e) => eprintln!("dashboard: media export stopped: {e}"),
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("NGUYỄN VĂN A"), "NGUYỄN VĂN A");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=1+1"), "'=1+1");
    }
}
