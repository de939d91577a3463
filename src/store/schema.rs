//! Versioned migrations, applied in order inside a transaction; `PRAGMA user_version` says
//! how many have run. Never edit a shipped migration: add the next one.

use rusqlite::Connection;

use super::StoreError;

const MIGRATIONS: &[&str] = &[
    // 1: records as snapshot + change chunks, a query projection, blobs, drafts, audit, cursors.
    r#"
    CREATE TABLE kiosk (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;

    CREATE TABLE records (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        enrollment_no TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL,
        kind TEXT NOT NULL,
        id_number TEXT,
        full_name TEXT NOT NULL,
        search_key TEXT NOT NULL,
        birth_date TEXT NOT NULL,
        province_code TEXT,
        commune_code TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        heads BLOB NOT NULL,
        chunk_count INTEGER NOT NULL
    );
    CREATE INDEX records_status ON records(status, seq);
    CREATE INDEX records_id_number ON records(id_number);
    CREATE INDEX records_commune ON records(commune_code);
    CREATE INDEX records_birth_date ON records(birth_date);
    CREATE INDEX records_updated ON records(updated_at);

    CREATE VIRTUAL TABLE records_fts USING fts5(
        search_key, content='records', content_rowid='seq', tokenize='unicode61', prefix='1 2 3'
    );
    CREATE TRIGGER records_fts_insert AFTER INSERT ON records BEGIN
        INSERT INTO records_fts(rowid, search_key) VALUES (new.seq, new.search_key);
    END;
    CREATE TRIGGER records_fts_delete AFTER DELETE ON records BEGIN
        INSERT INTO records_fts(records_fts, rowid, search_key) VALUES ('delete', old.seq, old.search_key);
    END;
    CREATE TRIGGER records_fts_update AFTER UPDATE OF search_key ON records
    WHEN old.search_key IS NOT new.search_key BEGIN
        INSERT INTO records_fts(records_fts, rowid, search_key) VALUES ('delete', old.seq, old.search_key);
        INSERT INTO records_fts(rowid, search_key) VALUES (new.seq, new.search_key);
    END;

    CREATE TABLE record_chunks (
        record_seq INTEGER NOT NULL REFERENCES records(seq) ON DELETE CASCADE,
        n INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (record_seq, n)
    ) WITHOUT ROWID;

    CREATE TABLE enrollment_counters (day TEXT PRIMARY KEY, last INTEGER NOT NULL) WITHOUT ROWID;

    CREATE TABLE blobs (
        sha256 TEXT PRIMARY KEY,
        media_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        data BLOB NOT NULL,
        created_at TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE drafts (
        id TEXT PRIMARY KEY,
        operator_id TEXT NOT NULL,
        step TEXT NOT NULL,
        form TEXT NOT NULL,
        updated_at TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        device TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT,
        detail TEXT,
        prev_hash BLOB NOT NULL,
        hash BLOB NOT NULL
    );

    CREATE TABLE sync_cursors (
        peer TEXT PRIMARY KEY,
        cursor BLOB NOT NULL,
        updated_at TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 2: what HQ has acknowledged of each record (its heads then), and by which receipt.
    r#"
    CREATE TABLE acks (
        record_seq INTEGER PRIMARY KEY REFERENCES records(seq) ON DELETE CASCADE,
        heads BLOB NOT NULL,
        receipt_id TEXT NOT NULL,
        acked_at TEXT NOT NULL
    );
    "#,
    // 3: accounts with PIN-wrapped key slots, settings, signed audit checkpoints and the audit
    // head kept outside the audit table, sealed (encrypted) blobs, purged-blob markers.
    r#"
    CREATE TABLE accounts (
        name TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('operator', 'supervisor')),
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0,
        locked_until TEXT
    ) WITHOUT ROWID;

    CREATE TABLE key_slots (
        account TEXT PRIMARY KEY REFERENCES accounts(name) ON DELETE CASCADE,
        salt BLOB NOT NULL,
        m_kib INTEGER NOT NULL,
        t_cost INTEGER NOT NULL,
        p_lanes INTEGER NOT NULL,
        nonce BLOB NOT NULL,
        wrapped BLOB NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

    CREATE TABLE audit_checkpoints (
        count INTEGER PRIMARY KEY,
        head BLOB NOT NULL,
        at TEXT NOT NULL,
        public_key BLOB NOT NULL,
        signature BLOB NOT NULL
    );

    ALTER TABLE blobs ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;
    -- Finds the few blobs still in plain form without reading every blob's pages.
    CREATE INDEX blobs_plain ON blobs(sha256) WHERE sealed = 0;

    CREATE TABLE purged_blobs (
        sha256 TEXT PRIMARY KEY,
        record_id TEXT NOT NULL,
        purged_at TEXT NOT NULL
    ) WITHOUT ROWID;

    INSERT INTO kiosk(key, value) VALUES ('audit_head', CAST(COALESCE(
        (SELECT printf('%d:%s', seq, lower(hex(hash))) FROM audit ORDER BY seq DESC LIMIT 1),
        '0:' || lower(hex(zeroblob(32)))) AS BLOB));
    "#,
    // 4: lockouts on the boot clock, so setting the wall clock forward does not end them.
    r#"
    ALTER TABLE accounts ADD COLUMN locked_boot_id TEXT;
    ALTER TABLE accounts ADD COLUMN locked_boot_until INTEGER;
    ALTER TABLE accounts ADD COLUMN locked_secs INTEGER;
    "#,
    // 5: each account's own key is certified by the device key (public, kept in plain); the
    // changes a supervisor approved or returned with carry that supervisor's signature.
    r#"
    CREATE TABLE account_certs (
        account TEXT PRIMARY KEY,
        cert BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE endorsements (
        record_id TEXT NOT NULL,
        hash BLOB NOT NULL,
        cert BLOB NOT NULL,
        signature BLOB NOT NULL,
        PRIMARY KEY (record_id, hash)
    ) WITHOUT ROWID;
    "#,
    // 6: on TPM kiosks each key slot also holds a secret the TPM seals under a PIN-derived
    // authValue (version 3 slots), so every PIN guess is counted by the TPM.
    r#"
    ALTER TABLE key_slots ADD COLUMN tpm_sealed BLOB;
    "#,
    // 7: the blobs a record refers to, written with its heads, so that listing what waits for
    // sync decodes no document (NULL for rows written before: those are decoded).
    r#"
    ALTER TABLE records ADD COLUMN blob_refs TEXT;
    "#,
    // 8: each own change's device-key signature, made when it is saved (`signatures.rs`).
    r#"
    CREATE TABLE change_signatures (
        record_seq INTEGER NOT NULL REFERENCES records(seq) ON DELETE CASCADE,
        hash BLOB NOT NULL,
        signer BLOB NOT NULL,
        signature BLOB NOT NULL,
        PRIMARY KEY (record_seq, hash)
    ) WITHOUT ROWID;
    "#,
];

/// The schema version this build writes.
pub const VERSION: usize = MIGRATIONS.len();

pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let current = usize::try_from(current).unwrap_or(usize::MAX);
    if current > VERSION {
        return Err(StoreError::TooNew {
            found: current,
            supported: VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}
