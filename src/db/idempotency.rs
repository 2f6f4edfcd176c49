//! Stored first answers for `Idempotency-Key` retries. Not tenant data (a platform table):
//! rows are scoped by the caller's credential digest, which already names one portal.
//!
//! A key's life:
//!
//! ```text
//! (none) ──claim──► running (locked_until = now + lease) ──answer──► answered (replayed)
//!                      │   └─ the request's write commits: committed_at set, same transaction
//!                      └─ lease runs out (the server died):
//!                           committed_at unset → the next retry takes it over and runs
//!                           committed_at set   → answered 409 idempotency_outcome_unknown
//! ```
//!
//! The write marker travels with the request's task ([`IDEMPOTENT_WRITE`]): every write
//! transaction the request runs, wherever it is, marks the key before it commits.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::schema::idempotency_keys as ik;
use super::{DbConnection, Platform, Tx};

/// How long a stored answer is replayed (and kept).
pub fn retention() -> Duration {
    Duration::hours(24)
}

/// How long a first request holds its key; after that a retry may take it over (when the
/// request's change never committed).
pub fn lease() -> Duration {
    Duration::minutes(2)
}

tokio::task_local! {
    /// The key of the request this task is running, if it carries one.
    pub static IDEMPOTENT_WRITE: WriteMark;
}

/// Which key a write transaction marks as committed.
#[derive(Debug, Clone)]
pub struct WriteMark {
    pub scope: String,
    pub key: String,
    pub at: NaiveDateTime,
}

impl WriteMark {
    /// The mark of the request running on this task, if any.
    pub fn current() -> Option<WriteMark> {
        IDEMPOTENT_WRITE.try_with(Clone::clone).ok()
    }

    /// Marks the key inside the committing transaction (a no-op once marked).
    pub(super) fn apply(&self, conn: &mut DbConnection) -> QueryResult<()> {
        if self.key.is_empty() {
            return Ok(()); // the neutral mark of `unmarked`
        }
        diesel::update(
            ik::table
                .filter(ik::scope.eq(&self.scope))
                .filter(ik::idem_key.eq(&self.key))
                .filter(ik::committed_at.is_null()),
        )
        .set(ik::committed_at.eq(Some(self.at)))
        .execute(conn)?;
        Ok(())
    }
}

/// Runs `f` with its writes not marking the request's key: for preparatory transactions
/// (an upload being staged) that are not the request's change; its final transaction,
/// outside, marks it. A request cut off while preparing may then be retried and run.
pub async fn unmarked<F: std::future::Future>(f: F) -> F::Output {
    let neutral = WriteMark { scope: String::new(), key: String::new(), at: NaiveDateTime::default() };
    IDEMPOTENT_WRITE.scope(neutral, f).await
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ik)]
pub struct StoredAnswer {
    pub request_hash: String,
    pub status: Option<i32>,
    pub content_type: Option<String>,
    pub body: Option<String>,
    pub locked_until: Option<NaiveDateTime>,
    pub committed_at: Option<NaiveDateTime>,
}

/// What a request with a key may do.
#[derive(Debug)]
pub enum Claim {
    /// Run it (a first request, or a retry taking over an abandoned one).
    Run,
    /// Answered before: replay this (or 422 when the request differs).
    Answered(StoredAnswer),
    /// Another request with the key is running (its lease holds).
    Running { request_hash: String },
    /// A request with the key was cut off after its change committed: the answer is lost.
    OutcomeUnknown { request_hash: String },
}

impl Tx<'_> {
    /// Claims `key` for a request with `request_hash`, atomically: inserted if new; taken
    /// over by a compare-and-set on the lease if its holder died before committing.
    pub fn claim_idempotency_key(
        &mut self,
        scope: &str,
        key: &str,
        request_hash: &str,
        now: NaiveDateTime,
    ) -> QueryResult<Claim> {
        let lease_until = now + lease();
        let inserted = crate::each_backend!(&mut *self.conn, c => diesel::insert_into(ik::table)
            .values((
                ik::scope.eq(scope),
                ik::idem_key.eq(key),
                ik::request_hash.eq(request_hash),
                ik::created_at.eq(now),
                ik::locked_until.eq(Some(lease_until)),
            ))
            .on_conflict_do_nothing()
            .execute(c))?;
        if inserted == 1 {
            return Ok(Claim::Run);
        }
        let stored: StoredAnswer =
            ik::table.find((scope, key)).select(StoredAnswer::as_select()).first(&mut *self.conn)?;
        if stored.status.is_some() {
            return Ok(Claim::Answered(stored));
        }
        let held = stored.locked_until.is_some_and(|t| t > now);
        if held || stored.request_hash != request_hash {
            return Ok(Claim::Running { request_hash: stored.request_hash });
        }
        if stored.committed_at.is_some() {
            return Ok(Claim::OutcomeUnknown { request_hash: stored.request_hash });
        }
        // Abandoned before its change committed: take it over, unless another retry just did.
        let won = diesel::update(
            ik::table
                .filter(ik::scope.eq(scope))
                .filter(ik::idem_key.eq(key))
                .filter(ik::status.is_null())
                .filter(ik::committed_at.is_null())
                .filter(ik::locked_until.is_null().or(ik::locked_until.le(now))),
        )
        .set(ik::locked_until.eq(Some(lease_until)))
        .execute(&mut *self.conn)?;
        Ok(if won == 1 { Claim::Run } else { Claim::Running { request_hash: stored.request_hash } })
    }
}

impl Platform<'_> {
    pub fn complete_idempotency_key(
        &mut self,
        scope: &str,
        key: &str,
        status: i32,
        content_type: Option<&str>,
        body: &str,
    ) -> QueryResult<()> {
        diesel::update(ik::table.find((scope, key)))
            .set((
                ik::status.eq(Some(status)),
                ik::content_type.eq(content_type),
                ik::body.eq(Some(body)),
                ik::locked_until.eq(None::<NaiveDateTime>),
            ))
            .execute(self.conn())?;
        Ok(())
    }

    /// Lets the key be used again (the first attempt failed on the server's side before
    /// any change committed); returns false when a change did commit, and the key stays.
    pub fn release_idempotency_key(&mut self, scope: &str, key: &str) -> QueryResult<bool> {
        let n = diesel::delete(ik::table.find((scope, key)).filter(ik::committed_at.is_null())).execute(self.conn())?;
        Ok(n == 1)
    }

    /// Forgets answers older than `before` (the purge job).
    pub fn expire_idempotency_keys(&mut self, before: NaiveDateTime) -> QueryResult<usize> {
        diesel::delete(ik::table.filter(ik::created_at.lt(before))).execute(self.conn())
    }
}
