//! Sync messages between a kiosk and HQ, and the signatures on them.
//!
//! Kiosk → HQ is a sealed stream of frames: `Header` (signed by the device key, bound to the
//! stream's ephemeral key), then `Hello`, or `Blob` chunks and `Changes`, then `End`.
//! HQ → kiosk is one sealed `Reply` holding a `Receipt` signed by HQ. The receipt carries
//! everything the kiosk acts on and echoes the stream id the kiosk chose for its request, so a
//! reply answers one request only (protocol 2).

use automerge::ChangeHash;
use uuid::Uuid;

use crate::audit::{AuditProof, Checkpoint, Link};
use crate::identity::{self, DeviceKey, SIGNATURE_LEN};
use crate::wire::{Reader, WireError, Writer};

pub const DOMAIN_CHANGE: &str = "enroll/change/v1";
pub const DOMAIN_SESSION: &str = "enroll/session/v1";
pub const DOMAIN_RECEIPT: &str = "enroll/receipt/v2";
/// The device key certifying an account's own key (kiosk, account, role, account key).
pub const DOMAIN_ACCOUNT_CERT: &str = "enroll/account-cert/v1";
/// An account's own key signing a change it made (a supervisor's approval or return).
pub const DOMAIN_ENDORSE: &str = "enroll/endorse/v1";

/// The sync protocol this build speaks; the header carries it and HQ refuses any other.
/// 2: receipts hold HQ's heads, blob offsets and audit checkpoint, bound to the stream id.
/// 3: a change may carry a supervisor's endorsement (certificate and signature); each change
/// HQ sends down carries HQ's signature.
pub const PROTOCOL: u8 = 3;

/// Blobs travel in chunks of at most this many bytes.
pub const BLOB_CHUNK: usize = 256 * 1024;
/// A `Changes` frame is closed once its changes reach about this size.
pub const CHANGES_FRAME: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Hello = 1,
    Push = 2,
    Bundle = 3,
}

/// Who sends the stream; signed together with the stream's ephemeral key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The protocol the sender speaks (`PROTOCOL`); 1 for kiosks that did not say.
    pub version: u8,
    pub kind: StreamKind,
    pub kiosk_id: String,
    pub stream_id: [u8; 16],
    pub created_ms: u64,
    pub signature: [u8; SIGNATURE_LEN],
}

impl Header {
    fn signed_body(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(self.kind as u8)
            .str(&self.kiosk_id)
            .fixed(&self.stream_id)
            .u64(self.created_ms);
        if self.version >= 2 {
            w.u8(self.version);
        }
        w.finish()
    }

    pub fn new(kind: StreamKind, kiosk_id: &str, key: &DeviceKey, stream_header: &[u8]) -> Self {
        let mut h = Header {
            version: PROTOCOL,
            kind,
            kiosk_id: kiosk_id.to_owned(),
            stream_id: rand::random(),
            created_ms: chrono::Utc::now().timestamp_millis().max(0) as u64,
            signature: [0; SIGNATURE_LEN],
        };
        h.signature = key.sign(DOMAIN_SESSION, &[stream_header, &h.signed_body()]);
        h
    }

    pub fn verify(&self, public: &[u8], stream_header: &[u8]) -> bool {
        let body = self.signed_body();
        identity::verify(
            public,
            DOMAIN_SESSION,
            &[stream_header, &body],
            &self.signature,
        )
        .is_ok()
    }
}

/// An account's own Ed25519 key, certified by its kiosk's device key: which kiosk, which
/// account, in which role. Public: kept in plain and sent with the changes it endorses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub kiosk_id: String,
    pub account: String,
    /// `supervisor` or `operator`.
    pub role: String,
    pub public_key: [u8; identity::PUBLIC_KEY_LEN],
    /// The device key's signature over the fields above.
    pub signature: [u8; SIGNATURE_LEN],
}

/// Longest kiosk id, account name or role a certificate may hold.
pub const CERT_FIELD_MAX: usize = 64;

impl Certificate {
    fn parts(&self) -> [&[u8]; 4] {
        [
            self.kiosk_id.as_bytes(),
            self.account.as_bytes(),
            self.role.as_bytes(),
            &self.public_key,
        ]
    }

    pub fn issue(
        device: &DeviceKey,
        kiosk_id: &str,
        account: &str,
        role: &str,
        public_key: [u8; identity::PUBLIC_KEY_LEN],
    ) -> Self {
        let mut c = Certificate {
            kiosk_id: kiosk_id.to_owned(),
            account: account.to_owned(),
            role: role.to_owned(),
            public_key,
            signature: [0; SIGNATURE_LEN],
        };
        c.signature = device.sign(DOMAIN_ACCOUNT_CERT, &c.parts());
        c
    }

    /// Whether `device` (the kiosk's public key) issued this certificate.
    pub fn verify_by(&self, device: &identity::PublicKey) -> bool {
        device
            .verify(DOMAIN_ACCOUNT_CERT, &self.parts(), &self.signature)
            .is_ok()
    }

    fn put(&self, w: &mut Writer) {
        w.str(&self.kiosk_id).str(&self.account).str(&self.role);
        w.fixed(&self.public_key).fixed(&self.signature);
    }

    fn get(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let mut field = || -> Result<String, WireError> {
            let s = r.str()?;
            if s.len() > CERT_FIELD_MAX {
                return Err(WireError("certificate field too long"));
            }
            Ok(s)
        };
        let (kiosk_id, account, role) = (field()?, field()?, field()?);
        Ok(Certificate {
            kiosk_id,
            account,
            role,
            public_key: r.array()?,
            signature: r.array()?,
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.put(&mut w);
        w.finish()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let c = Self::get(&mut r)?;
        r.end()?;
        Ok(c)
    }
}

/// A change signed, besides the device key, by the account that made it (a supervisor's
/// approval or return), with that account's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endorsement {
    pub certificate: Certificate,
    pub signature: [u8; SIGNATURE_LEN],
}

impl Endorsement {
    pub fn sign(
        account_key: &DeviceKey,
        certificate: Certificate,
        record: Uuid,
        hash: &ChangeHash,
    ) -> Self {
        Endorsement {
            signature: account_key.sign(DOMAIN_ENDORSE, &[record.as_bytes(), &hash.0]),
            certificate,
        }
    }

    /// Whether the certified key signed this change of `record`.
    pub fn verify(&self, record: &Uuid, hash: &ChangeHash) -> bool {
        identity::verify(
            &self.certificate.public_key,
            DOMAIN_ENDORSE,
            &[record.as_bytes(), &hash.0],
            &self.signature,
        )
        .is_ok()
    }
}

/// One Automerge change of a record, signed over the record id and the change hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedChange {
    pub record: Uuid,
    pub signature: [u8; SIGNATURE_LEN],
    pub bytes: Vec<u8>,
    /// A supervisor's own signature, for changes that approve or return the record.
    pub endorsement: Option<Endorsement>,
}

/// The device key's signature on one change of `record`. Ed25519 signatures are
/// deterministic, so one made when the change was saved is the one a push would make.
pub fn change_signature(key: &DeviceKey, record: Uuid, hash: &ChangeHash) -> [u8; SIGNATURE_LEN] {
    key.sign(DOMAIN_CHANGE, &[record.as_bytes(), &hash.0])
}

impl SignedChange {
    pub fn sign(key: &DeviceKey, record: Uuid, hash: &ChangeHash, bytes: Vec<u8>) -> Self {
        SignedChange {
            record,
            signature: change_signature(key, record, hash),
            bytes,
            endorsement: None,
        }
    }

    pub fn verify(&self, public: &[u8], hash: &ChangeHash) -> bool {
        identity::verify(
            public,
            DOMAIN_CHANGE,
            &[self.record.as_bytes(), &hash.0],
            &self.signature,
        )
        .is_ok()
    }

    /// As `verify`, with the key decoded once for many changes.
    pub fn verify_by(&self, key: &identity::PublicKey, hash: &ChangeHash) -> bool {
        key.verify(
            DOMAIN_CHANGE,
            &[self.record.as_bytes(), &hash.0],
            &self.signature,
        )
        .is_ok()
    }
    /// Per change (with its hash): whether `key` signed it, checked as one batch.
    pub fn verify_each(
        key: &identity::PublicKey,
        changes: &[(&SignedChange, ChangeHash)],
    ) -> Vec<bool> {
        let parts: Vec<[&[u8]; 2]> = changes
            .iter()
            .map(|(c, hash)| [c.record.as_bytes().as_slice(), hash.0.as_slice()])
            .collect();
        let items: Vec<(&[&[u8]], &[u8])> = parts
            .iter()
            .zip(changes)
            .map(|(p, (c, _))| (p.as_slice(), c.signature.as_slice()))
            .collect();
        key.verify_each(DOMAIN_CHANGE, &items)
    }
}

/// The changes a stream carries for one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordChanges {
    pub record: Uuid,
    pub changes: Vec<SignedChange>,
    /// Only when `changes` is empty: the kiosk's heads, for HQ to acknowledge if it holds them
    /// (a record whose changes arrived earlier but whose blobs were still missing).
    pub heads: Vec<ChangeHash>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobChunk {
    pub sha256: [u8; 32],
    pub media_type: String,
    pub total: u64,
    pub offset: u64,
    pub data: Vec<u8>,
}

/// What a kiosk offers at the start of a session: its unacknowledged records with their
/// heads, the blobs they reference, and how far it has read HQ's changes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hello {
    pub cursor: u64,
    /// Each record with a digest of its heads (`heads_digest`): HQ holding heads with the
    /// same digest holds the record as the kiosk has it.
    pub records: Vec<(Uuid, [u8; 8])>,
    pub blobs: Vec<[u8; 32]>,
    /// What the kiosk reports about itself, for HQ's fleet view (absent from older kiosks).
    pub telemetry: Option<Telemetry>,
    /// The kiosk's audit log since the checkpoint HQ last acknowledged, ending in a new one.
    pub audit: Option<AuditProof>,
}

/// A kiosk's state as it reports it in each hello. Times are Unix milliseconds, 0 = none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Telemetry {
    pub software_version: String,
    pub free_bytes: u64,
    /// Records not yet acknowledged by HQ.
    pub records_waiting: u64,
    pub oldest_waiting_ms: u64,
    pub last_capture_ms: u64,
    /// The kiosk's clock when it made the hello.
    pub clock_ms: u64,
}

/// An 8-byte digest of a record's heads, order-independent; sent instead of the heads.
pub fn heads_digest(heads: &[ChangeHash]) -> [u8; 8] {
    use sha2::Digest;
    let mut sorted = heads.to_vec();
    sorted.sort();
    let mut h = sha2::Sha256::new();
    for x in &sorted {
        h.update(x.0);
    }
    let d = h.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&d[..8]);
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Header(Header),
    Hello(Hello),
    Blob(BlobChunk),
    Changes(Vec<RecordChanges>),
    End { frames: u64 },
}

fn put_heads(w: &mut Writer, heads: &[ChangeHash]) {
    w.u32(heads.len() as u32);
    for h in heads {
        w.fixed(&h.0);
    }
}

fn get_heads(r: &mut Reader<'_>) -> Result<Vec<ChangeHash>, WireError> {
    let n = r.count(32)?;
    (0..n).map(|_| Ok(ChangeHash(r.array()?))).collect()
}

fn get_uuid(r: &mut Reader<'_>) -> Result<Uuid, WireError> {
    Ok(Uuid::from_bytes(r.array()?))
}

fn get_audit(r: &mut Reader<'_>) -> Result<AuditProof, WireError> {
    let after = r.u64()?;
    let after_hash = r.array()?;
    // Each entry is at least its number and six length prefixes.
    let n = r.count(32)?;
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        let seq = r.u64()?;
        let fields = [r.str()?, r.str()?, r.str()?, r.str()?, r.str()?, r.str()?];
        entries.push(Link { seq, fields });
    }
    let checkpoint = Checkpoint {
        count: r.u64()?,
        head: r.array()?,
        at: r.str()?,
        signature: r.array()?,
    };
    Ok(AuditProof {
        after,
        after_hash,
        entries,
        checkpoint,
    })
}

impl Frame {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            Frame::Header(h) => {
                w.u8(1)
                    .u8(h.kind as u8)
                    .str(&h.kiosk_id)
                    .fixed(&h.stream_id);
                w.u64(h.created_ms).fixed(&h.signature);
                if h.version >= 2 {
                    w.u8(h.version);
                }
            }
            Frame::Hello(h) => {
                w.u8(2).u64(h.cursor).u32(h.records.len() as u32);
                for (id, digest) in &h.records {
                    w.fixed(id.as_bytes()).fixed(digest);
                }
                w.u32(h.blobs.len() as u32);
                for b in &h.blobs {
                    w.fixed(b);
                }
                match &h.telemetry {
                    Some(t) => {
                        w.u8(1).str(&t.software_version).u64(t.free_bytes);
                        w.u64(t.records_waiting).u64(t.oldest_waiting_ms);
                        w.u64(t.last_capture_ms).u64(t.clock_ms);
                    }
                    None => {
                        w.u8(0);
                    }
                }
                match &h.audit {
                    Some(a) => {
                        w.u8(1).u64(a.after).fixed(&a.after_hash);
                        w.u32(a.entries.len() as u32);
                        for e in &a.entries {
                            w.u64(e.seq);
                            for f in &e.fields {
                                w.str(f);
                            }
                        }
                        let c = &a.checkpoint;
                        w.u64(c.count).fixed(&c.head).str(&c.at).fixed(&c.signature);
                    }
                    None => {
                        w.u8(0);
                    }
                }
            }
            Frame::Blob(b) => {
                w.u8(3).fixed(&b.sha256).str(&b.media_type).u64(b.total);
                w.u64(b.offset).bytes(&b.data);
            }
            Frame::Changes(groups) => {
                w.u8(4).u32(groups.len() as u32);
                for g in groups {
                    w.fixed(g.record.as_bytes()).u32(g.changes.len() as u32);
                    for c in &g.changes {
                        w.fixed(c.record.as_bytes())
                            .fixed(&c.signature)
                            .bytes(&c.bytes);
                        match &c.endorsement {
                            Some(e) => {
                                w.u8(1);
                                e.certificate.put(&mut w);
                                w.fixed(&e.signature);
                            }
                            None => {
                                w.u8(0);
                            }
                        }
                    }
                    put_heads(&mut w, &g.heads);
                }
            }
            Frame::End { frames } => {
                w.u8(5).u64(*frames);
            }
        }
        w.finish()
    }

    pub fn decode(bytes: &[u8]) -> Result<Frame, WireError> {
        let mut r = Reader::new(bytes);
        let f = match r.u8()? {
            1 => {
                let kind = match r.u8()? {
                    1 => StreamKind::Hello,
                    2 => StreamKind::Push,
                    3 => StreamKind::Bundle,
                    _ => return Err(WireError("unknown stream kind")),
                };
                let mut h = Header {
                    version: 1,
                    kind,
                    kiosk_id: r.str()?,
                    stream_id: r.array()?,
                    created_ms: r.u64()?,
                    signature: r.array()?,
                };
                if !r.is_empty() {
                    h.version = r.u8()?;
                }
                Frame::Header(h)
            }
            2 => {
                let cursor = r.u64()?;
                let n = r.count(24)?;
                let mut records = Vec::with_capacity(n);
                for _ in 0..n {
                    records.push((get_uuid(&mut r)?, r.array()?));
                }
                let n = r.count(32)?;
                let blobs = (0..n).map(|_| r.array()).collect::<Result<_, _>>()?;
                let telemetry = match r.u8()? {
                    0 => None,
                    1 => Some(Telemetry {
                        software_version: r.str()?,
                        free_bytes: r.u64()?,
                        records_waiting: r.u64()?,
                        oldest_waiting_ms: r.u64()?,
                        last_capture_ms: r.u64()?,
                        clock_ms: r.u64()?,
                    }),
                    _ => return Err(WireError("unknown telemetry version")),
                };
                let audit = match r.u8()? {
                    0 => None,
                    1 => Some(get_audit(&mut r)?),
                    _ => return Err(WireError("unknown audit proof version")),
                };
                Frame::Hello(Hello {
                    cursor,
                    records,
                    blobs,
                    telemetry,
                    audit,
                })
            }
            3 => Frame::Blob(BlobChunk {
                sha256: r.array()?,
                media_type: r.str()?,
                total: r.u64()?,
                offset: r.u64()?,
                data: r.bytes()?.to_vec(),
            }),
            4 => {
                let n = r.count(20)?;
                let mut groups = Vec::with_capacity(n);
                for _ in 0..n {
                    let record = get_uuid(&mut r)?;
                    // Each change: record, signature, length prefix, endorsement flag.
                    let m = r.count(85)?;
                    let mut changes = Vec::with_capacity(m);
                    for _ in 0..m {
                        let record = get_uuid(&mut r)?;
                        let signature = r.array()?;
                        let bytes = r.bytes()?.to_vec();
                        let endorsement = match r.u8()? {
                            0 => None,
                            1 => Some(Endorsement {
                                certificate: Certificate::get(&mut r)?,
                                signature: r.array()?,
                            }),
                            _ => return Err(WireError("unknown endorsement form")),
                        };
                        changes.push(SignedChange {
                            record,
                            signature,
                            bytes,
                            endorsement,
                        });
                    }
                    let heads = get_heads(&mut r)?;
                    groups.push(RecordChanges {
                        record,
                        changes,
                        heads,
                    });
                }
                Frame::Changes(groups)
            }
            5 => Frame::End { frames: r.u64()? },
            _ => return Err(WireError("unknown frame type")),
        };
        r.end()?;
        Ok(f)
    }
}

/// Why HQ refused a record's changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub record: Uuid,
    pub code: String,
    pub message_vi: String,
    pub message_en: String,
}

/// HQ's changes to one record, for the kiosk that made it, with HQ's heads after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downlink {
    pub record: Uuid,
    pub heads: Vec<ChangeHash>,
    pub changes: Vec<Vec<u8>>,
    /// HQ's signature (`DOMAIN_CHANGE`, HQ's key) on each of `changes`, in order; the kiosk
    /// merges only changes HQ signed, and only into HQ's paths.
    pub signatures: Vec<[u8; SIGNATURE_LEN]>,
}

/// HQ's signed statement, answering one stream: which record heads it holds whole, what it
/// refused, its own changes, and (for a hello) what to send next. Everything a kiosk acts on
/// is in here, under HQ's signature.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Receipt {
    pub id: String,
    pub kiosk_id: String,
    pub issued_ms: u64,
    /// The stream this answers: the random id the kiosk put in its signed header.
    pub stream_id: [u8; 16],
    /// The kind of that stream (`StreamKind as u8`).
    pub kind: u8,
    /// HQ's change log position after `downlink`.
    pub cursor: u64,
    /// Records HQ holds at these heads with every blob they reference, whole and checked.
    pub acks: Vec<(Uuid, Vec<ChangeHash>)>,
    pub rejections: Vec<Rejection>,
    pub downlink: Vec<Downlink>,
    /// For offered records not acknowledged: the heads HQ holds (send changes after these).
    pub hq_heads: Vec<(Uuid, Vec<ChangeHash>)>,
    /// For offered blobs: how many bytes HQ holds (a complete blob is not offered back).
    pub blobs_have: Vec<([u8; 32], u64)>,
    /// The kiosk's audit checkpoint HQ holds after this stream: (entries, chain head).
    pub audit: Option<(u64, [u8; 32])>,
}

impl Receipt {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.str(&self.id).str(&self.kiosk_id).u64(self.issued_ms);
        w.fixed(&self.stream_id).u8(self.kind).u64(self.cursor);
        w.u32(self.acks.len() as u32);
        for (id, heads) in &self.acks {
            w.fixed(id.as_bytes());
            put_heads(&mut w, heads);
        }
        w.u32(self.rejections.len() as u32);
        for j in &self.rejections {
            w.fixed(j.record.as_bytes()).str(&j.code);
            w.str(&j.message_vi).str(&j.message_en);
        }
        w.u32(self.downlink.len() as u32);
        for d in &self.downlink {
            w.fixed(d.record.as_bytes());
            put_heads(&mut w, &d.heads);
            w.u32(d.changes.len() as u32);
            for (i, c) in d.changes.iter().enumerate() {
                w.bytes(c);
                w.fixed(d.signatures.get(i).unwrap_or(&[0; SIGNATURE_LEN]));
            }
        }
        w.u32(self.hq_heads.len() as u32);
        for (id, heads) in &self.hq_heads {
            w.fixed(id.as_bytes());
            put_heads(&mut w, heads);
        }
        w.u32(self.blobs_have.len() as u32);
        for (h, n) in &self.blobs_have {
            w.fixed(h).u64(*n);
        }
        match &self.audit {
            Some((count, head)) => {
                w.u8(1).u64(*count).fixed(head);
            }
            None => {
                w.u8(0);
            }
        }
        w.finish()
    }

    pub fn decode(bytes: &[u8]) -> Result<Receipt, WireError> {
        let mut r = Reader::new(bytes);
        let mut out = Receipt {
            id: r.str()?,
            kiosk_id: r.str()?,
            issued_ms: r.u64()?,
            stream_id: r.array()?,
            kind: r.u8()?,
            cursor: r.u64()?,
            ..Receipt::default()
        };
        for _ in 0..r.count(20)? {
            out.acks.push((get_uuid(&mut r)?, get_heads(&mut r)?));
        }
        for _ in 0..r.count(28)? {
            out.rejections.push(Rejection {
                record: get_uuid(&mut r)?,
                code: r.str()?,
                message_vi: r.str()?,
                message_en: r.str()?,
            });
        }
        for _ in 0..r.count(24)? {
            let record = get_uuid(&mut r)?;
            let heads = get_heads(&mut r)?;
            let n = r.count(4 + SIGNATURE_LEN)?;
            let mut changes = Vec::with_capacity(n);
            let mut signatures = Vec::with_capacity(n);
            for _ in 0..n {
                changes.push(r.bytes()?.to_vec());
                signatures.push(r.array()?);
            }
            out.downlink.push(Downlink {
                record,
                heads,
                changes,
                signatures,
            });
        }
        for _ in 0..r.count(20)? {
            out.hq_heads.push((get_uuid(&mut r)?, get_heads(&mut r)?));
        }
        for _ in 0..r.count(40)? {
            out.blobs_have.push((r.array()?, r.u64()?));
        }
        out.audit = match r.u8()? {
            0 => None,
            1 => Some((r.u64()?, r.array()?)),
            _ => return Err(WireError("unknown audit checkpoint form")),
        };
        r.end()?;
        Ok(out)
    }

    /// Whether this receipt answers the stream `stream_id` of `kind` that this kiosk sent.
    pub fn answers(&self, stream_id: &[u8; 16], kind: StreamKind) -> bool {
        self.stream_id == *stream_id && self.kind == kind as u8
    }
}

/// HQ's answer to a stream: the receipt and HQ's signature over it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    pub receipt: Vec<u8>,
    pub signature: Vec<u8>,
}

impl Reply {
    pub fn signed(receipt: &Receipt, key: &DeviceKey) -> Reply {
        let bytes = receipt.encode();
        Reply {
            signature: key.sign(DOMAIN_RECEIPT, &[&bytes]).to_vec(),
            receipt: bytes,
        }
    }

    /// The receipt, if HQ's signing key `hq_public` signed it.
    pub fn verified_receipt(&self, hq_public: &[u8]) -> Result<Receipt, ReplyError> {
        identity::verify(hq_public, DOMAIN_RECEIPT, &[&self.receipt], &self.signature)
            .map_err(|_| ReplyError::BadSignature)?;
        Ok(Receipt::decode(&self.receipt)?)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.bytes(&self.receipt).bytes(&self.signature);
        w.finish()
    }

    pub fn decode(bytes: &[u8]) -> Result<Reply, WireError> {
        let mut r = Reader::new(bytes);
        let out = Reply {
            receipt: r.bytes()?.to_vec(),
            signature: r.bytes()?.to_vec(),
        };
        r.end()?;
        Ok(out)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    #[error("HQ's signature on the receipt does not verify: it was not issued by this HQ or was altered")]
    BadSignature,
    #[error(transparent)]
    Wire(#[from] WireError),
}

/// Every blob hash a record refers to: values of keys named `sha256` or ending in `_sha256`.
pub fn blob_refs(record: &serde_json::Value, out: &mut Vec<String>) {
    match record {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                if k == "sha256" || k.ends_with("_sha256") {
                    if let Some(s) = v.as_str() {
                        out.push(s.to_owned());
                    }
                } else {
                    blob_refs(v, out);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| blob_refs(v, out)),
        _ => {}
    }
}

pub fn sha_from_hex(s: &str) -> Option<[u8; 32]> {
    let v = hex::decode(s).ok()?;
    v.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_receipts_round_trip() {
        let key = DeviceKey::generate();
        let id = Uuid::new_v4();
        let h = ChangeHash([9; 32]);
        let frames = vec![
            Frame::Header(Header::new(StreamKind::Push, "K00001", &key, b"hdr")),
            Frame::Hello(Hello {
                cursor: 7,
                records: vec![(id, heads_digest(&[h]))],
                blobs: vec![[1; 32]],
                telemetry: None,
                audit: None,
            }),
            Frame::Hello(Hello {
                cursor: 8,
                records: vec![],
                blobs: vec![],
                telemetry: Some(Telemetry {
                    software_version: "0.1.0".into(),
                    free_bytes: 5 << 30,
                    records_waiting: 12,
                    oldest_waiting_ms: 1_780_000_000_000,
                    last_capture_ms: 1_780_000_100_000,
                    clock_ms: 1_780_000_200_000,
                }),
                audit: Some(AuditProof {
                    after: 3,
                    after_hash: [4; 32],
                    entries: vec![Link {
                        seq: 4,
                        fields: [
                            "t".into(),
                            "op".into(),
                            "K".into(),
                            "a".into(),
                            "".into(),
                            "d".into(),
                        ],
                    }],
                    checkpoint: Checkpoint::sign(&key, 4, [5; 32], "2026-06-01T08:00:00Z".into()),
                }),
            }),
            Frame::Blob(BlobChunk {
                sha256: [2; 32],
                media_type: "image/jpeg".into(),
                total: 10,
                offset: 0,
                data: vec![1, 2, 3],
            }),
            Frame::Changes(vec![RecordChanges {
                record: id,
                changes: vec![SignedChange::sign(&key, id, &h, vec![5; 40]), {
                    let sup = DeviceKey::generate();
                    let cert =
                        Certificate::issue(&key, "K00001", "sup", "supervisor", sup.public());
                    let mut c = SignedChange::sign(&key, id, &h, vec![6; 40]);
                    c.endorsement = Some(Endorsement::sign(&sup, cert, id, &h));
                    c
                }],
                heads: vec![],
            }]),
            Frame::End { frames: 4 },
        ];
        for f in frames {
            assert_eq!(Frame::decode(&f.encode()).expect("decodes"), f);
        }
        let receipt = Receipt {
            id: "R1".into(),
            kiosk_id: "K00001".into(),
            stream_id: [7; 16],
            kind: StreamKind::Hello as u8,
            acks: vec![(id, vec![h])],
            downlink: vec![Downlink {
                record: id,
                heads: vec![h],
                changes: vec![vec![1, 2]],
                signatures: vec![[9; 64]],
            }],
            hq_heads: vec![(id, vec![h])],
            blobs_have: vec![([3; 32], 10)],
            audit: Some((4, [5; 32])),
            ..Receipt::default()
        };
        let reply = Reply::signed(&receipt, &key);
        let back = Reply::decode(&reply.encode()).expect("decodes");
        assert_eq!(back.verified_receipt(&key.public()).expect("ok"), receipt);
        assert!(back
            .verified_receipt(&DeviceKey::generate().public())
            .is_err());
        assert!(receipt.answers(&[7; 16], StreamKind::Hello));
        assert!(!receipt.answers(&[7; 16], StreamKind::Push));
        assert!(!receipt.answers(&[8; 16], StreamKind::Hello));
        // What the kiosk acts on is signed: moving HQ's heads or blob offsets breaks it.
        let mut altered = receipt.clone();
        altered.blobs_have.clear();
        let forged = Reply {
            receipt: altered.encode(),
            signature: reply.signature.clone(),
        };
        assert!(forged.verified_receipt(&key.public()).is_err());
    }
}
