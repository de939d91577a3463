//! Hard caps on what a peer may send, checked on the raw bytes before any parser that could
//! allocate or loop in proportion to a number the peer wrote (Automerge's change reader
//! inflates compressed chunks and walks run-length columns of any claimed length).

// A raw (uncompressed) change chunk is the only kind a kiosk sends.
use crate::record::{CHUNK_CHANGE, MAGIC};

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
    #[error("an operation counter or actor index is larger than 32 bits")]
    CounterTooLarge,
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
            ChunkRefusal::CounterTooLarge => "counter_too_large",
        }
    }
}

/// A reader over a peer's bytes: every read is bounded by what is there.
pub(crate) struct Cursor<'a>(pub(crate) &'a [u8]);

impl<'a> Cursor<'a> {
    pub(crate) fn take(&mut self, n: u64) -> Result<&'a [u8], ChunkRefusal> {
        let n = usize::try_from(n).map_err(|_| ChunkRefusal::Malformed)?;
        if n > self.0.len() {
            return Err(ChunkRefusal::Malformed);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    pub(crate) fn uleb(&mut self) -> Result<u64, ChunkRefusal> {
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
    pub(crate) fn sleb(&mut self) -> Result<i64, ChunkRefusal> {
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

/// A raw change chunk's header and its operation columns, as (spec, data), in order.
pub(crate) struct ChangeLayout<'a> {
    pub(crate) start_op: u64,
    pub(crate) columns: Vec<(u64, &'a [u8])>,
}

/// Splits a raw change chunk into its header and columns, within the caps; compressed
/// columns are refused.
pub(crate) fn change_layout(bytes: &[u8]) -> Result<ChangeLayout<'_>, ChunkRefusal> {
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
    let start_op = c.uleb()?;
    c.sleb()?;
    let message = c.uleb()?;
    c.take(message)?;
    for _ in 0..c.counted()? {
        let n = c.uleb()?;
        c.take(n)?;
    }
    let count = c.counted()?;
    let mut specs = Vec::new();
    for _ in 0..count {
        let spec = c.uleb()?;
        let len = c.uleb()?;
        if spec & 0b1000 != 0 {
            return Err(ChunkRefusal::CompressedColumns);
        }
        specs.push((spec, len));
    }
    let mut columns = Vec::with_capacity(specs.len());
    for (spec, len) in specs {
        columns.push((spec, c.take(len)?));
    }
    Ok(ChangeLayout { start_op, columns })
}

/// Checks that `bytes` is exactly one raw Automerge change chunk within the caps, without
/// decoding any operation. Returns the largest row count of its columns (its operations).
pub fn raw_change(bytes: &[u8]) -> Result<u64, ChunkRefusal> {
    let layout = change_layout(bytes)?;
    let (mut rows_max, mut top) = (0, 0);
    for (spec, data) in layout.columns {
        let (rows, largest) = column_rows(spec & 0b111, data)?;
        rows_max = rows_max.max(rows);
        top = top.max(largest);
    }
    // Automerge keeps op counters and actor indices in 32 bits and panics past them.
    let limit = u64::from(u32::MAX);
    if layout.start_op.saturating_add(rows_max) > limit || top > limit {
        return Err(ChunkRefusal::CounterTooLarge);
    }
    Ok(rows_max)
}

fn add_rows(rows: u64, n: u64) -> Result<u64, ChunkRefusal> {
    let rows = rows.saturating_add(n);
    if rows > MAX_CHANGE_ROWS {
        Err(ChunkRefusal::TooManyRows)
    } else {
        Ok(rows)
    }
}

/// Rows a column encodes, refusing at the cap, and the largest counter or actor index it
/// reaches (a delta column's running value): run-length (with literal and null runs), delta
/// and boolean (alternating run counts) columns.
fn column_rows(kind: u64, data: &[u8]) -> Result<(u64, u64), ChunkRefusal> {
    let mut c = Cursor(data);
    let mut rows: u64 = 0;
    match kind {
        // Raw value bytes: rows are counted by the value metadata column.
        7 => return Ok((0, 0)),
        4 => {
            while !c.0.is_empty() {
                rows = add_rows(rows, c.uleb()?)?;
            }
            return Ok((rows, 0));
        }
        _ => {}
    }
    let (mut top, mut running) = (0u64, 0i128);
    while !c.0.is_empty() {
        let n = c.sleb()?;
        if n == 0 {
            rows = add_rows(rows, c.uleb()?)?;
            continue;
        }
        // A run repeats one value n times; a literal run (n < 0) lists |n| values.
        let literal = n < 0;
        let times = n.unsigned_abs();
        rows = add_rows(rows, times)?;
        let (values, repeat) = if literal { (times, 1) } else { (1, times) };
        for _ in 0..values {
            match kind {
                3 => {
                    running += i128::from(c.sleb()?) * i128::from(repeat);
                    top = top.max(u64::try_from(running.max(0)).unwrap_or(u64::MAX));
                }
                5 => {
                    let n = c.uleb()?;
                    c.take(n)?;
                }
                1 | 2 => top = top.max(c.uleb()?),
                _ => {
                    c.uleb()?;
                }
            }
        }
    }
    Ok((rows, top))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::leb128;
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

    fn sleb(out: &mut Vec<u8>, mut v: i64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if (v == 0 && b & 0x40 == 0) || (v == -1 && b & 0x40 != 0) {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    /// A raw change chunk from its parts (automerge's header order), columns as (spec, data).
    fn chunk(start_op: u64, columns: &[(u64, Vec<u8>)]) -> Vec<u8> {
        let mut body = vec![0, 16];
        body.extend([0xAB; 16]);
        leb128(1, &mut body);
        leb128(start_op, &mut body);
        body.extend([0, 0, 0]);
        leb128(columns.len() as u64, &mut body);
        for (spec, data) in columns {
            leb128(*spec, &mut body);
            leb128(data.len() as u64, &mut body);
        }
        for (_, data) in columns {
            body.extend(data);
        }
        let mut out = MAGIC.to_vec();
        out.extend([0; 4]);
        out.push(CHUNK_CHANGE);
        leb128(body.len() as u64, &mut out);
        out.extend(body);
        out
    }

    #[test]
    fn counters_past_32_bits_are_refused_before_automerge_sees_them() {
        let delta = |first: i64, step: i64, times: i64| {
            let mut d = Vec::new();
            sleb(&mut d, 1);
            sleb(&mut d, first);
            sleb(&mut d, times);
            sleb(&mut d, step);
            d
        };
        let max = i64::from(u32::MAX);
        // Four ops from start op 10, counters 5, 6, 7, 8: fine.
        assert_eq!(raw_change(&chunk(10, &[(0x73, delta(5, 1, 3))])), Ok(4));
        // The change's own op counters run past 32 bits (start op + ops).
        assert_eq!(
            raw_change(&chunk(u64::from(u32::MAX) - 2, &[(0x73, delta(5, 1, 3))])),
            Err(ChunkRefusal::CounterTooLarge)
        );
        // A predecessor counter reaches 2^32 only by summing its deltas.
        assert_eq!(
            raw_change(&chunk(10, &[(0x73, delta(max - 1, 1, 3))])),
            Err(ChunkRefusal::CounterTooLarge)
        );
        // An actor index or plain counter column value past 32 bits.
        for spec in [0x11, 0x22] {
            let mut col = Vec::new();
            sleb(&mut col, 1);
            leb128(1 << 33, &mut col);
            assert_eq!(
                raw_change(&chunk(1, &[(spec, col)])),
                Err(ChunkRefusal::CounterTooLarge)
            );
        }
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
        assert_eq!(column_rows(2, &[0x7d, 1, 2, 3, 5, 9]), Ok((8, 9)));
    }
}
