//! The portal's settings in the browser: name, required 2FA, how platform staff may enter
//! (Portal JITA), campaign sending rate and open/click tracking. Everyone in the portal
//! reads them; owners and admins change them. The rules are the API's
//! (`http::tenant::{settings, change}`), so validation, the audit entry and the sessions
//! ended by requiring 2FA are the same as `PATCH /api/v1/tenant`.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use super::forms::{self, Refused};
use super::render::{self, see_other};
use super::{Page, Visitor};
use crate::error::AppError;
use crate::http::tenant::{self, StaffAccess, TenantPatch};

type Errors = BTreeMap<String, Vec<String>>;

/// The form's fields, as the API names them (a 422's `field` lands beside its input).
const FIELDS: &[&str] = &["name", "require_mfa", "staff_access", "sending_rate_per_second", "email_tracking"];

/// The staff access choices, in order (`portal-staff-<choice>` in the catalogs).
pub const STAFF_CHOICES: &[StaffAccess] = &[StaffAccess::ApprovalRequired, StaffAccess::Allowed, StaffAccess::Denied];

async fn portal_page(v: &Visitor, status: StatusCode, form: Option<Value>, errors: Errors) -> Page {
    let m = v.member()?;
    let s = tenant::settings(&v.state, &m.principal).await.map_err(|e| v.fail(e))?;
    let form = form.unwrap_or_else(|| {
        json!({"name": s.name, "require_mfa": s.require_mfa, "staff_access": s.staff_access.as_str(),
            "sending_rate_per_second": s.sending_rate_per_second.to_string(), "email_tracking": s.email_tracking})
    });
    let choices: Vec<&str> = STAFF_CHOICES.iter().map(|c| c.as_str()).collect();
    let ctx = json!({"settings": s, "form": form, "errors": errors, "staff_choices": choices,
        "can_manage": m.role().can_manage(), "saved": v.req.query_string() == "saved=1"});
    render::page(status, "portal_settings.html", v.frame("portal-settings-title", "settings"), ctx)
        .map_err(|e| v.fail(e))
}

/// `/app/settings/portal`: the settings, as a form for owners and admins.
pub async fn show(v: Visitor) -> Page {
    portal_page(&v, StatusCode::OK, None, Errors::new()).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PortalForm {
    name: String,
    require_mfa: Option<String>,
    staff_access: String,
    sending_rate_per_second: String,
    email_tracking: Option<String>,
}

/// `POST /app/settings/portal`: the whole form as the API's patch (an unticked box is
/// `false`). A rate that is not a number is sent as 0, so the API's own range rule
/// answers it.
pub async fn update(v: Visitor, body: Bytes) -> Page {
    let m = v.member()?;
    m.principal.manager().map_err(|e| v.fail(e))?;
    let form: PortalForm = forms::parse(v.lang, &body)?;
    let staff = serde_json::from_value::<StaffAccess>(json!(form.staff_access.trim()));
    let result = match staff {
        Err(_) => Err(AppError::validation("staff_access", "must be one of allowed, approval_required, denied")),
        Ok(staff_access) => {
            let patch = TenantPatch {
                name: Some(form.name.clone()),
                require_mfa: Some(form.require_mfa.is_some()),
                staff_access: Some(staff_access),
                sending_rate_per_second: Some(form.sending_rate_per_second.trim().parse().unwrap_or(0)),
                email_tracking: Some(form.email_tracking.is_some()),
            };
            tenant::change(&v.state, &m.principal, patch).await
        }
    };
    match result {
        Ok(_) => Ok(see_other("/app/settings/portal?saved=1")),
        Err(e) => match forms::refused(v.lang, e, FIELDS, "name") {
            Refused::Form { status, errors } => {
                let values = json!({"name": form.name, "require_mfa": form.require_mfa.is_some(),
                    "staff_access": form.staff_access, "sending_rate_per_second": form.sending_rate_per_second,
                    "email_tracking": form.email_tracking.is_some()});
                portal_page(&v, status, Some(values), errors).await
            }
            Refused::Page(p) => Err(p),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::STAFF_CHOICES;
    use crate::web::i18n::{ids, Lang};
    use crate::web::people::ROLES;

    /// Ids the settings templates build from data (`t('portal-staff-' ~ choice)`,
    /// `t('role-' ~ role)`) must be in the catalogs; literal ids are checked in `render`.
    #[test]
    fn every_message_id_built_from_data_is_in_the_catalogs() {
        let known = ids(Lang::En);
        let mut wanted: Vec<String> =
            STAFF_CHOICES.iter().map(|c| format!("portal-staff-{}", c.as_str().replace('_', "-"))).collect();
        wanted.extend(ROLES.iter().map(|r| format!("role-{}", r.as_str())));
        let missing: Vec<&String> = wanted.iter().filter(|id| !known.contains(id)).collect();
        assert!(missing.is_empty(), "missing from the catalogs: {missing:?}");
    }
}
