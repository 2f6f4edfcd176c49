//! Portal export jobs (`tenant_exports`): created by a portal's owner or admin, claimed by
//! any node's worker with a lease (`db::system::claim_export`), finished with the archive's
//! path and size or an error.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::tenant_exports as te;
use super::TenantDb;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = te, treat_none_as_default_value = false)]
pub struct ExportRow {
    pub id: String,
    pub tenant_id: String,
    pub status: String,
    pub requested_by: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<NaiveDateTime>,
    pub attempts: i32,
    pub file: Option<String>,
    pub bytes: Option<i64>,
    pub error: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
}

impl TenantDb<'_> {
    pub fn insert_export(
        &mut self,
        id: &str,
        requested_by: Option<&str>,
        now: NaiveDateTime,
    ) -> QueryResult<ExportRow> {
        let row = ExportRow {
            id: id.to_string(),
            tenant_id: self.tid().to_string(),
            status: "queued".into(),
            requested_by: requested_by.map(str::to_string),
            lease_owner: None,
            lease_until: None,
            attempts: 0,
            file: None,
            bytes: None,
            error: None,
            created_at: now,
            updated_at: now,
            finished_at: None,
        };
        diesel::insert_into(te::table).values(&row).execute(self.conn())?;
        Ok(row)
    }

    pub fn export(&mut self, id: &str) -> QueryResult<Option<ExportRow>> {
        let (conn, tid) = self.parts();
        te::table
            .filter(te::tenant_id.eq(tid))
            .filter(te::id.eq(id))
            .select(ExportRow::as_select())
            .first(conn)
            .optional()
    }

    /// Ends `owner`'s run of export `id` (if it still holds the lease): `Ok((file, bytes))`
    /// completes it, `Err(message)` fails it.
    pub fn finish_export(
        &mut self,
        id: &str,
        owner: &str,
        now: NaiveDateTime,
        outcome: Result<(&str, i64), &str>,
    ) -> QueryResult<bool> {
        let (conn, tid) = self.parts();
        let target = te::table
            .filter(te::tenant_id.eq(tid))
            .filter(te::id.eq(id))
            .filter(te::status.eq("running"))
            .filter(te::lease_owner.eq(owner));
        let n = match outcome {
            Ok((file, bytes)) => diesel::update(target)
                .set((
                    te::status.eq("completed"),
                    te::file.eq(Some(file)),
                    te::bytes.eq(Some(bytes)),
                    te::lease_until.eq(None::<NaiveDateTime>),
                    te::updated_at.eq(now),
                    te::finished_at.eq(Some(now)),
                ))
                .execute(conn)?,
            Err(message) => diesel::update(target)
                .set((
                    te::status.eq("failed"),
                    te::error.eq(Some(message)),
                    te::lease_until.eq(None::<NaiveDateTime>),
                    te::updated_at.eq(now),
                    te::finished_at.eq(Some(now)),
                ))
                .execute(conn)?,
        };
        Ok(n == 1)
    }

    /// Extends `owner`'s lease of a running export (a long archive keeps it).
    pub fn renew_export_lease(&mut self, id: &str, owner: &str, until: NaiveDateTime) -> QueryResult<bool> {
        let (conn, tid) = self.parts();
        let n = diesel::update(
            te::table
                .filter(te::tenant_id.eq(tid))
                .filter(te::id.eq(id))
                .filter(te::status.eq("running"))
                .filter(te::lease_owner.eq(owner)),
        )
        .set(te::lease_until.eq(Some(until)))
        .execute(conn)?;
        Ok(n == 1)
    }
}
