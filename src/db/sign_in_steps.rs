//! Spent sign-in steps: the digests of the web sign-in's portal-choice nonces that were
//! used, kept until the step would have expired (migration `000026`), so a sealed step is
//! good for one portal choice only.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::spent_sign_in_steps as spent;
use super::Platform;

impl Platform<'_> {
    /// Spends the step `digest` (valid until `expires_at`): `true` the first time, `false`
    /// when it was spent before. Steps past their expiry are forgotten on the way (they
    /// are refused by their expiry before they get here).
    pub fn spend_sign_in_step(
        &mut self,
        digest: &str,
        expires_at: NaiveDateTime,
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        diesel::delete(spent::table.filter(spent::expires_at.lt(now))).execute(self.conn())?;
        let row = (spent::digest.eq(digest), spent::expires_at.eq(expires_at));
        let inserted = crate::each_backend!(self.conn(), c => diesel::insert_into(spent::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c))?;
        Ok(inserted == 1)
    }

    /// Whether the step `digest` was spent (a read: the spending is [`Self::spend_sign_in_step`]'s).
    pub fn sign_in_step_spent(&mut self, digest: &str) -> QueryResult<bool> {
        use diesel::dsl::{exists, select};
        select(exists(spent::table.filter(spent::digest.eq(digest)))).get_result(self.conn())
    }
}
