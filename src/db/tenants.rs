//! Portals (tenants) and memberships: who belongs to which portal, with which role.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{memberships, tenants};
use super::{TenantDb, Tx};
use crate::domain::{Role, TenantId, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tenants, treat_none_as_default_value = false)]
pub struct TenantRow {
    pub id: String,
    pub name: String,
    pub parent_tenant_id: Option<String>,
    pub branding: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub require_mfa: bool,
    /// allowed | approval_required | denied: how platform staff may enter (Portal JITA).
    pub staff_access: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = memberships, treat_none_as_default_value = false)]
pub struct MembershipRow {
    pub tenant_id: String,
    pub user_id: String,
    pub role: String,
    pub created_at: NaiveDateTime,
}

impl MembershipRow {
    pub fn role(&self) -> Role {
        // The column has a CHECK constraint; an unknown value can only come from manual
        // tampering, and the least privilege is the safe reading of it.
        Role::parse(&self.role).unwrap_or(Role::Viewer)
    }
}

impl Tx<'_> {
    /// Creates a portal with `owner` as its first owner, its audit chain and its event
    /// sequence.
    pub fn create_tenant(&mut self, name: &str, owner: &UserId, now: NaiveDateTime) -> QueryResult<TenantRow> {
        let row = TenantRow {
            id: TenantId::new().to_string(),
            name: name.to_string(),
            parent_tenant_id: None,
            branding: None,
            created_at: now,
            updated_at: now,
            require_mfa: false,
            staff_access: "approval_required".into(),
        };
        diesel::insert_into(tenants::table).values(&row).execute(self.conn)?;
        let mut t = self.tenant(&TenantId::from_db(row.id.clone()))?;
        t.start_chain()?;
        t.start_sequence()?;
        t.add_member(owner, Role::Owner, now)?;
        Ok(row)
    }
}

impl TenantDb<'_> {
    /// This portal's own row.
    pub fn tenant(&mut self) -> QueryResult<TenantRow> {
        let (conn, tid) = self.parts();
        tenants::table.find(tid).select(TenantRow::as_select()).first(conn)
    }

    /// Applies changed settings; `None` leaves a setting as it is.
    pub fn update_settings(
        &mut self,
        name: Option<&str>,
        require_mfa: Option<bool>,
        staff_access: Option<&str>,
        now: NaiveDateTime,
    ) -> QueryResult<TenantRow> {
        let (conn, tid) = self.parts();
        if let Some(rule) = staff_access {
            diesel::update(tenants::table.find(tid)).set(tenants::staff_access.eq(rule)).execute(conn)?;
        }
        if let Some(name) = name {
            diesel::update(tenants::table.find(tid)).set(tenants::name.eq(name)).execute(conn)?;
        }
        if let Some(flag) = require_mfa {
            diesel::update(tenants::table.find(tid)).set(tenants::require_mfa.eq(flag)).execute(conn)?;
        }
        diesel::update(tenants::table.find(tid)).set(tenants::updated_at.eq(now)).execute(conn)?;
        self.tenant()
    }

    /// Locks this portal's row until the transaction ends (PostgreSQL; SQLite's write lock is
    /// already held), so rules spanning several rows, like "keep one owner", hold under
    /// concurrency.
    pub fn lock(&mut self) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        diesel::update(tenants::table.find(tid)).set(tenants::id.eq(tid)).execute(conn)?;
        Ok(())
    }

    /// A user's membership in this portal, if any.
    pub fn membership(&mut self, user: &UserId) -> QueryResult<Option<MembershipRow>> {
        let (conn, tid) = self.parts();
        memberships::table
            .filter(memberships::tenant_id.eq(tid))
            .filter(memberships::user_id.eq(user.as_str()))
            .select(MembershipRow::as_select())
            .first(conn)
            .optional()
    }
}
