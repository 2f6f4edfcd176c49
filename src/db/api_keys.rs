//! Private app keys: stored as SHA-256 with their scopes, scoped to one portal.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::api_keys;
use super::tenant_db::first_locked;
use super::TenantDb;
use crate::domain::ApiKeyId;

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = api_keys, treat_none_as_default_value = false)]
pub struct ApiKeyRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub display_prefix: String,
    pub key_hash: String,
    pub scopes: String,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub rotated_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
}

impl ApiKeyRow {
    pub fn scope_list(&self) -> Vec<String> {
        serde_json::from_str(&self.scopes).unwrap_or_default()
    }
}

impl TenantDb<'_> {
    pub fn create_key(&mut self, mut row: ApiKeyRow) -> QueryResult<ApiKeyRow> {
        row.tenant_id = self.tid().to_string();
        diesel::insert_into(api_keys::table).values(&row).execute(self.conn())?;
        Ok(row)
    }

    pub fn list_keys(&mut self) -> QueryResult<Vec<ApiKeyRow>> {
        let (conn, tid) = self.parts();
        api_keys::table
            .filter(api_keys::tenant_id.eq(tid))
            .order(api_keys::created_at.asc())
            .select(ApiKeyRow::as_select())
            .load(conn)
    }

    pub fn find_key(&mut self, id: &ApiKeyId) -> QueryResult<Option<ApiKeyRow>> {
        let id = id.as_str();
        first_locked!(self, tid => api_keys::table
            .filter(api_keys::tenant_id.eq(tid.to_string()))
            .filter(api_keys::id.eq(id.to_string()))
            .select(ApiKeyRow::as_select()))
    }

    /// Replaces the secret; the old one stops working with this commit.
    pub fn rotate_key(
        &mut self,
        id: &ApiKeyId,
        key_hash: &str,
        display_prefix: &str,
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        let id = id.as_str();
        let (conn, tid) = self.parts();
        let n = diesel::update(api_keys::table.filter(api_keys::tenant_id.eq(tid)).filter(api_keys::id.eq(id)))
            .set((
                api_keys::key_hash.eq(key_hash),
                api_keys::display_prefix.eq(display_prefix),
                api_keys::rotated_at.eq(Some(now)),
            ))
            .execute(conn)?;
        Ok(n == 1)
    }

    pub fn delete_key(&mut self, id: &ApiKeyId) -> QueryResult<bool> {
        let id = id.as_str();
        let (conn, tid) = self.parts();
        let n = diesel::delete(api_keys::table.filter(api_keys::tenant_id.eq(tid)).filter(api_keys::id.eq(id)))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// Records use, at most once a minute per key.
    pub fn touch_key(&mut self, id: &ApiKeyId, now: NaiveDateTime) -> QueryResult<()> {
        let id = id.as_str();
        let (conn, tid) = self.parts();
        let stale = now - chrono::Duration::seconds(60);
        diesel::update(
            api_keys::table
                .filter(api_keys::tenant_id.eq(tid))
                .filter(api_keys::id.eq(id))
                .filter(api_keys::last_used_at.is_null().or(api_keys::last_used_at.lt(stale))),
        )
        .set(api_keys::last_used_at.eq(Some(now)))
        .execute(conn)?;
        Ok(())
    }
}
