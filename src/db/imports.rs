//! Import jobs: claimed by lease with a conditional UPDATE both backends run, progressed
//! chunk by chunk. The file's rows are staged in `import_rows` as the upload arrives
//! (status `staging`, invisible to workers), the job is `queued` once all are in, and each
//! chunk's staged rows are deleted in the transaction that applies them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{import_rows, imports};
use super::{DbConnection, TenantDb};
use crate::domain::ImportId;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = imports, treat_none_as_default_value = false)]
pub struct ImportRow {
    pub id: String,
    pub tenant_id: String,
    pub object: String,
    pub mode: String,
    pub mapping: String,
    pub status: String,
    pub rows_total: i64,
    pub rows_imported: i64,
    pub rows_failed: i64,
    pub errors: String,
    pub next_row: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// JSON array of the header row's column names.
    pub headers: String,
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

/// Rows per INSERT statement while staging (4 binds each, well under both backends' limits).
const STAGE_INSERT_ROWS: usize = 1000;

/// A staged row: one data row of an upload, its cells as a JSON array.
#[derive(Debug, Insertable)]
#[diesel(table_name = import_rows, treat_none_as_default_value = false)]
pub struct StagedRow<'a> {
    pub import_id: &'a str,
    pub tenant_id: &'a str,
    pub row_no: i64,
    pub cells: &'a str,
}

/// Multi-row INSERTs (`MultiConnection` cannot express them, so per backend).
pub(super) fn insert_staged_rows(conn: &mut DbConnection, rows: &[StagedRow<'_>]) -> QueryResult<()> {
    for part in rows.chunks(STAGE_INSERT_ROWS) {
        let insert = diesel::insert_into(import_rows::table).values(part);
        match conn {
            DbConnection::Sqlite(c) => insert.execute(c)?,
            DbConnection::Postgresql(c) => insert.execute(c)?,
        };
    }
    Ok(())
}

impl TenantDb<'_> {
    /// Inserts a job (status `staging` while its rows are staged).
    pub fn insert_import(&mut self, row: &ImportRow) -> QueryResult<()> {
        diesel::insert_into(imports::table).values(row).execute(self.conn())?;
        Ok(())
    }

    /// Stages parsed rows `(row number, JSON array of cells)` of a job.
    pub fn stage_import_rows(&mut self, id: &ImportId, rows: &[(i64, String)]) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        let staged: Vec<StagedRow<'_>> = rows
            .iter()
            .map(|(n, cells)| StagedRow { import_id: id.as_str(), tenant_id: tid, row_no: *n, cells })
            .collect();
        insert_staged_rows(conn, &staged)
    }

    /// Hands a fully staged job to the workers; false when it was not staging.
    pub fn queue_import(&mut self, id: &ImportId, rows_total: i64, now: NaiveDateTime) -> QueryResult<bool> {
        let (conn, tid) = self.parts();
        let n = diesel::update(
            imports::table
                .filter(imports::tenant_id.eq(tid))
                .filter(imports::id.eq(id.as_str()))
                .filter(imports::status.eq("staging")),
        )
        .set((imports::status.eq("queued"), imports::rows_total.eq(rows_total), imports::updated_at.eq(now)))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Removes a job that never finished staging (the upload was refused), rows and all.
    pub fn discard_import(&mut self, id: &ImportId) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        diesel::delete(
            import_rows::table.filter(import_rows::tenant_id.eq(tid)).filter(import_rows::import_id.eq(id.as_str())),
        )
        .execute(conn)?;
        diesel::delete(
            imports::table
                .filter(imports::tenant_id.eq(tid))
                .filter(imports::id.eq(id.as_str()))
                .filter(imports::status.eq("staging")),
        )
        .execute(conn)?;
        Ok(())
    }

    /// Up to `limit` staged rows of a job from row number `from` on, in order.
    pub fn staged_rows(&mut self, id: &ImportId, from: i64, limit: i64) -> QueryResult<Vec<(i64, String)>> {
        let (conn, tid) = self.parts();
        import_rows::table
            .filter(import_rows::tenant_id.eq(tid))
            .filter(import_rows::import_id.eq(id.as_str()))
            .filter(import_rows::row_no.ge(from))
            .order(import_rows::row_no.asc())
            .limit(limit)
            .select((import_rows::row_no, import_rows::cells))
            .load(conn)
    }

    fn drop_staged_before(&mut self, id: &ImportId, before: Option<i64>) -> QueryResult<usize> {
        let (conn, tid) = self.parts();
        let rows =
            import_rows::table.filter(import_rows::tenant_id.eq(tid)).filter(import_rows::import_id.eq(id.as_str()));
        match before {
            Some(n) => diesel::delete(rows.filter(import_rows::row_no.lt(n))).execute(conn),
            None => diesel::delete(rows).execute(conn),
        }
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

    /// The portal's newest imports (staging ones, not yet queued, left out), newest first.
    pub fn recent_imports(&mut self, limit: i64) -> QueryResult<Vec<ImportStatus>> {
        let (conn, tid) = self.parts();
        imports::table
            .filter(imports::tenant_id.eq(tid))
            .filter(imports::status.ne("staging"))
            .order((imports::created_at.desc(), imports::id.desc()))
            .limit(limit)
            .select(ImportStatus::as_select())
            .load(conn)
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
        let idv = id.as_str();
        let (conn, tid) = self.parts();
        let n = diesel::update(
            imports::table
                .filter(imports::tenant_id.eq(tid))
                .filter(imports::id.eq(idv))
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
        if n == 1 {
            // The applied rows are done with (all of them once the job completes).
            self.drop_staged_before(id, (!done).then_some(next_row))?;
        }
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
        self.drop_staged_before(id, None)?;
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
