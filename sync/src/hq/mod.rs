//! Headquarters: the kiosk allowlist, intake of signed changes and blobs from sync sessions
//! and USB bundles, deduplication by ID number, HQ status changes sent back to kiosks.

pub mod server;
pub mod sqlite;
pub mod storage;

use automerge::{ActorId, Change, ChangeHash};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use uuid::Uuid;

use crate::identity::{self, DeviceKey, IdentityError};
use crate::protocol::{
    blob_refs, heads_digest, sha_from_hex, BlobChunk, Downlink, Frame, Header, Hello, Receipt,
    RecordChanges, Rejection, Reply, StreamKind,
};
use crate::record::{
    Attribution, Enrollment, HqState, HqStatus, RecordDoc, ReviewAction, ReviewEvent,
};
use crate::seal::{self, SealError, SealSecret};
use crate::wire::WireError;
pub use storage::{HqStorage, KioskEntry, RecordRow, StorageError, StoredRecord};

pub const DB_FILE: &str = "hq.db";
pub const SIGN_KEY_FILE: &str = "hq-sign.key";
pub const SEAL_KEY_FILE: &str = "hq-seal.key";
/// After this many appended change chunks a record's document is rewritten compactly.
const COMPACT_AT: u32 = 32;

/// A stated reason for refusing a whole stream or one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message_vi: String,
    pub message_en: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} / {} [{}]",
            self.message_vi, self.message_en, self.code
        )
    }
}

fn refusal(code: &'static str, vi: impl Into<String>, en: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message_vi: vi.into(),
        message_en: en.into(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HqError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("refused: {0}")]
    Refused(Refusal),
    #[error("no kiosk `{0}` / không có ki-ốt `{0}`")]
    NoSuchKiosk(String),
    #[error("no record `{0}` at HQ / HQ không có hồ sơ `{0}`")]
    NoSuchRecord(String),
    #[error("the key {0} is already enrolled for kiosk {1}")]
    KeyTaken(String, String),
    #[error("stored record {0} cannot be read: {1}")]
    BadStoredRecord(Uuid, String),
}

impl From<SealError> for HqError {
    fn from(e: SealError) -> Self {
        HqError::Refused(refusal(
            "sealed_stream",
            format!("tệp/luồng dữ liệu bị hỏng hoặc bị cắt, không dùng phần nào ({e})"),
            format!("{e}"),
        ))
    }
}

impl From<WireError> for HqError {
    fn from(e: WireError) -> Self {
        HqError::Refused(refusal(
            "malformed",
            format!("dữ liệu sai định dạng ({e})"),
            format!("{e}"),
        ))
    }
}

/// HQ's keys and storage.
pub struct Hq<S: HqStorage> {
    pub storage: S,
    sign: DeviceKey,
    seal: SealSecret,
    actor: ActorId,
}

impl Hq<sqlite::SqliteStorage> {
    /// Opens HQ's data directory, creating keys and database on first use.
    pub fn open(dir: &Path) -> Result<Self, HqError> {
        let io = |source| HqError::Io {
            path: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let sign = DeviceKey::load_or_create(&dir.join(SIGN_KEY_FILE))?;
        // The X25519 key is kept as an Ed25519-format seed file so it gets the same 0600 handling.
        let seal_holder = DeviceKey::load_or_create(&dir.join(SEAL_KEY_FILE))?;
        let storage = sqlite::SqliteStorage::open(&dir.join(DB_FILE))?;
        Hq::new(storage, sign, seal_holder.seal_secret())
    }
}

/// What HQ tells the kiosk it holds; kept per stream until the reply.
#[derive(Default)]
pub struct Intake {
    kiosk: Option<KioskEntry>,
    header: Option<Header>,
    hello: Option<Hello>,
    frames: u64,
    ended: bool,
    applied: Vec<(Uuid, Vec<ChangeHash>, Vec<[u8; 32]>)>,
    rejections: Vec<Rejection>,
}

impl Intake {
    pub fn kiosk(&self) -> Option<&KioskEntry> {
        self.kiosk.as_ref()
    }
    pub fn ended(&self) -> bool {
        self.ended
    }
    pub fn rejections(&self) -> &[Rejection] {
        &self.rejections
    }
}

fn now_ms() -> u64 {
    Utc::now().timestamp_millis().max(0) as u64
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl<S: HqStorage> Hq<S> {
    pub fn new(mut storage: S, sign: DeviceKey, seal: SealSecret) -> Result<Self, HqError> {
        let actor = match storage.meta("actor")? {
            Some(b) => ActorId::from(b),
            None => {
                let a = ActorId::random();
                storage.set_meta("actor", a.to_bytes())?;
                a
            }
        };
        Ok(Hq {
            storage,
            sign,
            seal,
            actor,
        })
    }

    pub fn storage_kiosks(&self) -> Result<Vec<KioskEntry>, HqError> {
        Ok(self.storage.kiosks()?)
    }
    pub fn storage_records(&self) -> Result<Vec<RecordRow>, HqError> {
        Ok(self.storage.records()?)
    }

    pub fn sign_public(&self) -> [u8; 32] {
        self.sign.public()
    }
    pub fn seal_public(&self) -> [u8; 32] {
        self.seal.public()
    }

    /// Adds a kiosk's device key to the allowlist under a new id (or `code`).
    pub fn add_kiosk(
        &mut self,
        name: &str,
        public_hex: &str,
        code: Option<&str>,
    ) -> Result<KioskEntry, HqError> {
        let key = hex::decode(public_hex.trim()).map_err(|_| IdentityError::BadPublicKey)?;
        identity::seal_public(&key)?;
        let public_key = hex::encode(&key);
        let kiosks = self.storage.kiosks()?;
        if let Some(k) = kiosks.iter().find(|k| k.public_key == public_key) {
            return Err(HqError::KeyTaken(public_key, k.id.clone()));
        }
        let id = match code {
            Some(c) => c.to_owned(),
            None => format!("K{:05}", kiosks.len() + 1),
        };
        let entry = KioskEntry {
            id,
            name: name.to_owned(),
            public_key,
            added_at: ts(Utc::now()),
            revoked_at: None,
        };
        self.storage.add_kiosk(&entry)?;
        self.storage
            .audit("hq", "kiosk.add", &entry.id, &entry.public_key)?;
        Ok(entry)
    }

    pub fn revoke_kiosk(&mut self, id: &str) -> Result<(), HqError> {
        if self.storage.kiosk(id)?.is_none() {
            return Err(HqError::NoSuchKiosk(id.to_owned()));
        }
        self.storage.revoke_kiosk(id, &ts(Utc::now()))?;
        self.storage.audit("hq", "kiosk.revoke", id, "")?;
        Ok(())
    }

    pub fn provisioning(&self, kiosk: &KioskEntry, hq_url: &str) -> crate::provision::Provisioning {
        crate::provision::Provisioning {
            format: crate::provision::FORMAT,
            hq_url: hq_url.to_owned(),
            hq_sign_public: hex::encode(self.sign_public()),
            hq_seal_public: hex::encode(self.seal_public()),
            kiosk_id: kiosk.id.clone(),
            kiosk_name: kiosk.name.clone(),
            kiosk_public: kiosk.public_key.clone(),
        }
    }

    /// Takes one decrypted frame of a kiosk's stream. Record changes are applied at once, each
    /// frame in one transaction, so a session cut later keeps what arrived whole.
    pub fn intake_frame(
        &mut self,
        intake: &mut Intake,
        stream_header: &[u8],
        plain: &[u8],
    ) -> Result<(), HqError> {
        let frame = Frame::decode(plain)?;
        if intake.ended {
            return Err(HqError::Refused(refusal(
                "protocol",
                "dữ liệu sau khung kết thúc",
                "data after the end frame",
            )));
        }
        let n = intake.frames;
        intake.frames += 1;
        match (frame, &intake.header) {
            (Frame::Header(h), None) => {
                let kiosk = self.check_kiosk(&h, stream_header)?;
                intake.kiosk = Some(kiosk);
                intake.header = Some(h);
                Ok(())
            }
            (_, None) | (Frame::Header(_), Some(_)) => Err(HqError::Refused(refusal(
                "protocol",
                "luồng không bắt đầu bằng phần đầu đã ký",
                "the stream does not start with one signed header",
            ))),
            (Frame::Hello(h), Some(_)) => {
                intake.hello = Some(h);
                Ok(())
            }
            (Frame::Blob(b), Some(_)) => self.atomically(|hq| hq.take_blob(b)),
            (Frame::Changes(groups), Some(_)) => {
                let kiosk = intake.kiosk.clone().ok_or(HqError::Refused(refusal(
                    "protocol",
                    "không rõ ki-ốt",
                    "no kiosk",
                )))?;
                self.atomically(|hq| {
                    for g in groups {
                        let id = g.record;
                        match hq.apply_group(&kiosk, g)? {
                            Ok((heads, blobs)) => intake.applied.push((id, heads, blobs)),
                            Err(r) => {
                                hq.storage.audit(
                                    &kiosk.id,
                                    "record.reject",
                                    &id.to_string(),
                                    r.code,
                                )?;
                                intake.rejections.push(Rejection {
                                    record: id,
                                    code: r.code.to_owned(),
                                    message_vi: r.message_vi,
                                    message_en: r.message_en,
                                });
                            }
                        }
                    }
                    Ok(())
                })
            }
            (Frame::End { frames }, Some(_)) => {
                if frames != n {
                    return Err(HqError::Refused(refusal(
                        "protocol",
                        "số khung không khớp",
                        "frame count does not match",
                    )));
                }
                intake.ended = true;
                Ok(())
            }
        }
    }

    fn atomically(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<(), HqError>,
    ) -> Result<(), HqError> {
        self.storage.begin()?;
        match f(self) {
            Ok(()) => Ok(self.storage.commit()?),
            Err(e) => {
                self.storage.rollback()?;
                Err(e)
            }
        }
    }

    fn check_kiosk(&mut self, h: &Header, stream_header: &[u8]) -> Result<KioskEntry, HqError> {
        let Some(k) = self.storage.kiosk(&h.kiosk_id)? else {
            return Err(HqError::Refused(refusal(
                "unknown_kiosk",
                format!("ki-ốt `{}` chưa được đăng ký ở HQ", h.kiosk_id),
                format!("kiosk `{}` is not enrolled at HQ", h.kiosk_id),
            )));
        };
        if k.revoked_at.is_some() {
            return Err(HqError::Refused(refusal(
                "revoked_kiosk",
                format!("ki-ốt `{}` đã bị thu hồi; không nhận dữ liệu", k.id),
                format!("kiosk `{}` is revoked; nothing accepted", k.id),
            )));
        }
        let key = hex::decode(&k.public_key).unwrap_or_default();
        if !h.verify(&key, stream_header) {
            return Err(HqError::Refused(refusal(
                "bad_signature",
                format!("chữ ký phiên không hợp lệ cho ki-ốt `{}`", k.id),
                format!("the session signature is not kiosk `{}`'s", k.id),
            )));
        }
        Ok(k)
    }

    fn take_blob(&mut self, b: BlobChunk) -> Result<(), HqError> {
        let (have, complete) = self.storage.blob_have(&b.sha256)?;
        if complete || b.offset > have {
            return Ok(()); // Already whole, or a gap: the next session restarts from `have`.
        }
        let skip = (have - b.offset) as usize;
        if skip >= b.data.len() {
            return Ok(());
        }
        let now = self
            .storage
            .append_blob(&b.sha256, &b.media_type, b.total, &b.data[skip..])?;
        if now >= b.total {
            let data = self.storage.partial_blob(&b.sha256)?.unwrap_or_default();
            if now == b.total && Sha256::digest(&data).as_slice() == b.sha256 {
                self.storage.complete_blob(&b.sha256)?;
            } else {
                self.storage.drop_blob(&b.sha256)?;
            }
        }
        Ok(())
    }

    /// Verifies and applies one record's changes. `Ok(Err(..))` is a stated refusal: nothing
    /// of that record was written.
    #[allow(clippy::type_complexity)]
    fn apply_group(
        &mut self,
        kiosk: &KioskEntry,
        g: RecordChanges,
    ) -> Result<Result<(Vec<ChangeHash>, Vec<[u8; 32]>), Refusal>, HqError> {
        let id = g.record;
        if g.changes.is_empty() {
            return self.confirm_heads(kiosk, &id, &g.heads);
        }
        let key = hex::decode(&kiosk.public_key).unwrap_or_default();
        let mut changes = Vec::with_capacity(g.changes.len());
        let mut chunk = Vec::new();
        for c in &g.changes {
            let Ok(change) = Change::from_bytes(c.bytes.clone()) else {
                return Ok(Err(refusal(
                    "malformed_change",
                    format!("thay đổi của hồ sơ {id} sai định dạng"),
                    format!("a change for record {id} is malformed"),
                )));
            };
            if c.record != id {
                return Ok(Err(refusal(
                    "record_mismatch",
                    format!("thay đổi ký cho hồ sơ {} bị gửi vào hồ sơ {id}", c.record),
                    format!(
                        "a change signed for record {} was sent for record {id}",
                        c.record
                    ),
                )));
            }
            if !c.verify(&key, &change.hash()) {
                return Ok(Err(refusal(
                    "bad_signature",
                    format!("chữ ký thay đổi của hồ sơ {id} không hợp lệ"),
                    format!(
                        "a change for record {id} is not signed by kiosk {}",
                        kiosk.id
                    ),
                )));
            }
            chunk.extend_from_slice(&c.bytes);
            changes.push(change);
        }
        let existing = self.storage.record(&id)?;
        if let Some(e) = &existing {
            if e.kiosk_id != kiosk.id {
                return Ok(Err(refusal(
                    "other_kiosk",
                    format!("hồ sơ {id} thuộc ki-ốt {}", e.kiosk_id),
                    format!("record {id} belongs to kiosk {}", e.kiosk_id),
                )));
            }
        }
        let malformed = |why: String| {
            refusal(
                "malformed_change",
                format!("không đọc được hồ sơ {id} sau thay đổi: {why}"),
                format!("record {id} cannot be read after these changes: {why}"),
            )
        };
        let mut replayed = false;
        let mut doc = match &existing {
            Some(e) => {
                let mut d = RecordDoc::load(&e.doc, self.actor.clone())
                    .map_err(|err| HqError::BadStoredRecord(id, err.to_string()))?;
                // A replay (everything already held) writes nothing.
                replayed = changes
                    .iter()
                    .all(|c| d.automerge().get_change_by_hash(&c.hash()).is_some());
                let applied = if replayed { Ok(()) } else { d.apply(&chunk) };
                if let Err(err) = applied {
                    return Ok(Err(malformed(err.to_string())));
                }
                d
            }
            None => match RecordDoc::load(&chunk, self.actor.clone()) {
                Ok(d) => d,
                Err(err) => return Ok(Err(malformed(err.to_string()))),
            },
        };
        if changes
            .iter()
            .any(|c| doc.automerge().get_change_by_hash(&c.hash()).is_none())
        {
            return Ok(Err(refusal(
                "missing_changes",
                format!("hồ sơ {id}: thiếu các thay đổi trước đó, gửi lại toàn bộ"),
                format!("record {id}: earlier changes are missing; send them first"),
            )));
        }
        let record = match doc.read() {
            Ok(r) => r,
            Err(err) => return Ok(Err(malformed(err.to_string()))),
        };
        if record.id != id {
            return Ok(Err(refusal(
                "record_mismatch",
                format!(
                    "tài liệu mang mã {} nhưng được gửi là hồ sơ {id}",
                    record.id
                ),
                format!(
                    "the document is record {} but was sent as record {id}",
                    record.id
                ),
            )));
        }
        let findings = crate::validate::validate(&record, Utc::now());
        let blocking = crate::validate::blocking(&record, &findings);
        if !blocking.is_empty() {
            let codes: Vec<String> = blocking
                .iter()
                .map(|f| format!("{} ({})", f.path, f.code))
                .collect();
            return Ok(Err(refusal(
                "validation",
                format!("hồ sơ {id} không đạt quy tắc: {}", codes.join(", ")),
                format!("record {id} fails the rules: {}", codes.join(", ")),
            )));
        }
        // The acknowledged heads are the kiosk's: the sent changes no other sent change follows.
        let deps: HashSet<ChangeHash> = changes
            .iter()
            .flat_map(|c| c.deps().iter().copied())
            .collect();
        let acked: Vec<ChangeHash> = changes
            .iter()
            .map(|c| c.hash())
            .filter(|h| !deps.contains(h))
            .collect();
        let mut refs = Vec::new();
        blob_refs(
            &serde_json::to_value(&record).unwrap_or_default(),
            &mut refs,
        );
        let blobs: Vec<[u8; 32]> = refs.iter().filter_map(|s| sha_from_hex(s)).collect();
        if replayed {
            return Ok(Ok((acked, blobs)));
        }
        let (doc_bytes, chunks) = match existing {
            Some(e) if e.chunks + 1 < COMPACT_AT => {
                let mut b = e.doc;
                b.extend_from_slice(&chunk);
                (b, e.chunks + 1)
            }
            Some(_) => (doc.save(), 1),
            None => (chunk, 1),
        };
        let stored = self.project(&record, &kiosk.id, doc_bytes, chunks, doc.heads());
        self.storage.put_record(&stored)?;
        self.storage.audit(
            &kiosk.id,
            "record.apply",
            &id.to_string(),
            &record.enrollment_no,
        )?;
        if let Some(n) = &record.applicant.id_number {
            for other in self.storage.records_with_id_number(n, &id)? {
                self.mark_duplicate(&id, &other)?;
                self.mark_duplicate(&other, &id)?;
            }
        }
        Ok(Ok((acked, blobs)))
    }

    /// A group without changes: acknowledge the kiosk's heads if HQ holds them all.
    #[allow(clippy::type_complexity)]
    fn confirm_heads(
        &mut self,
        kiosk: &KioskEntry,
        id: &Uuid,
        heads: &[ChangeHash],
    ) -> Result<Result<(Vec<ChangeHash>, Vec<[u8; 32]>), Refusal>, HqError> {
        let missing = || {
            refusal(
                "missing_changes",
                format!("hồ sơ {id}: HQ chưa có các thay đổi này"),
                format!("record {id}: HQ does not hold these changes"),
            )
        };
        let Some(rec) = self.storage.record(id)? else {
            return Ok(Err(missing()));
        };
        if rec.kiosk_id != kiosk.id {
            return Ok(Err(missing()));
        }
        let mut doc = RecordDoc::load(&rec.doc, self.actor.clone())
            .map_err(|e| HqError::BadStoredRecord(*id, e.to_string()))?;
        if !heads
            .iter()
            .all(|h| doc.automerge().get_change_by_hash(h).is_some())
        {
            return Ok(Err(missing()));
        }
        let record = doc
            .read()
            .map_err(|e| HqError::BadStoredRecord(*id, e.to_string()))?;
        let mut refs = Vec::new();
        blob_refs(
            &serde_json::to_value(&record).unwrap_or_default(),
            &mut refs,
        );
        let blobs = refs.iter().filter_map(|s| sha_from_hex(s)).collect();
        Ok(Ok((heads.to_vec(), blobs)))
    }

    fn project(
        &self,
        r: &Enrollment,
        kiosk: &str,
        doc: Vec<u8>,
        chunks: u32,
        heads: Vec<ChangeHash>,
    ) -> StoredRecord {
        StoredRecord {
            id: r.id,
            kiosk_id: kiosk.to_owned(),
            doc,
            chunks,
            heads,
            enrollment_no: r.enrollment_no.clone(),
            full_name: crate::text::card_upper(&r.applicant.name.full()),
            id_number: r.applicant.id_number.clone(),
            status: r.review.status.as_str().to_owned(),
            hq_status: r.review.hq.as_ref().map(|h| hq_state_str(h.status)),
            hq_reason: r.review.hq.as_ref().and_then(|h| h.reason.clone()),
            updated_at: ts(Utc::now()),
        }
    }

    fn mark_duplicate(&mut self, id: &Uuid, other: &Uuid) -> Result<(), HqError> {
        let Some(rec) = self.storage.record(id)? else {
            return Ok(());
        };
        let reason = format!("trùng số định danh với hồ sơ / same ID number as record {other}");
        if rec.hq_status.as_deref() == Some("duplicate")
            && rec.hq_reason.as_deref() == Some(reason.as_str())
        {
            return Ok(());
        }
        self.change_status(id, HqState::Duplicate, Some(reason), "hq-dedup")
    }

    /// Sets a record's HQ status as an HQ-made change, queued for the record's kiosk.
    pub fn set_status(
        &mut self,
        id: &Uuid,
        state: HqState,
        reason: Option<String>,
        by: &str,
    ) -> Result<(), HqError> {
        self.atomically(|hq| hq.change_status(id, state, reason, by))
    }

    fn change_status(
        &mut self,
        id: &Uuid,
        state: HqState,
        reason: Option<String>,
        by: &str,
    ) -> Result<(), HqError> {
        let rec = self
            .storage
            .record(id)?
            .ok_or_else(|| HqError::NoSuchRecord(id.to_string()))?;
        let mut doc = RecordDoc::load(&rec.doc, self.actor.clone())
            .map_err(|e| HqError::BadStoredRecord(*id, e.to_string()))?;
        let mut record = doc
            .read()
            .map_err(|e| HqError::BadStoredRecord(*id, e.to_string()))?;
        let at = Utc::now();
        record.review.hq = Some(HqStatus {
            status: state,
            reason: reason.clone(),
            at,
        });
        record.review.history.push(ReviewEvent {
            at,
            by: by.to_owned(),
            device: "HQ".into(),
            action: ReviewAction::HqStatus,
            reason: Some(format!(
                "{}: {}",
                hq_state_str(state),
                reason.unwrap_or_default()
            )),
            // HQ's own change is attributed by its actor and message; kiosk signatures
            // cover approvals and returns only.
            signature: None,
        });
        let by = Attribution {
            person: by.to_owned(),
            device: "HQ".into(),
            at,
        };
        let Some(hash) = doc
            .update(&record, &by)
            .map_err(|e| HqError::BadStoredRecord(*id, e.to_string()))?
        else {
            return Ok(());
        };
        let change = doc
            .automerge()
            .get_change_by_hash(&hash)
            .map(|c| c.raw_bytes().to_vec())
            .unwrap_or_default();
        let mut bytes = rec.doc;
        bytes.extend_from_slice(&change);
        let stored = self.project(&record, &rec.kiosk_id, bytes, rec.chunks + 1, doc.heads());
        self.storage.put_record(&stored)?;
        self.storage.add_outbox(&rec.kiosk_id, id, &change)?;
        self.storage.audit(
            &by.person,
            "record.hq_status",
            &id.to_string(),
            &hq_state_str(state),
        )?;
        Ok(())
    }

    /// HQ's answer once a stream has been read: for a hello, what HQ holds and its changes for
    /// this kiosk; for a push or bundle, what it applied and refused. Sealed to the kiosk.
    pub fn reply(&mut self, intake: &Intake) -> Result<(Reply, Receipt), HqError> {
        let (Some(kiosk), Some(header)) = (&intake.kiosk, &intake.header) else {
            return Err(HqError::Refused(refusal(
                "protocol",
                "luồng trống",
                "empty stream",
            )));
        };
        if !intake.ended {
            return Err(HqError::from(SealError::Truncated));
        }
        let mut receipt = Receipt {
            id: format!("R{}", Uuid::now_v7().simple()),
            kiosk_id: kiosk.id.clone(),
            issued_ms: now_ms(),
            stream_id: header.stream_id,
            rejections: intake.rejections.clone(),
            ..Receipt::default()
        };
        let mut hq_heads = Vec::new();
        let mut blobs_have = Vec::new();
        for (id, heads, blobs) in &intake.applied {
            if self.all_blobs(blobs)? {
                receipt.acks.push((*id, heads.clone()));
            }
        }
        if let Some(hello) = &intake.hello {
            for (id, digest) in &hello.records {
                match self.holds(kiosk, id, digest)? {
                    Holds::All(heads) => receipt.acks.push((*id, heads)),
                    Holds::Some(h) => hq_heads.push((*id, h)),
                    Holds::None => {}
                }
            }
            for b in &hello.blobs {
                let (have, complete) = self.storage.blob_have(b)?;
                if !complete {
                    blobs_have.push((*b, have));
                }
            }
            self.storage.set_cursor(&kiosk.id, hello.cursor)?;
            let mut down: BTreeMap<Uuid, Vec<Vec<u8>>> = BTreeMap::new();
            receipt.cursor = hello.cursor;
            for (seq, id, change) in self.storage.outbox_since(&kiosk.id, hello.cursor)? {
                down.entry(id).or_default().push(change);
                receipt.cursor = receipt.cursor.max(seq);
            }
            for (id, changes) in down {
                let heads = self
                    .storage
                    .record(&id)?
                    .map(|r| r.heads)
                    .unwrap_or_default();
                receipt.downlink.push(Downlink {
                    record: id,
                    heads,
                    changes,
                });
            }
        }
        let mut reply = Reply::signed(&receipt, &self.sign);
        reply.hq_heads = hq_heads;
        reply.blobs_have = blobs_have;
        if header.kind != StreamKind::Hello {
            self.storage
                .put_receipt(&receipt.id, &kiosk.id, &reply.receipt)?;
        }
        Ok((reply, receipt))
    }

    fn all_blobs(&self, blobs: &[[u8; 32]]) -> Result<bool, HqError> {
        for b in blobs {
            if !self.storage.blob_have(b)?.1 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn holds(&mut self, kiosk: &KioskEntry, id: &Uuid, digest: &[u8; 8]) -> Result<Holds, HqError> {
        let Some(rec) = self.storage.record(id)? else {
            return Ok(Holds::None);
        };
        if rec.kiosk_id != kiosk.id {
            return Ok(Holds::None);
        }
        if heads_digest(&rec.heads) == *digest {
            let doc = RecordDoc::load(&rec.doc, self.actor.clone())
                .map_err(|e| HqError::BadStoredRecord(*id, e.to_string()))?;
            let record = doc
                .read()
                .map_err(|e| HqError::BadStoredRecord(*id, e.to_string()))?;
            let mut refs = Vec::new();
            blob_refs(
                &serde_json::to_value(&record).unwrap_or_default(),
                &mut refs,
            );
            let blobs: Vec<[u8; 32]> = refs.iter().filter_map(|s| sha_from_hex(s)).collect();
            if self.all_blobs(&blobs)? {
                return Ok(Holds::All(rec.heads));
            }
        }
        Ok(Holds::Some(rec.heads))
    }

    /// The reply sealed to the kiosk's device key.
    pub fn seal_reply(&self, intake: &Intake, reply: &Reply) -> Result<Vec<u8>, HqError> {
        let kiosk = intake.kiosk.as_ref().ok_or(HqError::Refused(refusal(
            "protocol",
            "không rõ ki-ốt",
            "no kiosk",
        )))?;
        let key = hex::decode(&kiosk.public_key).unwrap_or_default();
        Ok(seal::seal_message(
            &identity::seal_public(&key)?,
            &reply.encode(),
        )?)
    }

    pub fn opener(&self) -> seal::Opener {
        seal::Opener::new(&self.seal)
    }

    /// Imports one USB bundle: the whole file must open and parse before anything is applied.
    /// Returns the sealed receipt file's bytes and the receipt.
    pub fn import_bundle(&mut self, bytes: &[u8]) -> Result<(Vec<u8>, Receipt), HqError> {
        let mut o = self.opener();
        o.feed(bytes);
        let mut frames = Vec::new();
        while let Some((f, _)) = o.next_frame()? {
            Frame::decode(&f)?;
            frames.push(f);
        }
        if !o.finished() {
            return Err(SealError::Truncated.into());
        }
        let header = o.stream_header().unwrap_or_default().to_vec();
        match frames.first().map(|f| Frame::decode(f)) {
            Some(Ok(Frame::Header(h))) if h.kind == StreamKind::Bundle => {
                self.check_kiosk(&h, &header)?;
            }
            _ => {
                return Err(HqError::Refused(refusal(
                    "protocol",
                    "không phải gói dữ liệu USB của ki-ốt",
                    "not a kiosk USB bundle",
                )))
            }
        }
        let mut intake = Intake::default();
        for f in &frames {
            self.intake_frame(&mut intake, &header, f)?;
        }
        let (reply, receipt) = self.reply(&intake)?;
        let sealed = self.seal_reply(&intake, &reply)?;
        self.storage.audit(
            &receipt.kiosk_id,
            "bundle.import",
            &receipt.id,
            &format!(
                "{} acks, {} refused",
                receipt.acks.len(),
                receipt.rejections.len()
            ),
        )?;
        Ok((sealed, receipt))
    }
}

enum Holds {
    All(Vec<ChangeHash>),
    Some(Vec<ChangeHash>),
    None,
}

pub fn hq_state_str(s: HqState) -> String {
    match serde_json::to_value(s) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{s:?}"),
    }
}

pub fn parse_hq_state(s: &str) -> Option<HqState> {
    serde_json::from_value(serde_json::Value::String(s.replace([' ', '-'], "_"))).ok()
}
