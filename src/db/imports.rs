//! Import jobs: claimed by lease with a conditional UPDATE both backends run, progressed
//! chunk by chunk.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::imports;
use super::TenantDb;
use crate::domain::ImportId;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = imports)]
pub struct ImportRow {
    pub id: String,
    pub tenant_id: String,
    pub object: String,
    pub mode: String,
    pub mapping: String,
    pub status: String,
    pub file: Vec<u8>,
    pub rows_total: i64,
    pub rows_imported: i64,
    pub rows_failed: i64,
    pub errors: String,
    pub next_row: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The job's state without the file, for status answers.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = imports)]
pub struct ImportStatus {
    pub id: String,
    pub object: String,
    pub mode: String,
    pub status: String,
    pub rows_total: i64,
    pub rows_imported: i64,
    pub rows_failed: i64,
    pub errors: String,
    pub created_at: NaiveDateTime,
    /// When the status last changed (for a finished import: when it finished).
    pub updated_at: NaiveDateTime,
}

impl TenantDb<'_> {
    pub fn insert_import(&mut self, row: &ImportRow) -> QueryResult<()> {
        diesel::insert_into(imports::table).values(row).execute(self.conn())?;
        Ok(())
    }

    pub fn import_status(&mut self, id: &ImportId) -> QueryResult<Option<ImportStatus>> {
        let id = id.as_str();
        let (conn, tid) = self.parts();
        imports::table
            .filter(imports::tenant_id.eq(tid))
            .filter(imports::id.eq(id))
            .select(ImportStatus::as_select())
            .first(conn)
            .optional()
    }

    /// Records a chunk's progress, only while `owner` still holds the lease (a worker that
    /// lost it must not write).
    #[allow(clippy::too_many_arguments)]
    pub fn advance_import(
        &mut self,
        id: &ImportId,
        owner: &str,
        next_row: i64,
        imported: i64,
        failed: i64,
        errors: &str,
        done: bool,
        now: NaiveDateTime,
        lease_until: NaiveDateTime,
    ) -> QueryResult<bool> {
        let id = id.as_str();
        let (conn, tid) = self.parts();
        let n = diesel::update(
            imports::table
                .filter(imports::tenant_id.eq(tid))
                .filter(imports::id.eq(id))
                .filter(imports::lease_owner.eq(owner)),
        )
        .set((
            imports::next_row.eq(next_row),
            imports::rows_imported.eq(imported),
            imports::rows_failed.eq(failed),
            imports::errors.eq(errors),
            imports::status.eq(if done { "completed" } else { "running" }),
            imports::updated_at.eq(now),
            imports::lease_until.eq(if done { None } else { Some(lease_until) }),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Hands the lease back (between chunks) so any worker may continue the import.
    pub fn release_import(&mut self, id: &ImportId, owner: &str) -> QueryResult<()> {
        let id = id.as_str();
        let (conn, tid) = self.parts();
        diesel::update(
            imports::table
                .filter(imports::tenant_id.eq(tid))
                .filter(imports::id.eq(id))
                .filter(imports::lease_owner.eq(owner)),
        )
        .set((imports::lease_owner.eq(None::<String>), imports::lease_until.eq(None::<NaiveDateTime>)))
        .execute(conn)?;
        Ok(())
    }

    pub fn fail_import(&mut self, id: &ImportId, errors: &str, now: NaiveDateTime) -> QueryResult<()> {
        let id = id.as_str();
        let (conn, tid) = self.parts();
        diesel::update(imports::table.filter(imports::tenant_id.eq(tid)).filter(imports::id.eq(id)))
            .set((
                imports::status.eq("failed"),
                imports::errors.eq(errors),
                imports::updated_at.eq(now),
                imports::lease_until.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?;
        Ok(())
    }
}
