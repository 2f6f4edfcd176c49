//! The platform staff API (`/api/v1/staff/…`): sign-in with a mandatory second factor,
//! sign-out, who am I, and the platform audit trail. Staff routes take only `ozst_` tokens
//! ([`Staff`]); portal routes refuse them (a staff member enters a portal only through a
//! JITA grant). The rules are `identity::staff`'s.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::audit::{filter_of, AuditEntry, AuditPage, AuditQuery};
use super::extract::{bearer_token, client_info, Json};
use super::paging::finish_page;
use super::principal::request_meta;
use super::AppState;
use crate::db::audit::RequestMeta;
use crate::domain::{EmailAddress, StaffRole};
use crate::error::AppError;
use crate::identity::staff::{self, PasswordOutcome, StaffPrincipal};
use crate::security::{qr, totp};

/// A signed-in staff member (an `ozst_` bearer token), with the request's origin.
pub struct Staff {
    pub who: StaffPrincipal,
    pub meta: RequestMeta,
}

impl Staff {
    /// Refuses unless the staff member has `role`.
    pub fn require(&self, role: StaffRole) -> Result<(), AppError> {
        if self.who.role == role {
            return Ok(());
        }
        Err(AppError::Forbidden { code: "forbidden", detail: format!("this needs the staff role {role}") })
    }
}

impl FromRequest for Staff {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let meta = request_meta(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::internal(anyhow::anyhow!("application state missing")))?;
            let token = token.ok_or_else(|| AppError::unauthorized("missing bearer token"))?;
            let who = staff::resolve(&state.db, &token, state.clock.now()).await?;
            Ok(Staff { who, meta })
        })
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct StaffLogin {
    pub email: String,
    pub password: String,
}

/// The password step's answer: always a second step (TOTP is mandatory for staff).
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffLoginStep {
    /// First sign-in: enrol TOTP with `enrollment_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_enrollment_required: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrollment_token: Option<String>,
    /// Later sign-ins: send a code with `mfa_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_required: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<String>,
    /// When the step expires (10 minutes, 5 codes).
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct EnrollmentRequest {
    pub enrollment_token: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct EnrollmentConfirm {
    pub enrollment_token: String,
    /// A current 6-digit code from the authenticator app.
    pub code: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct StaffCode {
    pub mfa_token: String,
    /// A current 6-digit code, or an unused recovery code.
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffEnrolment {
    /// Base32 secret, for typing into an app by hand.
    pub secret: String,
    pub otpauth_url: String,
    /// The QR code as an SVG document.
    pub qr_svg: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffToken {
    /// `ozst_…`: staff routes only.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// Ten single-use codes, shown once, at enrolment only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffMe {
    pub id: String,
    pub email: String,
    pub role: StaffRole,
}

/// Staff sign-in, first step: email and password. Always answers with a second step.
#[utoipa::path(post, path = "/api/v1/staff/login", tag = "staff", request_body = StaffLogin,
    responses((status = 200, body = StaffLoginStep),
        (status = 401, description = "Wrong email or password, or a disabled account", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failures: see Retry-After", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<StaffLogin>,
) -> Result<HttpResponse, AppError> {
    let body = body.0;
    let email = EmailAddress::parse(&body.email).map_err(|_| AppError::unauthorized("invalid email or password"))?;
    let outcome = staff::with_password(&state.db, email, body.password, request_meta(&req), state.clock.now()).await?;
    Ok(HttpResponse::Ok().json(match outcome {
        PasswordOutcome::EnrollmentRequired { enrollment_token, expires_at } => StaffLoginStep {
            mfa_enrollment_required: Some(true),
            enrollment_token: Some(enrollment_token),
            mfa_required: None,
            mfa_token: None,
            expires_at,
        },
        PasswordOutcome::MfaRequired { mfa_token, expires_at } => StaffLoginStep {
            mfa_enrollment_required: None,
            enrollment_token: None,
            mfa_required: Some(true),
            mfa_token: Some(mfa_token),
            expires_at,
        },
    }))
}

/// First sign-in: a TOTP secret to scan (each call makes a new one; confirm the newest).
#[utoipa::path(post, path = "/api/v1/staff/mfa/totp", tag = "staff", request_body = EnrollmentRequest,
    responses((status = 200, body = StaffEnrolment),
        (status = 401, description = "Unknown, used or expired step", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn enrol(state: web::Data<AppState>, body: Json<EnrollmentRequest>) -> Result<HttpResponse, AppError> {
    let (secret, email) = staff::enrol(&state.db, &state.keyring, &body.0.enrollment_token, state.clock.now()).await?;
    let issuer = format!("{} staff", state.settings.totp_issuer);
    let (b32, url) = totp::provisioning(&secret, &issuer, &email)?;
    Ok(HttpResponse::Ok().json(StaffEnrolment { secret: b32, qr_svg: qr::svg(&url)?, otpauth_url: url }))
}

/// First sign-in: confirm the secret with a code; signs in and returns recovery codes.
#[utoipa::path(post, path = "/api/v1/staff/mfa/totp/confirm", tag = "staff", request_body = EnrollmentConfirm,
    responses((status = 200, body = StaffToken),
        (status = 401, description = "Wrong code, or an unknown, used or expired step", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "No secret yet: call POST /api/v1/staff/mfa/totp first", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong codes: see Retry-After", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn confirm(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<EnrollmentConfirm>,
) -> Result<HttpResponse, AppError> {
    let body = body.0;
    let (session, codes) = staff::confirm_enrolment(
        &state.db,
        &state.keyring,
        &body.enrollment_token,
        body.code,
        request_meta(&req),
        client_info(&req),
        state.clock.now(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(StaffToken {
        token: session.token,
        expires_at: session.expires_at,
        recovery_codes: Some(codes),
    }))
}

/// Later sign-ins: the code step.
#[utoipa::path(post, path = "/api/v1/staff/mfa", tag = "staff", request_body = StaffCode,
    responses((status = 200, body = StaffToken),
        (status = 401, description = "Wrong or replayed code, or an unknown, used or expired step", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong codes: see Retry-After", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn mfa(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<StaffCode>,
) -> Result<HttpResponse, AppError> {
    let body = body.0;
    let session = staff::with_second_factor(
        &state.db,
        &state.keyring,
        &body.mfa_token,
        body.code,
        request_meta(&req),
        client_info(&req),
        state.clock.now(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(StaffToken {
        token: session.token,
        expires_at: session.expires_at,
        recovery_codes: None,
    }))
}

/// Ends this staff session.
#[utoipa::path(post, path = "/api/v1/staff/logout", tag = "staff", security(("bearer" = [])),
    responses((status = 204, description = "Signed out")))]
pub async fn logout(state: web::Data<AppState>, s: Staff) -> Result<HttpResponse, AppError> {
    staff::logout(&state.db, &s.who, s.meta, state.clock.now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The signed-in staff member.
#[utoipa::path(get, path = "/api/v1/staff/me", tag = "staff", security(("bearer" = [])),
    responses((status = 200, body = StaffMe)))]
pub async fn me(s: Staff) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(StaffMe { id: s.who.staff_id, email: s.who.email, role: s.who.role }))
}

/// The platform audit trail (staff sign-ins, grants, flags, risk alerts), newest first;
/// the `security` role only. Hash-chained like the portals' (`organizeo audit verify`).
#[utoipa::path(get, path = "/api/v1/staff/audit-log", tag = "staff", security(("bearer" = [])),
    params(AuditQuery),
    responses((status = 200, body = AuditPage)))]
pub async fn audit_log(
    state: web::Data<AppState>,
    s: Staff,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    s.require(StaffRole::Security)?;
    let (filter, limit) = filter_of(query.into_inner())?;
    let rows = state.db.read(move |p| Ok(p.platform_audit_entries(&filter)?)).await?;
    let (rows, next_cursor) = finish_page(rows, limit, |r| r.seq.to_string());
    Ok(HttpResponse::Ok().json(AuditPage { data: rows.into_iter().map(AuditEntry::from).collect(), next_cursor }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JitaRequest {
    /// The portal to enter.
    pub tenant_id: String,
    /// Why (shown to the portal's owners and admins, and audited).
    pub reason: String,
    /// The support ticket this work is for.
    pub ticket_ref: String,
    /// 1 to 1440 (24 hours).
    pub duration_minutes: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JitaGranted {
    pub id: String,
    /// `active`, or `pending_approval` until an owner or admin approves it.
    pub status: String,
    /// When an active grant ends; null while pending (it runs from approval).
    pub expires_at: Option<DateTime<Utc>>,
    /// `ozj_…`, shown once: the bearer token for that portal's routes while the grant is
    /// active (a pending grant's token answers 403 `jita_pending_approval`).
    pub token: String,
}

/// Portal JITA: ask to enter one portal for a reason, a ticket and at most 24 hours. The
/// portal's `staff_access` decides: active at once, pending its owners' approval, or 403.
/// Roles support, engineer and security.
#[utoipa::path(post, path = "/api/v1/staff/jita", tag = "staff", security(("bearer" = [])),
    request_body = JitaRequest,
    responses((status = 201, body = JitaGranted),
        (status = 403, description = "`staff_access_denied` (the portal denies staff access), `staff_risk_alert` (too many portals within an hour: suspended and alerted), or a role that does not enter portals", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such portal", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing reason or ticket, or a duration outside 1-1440 minutes", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn request_jita(
    state: web::Data<AppState>,
    s: Staff,
    body: Json<JitaRequest>,
) -> Result<HttpResponse, AppError> {
    let b = body.0;
    let req = crate::identity::jita::Request {
        tenant_id: b.tenant_id,
        reason: b.reason,
        ticket_ref: b.ticket_ref,
        duration_minutes: b.duration_minutes,
    };
    let limits = super::principal::jita_limits(&state);
    let outcome = crate::identity::jita::request(&state.db, &s.who, req, s.meta, limits, state.clock.now()).await;
    if let Err(AppError::Forbidden { code: "staff_risk_alert", .. }) = &outcome {
        state.guard.staff_risk_alert("many_portals");
    }
    let g = outcome?;
    Ok(HttpResponse::Created().json(JitaGranted {
        id: g.row.id,
        status: g.row.status,
        expires_at: g.row.expires_at.map(|t| t.and_utc()),
        token: g.token,
    }))
}
