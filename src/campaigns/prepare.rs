//! What a campaign's actor loads once, before its first step: the campaign, its run's
//! frozen content parsed into templates, the sender, the portal's pace and the key that
//! recognises erased people's addresses.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::deliver::Composer;
use super::message::Sender;
use super::send::Content;
use super::Engine;
use crate::db::campaigns::CampaignRow;
use crate::domain::TenantId;
use crate::email::template::Prepared;
use crate::error::AppError;

pub(super) struct Loaded {
    pub(super) campaign: CampaignRow,
    pub(super) composer: Arc<Composer>,
    pub(super) materialised: bool,
    pub(super) rate: i32,
    pub(super) erased_key: Option<Vec<u8>>,
}

pub(super) async fn load(
    e: &Engine,
    tenant: &TenantId,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Loaded>, AppError> {
    let key = super::link_key(&e.db, &e.keyring, now).await?;
    let erased_key = match e.db.read(|p| Ok(p.platform_secret(crate::erasure::suppression::SECRET_NAME)?)).await? {
        Some(stored) => Some(
            e.keyring
                .decrypt(
                    &stored,
                    crate::security::crypto::platform_secret_context(crate::erasure::suppression::SECRET_NAME)
                        .as_bytes(),
                )
                .map_err(AppError::internal)?,
        ),
        None => None,
    };
    let cid = id.to_string();
    let found =
        e.db.tenant(tenant.clone())
            .read(move |t| {
                let (Some(campaign), Some(run)) = (t.campaign(&cid)?, t.run(&cid)?) else { return Ok(None) };
                let settings = t.email_settings()?;
                let tenant_name = t.tenant()?.name;
                let mut values = BTreeMap::new();
                let mut after: Option<String> = None;
                loop {
                    let page = t.custom_values(false, after.as_deref(), 500)?;
                    let last = page.last().map(|v| v.id.clone());
                    for v in &page {
                        values.insert(v.value_key.clone(), v.value.clone());
                    }
                    if page.len() < 500 {
                        break;
                    }
                    after = last;
                }
                Ok(Some((campaign, run, settings, tenant_name, values)))
            })
            .await?;
    let Some((campaign, run, settings, tenant_name, custom_values)) = found else { return Ok(None) };
    let content: Content =
        serde_json::from_str(&run.content).map_err(|e| AppError::internal(anyhow::anyhow!("frozen content: {e}")))?;
    let sender = Sender {
        tenant_id: tenant.to_string(),
        campaign_id: campaign.id.clone(),
        from_name: campaign.from_name.clone(),
        from_email: campaign.from_email.clone().unwrap_or_default(),
        reply_to: campaign.reply_to.clone(),
        public_url: e.public_url.clone(),
        tracking: run.tracking,
        key,
    };
    // A template that no longer parses fails every message as it is rendered (and the
    // campaign after ten in a row); none is mailed half-merged.
    let templates =
        Prepared::new(&content.subject, &content.preheader, &content.html, &content.text, &custom_values, &tenant_name)
            .or_else(|why| Prepared::new("", "", "", "", &custom_values, &tenant_name).map(|p| p.failing(why)))
            .map_err(|e| AppError::internal(anyhow::anyhow!("empty templates: {e}")))?;
    Ok(Some(Loaded {
        campaign,
        composer: Arc::new(Composer { sender, templates }),
        materialised: run.materialised,
        rate: settings.sending_rate_per_second.max(1),
        erased_key,
    }))
}
