//! Hard caps on what a peer may send, checked on the raw bytes before any parser that could
//! allocate or loop in proportion to a number the peer wrote (Automerge's change reader
//! inflates compressed chunks and walks run-length columns of any claimed length).

/// An Automerge chunk starts with these four bytes.
const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// The chunk type byte of a raw (uncompressed) change: the only kind a kiosk sends.
const CHUNK_CHANGE: u8 = 1;

/// One change's bytes at most (a kiosk's changes are a few KB; biometrics travel as blobs).
pub const MAX_CHANGE_BYTES: usize = 1 << 20;
/// Rows in any one column of a change (its operations, predecessors, ...).
pub const MAX_CHANGE_ROWS: u64 = 1 << 16;
/// Dependencies, other actors and columns named in one change header.
const MAX_HEADER_ITEMS: u64 = 1024;

/// Why a change's bytes were refused before parsing; each names the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkRefusal {
    #[error("not an Automerge chunk")]
    NotAChunk,
    #[error("chunk type {0} is not a raw change (compressed changes and documents are refused)")]
    NotRawChange(u8),
    #[error("the chunk's length does not match its bytes")]
    BadLength,
    #[error("the change is larger than {MAX_CHANGE_BYTES} bytes")]
    TooLarge,
    #[error("a column claims more than {MAX_CHANGE_ROWS} rows")]
    TooManyRows,
    #[error("the change header lists too many items")]
    TooManyItems,
    #[error("the change uses compressed columns")]
    CompressedColumns,
    #[error("the change's columns are malformed")]
    Malformed,
}

impl ChunkRefusal {
    /// A stable short name for the rule, for refusal codes and logs.
    pub fn rule(&self) -> &'static str {
        match self {
            ChunkRefusal::NotAChunk => "not_a_chunk",
            ChunkRefusal::NotRawChange(_) => "not_raw_change",
            ChunkRefusal::BadLength => "bad_length",
            ChunkRefusal::TooLarge => "change_too_large",
            ChunkRefusal::TooManyRows => "too_many_rows",
            ChunkRefusal::TooManyItems => "too_many_items",
            ChunkRefusal::CompressedColumns => "compressed_columns",
            ChunkRefusal::Malformed => "malformed_columns",
        }
    }
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64) -> Result<&'a [u8], ChunkRefusal> {
        let n = usize::try_from(n).map_err(|_| ChunkRefusal::Malformed)?;
        if n > self.0.len() {
            return Err(ChunkRefusal::Malformed);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn uleb(&mut self) -> Result<u64, ChunkRefusal> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = *self.0.first().ok_or(ChunkRefusal::Malformed)?;
            self.0 = &self.0[1..];
            v |= u64::from(b & 0x7f)
                .checked_shl(7 * i)
                .ok_or(ChunkRefusal::Malformed)?;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ChunkRefusal::Malformed)
    }
    fn sleb(&mut self) -> Result<i64, ChunkRefusal> {
        let mut v: i64 = 0;
        let mut shift = 0;
        for _ in 0..10 {
            let b = *self.0.first().ok_or(ChunkRefusal::Malformed)?;
            self.0 = &self.0[1..];
            v |= i64::from(b & 0x7f).wrapping_shl(shift);
            shift += 7;
            if b & 0x80 == 0 {
                if shift < 64 && b & 0x40 != 0 {
                    v |= -1i64 << shift;
                }
                return Ok(v);
            }
        }
        Err(ChunkRefusal::Malformed)
    }
    fn counted(&mut self) -> Result<u64, ChunkRefusal> {
        let n = self.uleb()?;
        if n > MAX_HEADER_ITEMS {
            return Err(ChunkRefusal::TooManyItems);
        }
        Ok(n)
    }
}

/// Checks that `bytes` is exactly one raw Automerge change chunk within the caps, without
/// decoding any operation. Returns the largest row count of its columns (its operations).
pub fn raw_change(bytes: &[u8]) -> Result<u64, ChunkRefusal> {
    if bytes.len() > MAX_CHANGE_BYTES {
        return Err(ChunkRefusal::TooLarge);
    }
    if bytes.len() < 10 || bytes[..4] != MAGIC {
        return Err(ChunkRefusal::NotAChunk);
    }
    if bytes[8] != CHUNK_CHANGE {
        return Err(ChunkRefusal::NotRawChange(bytes[8]));
    }
    let mut c = Cursor(&bytes[9..]);
    let len = c.uleb().map_err(|_| ChunkRefusal::BadLength)?;
    if len != c.0.len() as u64 {
        return Err(ChunkRefusal::BadLength);
    }
    // Header: deps, actor, seq, start op, time, message, other actors (automerge's order).
    let deps = c.counted()?;
    c.take(deps.saturating_mul(32))?;
    let actor = c.uleb()?;
    c.take(actor)?;
    c.uleb()?;
    c.uleb()?;
    c.sleb()?;
    let message = c.uleb()?;
    c.take(message)?;
    for _ in 0..c.counted()? {
        let n = c.uleb()?;
        c.take(n)?;
    }
    let columns = c.counted()?;
    let mut specs = Vec::new();
    for _ in 0..columns {
        let spec = c.uleb()?;
        let len = c.uleb()?;
        if spec & 0b1000 != 0 {
            return Err(ChunkRefusal::CompressedColumns);
        }
        specs.push((spec & 0b111, len));
    }
    let mut rows_max = 0;
    for (kind, len) in specs {
        let data = c.take(len)?;
        rows_max = rows_max.max(column_rows(kind, data)?);
    }
    Ok(rows_max)
}

/// Rows a column encodes, refusing at the cap: run-length (with literal and null runs),
/// delta (run-length of signed values) and boolean (alternating run counts) columns.
fn column_rows(kind: u64, data: &[u8]) -> Result<u64, ChunkRefusal> {
    let mut c = Cursor(data);
    let mut rows: u64 = 0;
    let mut add = |n: u64| {
        rows = rows.saturating_add(n);
        if rows > MAX_CHANGE_ROWS {
            Err(ChunkRefusal::TooManyRows)
        } else {
            Ok(())
        }
    };
    let value = |c: &mut Cursor<'_>| -> Result<(), ChunkRefusal> {
        match kind {
            3 => c.sleb().map(drop),
            5 => {
                let n = c.uleb()?;
                c.take(n).map(drop)
            }
            _ => c.uleb().map(drop),
        }
    };
    match kind {
        // Raw value bytes: rows are counted by the value metadata column.
        7 => return Ok(0),
        4 => {
            while !c.0.is_empty() {
                add(c.uleb()?)?;
            }
        }
        _ => {
            while !c.0.is_empty() {
                let n = c.sleb()?;
                if n > 0 {
                    add(n as u64)?;
                    value(&mut c)?;
                } else if n < 0 {
                    add(n.unsigned_abs())?;
                    for _ in 0..n.unsigned_abs() {
                        value(&mut c)?;
                    }
                } else {
                    add(c.uleb()?)?;
                }
            }
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;

    fn real_change() -> Vec<u8> {
        let mut doc = automerge::AutoCommit::new();
        for i in 0..300 {
            doc.put(automerge::ROOT, format!("field-number-{i}"), i64::from(i))
                .expect("put");
        }
        doc.put(automerge::ROOT, "name", "Nguyễn Văn An")
            .expect("put");
        doc.save_after(&[])
    }

    #[test]
    fn honest_changes_pass_and_others_are_refused_by_rule() {
        let raw = real_change();
        let rows = raw_change(&raw).expect("a real raw change passes");
        assert!(rows >= 301, "{rows}");
        // What automerge itself makes when it compresses the change: refused by its type byte.
        let mut change = automerge::Change::from_bytes(raw.clone()).expect("parses");
        let packed = change.bytes().to_vec();
        assert_eq!(packed[8], 2, "automerge compressed a change this size");
        assert_eq!(raw_change(&packed), Err(ChunkRefusal::NotRawChange(2)));
        // A compressed chunk (type 2) is refused from its header byte alone.
        let mut t2 = raw.clone();
        t2[8] = 2;
        assert_eq!(raw_change(&t2), Err(ChunkRefusal::NotRawChange(2)));
        let mut t0 = raw.clone();
        t0[8] = 0;
        assert_eq!(raw_change(&t0), Err(ChunkRefusal::NotRawChange(0)));
        assert_eq!(raw_change(b"hello world"), Err(ChunkRefusal::NotAChunk));
        let mut long = raw.clone();
        long.push(0);
        assert_eq!(raw_change(&long), Err(ChunkRefusal::BadLength));
        assert_eq!(
            raw_change(&raw[..raw.len() - 1]),
            Err(ChunkRefusal::BadLength)
        );
    }

    #[test]
    fn a_column_claiming_huge_runs_is_refused() {
        // Boolean column: one run of 2^40 falses; RLE column: a null run of 2^40.
        let mut huge = Vec::new();
        let mut n: u64 = 1 << 40;
        while n >= 0x80 {
            huge.push((n as u8) | 0x80);
            n >>= 7;
        }
        huge.push(n as u8);
        assert_eq!(column_rows(4, &huge), Err(ChunkRefusal::TooManyRows));
        let mut null_run = vec![0];
        null_run.extend(&huge);
        assert_eq!(column_rows(2, &null_run), Err(ChunkRefusal::TooManyRows));
        // A literal run of 3 uLEB values, then a repeat run of 5.
        assert_eq!(column_rows(2, &[0x7d, 1, 2, 3, 5, 9]), Ok(8));
    }
}
