//! The kiosk's side of sync with HQ: provisioning, network sessions, USB bundles, receipts.
//!
//! A session is at most two round trips: a hello (unacknowledged records' heads, the blobs they
//! use, the HQ cursor) answered with what HQ already holds and HQ's own changes; then, if
//! anything is left, one push streaming blobs and signed changes, answered with a receipt.

mod frames;
mod provision;

pub use frames::{FrameSource, PushPlan};
pub use provision::{enrolment_request, provision, Provisioned};

use automerge::ChangeHash;
use chrono::Utc;
use enroll_sync::client::{self, HttpError, Traffic};
use enroll_sync::identity::{DeviceKey, IdentityError};
use enroll_sync::protocol::{
    Frame, Header, Hello, Receipt, Reply, ReplyError, StreamKind, Telemetry,
};

/// Where the kiosk keeps the audit checkpoint HQ last acknowledged (`count:hexhead`).
const AUDIT_ACKED: &str = "audit_acked";
use enroll_sync::record::Attribution;
use enroll_sync::seal::{self, SealError, Sealer};
use std::collections::HashMap;
use std::path::Path;
use uuid::Uuid;

use crate::store::{Store, StoreError};

pub const CURSOR_PEER: &str = "hq";

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("ki-ốt chưa được cấp cấu hình HQ; chạy `kiosk provision FILE` / this kiosk is not provisioned; run `kiosk provision FILE`")]
    NotProvisioned,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("không kết nối được HQ / cannot talk to HQ: {0}")]
    Http(#[from] HttpError),
    #[error("HQ từ chối / HQ refused (HTTP {status}): {message}")]
    Refused { status: u16, message: String },
    #[error("dữ liệu từ HQ bị hỏng / HQ's answer is damaged: {0}")]
    Seal(#[from] SealError),
    #[error("biên nhận không hợp lệ / the receipt is not valid: {0}")]
    Reply(#[from] ReplyError),
    #[error("biên nhận dành cho ki-ốt {found}, không phải {expected} / the receipt is for kiosk {found}, not {expected}")]
    WrongKiosk { expected: String, found: String },
    #[error("tệp cấu hình dành cho thiết bị khác / the provisioning file was made for another device (key {0})")]
    WrongDevice(String),
    #[error("tệp cấu hình không hợp lệ / the provisioning file is not valid: {0}")]
    BadProvisioning(String),
    #[error(transparent)]
    Unsigned(#[from] enroll_sync::provision::ProvisionError),
    #[error("ki-ốt đang gắn với HQ có dấu khóa {old}; tệp này đổi sang HQ {new}. Chỉ giám sát viên đã đăng nhập mới được đổi HQ / this kiosk belongs to the HQ with key fingerprint {old}; this file changes it to HQ {new}. Only a signed-in supervisor may change HQ")]
    HqChangeNeedsSupervisor { old: String, new: String },
    #[error("câu trả lời của HQ không thuộc yêu cầu vừa gửi (bị phát lại hoặc nhầm); không ghi nhận gì / HQ's answer does not belong to the request just sent (replayed or mixed up); nothing was recorded")]
    NotOurRequest,
    #[error("biên nhận không mở được bằng khóa của ki-ốt này: của ki-ốt khác, hoặc bị hỏng / the receipt does not open with this kiosk's key: it is another kiosk's, or damaged")]
    NotSealedToThisKiosk,
    #[error("biên nhận không dành cho gói dữ liệu nào ki-ốt này đã xuất; không ghi nhận gì / the receipt is not for a bundle this kiosk exported; nothing was recorded")]
    ForeignReceipt,
    #[error("biên nhận này đã được nhập lúc {0}; không ghi nhận lại / this receipt was already imported at {0}; nothing recorded again")]
    ReceiptAlreadyImported(String),
    #[error("biên nhận cho gói dữ liệu cũ hơn gói đã được HQ xác nhận (xuất lúc {newer}); không ghi nhận / the receipt is for a bundle older than one HQ already acknowledged (exported at {newer}); nothing recorded")]
    StaleReceipt { newer: String },
    #[error("không đọc/ghi được / cannot read or write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// What a session did; bytes are as counted on the socket.
#[derive(Debug, Default, Clone)]
pub struct SyncReport {
    pub round_trips: u32,
    pub traffic: Traffic,
    /// Change and blob bytes carried (before framing, compression and sealing).
    pub payload: u64,
    pub records_sent: usize,
    pub acknowledged: usize,
    pub rejected: Vec<String>,
    pub merged_from_hq: usize,
    /// HQ's changes refused here (not signed by HQ's key, or writing what HQ may not).
    pub refused_from_hq: Vec<String>,
}

/// Progress of a push, for the progress line.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub records_done: usize,
    pub records_total: usize,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

pub fn device_key(data_dir: &Path) -> Result<DeviceKey, SyncError> {
    Ok(crate::store::vault::device_key(data_dir)?)
}

fn hq_attribution(receipt: &Receipt) -> Attribution {
    Attribution {
        person: format!("hq:{}", receipt.id),
        device: "HQ".into(),
        at: Utc::now(),
    }
}

/// Opens HQ's sealed reply and checks HQ's signature and that it is meant for this kiosk.
/// Whether it answers a particular request is checked by [`answering`].
pub fn open_reply(
    key: &DeviceKey,
    prov: &Provisioned,
    bytes: &[u8],
) -> Result<(Reply, Receipt), SyncError> {
    let frames = seal::open_all(&key.seal_secret(), bytes)?;
    let first = frames.first().ok_or(SealError::Truncated)?;
    let reply = Reply::decode(first).map_err(ReplyError::from)?;
    let receipt = reply.verified_receipt(&prov.hq_sign)?;
    if receipt.kiosk_id != prov.kiosk_id {
        return Err(SyncError::WrongKiosk {
            expected: prov.kiosk_id.clone(),
            found: receipt.kiosk_id,
        });
    }
    Ok((reply, receipt))
}

/// Opens HQ's reply to the stream `stream_id` of `kind` this kiosk just sent: an old reply
/// replayed, or one for another request, is refused before anything is acted on.
pub fn answering(
    key: &DeviceKey,
    prov: &Provisioned,
    bytes: &[u8],
    stream_id: &[u8; 16],
    kind: StreamKind,
) -> Result<Receipt, SyncError> {
    let (_, receipt) = open_reply(key, prov, bytes)?;
    if !receipt.answers(stream_id, kind) {
        return Err(SyncError::NotOurRequest);
    }
    Ok(receipt)
}

/// The audit count HQ last acknowledged, 0 when none.
fn audit_acked(store: &Store) -> Result<u64, SyncError> {
    Ok(store
        .sync_setting(AUDIT_ACKED)?
        .and_then(|v| v.split(':').next()?.parse().ok())
        .unwrap_or(0))
}

/// Applies a verified receipt: HQ's changes merged, acknowledgements recorded, cursor moved.
/// Returns (records acknowledged, records changed by HQ, HQ changes refused). Replaying a
/// receipt changes nothing.
///
/// A change HQ sends is merged only if HQ's key (`hq_sign`) signed it and it writes only
/// what HQ may write (`enroll_sync::record::authority`); otherwise that record's changes
/// from this receipt are refused, audited and left out.
pub fn apply_receipt(
    store: &mut Store,
    receipt: &Receipt,
    hq_sign: &[u8; 32],
) -> Result<(usize, usize, Vec<String>), SyncError> {
    let by = hq_attribution(receipt);
    let hq = enroll_sync::identity::PublicKey::from_bytes(hq_sign)?;
    let mut merged = 0;
    let mut refused = Vec::new();
    // HQ's own changes are merged; only `acks` says what HQ holds whole (blobs included).
    for d in &receipt.downlink {
        let check = |i: usize, doc: &automerge::AutoCommit, c: &automerge::Change| {
            hq_may_write(&hq, d, i, doc, c)
        };
        match store.merge_remote(&d.record, &d.changes, &by, &check)? {
            Ok(true) => merged += 1,
            Ok(false) => {}
            Err(why) => {
                store.audit(
                    &by,
                    "sync.refuse_hq_change",
                    Some(&d.record.to_string()),
                    Some(&why),
                )?;
                refused.push(format!("{}: {why}", d.record));
            }
        }
    }
    // One transaction for all of them: a receipt can acknowledge thousands of records.
    let acked = store.mark_acknowledged_many(&receipt.acks, &receipt.id, by.at)?;
    let current = cursor(store)?;
    if receipt.cursor > current {
        store.set_cursor(CURSOR_PEER, &receipt.cursor.to_be_bytes(), by.at)?;
    }
    if let Some((count, head)) = receipt.audit {
        store.set_sync_setting(AUDIT_ACKED, &format!("{count}:{}", hex::encode(head)))?;
    }
    store.audit(
        &by,
        "sync.receipt",
        Some(&receipt.id),
        Some(&format!(
            "{} acks, {} refused, {} from HQ",
            receipt.acks.len(),
            receipt.rejections.len(),
            receipt.downlink.len()
        )),
    )?;
    Ok((acked, merged, refused))
}

/// One change HQ sent down for `d.record`: signed by HQ's key, writing HQ's paths only.
fn hq_may_write(
    hq: &enroll_sync::identity::PublicKey,
    d: &enroll_sync::protocol::Downlink,
    i: usize,
    doc: &automerge::AutoCommit,
    c: &automerge::Change,
) -> Result<(), String> {
    use enroll_sync::record::authority;
    let signed = d.signatures.get(i).is_some_and(|s| {
        enroll_sync::protocol::SignedChange {
            record: d.record,
            signature: *s,
            bytes: Vec::new(),
            endorsement: None,
        }
        .verify_by(hq, &c.hash())
    });
    if !signed {
        return Err(format!(
            "[hq_signature] thay đổi {} không có chữ ký của khóa HQ / change {} is not signed by HQ's key",
            c.hash(),
            c.hash()
        ));
    }
    let writes = authority::writes(doc, c, false).map_err(|e| e.to_string())?;
    authority::check_hq_change(&writes).map_err(|v| {
        format!(
            "[write_authority] thay đổi của HQ {}: {} / HQ's change {}: {}",
            c.hash(),
            v.message_vi(),
            c.hash(),
            v.message_en()
        )
    })
}

pub fn cursor(store: &Store) -> Result<u64, SyncError> {
    Ok(store
        .cursor(CURSOR_PEER)?
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map_or(0, u64::from_be_bytes))
}

fn post(
    url: &str,
    pin: Option<[u8; 32]>,
    body: &mut dyn std::io::Read,
    report: &mut SyncReport,
) -> Result<Vec<u8>, SyncError> {
    let options = client::Options {
        pin,
        ..client::Options::default()
    };
    let (status, bytes) = client::post_with(url, "/v1/sync", body, &mut report.traffic, &options)?;
    report.round_trips += 1;
    if status != 200 {
        return Err(SyncError::Refused {
            status,
            message: String::from_utf8_lossy(&bytes).into_owned(),
        });
    }
    Ok(bytes)
}

/// One sync session with HQ at `url`.
pub fn sync(
    store: &mut Store,
    key: &DeviceKey,
    prov: &Provisioned,
    url: &str,
    progress: &mut dyn FnMut(Progress),
) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    let pin = prov.hq_tls_pin;
    let pending = store.pending_sync()?;
    let mut blobs: Vec<String> = pending.iter().flat_map(|p| p.blobs.clone()).collect();
    blobs.sort();
    blobs.dedup();
    let hello = Hello {
        cursor: cursor(store)?,
        records: pending
            .iter()
            .map(|p| (p.id, enroll_sync::protocol::heads_digest(&p.heads)))
            .collect(),
        blobs: blobs
            .iter()
            .filter_map(|b| enroll_sync::protocol::sha_from_hex(b))
            .collect(),
        telemetry: Some(telemetry(store)?),
        audit: Some(store.audit_proof(audit_acked(store)?, key, Utc::now())?),
    };
    let (body, stream_id) = single_stream(key, prov, StreamKind::Hello, Frame::Hello(hello))?;
    let answer = post(url, pin, &mut body.as_slice(), &mut report)?;
    let receipt = answering(key, prov, &answer, &stream_id, StreamKind::Hello)?;
    let (acked, merged, refused) = apply_receipt(store, &receipt, &prov.hq_sign)?;
    report.acknowledged += acked;
    report.merged_from_hq += merged;
    report.refused_from_hq.extend(refused);
    // Left out of the push: records HQ now holds whole exactly as they stand here.
    let acked_now: HashMap<Uuid, Vec<ChangeHash>> = receipt.acks.iter().cloned().collect();
    let mut settled = std::collections::HashSet::new();
    for p in &pending {
        let Some(a) = acked_now.get(&p.id) else {
            continue;
        };
        if store
            .heads(&p.id)?
            .is_some_and(|current| same_heads(a, &current))
        {
            settled.insert(p.id);
        }
    }
    let hq_heads: HashMap<Uuid, Vec<ChangeHash>> = receipt.hq_heads.iter().cloned().collect();
    // Heads HQ said it holds this session (its own changes included), per record.
    let mut hq_holds = hq_heads.clone();
    for d in &receipt.downlink {
        hq_holds.entry(d.record).or_default().extend(&d.heads);
    }
    let lacking: HashMap<String, u64> = receipt
        .blobs_have
        .iter()
        .map(|(h, n)| (hex::encode(h), *n))
        .collect();
    let plan = PushPlan {
        blobs: blobs
            .into_iter()
            .filter_map(|b| lacking.get(&b).map(|n| (b.clone(), *n)))
            .collect(),
        records: pending
            .iter()
            .filter(|p| !settled.contains(&p.id))
            .map(|p| (p.id, hq_heads.get(&p.id).cloned().unwrap_or_default()))
            .collect(),
        hello: None,
    };
    if plan.records.is_empty() && plan.blobs.is_empty() {
        return Ok(report);
    }
    let mut source =
        FrameSource::<&mut dyn FnMut(Progress)>::new(store, key, prov, StreamKind::Push, plan)?;
    source.progress = Some(progress);
    let push_id = source.stream_id;
    let answer = post(url, pin, &mut source, &mut report)?;
    report.payload += source.payload;
    report.records_sent += source.records_sent;
    if let Some(e) = source.error.take() {
        return Err(e);
    }
    drop(source);
    let receipt = answering(key, prov, &answer, &push_id, StreamKind::Push)?;
    let (acked, _, refused) = apply_receipt(store, &receipt, &prov.hq_sign)?;
    report.refused_from_hq.extend(refused);
    report.acknowledged += acked;
    // HQ holds what it acknowledged plus its own heads: if that covers a record's current
    // heads (a kiosk edit merged with an HQ change), the record is acknowledged as it stands.
    for (id, heads) in &receipt.acks {
        let Some(current) = store.heads(id)? else {
            continue;
        };
        let held = hq_holds.get(id);
        if current != *heads
            && current
                .iter()
                .all(|h| heads.contains(h) || held.is_some_and(|x| x.contains(h)))
        {
            store.mark_acknowledged(id, &current, &receipt.id, Utc::now())?;
        }
    }
    report.rejected = receipt
        .rejections
        .iter()
        .map(|r| {
            format!(
                "{} [{}] {} / {}",
                r.record, r.code, r.message_vi, r.message_en
            )
        })
        .collect();
    Ok(report)
}

/// The kiosk's report on itself for HQ's fleet view.
fn telemetry(store: &Store) -> Result<Telemetry, SyncError> {
    let ms = |t: Option<String>| {
        t.and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
            .map_or(0, |t| t.timestamp_millis().max(0) as u64)
    };
    let (waiting, oldest, last_capture) = store.waiting_summary()?;
    let dir = store.path().parent().unwrap_or(Path::new("."));
    Ok(Telemetry {
        software_version: env!("CARGO_PKG_VERSION").to_owned(),
        // Unknown free space is reported as none rather than failing the sync.
        free_bytes: crate::guards::free_bytes(dir).unwrap_or(0),
        records_waiting: waiting,
        oldest_waiting_ms: ms(oldest),
        last_capture_ms: ms(last_capture),
        clock_ms: Utc::now().timestamp_millis().max(0) as u64,
    })
}

fn same_heads(a: &[ChangeHash], b: &[ChangeHash]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}

/// A three-frame stream, and the stream id its signed header carries.
fn single_stream(
    key: &DeviceKey,
    prov: &Provisioned,
    kind: StreamKind,
    frame: Frame,
) -> Result<(Vec<u8>, [u8; 16]), SyncError> {
    let mut s = Sealer::new(&prov.hq_seal)?;
    let mut out = s.header().to_vec();
    let header = Header::new(kind, &prov.kiosk_id, key, s.header());
    let stream_id = header.stream_id;
    out.extend(s.frame(&Frame::Header(header).encode(), false));
    out.extend(s.frame(&frame.encode(), false));
    out.extend(s.frame(&Frame::End { frames: 2 }.encode(), true));
    Ok((out, stream_id))
}

/// Writes one sealed, signed bundle of everything HQ has not acknowledged (atomically: a
/// temporary file renamed into place). Returns (records, bytes written).
pub fn export(
    store: &Store,
    key: &DeviceKey,
    prov: &Provisioned,
    out: &Path,
) -> Result<(usize, u64), SyncError> {
    export_with_progress(store, key, prov, out, &mut |_| {})
}

/// As [`export`], reporting progress as the bundle is written (the kiosk screen's bar).
pub fn export_with_progress(
    store: &Store,
    key: &DeviceKey,
    prov: &Provisioned,
    out: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<(usize, u64), SyncError> {
    let pending = store.pending_sync()?;
    let mut blobs: Vec<String> = pending.iter().flat_map(|p| p.blobs.clone()).collect();
    blobs.sort();
    blobs.dedup();
    let plan = PushPlan {
        blobs: blobs.into_iter().map(|b| (b, 0)).collect(),
        records: pending
            .iter()
            .map(|p| {
                let have = store
                    .acknowledgement(&p.id)
                    .ok()
                    .flatten()
                    .map(|a| a.heads)
                    .unwrap_or_default();
                (p.id, have)
            })
            .collect(),
        hello: Some(Hello {
            cursor: cursor(store)?,
            ..Hello::default()
        }),
    };
    let io = |source| SyncError::Io {
        path: out.display().to_string(),
        source,
    };
    let tmp = out.with_extension("partial");
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    let mut source =
        FrameSource::<&mut dyn FnMut(Progress)>::new(store, key, prov, StreamKind::Bundle, plan)?;
    source.progress = Some(progress);
    let stream_id = source.stream_id;
    let written = std::io::copy(&mut source, &mut file).map_err(io)?;
    if let Some(e) = source.error.take() {
        return Err(e);
    }
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, out).map_err(io)?;
    // Remembered so that only this bundle's receipt is taken for it, once.
    store.record_bundle(&stream_id, Utc::now())?;
    Ok((pending.len(), written))
}

/// Imports HQ's receipt file for a bundle, for a signed-in supervisor: it must be signed by
/// this kiosk's HQ, answer a bundle this kiosk wrote, and be neither imported already nor older
/// than a bundle whose receipt was imported.
pub fn import_receipt(
    store: &mut Store,
    key: &DeviceKey,
    prov: &Provisioned,
    supervisor: &crate::accounts::Session,
    file: &Path,
) -> Result<(Receipt, usize, usize), SyncError> {
    let bytes = std::fs::read(file).map_err(|source| SyncError::Io {
        path: file.display().to_string(),
        source,
    })?;
    let (_, receipt) = match open_reply(key, prov, &bytes) {
        Err(SyncError::Seal(SealError::Damaged(0) | SealError::NotSealed)) => {
            return Err(SyncError::NotSealedToThisKiosk)
        }
        other => other?,
    };
    if receipt.kind != StreamKind::Bundle as u8 {
        return Err(SyncError::ForeignReceipt);
    }
    let Some(bundle) = store.bundle(&receipt.stream_id)? else {
        return Err(SyncError::ForeignReceipt);
    };
    if let Some(at) = bundle.imported_at {
        return Err(SyncError::ReceiptAlreadyImported(at));
    }
    if let Some(newer) = store.newest_receipted_bundle()? {
        if newer.seq > bundle.seq {
            return Err(SyncError::StaleReceipt {
                newer: newer.exported_at,
            });
        }
    }
    let (acked, merged, _refused) = apply_receipt(store, &receipt, &prov.hq_sign)?;
    let now = Utc::now();
    store.bundle_receipted(&receipt.stream_id, &receipt.id, now)?;
    let by = Attribution {
        person: supervisor.person.clone(),
        device: store.kiosk().code.clone(),
        at: now,
    };
    store.audit(&by, "sync.import_receipt", Some(&receipt.id), None)?;
    Ok((receipt, acked, merged))
}
