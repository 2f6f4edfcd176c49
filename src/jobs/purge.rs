//! The purge: items in the trash past their `purge_at` are deleted for good, each record
//! and email with a `<object>.purged` event (an email with its revisions); expired idempotency answers, websocket tickets, second-factor
//! challenges, uploads cut off while staging and portal export archives past their
//! retention go too.

use crate::clock::Clock;
use crate::crm::objects::Object;
use crate::db::events::NewEvent;
use crate::db::{system, Db};
use crate::domain::{CustomFieldId, CustomValueId, RecordId, TagId, TenantId};
use crate::error::AppError;

/// At most this many items of each kind per pass, so one pass never holds a long
/// transaction.
pub const BATCH: i64 = 500;

/// What one pass deleted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Purged {
    pub records: usize,
    pub custom_fields: usize,
    pub tags: usize,
    pub custom_values: usize,
    /// Emails, with their revisions.
    pub emails: usize,
    pub idempotency_keys: usize,
    pub tickets: usize,
    /// Uploads cut off while staging (never acknowledged), with their staged rows.
    pub uploads: usize,
    /// Portal export archives past their retention, deleted.
    pub exports: usize,
    /// Second-factor challenges (people's and staff's) expired for a day.
    pub challenges: usize,
}

impl Purged {
    /// Trash items deleted (records, custom fields, tags, custom values, emails).
    pub fn items(&self) -> usize {
        self.records + self.custom_fields + self.tags + self.custom_values + self.emails
    }
}

/// One pass, in one transaction.
pub async fn step(db: &Db, clock: &Clock) -> Result<Purged, AppError> {
    let now = clock.now();
    let purged = db
        .write(move |tx| {
            let mut done = Purged::default();
            let due = system::enter(tx)?.due_for_purge(now.naive_utc(), BATCH)?;
            for (tenant, object, id) in due.records {
                let mut t = tx.tenant(&TenantId::from_db(tenant))?;
                if t.purge_record(&RecordId::from_db(id.clone()))? {
                    let object = Object::parse(&object).map(Object::name).unwrap_or("record");
                    t.append_event(
                        NewEvent {
                            event_type: format!("{object}.purged"),
                            object,
                            record_id: id.clone(),
                            actor_type: "system",
                            actor_id: None,
                            data: serde_json::json!({ "id": id }),
                            diff: None,
                        },
                        now,
                    );
                    done.records += 1;
                }
            }
            for (tenant, id) in due.custom_fields {
                done.custom_fields += usize::from(
                    tx.tenant(&TenantId::from_db(tenant))?.purge_custom_field(&CustomFieldId::from_db(id))?,
                );
            }
            for (tenant, id) in due.tags {
                done.tags += usize::from(tx.tenant(&TenantId::from_db(tenant))?.purge_tag(&TagId::from_db(id))?);
            }
            for (tenant, id) in due.custom_values {
                done.custom_values += usize::from(
                    tx.tenant(&TenantId::from_db(tenant))?.purge_custom_value(&CustomValueId::from_db(id))?,
                );
            }
            for (tenant, id) in due.emails {
                let mut t = tx.tenant(&TenantId::from_db(tenant))?;
                if t.purge_email(&id)? {
                    t.append_event(
                        NewEvent {
                            event_type: "email.purged".into(),
                            object: crate::content::EMAIL,
                            record_id: id.clone(),
                            actor_type: "system",
                            actor_id: None,
                            data: serde_json::json!({ "id": id }),
                            diff: None,
                        },
                        now,
                    );
                    done.emails += 1;
                }
            }
            done.idempotency_keys =
                tx.platform().expire_idempotency_keys((now - crate::db::idempotency::retention()).naive_utc())?;
            // Websocket tickets are worthless once expired (kept a minute for diagnosis).
            done.tickets =
                system::enter(tx)?.delete_expired_tickets((now - chrono::Duration::minutes(1)).naive_utc())?;
            // A challenge lives 5 minutes; kept a day after it expired for diagnosis.
            done.challenges =
                system::enter(tx)?.delete_expired_challenges((now - chrono::Duration::days(1)).naive_utc())?;
            // An upload stages within seconds; one still staging after an hour was cut off.
            done.uploads =
                system::enter(tx)?.delete_abandoned_uploads((now - chrono::Duration::hours(1)).naive_utc())?;
            let expired =
                system::enter(tx)?.expire_exports((now - crate::tenant_export::retention()).naive_utc(), BATCH)?;
            Ok((done, expired))
        })
        .await?;
    // The rows say expired once committed; the files go after (a file left by a failed
    // delete is harmless, its row no longer names it).
    let (mut done, expired) = purged;
    for file in expired {
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(error = %e, file, "cannot delete an expired export archive")
            }
            _ => done.exports += 1,
        }
    }
    Ok(done)
}
