//! Stored bytes as the change chunks they hold (`RecordDoc::save_changes` and later
//! `save_after` chunks), read without building a document.

use automerge::ChangeHash;
use sha2::{Digest, Sha256};

/// Every Automerge chunk starts with these bytes.
pub(crate) const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// The chunk type of an uncompressed change.
pub(crate) const CHANGE: u8 = 1;
const COMPRESSED_CHANGE: u8 = 2;
/// An inflated change larger than this is not read here (the document path then decides).
const INFLATED_MAX: usize = 64 << 20;

/// One chunk: its type, the whole chunk and its data.
struct Chunk<'a> {
    kind: u8,
    whole: &'a [u8],
    checksum: [u8; 4],
    data: &'a [u8],
}

/// The chunks of `bytes` when they are all change chunks; `None` for anything else.
fn change_chunks(bytes: &[u8]) -> Option<Vec<Chunk<'_>>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        // magic (4) | checksum (4) | chunk type (1) | data length (ULEB128) | data
        if rest.len() < 9 || rest[..4] != MAGIC || !matches!(rest[8], CHANGE | COMPRESSED_CHANGE) {
            return None;
        }
        let (mut len, mut shift, mut at) = (0usize, 0u32, 9usize);
        loop {
            let b = *rest.get(at)?;
            at += 1;
            len |= usize::from(b & 0x7f).checked_shl(shift)?;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 56 {
                return None;
            }
        }
        let end = at.checked_add(len).filter(|&e| e <= rest.len())?;
        out.push(Chunk {
            kind: rest[8],
            whole: &rest[..end],
            checksum: [rest[4], rest[5], rest[6], rest[7]],
            data: &rest[at..end],
        });
        rest = &rest[end..];
    }
    Some(out)
}

/// Stored bytes as the separate changes they hold, when they are only change chunks (no
/// document snapshot): each change with its hash, without building a document. `None` for
/// anything else (a snapshot, a bundle, damaged bytes); the caller then loads the document.
pub fn split_changes(bytes: &[u8]) -> Option<Vec<automerge::Change>> {
    change_chunks(bytes)?
        .iter()
        .map(|c| automerge::Change::try_from(c.whole).ok())
        .collect()
}

/// Each change with its hash, as Automerge's `Change::raw_bytes` gives it (an uncompressed
/// change chunk), from the chunk headers alone: a compressed chunk is inflated, the hash is
/// SHA-256 over the uncompressed chunk's type, length and data, and it must match the checksum
/// the chunk carries. The operations are not decoded (half of a kiosk's CPU per record sent
/// went there; HQ decodes and checks every change it takes). `None` as for `split_changes`, or
/// when a checksum does not match.
pub fn change_hashes(bytes: &[u8]) -> Option<Vec<(ChangeHash, Vec<u8>)>> {
    change_chunks(bytes)?
        .into_iter()
        .map(|c| {
            let (hash, raw) = match c.kind {
                CHANGE => (hash(c.data), c.whole.to_vec()),
                _ => {
                    let inflated = crate::deflate::inflate(c.data, INFLATED_MAX).ok()?;
                    let mut raw = Vec::with_capacity(inflated.len() + 18);
                    raw.extend_from_slice(&MAGIC);
                    raw.extend_from_slice(&c.checksum);
                    raw.push(CHANGE);
                    leb128(inflated.len() as u64, &mut raw);
                    raw.extend_from_slice(&inflated);
                    (hash(&inflated), raw)
                }
            };
            (hash.0[..4] == c.checksum).then_some((hash, raw))
        })
        .collect()
}

/// Appends `n` as unsigned LEB128, the length encoding of Automerge's chunks.
pub(crate) fn leb128(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Automerge's change hash of an uncompressed change chunk's data.
fn hash(data: &[u8]) -> ChangeHash {
    let mut head = vec![CHANGE];
    leb128(data.len() as u64, &mut head);
    let mut h = Sha256::new();
    h.update(&head);
    h.update(data);
    ChangeHash(h.finalize().into())
}
