//! A portal's people: list, add, change role, remove. The last owner rule is enforced by
//! the callers inside the same transaction, with [`TenantDb::owner_count`].

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{memberships, sessions, users};
use super::tenants::MembershipRow;
use super::users::UserRow;
use super::TenantDb;
use crate::domain::{Role, UserId};

impl TenantDb<'_> {
    pub fn members(&mut self) -> QueryResult<Vec<(UserRow, MembershipRow)>> {
        let (conn, tid) = self.parts();
        users::table
            .inner_join(memberships::table)
            .filter(memberships::tenant_id.eq(tid))
            .order((memberships::created_at.asc(), users::id.asc()))
            .select((UserRow::as_select(), MembershipRow::as_select()))
            .load(conn)
    }

    pub fn member(&mut self, user: &UserId) -> QueryResult<Option<(UserRow, MembershipRow)>> {
        let (conn, tid) = self.parts();
        users::table
            .inner_join(memberships::table)
            .filter(memberships::tenant_id.eq(tid))
            .filter(users::id.eq(user.as_str()))
            .select((UserRow::as_select(), MembershipRow::as_select()))
            .first(conn)
            .optional()
    }

    pub fn add_member(&mut self, user: &UserId, role: Role, now: NaiveDateTime) -> QueryResult<()> {
        let tid = self.tid().to_string();
        diesel::insert_into(memberships::table)
            .values(&MembershipRow {
                tenant_id: tid,
                user_id: user.to_string(),
                role: role.as_str().to_string(),
                created_at: now,
            })
            .execute(self.conn())?;
        Ok(())
    }

    pub fn set_role(&mut self, user: &UserId, role: Role) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        diesel::update(
            memberships::table.filter(memberships::tenant_id.eq(tid)).filter(memberships::user_id.eq(user.as_str())),
        )
        .set(memberships::role.eq(role.as_str()))
        .execute(conn)?;
        Ok(())
    }

    /// Removes the membership and ends the person's sessions in this portal.
    pub fn remove_member(&mut self, user: &UserId, now: NaiveDateTime) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        diesel::delete(
            memberships::table.filter(memberships::tenant_id.eq(tid)).filter(memberships::user_id.eq(user.as_str())),
        )
        .execute(conn)?;
        diesel::update(
            sessions::table
                .filter(sessions::tenant_id.eq(tid))
                .filter(sessions::user_id.eq(user.as_str()))
                .filter(sessions::revoked_at.is_null()),
        )
        .set(sessions::revoked_at.eq(Some(now)))
        .execute(conn)?;
        Ok(())
    }

    pub fn owner_count(&mut self) -> QueryResult<i64> {
        let (conn, tid) = self.parts();
        memberships::table
            .filter(memberships::tenant_id.eq(tid))
            .filter(memberships::role.eq(Role::Owner.as_str()))
            .count()
            .get_result(conn)
    }
}
