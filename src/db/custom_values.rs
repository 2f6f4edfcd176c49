//! Tenant-wide custom values (`{key, value}` merge values for templates), with the trash.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::custom_values;
use super::tenant_db::first_locked;
use super::TenantDb;
use crate::domain::CustomValueId;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = custom_values, treat_none_as_default_value = false)]
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

impl TenantDb<'_> {
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

    pub fn custom_value(&mut self, id: &CustomValueId, trashed: bool) -> QueryResult<Option<CustomValueRow>> {
        let id = id.as_str();
        if trashed {
            first_locked!(self, tid => (custom_values::table
                .filter(custom_values::tenant_id.eq(tid.to_string()))
                .filter(custom_values::id.eq(id.to_string()))
                .select(CustomValueRow::as_select())).filter(custom_values::deleted_at.is_not_null()))
        } else {
            first_locked!(self, tid => (custom_values::table
                .filter(custom_values::tenant_id.eq(tid.to_string()))
                .filter(custom_values::id.eq(id.to_string()))
                .select(CustomValueRow::as_select())).filter(custom_values::deleted_at.is_null()))
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

    pub fn purge_custom_value(&mut self, id: &CustomValueId) -> QueryResult<bool> {
        let id = id.as_str();
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
