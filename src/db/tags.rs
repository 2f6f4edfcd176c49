//! Tags (by name, unique per portal among live tags) and tenant-wide custom values.
//! Both go to the trash on delete: a trashed tag disappears from its records and comes
//! back with them on restore.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{custom_values, record_tags, tags};
use super::TenantDb;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tags)]
pub struct TagRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub name_lower: String,
    pub created_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
    pub purge_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = custom_values)]
pub struct CustomValueRow {
    pub id: String,
    pub tenant_id: String,
    pub value_key: String,
    pub value: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
    pub purge_at: Option<NaiveDateTime>,
}

/// `(tenant, id)` pairs of items due for purge.
pub type Due = Vec<(String, String)>;

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
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let n: i64 = record_tags::table
                .inner_join(super::schema::records::table)
                .filter(record_tags::tag_id.eq(&row.id))
                .filter(super::schema::records::deleted_at.is_null())
                .count()
                .get_result(conn)?;
            out.push((row, n));
        }
        Ok(out)
    }

    pub fn tag(&mut self, id: &str, trashed: bool) -> QueryResult<Option<TagRow>> {
        let (conn, tid) = self.parts();
        let q = tags::table.filter(tags::tenant_id.eq(tid)).filter(tags::id.eq(id)).select(TagRow::as_select());
        if trashed {
            q.filter(tags::deleted_at.is_not_null()).first(conn).optional()
        } else {
            q.filter(tags::deleted_at.is_null()).first(conn).optional()
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

    pub fn purge_tag(&mut self, id: &str) -> QueryResult<bool> {
        let (conn, tid) = self.parts();
        let n = diesel::delete(
            tags::table.filter(tags::tenant_id.eq(tid)).filter(tags::id.eq(id)).filter(tags::deleted_at.is_not_null()),
        )
        .execute(conn)?;
        Ok(n == 1)
    }

    pub fn custom_values(
        &mut self,
        trashed: bool,
        after_id: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<CustomValueRow>> {
        let (conn, tid) = self.parts();
        let mut q = custom_values::table
            .filter(custom_values::tenant_id.eq(tid))
            .select(CustomValueRow::as_select())
            .into_boxed();
        q = if trashed {
            q.filter(custom_values::deleted_at.is_not_null())
        } else {
            q.filter(custom_values::deleted_at.is_null())
        };
        if let Some(a) = after_id {
            q = q.filter(custom_values::id.gt(a.to_string()));
        }
        q.order(custom_values::id.asc()).limit(limit).load(conn)
    }

    pub fn custom_value(&mut self, id: &str, trashed: bool) -> QueryResult<Option<CustomValueRow>> {
        let (conn, tid) = self.parts();
        let q = custom_values::table
            .filter(custom_values::tenant_id.eq(tid))
            .filter(custom_values::id.eq(id))
            .select(CustomValueRow::as_select());
        if trashed {
            q.filter(custom_values::deleted_at.is_not_null()).first(conn).optional()
        } else {
            q.filter(custom_values::deleted_at.is_null()).first(conn).optional()
        }
    }

    pub fn live_custom_value_keyed(&mut self, key: &str) -> QueryResult<Option<CustomValueRow>> {
        let (conn, tid) = self.parts();
        custom_values::table
            .filter(custom_values::tenant_id.eq(tid))
            .filter(custom_values::value_key.eq(key))
            .filter(custom_values::deleted_at.is_null())
            .select(CustomValueRow::as_select())
            .first(conn)
            .optional()
    }

    pub fn insert_custom_value(&mut self, row: &CustomValueRow) -> QueryResult<()> {
        diesel::insert_into(custom_values::table).values(row).execute(self.conn())?;
        Ok(())
    }

    pub fn save_custom_value(&mut self, row: &CustomValueRow) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        diesel::update(
            custom_values::table.filter(custom_values::tenant_id.eq(tid)).filter(custom_values::id.eq(&row.id)),
        )
        .set((
            custom_values::value_key.eq(&row.value_key),
            custom_values::value.eq(&row.value),
            custom_values::updated_at.eq(row.updated_at),
            custom_values::deleted_at.eq(row.deleted_at),
            custom_values::purge_at.eq(row.purge_at),
        ))
        .execute(conn)?;
        Ok(())
    }

    pub fn purge_custom_value(&mut self, id: &str) -> QueryResult<bool> {
        let (conn, tid) = self.parts();
        let n = diesel::delete(
            custom_values::table
                .filter(custom_values::tenant_id.eq(tid))
                .filter(custom_values::id.eq(id))
                .filter(custom_values::deleted_at.is_not_null()),
        )
        .execute(conn)?;
        Ok(n == 1)
    }
}
