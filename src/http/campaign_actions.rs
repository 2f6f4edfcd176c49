//! What moves a campaign: send (now or at `send_at`), pause, resume, cancel — each one
//! conditional status change checked against the machine in `crate::campaigns`, audited
//! and announced on the `campaigns` topic — plus the preview as a contact and test sends
//! (not counted, not tracked). Sending, pausing, resuming, cancelling and test sends need
//! the owner or admin role, or a key with `campaigns:write`.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::campaigns::{view, Campaign};
use super::extract::Json;
use super::principal::{Access, Principal};
use super::AppState;
use crate::campaigns::send::Content;
use crate::campaigns::{announce_status, next, Action};
use crate::crm::objects::Object;
use crate::db::campaigns::RunRow;
use crate::email::smtp::SendError;
use crate::email::template::{self, MergeData, Rendered};
use crate::error::{AppError, FieldError};

fn campaign_id(raw: &str) -> Result<String, AppError> {
    uuid::Uuid::parse_str(raw).map(|_| raw.to_string()).map_err(|_| AppError::not_found("campaign"))
}

fn illegal(action: Action, status: &str) -> AppError {
    AppError::Conflict { code: "campaign_status", detail: format!("a {status} campaign cannot {}", action.name()) }
}

fn no_smtp() -> AppError {
    AppError::Conflict {
        code: "smtp_not_configured",
        detail: "this server has no SMTP relay: set ORGANIZEO_SMTP_URL to send".into(),
    }
}

/// Moves a campaign by `action` (the API's routes and the web app's buttons).
pub async fn act(state: &AppState, p: &Principal, raw: &str, action: Action) -> Result<Campaign, AppError> {
    p.manager_or_scope(state, "campaigns", Access::Write).await?;
    let id = campaign_id(raw)?;
    if action == Action::Send && state.campaigns.smtp.is_none() {
        return Err(no_smtp());
    }
    let now = state.clock.now();
    let entry = p.entry(match action {
        Action::Send => "campaign.sent",
        Action::Pause => "campaign.paused",
        Action::Resume => "campaign.resumed",
        Action::Cancel => "campaign.cancelled",
    });
    let answer = state
        .db
        .tenant(p.tenant_id.clone())
        .write(move |t| {
            let row = t.campaign(&id)?.ok_or_else(|| AppError::not_found("campaign"))?;
            let scheduled = row.send_at.is_some_and(|at| at > now.naive_utc());
            let to = next(&row.status, action, scheduled).ok_or_else(|| illegal(action, &row.status))?;
            if action == Action::Send {
                let content = ready_to_send(t, &row)?;
                let settings = t.email_settings()?;
                t.insert_run(&RunRow {
                    campaign_id: row.id.clone(),
                    tenant_id: row.tenant_id.clone(),
                    content: serde_json::to_string(&content).map_err(|e| AppError::internal(anyhow::anyhow!(e)))?,
                    tracking: settings.tracking,
                    materialised: false,
                    audience_after: None,
                    skipped_no_email: 0,
                    duplicates: 0,
                    lease_owner: None,
                    lease_until: None,
                    error: None,
                    updated_at: now.naive_utc(),
                })?;
            }
            if !t.set_status_if(&id, action.from(), to, now.naive_utc())? {
                return Err(illegal(action, "changed"));
            }
            if matches!(action, Action::Pause | Action::Resume | Action::Cancel) {
                // Any node may pick a resumed campaign up; a paused or cancelled one's
                // actor sees the status at its next step and stops.
                t.release_run(&id)?;
            }
            let stats = t.campaign_stats(&id)?;
            t.audit(
                entry.target("campaign", &id).details(json!({"name": row.name, "from": row.status, "to": to})),
                now,
            )?;
            announce_status(t, &row, &row.status, to, &stats, now);
            let row = t.campaign(&id)?.ok_or_else(|| AppError::not_found("campaign"))?;
            view(t, row)
        })
        .await?;
    if matches!(action, Action::Send | Action::Resume) {
        // Committed: this node's runner picks it up now rather than at its next tick.
        state.campaigns.wake.notify_one();
    }
    Ok(answer)
}

/// Checks a draft can be sent and freezes its email's content.
fn ready_to_send(
    t: &mut crate::db::TenantTx<'_>,
    row: &crate::db::campaigns::CampaignRow,
) -> Result<Content, AppError> {
    let mut errors = Vec::new();
    let content = match &row.email_id {
        None => {
            errors.push(FieldError::new("email_id", "is required to send"));
            None
        }
        Some(e) => {
            let c = t.email_content(e)?;
            if c.is_none() {
                errors.push(FieldError::new("email_id", "the email no longer exists"));
            }
            c
        }
    };
    match &row.segment_id {
        None => errors.push(FieldError::new("segment_id", "is required to send")),
        Some(s) => match t.segment_filter_groups(s)? {
            None => errors.push(FieldError::new("segment_id", "the segment no longer exists")),
            Some(groups) => {
                if !segment_has_members(t, &groups)? {
                    errors.push(FieldError::new("segment_id", "the segment matches no contact"));
                }
            }
        },
    }
    if row.from_email.is_none() {
        errors.push(FieldError::new("from_email", "is required to send"));
    }
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let content = content.ok_or_else(|| AppError::validation("email_id", "is required to send"))?;
    // A trial render (a contact with no fields): an unknown filter or a runaway loop is
    // refused here, not discovered on every recipient.
    let trial = MergeData {
        contact: json!({"custom_fields": {}}),
        custom_values: std::collections::BTreeMap::new(),
        tenant_name: String::new(),
        unsubscribe_url: "https://example.invalid/u/preview".into(),
    };
    template::render(&content.subject, &content.preheader, &content.html, &content.text, &trial)
        .map_err(|why| AppError::validation("email_id", format!("the email cannot be rendered: {why}")))?;
    Ok(content)
}

fn segment_has_members(t: &mut crate::db::TenantDb<'_>, groups: &str) -> Result<bool, AppError> {
    let groups: Vec<crate::crm::search::FilterGroupInput> = serde_json::from_str(groups)
        .map_err(|_| AppError::validation("segment_id", "the segment's filter is not readable"))?;
    let defs = t.custom_fields(Some(Object::Contact))?;
    let search = crate::crm::search::parse(Object::Contact, &groups, &defs).map_err(|_| {
        AppError::validation(
            "segment_id",
            "the segment's filter is no longer valid (a custom field it names was deleted?)",
        )
    })?;
    let spec = crate::crm::query::ListSpec {
        object: Object::Contact,
        order: crate::crm::query::Order::Created { desc: false },
        after: None,
        q: None,
        tag: None,
        limit: 1,
        trashed: false,
        search: Some(search),
    };
    Ok(!t.list_records(&spec)?.is_empty())
}

macro_rules! action_route {
    ($name:ident, $path:literal, $action:expr, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "campaigns", security(("bearer" = [])),
            params(("id" = String, Path, description = "Campaign id")),
            responses((status = 202, description = "Accepted: the campaign in its new status", body = Campaign),
                (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
                (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
                (status = 409, description = "Not allowed from the campaign's status (`campaign_status`), or no SMTP relay (`smtp_not_configured`)", body = crate::error::Problem, content_type = "application/problem+json"),
                (status = 422, description = "Not ready to send (no email, segment or sender; an empty segment)", body = crate::error::Problem, content_type = "application/problem+json")))]
        pub async fn $name(state: web::Data<AppState>, p: Principal, id: web::Path<String>) -> Result<HttpResponse, AppError> {
            let out = act(&state, &p, &id, $action).await?;
            Ok(HttpResponse::Accepted().json(out))
        }
    };
}

action_route!(
    send,
    "/api/v1/campaigns/{id}/send",
    Action::Send,
    "Sends the campaign: `scheduled` when its `send_at` is in the future, else `sending` at once."
);
action_route!(
    pause,
    "/api/v1/campaigns/{id}/pause",
    Action::Pause,
    "Pauses a sending campaign (messages in flight finish)."
);
action_route!(resume, "/api/v1/campaigns/{id}/resume", Action::Resume, "Resumes a paused campaign.");
action_route!(
    cancel,
    "/api/v1/campaigns/{id}/cancel",
    Action::Cancel,
    "Cancels a scheduled, sending or paused campaign; recipients not yet mailed stay queued and are never mailed."
);

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// The contact to render the email for.
    pub contact_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    pub subject: String,
    pub preheader: String,
    /// The HTML as the contact receives it (merged values escaped; links not rewritten).
    pub html: String,
    pub text: String,
}

/// The campaign's content and merge data, read in one transaction.
fn merge_for(
    t: &mut crate::db::TenantDb<'_>,
    campaign_id: &str,
    contact_id: Option<&str>,
) -> Result<(Content, MergeData), AppError> {
    let row = t.campaign(campaign_id)?.ok_or_else(|| AppError::not_found("campaign"))?;
    let content = match t.run(campaign_id)? {
        Some(run) => serde_json::from_str(&run.content).map_err(|e| AppError::internal(anyhow::anyhow!(e)))?,
        None => {
            let email = row
                .email_id
                .as_deref()
                .ok_or_else(|| AppError::validation("email_id", "the campaign has no email yet"))?;
            t.email_content(email)?.ok_or_else(|| AppError::validation("email_id", "the email no longer exists"))?
        }
    };
    Ok((content, merge_data(t, contact_id)?))
}

/// What a message is merged with: the contact (none: empty fields), the portal's custom
/// values and name.
fn merge_data(t: &mut crate::db::TenantDb<'_>, contact_id: Option<&str>) -> Result<MergeData, AppError> {
    let defs = t.custom_fields(Some(Object::Contact))?;
    let contact = match contact_id {
        Some(c) => {
            let id = crate::domain::RecordId::parse(c)
                .ok_or_else(|| AppError::validation("contact_id", "no such contact"))?;
            let rec = t
                .record(Object::Contact, &id, false)?
                .ok_or_else(|| AppError::validation("contact_id", "no such contact"))?;
            let tags = t.record_tag_names(&rec.id)?;
            crate::crm::records::view(Object::Contact, &rec, tags, &defs)
        }
        None => json!({"custom_fields": {}}),
    };
    let mut custom_values = std::collections::BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = t.custom_values(false, after.as_deref(), 500)?;
        for v in &page {
            custom_values.insert(v.value_key.clone(), v.value.clone());
        }
        if page.len() < 500 {
            break;
        }
        after = page.last().map(|v| v.id.clone());
    }
    let tenant_name = t.tenant()?.name;
    Ok(MergeData { contact, custom_values, tenant_name, unsubscribe_url: String::new() })
}

fn render(content: &Content, data: &MergeData) -> Result<Rendered, AppError> {
    template::render(&content.subject, &content.preheader, &content.html, &content.text, data)
        .map_err(|why| AppError::validation("email_id", format!("the email cannot be rendered: {why}")))
}

/// The campaign's email as one contact would receive it.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/preview", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path, description = "Campaign id"), PreviewQuery),
    responses((status = 200, body = Preview), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "No such contact, or no email", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn preview(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    q: web::Query<PreviewQuery>,
) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(preview_of(&state, &p, &id, q.into_inner().contact_id).await?))
}

/// The campaign's email as `contact` would receive it (the web app's preview too).
pub async fn preview_of(
    state: &AppState,
    p: &Principal,
    id: &str,
    contact: Option<String>,
) -> Result<Preview, AppError> {
    p.require(state, "campaigns", Access::Read).await?;
    // The preview shows a contact's data: a key needs contacts:read as well.
    p.require(state, "contacts", Access::Read).await?;
    let id = campaign_id(id)?;
    let contact = contact.ok_or_else(|| AppError::validation("contact_id", "is required"))?;
    let (content, data) = state.db.tenant(p.tenant_id.clone()).read(move |t| merge_for(t, &id, Some(&contact))).await?;
    previewed(state, &content, data)
}

/// A preview's parts: the content rendered with `data`, its unsubscribe link a page that
/// explains it is a preview.
fn previewed(state: &AppState, content: &Content, mut data: MergeData) -> Result<Preview, AppError> {
    data.unsubscribe_url = format!("{}/u/preview", state.campaigns.public_url);
    let r = render(content, &data)?;
    Ok(Preview { subject: r.subject, preheader: r.preheader, html: r.html, text: r.text })
}

/// An email (not yet in a campaign) as `contact` would receive it, merged and rendered as
/// a campaign's preview is: the web app's email page shows it before any campaign exists.
pub async fn preview_email(
    state: &AppState,
    p: &Principal,
    email_id: &str,
    contact: Option<String>,
) -> Result<Preview, AppError> {
    p.require(state, "campaigns", Access::Read).await?;
    p.require(state, "contacts", Access::Read).await?;
    let id = crate::domain::EmailId::parse(email_id).ok_or_else(|| AppError::not_found("email"))?;
    let contact = contact.ok_or_else(|| AppError::validation("contact_id", "is required"))?;
    let (content, data) = state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| {
            let content = t.email_content(id.as_str())?.ok_or_else(|| AppError::not_found("email"))?;
            Ok((content, merge_data(t, Some(&contact))?))
        })
        .await?;
    previewed(state, &content, data)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestSend {
    /// 1-10 addresses.
    pub to: Vec<String>,
    /// Merge this contact's fields (optional: empty fields otherwise).
    pub contact_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestAccepted {
    /// The addresses the test went to.
    pub to: Vec<String>,
    /// Per address: `sent` (the relay accepted it) or `failed` with the relay's answer.
    pub results: Vec<TestResult>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestResult {
    pub to: String,
    pub status: &'static str,
    pub error: Option<String>,
}

/// Sends the campaign's email to a few addresses, subject prefixed `[Test]`; not counted,
/// not tracked (the unsubscribe link leads to a page that explains). Answers once the
/// relay has answered for each address, with what it said.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/test", tag = "campaigns", security(("bearer" = [])),
    params(("id" = String, Path, description = "Campaign id")), request_body = TestSend,
    responses((status = 202, body = TestAccepted), (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "No SMTP relay configured", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn test(
    state: web::Data<AppState>,
    p: Principal,
    id: web::Path<String>,
    body: Json<serde_json::Value>,
) -> Result<HttpResponse, AppError> {
    p.manager_or_scope(&state, "campaigns", Access::Write).await?;
    // An id that cannot be one is a 404 before the body is read, as before the split.
    campaign_id(&id)?;
    let body: TestSend = super::extract::shape(body.0)?;
    Ok(HttpResponse::Accepted().json(test_send(&state, &p, &id, body).await?))
}

/// Sends a test of the campaign to `body.to`; answers with what the relay said for each
/// address (the web app's test form too).
pub async fn test_send(state: &AppState, p: &Principal, id: &str, body: TestSend) -> Result<TestAccepted, AppError> {
    p.manager_or_scope(state, "campaigns", Access::Write).await?;
    let id = campaign_id(id)?;
    if body.contact_id.is_some() {
        // A contact's data merged into a message to any address: a key needs contacts:read.
        p.require(state, "contacts", Access::Read).await?;
    }
    let mut errors = Vec::new();
    if body.to.is_empty() || body.to.len() > 10 {
        errors.push(FieldError::new("to", "must list 1 to 10 addresses"));
    }
    for (i, a) in body.to.iter().enumerate() {
        if crate::domain::EmailAddress::parse(a).is_err() || a.contains(['<', '>', ',', '"']) {
            errors.push(FieldError::new(format!("to[{i}]"), "must be an email address"));
        }
    }
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let engine = state.campaigns.clone();
    let Some(smtp) = engine.smtp.clone() else { return Err(no_smtp()) };
    let (cid, contact) = (id.clone(), body.contact_id.clone());
    let (content, data, row) = state
        .db
        .tenant(p.tenant_id.clone())
        .read(move |t| {
            let (content, data) = merge_for(t, &cid, contact.as_deref())?;
            let row = t.campaign(&cid)?.ok_or_else(|| AppError::not_found("campaign"))?;
            Ok((content, data, row))
        })
        .await?;
    let from_email =
        row.from_email.clone().ok_or_else(|| AppError::validation("from_email", "is required to send a test"))?;
    let rendered = render(&content, &data)?;
    let key = crate::campaigns::link_key(&state.db, &state.keyring, state.clock.now()).await?;
    let sender = crate::campaigns::message::Sender {
        tenant_id: p.tenant_id.to_string(),
        campaign_id: row.id.clone(),
        from_name: row.from_name.clone(),
        from_email,
        reply_to: row.reply_to.clone(),
        public_url: engine.public_url.clone(),
        tracking: false,
        key,
    };
    let mut built = Vec::new();
    for to in &body.to {
        let test_id = format!("test-{}", uuid::Uuid::new_v4().simple());
        let b = crate::campaigns::message::build(&sender, &test_id, to, rendered.clone(), &data.unsubscribe_url, true)
            .map_err(|why| AppError::validation("to", why))?;
        built.push(b);
    }
    let now = state.clock.now();
    let masked: Vec<String> = body.to.iter().map(|a| crate::campaigns::mask_address(a)).collect();
    let entry = p.entry("campaign.test_sent").target("campaign", &id).details(json!({"to": masked}));
    state.db.tenant(p.tenant_id.clone()).write(move |t| Ok(t.audit(entry, now)?)).await?;
    let mut results = Vec::with_capacity(built.len());
    for (to, b) in body.to.iter().zip(built) {
        let out = smtp.send(&b.envelope, &crate::email::smtp::Wire::new(b.bytes)).await;
        results.push(match out {
            Ok(()) => TestResult { to: to.clone(), status: "sent", error: None },
            Err(e) => TestResult {
                to: to.clone(),
                status: "failed",
                error: Some(match e {
                    SendError::Permanent(w)
                    | SendError::Transient(w)
                    | SendError::SenderRefused(w)
                    | SendError::MessageRefused(w) => w,
                    SendError::Unavailable(w) => format!("the SMTP server cannot be reached: {w}"),
                }),
            },
        });
    }
    Ok(TestAccepted { to: body.to, results })
}
