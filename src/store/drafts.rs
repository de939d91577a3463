//! Forms in progress, saved at every step so a crash or power cut loses nothing on screen.

use chrono::Utc;
use enroll_sync::record::Attribution;
use rusqlite::{params, OptionalExtension};

use super::{timestamp, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub id: String,
    pub operator_id: String,
    /// The wizard step the operator was on.
    pub step: String,
    /// The form as JSON.
    pub form: String,
    pub updated_at: String,
}

impl Store {
    pub fn save_draft(
        &self,
        id: &str,
        operator_id: &str,
        step: &str,
        form: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO drafts(id, operator_id, step, form, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(id) DO UPDATE SET operator_id = excluded.operator_id, step = excluded.step,
                form = excluded.form, updated_at = excluded.updated_at",
            params![id, operator_id, step, form, timestamp(Utc::now())],
        )?;
        Ok(())
    }

    pub fn draft(&self, id: &str) -> Result<Option<Draft>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, operator_id, step, form, updated_at FROM drafts WHERE id = ?1",
                [id],
                draft_row,
            )
            .optional()?)
    }

    /// The most recently touched draft, to reopen after a restart.
    pub fn latest_draft(&self) -> Result<Option<Draft>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, operator_id, step, form, updated_at FROM drafts ORDER BY updated_at DESC LIMIT 1",
                [],
                draft_row,
            )
            .optional()?)
    }

    /// How many enrollments are unfinished (Home's counter).
    pub fn count_drafts(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM drafts", [], |r| r.get(0))?)
    }

    /// An operator abandons an unfinished enrollment: the draft goes and the audit log says
    /// who discarded it, in one transaction.
    pub fn discard_draft(&self, id: &str, by: &Attribution) -> Result<bool, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let gone = tx.execute("DELETE FROM drafts WHERE id = ?1", [id])? > 0;
        if gone {
            super::audit::append(&tx, by, "draft.discard", Some(id), None)?;
        }
        tx.commit()?;
        Ok(gone)
    }

    pub fn delete_draft(&self, id: &str) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM drafts WHERE id = ?1", [id])?;
        Ok(())
    }
}

fn draft_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Draft> {
    Ok(Draft {
        id: r.get(0)?,
        operator_id: r.get(1)?,
        step: r.get(2)?,
        form: r.get(3)?,
        updated_at: r.get(4)?,
    })
}
