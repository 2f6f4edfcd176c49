//! Second factor storage: the sealed TOTP secret and replay guard on `users`, recovery
//! codes (platform tables: a person's 2FA serves every portal they belong to), and
//! sign-in challenges (tenant-owned: a challenge is for one portal; finding one by its
//! token is `db::system`'s). Every "use once" rule is a single conditional UPDATE, so two concurrent
//! requests can never both succeed.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{mfa_challenges, recovery_codes, users};
use super::{DbConnection, Platform, TenantDb};
use crate::domain::UserId;
use crate::security::crypto::Sealed;

/// A person's TOTP columns.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
struct TotpColumns {
    totp_secret: Option<String>,
    totp_key_id: Option<String>,
    totp_enabled_at: Option<NaiveDateTime>,
    totp_last_step: Option<i64>,
}

/// A stored TOTP secret: sealed, whether enrolment is confirmed, the last step used.
#[derive(Debug, Clone)]
pub struct StoredTotp {
    pub sealed: Sealed,
    pub enabled: bool,
    pub last_step: Option<i64>,
}

fn replace_recovery_codes(
    conn: &mut DbConnection,
    user: &UserId,
    hashes: &[String],
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user.as_str()))).execute(conn)?;
    for hash in hashes {
        diesel::insert_into(recovery_codes::table)
            .values((
                recovery_codes::id.eq(uuid::Uuid::now_v7().to_string()),
                recovery_codes::user_id.eq(user.as_str()),
                recovery_codes::code_hash.eq(hash),
                recovery_codes::created_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = mfa_challenges, treat_none_as_default_value = false)]
pub struct ChallengeRow {
    pub id: String,
    pub token_hash: String,
    pub tenant_id: String,
    pub user_id: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub attempts: i32,
    pub used_at: Option<NaiveDateTime>,
    /// An invitation the sign-in accepts once the second factor is proven.
    pub invitation_id: Option<String>,
}

impl TenantDb<'_> {
    pub fn create_challenge(
        &mut self,
        user: &UserId,
        token_hash: String,
        invitation: Option<&str>,
        now: NaiveDateTime,
        expires_at: NaiveDateTime,
    ) -> QueryResult<()> {
        let (conn, tid) = self.parts();
        diesel::insert_into(mfa_challenges::table)
            .values(&ChallengeRow {
                id: uuid::Uuid::now_v7().to_string(),
                token_hash,
                tenant_id: tid.to_string(),
                user_id: user.to_string(),
                created_at: now,
                expires_at,
                attempts: 0,
                used_at: None,
                invitation_id: invitation.map(str::to_string),
            })
            .execute(conn)?;
        Ok(())
    }

    /// Takes one of the challenge's `max` attempts before a code is checked, atomically
    /// (one conditional UPDATE): false when the challenge is used, expired or out of
    /// attempts, so parallel codes on one challenge are never more than `max`.
    pub fn reserve_challenge_attempt(&mut self, id: &str, max: i32, now: NaiveDateTime) -> QueryResult<bool> {
        let (conn, tid) = self.parts();
        let n = diesel::update(
            mfa_challenges::table
                .filter(mfa_challenges::tenant_id.eq(tid))
                .filter(mfa_challenges::id.eq(id))
                .filter(mfa_challenges::used_at.is_null())
                .filter(mfa_challenges::expires_at.gt(now))
                .filter(mfa_challenges::attempts.lt(max)),
        )
        .set(mfa_challenges::attempts.eq(mfa_challenges::attempts + 1))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Marks the challenge used; false if it already was (so it yields one session at most).
    pub fn consume_challenge(&mut self, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
        let (conn, tid) = self.parts();
        let n = diesel::update(
            mfa_challenges::table
                .filter(mfa_challenges::tenant_id.eq(tid))
                .filter(mfa_challenges::id.eq(id))
                .filter(mfa_challenges::used_at.is_null()),
        )
        .set(mfa_challenges::used_at.eq(Some(now)))
        .execute(conn)?;
        Ok(n == 1)
    }
}

impl Platform<'_> {
    /// Stores a new, not yet confirmed secret (replacing any pending one).
    pub fn set_pending_secret(&mut self, user: &UserId, sealed: &Sealed, now: NaiveDateTime) -> QueryResult<()> {
        diesel::update(users::table.find(user.as_str()).filter(users::totp_enabled_at.is_null()))
            .set((
                users::totp_secret.eq(Some(&sealed.blob)),
                users::totp_key_id.eq(Some(&sealed.key_id)),
                users::totp_last_step.eq(None::<i64>),
                users::updated_at.eq(now),
            ))
            .execute(self.conn())?;
        Ok(())
    }

    /// The person's TOTP secret, pending or confirmed; `None` when there is none.
    pub fn totp_secret(&mut self, user: &UserId) -> QueryResult<Option<StoredTotp>> {
        let row: Option<TotpColumns> =
            users::table.find(user.as_str()).select(TotpColumns::as_select()).first(self.conn()).optional()?;
        Ok(row.and_then(|r| {
            Some(StoredTotp {
                sealed: Sealed { key_id: r.totp_key_id?, blob: r.totp_secret? },
                enabled: r.totp_enabled_at.is_some(),
                last_step: r.totp_last_step,
            })
        }))
    }

    /// Confirms enrolment: marks 2FA on, records the step used, replaces recovery codes.
    pub fn enable_totp(
        &mut self,
        user: &UserId,
        step: i64,
        code_hashes: &[String],
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        let n = diesel::update(
            users::table
                .find(user.as_str())
                .filter(users::totp_enabled_at.is_null())
                .filter(users::totp_secret.is_not_null()),
        )
        .set((users::totp_enabled_at.eq(Some(now)), users::totp_last_step.eq(Some(step)), users::updated_at.eq(now)))
        .execute(self.conn())?;
        if n == 0 {
            return Ok(false);
        }
        replace_recovery_codes(self.conn(), user, code_hashes, now)?;
        Ok(true)
    }

    /// Turns 2FA off and forgets the secret and the recovery codes.
    pub fn disable_totp(&mut self, user: &UserId, now: NaiveDateTime) -> QueryResult<()> {
        diesel::update(users::table.find(user.as_str()))
            .set((
                users::totp_secret.eq(None::<String>),
                users::totp_key_id.eq(None::<String>),
                users::totp_enabled_at.eq(None::<NaiveDateTime>),
                users::totp_last_step.eq(None::<i64>),
                users::updated_at.eq(now),
            ))
            .execute(self.conn())?;
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user.as_str()))).execute(self.conn())?;
        Ok(())
    }

    /// Accepts `step` only if it is newer than the last one used (atomic replay guard).
    pub fn claim_totp_step(&mut self, user: &UserId, step: i64) -> QueryResult<bool> {
        let n = diesel::update(
            users::table.find(user.as_str()).filter(users::totp_last_step.is_null().or(users::totp_last_step.lt(step))),
        )
        .set(users::totp_last_step.eq(Some(step)))
        .execute(self.conn())?;
        Ok(n == 1)
    }

    /// Spends a recovery code; false if unknown or already used.
    pub fn use_recovery_code(&mut self, user: &UserId, hash: &str, now: NaiveDateTime) -> QueryResult<bool> {
        let n = diesel::update(
            recovery_codes::table
                .filter(recovery_codes::user_id.eq(user.as_str()))
                .filter(recovery_codes::code_hash.eq(hash))
                .filter(recovery_codes::used_at.is_null()),
        )
        .set(recovery_codes::used_at.eq(Some(now)))
        .execute(self.conn())?;
        Ok(n == 1)
    }

    pub fn remaining_recovery_codes(&mut self, user: &UserId) -> QueryResult<i64> {
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user.as_str()))
            .filter(recovery_codes::used_at.is_null())
            .count()
            .get_result(self.conn())
    }
}
