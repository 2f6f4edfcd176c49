//! Rows and queries of in-app messages: the portal's widget identity (`inapp_apps`, a
//! platform table reached by app id) and the messages with their fan-out progress. The end
//! users' inbox items and exact counters are in `inbox_items.rs`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

pub use super::inbox_items::{Change, Counts, ItemRow, Shelf};
use super::schema::{inapp_apps, inapp_items, inapp_messages};
use super::{Platform, TenantDb};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = inapp_apps, treat_none_as_default_value = false)]
pub struct AppRow {
    pub app_id: String,
    pub tenant_id: String,
    pub allowed_origins: String,
    pub secret: Option<String>,
    pub key_id: Option<String>,
    pub secret_last4: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = inapp_messages, treat_none_as_default_value = false)]
pub struct MessageRow {
    pub id: String,
    pub tenant_id: String,
    pub title: String,
    pub body: String,
    pub action_url: Option<String>,
    pub category: Option<String>,
    pub expires_at: Option<NaiveDateTime>,
    pub audience: String,
    pub status: String,
    pub recipients: i64,
    pub cursor: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<NaiveDateTime>,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub completed_at: Option<NaiveDateTime>,
}

/// A stored fan-out batch: where the audience continues, how many items it stored, and
/// whether it was the last.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    pub cursor: Option<&'a str>,
    pub delivered: i64,
    pub done: bool,
}

impl Platform<'_> {
    pub fn inapp_app_of_tenant(&mut self, tenant: &str) -> QueryResult<Option<AppRow>> {
        inapp_apps::table
            .filter(inapp_apps::tenant_id.eq(tenant))
            .select(AppRow::as_select())
            .first(self.conn())
            .optional()
    }

    pub fn inapp_app(&mut self, app_id: &str) -> QueryResult<Option<AppRow>> {
        inapp_apps::table.find(app_id).select(AppRow::as_select()).first(self.conn()).optional()
    }

    /// Creates the portal's app row unless one exists (a concurrent first read may win).
    pub fn ensure_inapp_app(&mut self, row: &AppRow) -> QueryResult<AppRow> {
        crate::each_backend!(self.conn(), c => diesel::insert_into(inapp_apps::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c))?;
        inapp_apps::table
            .filter(inapp_apps::tenant_id.eq(&row.tenant_id))
            .select(AppRow::as_select())
            .first(self.conn())
    }

    /// Whether any portal lists `origin` (a CORS preflight names no app).
    pub fn inapp_origin_known(&mut self, origin: &str) -> QueryResult<bool> {
        let quoted = serde_json::Value::String(origin.to_string()).to_string();
        let escaped: String = quoted
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let found: Option<String> = inapp_apps::table
            .filter(inapp_apps::allowed_origins.like(format!("%{escaped}%")).escape('\\'))
            .select(inapp_apps::app_id)
            .first(self.conn())
            .optional()?;
        Ok(found.is_some())
    }

    pub fn set_inapp_origins(&mut self, tenant: &str, origins: &str, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::update(inapp_apps::table.filter(inapp_apps::tenant_id.eq(tenant)))
            .set((inapp_apps::allowed_origins.eq(origins), inapp_apps::updated_at.eq(now)))
            .execute(self.conn())
    }

    pub fn set_inapp_secret(
        &mut self,
        tenant: &str,
        sealed: &crate::security::crypto::Sealed,
        last4: &str,
        now: NaiveDateTime,
    ) -> QueryResult<usize> {
        diesel::update(inapp_apps::table.filter(inapp_apps::tenant_id.eq(tenant)))
            .set((
                inapp_apps::secret.eq(Some(&sealed.blob)),
                inapp_apps::key_id.eq(Some(&sealed.key_id)),
                inapp_apps::secret_last4.eq(Some(last4)),
                inapp_apps::updated_at.eq(now),
            ))
            .execute(self.conn())
    }
}

impl TenantDb<'_> {
    pub fn insert_inapp_message(&mut self, row: &MessageRow) -> QueryResult<()> {
        diesel::insert_into(inapp_messages::table).values(row).execute(self.conn())?;
        Ok(())
    }

    pub fn inapp_message(&mut self, id: &str) -> QueryResult<Option<MessageRow>> {
        let (conn, tid) = self.parts();
        inapp_messages::table
            .filter(inapp_messages::tenant_id.eq(tid))
            .filter(inapp_messages::id.eq(id))
            .select(MessageRow::as_select())
            .first(conn)
            .optional()
    }

    /// Messages newest first, before the cursor id.
    pub fn inapp_messages(&mut self, before: Option<&str>, limit: i64) -> QueryResult<Vec<MessageRow>> {
        let (conn, tid) = self.parts();
        let mut q = inapp_messages::table
            .filter(inapp_messages::tenant_id.eq(tid))
            .select(MessageRow::as_select())
            .into_boxed();
        if let Some(b) = before {
            q = q.filter(inapp_messages::id.lt(b.to_string()));
        }
        q.order(inapp_messages::id.desc()).limit(limit).load(conn)
    }

    /// (delivered, seen, read, archived) of a message: indexed counts over its items.
    pub fn inapp_message_stats(&mut self, id: &str) -> QueryResult<(i64, i64, i64, i64)> {
        let (conn, tid) = self.parts();
        let base = || inapp_items::table.filter(inapp_items::tenant_id.eq(tid)).filter(inapp_items::message_id.eq(id));
        let delivered = base().count().get_result(conn)?;
        let seen = base().filter(inapp_items::seen_at.is_not_null()).count().get_result(conn)?;
        let read = base().filter(inapp_items::read_at.is_not_null()).count().get_result(conn)?;
        let archived = base().filter(inapp_items::archived_at.is_not_null()).count().get_result(conn)?;
        Ok((delivered, seen, read, archived))
    }

    /// Records a fan-out batch's progress if `owner` still holds the message's lease
    /// (`false`: another node took it; nothing is written).
    pub fn advance_inapp_message(
        &mut self,
        id: &str,
        owner: &str,
        batch: Batch<'_>,
        now: NaiveDateTime,
        lease_until: NaiveDateTime,
    ) -> QueryResult<bool> {
        let Batch { cursor, delivered, done } = batch;
        let (conn, tid) = self.parts();
        let target = inapp_messages::table
            .filter(inapp_messages::tenant_id.eq(tid))
            .filter(inapp_messages::id.eq(id))
            .filter(inapp_messages::lease_owner.eq(owner))
            .filter(inapp_messages::status.eq("sending"));
        let n = if done {
            diesel::update(target)
                .set((
                    inapp_messages::cursor.eq(cursor),
                    inapp_messages::recipients.eq(inapp_messages::recipients + delivered),
                    inapp_messages::status.eq("sent"),
                    inapp_messages::completed_at.eq(Some(now)),
                    inapp_messages::lease_owner.eq(None::<String>),
                    inapp_messages::lease_until.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)?
        } else {
            diesel::update(target)
                .set((
                    inapp_messages::cursor.eq(cursor),
                    inapp_messages::recipients.eq(inapp_messages::recipients + delivered),
                    inapp_messages::lease_until.eq(Some(lease_until)),
                ))
                .execute(conn)?
        };
        Ok(n == 1)
    }
}
