//! Every column sealed with the keyring, in one list, and the queries key rotation and the
//! start-up key check need: which key ids are in use (with one sample each), a batch of
//! values sealed under any key but the active one, and a compare-and-set re-seal.
//!
//! A new sealed column is added to [`SealedColumn`] and [`SealedColumn::ALL`]; the
//! associated data of each is decided by the module that seals it (its `context`).

use diesel::prelude::*;

use super::schema::{inapp_apps, platform_secrets, staff_members, users};
use super::Platform;
use crate::security::crypto::{self, Sealed};

/// A column holding sealed values, with the key id beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedColumn {
    /// `users.totp_secret` (`totp_key_id`), context `totp:{user id}`.
    UserTotp,
    /// `staff_members.totp_secret` (`totp_key_id`), context `staff-totp:{staff id}`.
    StaffTotp,
    /// `platform_secrets.secret` (`key_id`), context `platform-secret:{name}` (the key of
    /// the suppression hashes).
    PlatformSecret,
    /// `inapp_apps.secret` (`key_id`), context `inapp-secret:{app id}` (a portal's
    /// in-app identity secret, the HMAC key of its end users' `user_hash`).
    InappSecret,
}

impl SealedColumn {
    pub const ALL: [SealedColumn; 4] =
        [SealedColumn::UserTotp, SealedColumn::StaffTotp, SealedColumn::PlatformSecret, SealedColumn::InappSecret];

    /// The table, as reports name it.
    pub fn table(self) -> &'static str {
        match self {
            Self::UserTotp => "users",
            Self::StaffTotp => "staff_members",
            Self::PlatformSecret => "platform_secrets",
            Self::InappSecret => "inapp_apps",
        }
    }

    pub fn column(self) -> &'static str {
        match self {
            Self::UserTotp | Self::StaffTotp => "totp_secret",
            Self::PlatformSecret | Self::InappSecret => "secret",
        }
    }

    /// The associated data a row's value is bound to (as the sealing module wrote it).
    pub fn context(self, id: &str) -> String {
        match self {
            Self::UserTotp => crypto::user_totp_context(id),
            Self::StaffTotp => crypto::staff_totp_context(id),
            Self::PlatformSecret => crypto::platform_secret_context(id),
            Self::InappSecret => crypto::inapp_secret_context(id),
        }
    }
}

/// One sealed value: the row id and what is stored.
#[derive(Debug, Clone)]
pub struct SealedValue {
    pub id: String,
    pub sealed: Sealed,
}

/// One key id in use in a column: how many values, and one of them.
#[derive(Debug, Clone)]
pub struct KeyUse {
    pub column: SealedColumn,
    pub key_id: String,
    pub count: i64,
    pub sample: SealedValue,
}

fn values(rows: Vec<(String, Option<String>, Option<String>)>) -> Vec<SealedValue> {
    rows.into_iter()
        .filter_map(|(id, key_id, blob)| Some(SealedValue { id, sealed: Sealed { key_id: key_id?, blob: blob? } }))
        .collect()
}

impl Platform<'_> {
    /// Every key id in use in `column`, with a count and a sample value.
    pub fn sealed_key_use(&mut self, column: SealedColumn) -> QueryResult<Vec<KeyUse>> {
        let counts: Vec<(Option<String>, i64)> = match column {
            SealedColumn::UserTotp => users::table
                .filter(users::totp_secret.is_not_null())
                .group_by(users::totp_key_id)
                .select((users::totp_key_id, diesel::dsl::count_star()))
                .load(self.conn())?,
            SealedColumn::StaffTotp => staff_members::table
                .filter(staff_members::totp_secret.is_not_null())
                .group_by(staff_members::totp_key_id)
                .select((staff_members::totp_key_id, diesel::dsl::count_star()))
                .load(self.conn())?,
            SealedColumn::PlatformSecret => platform_secrets::table
                .group_by(platform_secrets::key_id)
                .select((platform_secrets::key_id.nullable(), diesel::dsl::count_star()))
                .load(self.conn())?,
            SealedColumn::InappSecret => inapp_apps::table
                .filter(inapp_apps::secret.is_not_null())
                .group_by(inapp_apps::key_id)
                .select((inapp_apps::key_id, diesel::dsl::count_star()))
                .load(self.conn())?,
        };
        let mut out = Vec::new();
        for (key_id, count) in counts {
            let Some(key_id) = key_id else { continue };
            let sample = match column {
                SealedColumn::UserTotp => users::table
                    .filter(users::totp_key_id.eq(&key_id))
                    .filter(users::totp_secret.is_not_null())
                    .select((users::id, users::totp_key_id, users::totp_secret))
                    .first(self.conn())
                    .optional()?,
                SealedColumn::StaffTotp => staff_members::table
                    .filter(staff_members::totp_key_id.eq(&key_id))
                    .filter(staff_members::totp_secret.is_not_null())
                    .select((staff_members::id, staff_members::totp_key_id, staff_members::totp_secret))
                    .first(self.conn())
                    .optional()?,
                SealedColumn::PlatformSecret => platform_secrets::table
                    .filter(platform_secrets::key_id.eq(&key_id))
                    .select((
                        platform_secrets::name,
                        platform_secrets::key_id.nullable(),
                        platform_secrets::secret.nullable(),
                    ))
                    .first(self.conn())
                    .optional()?,
                SealedColumn::InappSecret => inapp_apps::table
                    .filter(inapp_apps::key_id.eq(&key_id))
                    .filter(inapp_apps::secret.is_not_null())
                    .select((inapp_apps::app_id, inapp_apps::key_id, inapp_apps::secret))
                    .first(self.conn())
                    .optional()?,
            };
            if let Some(sample) = values(sample.into_iter().collect()).pop() {
                out.push(KeyUse { column, key_id, count, sample });
            }
        }
        Ok(out)
    }

    /// Up to `limit` values of `column` sealed under a key other than `active`, by id.
    pub fn sealed_not_under(
        &mut self,
        column: SealedColumn,
        active: &str,
        limit: i64,
    ) -> QueryResult<Vec<SealedValue>> {
        let rows = match column {
            SealedColumn::UserTotp => users::table
                .filter(users::totp_secret.is_not_null())
                .filter(users::totp_key_id.ne(active))
                .order(users::id.asc())
                .limit(limit)
                .select((users::id, users::totp_key_id, users::totp_secret))
                .load(self.conn())?,
            SealedColumn::StaffTotp => staff_members::table
                .filter(staff_members::totp_secret.is_not_null())
                .filter(staff_members::totp_key_id.ne(active))
                .order(staff_members::id.asc())
                .limit(limit)
                .select((staff_members::id, staff_members::totp_key_id, staff_members::totp_secret))
                .load(self.conn())?,
            SealedColumn::PlatformSecret => platform_secrets::table
                .filter(platform_secrets::key_id.ne(active))
                .order(platform_secrets::name.asc())
                .limit(limit)
                .select((
                    platform_secrets::name,
                    platform_secrets::key_id.nullable(),
                    platform_secrets::secret.nullable(),
                ))
                .load(self.conn())?,
            SealedColumn::InappSecret => inapp_apps::table
                .filter(inapp_apps::secret.is_not_null())
                .filter(inapp_apps::key_id.ne(active))
                .order(inapp_apps::app_id.asc())
                .limit(limit)
                .select((inapp_apps::app_id, inapp_apps::key_id, inapp_apps::secret))
                .load(self.conn())?,
        };
        Ok(values(rows))
    }

    /// Replaces `old` by `new` in row `id` if the row still holds `old` (a secret changed
    /// meanwhile, by a re-enrolment, is left alone). Returns whether it was replaced.
    pub fn reseal(&mut self, column: SealedColumn, id: &str, old: &Sealed, new: &Sealed) -> QueryResult<bool> {
        let n = match column {
            SealedColumn::UserTotp => diesel::update(
                users::table
                    .find(id)
                    .filter(users::totp_key_id.eq(&old.key_id))
                    .filter(users::totp_secret.eq(&old.blob)),
            )
            .set((users::totp_key_id.eq(&new.key_id), users::totp_secret.eq(&new.blob)))
            .execute(self.conn())?,
            SealedColumn::StaffTotp => diesel::update(
                staff_members::table
                    .find(id)
                    .filter(staff_members::totp_key_id.eq(&old.key_id))
                    .filter(staff_members::totp_secret.eq(&old.blob)),
            )
            .set((staff_members::totp_key_id.eq(&new.key_id), staff_members::totp_secret.eq(&new.blob)))
            .execute(self.conn())?,
            SealedColumn::PlatformSecret => diesel::update(
                platform_secrets::table
                    .find(id)
                    .filter(platform_secrets::key_id.eq(&old.key_id))
                    .filter(platform_secrets::secret.eq(&old.blob)),
            )
            .set((platform_secrets::key_id.eq(&new.key_id), platform_secrets::secret.eq(&new.blob)))
            .execute(self.conn())?,
            SealedColumn::InappSecret => diesel::update(
                inapp_apps::table
                    .find(id)
                    .filter(inapp_apps::key_id.eq(&old.key_id))
                    .filter(inapp_apps::secret.eq(&old.blob)),
            )
            .set((inapp_apps::key_id.eq(&new.key_id), inapp_apps::secret.eq(&new.blob)))
            .execute(self.conn())?,
        };
        Ok(n == 1)
    }
}

/// Key use across every sealed column, read on a connection of its own (start-up runs
/// before the pool serves).
pub fn key_use(url: &crate::config::DatabaseUrl) -> anyhow::Result<Vec<KeyUse>> {
    let mut conn = super::ConnectionFactory::new(url.clone())
        .open()
        .map_err(|e| anyhow::anyhow!("cannot connect to {url}: {e}"))?;
    let mut p = Platform::new(&mut conn);
    let mut out = Vec::new();
    for column in SealedColumn::ALL {
        out.extend(p.sealed_key_use(column)?);
    }
    Ok(out)
}
