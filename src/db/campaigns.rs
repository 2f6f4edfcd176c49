//! Campaign rows (`campaigns`), their sending state (`campaign_runs`), the portal's email
//! settings, and the stats computed from recipient rows. Status changes are conditional
//! UPDATEs (`set_status_if`), so two requests or two nodes racing on one campaign cannot
//! both win; the rules for which change is allowed live in `crate::campaigns`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{campaign_recipients as cr, campaign_runs as runs, campaigns as c, email_settings as es};
use super::tenant_db::first_locked;
use super::TenantDb;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = c, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct CampaignRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub email_id: Option<String>,
    pub segment_id: Option<String>,
    pub from_name: String,
    pub from_email: Option<String>,
    pub reply_to: Option<String>,
    pub send_at: Option<NaiveDateTime>,
    pub status: String,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub started_at: Option<NaiveDateTime>,
    pub completed_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = runs, treat_none_as_default_value = false)]
pub struct RunRow {
    pub campaign_id: String,
    pub tenant_id: String,
    pub content: String,
    pub tracking: bool,
    pub materialised: bool,
    pub audience_after: Option<String>,
    pub skipped_no_email: i64,
    pub duplicates: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<NaiveDateTime>,
    pub error: Option<String>,
    pub updated_at: NaiveDateTime,
}

/// Counts of a campaign's recipients, exact (computed from the rows).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Stats {
    /// Recipient rows (everyone the send will reach or skipped as suppressed).
    pub recipients: i64,
    /// Still to be mailed (first try or a retry).
    pub queued: i64,
    pub sent: i64,
    pub failed: i64,
    pub bounced: i64,
    pub suppressed: i64,
    pub opened: i64,
    pub clicked: i64,
    pub unsubscribed: i64,
    /// Segment members without an email address (not recipients).
    pub skipped_no_email: i64,
    /// Segment members whose address (case-insensitively) another member already had.
    pub duplicates: i64,
}

/// A portal's sending settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmailSettings {
    pub sending_rate_per_second: i32,
    pub tracking: bool,
}

impl Default for EmailSettings {
    fn default() -> Self {
        Self { sending_rate_per_second: 20, tracking: true }
    }
}

impl TenantDb<'_> {
    pub fn insert_campaign(&mut self, row: &CampaignRow) -> QueryResult<()> {
        diesel::insert_into(c::table).values(row).execute(self.conn())?;
        Ok(())
    }

    pub fn campaign(&mut self, id: &str) -> QueryResult<Option<CampaignRow>> {
        let id = id.to_string();
        first_locked!(self, tid => c::table
            .filter(c::tenant_id.eq(tid.to_string()))
            .filter(c::id.eq(id))
            .select(CampaignRow::as_select()))
    }

    /// Campaign `id`'s status now (no lock: a sending step looks before it mails).
    pub fn campaign_status(&mut self, id: &str) -> QueryResult<Option<String>> {
        let (conn, tid) = self.parts();
        c::table.filter(c::tenant_id.eq(tid)).filter(c::id.eq(id)).select(c::status).first(conn).optional()
    }

    /// Campaigns newest first, after the cursor id, optionally of one status.
    pub fn campaigns_page(
        &mut self,
        status: Option<&str>,
        before: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<CampaignRow>> {
        let (conn, tid) = self.parts();
        let statuses: Vec<&str> = match status {
            Some(s) => vec![s],
            None => crate::campaigns::STATUSES.to_vec(),
        };
        c::table
            .filter(c::tenant_id.eq(tid))
            .filter(c::status.eq_any(statuses))
            .filter(c::id.lt(before.unwrap_or("~")))
            .order(c::id.desc())
            .limit(limit)
            .select(CampaignRow::as_select())
            .load(conn)
    }

    /// Saves a draft's editable fields (only while it is still a draft).
    pub fn save_draft(&mut self, row: &CampaignRow) -> QueryResult<bool> {
        let (conn, tid) = self.parts();
        let n = diesel::update(
            c::table.filter(c::tenant_id.eq(tid)).filter(c::id.eq(&row.id)).filter(c::status.eq("draft")),
        )
        .set(row)
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Moves campaign `id` from one of `from` to `to`; false when it was in none of them
    /// (another request or node got there first).
    pub fn set_status_if(&mut self, id: &str, from: &[&str], to: &str, now: NaiveDateTime) -> QueryResult<bool> {
        let (conn, tid) = self.parts();
        let target = c::table.filter(c::tenant_id.eq(tid)).filter(c::id.eq(id)).filter(c::status.eq_any(from));
        let n = match to {
            "sending" => {
                let n = diesel::update(target).set((c::status.eq(to), c::updated_at.eq(now))).execute(conn)?;
                diesel::update(
                    c::table.filter(c::tenant_id.eq(tid)).filter(c::id.eq(id)).filter(c::started_at.is_null()),
                )
                .set(c::started_at.eq(Some(now)))
                .execute(conn)?;
                n
            }
            "completed" | "cancelled" | "failed" => diesel::update(target)
                .set((c::status.eq(to), c::updated_at.eq(now), c::completed_at.eq(Some(now))))
                .execute(conn)?,
            _ => diesel::update(target).set((c::status.eq(to), c::updated_at.eq(now))).execute(conn)?,
        };
        Ok(n == 1)
    }

    pub fn delete_campaign(&mut self, id: &str) -> QueryResult<bool> {
        let (conn, tid) = self.parts();
        diesel::delete(cr::table.filter(cr::tenant_id.eq(tid)).filter(cr::campaign_id.eq(id))).execute(conn)?;
        diesel::delete(runs::table.filter(runs::tenant_id.eq(tid)).filter(runs::campaign_id.eq(id))).execute(conn)?;
        Ok(diesel::delete(c::table.filter(c::tenant_id.eq(tid)).filter(c::id.eq(id))).execute(conn)? == 1)
    }

    pub fn insert_run(&mut self, row: &RunRow) -> QueryResult<()> {
        diesel::insert_into(runs::table).values(row).execute(self.conn())?;
        Ok(())
    }

    pub fn run(&mut self, campaign_id: &str) -> QueryResult<Option<RunRow>> {
        let (conn, tid) = self.parts();
        runs::table
            .filter(runs::tenant_id.eq(tid))
            .filter(runs::campaign_id.eq(campaign_id))
            .select(RunRow::as_select())
            .first(conn)
            .optional()
    }

    /// Extends `owner`'s lease on a sending campaign; false when the campaign is no longer
    /// sending (paused, cancelled, completed) or another node holds it.
    pub fn renew_run_lease(
        &mut self,
        id: &str,
        owner: &str,
        until: NaiveDateTime,
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        let (conn, tid) = self.parts();
        let sending: Option<String> =
            c::table.filter(c::tenant_id.eq(tid)).filter(c::id.eq(id)).select(c::status).first(conn).optional()?;
        if sending.as_deref() != Some("sending") {
            return Ok(false);
        }
        let n = diesel::update(
            runs::table
                .filter(runs::tenant_id.eq(tid))
                .filter(runs::campaign_id.eq(id))
                .filter(runs::lease_owner.eq(owner)),
        )
        .set((runs::lease_until.eq(Some(until)), runs::updated_at.eq(now)))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Gives up the campaign's lease (paused or resumed: any node may pick it up again).
    pub fn release_run(&mut self, id: &str) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        diesel::update(runs::table.filter(runs::tenant_id.eq(tid)).filter(runs::campaign_id.eq(id)))
            .set((runs::lease_owner.eq(None::<String>), runs::lease_until.eq(None::<NaiveDateTime>)))
            .execute(conn)?;
        Ok(())
    }

    /// Gives up `owner`'s lease on campaign `id`'s run (a graceful stop); a lease another
    /// node took over meanwhile is left alone.
    pub fn release_run_of(&mut self, id: &str, owner: &str) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        diesel::update(
            runs::table
                .filter(runs::tenant_id.eq(tid))
                .filter(runs::campaign_id.eq(id))
                .filter(runs::lease_owner.eq(owner)),
        )
        .set((runs::lease_owner.eq(None::<String>), runs::lease_until.eq(None::<NaiveDateTime>)))
        .execute(conn)?;
        Ok(())
    }

    /// Records why a sending campaign is waiting (or clears it with `None`).
    pub fn set_run_error(&mut self, id: &str, error: Option<&str>) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        diesel::update(runs::table.filter(runs::tenant_id.eq(tid)).filter(runs::campaign_id.eq(id)))
            .set(runs::error.eq(error))
            .execute(conn)?;
        Ok(())
    }

    /// Moves the audience cursor after a materialised batch, adding its skipped counts.
    pub fn advance_audience(
        &mut self,
        id: &str,
        after: Option<&str>,
        done: bool,
        skipped: i64,
        duplicates: i64,
    ) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        diesel::update(runs::table.filter(runs::tenant_id.eq(tid)).filter(runs::campaign_id.eq(id)))
            .set((
                runs::audience_after.eq(after),
                runs::materialised.eq(done),
                runs::skipped_no_email.eq(runs::skipped_no_email + skipped),
                runs::duplicates.eq(runs::duplicates + duplicates),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Exact counts of campaign `id`'s recipients.
    pub fn campaign_stats(&mut self, id: &str) -> QueryResult<Stats> {
        let (conn, tid) = self.parts();
        // One pass over the campaign's rows (progress is counted twice a second while it
        // sends): per status, how many, and how many of those were opened and clicked.
        let by_status: Vec<(String, i64, i64, i64)> = cr::table
            .filter(cr::tenant_id.eq(tid))
            .filter(cr::campaign_id.eq(id))
            .group_by(cr::status)
            .select((
                cr::status,
                diesel::dsl::count_star(),
                diesel::dsl::count(cr::opened_at),
                diesel::dsl::count(cr::clicked_at),
            ))
            .load(conn)?;
        let opened = by_status.iter().map(|(_, _, o, _)| o).sum();
        let clicked = by_status.iter().map(|(_, _, _, c)| c).sum();
        let unsubscribed: i64 = {
            use super::schema::email_suppressions as sup;
            sup::table
                .filter(sup::tenant_id.eq(tid))
                .filter(sup::campaign_id.eq(id))
                .filter(sup::reason.eq("unsubscribed"))
                .count()
                .get_result(conn)?
        };
        let run: Option<(i64, i64)> = runs::table
            .filter(runs::tenant_id.eq(tid))
            .filter(runs::campaign_id.eq(id))
            .select((runs::skipped_no_email, runs::duplicates))
            .first(conn)
            .optional()?;
        let mut s = Stats { opened, clicked, unsubscribed, ..Stats::default() };
        (s.skipped_no_email, s.duplicates) = run.unwrap_or_default();
        for (status, n, _, _) in by_status {
            s.recipients += n;
            match status.as_str() {
                "queued" => s.queued = n,
                "sent" => s.sent = n,
                "failed" => s.failed = n,
                "bounced" => s.bounced = n,
                "suppressed" => s.suppressed = n,
                _ => {}
            }
        }
        Ok(s)
    }

    pub fn email_settings(&mut self) -> QueryResult<EmailSettings> {
        let (conn, tid) = self.parts();
        let row: Option<(i32, bool)> = es::table
            .filter(es::tenant_id.eq(tid))
            .select((es::sending_rate_per_second, es::tracking))
            .first(conn)
            .optional()?;
        Ok(row.map(|(r, t)| EmailSettings { sending_rate_per_second: r, tracking: t }).unwrap_or_default())
    }

    pub fn set_email_settings(&mut self, s: EmailSettings, now: NaiveDateTime) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        let tid = tid.to_string();
        let n = diesel::update(es::table.filter(es::tenant_id.eq(&tid)))
            .set((
                es::sending_rate_per_second.eq(s.sending_rate_per_second),
                es::tracking.eq(s.tracking),
                es::updated_at.eq(now),
            ))
            .execute(conn)?;
        if n == 0 {
            diesel::insert_into(es::table)
                .values((
                    es::tenant_id.eq(&tid),
                    es::sending_rate_per_second.eq(s.sending_rate_per_second),
                    es::tracking.eq(s.tracking),
                    es::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
        Ok(())
    }
}
