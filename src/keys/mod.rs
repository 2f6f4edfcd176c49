//! Keys for data at rest: the start-up check that every sealed value can be opened with
//! the configured keys, and `organizeo keys rotate`, which re-seals every value under the
//! active key so older keys can be dropped.
//!
//! Rotation works in batches, one write transaction each, and picks only values sealed
//! under another key than the active one: an interrupted run is resumed by running it
//! again, and a finished one finds nothing to do. Each value is replaced by a
//! compare-and-set on its old ciphertext, so a secret re-enrolled meanwhile is not
//! overwritten. This module must never print or log a secret or a key.

use crate::config::{ConfigError, DatabaseUrl};
use crate::db::sealed::{self, SealedColumn};
use crate::db::Db;
use crate::error::AppError;
use crate::security::crypto::Keyring;

/// Checks, before anything is served, that every key id the database uses is in the
/// keyring and opens a sample value: a wrong or missing key is a configuration error
/// (exit 2) naming the setting, not a failure at someone's first sign-in.
/// `active_setting` names where the active key came from.
pub fn check(url: &DatabaseUrl, keyring: &Keyring, active_setting: &str) -> Result<(), ConfigError> {
    let uses = sealed::key_use(url).map_err(|e| ConfigError::new("ORGANIZEO_DATABASE_URL", format!("{e:#}")))?;
    for u in uses {
        let place = format!("{} value(s) in {}.{}", u.count, u.column.table(), u.column.column());
        if !keyring.has_key(&u.key_id) {
            return Err(ConfigError::new(
                "ORGANIZEO_ENCRYPTION_OLD_KEYS",
                format!(
                    "{place} are sealed with key {}, which is neither the active key ({active_setting}) nor in ORGANIZEO_ENCRYPTION_OLD_KEYS",
                    u.key_id
                ),
            ));
        }
        if keyring.decrypt(&u.sample.sealed, u.column.context(&u.sample.id).as_bytes()).is_err() {
            let setting =
                if u.key_id == keyring.active_id() { active_setting } else { "ORGANIZEO_ENCRYPTION_OLD_KEYS" };
            return Err(ConfigError::new(
                setting,
                format!("key {} does not open the {place} sealed with it: wrong key material", u.key_id),
            ));
        }
    }
    Ok(())
}

/// What rotation did in one column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnReport {
    pub table: &'static str,
    pub column: &'static str,
    /// Values re-sealed under the active key.
    pub resealed: u64,
    /// Values that changed while being re-sealed (left as the newer write made them).
    pub changed: u64,
    /// Values still under another key (when the run was stopped after `max_batches`).
    pub remaining: u64,
}

/// Re-seals every sealed value under the active key, `batch` values per transaction,
/// calling `progress` after each batch. With `max_batches`, stops after that many (the
/// next run resumes). Fails on a value the keyring cannot open, naming its row.
pub async fn rotate(
    db: &Db,
    keyring: &Keyring,
    batch: usize,
    max_batches: Option<usize>,
    mut progress: impl FnMut(&ColumnReport),
) -> Result<Vec<ColumnReport>, AppError> {
    let mut reports = Vec::new();
    let mut batches = 0usize;
    let limit = i64::try_from(batch.max(1)).unwrap_or(i64::MAX);
    for column in SealedColumn::ALL {
        let mut report = ColumnReport { table: column.table(), column: column.column(), ..Default::default() };
        loop {
            if max_batches.is_some_and(|m| batches >= m) {
                let ring = keyring.clone();
                report.remaining =
                    db.read(move |p| Ok(p.sealed_not_under(column, ring.active_id(), i64::MAX)?.len() as u64)).await?;
                break;
            }
            let ring = keyring.clone();
            let (resealed, changed, seen) = db
                .write(move |tx| {
                    let mut p = tx.platform();
                    let found = p.sealed_not_under(column, ring.active_id(), limit)?;
                    let (mut resealed, mut changed) = (0u64, 0u64);
                    for v in &found {
                        let context = column.context(&v.id);
                        let plain = ring.decrypt(&v.sealed, context.as_bytes()).map_err(|e| {
                            AppError::internal(anyhow::anyhow!(
                                "{}.{} of row {} (key {}) cannot be opened: {e}",
                                column.table(),
                                column.column(),
                                v.id,
                                v.sealed.key_id
                            ))
                        })?;
                        let fresh = ring.encrypt(&plain, context.as_bytes())?;
                        if p.reseal(column, &v.id, &v.sealed, &fresh)? {
                            resealed += 1;
                        } else {
                            changed += 1;
                        }
                    }
                    Ok((resealed, changed, found.len()))
                })
                .await?;
            batches += 1;
            report.resealed += resealed;
            report.changed += changed;
            if seen > 0 {
                progress(&report);
            }
            if seen < batch.max(1) {
                break;
            }
        }
        reports.push(report);
    }
    Ok(reports)
}
