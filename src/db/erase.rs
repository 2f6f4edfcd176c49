//! The queries of erasure on request (`crate::erasure`): removing one record whatever its
//! trash state, turning its outbox events into tombstones (same `seq`, no payload), and
//! scrubbing rows that may quote the person (staged import rows, import error entries,
//! stored idempotent answers); the suppression-by-hash table and the platform secret its
//! HMAC key lives in.
//!
//! Text is matched case-insensitively with `strpos(lower(…), needle)` on both backends
//! (`strpos` is registered on SQLite connections; `lower` is built in), so a needle with
//! `%` or `_` matches literally.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

use super::schema::{events, idempotency_keys, import_rows, imports, platform_secrets, records, suppressions};
use super::{strpos, Platform, TenantDb};
use crate::security::crypto::Sealed;

diesel::define_sql_function! {
    /// Lower-case text (ASCII on SQLite; needles are lower-cased the same way).
    fn lower(x: Nullable<Text>) -> Nullable<Text>;
}

/// The tombstone an erased record's events keep: the id, nothing about the person.
pub fn tombstone(record_id: &str) -> String {
    serde_json::json!({ "id": record_id, "erased": true }).to_string()
}

impl TenantDb<'_> {
    /// The object of a record here, live or in the trash.
    pub fn record_object_any_state(&mut self, id: &str) -> QueryResult<Option<String>> {
        let (conn, tid) = self.parts();
        records::table
            .filter(records::tenant_id.eq(tid))
            .filter(records::id.eq(id))
            .select(records::object)
            .first(conn)
            .optional()
    }

    /// Deletes a record whatever its trash state (values and tag links cascade).
    pub fn erase_record(&mut self, id: &str) -> QueryResult<bool> {
        let (conn, tid) = self.parts();
        let n = diesel::delete(records::table.filter(records::tenant_id.eq(tid)).filter(records::id.eq(id)))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// Replaces the payload and diff of every event of `record_id` by a tombstone; the rows
    /// and their `seq` stay, so the outbox has no gaps. Returns how many.
    pub fn tombstone_events(&mut self, record_id: &str) -> QueryResult<usize> {
        let (conn, tid) = self.parts();
        diesel::update(events::table.filter(events::tenant_id.eq(tid)).filter(events::record_id.eq(record_id)))
            .set((events::data.eq(tombstone(record_id)), events::diff.eq(None::<String>)))
            .execute(conn)
    }

    /// Deletes staged import rows whose cells mention any needle (lower case), so a queued
    /// import cannot bring the person back. Returns how many.
    pub fn scrub_import_rows(&mut self, needles: &[String]) -> QueryResult<usize> {
        let mut removed = 0;
        for needle in needles {
            let (conn, tid) = self.parts();
            removed += diesel::delete(
                import_rows::table
                    .filter(import_rows::tenant_id.eq(tid))
                    .filter(strpos(lower(import_rows::cells.nullable()), needle).gt(0)),
            )
            .execute(conn)?;
        }
        Ok(removed)
    }

    /// Deletes staged import rows that hold both names (lower case): a row naming the
    /// person without their address or phone.
    pub fn scrub_import_rows_naming(&mut self, first: &str, last: &str) -> QueryResult<usize> {
        let (conn, tid) = self.parts();
        diesel::delete(
            import_rows::table
                .filter(import_rows::tenant_id.eq(tid))
                .filter(strpos(lower(import_rows::cells.nullable()), first).gt(0))
                .filter(strpos(lower(import_rows::cells.nullable()), last).gt(0)),
        )
        .execute(conn)
    }

    /// Imports whose error list mentions any needle: `(id, errors JSON)`.
    pub fn imports_with_errors_mentioning(&mut self, needles: &[String]) -> QueryResult<Vec<(String, String)>> {
        let mut found: Vec<(String, String)> = Vec::new();
        for needle in needles {
            let (conn, tid) = self.parts();
            let rows: Vec<(String, String)> = imports::table
                .filter(imports::tenant_id.eq(tid))
                .filter(strpos(lower(imports::errors.nullable()), needle).gt(0))
                .select((imports::id, imports::errors))
                .load(conn)?;
            for r in rows {
                if !found.iter().any(|(id, _)| *id == r.0) {
                    found.push(r);
                }
            }
        }
        Ok(found)
    }

    pub fn set_import_errors(&mut self, id: &str, errors: &str) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        diesel::update(imports::table.filter(imports::tenant_id.eq(tid)).filter(imports::id.eq(id)))
            .set(imports::errors.eq(errors))
            .execute(conn)?;
        Ok(())
    }

    /// Records a keyed hash of an erased address (once).
    pub fn suppress(&mut self, email_hash: &str, reason: &str, now: NaiveDateTime) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        let row = (
            suppressions::tenant_id.eq(tid),
            suppressions::email_hash.eq(email_hash),
            suppressions::reason.eq(reason),
            suppressions::created_at.eq(now),
        );
        crate::each_backend!(conn, c => diesel::insert_into(suppressions::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c))?;
        Ok(())
    }

    pub fn is_suppressed(&mut self, email_hash: &str) -> QueryResult<bool> {
        let (conn, tid) = self.parts();
        let n: i64 = suppressions::table
            .filter(suppressions::tenant_id.eq(tid))
            .filter(suppressions::email_hash.eq(email_hash))
            .count()
            .get_result(conn)?;
        Ok(n > 0)
    }

    /// The hashes among `hashes` of erased addresses (a campaign's batch, checked at once).
    pub fn suppressed_hashes_among(&mut self, hashes: &[String]) -> QueryResult<Vec<String>> {
        let (conn, tid) = self.parts();
        let mut out = Vec::new();
        for chunk in hashes.chunks(500) {
            let found: Vec<String> = suppressions::table
                .filter(suppressions::tenant_id.eq(tid))
                .filter(suppressions::email_hash.eq_any(chunk))
                .select(suppressions::email_hash)
                .load(conn)?;
            out.extend(found);
        }
        Ok(out)
    }
}

impl Platform<'_> {
    /// Deletes stored idempotent answers that quote any needle (a replayed create would
    /// otherwise hand the erased record out again for a day). Returns how many.
    pub fn scrub_idempotency(&mut self, needles: &[String]) -> QueryResult<usize> {
        let mut removed = 0;
        for needle in needles {
            removed +=
                diesel::delete(idempotency_keys::table.filter(strpos(lower(idempotency_keys::body), needle).gt(0)))
                    .execute(self.conn())?;
        }
        Ok(removed)
    }

    /// A sealed platform secret by name.
    pub fn platform_secret(&mut self, name: &str) -> QueryResult<Option<Sealed>> {
        let row: Option<(String, String)> = platform_secrets::table
            .find(name)
            .select((platform_secrets::key_id, platform_secrets::secret))
            .first(self.conn())
            .optional()?;
        Ok(row.map(|(key_id, blob)| Sealed { key_id, blob }))
    }

    /// Stores a platform secret unless one of that name exists (the first writer wins;
    /// every caller then reads the stored one).
    pub fn add_platform_secret(&mut self, name: &str, sealed: &Sealed, now: NaiveDateTime) -> QueryResult<()> {
        let row = (
            platform_secrets::name.eq(name),
            platform_secrets::secret.eq(&sealed.blob),
            platform_secrets::key_id.eq(&sealed.key_id),
            platform_secrets::created_at.eq(now),
        );
        crate::each_backend!(self.conn(), c => diesel::insert_into(platform_secrets::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c))?;
        Ok(())
    }
}
