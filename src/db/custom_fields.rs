//! Custom field definitions per object. Deleting one moves it to the trash: its values stay
//! in the records but are hidden until it is restored.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::custom_fields;
use super::tenant_db::first_locked;
use super::TenantDb;
use crate::crm::objects::{custom_kind, FieldSpec, Object};
use crate::domain::CustomFieldId;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = custom_fields, treat_none_as_default_value = false)]
pub struct CustomFieldRow {
    pub id: String,
    pub tenant_id: String,
    pub object: String,
    pub field_key: String,
    pub label: String,
    pub field_type: String,
    pub options: String,
    pub required: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
    pub purge_at: Option<NaiveDateTime>,
}

impl CustomFieldRow {
    pub fn option_list(&self) -> Vec<String> {
        serde_json::from_str(&self.options).unwrap_or_default()
    }

    /// The field as a validation spec (keyed by its bare key).
    pub fn spec(&self) -> Option<FieldSpec> {
        Some(FieldSpec {
            key: self.field_key.clone(),
            kind: custom_kind(&self.field_type, self.option_list())?,
            required: self.required,
            default: None,
        })
    }
}

impl TenantDb<'_> {
    /// Deletes a trashed definition and its indexed values for good.
    pub fn purge_custom_field(&mut self, id: &CustomFieldId) -> QueryResult<bool> {
        let id = id.as_str();
        use super::schema::record_values;
        let (conn, tid) = self.parts();
        let n = diesel::delete(
            custom_fields::table
                .filter(custom_fields::tenant_id.eq(tid))
                .filter(custom_fields::id.eq(id))
                .filter(custom_fields::deleted_at.is_not_null()),
        )
        .execute(conn)?;
        diesel::delete(
            record_values::table
                .filter(record_values::tenant_id.eq(tid))
                .filter(record_values::field.eq(crate::crm::objects::custom_index_name(id))),
        )
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Live custom fields, of one object or all, oldest first.
    pub fn custom_fields(&mut self, object: Option<Object>) -> QueryResult<Vec<CustomFieldRow>> {
        let (conn, tid) = self.parts();
        let mut q = custom_fields::table
            .filter(custom_fields::tenant_id.eq(tid))
            .filter(custom_fields::deleted_at.is_null())
            .select(CustomFieldRow::as_select())
            .into_boxed();
        if let Some(o) = object {
            q = q.filter(custom_fields::object.eq(o.name()));
        }
        q.order(custom_fields::id.asc()).load(conn)
    }

    pub fn custom_field(&mut self, id: &CustomFieldId, trashed: bool) -> QueryResult<Option<CustomFieldRow>> {
        let id = id.as_str();
        if trashed {
            first_locked!(self, tid => (custom_fields::table
                .filter(custom_fields::tenant_id.eq(tid.to_string()))
                .filter(custom_fields::id.eq(id.to_string()))
                .select(CustomFieldRow::as_select())).filter(custom_fields::deleted_at.is_not_null()))
        } else {
            first_locked!(self, tid => (custom_fields::table
                .filter(custom_fields::tenant_id.eq(tid.to_string()))
                .filter(custom_fields::id.eq(id.to_string()))
                .select(CustomFieldRow::as_select())).filter(custom_fields::deleted_at.is_null()))
        }
    }

    pub fn live_custom_field_by_key(&mut self, object: Object, key: &str) -> QueryResult<Option<CustomFieldRow>> {
        let (conn, tid) = self.parts();
        custom_fields::table
            .filter(custom_fields::tenant_id.eq(tid))
            .filter(custom_fields::object.eq(object.name()))
            .filter(custom_fields::field_key.eq(key))
            .filter(custom_fields::deleted_at.is_null())
            .select(CustomFieldRow::as_select())
            .first(conn)
            .optional()
    }

    /// Trashed definitions, oldest first, after an id.
    pub fn trashed_custom_fields(&mut self, after_id: Option<&str>, limit: i64) -> QueryResult<Vec<CustomFieldRow>> {
        let (conn, tid) = self.parts();
        let mut q = custom_fields::table
            .filter(custom_fields::tenant_id.eq(tid))
            .filter(custom_fields::deleted_at.is_not_null())
            .select(CustomFieldRow::as_select())
            .into_boxed();
        if let Some(after) = after_id {
            q = q.filter(custom_fields::id.gt(after.to_string()));
        }
        q.order(custom_fields::id.asc()).limit(limit).load(conn)
    }

    pub fn insert_custom_field(&mut self, row: &CustomFieldRow) -> QueryResult<()> {
        diesel::insert_into(custom_fields::table).values(row).execute(self.conn())?;
        Ok(())
    }

    pub fn update_custom_field(&mut self, row: &CustomFieldRow) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        diesel::update(
            custom_fields::table.filter(custom_fields::tenant_id.eq(tid)).filter(custom_fields::id.eq(&row.id)),
        )
        .set((
            custom_fields::label.eq(&row.label),
            custom_fields::options.eq(&row.options),
            custom_fields::required.eq(row.required),
            custom_fields::updated_at.eq(row.updated_at),
            custom_fields::deleted_at.eq(row.deleted_at),
            custom_fields::purge_at.eq(row.purge_at),
        ))
        .execute(conn)?;
        Ok(())
    }
}
