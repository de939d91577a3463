//! A change's operations read straight from its columns, for the shape a kiosk's new record
//! has: every operation on the root or on an object the change itself makes, none with a
//! predecessor, each making a map or a list or putting a plain scalar. Automerge's own reader
//! (`Change::decode`) is general, and it was the largest part of HQ's CPU per new record. Any
//! other shape, and anything not read exactly, gives `None`: the caller decodes as before.

use automerge::legacy::{ElementId, Key, ObjectId, Op, OpId, OpType, SortedVec};
use automerge::{Change, ObjType, ScalarValue};

use crate::limits::{change_layout, ChunkRefusal, Cursor};

// Column specs (column id << 4 | column type) of a change's operations, as automerge writes them.
const OBJ_ACTOR: u64 = 0x01;
const OBJ_CTR: u64 = 0x02;
const KEY_ACTOR: u64 = 0x11;
const KEY_CTR: u64 = 0x13;
const KEY_STR: u64 = 0x15;
const INSERT: u64 = 0x34;
const ACTION: u64 = 0x42;
const VAL_META: u64 = 0x56;
const VAL_RAW: u64 = 0x57;
const PRED_GROUP: u64 = 0x70;
const PRED_ACTOR: u64 = 0x71;
const PRED_CTR: u64 = 0x73;
const EXPAND: u64 = 0x94;
const MARK_NAME: u64 = 0xa5;
const KNOWN: [u64; 14] = [
    OBJ_ACTOR, OBJ_CTR, KEY_ACTOR, KEY_CTR, KEY_STR, INSERT, ACTION, VAL_META, VAL_RAW, PRED_GROUP,
    PRED_ACTOR, PRED_CTR, EXPAND, MARK_NAME,
];

type Read<'a, T> = fn(&mut Cursor<'a>) -> Result<T, ChunkRefusal>;

enum Run<T> {
    Repeat(T, u64),
    Literal(u64),
    Null(u64),
}

/// A run-length column: repeat runs, literal runs and null runs.
struct Rle<'a, T> {
    c: Cursor<'a>,
    run: Run<T>,
    read: Read<'a, T>,
}

impl<'a, T: Clone> Rle<'a, T> {
    fn new(data: &'a [u8], read: Read<'a, T>) -> Self {
        Rle {
            c: Cursor(data),
            run: Run::Null(0),
            read,
        }
    }
    /// The next row: `None` past the column's end (a null, as automerge reads it), or a null.
    fn next(&mut self) -> Result<Option<T>, ChunkRefusal> {
        loop {
            match &mut self.run {
                Run::Repeat(v, n) if *n > 0 => {
                    *n -= 1;
                    return Ok(Some(v.clone()));
                }
                Run::Literal(n) if *n > 0 => {
                    *n -= 1;
                    return (self.read)(&mut self.c).map(Some);
                }
                Run::Null(n) if *n > 0 => {
                    *n -= 1;
                    return Ok(None);
                }
                _ => {}
            }
            if self.c.0.is_empty() {
                return Ok(None);
            }
            self.run = match self.c.sleb()? {
                0 => Run::Null(self.c.uleb()?),
                n if n > 0 => Run::Repeat((self.read)(&mut self.c)?, n.unsigned_abs()),
                n => Run::Literal(n.unsigned_abs()),
            };
        }
    }
    /// Every row read: a column with rows to spare is not read exactly.
    fn finished(&self) -> bool {
        let left = match self.run {
            Run::Repeat(_, n) | Run::Literal(n) | Run::Null(n) => n,
        };
        left == 0 && self.c.0.is_empty()
    }
}

/// A delta column: each row is the running sum of the deltas so far.
struct Delta<'a> {
    rle: Rle<'a, i64>,
    value: i64,
}

impl Delta<'_> {
    fn next(&mut self) -> Result<Option<i64>, ChunkRefusal> {
        let Some(d) = self.rle.next()? else {
            return Ok(None);
        };
        self.value = self.value.checked_add(d).ok_or(ChunkRefusal::Malformed)?;
        Ok(Some(self.value))
    }
}

/// A boolean column: alternating run lengths, falses first.
struct Bools<'a> {
    c: Cursor<'a>,
    value: bool,
    left: u64,
}

impl<'a> Bools<'a> {
    fn new(data: &'a [u8]) -> Self {
        // `value` flips before each run: the first run is of falses.
        Bools {
            c: Cursor(data),
            value: true,
            left: 0,
        }
    }
    fn next(&mut self) -> Result<bool, ChunkRefusal> {
        while self.left == 0 {
            if self.c.0.is_empty() {
                return Ok(false);
            }
            self.left = self.c.uleb()?;
            self.value = !self.value;
        }
        self.left -= 1;
        Ok(self.value)
    }
    fn finished(&self) -> bool {
        self.left == 0 && self.c.0.is_empty()
    }
}

fn uleb<'a>(c: &mut Cursor<'a>) -> Result<u64, ChunkRefusal> {
    c.uleb()
}
fn sleb<'a>(c: &mut Cursor<'a>) -> Result<i64, ChunkRefusal> {
    c.sleb()
}
fn string<'a>(c: &mut Cursor<'a>) -> Result<&'a str, ChunkRefusal> {
    let n = c.uleb()?;
    std::str::from_utf8(c.take(n)?).map_err(|_| ChunkRefusal::Malformed)
}

/// Reads one value of `len` bytes that must be used up exactly.
fn exact<T>(
    bytes: &[u8],
    read: impl FnOnce(&mut Cursor<'_>) -> Result<T, ChunkRefusal>,
) -> Option<T> {
    let mut c = Cursor(bytes);
    let v = read(&mut c).ok()?;
    c.0.is_empty().then_some(v)
}

/// The operations `change.decode()` holds, when the change has the shape above.
pub fn plain_ops(change: &Change) -> Option<Vec<Op>> {
    let layout = change_layout(change.raw_bytes()).ok()?;
    // Each known column at most once; an unknown one is not the plain shape.
    let mut cols: [Option<&[u8]>; KNOWN.len()] = [None; KNOWN.len()];
    for (spec, data) in layout.columns {
        let i = KNOWN.iter().position(|k| *k == spec)?;
        if cols[i].replace(data).is_some() {
            return None;
        }
    }
    // An absent column reads as all nulls, as automerge reads it.
    let col = |spec: u64| {
        KNOWN
            .iter()
            .position(|k| *k == spec)
            .and_then(|i| cols[i])
            .unwrap_or(&[])
    };
    // No predecessors: their actor and counter columns hold nothing.
    if !col(PRED_ACTOR).is_empty() || !col(PRED_CTR).is_empty() {
        return None;
    }
    let mut obj_actor = Rle::new(col(OBJ_ACTOR), uleb);
    let mut obj_ctr = Rle::new(col(OBJ_CTR), uleb);
    let mut key_actor = Rle::new(col(KEY_ACTOR), uleb);
    let mut key_ctr = Delta {
        rle: Rle::new(col(KEY_CTR), sleb),
        value: 0,
    };
    let mut key_str = Rle::new(col(KEY_STR), string);
    let mut insert = Bools::new(col(INSERT));
    let mut action = Rle::new(col(ACTION), uleb);
    let mut meta = Rle::new(col(VAL_META), uleb);
    let mut raw = Cursor(col(VAL_RAW));
    let mut preds = Rle::new(col(PRED_GROUP), uleb);
    let mut expand = Bools::new(col(EXPAND));
    let mut mark = Rle::new(col(MARK_NAME), string);

    let actor = change.actor_id();
    let start = change.start_op().get();
    let mut ops = Vec::with_capacity(change.len());
    for i in 0..change.len() as u64 {
        // An operation of this change that came before this one.
        let earlier = |c: u64| c >= start && c - start < i;
        let obj = match (obj_actor.next().ok()?, obj_ctr.next().ok()?) {
            (None, None) => ObjectId::Root,
            (Some(0), Some(c)) if earlier(c) => ObjectId::Id(OpId::new(c, actor)),
            _ => return None,
        };
        let key = match (
            key_actor.next().ok()?,
            key_ctr.next().ok()?,
            key_str.next().ok()?,
        ) {
            (None, None, Some(k)) => Key::Map(k.into()),
            (None, Some(0), None) => Key::Seq(ElementId::Head),
            (Some(0), Some(c), None) => match u64::try_from(c) {
                Ok(c) if earlier(c) => Key::Seq(ElementId::Id(OpId::new(c, actor))),
                _ => return None,
            },
            _ => return None,
        };
        let insert = insert.next().ok()?;
        let code = action.next().ok()??;
        let m = meta.next().ok()??;
        let bytes = raw.take(m >> 4).ok()?;
        let value = match (m & 0xf, bytes.len()) {
            (0, 0) => ScalarValue::Null,
            (1, 0) => ScalarValue::Boolean(false),
            (2, 0) => ScalarValue::Boolean(true),
            (3, _) => ScalarValue::Uint(exact(bytes, |c| c.uleb())?),
            (4, _) => ScalarValue::Int(exact(bytes, |c| c.sleb())?),
            (5, 8) => ScalarValue::F64(f64::from_le_bytes(bytes.try_into().ok()?)),
            (6, _) => ScalarValue::Str(std::str::from_utf8(bytes).ok()?.into()),
            _ => return None,
        };
        if preds.next().ok()?.unwrap_or(0) != 0
            || expand.next().ok()?
            || mark.next().ok()?.is_some()
        {
            return None;
        }
        let action = match (code, value) {
            (0, ScalarValue::Null) => OpType::Make(ObjType::Map),
            (2, ScalarValue::Null) => OpType::Make(ObjType::List),
            (1, v) => OpType::Put(v),
            _ => return None,
        };
        ops.push(Op {
            action,
            obj,
            key,
            pred: SortedVec::new(),
            insert,
        });
    }
    let exhausted = obj_actor.finished()
        && obj_ctr.finished()
        && key_actor.finished()
        && key_ctr.rle.finished()
        && key_str.finished()
        && insert.finished()
        && action.finished()
        && meta.finished()
        && raw.0.is_empty()
        && preds.finished()
        && expand.finished()
        && mark.finished();
    exhausted.then_some(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::leb128;
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ObjId, ROOT};
    use proptest::prelude::*;
    use sha2::{Digest, Sha256};

    fn only_change(am: &mut AutoCommit) -> Change {
        am.commit();
        let heads = am.get_heads();
        am.get_change_by_hash(&heads[0]).expect("the change")
    }

    /// A plain value: a scalar, or a map or list of plain values.
    #[derive(Debug, Clone)]
    enum Plain {
        Scalar(ScalarValue),
        Map(Vec<(String, Plain)>),
        List(Vec<Plain>),
    }

    fn scalar() -> impl Strategy<Value = ScalarValue> {
        prop_oneof![
            Just(ScalarValue::Null),
            any::<bool>().prop_map(ScalarValue::Boolean),
            any::<i64>().prop_map(ScalarValue::Int),
            any::<u64>().prop_map(ScalarValue::Uint),
            any::<f64>().prop_map(ScalarValue::F64),
            ".{0,40}".prop_map(|s| ScalarValue::Str(s.into())),
        ]
    }

    fn plain() -> impl Strategy<Value = Plain> {
        scalar()
            .prop_map(Plain::Scalar)
            .prop_recursive(4, 48, 6, |inner| {
                prop_oneof![
                    proptest::collection::vec((".{0,12}", inner.clone()), 0..6)
                        .prop_map(Plain::Map),
                    proptest::collection::vec(inner, 0..6).prop_map(Plain::List),
                ]
            })
    }

    fn put(am: &mut AutoCommit, obj: &ObjId, key: Option<&str>, at: usize, v: &Plain) {
        let made = match (v, key) {
            (Plain::Scalar(s), Some(k)) => am.put(obj, k, s.clone()).map(|_| None),
            (Plain::Scalar(s), None) => am.insert(obj, at, s.clone()).map(|_| None),
            (Plain::Map(_), Some(k)) => am.put_object(obj, k, ObjType::Map).map(Some),
            (Plain::Map(_), None) => am.insert_object(obj, at, ObjType::Map).map(Some),
            (Plain::List(_), Some(k)) => am.put_object(obj, k, ObjType::List).map(Some),
            (Plain::List(_), None) => am.insert_object(obj, at, ObjType::List).map(Some),
        };
        let Some(child) = made.expect("write") else {
            return;
        };
        match v {
            Plain::Map(fields) => {
                for (k, f) in fields {
                    put(am, &child, Some(k), 0, f);
                }
            }
            Plain::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    put(am, &child, None, i, item);
                }
            }
            Plain::Scalar(_) => {}
        }
    }

    proptest! {
        #[test]
        fn any_plain_document_reads_as_automerge_decodes_it(
            fields in proptest::collection::vec((".{0,12}", plain()), 1..8)
        ) {
            let mut am = AutoCommit::new();
            for (k, v) in &fields {
                put(&mut am, &ROOT, Some(k), 0, v);
            }
            let change = only_change(&mut am);
            // A key written twice has predecessors: automerge's reading decides then.
            let decoded = change.decode().operations;
            match plain_ops(&change) {
                Some(ops) => prop_assert_eq!(ops, decoded),
                None => prop_assert!(decoded.iter().any(|op| !op.pred.is_empty())),
            }
        }
    }

    #[test]
    fn any_other_shape_is_left_to_automerge() {
        type Shape = fn(&mut AutoCommit);
        let shapes: [(&str, Shape); 6] = [
            ("a deletion", |am| {
                am.put(ROOT, "a", 1).expect("put");
                am.delete(ROOT, "a").expect("delete");
            }),
            ("an overwrite", |am| {
                am.put(ROOT, "a", 1).expect("put");
                am.put(ROOT, "a", 2).expect("put");
            }),
            ("a counter", |am| {
                am.put(ROOT, "n", ScalarValue::counter(1)).expect("put");
            }),
            ("a timestamp", |am| {
                am.put(ROOT, "t", ScalarValue::Timestamp(5)).expect("put");
            }),
            ("bytes", |am| {
                am.put(ROOT, "b", ScalarValue::Bytes(vec![1, 2]))
                    .expect("put");
            }),
            ("a text object", |am| {
                let t = am.put_object(ROOT, "t", ObjType::Text).expect("text");
                am.splice_text(&t, 0, 0, "chữ").expect("splice");
            }),
        ];
        for (what, make) in shapes {
            let mut am = AutoCommit::new();
            make(&mut am);
            let change = only_change(&mut am);
            assert_eq!(plain_ops(&change), None, "{what}");
        }
        // A second change writing into an object the first made.
        let mut am = AutoCommit::new();
        let m = am.put_object(ROOT, "m", ObjType::Map).expect("map");
        am.commit();
        am.put(&m, "a", 1).expect("put");
        let change = only_change(&mut am);
        assert_eq!(plain_ops(&change), None, "an object another change made");
    }

    /// `raw` rebuilt with `spec`'s column data replaced and the checksum made to match.
    fn with_column(raw: &[u8], spec: u64, data: &[u8]) -> Vec<u8> {
        let layout = change_layout(raw).expect("layout");
        let specs = |cols: &[(u64, &[u8])]| {
            let mut v = Vec::new();
            leb128(cols.len() as u64, &mut v);
            for (s, d) in cols {
                leb128(*s, &mut v);
                leb128(d.len() as u64, &mut v);
            }
            v
        };
        let mut body = Cursor(&raw[9..]);
        body.uleb().expect("length");
        // The body is header, column specs, column data: the header is what is left.
        let tail = specs(&layout.columns).len()
            + layout.columns.iter().map(|(_, d)| d.len()).sum::<usize>();
        let mut inner = body.0[..body.0.len() - tail].to_vec();
        let cols: Vec<(u64, &[u8])> = layout
            .columns
            .iter()
            .map(|&(s, d)| (s, if s == spec { data } else { d }))
            .collect();
        inner.extend(specs(&cols));
        for (_, d) in &cols {
            inner.extend(*d);
        }
        let mut chunk = vec![crate::record::CHUNK_CHANGE];
        leb128(inner.len() as u64, &mut chunk);
        chunk.extend(&inner);
        let mut out = crate::record::MAGIC.to_vec();
        out.extend(&Sha256::digest(&chunk)[..4]);
        out.extend(chunk);
        out
    }

    #[test]
    fn a_column_with_a_row_to_spare_is_not_read() {
        let mut am = AutoCommit::new();
        am.put(ROOT, "a", "x").expect("put");
        am.put(ROOT, "b", "y").expect("put");
        let change = only_change(&mut am);
        let raw = change.raw_bytes().to_vec();
        // Unchanged, the rebuilt chunk reads the same.
        let layout = change_layout(&raw).expect("layout");
        let keys = layout
            .columns
            .iter()
            .find(|(s, _)| *s == KEY_STR)
            .map(|(_, d)| d.to_vec())
            .expect("key column");
        let same = Change::from_bytes(with_column(&raw, KEY_STR, &keys)).expect("same change");
        assert_eq!(plain_ops(&same), Some(change.decode().operations));
        // A third key past the two operations: automerge reads two rows and ignores it.
        let mut spare = keys.clone();
        spare.extend([1, 1, b'c']);
        let long =
            Change::from_bytes(with_column(&raw, KEY_STR, &spare)).expect("automerge takes it");
        assert_eq!(long.decode().operations.len(), 2);
        assert_eq!(plain_ops(&long), None);
    }
}
