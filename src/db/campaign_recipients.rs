//! A campaign's recipients (`campaign_recipients`): one row per address, keyed by the
//! lower-cased address so a segment's duplicates collapse on insert. Rows are claimed
//! with a lease before they are mailed (`claim_recipients`); a row whose lease expired
//! (its node died mid-send) is claimed again and mailed with the same `message_id`.
//! A retry waits in `lease_until` with no owner, so one condition finds what is due.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::campaign_recipients as cr;
use super::schema::email_suppressions as sup;
use super::TenantDb;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = cr, treat_none_as_default_value = false)]
pub struct RecipientRow {
    pub tenant_id: String,
    pub campaign_id: String,
    pub email_lower: String,
    pub id: String,
    pub contact_id: Option<String>,
    pub email: String,
    pub status: String,
    pub attempts: i32,
    pub lease_owner: Option<String>,
    pub lease_until: Option<NaiveDateTime>,
    pub sent_at: Option<NaiveDateTime>,
    pub error: Option<String>,
    pub message_id: String,
    pub opened_at: Option<NaiveDateTime>,
    pub clicked_at: Option<NaiveDateTime>,
}

/// How a claimed recipient's delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// 5xx: bounced for good (the caller also suppresses the address).
    Bounced(String),
    /// 4xx or a broken connection: retry at `retry_at`, or fail when out of attempts.
    Deferred {
        error: String,
        retry_at: NaiveDateTime,
    },
    Failed(String),
    /// Suppressed after it was queued (an unsubscribe or bounce from another campaign).
    Suppressed,
    /// Not attempted (the server was unreachable): back to the queue, attempt not counted.
    Released,
}

/// Queued and not held: never claimed, a retry whose wait is over, or a lease that
/// expired (its node died).
macro_rules! due {
    ($now:expr) => {
        cr::status.eq("queued").and(cr::lease_until.is_null().or(cr::lease_until.lt($now)))
    };
}

impl TenantDb<'_> {
    /// Inserts a batch in one statement; rows whose address is already a recipient are
    /// skipped. Returns how many were inserted.
    pub fn insert_recipients(&mut self, rows: &[RecipientRow]) -> QueryResult<usize> {
        if rows.is_empty() {
            return Ok(0);
        }
        match self.conn() {
            super::DbConnection::Postgresql(c) => {
                diesel::insert_into(cr::table).values(rows).on_conflict_do_nothing().execute(c)
            }
            // Diesel builds no multi-row INSERT … ON CONFLICT for SQLite; the same single
            // statement, written out.
            super::DbConnection::Sqlite(c) => {
                use diesel::sql_types::{Integer, Nullable, Text, Timestamp};
                let mut sql = String::from(
                    "INSERT OR IGNORE INTO campaign_recipients (tenant_id, campaign_id, email_lower, id, contact_id, \
                     email, status, attempts, lease_owner, lease_until, sent_at, error, message_id, opened_at, \
                     clicked_at) VALUES ",
                );
                for i in 0..rows.len() {
                    sql.push_str(if i == 0 {
                        "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                    } else {
                        ",(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                    });
                }
                let mut q = diesel::sql_query(sql).into_boxed::<diesel::sqlite::Sqlite>();
                for r in rows {
                    q = q
                        .bind::<Text, _>(r.tenant_id.clone())
                        .bind::<Text, _>(r.campaign_id.clone())
                        .bind::<Text, _>(r.email_lower.clone())
                        .bind::<Text, _>(r.id.clone())
                        .bind::<Nullable<Text>, _>(r.contact_id.clone())
                        .bind::<Text, _>(r.email.clone())
                        .bind::<Text, _>(r.status.clone())
                        .bind::<Integer, _>(r.attempts)
                        .bind::<Nullable<Text>, _>(r.lease_owner.clone())
                        .bind::<Nullable<Timestamp>, _>(r.lease_until)
                        .bind::<Nullable<Timestamp>, _>(r.sent_at)
                        .bind::<Nullable<Text>, _>(r.error.clone())
                        .bind::<Text, _>(r.message_id.clone())
                        .bind::<Nullable<Timestamp>, _>(r.opened_at)
                        .bind::<Nullable<Timestamp>, _>(r.clicked_at);
                }
                q.execute(c)
            }
        }
    }

    /// The lower-cased addresses among `emails` that are on the suppression list.
    pub fn suppressed_among(&mut self, emails: &[String]) -> QueryResult<Vec<String>> {
        let (conn, tid) = self.parts();
        let mut out = Vec::new();
        for chunk in emails.chunks(500) {
            let found: Vec<String> = sup::table
                .filter(sup::tenant_id.eq(tid))
                .filter(sup::email_lower.eq_any(chunk))
                .select(sup::email_lower)
                .load(conn)?;
            out.extend(found);
        }
        Ok(out)
    }

    /// Claims up to `limit` due recipients of campaign `id` for `owner` until `until`
    /// (a conditional UPDATE: on PostgreSQL a row another node claimed meanwhile no longer
    /// matches). Each claim counts an attempt.
    pub fn claim_recipients(
        &mut self,
        id: &str,
        owner: &str,
        now: NaiveDateTime,
        until: NaiveDateTime,
        limit: i64,
    ) -> QueryResult<Vec<RecipientRow>> {
        let (conn, tid) = self.parts();
        let ids: Vec<String> = cr::table
            .filter(cr::tenant_id.eq(tid))
            .filter(cr::campaign_id.eq(id))
            .filter(due!(now))
            .order(cr::id.asc())
            .limit(limit)
            .select(cr::id)
            .load(conn)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let set = (cr::lease_owner.eq(Some(owner)), cr::lease_until.eq(Some(until)), cr::attempts.eq(cr::attempts + 1));
        let base = cr::table.filter(cr::tenant_id.eq(tid)).filter(cr::campaign_id.eq(id)).filter(cr::id.eq_any(&ids));
        diesel::update(base.filter(due!(now))).set(set).execute(conn)?;
        cr::table
            .filter(cr::tenant_id.eq(tid))
            .filter(cr::campaign_id.eq(id))
            .filter(cr::id.eq_any(&ids))
            .filter(cr::lease_owner.eq(owner))
            .filter(cr::lease_until.eq(until))
            .filter(cr::status.eq("queued"))
            .order(cr::id.asc())
            .select(RecipientRow::as_select())
            .load(conn)
    }

    /// Records the outcomes of `owner`'s claimed recipients; a row whose lease another
    /// node took over meanwhile is left alone. `max_attempts` turns a deferral into a
    /// failure.
    pub fn record_deliveries(
        &mut self,
        id: &str,
        owner: &str,
        outcomes: &[(String, i32, Delivery)],
        now: NaiveDateTime,
        max_attempts: i32,
    ) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        let sent: Vec<&str> =
            outcomes.iter().filter(|(_, _, d)| *d == Delivery::Sent).map(|(r, _, _)| r.as_str()).collect();
        let mine = || {
            cr::table
                .filter(cr::tenant_id.eq(tid))
                .filter(cr::campaign_id.eq(id))
                .filter(cr::lease_owner.eq(owner))
                .filter(cr::status.eq("queued"))
        };
        for chunk in sent.chunks(500) {
            diesel::update(mine().filter(cr::id.eq_any(chunk)))
                .set((
                    cr::status.eq("sent"),
                    cr::sent_at.eq(Some(now)),
                    cr::error.eq(None::<String>),
                    cr::lease_owner.eq(None::<String>),
                    cr::lease_until.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)?;
        }
        for (rid, attempts, d) in outcomes {
            let row = mine().filter(cr::id.eq(rid));
            match d {
                Delivery::Sent => {}
                Delivery::Bounced(e) | Delivery::Failed(e) => {
                    let status = if matches!(d, Delivery::Bounced(_)) { "bounced" } else { "failed" };
                    diesel::update(row)
                        .set((
                            cr::status.eq(status),
                            cr::error.eq(Some(truncate(e))),
                            cr::lease_owner.eq(None::<String>),
                            cr::lease_until.eq(None::<NaiveDateTime>),
                        ))
                        .execute(conn)?;
                }
                Delivery::Deferred { error, .. } if *attempts >= max_attempts => {
                    diesel::update(row)
                        .set((
                            cr::status.eq("failed"),
                            cr::error.eq(Some(truncate(error))),
                            cr::lease_owner.eq(None::<String>),
                            cr::lease_until.eq(None::<NaiveDateTime>),
                        ))
                        .execute(conn)?;
                }
                Delivery::Deferred { error, retry_at } => {
                    diesel::update(row)
                        .set((
                            cr::error.eq(Some(truncate(error))),
                            cr::lease_owner.eq(None::<String>),
                            cr::lease_until.eq(Some(*retry_at)),
                        ))
                        .execute(conn)?;
                }
                Delivery::Suppressed => {
                    diesel::update(row)
                        .set((
                            cr::status.eq("suppressed"),
                            cr::lease_owner.eq(None::<String>),
                            cr::lease_until.eq(None::<NaiveDateTime>),
                        ))
                        .execute(conn)?;
                }
                Delivery::Released => {
                    diesel::update(row)
                        .set((
                            cr::attempts.eq(cr::attempts - 1),
                            cr::lease_owner.eq(None::<String>),
                            cr::lease_until.eq(None::<NaiveDateTime>),
                        ))
                        .execute(conn)?;
                }
            }
        }
        Ok(())
    }

    /// Whether campaign `id` still has recipients to mail (queued, claimed or waiting).
    pub fn has_queued(&mut self, id: &str) -> QueryResult<bool> {
        let (conn, tid) = self.parts();
        let one: Option<String> = cr::table
            .filter(cr::tenant_id.eq(tid))
            .filter(cr::campaign_id.eq(id))
            .filter(cr::status.eq("queued"))
            .select(cr::id)
            .first(conn)
            .optional()?;
        Ok(one.is_some())
    }

    /// When the next waiting retry of campaign `id` is due, if any is waiting.
    pub fn next_retry_at(&mut self, id: &str) -> QueryResult<Option<NaiveDateTime>> {
        let (conn, tid) = self.parts();
        cr::table
            .filter(cr::tenant_id.eq(tid))
            .filter(cr::campaign_id.eq(id))
            .filter(cr::status.eq("queued"))
            .select(diesel::dsl::min(cr::lease_until))
            .first(conn)
    }

    /// A page of campaign `id`'s recipients in id order, optionally of one status.
    pub fn recipients_page(
        &mut self,
        id: &str,
        status: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<RecipientRow>> {
        let (conn, tid) = self.parts();
        let statuses: Vec<&str> = match status {
            Some(s) => vec![s],
            None => vec!["queued", "sent", "failed", "bounced", "suppressed"],
        };
        cr::table
            .filter(cr::tenant_id.eq(tid))
            .filter(cr::campaign_id.eq(id))
            .filter(cr::status.eq_any(statuses))
            .filter(cr::id.gt(after.unwrap_or_default()))
            .order(cr::id.asc())
            .limit(limit)
            .select(RecipientRow::as_select())
            .load(conn)
    }

    pub fn recipient(&mut self, campaign_id: &str, recipient_id: &str) -> QueryResult<Option<RecipientRow>> {
        let (conn, tid) = self.parts();
        cr::table
            .filter(cr::tenant_id.eq(tid))
            .filter(cr::campaign_id.eq(campaign_id))
            .filter(cr::id.eq(recipient_id))
            .select(RecipientRow::as_select())
            .first(conn)
            .optional()
    }

    pub fn recipient_by_message_id(&mut self, message_id: &str) -> QueryResult<Option<RecipientRow>> {
        let (conn, tid) = self.parts();
        cr::table
            .filter(cr::tenant_id.eq(tid))
            .filter(cr::message_id.eq(message_id))
            .select(RecipientRow::as_select())
            .first(conn)
            .optional()
    }

    /// Marks a recipient opened (and clicked, for a click) the first time; true when this
    /// call changed something.
    pub fn mark_engaged(
        &mut self,
        campaign_id: &str,
        recipient_id: &str,
        click: bool,
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        let (conn, tid) = self.parts();
        let row = || {
            cr::table
                .filter(cr::tenant_id.eq(tid))
                .filter(cr::campaign_id.eq(campaign_id))
                .filter(cr::id.eq(recipient_id))
        };
        let mut n =
            diesel::update(row().filter(cr::opened_at.is_null())).set(cr::opened_at.eq(Some(now))).execute(conn)?;
        if click {
            n += diesel::update(row().filter(cr::clicked_at.is_null()))
                .set(cr::clicked_at.eq(Some(now)))
                .execute(conn)?;
        }
        Ok(n > 0)
    }

    /// Marks a recipient bounced after the fact (a provider's bounce webhook).
    pub fn mark_bounced(&mut self, campaign_id: &str, recipient_id: &str, error: &str) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        diesel::update(
            cr::table
                .filter(cr::tenant_id.eq(tid))
                .filter(cr::campaign_id.eq(campaign_id))
                .filter(cr::id.eq(recipient_id)),
        )
        .set((cr::status.eq("bounced"), cr::error.eq(Some(truncate(error)))))
        .execute(conn)?;
        Ok(())
    }
}

impl TenantDb<'_> {
    /// Erasure: every recipient row of this contact or address, in every campaign, keeps
    /// its status and times (the stats stay exact) but loses the address and the contact
    /// link. Returns how many rows changed.
    pub fn anonymise_recipients(&mut self, contact_id: &str, email_lower: Option<&str>) -> QueryResult<usize> {
        let (conn, tid) = self.parts();
        let mut rows: Vec<(String, String)> = cr::table
            .filter(cr::tenant_id.eq(tid))
            .filter(cr::contact_id.eq(contact_id))
            .select((cr::campaign_id, cr::id))
            .load(conn)?;
        if let Some(email) = email_lower {
            let by_address: Vec<(String, String)> = cr::table
                .filter(cr::tenant_id.eq(tid))
                .filter(cr::email_lower.eq(email))
                .select((cr::campaign_id, cr::id))
                .load(conn)?;
            rows.extend(by_address);
            rows.sort();
            rows.dedup();
        }
        for (campaign, id) in &rows {
            diesel::update(
                cr::table.filter(cr::tenant_id.eq(tid)).filter(cr::campaign_id.eq(campaign)).filter(cr::id.eq(id)),
            )
            .set((
                cr::email_lower.eq(format!("erased:{id}")),
                cr::email.eq(""),
                cr::contact_id.eq(None::<String>),
                cr::error.eq(None::<String>),
            ))
            .execute(conn)?;
        }
        Ok(rows.len())
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(500).collect()
}
