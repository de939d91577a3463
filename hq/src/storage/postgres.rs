//! HQ storage in PostgreSQL (15+): for many kiosks and tens of millions of records. A pool of
//! connections (deadpool); each session owns one connection and its transaction. Records are
//! hash-partitioned (16) by id, audit range-partitioned by month. Deduplication is serialised
//! per ID number (transaction advisory locks), the audit chain by its one head row.
//!
//! Sessions are synchronous (see `storage`): each call runs on the storage's own small tokio
//! runtime with `Handle::block_on`, so callers may be plain threads or `spawn_blocking` ones.

use automerge::ChangeHash;
use chrono::{DateTime, Datelike, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::str::FromStr;
use std::time::Duration;
use tokio::runtime::{Handle, Runtime};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};
use uuid::Uuid;

use super::sqlite::counts;
use super::{
    blobs_bytes, blobs_from, heads_bytes, heads_from, like_prefix, AuditEntry, AuditQuery,
    AuditRow, DashUser, DuplicateGroup, HqStorage, KioskCounts, KioskEntry, KioskTelemetry,
    OutboxEntry, Page, Projection, RecordQuery, RecordRow, RecordState, Result, Session,
    StorageError, StoredRecord, TelemetryPoint, WebSession, RECORD_COLS, RECORD_SET,
    TELEMETRY_KEEP_DAYS,
};

mod review;

use super::review::{
    AdjudicationRow, ChangeSig, CommentRow, QualityFacts, QualityQuery, QualityWeek, SessionQuery,
    SyncSessionRow,
};

/// Hash partitions of `records`: enough for 100M rows at a few million per partition.
pub const RECORD_PARTITIONS: u32 = 16;
/// Connections at most; sessions beyond wait for one to come back.
const POOL_SIZE: usize = 32;

/// Append-only: version N is `MIGRATIONS[N - 1]`; `schema_migrations` lists those applied.
fn migrations() -> Vec<String> {
    let mut first = String::from(
        r#"
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TABLE meta (key text PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE kiosks (
    id text COLLATE "C" PRIMARY KEY, name text NOT NULL, public_key text NOT NULL UNIQUE,
    added_at timestamptz NOT NULL, revoked_at timestamptz, last_seen_at timestamptz,
    last_sync_at timestamptz, telemetry text
);
-- Projection first, document last (TOASTed): listings never read documents.
CREATE TABLE records (
    id bytea NOT NULL, kiosk_id text COLLATE "C" NOT NULL, enrollment_no text NOT NULL,
    full_name text NOT NULL, search_key text NOT NULL, id_number text COLLATE "C",
    province_code text COLLATE "C", commune_code text COLLATE "C", operator_id text NOT NULL,
    captured_at timestamptz, status text COLLATE "C" NOT NULL, hq_status text COLLATE "C",
    hq_reason text, updated_at timestamptz NOT NULL,
    heads bytea NOT NULL, blobs bytea NOT NULL, chunks integer NOT NULL, doc bytea NOT NULL,
    PRIMARY KEY (id)
) PARTITION BY HASH (id);
"#,
    );
    for i in 0..RECORD_PARTITIONS {
        first.push_str(&format!(
            "CREATE TABLE records_p{i:02} PARTITION OF records FOR VALUES WITH (MODULUS {RECORD_PARTITIONS}, REMAINDER {i});\n"
        ));
    }
    first.push_str(
        r#"
CREATE INDEX records_kiosk ON records (kiosk_id, id);
CREATE INDEX records_place ON records (province_code, commune_code, id);
CREATE INDEX records_status ON records (status, id);
CREATE INDEX records_hq_status ON records (hq_status, id);
CREATE INDEX records_captured ON records (captured_at, id);
CREATE INDEX records_id_number ON records (id_number) WHERE id_number IS NOT NULL;
CREATE INDEX records_counts ON records (kiosk_id, status, hq_status);
-- Word-prefix search on the kiosk's search key: `' ' || search_key LIKE '% word%'`.
CREATE INDEX records_name ON records USING gin ((' ' || search_key) gin_trgm_ops);
CREATE TABLE duplicates (
    a bytea NOT NULL, b bytea NOT NULL, id_number text COLLATE "C" NOT NULL,
    at timestamptz NOT NULL, PRIMARY KEY (a, b)
);
CREATE INDEX duplicates_id_number ON duplicates (id_number);
-- Per-kiosk sequence: a writer holds the kiosk's row until commit, so sequences become
-- visible in order and a kiosk's cursor never skips a change committed later.
CREATE TABLE outbox_heads (kiosk_id text COLLATE "C" PRIMARY KEY, seq bigint NOT NULL);
CREATE TABLE outbox (
    kiosk_id text COLLATE "C" NOT NULL, seq bigint NOT NULL, record_id bytea NOT NULL,
    change bytea NOT NULL, PRIMARY KEY (kiosk_id, seq)
);
CREATE TABLE cursors (kiosk_id text COLLATE "C" PRIMARY KEY, cursor bigint NOT NULL);
CREATE TABLE receipts (
    id text PRIMARY KEY, kiosk_id text NOT NULL, issued_at timestamptz NOT NULL,
    body bytea NOT NULL
);
-- The chain head: one row, locked by each appender, so the chain has one order and no gaps.
CREATE TABLE audit_head (one boolean PRIMARY KEY CHECK (one), seq bigint NOT NULL, hash bytea NOT NULL);
INSERT INTO audit_head VALUES (true, 0, '\x0000000000000000000000000000000000000000000000000000000000000000');
CREATE TABLE audit (
    seq bigint NOT NULL, at timestamptz NOT NULL, actor text NOT NULL, action text NOT NULL,
    subject text NOT NULL, detail text NOT NULL, prev_hash bytea NOT NULL, hash bytea NOT NULL,
    PRIMARY KEY (seq, at)
) PARTITION BY RANGE (at);
"#,
    );
    // dashA: dashboard users and sessions, kiosk telemetry history, operator and audit filters.
    let dash = r#"
CREATE TABLE dash_users (
    id text PRIMARY KEY, name text NOT NULL UNIQUE, role text NOT NULL, provinces text NOT NULL,
    password_hash text NOT NULL, failed_logins integer NOT NULL DEFAULT 0,
    locked_until timestamptz, columns text, created_at timestamptz NOT NULL
);
CREATE TABLE dash_sessions (
    token_hash text PRIMARY KEY, user_id text NOT NULL, csrf text NOT NULL,
    created_at timestamptz NOT NULL, expires_at timestamptz NOT NULL
);
CREATE INDEX dash_sessions_expiry ON dash_sessions (expires_at);
CREATE TABLE kiosk_telemetry (
    kiosk_id text COLLATE "C" NOT NULL, at timestamptz NOT NULL, free_bytes bigint NOT NULL,
    records_waiting bigint NOT NULL, PRIMARY KEY (kiosk_id, at)
);
CREATE INDEX records_operator ON records (operator_id, id);
CREATE INDEX audit_actor ON audit (actor, seq);
"#;
    vec![
        first,
        dash.to_owned(),
        review::MIGRATION.to_owned(),
        ID_NUMBERS.to_owned(),
        FEWER_INDEXES.to_owned(),
        AUDIT_APPEND.to_owned(),
    ]
}

/// The audit chain's append as one statement. Each appender holds the head row from its
/// append to its commit; with the head read, the hashes made in HQ and the rows written as
/// three statements (and the month checked as a fourth), that was six round trips under the
/// lock, each waiting for a busy core, and 20 kiosks queued on it (32 ms per frame, about all
/// of the replay's time). HQ sends each entry's length-prefixed fields (`audit_fields`); the
/// function chains them as `audit_hash` does.
const AUDIT_APPEND: &str = r#"
CREATE FUNCTION audit_append(
    ats timestamptz[], actors text[], actions text[], subjects text[], details text[],
    fields bytea[], month_names text[], month_starts text[], month_ends text[]
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    head bigint;
    prev bytea;
    h bytea;
    seqs bigint[] := '{}';
    prevs bytea[] := '{}';
    hashes bytea[] := '{}';
BEGIN
    SELECT seq, hash INTO STRICT head, prev FROM audit_head FOR UPDATE;
    -- Month partitions are made under the head's lock, so two appenders never race to make one.
    FOR i IN 1 .. coalesce(array_length(month_names, 1), 0) LOOP
        IF to_regclass('audit_' || month_names[i]) IS NULL THEN
            EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF audit FOR VALUES FROM (%L) TO (%L)',
                'audit_' || month_names[i], month_starts[i] || ' 00:00:00+00',
                month_ends[i] || ' 00:00:00+00');
        END IF;
    END LOOP;
    FOR i IN 1 .. coalesce(array_length(ats, 1), 0) LOOP
        h := sha256(int8send(octet_length(prev)::bigint) || prev || fields[i]);
        head := head + 1;
        seqs := seqs || head;
        prevs := prevs || prev;
        hashes := hashes || h;
        prev := h;
    END LOOP;
    INSERT INTO audit(seq, at, actor, action, subject, detail, prev_hash, hash)
        SELECT * FROM unnest(seqs, ats, actors, actions, subjects, details, prevs, hashes);
    UPDATE audit_head SET seq = head, hash = prev;
END $$;
"#;

/// Each new record wrote ten index entries, most of the insert's cost (172 rows: 10–16 ms,
/// 2.5 ms without them). Per-kiosk counts read the kiosk index's included columns; the rare
/// HQ statuses get a partial index (a record without one is found by the id order); ID
/// numbers are looked up in `id_numbers`. Seven entries per new record remain.
const FEWER_INDEXES: &str = r#"
DROP INDEX records_counts;
DROP INDEX records_kiosk;
CREATE INDEX records_kiosk ON records (kiosk_id, id) INCLUDE (status, hq_status);
DROP INDEX records_hq_status;
CREATE INDEX records_hq_status ON records (hq_status, id) WHERE hq_status IS NOT NULL;
DROP INDEX records_id_number;
"#;

/// Which records hold each ID number, unpartitioned: deduplication asks this for every frame,
/// one probe per number, where `records` (partitioned by id) needed one per number and
/// partition (measured on 16 partitions: 19 ms per frame of 172 records, most of the
/// database's time for that frame after the insert). Kept by statement triggers, so no write
/// of `records` can leave it behind.
const ID_NUMBERS: &str = r#"
CREATE TABLE id_numbers (
    id_number text COLLATE "C" NOT NULL, record_id bytea NOT NULL,
    PRIMARY KEY (id_number, record_id)
);
INSERT INTO id_numbers SELECT id_number, id FROM records WHERE id_number IS NOT NULL;
CREATE FUNCTION id_numbers_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO id_numbers SELECT id_number, id FROM new_rows WHERE id_number IS NOT NULL
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE FUNCTION id_numbers_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM id_numbers d USING old_rows o JOIN new_rows n ON n.id = o.id
        WHERE o.id_number IS DISTINCT FROM n.id_number
          AND d.id_number = o.id_number AND d.record_id = o.id;
    INSERT INTO id_numbers SELECT n.id_number, n.id FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE n.id_number IS NOT NULL AND o.id_number IS DISTINCT FROM n.id_number
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE FUNCTION id_numbers_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM id_numbers d USING old_rows o
        WHERE d.id_number = o.id_number AND d.record_id = o.id;
    RETURN NULL;
END $$;
CREATE TRIGGER id_numbers_inserted AFTER INSERT ON records
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION id_numbers_inserted();
CREATE TRIGGER id_numbers_updated AFTER UPDATE ON records
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION id_numbers_updated();
CREATE TRIGGER id_numbers_deleted AFTER DELETE ON records
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION id_numbers_deleted();
"#;

/// Serialises migrations of concurrent `enroll-hq` processes (an arbitrary fixed key).
const MIGRATION_LOCK: i64 = 0x454e_524f_4c4c_4851; // "ENROLLHQ"

pub struct PgStorage {
    /// `Some` until dropped; shut down in the background so dropping never blocks a runtime.
    rt: Option<Runtime>,
    handle: Handle,
    pool: Pool,
}

impl From<tokio_postgres::Error> for StorageError {
    fn from(e: tokio_postgres::Error) -> Self {
        let message = match e.as_db_error() {
            Some(db) => db.to_string(),
            None => e.to_string(),
        };
        StorageError::Backend {
            backend: "postgres",
            message,
        }
    }
}

fn backend_err(message: impl ToString) -> StorageError {
    StorageError::Backend {
        backend: "postgres",
        message: message.to_string(),
    }
}

impl PgStorage {
    /// Connects to `postgres://USER@HOST:PORT/DB` and applies pending migrations.
    pub fn open(url: &str) -> Result<Self> {
        let storage = Self::connect(url)?;
        storage.handle.block_on(migrate(&storage.pool))?;
        Ok(storage)
    }

    /// A read-only pool on a streaming replica: no migrations (the primary applies them), but
    /// a schema newer than this `enroll-hq` is refused as on the primary.
    pub fn open_replica(url: &str) -> Result<Self> {
        let storage = Self::connect(url)?;
        let found: i32 = storage.handle.block_on(async {
            let c = storage.pool.get().await.map_err(backend_err)?;
            let row = c
                .query_one(
                    "SELECT coalesce(max(version), 0) FROM schema_migrations",
                    &[],
                )
                .await?;
            Ok::<_, StorageError>(row.get(0))
        })?;
        let known = migrations().len() as i64;
        if i64::from(found) > known {
            return Err(StorageError::TooNew {
                found: found.into(),
                known,
            });
        }
        Ok(storage)
    }

    fn connect(url: &str) -> Result<Self> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|e| backend_err(format!("database URL: {e}")))?;
        // Statements are prepared once per pooled connection, often while the tables are still
        // small: PostgreSQL's generic plan then scans every partition for `id = ANY($1)` and keeps
        // doing so as they grow (measured: the per-frame lookups were 2.4 s of a 10,000-record
        // sync). Custom plans see each partition's size and the array, and use the indexes.
        let options = match config.get_options() {
            Some(o) if !o.is_empty() => format!("{o} -c plan_cache_mode=force_custom_plan"),
            _ => "-c plan_cache_mode=force_custom_plan".to_owned(),
        };
        config.options(&options);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("hq-postgres")
            .enable_all()
            .build()
            .map_err(|e| backend_err(format!("runtime: {e}")))?;
        let handle = rt.handle().clone();
        let mgr = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(60)))
            .create_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|e| backend_err(format!("pool: {e}")))?;
        Ok(PgStorage {
            rt: Some(rt),
            handle,
            pool,
        })
    }
}

impl Drop for PgStorage {
    fn drop(&mut self) {
        self.pool.close();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

async fn migrate(pool: &Pool) -> Result<()> {
    let mut c = pool.get().await.map_err(backend_err)?;
    let tx = c.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let found: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .get(0);
    let steps = migrations();
    let known = steps.len() as i64;
    if i64::from(found) > known {
        return Err(StorageError::TooNew {
            found: found.into(),
            known,
        });
    }
    for (i, step) in steps.iter().enumerate().skip(found as usize) {
        tx.batch_execute(step).await?;
        let version = i as i32 + 1;
        tx.execute(
            "INSERT INTO schema_migrations(version) VALUES ($1)",
            &[&version],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

impl HqStorage for PgStorage {
    fn session(&self) -> Result<Box<dyn Session>> {
        let client = self.handle.block_on(self.pool.get()).map_err(backend_err)?;
        Ok(Box::new(PgSession {
            handle: self.handle.clone(),
            client: Some(client),
            in_tx: false,
        }))
    }
    fn spare_session(&self) -> Result<Option<Box<dyn Session>>> {
        let mut now = self.pool.timeouts();
        now.wait = Some(Duration::ZERO);
        match self.handle.block_on(self.pool.timeout_get(&now)) {
            Ok(client) => Ok(Some(Box::new(PgSession {
                handle: self.handle.clone(),
                client: Some(client),
                in_tx: false,
            }))),
            Err(deadpool_postgres::PoolError::Timeout(_)) => Ok(None),
            Err(e) => Err(backend_err(e)),
        }
    }
    fn backend(&self) -> &'static str {
        "postgres"
    }
}

pub struct PgSession {
    handle: Handle,
    /// Always `Some` until dropped.
    client: Option<Object>,
    in_tx: bool,
}

impl Drop for PgSession {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        // A session that ended inside a transaction is rolled back; a connection that cannot
        // be made clean is closed rather than returned to the pool.
        if self.in_tx
            && self
                .handle
                .block_on(client.batch_execute("ROLLBACK"))
                .is_err()
        {
            drop(Object::take(client));
        }
    }
}

type Params<'a> = Vec<&'a (dyn ToSql + Sync)>;

impl PgSession {
    fn c(&self) -> &Object {
        // Invariant: `client` is `Some` for the session's whole life; only `drop` takes it.
        self.client.as_ref().expect("connection present until drop")
    }
    fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let c = self.c();
        self.handle.block_on(async {
            let st = c.prepare_cached(sql).await?;
            Ok(c.query(&st, params).await?)
        })
    }
    /// `query` on a generic plan: for the per-id probes, whose plan cannot depend on the array
    /// (each probe is pruned at run time), so planning them per call is wasted. The switch
    /// travels in the same round trip; inside a failed transaction the rollback undoes it.
    fn query_generic(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let c = self.c();
        self.handle.block_on(async {
            let st = c.prepare_cached(sql).await?;
            let (set, rows, reset) = tokio::join!(
                c.batch_execute("SET plan_cache_mode = force_generic_plan"),
                c.query(&st, params),
                c.batch_execute("RESET plan_cache_mode"),
            );
            set?;
            let rows = rows?;
            reset?;
            Ok(rows)
        })
    }
    fn query_opt(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
    fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let c = self.c();
        self.handle.block_on(async {
            let st = c.prepare_cached(sql).await?;
            Ok(c.execute(&st, params).await?)
        })
    }
    fn batch(&self, sql: &str) -> Result<()> {
        Ok(self.handle.block_on(self.c().batch_execute(sql))?)
    }
}

/// The parameters of [`RECORD_COLS`] as typed arrays, `$1` to `$18`, for `unnest`.
const RECORD_ARRAYS: &str = "$1::bytea[], $2::text[], $3::text[], $4::text[], $5::text[],
    $6::text[], $7::text[], $8::text[], $9::text[], $10::timestamptz[], $11::text[],
    $12::text[], $13::text[], $14::timestamptz[], $15::bytea[], $16::bytea[], $17::int4[],
    $18::bytea[]";
/// A batch of records as one array per column: one statement writes them all.
struct RecordColumns<'a> {
    ids: Vec<Vec<u8>>,
    kiosk: Vec<&'a str>,
    eno: Vec<&'a str>,
    name: Vec<&'a str>,
    key: Vec<&'a str>,
    idn: Vec<Option<&'a str>>,
    prov: Vec<Option<&'a str>>,
    comm: Vec<Option<&'a str>>,
    op: Vec<&'a str>,
    cap: Vec<Option<DateTime<Utc>>>,
    status: Vec<&'a str>,
    hqs: Vec<Option<&'a str>>,
    hqr: Vec<Option<&'a str>>,
    upd: Vec<DateTime<Utc>>,
    heads: Vec<Vec<u8>>,
    blobs: Vec<Vec<u8>>,
    chunks: Vec<i32>,
    docs: Vec<&'a [u8]>,
}

impl<'a> RecordColumns<'a> {
    fn of(records: &'a [StoredRecord]) -> Result<Self> {
        let col = |f: fn(&'a StoredRecord) -> &'a str| records.iter().map(f).collect();
        let opt = |f: fn(&'a StoredRecord) -> Option<&'a str>| records.iter().map(f).collect();
        Ok(RecordColumns {
            ids: records.iter().map(|r| r.id.as_bytes().to_vec()).collect(),
            kiosk: col(|r| &r.kiosk_id),
            eno: col(|r| &r.p.enrollment_no),
            name: col(|r| &r.p.full_name),
            key: col(|r| &r.p.search_key),
            idn: opt(|r| r.p.id_number.as_deref()),
            prov: opt(|r| r.p.province_code.as_deref()),
            comm: opt(|r| r.p.commune_code.as_deref()),
            op: col(|r| &r.p.operator_id),
            cap: records.iter().map(|r| r.p.captured_at).collect(),
            status: col(|r| &r.p.status),
            hqs: opt(|r| r.p.hq_status.as_deref()),
            hqr: opt(|r| r.p.hq_reason.as_deref()),
            upd: records.iter().map(|r| r.p.updated_at).collect(),
            heads: records.iter().map(|r| heads_bytes(&r.heads)).collect(),
            blobs: records.iter().map(|r| blobs_bytes(&r.blobs)).collect(),
            chunks: records
                .iter()
                .map(|r| i32::try_from(r.chunks))
                .collect::<std::result::Result<Vec<i32>, _>>()
                .map_err(|_| StorageError::Corrupt("chunk count out of range".into()))?,
            docs: records.iter().map(|r| r.doc.as_slice()).collect(),
        })
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 18] {
        [
            &self.ids,
            &self.kiosk,
            &self.eno,
            &self.name,
            &self.key,
            &self.idn,
            &self.prov,
            &self.comm,
            &self.op,
            &self.cap,
            &self.status,
            &self.hqs,
            &self.hqr,
            &self.upd,
            &self.heads,
            &self.blobs,
            &self.chunks,
            &self.docs,
        ]
    }
}

/// The ids a `RETURNING id` gave.
fn returned_ids(rows: &[Row]) -> Result<HashSet<Uuid>> {
    rows.iter().map(|r| uuid(r.try_get(0)?)).collect()
}

const KIOSK_COLS: &str =
    "id, name, public_key, added_at, revoked_at, last_seen_at, last_sync_at, telemetry";

fn kiosk_of(r: &Row) -> Result<KioskEntry> {
    let telemetry = r
        .try_get::<_, Option<String>>(7)?
        .map(|t| serde_json::from_str::<KioskTelemetry>(&t))
        .transpose()
        .map_err(|e| StorageError::Corrupt(format!("kiosk telemetry: {e}")))?;
    Ok(KioskEntry {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        public_key: r.try_get(2)?,
        added_at: r.try_get(3)?,
        revoked_at: r.try_get(4)?,
        last_seen_at: r.try_get(5)?,
        last_sync_at: r.try_get(6)?,
        telemetry,
    })
}

const PROJ_COLS: &str = "id, kiosk_id, enrollment_no, full_name, search_key, id_number, province_code, commune_code, operator_id, captured_at, status, hq_status, hq_reason, updated_at";

fn uuid(b: &[u8]) -> Result<Uuid> {
    Uuid::from_slice(b).map_err(|e| StorageError::Corrupt(format!("record id: {e}")))
}

fn row_of(r: &Row) -> Result<RecordRow> {
    Ok(RecordRow {
        id: uuid(r.try_get::<_, &[u8]>(0)?)?,
        kiosk_id: r.try_get(1)?,
        p: Projection {
            enrollment_no: r.try_get(2)?,
            full_name: r.try_get(3)?,
            search_key: r.try_get(4)?,
            id_number: r.try_get(5)?,
            province_code: r.try_get(6)?,
            commune_code: r.try_get(7)?,
            operator_id: r.try_get(8)?,
            captured_at: r.try_get(9)?,
            status: r.try_get(10)?,
            hq_status: r.try_get(11)?,
            hq_reason: r.try_get(12)?,
            updated_at: r.try_get(13)?,
        },
    })
}

fn hash32(b: &[u8]) -> Result<[u8; 32]> {
    <[u8; 32]>::try_from(b).map_err(|_| StorageError::Corrupt("audit hash length".into()))
}

/// Records by id, one index probe each in the one partition that can hold it, in the order of
/// `$1`. Measured on 16 partitions: `id = ANY($1)` for a frame's 172 ids planned and ran in
/// 11–13 ms (every partition scanned, each id estimated against each), this in 2–3 ms. The
/// `LIMIT` keeps the planner from turning the lookup back into one join over every partition.
fn lookup_by_id(cols: &str, lock: &str) -> String {
    format!(
        "SELECT r.* FROM unnest($1::bytea[]) AS q(id) CROSS JOIN LATERAL \
         (SELECT {cols} FROM records WHERE records.id = q.id LIMIT 1{lock}) AS r"
    )
}

/// Ids sorted and unique: rows locked by [`lookup_by_id`] are locked in id order, so two sessions
/// never wait on each other in a cycle.
fn sorted_ids(ids: &[Uuid]) -> Vec<Vec<u8>> {
    let set: BTreeSet<&Uuid> = ids.iter().collect();
    set.into_iter().map(|i| i.as_bytes().to_vec()).collect()
}

/// `LIKE` pattern for a word that must begin a word of the search key.
fn word_prefix(word: &str) -> String {
    let mut escaped = String::with_capacity(word.len() + 3);
    escaped.push_str("% ");
    for c in word.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    escaped
}

impl Session for PgSession {
    fn begin(&mut self) -> Result<()> {
        self.batch("BEGIN")?;
        self.in_tx = true;
        Ok(())
    }
    fn commit(&mut self) -> Result<()> {
        // Whatever COMMIT answers, the transaction is over.
        self.in_tx = false;
        self.batch("COMMIT")
    }
    fn commit_unsynced(&mut self) -> Result<()> {
        // The WAL is flushed in order: the next synchronous commit (the receipt's, or any
        // other session's answer) flushes this one too.
        let done = self.batch("SET LOCAL synchronous_commit = off; COMMIT");
        // After an error the transaction may still be open (the SET failed): it is rolled back
        // then, which is harmless if the COMMIT was reached.
        self.in_tx = done.is_err();
        done
    }
    fn rollback(&mut self) -> Result<()> {
        if self.in_tx {
            self.in_tx = false;
            self.batch("ROLLBACK")?;
        }
        Ok(())
    }

    fn meta(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        let row = self.query_opt("SELECT value FROM meta WHERE key = $1", &[&key])?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }
    fn set_meta(&mut self, key: &str, value: &[u8]) -> Result<()> {
        self.execute(
            "INSERT INTO meta(key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&key, &value],
        )?;
        Ok(())
    }

    fn add_kiosk(&mut self, k: &KioskEntry) -> Result<()> {
        self.execute(
            "INSERT INTO kiosks(id, name, public_key, added_at, revoked_at) VALUES ($1, $2, $3, $4, $5)",
            &[&k.id, &k.name, &k.public_key, &k.added_at, &k.revoked_at],
        )?;
        Ok(())
    }
    fn kiosk(&mut self, id: &str) -> Result<Option<KioskEntry>> {
        let sql = format!("SELECT {KIOSK_COLS} FROM kiosks WHERE id = $1");
        self.query_opt(&sql, &[&id])?
            .map(|r| kiosk_of(&r))
            .transpose()
    }
    fn kiosk_by_key(&mut self, public_key: &str) -> Result<Option<KioskEntry>> {
        let sql = format!("SELECT {KIOSK_COLS} FROM kiosks WHERE public_key = $1");
        self.query_opt(&sql, &[&public_key])?
            .map(|r| kiosk_of(&r))
            .transpose()
    }
    fn kiosk_count(&mut self) -> Result<u64> {
        let n: i64 = self.query("SELECT count(*) FROM kiosks", &[])?[0].try_get(0)?;
        Ok(n as u64)
    }
    fn kiosks(&mut self, after: Option<&str>, limit: u32) -> Result<Vec<KioskEntry>> {
        let sql = format!("SELECT {KIOSK_COLS} FROM kiosks WHERE id > $1 ORDER BY id LIMIT $2");
        let rows = self.query(&sql, &[&after.unwrap_or(""), &i64::from(limit)])?;
        rows.iter().map(kiosk_of).collect()
    }
    fn revoke_kiosk(&mut self, id: &str, at: DateTime<Utc>) -> Result<bool> {
        let n = self.execute(
            "UPDATE kiosks SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            &[&id, &at],
        )?;
        Ok(n == 1)
    }
    fn kiosk_seen(&mut self, id: &str, at: DateTime<Utc>, t: &KioskTelemetry) -> Result<()> {
        let json = serde_json::to_string(t).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        self.execute(
            "UPDATE kiosks SET last_seen_at = $2, telemetry = $3 WHERE id = $1",
            &[&id, &at, &json],
        )?;
        self.execute(
            "INSERT INTO kiosk_telemetry(kiosk_id, at, free_bytes, records_waiting) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[&id, &at, &(t.free_bytes as i64), &(t.records_waiting as i64)],
        )?;
        let old = at - chrono::Duration::days(TELEMETRY_KEEP_DAYS);
        self.execute(
            "DELETE FROM kiosk_telemetry WHERE kiosk_id = $1 AND at < $2",
            &[&id, &old],
        )?;
        Ok(())
    }
    fn kiosk_synced(&mut self, id: &str, at: DateTime<Utc>) -> Result<()> {
        // GREATEST ignores NULL, so a first sync also sets `last_seen_at`.
        self.execute(
            "UPDATE kiosks SET last_sync_at = $2, last_seen_at = greatest(last_seen_at, $2) WHERE id = $1",
            &[&id, &at],
        )?;
        Ok(())
    }

    fn records(&mut self, ids: &[Uuid]) -> Result<Vec<StoredRecord>> {
        // Inside a transaction the rows stay locked until it ends, taken in id order so that
        // two sessions never wait on each other in a cycle.
        let lock = if self.in_tx { " FOR UPDATE" } else { "" };
        let sql = lookup_by_id(&format!("{PROJ_COLS}, heads, blobs, chunks, doc"), lock);
        let rows = self.query_generic(&sql, &[&sorted_ids(ids)])?;
        let mut by_id = BTreeMap::new();
        for r in &rows {
            let row = row_of(r)?;
            let chunks: i32 = r.try_get(16)?;
            by_id.insert(
                row.id,
                StoredRecord {
                    id: row.id,
                    kiosk_id: row.kiosk_id,
                    doc: r.try_get(17)?,
                    chunks: u32::try_from(chunks)
                        .map_err(|_| StorageError::Corrupt("negative chunk count".into()))?,
                    heads: heads_from(r.try_get(14)?)?,
                    blobs: blobs_from(r.try_get(15)?)?,
                    p: row.p,
                },
            );
        }
        // In the order asked, like the SQLite back-end.
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }
    fn record_states(&mut self, ids: &[Uuid]) -> Result<Vec<RecordState>> {
        let rows = self.query_generic(
            &lookup_by_id("id, kiosk_id, heads, blobs", ""),
            &[&sorted_ids(ids)],
        )?;
        let mut by_id = BTreeMap::new();
        for r in &rows {
            let id = uuid(r.try_get(0)?)?;
            by_id.insert(
                id,
                RecordState {
                    id,
                    kiosk_id: r.try_get(1)?,
                    heads: heads_from(r.try_get(2)?)?,
                    blobs: blobs_from(r.try_get(3)?)?,
                },
            );
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }
    fn put_records(&mut self, records: &[StoredRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let c = RecordColumns::of(records)?;
        self.execute(
            &format!(
                "INSERT INTO records({RECORD_COLS}) SELECT * FROM unnest({RECORD_ARRAYS})
                 ON CONFLICT (id) DO UPDATE SET {RECORD_SET}"
            ),
            &c.params(),
        )?;
        Ok(())
    }
    fn put_records_if(
        &mut self,
        mut records: Vec<(StoredRecord, Option<Vec<ChangeHash>>)>,
    ) -> Result<Vec<Uuid>> {
        // The check is the write's own condition, so no statement reads the heads again (that
        // read's planning over 16 partitions was the costliest statement under 20 kiosks).
        // Rows are taken in id order, as everywhere, so two sessions never lock in a cycle.
        records.sort_by_key(|(r, _)| r.id);
        let (new, old): (Vec<_>, Vec<_>) = records.into_iter().partition(|(_, h)| h.is_none());
        let mut stale = Vec::new();
        let new: Vec<StoredRecord> = new.into_iter().map(|(r, _)| r).collect();
        if !new.is_empty() {
            let c = RecordColumns::of(&new)?;
            let rows = self.query(
                &format!(
                    "INSERT INTO records({RECORD_COLS}) SELECT * FROM unnest({RECORD_ARRAYS})
                     ON CONFLICT (id) DO NOTHING RETURNING id"
                ),
                &c.params(),
            )?;
            let written = returned_ids(&rows)?;
            stale.extend(new.iter().map(|r| r.id).filter(|id| !written.contains(id)));
        }
        if !old.is_empty() {
            let read: Vec<Vec<u8>> = old
                .iter()
                .map(|(_, h)| heads_bytes(h.as_deref().unwrap_or_default()))
                .collect();
            let old: Vec<StoredRecord> = old.into_iter().map(|(r, _)| r).collect();
            let c = RecordColumns::of(&old)?;
            let mut params = c.params().to_vec();
            params.push(&read);
            let set = RECORD_SET.replace("excluded.", "u.");
            let rows = self.query(
                &format!(
                    "UPDATE records AS r SET {set}
                     FROM unnest({RECORD_ARRAYS}, $19::bytea[]) AS u({RECORD_COLS}, read_heads)
                     WHERE r.id = u.id AND r.heads = u.read_heads RETURNING r.id"
                ),
                &params,
            )?;
            let written = returned_ids(&rows)?;
            stale.extend(old.iter().map(|r| r.id).filter(|id| !written.contains(id)));
        }
        Ok(stale)
    }
    fn lock_id_numbers(&mut self, numbers: &[String]) -> Result<()> {
        if numbers.is_empty() {
            return Ok(());
        }
        // Transaction advisory locks keyed by the ID number, taken in key order (no cycles);
        // released at commit or rollback.
        let sorted: BTreeSet<&str> = numbers.iter().map(String::as_str).collect();
        let sorted: Vec<&str> = sorted.into_iter().collect();
        self.query(
            "SELECT pg_advisory_xact_lock(k) FROM (
                SELECT DISTINCT hashtextextended(n, 7) AS k FROM unnest($1::text[]) AS n ORDER BY 1
             ) AS keys",
            &[&sorted],
        )?;
        Ok(())
    }
    fn records_with_id_number(&mut self, id_number: &str) -> Result<Vec<Uuid>> {
        let rows = self.query(
            "SELECT record_id FROM id_numbers WHERE id_number = $1 ORDER BY record_id",
            &[&id_number],
        )?;
        rows.iter().map(|r| uuid(r.try_get(0)?)).collect()
    }
    fn records_with_id_numbers(&mut self, numbers: &[String]) -> Result<Vec<(String, Uuid)>> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.query(
            "SELECT id_number, record_id FROM id_numbers WHERE id_number = ANY($1) ORDER BY 1, 2",
            &[&numbers],
        )?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, uuid(r.try_get(1)?)?)))
            .collect()
    }
    fn add_duplicate_pair(
        &mut self,
        id_number: &str,
        a: &Uuid,
        b: &Uuid,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let n = self.execute(
            "INSERT INTO duplicates(a, b, id_number, at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[&&lo.as_bytes()[..], &&hi.as_bytes()[..], &id_number, &at],
        )?;
        Ok(n == 1)
    }

    fn list_records(&mut self, q: &RecordQuery, page: &Page) -> Result<Vec<RecordRow>> {
        let mut sql = format!("SELECT {PROJ_COLS} FROM records WHERE true");
        let words: Vec<String> = q
            .name_key
            .iter()
            .flat_map(|k| k.split_whitespace())
            .map(word_prefix)
            .collect();
        let hq_status = q.hq_status.as_ref().and_then(|s| s.as_ref());
        let after = page.after.map(|a| a.as_bytes().to_vec());
        let limit = i64::from(page.limit);
        let mut args: Params<'_> = Vec::new();
        fn cond<'a>(
            sql: &mut String,
            args: &mut Params<'a>,
            col: &str,
            op: &str,
            v: &'a (dyn ToSql + Sync),
        ) {
            args.push(v);
            sql.push_str(&format!(" AND {col} {op} ${}", args.len()));
        }
        let eqs = [
            ("kiosk_id", &q.kiosk),
            ("province_code", &q.province),
            ("commune_code", &q.commune),
            ("status", &q.status),
            ("operator_id", &q.operator),
        ];
        for (col, v) in &eqs {
            if let Some(v) = v {
                cond(&mut sql, &mut args, col, "=", v);
            }
        }
        if let Some(n) = &q.id_number {
            args.push(n);
            sql.push_str(&format!(
                " AND id IN (SELECT record_id FROM id_numbers WHERE id_number = ${})",
                args.len()
            ));
        }
        match (&q.hq_status, &hq_status) {
            (Some(None), _) => sql.push_str(" AND hq_status IS NULL"),
            (_, Some(s)) => cond(&mut sql, &mut args, "hq_status", "=", s),
            _ => {}
        }
        if let Some(t) = &q.captured_from {
            cond(&mut sql, &mut args, "captured_at", ">=", t);
        }
        if let Some(t) = &q.captured_to {
            cond(&mut sql, &mut args, "captured_at", "<", t);
        }
        for w in &words {
            cond(&mut sql, &mut args, "(' ' || search_key)", "LIKE", w);
        }
        if let Some(list) = &q.provinces_in {
            args.push(list);
            sql.push_str(&format!(" AND province_code = ANY(${})", args.len()));
        }
        let by_capture = q.by_capture_time();
        let op = if page.newest_first { "<" } else { ">" };
        if let Some(a) = &after {
            if by_capture {
                args.push(a);
                sql.push_str(&format!(
                    " AND (captured_at, id) {op} (SELECT captured_at, id FROM records WHERE id = ${})",
                    args.len()
                ));
            } else {
                cond(&mut sql, &mut args, "id", op, a);
            }
        }
        let dir = if page.newest_first { "DESC" } else { "ASC" };
        args.push(&limit);
        let order = if by_capture {
            format!("captured_at {dir}, id {dir}")
        } else {
            format!("id {dir}")
        };
        sql.push_str(&format!(" ORDER BY {order} LIMIT ${}", args.len()));
        let rows = self.query(&sql, &args)?;
        rows.iter().map(row_of).collect()
    }
    fn duplicate_groups(&mut self, after: Option<&str>, limit: u32) -> Result<Vec<DuplicateGroup>> {
        let numbers: Vec<String> = self
            .query(
                "SELECT DISTINCT id_number FROM duplicates WHERE id_number > $1 ORDER BY id_number LIMIT $2",
                &[&after.unwrap_or(""), &i64::from(limit)],
            )?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()?;
        let sql = format!(
            "SELECT r.* FROM id_numbers AS q CROSS JOIN LATERAL
             (SELECT {PROJ_COLS} FROM records WHERE records.id = q.record_id LIMIT 1) AS r
             WHERE q.id_number = ANY($1) ORDER BY q.id_number, q.record_id"
        );
        let rows = self.query(&sql, &[&numbers])?;
        let mut groups: Vec<DuplicateGroup> = numbers
            .into_iter()
            .map(|id_number| DuplicateGroup {
                id_number,
                records: Vec::new(),
            })
            .collect();
        for r in &rows {
            let row = row_of(r)?;
            if let Some(g) = groups
                .iter_mut()
                .find(|g| Some(&g.id_number) == row.p.id_number.as_ref())
            {
                g.records.push(row);
            }
        }
        Ok(groups)
    }
    fn kiosk_counts(&mut self, after: Option<&str>, limit: u32) -> Result<Vec<KioskCounts>> {
        let ids: Vec<String> = self
            .query(
                "SELECT id FROM kiosks WHERE id > $1 ORDER BY id LIMIT $2",
                &[&after.unwrap_or(""), &i64::from(limit)],
            )?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()?;
        let rows = self.query(
            "SELECT kiosk_id, status, hq_status, count(*) FROM records WHERE kiosk_id = ANY($1)
             GROUP BY kiosk_id, status, hq_status",
            &[&ids],
        )?;
        let mut per: BTreeMap<String, Vec<(String, Option<String>, i64)>> = BTreeMap::new();
        for r in &rows {
            per.entry(r.try_get(0)?).or_default().push((
                r.try_get(1)?,
                r.try_get(2)?,
                r.try_get(3)?,
            ));
        }
        Ok(ids
            .into_iter()
            .map(|id| {
                let rows = per.remove(&id).unwrap_or_default();
                counts(id, rows)
            })
            .collect())
    }

    fn add_outbox(&mut self, kiosk_id: &str, record: &Uuid, change: &[u8]) -> Result<u64> {
        let seq: i64 = self.query(
            "WITH s AS (
                INSERT INTO outbox_heads(kiosk_id, seq) VALUES ($1, 1)
                ON CONFLICT (kiosk_id) DO UPDATE SET seq = outbox_heads.seq + 1 RETURNING seq
             )
             INSERT INTO outbox(kiosk_id, seq, record_id, change) SELECT $1, seq, $2, $3 FROM s
             RETURNING seq",
            &[&kiosk_id, &&record.as_bytes()[..], &change],
        )?[0]
            .try_get(0)?;
        Ok(seq as u64)
    }
    fn outbox_since(&mut self, kiosk_id: &str, after: u64, limit: u32) -> Result<Vec<OutboxEntry>> {
        let rows = self.query(
            "SELECT seq, record_id, change FROM outbox WHERE kiosk_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            &[&kiosk_id, &(after as i64), &i64::from(limit)],
        )?;
        rows.iter()
            .map(|r| {
                Ok(OutboxEntry {
                    seq: r.try_get::<_, i64>(0)? as u64,
                    record: uuid(r.try_get(1)?)?,
                    change: r.try_get(2)?,
                })
            })
            .collect()
    }
    fn set_cursor(&mut self, kiosk_id: &str, cursor: u64) -> Result<()> {
        self.execute(
            "INSERT INTO cursors(kiosk_id, cursor) VALUES ($1, $2)
             ON CONFLICT (kiosk_id) DO UPDATE SET cursor = greatest(cursors.cursor, excluded.cursor)",
            &[&kiosk_id, &(cursor as i64)],
        )?;
        Ok(())
    }
    fn cursor(&mut self, kiosk_id: &str) -> Result<u64> {
        let c = self.query_opt(
            "SELECT cursor FROM cursors WHERE kiosk_id = $1",
            &[&kiosk_id],
        )?;
        Ok(c.map(|r| r.try_get::<_, i64>(0)).transpose()?.unwrap_or(0) as u64)
    }

    fn put_receipt(
        &mut self,
        id: &str,
        kiosk_id: &str,
        at: DateTime<Utc>,
        body: &[u8],
    ) -> Result<()> {
        self.execute(
            "INSERT INTO receipts(id, kiosk_id, issued_at, body) VALUES ($1, $2, $3, $4)",
            &[&id, &kiosk_id, &at, &body],
        )?;
        Ok(())
    }

    fn audit(&mut self, entries: &[AuditEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        // Outside a transaction the read of the chain head and the appends must still be one.
        let own_tx = !self.in_tx;
        if own_tx {
            self.begin()?;
        }
        let result = self.append_audit(entries);
        if own_tx {
            match &result {
                Ok(()) => self.commit()?,
                Err(_) => self.rollback()?,
            }
        }
        result
    }
    fn audit_count(&mut self) -> Result<u64> {
        let n: i64 = self.query("SELECT count(*) FROM audit", &[])?[0].try_get(0)?;
        Ok(n as u64)
    }
    fn audit_since(&mut self, after: u64, limit: u32) -> Result<Vec<AuditRow>> {
        let rows = self.query(
            "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit
             WHERE seq > $1 ORDER BY seq LIMIT $2",
            &[&(after as i64), &i64::from(limit)],
        )?;
        rows.iter().map(audit_of).collect()
    }

    // ---- dashA ----
    fn add_user(&mut self, u: &DashUser) -> Result<bool> {
        let sql = format!(
            "INSERT INTO dash_users({USER_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT DO NOTHING"
        );
        let n = self.execute(
            &sql,
            &[
                &u.id,
                &u.name,
                &u.role,
                &u.provinces.join(","),
                &u.password_hash,
                &(u.failed_logins as i32),
                &u.locked_until,
                &u.columns,
                &u.created_at,
            ],
        )?;
        Ok(n == 1)
    }
    fn user_by_name(&mut self, name: &str) -> Result<Option<DashUser>> {
        let sql = format!("SELECT {USER_COLS} FROM dash_users WHERE name = $1");
        self.query_opt(&sql, &[&name])?
            .map(|r| user_of(&r))
            .transpose()
    }
    fn user(&mut self, id: &str) -> Result<Option<DashUser>> {
        let sql = format!("SELECT {USER_COLS} FROM dash_users WHERE id = $1");
        self.query_opt(&sql, &[&id])?
            .map(|r| user_of(&r))
            .transpose()
    }
    fn set_user_login(
        &mut self,
        id: &str,
        failed: u32,
        locked_until: Option<DateTime<Utc>>,
    ) -> Result<()> {
        self.execute(
            "UPDATE dash_users SET failed_logins = $2, locked_until = $3 WHERE id = $1",
            &[&id, &(failed as i32), &locked_until],
        )?;
        Ok(())
    }
    fn set_user_columns(&mut self, id: &str, columns: &str) -> Result<()> {
        self.execute(
            "UPDATE dash_users SET columns = $2 WHERE id = $1",
            &[&id, &columns],
        )?;
        Ok(())
    }
    fn add_web_session(&mut self, w: &WebSession) -> Result<()> {
        self.execute(
            "DELETE FROM dash_sessions WHERE expires_at < $1",
            &[&w.created_at],
        )?;
        self.execute(
            "INSERT INTO dash_sessions(token_hash, user_id, csrf, created_at, expires_at) VALUES ($1,$2,$3,$4,$5)",
            &[&w.token_hash, &w.user_id, &w.csrf, &w.created_at, &w.expires_at],
        )?;
        Ok(())
    }
    fn web_session(&mut self, token_hash: &str) -> Result<Option<WebSession>> {
        let row = self.query_opt(
            "SELECT token_hash, user_id, csrf, created_at, expires_at FROM dash_sessions WHERE token_hash = $1",
            &[&token_hash],
        )?;
        row.map(|r| {
            Ok(WebSession {
                token_hash: r.try_get(0)?,
                user_id: r.try_get(1)?,
                csrf: r.try_get(2)?,
                created_at: r.try_get(3)?,
                expires_at: r.try_get(4)?,
            })
        })
        .transpose()
    }
    fn end_web_session(&mut self, token_hash: &str) -> Result<()> {
        self.execute(
            "DELETE FROM dash_sessions WHERE token_hash = $1",
            &[&token_hash],
        )?;
        Ok(())
    }
    fn telemetry_history(
        &mut self,
        kiosks: &[String],
        since: DateTime<Utc>,
    ) -> Result<Vec<TelemetryPoint>> {
        let rows = self.query(
            "SELECT kiosk_id, at, free_bytes, records_waiting FROM kiosk_telemetry
             WHERE kiosk_id = ANY($1) AND at >= $2 ORDER BY kiosk_id, at",
            &[&kiosks, &since],
        )?;
        rows.iter()
            .map(|r| {
                Ok(TelemetryPoint {
                    kiosk_id: r.try_get(0)?,
                    at: r.try_get(1)?,
                    free_bytes: r.try_get::<_, i64>(2)? as u64,
                    records_waiting: r.try_get::<_, i64>(3)? as u64,
                })
            })
            .collect()
    }
    fn audit_search(
        &mut self,
        q: &AuditQuery,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditRow>> {
        self.dash_audit_search(q, before, limit)
    }
    // --- dashB ---
    fn put_change_sigs(&mut self, sigs: &[ChangeSig]) -> Result<()> {
        review::put_change_sigs(self, sigs)
    }
    fn change_sigs(&mut self, record: &Uuid, hashes: &[[u8; 32]]) -> Result<Vec<ChangeSig>> {
        review::change_sigs(self, record, hashes)
    }
    fn add_comment(&mut self, c: &CommentRow) -> Result<u64> {
        review::add_comment(self, c)
    }
    fn comments(&mut self, record: &Uuid, after: u64, limit: u32) -> Result<Vec<CommentRow>> {
        review::comments(self, record, after, limit)
    }
    fn put_adjudication(&mut self, a: &AdjudicationRow) -> Result<()> {
        review::put_adjudication(self, a)
    }
    fn adjudications(&mut self, id_number: &str, limit: u32) -> Result<Vec<AdjudicationRow>> {
        review::adjudications(self, id_number, limit)
    }
    fn is_duplicate_pair(&mut self, a: &Uuid, b: &Uuid) -> Result<bool> {
        review::is_duplicate_pair(self, a, b)
    }
    fn add_sync_session(&mut self, row: &SyncSessionRow, receipt: &[u8]) -> Result<u64> {
        review::add_sync_session(self, row, receipt)
    }
    fn sync_sessions(&mut self, q: &SessionQuery) -> Result<Vec<SyncSessionRow>> {
        review::sync_sessions(self, q)
    }
    fn sync_session(&mut self, seq: u64) -> Result<Option<(SyncSessionRow, Vec<u8>)>> {
        review::sync_session(self, seq)
    }
    fn put_quality(&mut self, facts: &[QualityFacts]) -> Result<()> {
        review::put_quality(self, facts)
    }
    fn quality(&mut self, q: &QualityQuery) -> Result<Vec<QualityWeek>> {
        review::quality(self, q)
    }
}

const USER_COLS: &str =
    "id, name, role, provinces, password_hash, failed_logins, locked_until, columns, created_at";

fn user_of(r: &Row) -> Result<DashUser> {
    Ok(DashUser {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        role: r.try_get(2)?,
        provinces: super::sqlite::split_list(r.try_get(3)?),
        password_hash: r.try_get(4)?,
        failed_logins: r.try_get::<_, i32>(5)? as u32,
        locked_until: r.try_get(6)?,
        columns: r.try_get(7)?,
        created_at: r.try_get(8)?,
    })
}

fn audit_of(r: &Row) -> Result<AuditRow> {
    Ok(AuditRow {
        seq: r.try_get::<_, i64>(0)? as u64,
        entry: AuditEntry {
            at: r.try_get(1)?,
            actor: r.try_get(2)?,
            action: r.try_get(3)?,
            subject: r.try_get(4)?,
            detail: r.try_get(5)?,
        },
        prev_hash: hash32(r.try_get(6)?)?,
        hash: hash32(r.try_get(7)?)?,
    })
}

impl PgSession {
    fn dash_audit_search(
        &mut self,
        q: &AuditQuery,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditRow>> {
        let mut sql = String::from(
            "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit WHERE true",
        );
        let action = q.action.as_deref().map(like_prefix);
        let before = before.map(|b| b as i64);
        let limit = i64::from(limit);
        let mut args: Params<'_> = Vec::new();
        fn arg<T: ToSql + Sync>(v: &Option<T>) -> Option<&(dyn ToSql + Sync)> {
            v.as_ref().map(|v| v as &(dyn ToSql + Sync))
        }
        let conds = [
            ("actor = ", arg(&q.actor)),
            ("action LIKE ", arg(&action)),
            ("at >= ", arg(&q.from)),
            ("at < ", arg(&q.to)),
            ("seq < ", arg(&before)),
        ];
        for (cond, v) in conds {
            if let Some(v) = v {
                args.push(v);
                sql.push_str(&format!(" AND {cond}${}", args.len()));
                if cond.starts_with("action") {
                    sql.push_str(" ESCAPE '\\'");
                }
            }
        }
        args.push(&limit);
        sql.push_str(&format!(" ORDER BY seq DESC LIMIT ${}", args.len()));
        let rows = self.query(&sql, &args)?;
        rows.iter().map(audit_of).collect()
    }
}

/// Month partition name and bounds for a time: ("2026_12", "2026-12-01", "2027-01-01").
fn month_of(t: DateTime<Utc>) -> (String, String, String) {
    let (y, m) = (t.year(), t.month());
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    (
        format!("{y:04}_{m:02}"),
        format!("{y:04}-{m:02}-01"),
        format!("{ny:04}-{nm:02}-01"),
    )
}

impl PgSession {
    fn append_audit(&mut self, entries: &[AuditEntry]) -> Result<()> {
        // One statement: the head row's lock serialises appenders until this transaction ends.
        let months: BTreeSet<(String, String, String)> =
            entries.iter().map(|e| month_of(e.at)).collect();
        let (names, starts, ends): (Vec<String>, Vec<String>, Vec<String>) = months
            .into_iter()
            .fold(Default::default(), |mut m, (n, s, e)| {
                m.0.push(n);
                m.1.push(s);
                m.2.push(e);
                m
            });
        let ats: Vec<DateTime<Utc>> = entries.iter().map(|e| e.at).collect();
        let fields: Vec<Vec<u8>> = entries.iter().map(super::audit_fields).collect();
        let column = |f: fn(&AuditEntry) -> &str| entries.iter().map(f).collect::<Vec<&str>>();
        let (actors, actions) = (column(|e| &e.actor), column(|e| &e.action));
        let (subjects, details) = (column(|e| &e.subject), column(|e| &e.detail));
        self.execute(
            "SELECT audit_append($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[],
                $6::bytea[], $7::text[], $8::text[], $9::text[])",
            &[
                &ats, &actors, &actions, &subjects, &details, &fields, &names, &starts, &ends,
            ],
        )?;
        Ok(())
    }
}
