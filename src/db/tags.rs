//! Tags: by name, unique per portal among live tags. A trashed tag disappears from its
//! records and comes back with them on restore.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{record_tags, records, tags};
use super::tenant_db::first_locked;
use super::TenantDb;
use crate::domain::TagId;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tags, treat_none_as_default_value = false)]
pub struct TagRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub name_lower: String,
    pub created_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
    pub purge_at: Option<NaiveDateTime>,
}

impl TenantDb<'_> {
    /// Live tags (or trashed ones) with how many live records carry each, by name.
    pub fn tags(&mut self, trashed: bool, after_id: Option<&str>, limit: i64) -> QueryResult<Vec<(TagRow, i64)>> {
        let (conn, tid) = self.parts();
        let mut q = tags::table.filter(tags::tenant_id.eq(tid)).select(TagRow::as_select()).into_boxed();
        q = if trashed { q.filter(tags::deleted_at.is_not_null()) } else { q.filter(tags::deleted_at.is_null()) };
        if let Some(a) = after_id {
            q = q.filter(tags::id.gt(a.to_string()));
        }
        let rows: Vec<TagRow> = q.order(tags::id.asc()).limit(limit).load(conn)?;
        // Live records per tag = all its links (an index-only count on
        // `record_tags_by_tag`) minus links to trashed records (few, found through the
        // partial index `records_trashed`). Joining every link to its record to check it
        // is live cost 228 ms for a page of 50 tags over 100,000 tagged contacts.
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let linked: Vec<(String, i64)> = record_tags::table
            .filter(record_tags::tenant_id.eq(tid.to_string()))
            .filter(record_tags::tag_id.eq_any(&ids))
            .group_by(record_tags::tag_id)
            .select((record_tags::tag_id, diesel::dsl::count_star()))
            .load(conn)?;
        let trashed: Vec<(String, i64)> = records::table
            .inner_join(
                record_tags::table
                    .on(record_tags::tenant_id.eq(records::tenant_id).and(record_tags::record_id.eq(records::id))),
            )
            .filter(records::tenant_id.eq(tid.to_string()))
            .filter(records::deleted_at.is_not_null())
            .filter(record_tags::tag_id.eq_any(&ids))
            .group_by(record_tags::tag_id)
            .select((record_tags::tag_id, diesel::dsl::count_star()))
            .load(conn)?;
        let count = |list: &[(String, i64)], id: &str| list.iter().find(|(t, _)| t == id).map_or(0, |(_, n)| *n);
        Ok(rows
            .into_iter()
            .map(|row| {
                let n = count(&linked, &row.id) - count(&trashed, &row.id);
                (row, n.max(0))
            })
            .collect())
    }

    pub fn tag(&mut self, id: &TagId, trashed: bool) -> QueryResult<Option<TagRow>> {
        let id = id.as_str();
        if trashed {
            first_locked!(self, tid => tags::table
                .filter(tags::tenant_id.eq(tid.to_string()))
                .filter(tags::id.eq(id.to_string()))
                .filter(tags::deleted_at.is_not_null())
                .select(TagRow::as_select()))
        } else {
            first_locked!(self, tid => tags::table
                .filter(tags::tenant_id.eq(tid.to_string()))
                .filter(tags::id.eq(id.to_string()))
                .filter(tags::deleted_at.is_null())
                .select(TagRow::as_select()))
        }
    }

    pub fn live_tag_named(&mut self, name_lower: &str) -> QueryResult<Option<TagRow>> {
        let (conn, tid) = self.parts();
        tags::table
            .filter(tags::tenant_id.eq(tid))
            .filter(tags::name_lower.eq(name_lower))
            .filter(tags::deleted_at.is_null())
            .select(TagRow::as_select())
            .first(conn)
            .optional()
    }

    pub fn insert_tag(&mut self, row: &TagRow) -> QueryResult<()> {
        diesel::insert_into(tags::table).values(row).execute(self.conn())?;
        Ok(())
    }

    pub fn save_tag(&mut self, row: &TagRow) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        diesel::update(tags::table.filter(tags::tenant_id.eq(tid)).filter(tags::id.eq(&row.id)))
            .set((
                tags::name.eq(&row.name),
                tags::name_lower.eq(&row.name_lower),
                tags::deleted_at.eq(row.deleted_at),
                tags::purge_at.eq(row.purge_at),
            ))
            .execute(conn)?;
        Ok(())
    }

    pub fn purge_tag(&mut self, id: &TagId) -> QueryResult<bool> {
        let id = id.as_str();
        let (conn, tid) = self.parts();
        let n = diesel::delete(
            tags::table.filter(tags::tenant_id.eq(tid)).filter(tags::id.eq(id)).filter(tags::deleted_at.is_not_null()),
        )
        .execute(conn)?;
        Ok(n == 1)
    }
}
