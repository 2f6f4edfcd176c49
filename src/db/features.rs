//! Feature flags (platform tables: `feature_flags`, `feature_flag_portals`) and portal
//! users' notification inbox (`notifications`, tenant-owned).

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{feature_flag_portals, feature_flags, notifications, tenants};
use super::{Platform, TenantDb};
use crate::features::{Flag, FlagTable, Stage};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = feature_flags, treat_none_as_default_value = false)]
pub struct FlagRow {
    pub key: String,
    pub name: String,
    pub description: String,
    pub stage: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = feature_flag_portals, treat_none_as_default_value = false)]
pub struct FlagPortalRow {
    pub flag_key: String,
    pub tenant_id: String,
    pub kind: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = notifications, treat_none_as_default_value = false)]
pub struct NotificationRow {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub data: String,
    pub created_at: NaiveDateTime,
    pub seen_at: Option<NaiveDateTime>,
    pub read_at: Option<NaiveDateTime>,
    pub archived_at: Option<NaiveDateTime>,
}

/// Which notifications a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shelf {
    /// Not archived (the default).
    Inbox,
    /// Not archived and not read.
    Unread,
    Archived,
}

/// A state change of one notification, or of all of a person's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Seen,
    Read,
    Archived,
}

/// A mark taken back from one notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmark {
    Read,
    Archived,
}

impl Platform<'_> {
    /// The whole flag table (small: one row per flag, one per listed or opted-in portal).
    pub fn flag_table(&mut self) -> QueryResult<FlagTable> {
        let conn = self.conn();
        let rows: Vec<FlagRow> = feature_flags::table.select(FlagRow::as_select()).load(conn)?;
        let portals: Vec<FlagPortalRow> = feature_flag_portals::table.select(FlagPortalRow::as_select()).load(conn)?;
        let mut table = FlagTable::default();
        for r in rows {
            let of = |kind: &str| -> HashSet<String> {
                portals.iter().filter(|p| p.flag_key == r.key && p.kind == kind).map(|p| p.tenant_id.clone()).collect()
            };
            let flag = Flag {
                listed: of("listed"),
                opted_in: of("opted_in"),
                stage: Stage::parse(&r.stage).unwrap_or(Stage::Off),
                updated_at: r.updated_at.and_utc(),
                key: r.key.clone(),
                name: r.name,
                description: r.description,
            };
            table.flags.insert(r.key, flag);
        }
        Ok(table)
    }

    pub fn insert_flag(&mut self, row: &FlagRow) -> QueryResult<()> {
        diesel::insert_into(feature_flags::table).values(row).execute(self.conn())?;
        Ok(())
    }

    /// Changes a flag's stage, name or description; false when there is no such flag.
    pub fn update_flag(
        &mut self,
        key: &str,
        stage: Option<Stage>,
        name: Option<&str>,
        description: Option<&str>,
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        let conn = self.conn();
        let target = feature_flags::table.find(key);
        let n = diesel::update(target).set(feature_flags::updated_at.eq(now)).execute(conn)?;
        if n == 0 {
            return Ok(false);
        }
        if let Some(s) = stage {
            diesel::update(target).set(feature_flags::stage.eq(s.as_str())).execute(conn)?;
        }
        if let Some(v) = name {
            diesel::update(target).set(feature_flags::name.eq(v)).execute(conn)?;
        }
        if let Some(v) = description {
            diesel::update(target).set(feature_flags::description.eq(v)).execute(conn)?;
        }
        Ok(true)
    }

    /// Replaces the private beta's portal list.
    pub fn set_listed(&mut self, key: &str, tenant_ids: &[String], now: NaiveDateTime) -> QueryResult<()> {
        let conn = self.conn();
        diesel::delete(
            feature_flag_portals::table
                .filter(feature_flag_portals::flag_key.eq(key))
                .filter(feature_flag_portals::kind.eq("listed")),
        )
        .execute(conn)?;
        let rows: Vec<FlagPortalRow> = tenant_ids
            .iter()
            .map(|t| FlagPortalRow {
                flag_key: key.into(),
                tenant_id: t.clone(),
                kind: "listed".into(),
                created_at: now,
            })
            .collect();
        // One statement per row: the multi-backend connection has no batch insert.
        for row in &rows {
            diesel::insert_into(feature_flag_portals::table).values(row).execute(conn)?;
        }
        Ok(())
    }

    /// A portal opts in to (or out of) a public beta; true when that changed something.
    pub fn set_opt_in(&mut self, key: &str, tenant: &str, on: bool, now: NaiveDateTime) -> QueryResult<bool> {
        let conn = self.conn();
        let existing = feature_flag_portals::table
            .filter(feature_flag_portals::flag_key.eq(key))
            .filter(feature_flag_portals::tenant_id.eq(tenant))
            .filter(feature_flag_portals::kind.eq("opted_in"));
        let n = if on {
            let there: i64 = existing.count().get_result(conn)?;
            if there > 0 {
                0
            } else {
                let row = FlagPortalRow {
                    flag_key: key.into(),
                    tenant_id: tenant.into(),
                    kind: "opted_in".into(),
                    created_at: now,
                };
                diesel::insert_into(feature_flag_portals::table).values(&row).execute(conn)?
            }
        } else {
            diesel::delete(existing).execute(conn)?
        };
        Ok(n > 0)
    }

    /// Which of `ids` name existing portals.
    pub fn existing_tenants(&mut self, ids: &[String]) -> QueryResult<HashSet<String>> {
        let found: Vec<String> =
            tenants::table.filter(tenants::id.eq_any(ids)).select(tenants::id).load(self.conn())?;
        Ok(found.into_iter().collect())
    }

    /// Every portal's id.
    pub fn all_tenant_ids(&mut self) -> QueryResult<Vec<String>> {
        tenants::table.select(tenants::id).order(tenants::id.asc()).load(self.conn())
    }
}

impl TenantDb<'_> {
    pub fn insert_notifications(&mut self, rows: &[NotificationRow]) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        debug_assert!(rows.iter().all(|r| r.tenant_id == tid));
        for row in rows {
            diesel::insert_into(notifications::table).values(row).execute(conn)?;
        }
        Ok(())
    }

    /// A person's notifications on `shelf`, newest first, before the cursor id.
    pub fn notifications_of(
        &mut self,
        user: &str,
        shelf: Shelf,
        before: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<NotificationRow>> {
        let (conn, tid) = self.parts();
        let mut q = notifications::table
            .filter(notifications::tenant_id.eq(tid))
            .filter(notifications::user_id.eq(user))
            .select(NotificationRow::as_select())
            .into_boxed();
        q = match shelf {
            Shelf::Inbox => q.filter(notifications::archived_at.is_null()),
            Shelf::Unread => q.filter(notifications::archived_at.is_null()).filter(notifications::read_at.is_null()),
            Shelf::Archived => q.filter(notifications::archived_at.is_not_null()),
        };
        if let Some(b) = before {
            q = q.filter(notifications::id.lt(b.to_string()));
        }
        q.order(notifications::id.desc()).limit(limit).load(conn)
    }

    pub fn notification(&mut self, user: &str, id: &str) -> QueryResult<Option<NotificationRow>> {
        let (conn, tid) = self.parts();
        notifications::table
            .filter(notifications::tenant_id.eq(tid))
            .filter(notifications::user_id.eq(user))
            .filter(notifications::id.eq(id))
            .select(NotificationRow::as_select())
            .first(conn)
            .optional()
    }

    /// (unread, unseen, in the inbox) for a person; archived ones count in none.
    pub fn notification_counts(&mut self, user: &str) -> QueryResult<(i64, i64, i64)> {
        let (conn, tid) = self.parts();
        let base = || {
            notifications::table
                .filter(notifications::tenant_id.eq(tid))
                .filter(notifications::user_id.eq(user))
                .filter(notifications::archived_at.is_null())
        };
        let inbox: i64 = base().count().get_result(conn)?;
        let unread: i64 = base().filter(notifications::read_at.is_null()).count().get_result(conn)?;
        let unseen: i64 = base().filter(notifications::seen_at.is_null()).count().get_result(conn)?;
        Ok((unread, unseen, inbox))
    }

    /// Clears one notification's read or archived mark (unread, unarchive).
    pub fn unmark_notification(&mut self, user: &str, id: &str, field: Unmark) -> QueryResult<usize> {
        let (conn, tid) = self.parts();
        let target = notifications::table
            .filter(notifications::tenant_id.eq(tid))
            .filter(notifications::user_id.eq(user))
            .filter(notifications::id.eq(id));
        match field {
            Unmark::Read => diesel::update(target).set(notifications::read_at.eq(None::<NaiveDateTime>)).execute(conn),
            Unmark::Archived => {
                diesel::update(target).set(notifications::archived_at.eq(None::<NaiveDateTime>)).execute(conn)
            }
        }
    }

    /// Marks one notification (`Some(id)`) or all of a person's; returns how many changed.
    /// Read implies seen; archived implies read and seen. Idempotent.
    pub fn mark_notifications(
        &mut self,
        user: &str,
        id: Option<&str>,
        mark: Mark,
        now: NaiveDateTime,
    ) -> QueryResult<usize> {
        let (conn, tid) = self.parts();
        let mut changed = 0;
        let scope = || {
            let mut q = notifications::table
                .filter(notifications::tenant_id.eq(tid))
                .filter(notifications::user_id.eq(user))
                .into_boxed();
            if let Some(i) = id {
                q = q.filter(notifications::id.eq(i.to_string()));
            }
            q
        };
        {
            let targets: Vec<String> =
                scope().filter(notifications::seen_at.is_null()).select(notifications::id).load(conn)?;
            changed += diesel::update(notifications::table.filter(notifications::id.eq_any(&targets)))
                .set(notifications::seen_at.eq(Some(now)))
                .execute(conn)?;
        }
        if matches!(mark, Mark::Read | Mark::Archived) {
            let targets: Vec<String> =
                scope().filter(notifications::read_at.is_null()).select(notifications::id).load(conn)?;
            changed += diesel::update(notifications::table.filter(notifications::id.eq_any(&targets)))
                .set(notifications::read_at.eq(Some(now)))
                .execute(conn)?;
        }
        if mark == Mark::Archived {
            let targets: Vec<String> =
                scope().filter(notifications::archived_at.is_null()).select(notifications::id).load(conn)?;
            changed += diesel::update(notifications::table.filter(notifications::id.eq_any(&targets)))
                .set(notifications::archived_at.eq(Some(now)))
                .execute(conn)?;
        }
        Ok(changed)
    }
}
