//! What HQ accepts from a peer, bounded: sizes and counts in each frame and stream, blobs only
//! when a record of the sending kiosk refers to them, per-kiosk quotas, and the fixed texts of
//! refusals (a refusal never echoes what the peer sent). Called from intake and the server.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use enroll_sync::limits as chunk;
use enroll_sync::protocol::{BlobChunk, Frame, Hello, RecordChanges, BLOB_CHUNK};
use uuid::Uuid;

use crate::storage::Session;
use crate::{Hq, HqError, Refusal};

/// Caps on one stream and quotas per kiosk; the defaults are far above an honest kiosk's
/// 10,000 records × 0.5 MB in one sync.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The first frame (the signed header), plaintext bytes, checked before inflating.
    pub first_frame: usize,
    /// Any later frame, plaintext bytes.
    pub frame: usize,
    pub kiosk_id_len: usize,
    pub hello_records: usize,
    pub hello_blobs: usize,
    pub frames_per_stream: u64,
    pub records_per_stream: u64,
    pub records_per_frame: usize,
    pub changes_per_record: usize,
    /// Operations in one record's changes of one frame (the rows automerge will build).
    pub ops_per_record: u64,
    pub heads_per_record: usize,
    pub blob_total: u64,
    pub media_type_len: usize,
    /// Records received (new or changed) per kiosk per UTC day.
    pub records_per_day: u64,
    /// Blob bytes a kiosk may send, over its life.
    pub blob_bytes_per_kiosk: u64,
    /// One HTTP request body (a whole push), bytes.
    pub request_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            first_frame: 4096,
            frame: enroll_sync::seal::MAX_FRAME,
            kiosk_id_len: 64,
            hello_records: 200_000,
            hello_blobs: 2_000_000,
            frames_per_stream: 2_000_000,
            records_per_stream: 200_000,
            records_per_frame: 20_000,
            changes_per_record: 4096,
            ops_per_record: 1 << 18,
            heads_per_record: 256,
            blob_total: crate::blobs::MAX_BLOB,
            media_type_len: 64,
            records_per_day: 200_000,
            blob_bytes_per_kiosk: 64 << 30,
            request_bytes: 16 << 30,
        }
    }
}

/// What one stream has used so far, against `Limits`.
#[derive(Debug, Default)]
pub struct Tally {
    records: u64,
    /// Blobs that records of this kiosk, applied in this stream, refer to.
    referenced: HashSet<[u8; 32]>,
    unreferenced_noted: bool,
    /// Blob bytes taken and not yet added to the kiosk's stored usage.
    blob_bytes_pending: u64,
    blob_bytes_used: Option<u64>,
}

/// Blob usage is written to storage after this many bytes (and at the end of a stream).
const FLUSH_BLOB_BYTES: u64 = 16 << 20;

fn limit(code: &'static str) -> HqError {
    refused(code)
}

/// A stream-level refusal with the fixed text of `code`.
pub fn refused(code: &'static str) -> HqError {
    let (vi, en) = text(code);
    HqError::Refused(crate::refusal(code, vi, en))
}

/// The fixed vi/en text of each refusal a peer can get over HTTP.
pub fn text(code: &str) -> (&'static str, &'static str) {
    match code {
        "unknown_kiosk" => ("ki-ốt chưa được đăng ký ở HQ", "kiosk not enrolled at HQ"),
        "revoked_kiosk" => ("ki-ốt đã bị thu hồi", "kiosk revoked"),
        "bad_signature" => ("chữ ký không hợp lệ", "signature does not verify"),
        "sealed_stream" => (
            "luồng dữ liệu hỏng hoặc bị cắt",
            "stream damaged or cut short",
        ),
        "malformed" => ("dữ liệu sai định dạng", "malformed data"),
        "protocol" => ("sai trình tự giao thức", "protocol order violated"),
        "broken" => ("kết nối bị ngắt", "the connection broke"),
        "idle" => ("kết nối im lặng quá lâu", "connection idle too long"),
        "busy" => ("quá nhiều kết nối", "too many connections"),
        "too_large" => ("yêu cầu quá lớn", "request too large"),
        "limit_frame" => ("khung dữ liệu quá lớn", "frame too large"),
        "limit_kiosk_id" => ("mã ki-ốt quá dài", "kiosk id too long"),
        "limit_hello" => (
            "lời chào liệt kê quá nhiều mục",
            "hello lists too many items",
        ),
        "limit_frames" => ("luồng có quá nhiều khung", "too many frames in the stream"),
        "limit_records" => (
            "quá nhiều hồ sơ trong luồng/khung",
            "too many records in the stream or frame",
        ),
        "limit_changes" => (
            "hồ sơ có quá nhiều thay đổi",
            "too many changes for one record",
        ),
        "limit_heads" => ("hồ sơ có quá nhiều đầu", "too many heads for one record"),
        "limit_change_chunk" => (
            "thay đổi không phải dạng thô ki-ốt gửi (nén/quá lớn/sai)",
            "change is not a raw change within limits (compressed, too large or malformed)",
        ),
        "limit_blob" => ("khối tệp vượt giới hạn", "blob chunk outside limits"),
        "blob_unreferenced" => (
            "tệp không thuộc hồ sơ nào của ki-ốt này trong luồng; bỏ qua",
            "blob not referenced by a record of this kiosk in this stream; ignored",
        ),
        "quota_records" => ("vượt hạn mức hồ sơ mỗi ngày", "daily record quota exceeded"),
        "quota_blob_bytes" => ("vượt hạn mức dung lượng tệp", "blob storage quota exceeded"),
        "internal" => ("lỗi nội bộ ở HQ", "internal error at HQ"),
        _ => ("bị từ chối", "refused"),
    }
}

/// The HTTP body of a refusal: fixed text and the rule's code, never the peer's input.
pub fn body(code: &str) -> String {
    let (vi, en) = text(code);
    let code = if vi == "bị từ chối" {
        "refused"
    } else {
        code
    };
    format!("{vi} / {en} [{code}]")
}

/// Checks a decoded frame's counts and sizes before anything acts on it.
pub fn check_frame(l: &Limits, t: &mut Tally, frame: &Frame, frames: u64) -> Result<(), HqError> {
    if frames >= l.frames_per_stream {
        return Err(limit("limit_frames"));
    }
    match frame {
        Frame::Header(h) if h.kiosk_id.len() > l.kiosk_id_len => Err(limit("limit_kiosk_id")),
        Frame::Hello(h) => check_hello(l, h),
        Frame::Blob(b) => check_blob(l, b),
        Frame::Changes(groups) => check_changes(l, t, groups),
        _ => Ok(()),
    }
}

fn check_hello(l: &Limits, h: &Hello) -> Result<(), HqError> {
    let long = h
        .telemetry
        .as_ref()
        .is_some_and(|t| t.software_version.len() > 64);
    if h.records.len() > l.hello_records || h.blobs.len() > l.hello_blobs || long {
        return Err(limit("limit_hello"));
    }
    Ok(())
}

fn check_blob(l: &Limits, b: &BlobChunk) -> Result<(), HqError> {
    let end = b.offset.checked_add(b.data.len() as u64);
    if b.total > l.blob_total
        || b.data.len() > BLOB_CHUNK
        || b.media_type.len() > l.media_type_len
        || end.is_none_or(|e| e > b.total)
    {
        return Err(limit("limit_blob"));
    }
    Ok(())
}

fn check_changes(l: &Limits, t: &mut Tally, groups: &[RecordChanges]) -> Result<(), HqError> {
    t.records += groups.len() as u64;
    if groups.len() > l.records_per_frame || t.records > l.records_per_stream {
        return Err(limit("limit_records"));
    }
    for g in groups {
        if g.changes.len() > l.changes_per_record {
            return Err(limit("limit_changes"));
        }
        if g.heads.len() > l.heads_per_record {
            return Err(limit("limit_heads"));
        }
        let mut ops: u64 = 0;
        for c in &g.changes {
            let rows = chunk::raw_change(&c.bytes).map_err(|_| limit("limit_change_chunk"))?;
            ops = ops.saturating_add(rows);
        }
        if ops > l.ops_per_record {
            return Err(limit("limit_changes"));
        }
    }
    Ok(())
}

impl Tally {
    /// Records blobs that applied records of this kiosk refer to.
    pub fn referenced<'a>(&mut self, blobs: impl IntoIterator<Item = &'a [u8; 32]>) {
        self.referenced.extend(blobs);
    }

    /// Whether a blob chunk may be kept; the first unreferenced one is reported once.
    pub fn blob_allowed(&mut self, sha: &[u8; 32]) -> Result<bool, Refusal> {
        if self.referenced.contains(sha) {
            return Ok(true);
        }
        if self.unreferenced_noted {
            return Ok(false);
        }
        self.unreferenced_noted = true;
        let (vi, en) = text("blob_unreferenced");
        Err(crate::refusal("blob_unreferenced", vi, en))
    }
}

fn day_key(kiosk: &str, now: DateTime<Utc>) -> String {
    format!("quota/records/{kiosk}/{}", now.format("%Y-%m-%d"))
}

fn blob_key(kiosk: &str) -> String {
    format!("quota/blob_bytes/{kiosk}")
}

fn read_u64(s: &mut dyn Session, key: &str) -> Result<u64, HqError> {
    Ok(s.meta(key)?
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map_or(0, u64::from_be_bytes))
}

impl Hq {
    /// Counts `n` records received from `kiosk` today; refuses past the daily quota.
    pub(crate) fn quota_records(
        &self,
        s: &mut dyn Session,
        kiosk: &str,
        n: u64,
    ) -> Result<(), HqError> {
        if n == 0 {
            return Ok(());
        }
        let key = day_key(kiosk, self.now());
        let used = read_u64(s, &key)?.saturating_add(n);
        if used > self.limits.records_per_day {
            return Err(limit("quota_records"));
        }
        s.set_meta(&key, &used.to_be_bytes())?;
        Ok(())
    }

    /// Counts `n` more blob bytes from `kiosk`; refuses past its quota. Stored in batches.
    pub(crate) fn quota_blob_bytes(
        &self,
        s: &mut dyn Session,
        t: &mut Tally,
        kiosk: &str,
        n: u64,
        flush: bool,
    ) -> Result<(), HqError> {
        let used = match t.blob_bytes_used {
            Some(u) => u,
            None => read_u64(s, &blob_key(kiosk))?,
        };
        t.blob_bytes_used = Some(used);
        t.blob_bytes_pending = t.blob_bytes_pending.saturating_add(n);
        let total = used.saturating_add(t.blob_bytes_pending);
        if total > self.limits.blob_bytes_per_kiosk {
            return Err(limit("quota_blob_bytes"));
        }
        if (flush || t.blob_bytes_pending >= FLUSH_BLOB_BYTES) && t.blob_bytes_pending > 0 {
            // Re-read: another session of the same kiosk may have added meanwhile.
            let now = read_u64(s, &blob_key(kiosk))?.saturating_add(t.blob_bytes_pending);
            s.set_meta(&blob_key(kiosk), &now.to_be_bytes())?;
            t.blob_bytes_used = Some(now);
            t.blob_bytes_pending = 0;
        }
        Ok(())
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

/// Whether two records came from the same kiosk.
pub(crate) fn same_kiosk(s: &mut dyn Session, a: &Uuid, b: &Uuid) -> Result<bool, HqError> {
    let states = s.record_states(&[*a, *b])?;
    Ok(states.len() == 2 && states[0].kiosk_id == states[1].kiosk_id)
}

/// The reason a kiosk reads on a duplicate: the other record's id only if it is its own.
pub(crate) fn duplicate_reason(other: &Uuid, same_kiosk: bool) -> String {
    if same_kiosk {
        format!("trùng số định danh với hồ sơ / same ID number as record {other}")
    } else {
        "trùng số định danh với hồ sơ của ki-ốt khác / same ID number as a record of another kiosk"
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_bodies_are_short_and_fixed() {
        for code in [
            "unknown_kiosk",
            "limit_change_chunk",
            "blob_unreferenced",
            "quota_blob_bytes",
            "whatever the peer wrote",
        ] {
            let b = body(code);
            assert!(b.len() <= 512, "{b}");
            assert!(!b.contains("whatever"), "{b}");
        }
        assert!(body("unknown_kiosk").contains("[unknown_kiosk]"));
    }
}
