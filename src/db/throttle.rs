//! Stored throttle counters (`auth_throttle`), keyed by scope (`login_account`,
//! `login_ip`, `mfa`) and subject (an email, an IP, a user id). Not tenant data: attempts
//! happen before anyone is signed in.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::auth_throttle;
use super::Platform;
use crate::security::throttle::{Policy, State};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = auth_throttle)]
#[diesel(treat_none_as_null = true)]
struct ThrottleRow {
    scope: String,
    subject: String,
    failures: i32,
    last_failure_at: NaiveDateTime,
    blocked_until: Option<NaiveDateTime>,
}

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

impl Platform<'_> {
    pub fn throttle_state(&mut self, scope: &str, subject: &str) -> QueryResult<Option<State>> {
        let row: Option<ThrottleRow> = auth_throttle::table
            .find((scope, subject))
            .select(ThrottleRow::as_select())
            .first(self.conn())
            .optional()?;
        Ok(row.map(|r| State {
            failures: r.failures.max(0) as u32,
            last_failure_at: utc(r.last_failure_at),
            blocked_until: r.blocked_until.map(utc),
        }))
    }

    /// Counts one failure and returns the new state. Two concurrent failures may count once
    /// between them (read, then upsert); the policy stays effective, only slightly lenient.
    pub fn record_failure(
        &mut self,
        policy: &Policy,
        scope: &str,
        subject: &str,
        now: DateTime<Utc>,
    ) -> QueryResult<State> {
        let next = policy.after_failure(self.throttle_state(scope, subject)?, now);
        let row = ThrottleRow {
            scope: scope.to_string(),
            subject: subject.to_string(),
            failures: next.failures.min(i32::MAX as u32) as i32,
            last_failure_at: next.last_failure_at.naive_utc(),
            blocked_until: next.blocked_until.map(|t| t.naive_utc()),
        };
        crate::each_backend!(self.conn(), c => diesel::insert_into(auth_throttle::table)
            .values(&row)
            .on_conflict((auth_throttle::scope, auth_throttle::subject))
            .do_update()
            .set(&row)
            .execute(c))?;
        Ok(next)
    }

    pub fn clear_throttle(&mut self, scope: &str, subject: &str) -> QueryResult<()> {
        diesel::delete(auth_throttle::table.find((scope, subject))).execute(self.conn())?;
        Ok(())
    }
}
