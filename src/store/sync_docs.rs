//! What sync needs from the store: the records HQ has not acknowledged with their heads and
//! blobs, their changes after given heads, HQ's changes merged in, and provisioning settings.

use automerge::{Change, ChangeHash};
use enroll_sync::record::{
    change_hashes, first_change_blob_refs, guarded, split_changes, Attribution, DocError, RecordDoc,
};
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

use super::records::{blob_refs_of, heads_bytes, heads_from, load_chunks, Projection};
use super::{timestamp, Store, StoreError};

/// A record HQ has not acknowledged as it stands now.
#[derive(Debug, Clone)]
pub struct PendingRecord {
    pub id: Uuid,
    pub heads: Vec<ChangeHash>,
    /// SHA-256 (hex) of every blob the record refers to.
    pub blobs: Vec<String>,
}

impl Store {
    /// Every record whose current heads HQ has not acknowledged, oldest first. Blob references
    /// are read off the row; a row written before they were kept there has its chunks read on
    /// this connection and decoded on all cores, a batch at a time.
    pub fn pending_sync(&self) -> Result<Vec<PendingRecord>, StoreError> {
        const BATCH: usize = 2_000;
        let ids = self.unacknowledged()?;
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut out = Vec::with_capacity(ids.len());
        for batch in ids.chunks(BATCH) {
            // In order; `None` where the row's document is to be decoded (`raw`, by position).
            let mut slots: Vec<Option<PendingRecord>> = Vec::with_capacity(batch.len());
            let mut raw = Vec::new();
            for id in batch {
                let row: Option<(i64, Vec<u8>, Option<String>)> = self
                    .conn
                    .prepare_cached("SELECT seq, heads, blob_refs FROM records WHERE id = ?1")?
                    .query_row([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()?;
                match row {
                    // Every write of a record writes its blob references with its heads.
                    Some((_, heads, Some(refs))) => slots.push(Some(PendingRecord {
                        id: *id,
                        heads: heads_from(&heads),
                        blobs: refs.split_whitespace().map(str::to_owned).collect(),
                    })),
                    Some((seq, heads, None)) => {
                        raw.push((
                            slots.len(),
                            *id,
                            heads_from(&heads),
                            load_chunks(&self.conn, seq)?,
                        ));
                        slots.push(None);
                    }
                    None => {}
                }
            }
            let per = raw.len().div_ceil(workers).max(1);
            let actor = &self.kiosk.actor;
            let parts: Vec<Result<Vec<(usize, PendingRecord)>, StoreError>> =
                std::thread::scope(|s| {
                    let handles: Vec<_> = raw
                        .chunks(per)
                        .map(|part| {
                            s.spawn(move || {
                                part.iter()
                                    .map(|(at, id, heads, bytes)| {
                                        Ok((*at, pending_of(*id, heads, bytes, actor)?))
                                    })
                                    .collect()
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                        .collect()
                });
            for part in parts {
                for (at, p) in part? {
                    slots[at] = Some(p);
                }
            }
            out.extend(slots.into_iter().flatten());
        }
        Ok(out)
    }

    /// The record's changes that follow `have` (heads this store does not know are ignored),
    /// each with its hash, in dependency order.
    pub fn changes_after(
        &self,
        id: &Uuid,
        have: &[ChangeHash],
    ) -> Result<Vec<(ChangeHash, Vec<u8>)>, StoreError> {
        let seq: Option<i64> = self
            .conn
            .prepare_cached("SELECT seq FROM records WHERE id = ?1")?
            .query_row([id.to_string()], |r| r.get(0))
            .optional()?;
        let Some(seq) = seq else {
            return Ok(Vec::new());
        };
        let bytes = load_chunks(&self.conn, seq)?;
        // Records stored as change chunks (never compacted) give their changes without
        // building the document: most records waiting for sync were saved once or twice.
        // HQ holding none of them (a new record) needs no change decoded at all.
        if have.is_empty() {
            if let Some(changes) = change_hashes(&bytes) {
                let mut seen = HashSet::new();
                return Ok(changes
                    .into_iter()
                    .filter(|(hash, _)| seen.insert(*hash))
                    .collect());
            }
        }
        if let Some(changes) = split_changes(&bytes) {
            return Ok(changes_not_in(changes, have));
        }
        let mut doc = RecordDoc::load(&bytes, self.kiosk.actor.clone())?;
        let am = doc.automerge();
        let known: Vec<ChangeHash> = have
            .iter()
            .copied()
            .filter(|h| am.get_change_by_hash(h).is_some())
            .collect();
        Ok(am
            .get_changes(&known)
            .into_iter()
            .map(|c| (c.hash(), c.raw_bytes().to_vec()))
            .collect())
    }

    /// The record's current heads, if stored.
    pub fn heads(&self, id: &Uuid) -> Result<Option<Vec<ChangeHash>>, StoreError> {
        let h: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT heads FROM records WHERE id = ?1",
                [id.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(h.map(|b| heads_from(&b)))
    }

    /// Merges changes made elsewhere (HQ) into a stored record in one transaction: document,
    /// projection and an audit entry. Returns false when the record is unknown or nothing changed.
    /// Each change must pass `check` (its index, the document with the changes merged, the
    /// change) first: one that does not is `Ok(Err(why))` and nothing is written.
    pub fn merge_remote(
        &mut self,
        id: &Uuid,
        changes: &[Vec<u8>],
        by: &Attribution,
        check: &dyn Fn(usize, &automerge::AutoCommit, &Change) -> Result<(), String>,
    ) -> Result<Result<bool, String>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some((seq, old)) = tx
            .query_row(
                "SELECT seq, heads FROM records WHERE id = ?1",
                [id.to_string()],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)),
            )
            .optional()?
        else {
            return Ok(Ok(false));
        };
        let mut doc = RecordDoc::load(&load_chunks(&tx, seq)?, self.kiosk.actor.clone())?;
        let mut parsed: Vec<Change> = Vec::with_capacity(changes.len());
        for c in changes {
            match guarded(|| Change::from_bytes(c.clone()).map_err(|_| DocError::Inconsistent)) {
                Ok(c) => parsed.push(c),
                Err(_) => return Ok(Err("a change from HQ is malformed".into())),
            }
        }
        if let Err(e) = guarded(|| Ok(doc.automerge().apply_changes(parsed.clone())?)) {
            return Ok(Err(format!("HQ's changes do not merge: {e}")));
        }
        for (i, c) in parsed.iter().enumerate() {
            if let Err(why) = check(i, doc.automerge(), c) {
                return Ok(Err(why));
            }
        }
        let heads = doc.heads();
        if heads_bytes(&heads) == old {
            return Ok(Ok(false));
        }
        let record = doc.read().map_err(|e| StoreError::BadRecord {
            id: id.to_string(),
            reason: e.to_string(),
        })?;
        let delta = doc.save_after(&heads_from(&old));
        tx.execute(
            "INSERT INTO record_chunks(record_seq, n, data)
             VALUES (?1, (SELECT COALESCE(MAX(n), -1) + 1 FROM record_chunks WHERE record_seq = ?1), ?2)",
            params![seq, delta],
        )?;
        let p = Projection::of(&record);
        tx.execute(
            "UPDATE records SET status = ?2, kind = ?3, id_number = ?4, full_name = ?5, search_key = ?6,
                birth_date = ?7, province_code = ?8, commune_code = ?9, updated_at = ?10, heads = ?11,
                chunk_count = (SELECT COUNT(*) FROM record_chunks WHERE record_seq = ?1), blob_refs = ?12
             WHERE seq = ?1",
            params![seq, p.status, p.kind, p.id_number, p.full_name, p.search_key, p.birth_date,
                p.province_code, p.commune_code, timestamp(by.at), heads_bytes(&heads), p.blob_refs],
        )?;
        super::audit::append(&tx, by, "record.merge", Some(&id.to_string()), None)?;
        tx.commit()?;
        Ok(Ok(true))
    }

    /// A sync setting kept in the store (HQ address and keys, kiosk id at HQ).
    pub fn sync_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let v: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT value FROM kiosk WHERE key = ?1",
                [format!("sync.{key}")],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.and_then(|b| String::from_utf8(b).ok()))
    }

    pub fn set_sync_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO kiosk(key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![format!("sync.{key}"), value.as_bytes()],
        )?;
        Ok(())
    }

    /// How many records HQ has acknowledged as they stand, and how many wait.
    pub fn sync_counts(&self) -> Result<(i64, i64), StoreError> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FILTER (WHERE a.heads = r.heads), COUNT(*) FILTER (WHERE a.heads IS NULL OR a.heads != r.heads)
             FROM records r LEFT JOIN acks a ON a.record_seq = r.seq",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }
}

/// The changes (stored in commit order, so dependencies first) that neither `have` nor any
/// of their ancestors are; hashes in `have` that are not among them are ignored.
fn changes_not_in(changes: Vec<Change>, have: &[ChangeHash]) -> Vec<(ChangeHash, Vec<u8>)> {
    let deps: HashMap<ChangeHash, Vec<ChangeHash>> = changes
        .iter()
        .map(|c| (c.hash(), c.deps().to_vec()))
        .collect();
    let mut held: HashSet<ChangeHash> = HashSet::new();
    let mut todo: Vec<ChangeHash> = have
        .iter()
        .filter(|h| deps.contains_key(h))
        .copied()
        .collect();
    while let Some(h) = todo.pop() {
        if held.insert(h) {
            todo.extend(deps.get(&h).into_iter().flatten().copied());
        }
    }
    let mut seen = HashSet::new();
    changes
        .into_iter()
        .filter(|c| !held.contains(&c.hash()) && seen.insert(c.hash()))
        .map(|c| (c.hash(), c.raw_bytes().to_vec()))
        .collect()
}

/// One record's heads and blob references, from its stored bytes.
fn pending_of(
    id: Uuid,
    heads: &[ChangeHash],
    bytes: &[u8],
    actor: &automerge::ActorId,
) -> Result<PendingRecord, StoreError> {
    // A record saved once (most of those waiting): read off its one change.
    if let Some([change]) = split_changes(bytes).as_deref() {
        if heads == [change.hash()] {
            if let Some(mut blobs) = first_change_blob_refs(change) {
                blobs.sort();
                blobs.dedup();
                return Ok(PendingRecord {
                    id,
                    heads: heads.to_vec(),
                    blobs,
                });
            }
        }
    }
    let mut doc = RecordDoc::load(bytes, actor.clone())?;
    let record = doc.read().map_err(|e| StoreError::BadRecord {
        id: id.to_string(),
        reason: e.to_string(),
    })?;
    Ok(PendingRecord {
        id,
        heads: doc.heads(),
        blobs: blob_refs_of(&record),
    })
}
