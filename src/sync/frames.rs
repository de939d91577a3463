//! Produces a sealed push or bundle stream lazily, frame by frame, as a `Read`: record changes
//! with the signatures kept when they were saved (the others signed here), then blobs (from the
//! offset HQ holds, in chunks), then the end frame.
//! Records come first because HQ keeps a blob only once a record of this kiosk refers to it.

use automerge::ChangeHash;
use enroll_sync::identity::DeviceKey;
use enroll_sync::protocol::{
    change_signature, sha_from_hex, BlobChunk, Certificate, Frame, Header, Hello, RecordChanges,
    SignedChange, StreamKind, BLOB_CHUNK, CHANGES_FRAME,
};
use enroll_sync::seal::Sealer;
use std::collections::VecDeque;
use std::io::Read;
use std::time::{Duration, Instant};
use uuid::Uuid;

use super::{Progress, Provisioned, SyncError};
use crate::store::Store;

/// What a stream carries: blobs (hex hash, bytes HQ already holds), records (id, heads HQ
/// holds: send the changes after them), and for a bundle the HQ cursor.
pub struct PushPlan {
    pub blobs: Vec<(String, u64)>,
    pub records: Vec<(Uuid, Vec<ChangeHash>)>,
    pub hello: Option<Hello>,
}

pub struct FrameSource<'s, P: FnMut(Progress)> {
    store: &'s Store,
    key: &'s DeviceKey,
    sealer: Sealer,
    blobs: VecDeque<(String, u64)>,
    records: VecDeque<(Uuid, Vec<ChangeHash>)>,
    records_total: usize,
    out: Vec<u8>,
    pos: usize,
    frames: u64,
    done: bool,
    /// Change and blob bytes put into frames.
    pub payload: u64,
    pub records_sent: usize,
    pub bytes_out: u64,
    /// A store error met while producing frames (the stream is then cut short on purpose).
    pub error: Option<SyncError>,
    /// The id in the stream's signed header: HQ's receipt must echo it.
    pub stream_id: [u8; 16],
    pub progress: Option<P>,
    last_progress: Instant,
    bytes_total: u64,
    /// Whether the store holds any supervisor endorsement (else none is looked up per record).
    endorsed: bool,
    kiosk_id: String,
}

impl<'s, P: FnMut(Progress)> FrameSource<'s, P> {
    pub fn new(
        store: &'s Store,
        key: &'s DeviceKey,
        prov: &Provisioned,
        kind: StreamKind,
        plan: PushPlan,
    ) -> Result<Self, SyncError> {
        let mut sealer = Sealer::new(&prov.hq_seal)?;
        let mut out = sealer.header().to_vec();
        let header = Header::new(kind, &prov.kiosk_id, key, sealer.header());
        let stream_id = header.stream_id;
        out.extend(sealer.frame(&Frame::Header(header).encode(), false));
        let mut frames = 1;
        if let Some(h) = plan.hello {
            out.extend(sealer.frame(&Frame::Hello(h).encode(), false));
            frames += 1;
        }
        // An estimate for the time-left figure: blob bytes plus ~1 KB per record.
        let mut bytes_total = plan.records.len() as u64 * 1024;
        for (b, have) in &plan.blobs {
            if let Ok(Some((data, _))) = store.blob(b) {
                bytes_total += (data.len() as u64).saturating_sub(*have);
            }
        }
        Ok(FrameSource {
            store,
            key,
            sealer,
            records_total: plan.records.len(),
            blobs: plan.blobs.into(),
            records: plan.records.into(),
            out,
            pos: 0,
            frames,
            done: false,
            payload: 0,
            records_sent: 0,
            bytes_out: 0,
            error: None,
            stream_id,
            progress: None,
            last_progress: Instant::now(),
            bytes_total,
            endorsed: store.has_endorsements()?,
            kiosk_id: prov.kiosk_id.clone(),
        })
    }

    /// Appends the next frame(s) to `out`; false when the stream is complete.
    fn produce(&mut self) -> Result<bool, SyncError> {
        if self.done {
            return Ok(false);
        }
        let mut groups = Vec::new();
        let mut size = 0;
        let snapshot = (!self.records.is_empty())
            .then(|| self.store.read_snapshot())
            .transpose()?;
        while let Some((id, have)) = self.records.pop_front() {
            let changes = self.store.changes_after(&id, &have)?;
            self.records_sent += 1;
            if changes.is_empty() {
                // HQ holds the changes already (its blobs may have been missing): ask for the ack.
                let heads = self.store.heads(&id)?.unwrap_or_default();
                size += 20 + 32 * heads.len();
                groups.push(RecordChanges {
                    record: id,
                    changes: Vec::new(),
                    heads,
                });
                continue;
            }
            let mut endorsements = if self.endorsed {
                self.store.endorsements(&id)?
            } else {
                Default::default()
            };
            // Signatures this key made when the changes were saved are sent as they are.
            let kept = self.store.change_signatures(&id, &self.key.public())?;
            let signed: Vec<SignedChange> = changes
                .into_iter()
                .map(|(hash, bytes)| {
                    size += bytes.len() + 100;
                    self.payload += bytes.len() as u64;
                    let signature = kept
                        .get(&hash)
                        .copied()
                        .unwrap_or_else(|| change_signature(self.key, id, &hash));
                    let endorsement = endorsements.remove(&hash).map(|mut e| {
                        // Approved before provisioning, this device's certificate named the
                        // kiosk by its old code: it certifies the same key under its HQ id.
                        let own = enroll_sync::identity::PublicKey::from_bytes(&self.key.public())
                            .is_ok_and(|k| e.certificate.verify_by(&k));
                        if own && e.certificate.kiosk_id != self.kiosk_id {
                            let old = &e.certificate;
                            e.certificate = Certificate::issue(
                                self.key,
                                &self.kiosk_id,
                                &old.account,
                                &old.role,
                                old.public_key,
                            );
                        }
                        e
                    });
                    SignedChange {
                        record: id,
                        signature,
                        bytes,
                        endorsement,
                    }
                })
                .collect();
            groups.push(RecordChanges {
                record: id,
                changes: signed,
                heads: Vec::new(),
            });
            if size >= CHANGES_FRAME {
                break;
            }
        }
        drop(snapshot);
        if !groups.is_empty() {
            self.push_frame(&Frame::Changes(groups), false);
            return Ok(true);
        }
        if let Some((hash, have)) = self.blobs.pop_front() {
            let Some(sha) = sha_from_hex(&hash) else {
                return Ok(true);
            };
            if let Some((data, media_type)) = self.store.blob(&hash)? {
                let mut offset = have.min(data.len() as u64) as usize;
                while offset < data.len() {
                    let end = (offset + BLOB_CHUNK).min(data.len());
                    let chunk = BlobChunk {
                        sha256: sha,
                        media_type: media_type.clone(),
                        total: data.len() as u64,
                        offset: offset as u64,
                        data: data[offset..end].to_vec(),
                    };
                    self.payload += (end - offset) as u64;
                    let packed = matches!(
                        media_type.as_str(),
                        "image/jpeg" | "image/png" | "image/webp"
                    );
                    self.push_frame_with(&Frame::Blob(chunk), false, !packed);
                    offset = end;
                }
            }
            return Ok(true);
        }
        let end = Frame::End {
            frames: self.frames,
        };
        self.push_frame(&end, true);
        self.done = true;
        Ok(true)
    }

    fn push_frame(&mut self, frame: &Frame, last: bool) {
        self.push_frame_with(frame, last, true);
    }

    fn push_frame_with(&mut self, frame: &Frame, last: bool, compress: bool) {
        self.out
            .extend(self.sealer.frame_with(&frame.encode(), last, compress));
        self.frames += 1;
    }

    fn report(&mut self) {
        if self.last_progress.elapsed() < Duration::from_millis(250) && !self.done {
            return;
        }
        self.last_progress = Instant::now();
        let p = Progress {
            records_done: self.records_sent,
            records_total: self.records_total,
            bytes_done: self.bytes_out,
            bytes_total: self.bytes_total.max(self.bytes_out),
        };
        if let Some(f) = self.progress.as_mut() {
            f(p);
        }
    }
}

impl<P: FnMut(Progress)> Read for FrameSource<'_, P> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.out.len() {
            self.out.clear();
            self.pos = 0;
            match self.produce() {
                Ok(true) => {}
                Ok(false) => return Ok(0),
                Err(e) => {
                    self.error = Some(e);
                    return Err(std::io::Error::other("could not read the store"));
                }
            }
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        self.bytes_out += n as u64;
        self.report();
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use enroll_sync::record::{example, new_record_id, Attribution, Enrollment};
    use enroll_sync::seal::{open_all, SealSecret};

    fn by() -> Attribution {
        Attribution {
            person: "op-1".into(),
            device: "KS01".into(),
            at: chrono::Utc::now(),
        }
    }

    fn record() -> Enrollment {
        let mut r = example(chrono::Utc::now());
        r.id = new_record_id();
        r
    }

    /// A record saved while the device key file could not be read has no kept signature; one
    /// saved after it was restored has. The push sends both, each signed by the device key.
    #[test]
    fn kept_signatures_are_sent_and_changes_without_one_are_signed_here() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key_file = dir.path().join(crate::DEVICE_KEY_FILE);
        std::fs::write(&key_file, b"damaged").expect("write");
        let unsigned = record();
        Store::open(dir.path())
            .expect("open")
            .save(&unsigned, &by())
            .expect("save");
        std::fs::remove_file(&key_file).expect("restore");
        let mut store = Store::open(dir.path()).expect("open again");
        let kept = record();
        store.save(&kept, &by()).expect("save");
        let key = crate::store::vault::device_key(dir.path()).expect("key");
        let public = key.public();
        assert!(store
            .change_signatures(&unsigned.id, &public)
            .expect("none")
            .is_empty());
        assert_eq!(
            store
                .change_signatures(&kept.id, &public)
                .expect("one")
                .len(),
            1
        );

        let hq = SealSecret::generate();
        let prov = Provisioned {
            hq_url: "http://hq.invalid".into(),
            hq_sign: [0; 32],
            hq_seal: hq.public(),
            kiosk_id: "KS01".into(),
            hq_tls_pin: None,
        };
        let plan = PushPlan {
            blobs: Vec::new(),
            records: vec![(unsigned.id, Vec::new()), (kept.id, Vec::new())],
            hello: None,
        };
        let mut source =
            FrameSource::<fn(Progress)>::new(&store, &key, &prov, StreamKind::Push, plan)
                .expect("source");
        let mut bytes = Vec::new();
        source.read_to_end(&mut bytes).expect("stream");
        let mut signed = Vec::new();
        for f in open_all(&hq, &bytes).expect("opens") {
            if let Frame::Changes(groups) = Frame::decode(&f).expect("frame") {
                for c in groups.into_iter().flat_map(|g| g.changes) {
                    let hash = automerge::Change::from_bytes(c.bytes.clone())
                        .expect("change")
                        .hash();
                    assert!(c.verify(&public, &hash), "{} does not verify", c.record);
                    signed.push(c.record);
                }
            }
        }
        assert_eq!(signed, [unsigned.id, kept.id]);
    }
}
