//! The cross-portal steps of the background jobs: claiming import and export jobs, the
//! purge's due items, expired tickets and second-factor challenges, abandoned uploads,
//! legacy imports to stage.

use super::*;

impl System<'_> {
    /// Claims one queued or abandoned (lease expired) import for `owner` until
    /// `lease_until`, by a conditional UPDATE both backends run; the work itself then runs
    /// through that portal's `TenantDb`.
    pub fn claim_import(
        &mut self,
        owner: &str,
        now: NaiveDateTime,
        lease_until: NaiveDateTime,
    ) -> QueryResult<Option<ImportRow>> {
        let conn = &mut *self.conn;
        let candidates: Vec<String> = imports::table
            .filter(imports::status.eq_any(["queued", "running"]))
            .filter(imports::lease_until.is_null().or(imports::lease_until.lt(now)))
            .order(imports::created_at.asc())
            .limit(5)
            .select(imports::id)
            .load(conn)?;
        for id in candidates {
            let won = diesel::update(
                imports::table
                    .filter(imports::id.eq(&id))
                    .filter(imports::status.eq_any(["queued", "running"]))
                    .filter(imports::lease_until.is_null().or(imports::lease_until.lt(now))),
            )
            .set((
                imports::status.eq("running"),
                imports::lease_owner.eq(Some(owner)),
                imports::lease_until.eq(Some(lease_until)),
            ))
            .execute(conn)?;
            if won == 1 {
                return imports::table.find(&id).select(ImportRow::as_select()).first(conn).optional();
            }
        }
        Ok(None)
    }

    /// Completed exports finished before `before` (at most `limit`): marked expired, their
    /// archives' paths returned for the caller to delete.
    pub fn expire_exports(&mut self, before: NaiveDateTime, limit: i64) -> QueryResult<Vec<String>> {
        use crate::db::schema::tenant_exports as te;
        let conn = &mut *self.conn;
        let due: Vec<(String, Option<String>)> = te::table
            .filter(te::status.eq("completed"))
            .filter(te::finished_at.lt(before))
            .limit(limit)
            .select((te::id, te::file))
            .load(conn)?;
        let ids: Vec<&str> = due.iter().map(|(id, _)| id.as_str()).collect();
        diesel::update(te::table.filter(te::id.eq_any(&ids)).filter(te::status.eq("completed")))
            .set((te::status.eq("expired"), te::file.eq(None::<String>)))
            .execute(conn)?;
        Ok(due.into_iter().filter_map(|(_, f)| f).collect())
    }

    /// Whether any export waits for a worker (queued, or running with an expired lease):
    /// one indexed read, so idle workers never take a write lock to find nothing.
    pub fn export_due(&mut self, now: NaiveDateTime) -> QueryResult<bool> {
        use crate::db::schema::tenant_exports as te;
        let found: Option<String> = te::table
            .filter(te::status.eq("queued").or(te::status.eq("running").and(te::lease_until.lt(now))))
            .select(te::id)
            .first(self.conn)
            .optional()?;
        Ok(found.is_some())
    }

    /// Claims one queued export, or one whose lease expired (its node died; the archive is
    /// built again from the start), for `owner` until `lease_until`. Exports that failed
    /// three times are failed for good.
    pub fn claim_export(
        &mut self,
        owner: &str,
        now: NaiveDateTime,
        lease_until: NaiveDateTime,
    ) -> QueryResult<Option<crate::db::tenant_exports::ExportRow>> {
        use crate::db::schema::tenant_exports as te;
        let conn = &mut *self.conn;
        let open = te::status.eq("queued").or(te::status.eq("running").and(te::lease_until.lt(now)));
        diesel::update(
            te::table.filter(te::status.eq("running")).filter(te::lease_until.lt(now)).filter(te::attempts.ge(3)),
        )
        .set((
            te::status.eq("failed"),
            te::error.eq(Some("the export was interrupted three times")),
            te::finished_at.eq(Some(now)),
        ))
        .execute(conn)?;
        let candidates: Vec<String> =
            te::table.filter(open).order(te::created_at.asc()).limit(5).select(te::id).load(conn)?;
        for id in candidates {
            let won = diesel::update(te::table.filter(te::id.eq(&id)).filter(open))
                .set((
                    te::status.eq("running"),
                    te::lease_owner.eq(Some(owner)),
                    te::lease_until.eq(Some(lease_until)),
                    te::attempts.eq(te::attempts + 1),
                    te::updated_at.eq(now),
                ))
                .execute(conn)?;
            if won == 1 {
                return te::table
                    .find(&id)
                    .select(crate::db::tenant_exports::ExportRow::as_select())
                    .first(conn)
                    .optional();
            }
        }
        Ok(None)
    }

    /// What the purge job finds due, at most `limit` of each kind; each purge then runs
    /// through its portal's `TenantDb`.
    pub fn due_for_purge(&mut self, now: NaiveDateTime, limit: i64) -> QueryResult<DuePurge> {
        let conn = &mut *self.conn;
        Ok(DuePurge {
            records: records::table
                .filter(records::deleted_at.is_not_null())
                .filter(records::purge_at.le(now))
                .order(records::purge_at.asc())
                .limit(limit)
                .select((records::tenant_id, records::object, records::id))
                .load(conn)?,
            custom_fields: custom_fields::table
                .filter(custom_fields::deleted_at.is_not_null())
                .filter(custom_fields::purge_at.le(now))
                .limit(limit)
                .select((custom_fields::tenant_id, custom_fields::id))
                .load(conn)?,
            tags: tags::table
                .filter(tags::deleted_at.is_not_null())
                .filter(tags::purge_at.le(now))
                .limit(limit)
                .select((tags::tenant_id, tags::id))
                .load(conn)?,
            custom_values: custom_values::table
                .filter(custom_values::deleted_at.is_not_null())
                .filter(custom_values::purge_at.le(now))
                .limit(limit)
                .select((custom_values::tenant_id, custom_values::id))
                .load(conn)?,
            emails: crate::db::schema::emails::table
                .filter(crate::db::schema::emails::deleted_at.le(now - crate::crm::records::trash_retention()))
                .limit(limit)
                .select((crate::db::schema::emails::tenant_id, crate::db::schema::emails::id))
                .load(conn)?,
        })
    }

    /// Deletes websocket tickets that expired before `before` (used or not).
    pub fn delete_expired_tickets(&mut self, before: NaiveDateTime) -> QueryResult<usize> {
        diesel::delete(rt::table.filter(rt::expires_at.lt(before))).execute(self.conn)
    }

    /// Removes second-factor challenges, of portals' people and of staff, that expired
    /// before `before`: used or not, they can never be answered again. Returns how many.
    pub fn delete_expired_challenges(&mut self, before: NaiveDateTime) -> QueryResult<usize> {
        use crate::db::schema::{mfa_challenges as mc, staff_challenges as sc};
        let people = diesel::delete(mc::table.filter(mc::expires_at.lt(before))).execute(self.conn)?;
        let staff = diesel::delete(sc::table.filter(sc::expires_at.lt(before))).execute(self.conn)?;
        Ok(people + staff)
    }

    /// Removes imports left `staging` since before `before` (the upload was cut off; it
    /// was never acknowledged), with their staged rows. Returns how many.
    pub fn delete_abandoned_uploads(&mut self, before: NaiveDateTime) -> QueryResult<usize> {
        use crate::db::schema::import_rows;
        let conn = &mut *self.conn;
        let ids: Vec<String> = imports::table
            .filter(imports::status.eq("staging"))
            .filter(imports::updated_at.lt(before))
            .limit(100)
            .select(imports::id)
            .load(conn)?;
        diesel::delete(import_rows::table.filter(import_rows::import_id.eq_any(&ids))).execute(conn)?;
        diesel::delete(imports::table.filter(imports::id.eq_any(&ids)).filter(imports::status.eq("staging")))
            .execute(conn)
    }

    /// Imports accepted before staging existed kept their whole file; migration 000014 set
    /// those not finished aside in `import_files`. This stages their rows not yet applied
    /// (the same reader and row numbers as uploads) and deletes the files. Idempotent.
    /// Returns the imports staged.
    pub fn stage_legacy_imports(&mut self) -> QueryResult<usize> {
        use crate::crm::csv_read;
        use crate::db::imports::{insert_staged_rows, StagedRow};
        use crate::db::schema::import_files;
        let conn = &mut *self.conn;
        let legacy: Vec<(String, String, i64, Vec<u8>)> = import_files::table
            .inner_join(imports::table.on(imports::id.eq(import_files::import_id)))
            .select((imports::id, imports::tenant_id, imports::next_row, import_files::file))
            .load(conn)?;
        let mut staged = 0;
        for (id, tenant_id, next_row, file) in legacy {
            let mut check = csv_read::Utf8Check::default();
            check.feed(&file);
            // Files then were read as comma-separated UTF-8.
            let parsed = csv_read::sniff(&file, check.valid(), Some(b','))
                .and_then(|d| csv_read::Rows::open(file.as_slice(), d))
                .and_then(|mut rows| Ok((rows.headers().to_vec(), rows.next_batch(usize::MAX)?)));
            match parsed {
                Ok((headers, rows)) => {
                    let cells: Vec<(i64, String)> = rows
                        .into_iter()
                        .filter(|(n, _)| *n >= next_row)
                        .map(|(n, c)| (n, serde_json::to_string(&c).unwrap_or_else(|_| "[]".into())))
                        .collect();
                    let batch: Vec<StagedRow<'_>> = cells
                        .iter()
                        .map(|(n, c)| StagedRow { import_id: &id, tenant_id: &tenant_id, row_no: *n, cells: c })
                        .collect();
                    insert_staged_rows(conn, &batch)?;
                    let headers = serde_json::to_string(&headers).unwrap_or_else(|_| "[]".into());
                    diesel::update(imports::table.find(&id)).set(imports::headers.eq(headers)).execute(conn)?;
                    staged += 1;
                }
                Err(message) => {
                    let errors = serde_json::json!([{ "row": 0, "column": "", "message": message }]).to_string();
                    diesel::update(imports::table.find(&id))
                        .set((imports::status.eq("failed"), imports::errors.eq(errors)))
                        .execute(conn)?;
                }
            }
            diesel::delete(import_files::table.find(&id)).execute(conn)?;
        }
        Ok(staged)
    }

    /// Whether any in-app message waits for its fan-out (queued, or sending with an
    /// expired lease): one indexed read, so idle workers take no write lock.
    pub fn inapp_fanout_due(&mut self, owner: &str, now: NaiveDateTime) -> QueryResult<bool> {
        use crate::db::schema::inapp_messages as m;
        let found: Option<String> = m::table
            .filter(
                m::status
                    .eq("queued")
                    .or(m::status.eq("sending").and(m::lease_until.lt(now).or(m::lease_owner.eq(owner)))),
            )
            .select(m::id)
            .first(self.conn)
            .optional()?;
        Ok(found.is_some())
    }

    /// Claims one in-app message whose audience still has to be fanned out (queued, or
    /// sending with an expired lease: its node died, and the fan-out resumes at the
    /// message's cursor; or one `owner` already holds), for `owner` until `lease_until`.
    pub fn claim_inapp_message(
        &mut self,
        owner: &str,
        now: NaiveDateTime,
        lease_until: NaiveDateTime,
    ) -> QueryResult<Option<crate::db::inapp::MessageRow>> {
        use crate::db::schema::inapp_messages as m;
        let conn = &mut *self.conn;
        let open =
            m::status.eq("queued").or(m::status.eq("sending").and(m::lease_until.lt(now).or(m::lease_owner.eq(owner))));
        let candidates: Vec<String> = m::table.filter(open).order(m::id.asc()).limit(5).select(m::id).load(conn)?;
        for id in candidates {
            let won = diesel::update(m::table.filter(m::id.eq(&id)).filter(open))
                .set((m::status.eq("sending"), m::lease_owner.eq(Some(owner)), m::lease_until.eq(Some(lease_until))))
                .execute(conn)?;
            if won == 1 {
                return m::table.find(&id).select(crate::db::inapp::MessageRow::as_select()).first(conn).optional();
            }
        }
        Ok(None)
    }
}
