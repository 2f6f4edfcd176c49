//! CRM record storage: the `records` row, its mirrored `record_values` (what filters and
//! sorting use) and its tags. Every function is a `TenantDb` method, so every query is
//! filtered by portal; a record of another portal is simply not found.
//!
//! - `mod.rs`: rows, writes, the value mirror, tags, purge;
//! - `filters.rs`: the search language compiled to SQL conditions;
//! - `listing.rs`: keyset paging in every sort order;
//! - `pg_values.rs`: the value mirror's INSERT on PostgreSQL, one prepared statement.

mod filters;
mod listing;
mod pg_values;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{record_tags, record_values, records, tags};
use super::tenant_db::first_locked;
use super::{DbConnection, TenantDb};
use crate::crm::objects::Object;
use crate::crm::values::Indexed;
use crate::domain::RecordId;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = records, treat_none_as_default_value = false)]
pub struct RecordRow {
    pub id: String,
    pub tenant_id: String,
    pub object: String,
    pub props: String,
    pub custom: String,
    pub search_text: String,
    pub email_lower: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
    pub purge_at: Option<NaiveDateTime>,
    /// A contact's end-user id in the portal's own product (in-app messages), unique per
    /// portal among live contacts, case-sensitive.
    pub external_id: Option<String>,
}

/// One field's indexed values, ready to mirror.
#[derive(Debug, Clone)]
pub struct FieldIndex {
    pub field: String,
    pub values: Vec<Indexed>,
}

/// How much of a text value the value index holds. Longer values keep their whole text in
/// `full_text`, which filters read, while sorting compares these first characters.
pub const INDEXED_TEXT_CHARS: usize = 512;

/// The first characters of a value that the value index holds.
pub fn indexed_prefix(text: &str) -> String {
    text.chars().take(INDEXED_TEXT_CHARS).collect()
}

impl TenantDb<'_> {
    /// A live (or, with `trashed`, a trashed) record of `object` by id.
    pub fn record(&mut self, object: Object, id: &RecordId, trashed: bool) -> QueryResult<Option<RecordRow>> {
        let id = id.as_str();
        if trashed {
            first_locked!(self, tid => (records::table
                .filter(records::tenant_id.eq(tid.to_string()))
                .filter(records::object.eq(object.name()))
                .filter(records::id.eq(id.to_string()))
                .select(RecordRow::as_select())).filter(records::deleted_at.is_not_null()))
        } else {
            first_locked!(self, tid => (records::table
                .filter(records::tenant_id.eq(tid.to_string()))
                .filter(records::object.eq(object.name()))
                .filter(records::id.eq(id.to_string()))
                .select(RecordRow::as_select())).filter(records::deleted_at.is_null()))
        }
    }

    /// A live record with its tag names (by name, as [`Self::record_tag_names`] gives
    /// them) in one statement: a `GET` of one record used to spend a round trip on each.
    pub fn live_record_with_tags(
        &mut self,
        object: Object,
        id: &RecordId,
    ) -> QueryResult<Option<(RecordRow, Vec<String>)>> {
        let (conn, tid) = self.parts();
        let rows: Vec<(RecordRow, Option<String>)> = records::table
            .left_join(
                record_tags::table
                    .on(record_tags::record_id.eq(records::id).and(record_tags::tenant_id.eq(records::tenant_id))),
            )
            .left_join(
                tags::table.on(tags::id
                    .eq(record_tags::tag_id)
                    .and(tags::tenant_id.eq(records::tenant_id))
                    .and(tags::deleted_at.is_null())),
            )
            .filter(records::tenant_id.eq(tid.to_string()))
            .filter(records::object.eq(object.name()))
            .filter(records::id.eq(id.as_str().to_string()))
            .filter(records::deleted_at.is_null())
            .order(tags::name_lower.asc())
            .select((RecordRow::as_select(), tags::name.nullable()))
            .load(conn)?;
        let mut rows = rows.into_iter();
        let Some((row, first)) = rows.next() else { return Ok(None) };
        let names = first.into_iter().chain(rows.filter_map(|(_, name)| name)).collect();
        Ok(Some((row, names)))
    }

    /// Which of `ids` are live records of `object` here.
    pub fn live_ids(&mut self, object: Object, ids: &[String]) -> QueryResult<Vec<String>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (conn, tid) = self.parts();
        records::table
            .filter(records::tenant_id.eq(tid))
            .filter(records::object.eq(object.name()))
            .filter(records::id.eq_any(ids))
            .filter(records::deleted_at.is_null())
            .select(records::id)
            .load(conn)
    }

    /// The live records of `object` among `ids` (any order; missing ones are left out).
    pub fn records_by_ids(&mut self, object: Object, ids: &[String]) -> QueryResult<Vec<RecordRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (conn, tid) = self.parts();
        records::table
            .filter(records::tenant_id.eq(tid))
            .filter(records::object.eq(object.name()))
            .filter(records::id.eq_any(ids))
            .filter(records::deleted_at.is_null())
            .select(RecordRow::as_select())
            .load(conn)
    }

    /// The live contact with this lower-cased email, if any.
    pub fn contact_by_email(&mut self, email_lower: &str) -> QueryResult<Option<String>> {
        let (conn, tid) = self.parts();
        records::table
            .filter(records::tenant_id.eq(tid))
            .filter(records::email_lower.eq(email_lower))
            .filter(records::deleted_at.is_null())
            .select(records::id)
            .first(conn)
            .optional()
    }

    /// The live contact with this external id (exact, case-sensitive), if any.
    pub fn contact_by_external_id(&mut self, external_id: &str) -> QueryResult<Option<String>> {
        let (conn, tid) = self.parts();
        records::table
            .filter(records::tenant_id.eq(tid))
            .filter(records::external_id.eq(external_id))
            .filter(records::deleted_at.is_null())
            .select(records::id)
            .first(conn)
            .optional()
    }

    pub fn insert_record(&mut self, row: &RecordRow) -> QueryResult<()> {
        diesel::insert_into(records::table).values(row).execute(self.conn())?;
        Ok(())
    }

    pub fn update_record(&mut self, row: &RecordRow) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        diesel::update(records::table.filter(records::tenant_id.eq(tid)).filter(records::id.eq(&row.id)))
            .set((
                records::props.eq(&row.props),
                records::custom.eq(&row.custom),
                records::search_text.eq(&row.search_text),
                records::email_lower.eq(&row.email_lower),
                records::external_id.eq(&row.external_id),
                records::updated_at.eq(row.updated_at),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Moves a record to the trash (or back with `None`).
    pub fn set_trashed(
        &mut self,
        id: &RecordId,
        deleted_at: Option<NaiveDateTime>,
        purge_at: Option<NaiveDateTime>,
    ) -> QueryResult<()> {
        let id = id.as_str();
        let (conn, tid) = self.parts();
        diesel::update(records::table.filter(records::tenant_id.eq(tid)).filter(records::id.eq(id)))
            .set((records::deleted_at.eq(deleted_at), records::purge_at.eq(purge_at)))
            .execute(conn)?;
        Ok(())
    }

    /// Replaces the mirrored values of the given fields: one DELETE (skipped for a new
    /// record, which has none) and multi-row INSERTs.
    pub fn index_fields(
        &mut self,
        object: Object,
        record_id: &str,
        fields: &[FieldIndex],
        is_new: bool,
    ) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        let tid = tid.to_string();
        if !is_new && !fields.is_empty() {
            // `tenant_id || ''`: without statistics SQLite plans `field IN (…)` through
            // the (tenant_id, object, field, …) index and walks every value of the portal
            // (400 ms per update at 1M contacts); the primary key (record_id, field, ord)
            // finds the record's rows directly. The tenant condition still applies.
            diesel::delete(
                record_values::table
                    .filter(record_values::tenant_id.concat("").eq(&tid))
                    .filter(record_values::record_id.eq(record_id))
                    .filter(record_values::field.eq_any(fields.iter().map(|f| f.field.as_str()))),
            )
            .execute(conn)?;
        }
        if let DbConnection::Postgresql(pg) = conn {
            return pg_values::insert(pg, &tid, record_id, object, fields);
        }
        let rows: Vec<_> = fields
            .iter()
            .flat_map(|f| f.values.iter().enumerate().map(move |(ord, v)| (f, ord, v)))
            .map(|(f, ord, v)| {
                (
                    record_values::tenant_id.eq(tid.as_str()),
                    record_values::record_id.eq(record_id),
                    record_values::object.eq(object.name()),
                    record_values::field.eq(f.field.as_str()),
                    record_values::ord.eq(ord as i32),
                    record_values::text_value.eq(v.text.as_deref().map(indexed_prefix)),
                    record_values::num_value.eq(v.num),
                    record_values::full_text.eq(v.text.as_deref().filter(|t| t.chars().count() > INDEXED_TEXT_CHARS)),
                )
            })
            .collect();
        // 8 binds per row: 500 rows stay below either backend's bind limit.
        for chunk in rows.chunks(500) {
            crate::each_backend!(&mut *conn, c => diesel::insert_into(record_values::table).values(chunk).execute(c))?;
        }
        Ok(())
    }

    /// The tag names of a record, sorted.
    pub fn record_tag_names(&mut self, record_id: &str) -> QueryResult<Vec<String>> {
        let (conn, tid) = self.parts();
        tags::table
            .inner_join(record_tags::table)
            .filter(record_tags::tenant_id.eq(tid))
            .filter(record_tags::record_id.eq(record_id))
            .filter(tags::deleted_at.is_null())
            .order(tags::name_lower.asc())
            .select(tags::name)
            .load(conn)
    }

    /// The tag names of each of `record_ids` (sorted; records without tags are absent):
    /// one query for a page of records instead of one per record.
    pub fn tag_names_of(&mut self, record_ids: &[&str]) -> QueryResult<std::collections::HashMap<String, Vec<String>>> {
        let mut out: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
        if record_ids.is_empty() {
            return Ok(out);
        }
        let (conn, tid) = self.parts();
        let rows: Vec<(String, String)> = tags::table
            .inner_join(record_tags::table)
            .filter(record_tags::tenant_id.eq(tid))
            .filter(record_tags::record_id.eq_any(record_ids))
            .filter(tags::deleted_at.is_null())
            .order(tags::name_lower.asc())
            .select((record_tags::record_id, tags::name))
            .load(conn)?;
        for (record, name) in rows {
            out.entry(record).or_default().push(name);
        }
        Ok(out)
    }

    /// Sets a record's tags to exactly `names`, creating tags that do not exist yet.
    pub fn set_record_tags(&mut self, record_id: &str, names: &[String], now: NaiveDateTime) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        let tid = tid.to_string();
        diesel::delete(
            record_tags::table.filter(record_tags::tenant_id.eq(&tid)).filter(record_tags::record_id.eq(record_id)),
        )
        .execute(conn)?;
        for name in names {
            let lower = name.to_lowercase();
            let find = |conn: &mut crate::db::DbConnection| -> QueryResult<Option<String>> {
                tags::table
                    .filter(tags::tenant_id.eq(&tid))
                    .filter(tags::name_lower.eq(&lower))
                    .filter(tags::deleted_at.is_null())
                    .select(tags::id)
                    .first(conn)
                    .optional()
            };
            let tag_id = match find(conn)? {
                Some(id) => id,
                None => {
                    // Get-or-create that holds under concurrency: a writer that lost the race
                    // for the same new name waits for the winner (PostgreSQL), does nothing,
                    // and reads the winner's row (each statement sees what committed).
                    let id = uuid::Uuid::now_v7().to_string();
                    crate::each_backend!(&mut *conn, c => diesel::insert_into(tags::table)
                        .values((
                            tags::id.eq(&id),
                            tags::tenant_id.eq(&tid),
                            tags::name.eq(name),
                            tags::name_lower.eq(&lower),
                            tags::created_at.eq(now),
                        ))
                        .on_conflict_do_nothing()
                        .execute(c))?;
                    find(conn)?.ok_or(diesel::result::Error::NotFound)?
                }
            };
            crate::each_backend!(&mut *conn, c => diesel::insert_into(record_tags::table)
                .values((
                    record_tags::tenant_id.eq(&tid),
                    record_tags::record_id.eq(record_id),
                    record_tags::tag_id.eq(&tag_id),
                ))
                .on_conflict_do_nothing()
                .execute(c))?;
        }
        Ok(())
    }
}

impl TenantDb<'_> {
    /// Deletes a trashed record for good (values and tag links cascade). Returns whether it
    /// was still there, so concurrent purgers announce it once.
    pub fn purge_record(&mut self, id: &RecordId) -> QueryResult<bool> {
        let id = id.as_str();
        let (conn, tid) = self.parts();
        let n = diesel::delete(
            records::table
                .filter(records::tenant_id.eq(tid))
                .filter(records::id.eq(id))
                .filter(records::deleted_at.is_not_null()),
        )
        .execute(conn)?;
        Ok(n == 1)
    }
}
