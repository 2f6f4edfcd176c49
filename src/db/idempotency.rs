//! Stored first answers for `Idempotency-Key` retries. Not tenant data (a platform table):
//! rows are scoped by the caller's credential digest, which already names one portal.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::idempotency_keys as ik;
use super::Platform;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ik)]
pub struct StoredAnswer {
    pub request_hash: String,
    pub status: Option<i32>,
    pub content_type: Option<String>,
    pub body: Option<String>,
}

/// How long a stored answer is replayed (and kept).
pub fn retention() -> chrono::Duration {
    chrono::Duration::hours(24)
}

impl Platform<'_> {
    pub fn idempotent_answer(&mut self, scope: &str, key: &str) -> QueryResult<Option<StoredAnswer>> {
        ik::table.find((scope, key)).select(StoredAnswer::as_select()).first(self.conn()).optional()
    }

    /// Claims a key for a first request; false if someone else holds it.
    pub fn claim_idempotency_key(
        &mut self,
        scope: &str,
        key: &str,
        request_hash: &str,
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        let inserted = crate::each_backend!(self.conn(), c => diesel::insert_into(ik::table)
            .values((
                ik::scope.eq(scope),
                ik::idem_key.eq(key),
                ik::request_hash.eq(request_hash),
                ik::created_at.eq(now),
            ))
            .on_conflict_do_nothing()
            .execute(c))?;
        Ok(inserted == 1)
    }

    pub fn complete_idempotency_key(
        &mut self,
        scope: &str,
        key: &str,
        status: i32,
        content_type: Option<&str>,
        body: &str,
    ) -> QueryResult<()> {
        diesel::update(ik::table.find((scope, key)))
            .set((ik::status.eq(Some(status)), ik::content_type.eq(content_type), ik::body.eq(Some(body))))
            .execute(self.conn())?;
        Ok(())
    }

    /// Lets the key be used again (the first attempt failed on the server's side).
    pub fn release_idempotency_key(&mut self, scope: &str, key: &str) -> QueryResult<()> {
        diesel::delete(ik::table.find((scope, key))).execute(self.conn())?;
        Ok(())
    }

    /// Forgets answers older than `before` (the purge job).
    pub fn expire_idempotency_keys(&mut self, before: NaiveDateTime) -> QueryResult<usize> {
        diesel::delete(ik::table.filter(ik::created_at.lt(before))).execute(self.conn())
    }
}
