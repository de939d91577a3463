//! One kiosk stream (hello, push or bundle) on its own session: frames are decrypted by the
//! caller and taken here one at a time; each changes frame is one transaction, so a session
//! cut later keeps every whole frame and a replay writes nothing.
//!
//! Per frame: signatures are checked and documents merged in parallel (rayon), then the frame's
//! records, audit entries and duplicate pairs are written with a few batched statements.

use automerge::{Change, ChangeHash};
use chrono::{DateTime, Utc};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use uuid::Uuid;

use enroll_sync::identity::{PublicKey, SIGNATURE_LEN};
use enroll_sync::protocol::{
    blob_refs, heads_digest, sha_from_hex, BlobChunk, Downlink, Frame, Header, Hello, Receipt,
    RecordChanges, Rejection, Reply, StreamKind, PROTOCOL,
};
use enroll_sync::protocol::{Endorsement, SignedChange};
use enroll_sync::record::{authority, Enrollment, HqState, RecordDoc};
use enroll_sync::seal::{self, SealError};

use crate::storage::{AuditEntry, Projection, Session, StoredRecord};
use crate::{refusal, Hq, HqError, KioskEntry, Refusal};

/// After this many appended change chunks a record's document is rewritten compactly.
const COMPACT_AT: u32 = 32;
/// HQ's changes sent back in one reply at most; the rest follow on the next sync.
const DOWNLINK_MAX: u32 = 5_000;

/// What HQ has read of one stream, and the session it writes with.
pub struct Intake {
    session: Box<dyn Session>,
    kiosk: Option<KioskEntry>,
    header: Option<Header>,
    hello: Option<Hello>,
    frames: u64,
    ended: bool,
    applied: Vec<(Uuid, Vec<ChangeHash>, Vec<[u8; 32]>)>,
    rejections: Vec<Rejection>,
    tally: crate::limits::Tally,
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
    pub fn kind(&self) -> Option<StreamKind> {
        self.header.as_ref().map(|h| h.kind)
    }
    /// Records applied or acknowledged so far.
    pub fn applied_count(&self) -> usize {
        self.applied.len()
    }
    /// The stream's own connection, for its log row once it ends.
    pub(crate) fn session_mut(&mut self) -> &mut dyn Session {
        &mut *self.session
    }
}

/// A changes frame read, checked and merged, not yet written.
pub(crate) struct FrameWork {
    kiosk_id: String,
    /// The heads of the records HQ held when the frame was read.
    read: HashMap<Uuid, Vec<ChangeHash>>,
    checked: Vec<(RecordChanges, Option<Result<Checked, Refusal>>)>,
    outcomes: Vec<(Uuid, Result<Outcome, HqError>)>,
    hq_made: HashSet<ChangeHash>,
    now: DateTime<Utc>,
}

/// One record's changes, decoded and signature-checked.
struct Checked {
    id: Uuid,
    changes: Vec<Change>,
    chunk: Vec<u8>,
    /// (change hash, signature): kept for the record's timeline.
    sigs: Vec<([u8; 32], Vec<u8>)>,
    /// Per change: the supervisor endorsement it carries, as checked.
    endorsed: Vec<Endorsed>,
}

/// A change's supervisor endorsement, checked against the sending kiosk.
#[derive(Debug, Clone)]
enum Endorsed {
    None,
    /// A supervisor of this kiosk, certified by its device key, signed this change.
    Supervisor(String),
    /// Why the endorsement does not count (vi, en).
    Invalid(&'static str, &'static str),
}

/// One record merged and checked, ready to write.
struct Prepared {
    id: Uuid,
    /// `None` for a replay: HQ held every change already.
    stored: Option<StoredRecord>,
    acked: Vec<ChangeHash>,
    blobs: Vec<[u8; 32]>,
    enrollment_no: String,
    quality: Option<crate::storage::review::QualityFacts>,
    /// Approvals and returns kept, with the supervisor who signed each: (change hash, account).
    endorsed: Vec<(ChangeHash, String)>,
}

type Outcome = Result<Prepared, Refusal>;

pub(crate) fn record_blobs(record: &Enrollment) -> Vec<[u8; 32]> {
    json_blobs(&serde_json::to_value(record).unwrap_or_default())
}

/// The blobs a record's JSON refers to, sorted, each once.
fn json_blobs(json: &serde_json::Value) -> Vec<[u8; 32]> {
    let mut refs = Vec::new();
    blob_refs(json, &mut refs);
    let mut blobs: Vec<[u8; 32]> = refs.iter().filter_map(|s| sha_from_hex(s)).collect();
    blobs.sort();
    blobs.dedup();
    blobs
}

/// The projection HQ lists and searches by.
pub(crate) fn project(r: &Enrollment, now: DateTime<Utc>) -> Projection {
    let a = &r.applicant;
    let residence = a
        .permanent_residence
        .as_ref()
        .or(a.current_residence.as_ref());
    let mut words = vec![a.name.full()];
    words.extend(a.other_name.clone());
    Projection {
        enrollment_no: r.enrollment_no.clone(),
        full_name: enroll_sync::text::card_upper(&a.name.full()),
        search_key: enroll_sync::text::search_key(&words.join(" ")),
        id_number: a.id_number.clone(),
        province_code: residence.map(|x| x.province_code.clone()),
        commune_code: residence.map(|x| x.commune_code.clone()),
        operator_id: r.capture.operator_id.clone(),
        captured_at: r.capture.captured_at,
        status: r.review.status.as_str().to_owned(),
        hq_status: r.review.hq.as_ref().map(|h| crate::hq_state_str(h.status)),
        hq_reason: r.review.hq.as_ref().and_then(|h| h.reason.clone()),
        updated_at: now,
    }
}

fn protocol_error(vi: &str, en: &str) -> HqError {
    HqError::Refused(refusal("protocol", vi, en))
}

impl Hq {
    /// A new stream on its own session.
    pub fn intake(&self) -> Result<Intake, HqError> {
        Ok(Intake {
            session: self.session()?,
            kiosk: None,
            header: None,
            hello: None,
            frames: 0,
            ended: false,
            applied: Vec::new(),
            rejections: Vec::new(),
            tally: Default::default(),
        })
    }

    /// Takes one decrypted frame of a kiosk's stream.
    pub fn intake_frame(
        &self,
        intake: &mut Intake,
        stream_header: &[u8],
        plain: &[u8],
    ) -> Result<(), HqError> {
        // Until the signed header is verified, nothing but a header is even decoded.
        if intake.header.is_none() && plain.first() != Some(&1) {
            return Err(protocol_error(
                "luồng không bắt đầu bằng phần đầu đã ký",
                "the stream does not start with one signed header",
            ));
        }
        let frame = Frame::decode(plain)?;
        self.take_frame(intake, stream_header, frame, None)
    }

    /// Takes one decoded frame; `work` is a changes frame's reading and merging when it was
    /// done ahead (`crate::ahead`) from the same frame.
    pub(crate) fn take_frame(
        &self,
        intake: &mut Intake,
        stream_header: &[u8],
        frame: Frame,
        work: Option<FrameWork>,
    ) -> Result<(), HqError> {
        crate::limits::check_frame(&self.limits, &mut intake.tally, &frame, intake.frames)?;
        if intake.ended {
            return Err(protocol_error(
                "dữ liệu sau khung kết thúc",
                "data after the end frame",
            ));
        }
        let n = intake.frames;
        intake.frames += 1;
        match (frame, &intake.header) {
            (Frame::Header(h), None) => {
                let kiosk = self.check_kiosk(&mut *intake.session, &h, stream_header)?;
                intake.kiosk = Some(kiosk);
                intake.header = Some(h);
                Ok(())
            }
            (_, None) | (Frame::Header(_), Some(_)) => Err(protocol_error(
                "luồng không bắt đầu bằng phần đầu đã ký",
                "the stream does not start with one signed header",
            )),
            (Frame::Hello(h), Some(_)) => {
                intake.hello = Some(h);
                Ok(())
            }
            (Frame::Blob(b), Some(_)) => self.take_allowed_blob(intake, b),
            (Frame::Changes(groups), Some(_)) => {
                let kiosk = intake
                    .kiosk
                    .clone()
                    .ok_or_else(|| protocol_error("không rõ ki-ốt", "no kiosk"))?;
                let changed = groups.iter().filter(|g| !g.changes.is_empty()).count();
                self.quota_records(&mut *intake.session, &kiosk.id, changed as u64)?;
                let work = match work {
                    Some(w) => w,
                    None => self.prepare_frame(&mut *intake.session, &kiosk, groups)?,
                };
                let (applied, rejections) = self.write_frame(&mut *intake.session, &kiosk, work)?;
                intake
                    .tally
                    .referenced(applied.iter().flat_map(|a| a.2.iter()));
                intake.applied.extend(applied);
                intake.rejections.extend(rejections);
                Ok(())
            }
            (Frame::End { frames }, Some(_)) => {
                if frames != n {
                    return Err(protocol_error(
                        "số khung không khớp",
                        "frame count does not match",
                    ));
                }
                intake.ended = true;
                if let Some(k) = &intake.kiosk {
                    let t = &mut intake.tally;
                    self.quota_blob_bytes(&mut *intake.session, t, &k.id, 0, true)?;
                }
                Ok(())
            }
        }
    }

    pub(crate) fn check_kiosk(
        &self,
        s: &mut dyn Session,
        h: &Header,
        stream_header: &[u8],
    ) -> Result<KioskEntry, HqError> {
        if h.version != PROTOCOL {
            return Err(HqError::Refused(refusal(
                "protocol_version",
                format!(
                    "phần mềm ki-ốt dùng giao thức đồng bộ {}, HQ cần giao thức {PROTOCOL}: hãy cập nhật phần mềm ki-ốt",
                    h.version
                ),
                format!(
                    "the kiosk software speaks sync protocol {}, HQ needs protocol {PROTOCOL}: update the kiosk software",
                    h.version
                ),
            )));
        }
        let Some(k) = s.kiosk(&h.kiosk_id)? else {
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

    /// A blob chunk, kept only when a record of this kiosk in this stream refers to it.
    fn take_allowed_blob(&self, intake: &mut Intake, b: BlobChunk) -> Result<(), HqError> {
        match intake.tally.blob_allowed(&b.sha256) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(r) => {
                intake.rejections.push(Rejection {
                    record: Uuid::nil(),
                    code: r.code.to_owned(),
                    message_vi: r.message_vi,
                    message_en: r.message_en,
                });
                return Ok(());
            }
        }
        if let Some(k) = &intake.kiosk {
            let n = b.data.len() as u64;
            let t = &mut intake.tally;
            self.quota_blob_bytes(&mut *intake.session, t, &k.id, n, false)?;
        }
        self.take_blob(b)
    }

    fn take_blob(&self, b: BlobChunk) -> Result<(), HqError> {
        self.blobs.append(&b.sha256, b.total, b.offset, &b.data)?;
        Ok(())
    }

    /// A changes frame read and merged against what HQ holds, outside any transaction (readers
    /// never wait): ready for [`Hq::write_frame`]. On the read-ahead thread this runs while
    /// the session thread writes the frame before.
    pub(crate) fn prepare_frame(
        &self,
        s: &mut dyn Session,
        kiosk: &KioskEntry,
        groups: Vec<RecordChanges>,
    ) -> Result<FrameWork, HqError> {
        let ids: Vec<Uuid> = groups.iter().map(|g| g.record).collect();
        if ids.iter().collect::<HashSet<_>>().len() != ids.len() {
            return Err(protocol_error(
                "một hồ sơ xuất hiện hai lần trong một khung",
                "a record appears twice in one frame",
            ));
        }
        let existing: HashMap<Uuid, StoredRecord> =
            s.records(&ids)?.into_iter().map(|r| (r.id, r)).collect();
        let now = self.now();
        // Signatures first; a group without changes only confirms heads.
        let checks = check_groups(kiosk, &groups);
        let checked: Vec<(RecordChanges, Option<Result<Checked, Refusal>>)> =
            groups.into_iter().zip(checks).collect();
        let hq_made = self.hq_made(s, &checked)?;
        let outcomes = checked
            .par_iter()
            .map(|(g, c)| {
                (
                    g.record,
                    self.run(kiosk, g, c, existing.get(&g.record), now, &hq_made),
                )
            })
            .collect();
        let read = existing.into_iter().map(|(id, r)| (id, r.heads)).collect();
        Ok(FrameWork {
            kiosk_id: kiosk.id.clone(),
            read,
            checked,
            outcomes,
            hq_made,
            now,
        })
    }

    /// One record of a frame: its heads confirmed, or its checked changes merged.
    fn run(
        &self,
        kiosk: &KioskEntry,
        g: &RecordChanges,
        c: &Option<Result<Checked, Refusal>>,
        existing: Option<&StoredRecord>,
        now: DateTime<Utc>,
        hq_made: &HashSet<ChangeHash>,
    ) -> Result<Outcome, HqError> {
        match c {
            None => self.confirm_heads(kiosk, &g.record, &g.heads, existing),
            Some(Ok(c)) => self.prepare(kiosk, c, existing, now, hq_made),
            Some(Err(r)) => Ok(Err(r.clone())),
        }
    }

    /// One changes frame, one transaction: any record another session changed since it was
    /// read is merged again from what is now committed, locked, and the frame is written.
    #[allow(clippy::type_complexity)]
    pub(crate) fn write_frame(
        &self,
        s: &mut dyn Session,
        kiosk: &KioskEntry,
        work: FrameWork,
    ) -> Result<(Vec<(Uuid, Vec<ChangeHash>, Vec<[u8; 32]>)>, Vec<Rejection>), HqError> {
        if work.kiosk_id != kiosk.id {
            return Err(HqError::Internal(
                "a frame prepared for another kiosk".into(),
            ));
        }
        let FrameWork {
            read,
            checked,
            mut outcomes,
            hq_made,
            now,
            ..
        } = work;
        s.begin()?;
        let result = (|| {
            // Records to write are written only if still as they were read; the others of the
            // frame (refused, confirmed, replayed) are compared with what is held now.
            let mut tries = Vec::new();
            let mut others = Vec::new();
            for (id, out) in &outcomes {
                match out {
                    Ok(Ok(Prepared {
                        stored: Some(r), ..
                    })) => tries.push((r.clone(), read.get(id).cloned())),
                    _ => others.push(*id),
                }
            }
            let tried: Vec<Uuid> = tries.iter().map(|(r, _)| r.id).collect();
            let mut stale = s.put_records_if(tries)?;
            let written: HashSet<Uuid> =
                tried.into_iter().filter(|id| !stale.contains(id)).collect();
            if !others.is_empty() {
                let now_held: HashMap<Uuid, Vec<ChangeHash>> = s
                    .record_states(&others)?
                    .into_iter()
                    .map(|st| (st.id, st.heads))
                    .collect();
                stale.extend(
                    others
                        .into_iter()
                        .filter(|id| now_held.get(id) != read.get(id)),
                );
            }
            // Any record written since it was read is merged again from what is committed now,
            // locked until the end of this transaction.
            if !stale.is_empty() {
                let fresh: HashMap<Uuid, StoredRecord> =
                    s.records(&stale)?.into_iter().map(|r| (r.id, r)).collect();
                for (i, (g, c)) in checked.iter().enumerate() {
                    if stale.contains(&g.record) {
                        let e = fresh.get(&g.record);
                        outcomes[i].1 = self.run(kiosk, g, c, e, now, &hq_made);
                    }
                }
            }
            let outcomes = std::mem::take(&mut outcomes);
            self.write_outcomes(&mut *s, kiosk, now, outcomes, &checked, &written)
        })();
        match result {
            Ok(r) => {
                // The receipt's commit, later, makes this frame durable before it is answered.
                s.commit_unsynced()?;
                Ok(r)
            }
            Err(e) => {
                s.rollback()?;
                Err(e)
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn write_outcomes(
        &self,
        s: &mut dyn Session,
        kiosk: &KioskEntry,
        now: DateTime<Utc>,
        outcomes: Vec<(Uuid, Result<Outcome, HqError>)>,
        checked: &[(RecordChanges, Option<Result<Checked, Refusal>>)],
        written: &HashSet<Uuid>,
    ) -> Result<(Vec<(Uuid, Vec<ChangeHash>, Vec<[u8; 32]>)>, Vec<Rejection>), HqError> {
        let mut applied = Vec::new();
        let mut rejections = Vec::new();
        let mut writes = Vec::new();
        let mut audit = Vec::new();
        let mut quality = Vec::new();
        for (id, out) in outcomes {
            match out? {
                Ok(p) => {
                    quality.extend(p.quality);
                    for (hash, account) in &p.endorsed {
                        audit.push(AuditEntry {
                            at: now,
                            actor: kiosk.id.clone(),
                            action: "record.supervisor".into(),
                            subject: id.to_string(),
                            detail: format!("{account} {}", hex::encode(hash.0)),
                        });
                    }
                    if let Some(stored) = p.stored {
                        audit.push(AuditEntry {
                            at: now,
                            actor: kiosk.id.clone(),
                            action: "record.apply".into(),
                            subject: id.to_string(),
                            detail: p.enrollment_no,
                        });
                        writes.push(stored);
                    }
                    applied.push((p.id, p.acked, p.blobs));
                }
                Err(r) => {
                    audit.push(AuditEntry {
                        at: now,
                        actor: kiosk.id.clone(),
                        action: "record.reject".into(),
                        subject: id.to_string(),
                        detail: r.code.into(),
                    });
                    rejections.push(Rejection {
                        record: id,
                        code: r.code.to_owned(),
                        message_vi: r.message_vi,
                        message_en: r.message_en,
                    });
                }
            }
        }
        let numbers: Vec<(Uuid, String)> = writes
            .iter()
            .filter_map(|r| r.p.id_number.clone().map(|n| (r.id, n)))
            .collect();
        // Rows `put_records_if` wrote already are not written twice.
        writes.retain(|r| !written.contains(&r.id));
        s.put_records(&writes)?;
        s.put_quality(&quality)?;
        let pairs = self.duplicate_candidates(s, &numbers)?;
        s.put_change_sigs(&applied_sigs(checked, &applied, &kiosk.id))?;
        // The audit chain's head is locked from the append to the commit, one session at a
        // time: append last, so that the lock is held the least (under 20 kiosks it was held
        // through the duplicate lookups, and sessions queued on it).
        s.audit(&audit)?;
        self.mark_duplicates(s, &pairs)?;
        Ok((applied, rejections))
    }

    /// Other records holding the ID numbers of `numbers`, as (record, other, ID number). The
    /// numbers stay locked until the transaction ends, so a racing session waits and then
    /// sees these records.
    pub(crate) fn duplicate_candidates(
        &self,
        s: &mut dyn Session,
        numbers: &[(Uuid, String)],
    ) -> Result<Vec<(Uuid, Uuid, String)>, HqError> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let mut sorted: Vec<String> = numbers.iter().map(|(_, n)| n.clone()).collect();
        sorted.sort();
        sorted.dedup();
        s.lock_id_numbers(&sorted)?;
        // One lookup for the frame; status changes never change an ID number.
        let mut holders: HashMap<String, Vec<Uuid>> = HashMap::new();
        for (n, id) in s.records_with_id_numbers(&sorted)? {
            holders.entry(n).or_default().push(id);
        }
        let mut out = Vec::new();
        for (id, n) in numbers {
            for &other in holders.get(n).map_or(&[][..], Vec::as_slice) {
                if other != *id {
                    out.push((*id, other, n.clone()));
                }
            }
        }
        Ok(out)
    }

    /// Marks every new pair of records sharing an ID number, each pair once.
    pub(crate) fn mark_duplicates(
        &self,
        s: &mut dyn Session,
        pairs: &[(Uuid, Uuid, String)],
    ) -> Result<(), HqError> {
        let now = self.now();
        for (id, other, n) in pairs {
            if !s.add_duplicate_pair(n, id, other, now)? {
                continue;
            }
            let same_kiosk = crate::limits::same_kiosk(s, id, other)?;
            for (a, b) in [(id, other), (other, id)] {
                let reason = crate::limits::duplicate_reason(b, same_kiosk);
                self.change_status(s, a, HqState::Duplicate, Some(reason), "hq-dedup")?;
            }
        }
        Ok(())
    }

    /// HQ's own changes among those a kiosk sent back (its actor, and HQ's signature kept in
    /// `change_sigs` verifies): a kiosk relays them when HQ's record does not show them (a
    /// status change that raced the kiosk's push). Looked up only for changes by HQ's actor.
    #[allow(clippy::type_complexity)]
    fn hq_made(
        &self,
        s: &mut dyn Session,
        checked: &[(RecordChanges, Option<Result<Checked, Refusal>>)],
    ) -> Result<HashSet<ChangeHash>, HqError> {
        let mut out = HashSet::new();
        let key = PublicKey::from_bytes(&self.sign_public()).ok();
        for c in checked
            .iter()
            .filter_map(|(_, c)| c.as_ref()?.as_ref().ok())
        {
            let ours: Vec<[u8; 32]> = c
                .changes
                .iter()
                .filter(|ch| ch.actor_id() == &self.actor)
                .map(|ch| ch.hash().0)
                .collect();
            if ours.is_empty() {
                continue;
            }
            for sig in s.change_sigs(&c.id, &ours)? {
                let Ok(signature) = <[u8; SIGNATURE_LEN]>::try_from(sig.signature.as_slice())
                else {
                    continue;
                };
                let hash = ChangeHash(sig.hash);
                let signed = enroll_sync::protocol::SignedChange {
                    record: c.id,
                    signature,
                    bytes: Vec::new(),
                    endorsement: None,
                };
                if sig.signer == crate::storage::review::HQ_SIGNER
                    && key.as_ref().is_some_and(|k| signed.verify_by(k, &hash))
                {
                    out.insert(hash);
                }
            }
        }
        Ok(out)
    }

    /// Merges one record's checked changes into what HQ holds. `Ok(Err(..))` is a stated
    /// refusal: nothing of that record is written.
    fn prepare(
        &self,
        kiosk: &KioskEntry,
        c: &Checked,
        existing: Option<&StoredRecord>,
        now: DateTime<Utc>,
        hq_made: &HashSet<ChangeHash>,
    ) -> Result<Outcome, HqError> {
        let id = c.id;
        if let Some(e) = existing {
            if e.kiosk_id != kiosk.id {
                return Ok(Err(refusal(
                    "other_kiosk",
                    format!("hồ sơ {id} thuộc ki-ốt {}", e.kiosk_id),
                    format!("record {id} belongs to kiosk {}", e.kiosk_id),
                )));
            }
        }
        let merged = match first_shape(c, existing, hq_made) {
            Some(m) => m,
            None => match self.merge(c, existing, hq_made)? {
                Ok(m) => m,
                Err(r) => return Ok(Err(r)),
            },
        };
        let Merged {
            record,
            heads,
            doc,
            endorsed,
            blobs,
        } = merged;
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
        let findings = enroll_sync::validate::validate(&record, now);
        let blocking = enroll_sync::validate::blocking(&record, &findings);
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
        let deps: HashSet<ChangeHash> = c
            .changes
            .iter()
            .flat_map(|ch| ch.deps().iter().copied())
            .collect();
        let acked: Vec<ChangeHash> = c
            .changes
            .iter()
            .map(|ch| ch.hash())
            .filter(|h| !deps.contains(h))
            .collect();
        let enrollment_no = record.enrollment_no.clone();
        // `None`: a replay, HQ held every change already and writes nothing.
        let Some((doc, chunks)) = doc else {
            return Ok(Ok(Prepared {
                id,
                stored: None,
                acked,
                blobs,
                enrollment_no,
                quality: None,
                endorsed: Vec::new(),
            }));
        };
        let quality = Some(crate::review::quality::facts(&record, &kiosk.id));
        let stored = StoredRecord {
            id,
            kiosk_id: kiosk.id.clone(),
            doc,
            chunks,
            heads,
            blobs: blobs.clone(),
            p: project(&record, now),
        };
        Ok(Ok(Prepared {
            id,
            stored: Some(stored),
            acked,
            blobs,
            enrollment_no,
            quality,
            endorsed,
        }))
    }

    /// The changes merged into HQ's document of the record (built from them when it is new).
    fn merge(
        &self,
        c: &Checked,
        existing: Option<&StoredRecord>,
        hq_made: &HashSet<ChangeHash>,
    ) -> Result<Result<Merged, Refusal>, HqError> {
        let id = c.id;
        let malformed = |why: String| {
            refusal(
                "malformed_change",
                format!("không đọc được hồ sơ {id} sau thay đổi: {why}"),
                format!("record {id} cannot be read after these changes: {why}"),
            )
        };
        let hashes: Vec<ChangeHash> = c.changes.iter().map(|ch| ch.hash()).collect();
        let mut replayed = false;
        // Which of the sent changes HQ did not hold: only those are judged and kept.
        let mut fresh: Vec<bool> = vec![true; c.changes.len()];
        let mut doc = match existing {
            Some(e) => {
                let mut d = RecordDoc::load(&e.doc, self.actor.clone())
                    .map_err(|err| HqError::BadStoredRecord(id, err.to_string()))?;
                let not_held = match d.not_held(&hashes) {
                    Ok(n) => n,
                    Err(err) => return Ok(Err(malformed(err.to_string()))),
                };
                for (f, h) in fresh.iter_mut().zip(&hashes) {
                    *f = not_held.contains(h);
                }
                // A replay (everything already held) writes nothing.
                replayed = !fresh.contains(&true);
                let applied = if replayed { Ok(()) } else { d.apply(&c.chunk) };
                if let Err(err) = applied {
                    return Ok(Err(malformed(err.to_string())));
                }
                d
            }
            None => match RecordDoc::load(&c.chunk, self.actor.clone()) {
                Ok(d) => d,
                Err(err) => return Ok(Err(malformed(err.to_string()))),
            },
        };
        // A document built from hostile changes can make Automerge panic on lookup (a missing
        // dependency, found by fuzzing): that is this record's refusal, not the session's end.
        let missing = match doc.not_held(&hashes) {
            Ok(m) => !m.is_empty(),
            Err(err) => return Ok(Err(malformed(err.to_string()))),
        };
        if missing {
            return Ok(Err(refusal(
                "missing_changes",
                format!("hồ sơ {id}: thiếu các thay đổi trước đó, gửi lại toàn bộ"),
                format!("record {id}: earlier changes are missing; send them first"),
            )));
        }
        // Who may write what: each new change's operations against the rule table.
        let mut endorsed = Vec::new();
        for ((ch, is_new), e) in c.changes.iter().zip(&fresh).zip(&c.endorsed) {
            // HQ's own change, relayed back, is HQ's to write.
            if !is_new || hq_made.contains(&ch.hash()) {
                continue;
            }
            let writes = match authority::writes(doc.automerge(), ch, existing.is_none()) {
                Ok(w) => w,
                Err(err) => return Ok(Err(malformed(err.to_string()))),
            };
            match judge(&id, ch, &writes, e) {
                Ok(by) => endorsed.extend(by),
                Err(r) => return Ok(Err(r)),
            }
        }
        let record = match doc.read() {
            Ok(r) => r,
            Err(err) => return Ok(Err(malformed(err.to_string()))),
        };
        let blobs = record_blobs(&record);
        let bytes = match existing {
            _ if replayed => None,
            Some(e) if e.chunks + 1 < COMPACT_AT => {
                let mut b = e.doc.clone();
                b.extend_from_slice(&c.chunk);
                Some((b, e.chunks + 1))
            }
            Some(_) => Some((doc.save(), 1)),
            None => Some((c.chunk.clone(), 1)),
        };
        Ok(Ok(Merged {
            record,
            heads: doc.heads(),
            doc: bytes,
            endorsed,
            blobs,
        }))
    }

    /// A group without changes: acknowledge the kiosk's heads if HQ holds them all.
    fn confirm_heads(
        &self,
        kiosk: &KioskEntry,
        id: &Uuid,
        heads: &[ChangeHash],
        existing: Option<&StoredRecord>,
    ) -> Result<Outcome, HqError> {
        let missing = || {
            refusal(
                "missing_changes",
                format!("hồ sơ {id}: HQ chưa có các thay đổi này"),
                format!("record {id}: HQ does not hold these changes"),
            )
        };
        let Some(rec) = existing else {
            return Ok(Err(missing()));
        };
        if rec.kiosk_id != kiosk.id {
            return Ok(Err(missing()));
        }
        let mut doc = RecordDoc::load(&rec.doc, self.actor.clone())
            .map_err(|e| HqError::BadStoredRecord(*id, e.to_string()))?;
        if !doc
            .not_held(heads)
            .map_err(|e| HqError::BadStoredRecord(*id, e.to_string()))?
            .is_empty()
        {
            return Ok(Err(missing()));
        }
        Ok(Ok(Prepared {
            id: *id,
            stored: None,
            acked: heads.to_vec(),
            blobs: rec.blobs.clone(),
            enrollment_no: rec.p.enrollment_no.clone(),
            quality: None,
            endorsed: Vec::new(),
        }))
    }

    /// HQ's answer once a stream has been read: for a hello, what HQ holds and its changes for
    /// this kiosk; for a push or bundle, what it applied and refused. Signed by HQ.
    pub fn reply(&self, intake: &mut Intake) -> Result<(Reply, Receipt), HqError> {
        let (Some(kiosk), Some(header)) = (intake.kiosk.clone(), intake.header.clone()) else {
            return Err(protocol_error("luồng trống", "empty stream"));
        };
        if !intake.ended {
            return Err(HqError::from(SealError::Truncated));
        }
        let now = self.now();
        let mut receipt = Receipt {
            id: format!("R{}", Uuid::now_v7().simple()),
            kiosk_id: kiosk.id.clone(),
            issued_ms: now.timestamp_millis().max(0) as u64,
            stream_id: header.stream_id,
            kind: header.kind as u8,
            rejections: intake.rejections.clone(),
            ..Receipt::default()
        };
        // A record is acknowledged only while HQ holds every blob it references whole.
        for (id, heads, blobs) in &intake.applied {
            if self.all_blobs(blobs)? {
                receipt.acks.push((*id, heads.clone()));
            }
        }
        let s = &mut intake.session;
        s.begin()?;
        if let Some(hello) = &intake.hello {
            let digests: HashMap<Uuid, [u8; 8]> = hello.records.iter().copied().collect();
            let ids: Vec<Uuid> = hello.records.iter().map(|(id, _)| *id).collect();
            for st in s.record_states(&ids)? {
                if st.kiosk_id != kiosk.id {
                    continue;
                }
                let same = digests.get(&st.id) == Some(&heads_digest(&st.heads));
                if same && self.all_blobs(&st.blobs)? {
                    receipt.acks.push((st.id, st.heads));
                } else {
                    receipt.hq_heads.push((st.id, st.heads));
                }
            }
            for b in &hello.blobs {
                let (have, complete) = self.blobs.have(b)?;
                if !complete {
                    receipt.blobs_have.push((*b, have));
                }
            }
            s.set_cursor(&kiosk.id, hello.cursor)?;
            let audit = crate::kiosk_audit::check(&mut **s, &kiosk, hello.audit.as_ref(), now)?;
            receipt.audit = audit.held.map(|h| (h.count, h.head));
            let mut telemetry = hello_telemetry(hello, now);
            telemetry.audit_entries = audit.held.map_or(0, |h| h.count);
            telemetry.audit_problem = audit.problem;
            s.kiosk_seen(&kiosk.id, now, &telemetry)?;
            let mut down: BTreeMap<Uuid, Vec<Vec<u8>>> = BTreeMap::new();
            receipt.cursor = hello.cursor;
            for e in s.outbox_since(&kiosk.id, hello.cursor, DOWNLINK_MAX)? {
                down.entry(e.record).or_default().push(e.change);
                receipt.cursor = receipt.cursor.max(e.seq);
            }
            let ids: Vec<Uuid> = down.keys().copied().collect();
            let states: HashMap<Uuid, (Vec<ChangeHash>, Vec<[u8; 32]>)> = s
                .record_states(&ids)?
                .into_iter()
                .map(|st| (st.id, (st.heads, st.blobs)))
                .collect();
            let acked: HashSet<Uuid> = receipt.acks.iter().map(|a| a.0).collect();
            for (id, changes) in down {
                let signatures = self.downlink_signatures(&mut **s, &id, &changes)?;
                let (heads, blobs) = states.get(&id).cloned().unwrap_or_default();
                // The kiosk takes HQ's heads as acknowledged only when HQ says so, here.
                if !acked.contains(&id) && !heads.is_empty() && self.all_blobs(&blobs)? {
                    receipt.acks.push((id, heads.clone()));
                }
                receipt.downlink.push(Downlink {
                    record: id,
                    heads,
                    changes,
                    signatures,
                });
            }
        }
        let reply = Reply::signed(&receipt, &self.sign);
        if header.kind != StreamKind::Hello {
            s.put_receipt(&receipt.id, &kiosk.id, now, &reply.receipt)?;
            s.kiosk_synced(&kiosk.id, now)?;
        }
        s.commit()?;
        Ok((reply, receipt))
    }

    /// HQ's signatures, as kept when HQ made them, on its changes to one record that go down;
    /// a change without one goes with zeros, and the kiosk refuses it.
    fn downlink_signatures(
        &self,
        s: &mut dyn Session,
        id: &Uuid,
        changes: &[Vec<u8>],
    ) -> Result<Vec<[u8; SIGNATURE_LEN]>, HqError> {
        let hashes: Vec<Option<[u8; 32]>> = changes
            .iter()
            .map(|c| {
                enroll_sync::record::guarded(|| {
                    Change::from_bytes(c.clone())
                        .map_err(|_| enroll_sync::record::DocError::Inconsistent)
                })
                .ok()
                .map(|ch| ch.hash().0)
            })
            .collect();
        let wanted: Vec<[u8; 32]> = hashes.iter().flatten().copied().collect();
        let held: HashMap<[u8; 32], Vec<u8>> = s
            .change_sigs(id, &wanted)?
            .into_iter()
            .filter(|g| g.signer == crate::storage::review::HQ_SIGNER)
            .map(|g| (g.hash, g.signature))
            .collect();
        Ok(hashes
            .iter()
            .map(|h| {
                h.and_then(|h| held.get(&h))
                    .and_then(|sig| <[u8; SIGNATURE_LEN]>::try_from(sig.as_slice()).ok())
                    .unwrap_or([0; SIGNATURE_LEN])
            })
            .collect())
    }

    fn all_blobs(&self, blobs: &[[u8; 32]]) -> Result<bool, HqError> {
        for b in blobs {
            if !self.blobs.have(b)?.1 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The reply sealed to the kiosk's device key.
    pub fn seal_reply(&self, intake: &Intake, reply: &Reply) -> Result<Vec<u8>, HqError> {
        let kiosk = intake
            .kiosk
            .as_ref()
            .ok_or_else(|| protocol_error("không rõ ki-ốt", "no kiosk"))?;
        let key = hex::decode(&kiosk.public_key).unwrap_or_default();
        Ok(seal::seal_message(
            &enroll_sync::identity::seal_public(&key)?,
            &reply.encode(),
        )?)
    }

    /// Imports one USB bundle: the whole file must open and parse before anything is applied.
    /// Returns the sealed receipt file's bytes and the receipt.
    pub fn import_bundle(&self, bytes: &[u8]) -> Result<(Vec<u8>, Receipt), HqError> {
        let started = (self.now(), std::time::Instant::now());
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
        let mut intake = self.intake()?;
        match frames.first().map(|f| Frame::decode(f)) {
            Some(Ok(Frame::Header(h))) if h.kind == StreamKind::Bundle => {
                self.check_kiosk(&mut *intake.session, &h, &header)?;
            }
            _ => {
                return Err(protocol_error(
                    "không phải gói dữ liệu USB của ki-ốt",
                    "not a kiosk USB bundle",
                ))
            }
        }
        let answer = frames
            .iter()
            .try_for_each(|f| self.intake_frame(&mut intake, &header, f))
            .and_then(|()| self.reply(&mut intake));
        self.log_session(&mut intake, started, bytes.len() as u64, answer.as_ref());
        let (reply, receipt) = answer?;
        let sealed = self.seal_reply(&intake, &reply)?;
        intake.session.audit(&[self.audit_entry(
            &receipt.kiosk_id,
            "bundle.import",
            &receipt.id,
            &format!(
                "{} acks, {} refused",
                receipt.acks.len(),
                receipt.rejections.len()
            ),
        )])?;
        Ok((sealed, receipt))
    }
}

/// What the hello says about the kiosk; a kiosk too old to say gives what the hello shows.
fn hello_telemetry(hello: &Hello, now: DateTime<Utc>) -> crate::KioskTelemetry {
    let time = |ms: u64| {
        (ms > 0)
            .then(|| DateTime::<Utc>::from_timestamp_millis(ms as i64))
            .flatten()
    };
    match &hello.telemetry {
        Some(t) => crate::KioskTelemetry {
            software_version: t.software_version.chars().take(64).collect(),
            free_bytes: t.free_bytes,
            records_waiting: t.records_waiting,
            oldest_waiting_at: time(t.oldest_waiting_ms),
            last_capture_at: time(t.last_capture_ms),
            clock: time(t.clock_ms).unwrap_or(now),
            ..Default::default()
        },
        None => crate::KioskTelemetry {
            records_waiting: hello.records.len() as u64,
            clock: now,
            ..Default::default()
        },
    }
}

/// A record's changes merged: the record, HQ's heads after them, and the bytes to store with
/// their chunk count (`None` for a replay, which writes nothing).
struct Merged {
    record: Enrollment,
    heads: Vec<ChangeHash>,
    doc: Option<(Vec<u8>, u32)>,
    endorsed: Vec<(ChangeHash, String)>,
    /// The blobs the record refers to.
    blobs: Vec<[u8; 32]>,
}

/// One new change's writes against the rule table: the supervisor who endorsed the approval
/// or return it makes, if any, or the refusal naming the path and the rule.
fn judge(
    id: &Uuid,
    ch: &Change,
    writes: &authority::Writes,
    e: &Endorsed,
) -> Result<Option<(ChangeHash, String)>, Refusal> {
    let supervisor = match e {
        Endorsed::Supervisor(a) => Some(a.as_str()),
        _ => None,
    };
    if let Err(v) = authority::check_kiosk_change(writes, supervisor) {
        return Err(write_authority(id, &ch.hash(), &v, e));
    }
    Ok(match (supervisor, &writes.supervisor) {
        (Some(account), Some(_)) => Some((ch.hash(), account.to_owned())),
        _ => None,
    })
}

/// A new record sent as one plain first change, read from its operations without building a
/// document (`genesis_json`): most of HQ's CPU per new record was loading and hydrating one.
/// `None` for any other shape and for anything this path would refuse; the document path then
/// decides, and names the refusal.
fn first_shape(
    c: &Checked,
    existing: Option<&StoredRecord>,
    hq_made: &HashSet<ChangeHash>,
) -> Option<Merged> {
    let ([ch], [e], None) = (c.changes.as_slice(), c.endorsed.as_slice(), existing) else {
        return None;
    };
    if hq_made.contains(&ch.hash()) {
        return None;
    }
    // Read from the columns; a change it does not read exactly takes the document path.
    let ops = enroll_sync::record::plain_ops(ch)?;
    let json = enroll_sync::record::genesis_json(ch, &ops)?;
    // Every object the change writes is one it makes, so no lookup reaches this empty document
    // (one that would is an error here, and the document path decides).
    let empty = automerge::AutoCommit::new();
    let writes = authority::writes_decoded(&empty, ch, &ops, true).ok()?;
    let endorsed = judge(&c.id, ch, &writes, e).ok()?;
    // Every struct of the record refuses unknown fields, so its JSON refers to the same blobs.
    let blobs = json_blobs(&json);
    let record: Enrollment = serde_json::from_value(json).ok()?;
    Some(Merged {
        record,
        heads: vec![ch.hash()],
        doc: Some((c.chunk.clone(), 1)),
        endorsed: endorsed.into_iter().collect(),
        blobs,
    })
}

/// Each group's changes decoded and checked, in parallel, in order; `None` for a group that
/// only confirms heads.
fn check_groups(
    kiosk: &KioskEntry,
    groups: &[RecordChanges],
) -> Vec<Option<Result<Checked, Refusal>>> {
    // Decoded once per frame; a key that does not decode verifies nothing.
    let key = hex::decode(&kiosk.public_key)
        .ok()
        .and_then(|k| PublicKey::from_bytes(&k).ok());
    let parsed: Vec<Option<Result<Vec<Change>, Refusal>>> = groups
        .par_iter()
        .map(|g| (!g.changes.is_empty()).then(|| parse(g)))
        .collect();
    let held = signatures_hold(key.as_ref(), groups, &parsed);
    groups
        .par_iter()
        .zip(parsed)
        .zip(held)
        .map(|((g, parsed), held)| {
            parsed.map(|p| p.and_then(|changes| check(key.as_ref(), kiosk, g, changes, &held)))
        })
        .collect()
}

/// Decodes one record's changes and checks each names the record.
fn parse(g: &RecordChanges) -> Result<Vec<Change>, Refusal> {
    let id = g.record;
    let mut changes = Vec::with_capacity(g.changes.len());
    for c in &g.changes {
        let parsed = enroll_sync::record::guarded(|| {
            Change::from_bytes(c.bytes.clone())
                .map_err(|_| enroll_sync::record::DocError::Inconsistent)
        });
        let Ok(change) = parsed else {
            return Err(refusal(
                "malformed_change",
                format!("thay đổi của hồ sơ {id} sai định dạng"),
                format!("a change for record {id} is malformed"),
            ));
        };
        if c.record != id {
            return Err(refusal(
                "record_mismatch",
                format!("thay đổi ký cho hồ sơ {} bị gửi vào hồ sơ {id}", c.record),
                format!(
                    "a change signed for record {} was sent for record {id}",
                    c.record
                ),
            ));
        }
        changes.push(change);
    }
    Ok(changes)
}

/// Per group, whether each decoded change's signature holds: the frame's signatures checked
/// as batches, one per thread (a batch costs about half as much per signature).
fn signatures_hold(
    key: Option<&PublicKey>,
    groups: &[RecordChanges],
    parsed: &[Option<Result<Vec<Change>, Refusal>>],
) -> Vec<Vec<bool>> {
    let mut held: Vec<Vec<bool>> = vec![Vec::new(); groups.len()];
    let Some(key) = key else {
        return held;
    };
    let signed: Vec<(usize, (&SignedChange, ChangeHash))> = groups
        .iter()
        .zip(parsed)
        .enumerate()
        .filter_map(|(i, (g, p))| Some((i, g, p.as_ref()?.as_ref().ok()?)))
        .flat_map(|(i, g, changes)| {
            g.changes
                .iter()
                .zip(changes)
                .map(move |(c, ch)| (i, (c, ch.hash())))
        })
        .collect();
    let per = signed
        .len()
        .div_ceil(rayon::current_num_threads())
        .clamp(16, 512);
    let verdicts: Vec<bool> = signed
        .par_chunks(per)
        .flat_map_iter(|chunk| {
            let changes: Vec<(&SignedChange, ChangeHash)> = chunk.iter().map(|s| s.1).collect();
            SignedChange::verify_each(key, &changes)
        })
        .collect();
    for ((i, _), ok) in signed.iter().zip(verdicts) {
        held[*i].push(ok);
    }
    held
}

/// Checks one record's decoded changes: every signature (`held`, by change) and endorsement.
fn check(
    key: Option<&PublicKey>,
    kiosk: &KioskEntry,
    g: &RecordChanges,
    changes: Vec<Change>,
    held: &[bool],
) -> Result<Checked, Refusal> {
    let id = g.record;
    let mut chunk = Vec::new();
    let mut sigs = Vec::with_capacity(g.changes.len());
    let mut endorsed = Vec::with_capacity(g.changes.len());
    for (i, (c, change)) in g.changes.iter().zip(&changes).enumerate() {
        if held.get(i) != Some(&true) {
            return Err(refusal(
                "bad_signature",
                format!("chữ ký thay đổi của hồ sơ {id} không hợp lệ"),
                format!(
                    "a change for record {id} is not signed by kiosk {}",
                    kiosk.id
                ),
            ));
        }
        endorsed.push(match (&c.endorsement, key) {
            (None, _) => Endorsed::None,
            (Some(e), Some(key)) => endorsement(e, key, kiosk, &id, &change.hash()),
            (Some(_), None) => Endorsed::Invalid(
                "khóa thiết bị của ki-ốt không đọc được",
                "the kiosk's device key cannot be read",
            ),
        });
        chunk.extend_from_slice(&c.bytes);
        sigs.push((change.hash().0, c.signature.to_vec()));
    }
    Ok(Checked {
        id,
        changes,
        chunk,
        sigs,
        endorsed,
    })
}

/// Checks a change's supervisor endorsement: a certificate this kiosk's device key issued to a
/// supervisor account of this kiosk, whose key signed this change.
fn endorsement(
    e: &Endorsement,
    key: &PublicKey,
    kiosk: &KioskEntry,
    id: &Uuid,
    hash: &ChangeHash,
) -> Endorsed {
    let cert = &e.certificate;
    if cert.kiosk_id != kiosk.id {
        Endorsed::Invalid(
            "chứng thư thuộc ki-ốt khác",
            "the certificate is another kiosk's",
        )
    } else if !cert.verify_by(key) {
        Endorsed::Invalid(
            "chứng thư không do khóa thiết bị của ki-ốt này ký",
            "the certificate is not signed by this kiosk's device key",
        )
    } else if cert.role != "supervisor" {
        Endorsed::Invalid(
            "chứng thư không phải của giám sát viên",
            "the certificate is not a supervisor's",
        )
    } else if !e.verify(id, hash) {
        Endorsed::Invalid(
            "chữ ký của giám sát viên không khớp thay đổi này",
            "the supervisor's signature does not cover this change",
        )
    } else {
        Endorsed::Supervisor(cert.account.clone())
    }
}

/// A change writing a path its signer may not write: the path, the rule, and for approvals
/// what was wrong with the supervisor's endorsement.
fn write_authority(
    id: &Uuid,
    hash: &ChangeHash,
    v: &authority::Violation,
    e: &Endorsed,
) -> Refusal {
    let short = hex::encode(&hash.0[..4]);
    let (why_vi, why_en) = match (v.rule.writer, e) {
        (authority::Writer::Supervisor, Endorsed::None) => (
            " (không có chữ ký của giám sát viên)".to_owned(),
            " (no supervisor's signature)".to_owned(),
        ),
        (authority::Writer::Supervisor, Endorsed::Invalid(vi, en)) => {
            (format!(" ({vi})"), format!(" ({en})"))
        }
        (authority::Writer::Supervisor, Endorsed::Supervisor(a)) => (
            format!(" (sự kiện không ghi đúng giám sát viên đã ký `{a}`)"),
            format!(" (the event does not name the supervisor who signed, `{a}`)"),
        ),
        _ => (String::new(), String::new()),
    };
    refusal(
        "write_authority",
        format!("hồ sơ {id}, thay đổi {short}: {}{why_vi}", v.message_vi()),
        format!("record {id}, change {short}: {}{why_en}", v.message_en()),
    )
}

/// The signatures of the changes of records that were applied, for the timeline.
#[allow(clippy::type_complexity)]
fn applied_sigs(
    checked: &[(RecordChanges, Option<Result<Checked, Refusal>>)],
    applied: &[(Uuid, Vec<ChangeHash>, Vec<[u8; 32]>)],
    kiosk_id: &str,
) -> Vec<crate::storage::review::ChangeSig> {
    let ok: HashSet<Uuid> = applied.iter().map(|a| a.0).collect();
    checked
        .iter()
        .filter_map(|(_, c)| c.as_ref()?.as_ref().ok())
        .filter(|c| ok.contains(&c.id))
        .flat_map(|c| {
            c.sigs
                .iter()
                .map(|(hash, signature)| crate::storage::review::ChangeSig {
                    record: c.id,
                    hash: *hash,
                    signer: kiosk_id.to_owned(),
                    signature: signature.clone(),
                })
        })
        .collect()
}
