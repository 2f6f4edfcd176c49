//! The portal's suppression list (`email_suppressions`): addresses never to be mailed
//! again, one row per lower-cased address, with why and (when a campaign caused it) which
//! campaign. Erased people are not here: they are keyed hashes in `suppressions`
//! (`crate::erasure::suppression`), checked separately.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::email_suppressions as sup;
use super::TenantDb;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sup, treat_none_as_default_value = false)]
pub struct SuppressionRow {
    pub tenant_id: String,
    pub email_lower: String,
    pub email: String,
    pub reason: String,
    pub campaign_id: Option<String>,
    pub created_at: NaiveDateTime,
}

impl TenantDb<'_> {
    /// Adds `email` (idempotent: an address already listed keeps its first reason).
    /// Returns the row as stored and whether it is new.
    pub fn suppress_address(
        &mut self,
        email: &str,
        reason: &str,
        campaign_id: Option<&str>,
        now: NaiveDateTime,
    ) -> QueryResult<(SuppressionRow, bool)> {
        let row = SuppressionRow {
            tenant_id: self.tid().to_string(),
            email_lower: email.trim().to_lowercase(),
            email: email.trim().to_string(),
            reason: reason.to_string(),
            campaign_id: campaign_id.map(str::to_string),
            created_at: now,
        };
        let n = crate::each_backend!(self.conn(), c => diesel::insert_into(sup::table).values(&row).on_conflict_do_nothing().execute(c))?;
        let stored = self.suppression(&row.email_lower)?.unwrap_or(row);
        Ok((stored, n == 1))
    }

    pub fn suppression(&mut self, email_lower: &str) -> QueryResult<Option<SuppressionRow>> {
        let (conn, tid) = self.parts();
        sup::table
            .filter(sup::tenant_id.eq(tid))
            .filter(sup::email_lower.eq(email_lower))
            .select(SuppressionRow::as_select())
            .first(conn)
            .optional()
    }

    /// A page of the list by address, optionally of one reason.
    pub fn suppressions_page(
        &mut self,
        reason: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<SuppressionRow>> {
        let (conn, tid) = self.parts();
        let reasons: Vec<&str> = match reason {
            Some(r) => vec![r],
            None => vec!["unsubscribed", "hard_bounce", "complaint", "manual"],
        };
        sup::table
            .filter(sup::tenant_id.eq(tid))
            .filter(sup::reason.eq_any(reasons))
            .filter(sup::email_lower.gt(after.unwrap_or_default()))
            .order(sup::email_lower.asc())
            .limit(limit)
            .select(SuppressionRow::as_select())
            .load(conn)
    }

    pub fn unsuppress(&mut self, email_lower: &str) -> QueryResult<bool> {
        let (conn, tid) = self.parts();
        Ok(diesel::delete(sup::table.filter(sup::tenant_id.eq(tid)).filter(sup::email_lower.eq(email_lower)))
            .execute(conn)?
            == 1)
    }
}
