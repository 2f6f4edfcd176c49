//! Stored throttle counters (`auth_throttle`), keyed by scope (`login_account`,
//! `login_ip`, `mfa`) and subject (an email, an IP, a user id). Not tenant data: attempts
//! happen before anyone is signed in.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::auth_throttle;
use super::{DbConnection, Platform, Tx};
use crate::security::throttle::{Policy, State};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = auth_throttle, treat_none_as_null = true, treat_none_as_default_value = false)]
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
        self.store_throttle(scope, subject, &next)?;
        Ok(next)
    }

    /// Writes a counter's state (insert or replace).
    pub fn store_throttle(&mut self, scope: &str, subject: &str, next: &State) -> QueryResult<()> {
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
        Ok(())
    }

    pub fn clear_throttle(&mut self, scope: &str, subject: &str) -> QueryResult<()> {
        diesel::delete(auth_throttle::table.find((scope, subject))).execute(self.conn())?;
        Ok(())
    }
}

impl Tx<'_> {
    /// Takes an attempt on each `(policy, scope, subject)` counter, atomically: the rows are
    /// locked (PostgreSQL `FOR UPDATE`; SQLite's write transaction already excludes other
    /// writers), checked and counted in this transaction. `Err(seconds)` (the longest
    /// wait) when any counter blocks; nothing is counted then.
    pub fn reserve_attempts(
        &mut self,
        counters: &[(&Policy, &str, &str)],
        now: DateTime<Utc>,
    ) -> QueryResult<Result<Vec<State>, u64>> {
        let mut states = Vec::with_capacity(counters.len());
        let mut wait = None;
        for (policy, scope, subject) in counters {
            let previous = self.locked_state(scope, subject, now)?;
            match policy.reserve(previous, now) {
                Ok(next) => states.push(next),
                Err(secs) => wait = wait.max(Some(secs)),
            }
        }
        if let Some(secs) = wait {
            return Ok(Err(secs));
        }
        for ((_, scope, subject), state) in counters.iter().zip(&states) {
            self.platform().store_throttle(scope, subject, state)?;
        }
        Ok(Ok(states))
    }

    /// Gives back one reserved attempt (the attempt succeeded).
    pub fn refund_attempt(
        &mut self,
        policy: &Policy,
        scope: &str,
        subject: &str,
        now: DateTime<Utc>,
    ) -> QueryResult<()> {
        if let Some(state) = self.locked_state(scope, subject, now)? {
            self.platform().store_throttle(scope, subject, &policy.refund(state))?;
        }
        Ok(())
    }

    fn locked_state(&mut self, scope: &str, subject: &str, now: DateTime<Utc>) -> QueryResult<Option<State>> {
        // A row to lock even for the first attempt (two first attempts must not both
        // count from nothing): an empty counter, if none exists.
        let empty = ThrottleRow {
            scope: scope.to_string(),
            subject: subject.to_string(),
            failures: 0,
            last_failure_at: now.naive_utc(),
            blocked_until: None,
        };
        crate::each_backend!(&mut *self.conn, c => diesel::insert_into(auth_throttle::table)
            .values(&empty)
            .on_conflict_do_nothing()
            .execute(c))?;
        let row: Option<ThrottleRow> = match &mut *self.conn {
            DbConnection::Postgresql(c) => auth_throttle::table
                .find((scope, subject))
                .select(ThrottleRow::as_select())
                .for_update()
                .first(c)
                .optional()?,
            DbConnection::Sqlite(c) => {
                auth_throttle::table.find((scope, subject)).select(ThrottleRow::as_select()).first(c).optional()?
            }
        };
        Ok(row.map(|r| State {
            failures: r.failures.max(0) as u32,
            last_failure_at: utc(r.last_failure_at),
            blocked_until: r.blocked_until.map(utc),
        }))
    }
}
