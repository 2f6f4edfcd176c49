//! The rate-limit middleware: every request takes a token from its IP address's bucket,
//! its credential's (a bearer token, by digest) and its portal's (the credential
//! resolved here, once; handlers reuse it), and with Redis also from the cluster-wide
//! windows. Over any limit → 429 `rate_limited` with `Retry-After`; every answer carries
//! `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` of the tightest bucket.
//!
//! After the answer, the abuse detector (`security::abuse`) counts 401/403/404 answers and
//! record reads per credential (per IP without one). An anomaly holds the key to a tenth of
//! its limits for ten minutes, is counted in `organizeo_security_anomalies_total{kind}`,
//! logged, and written to the portal's audit log as `security.anomaly` when the portal is
//! known.

use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, RETRY_AFTER};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

use super::extract::{bearer_token, client_ip};
use super::principal::{authenticate, Actor, Authenticated};
use super::AppState;
use crate::config::Settings;
use crate::crm::objects::Object;
use crate::db::audit::NewEntry;
use crate::domain::TenantId;
use crate::error::AppError;
use crate::security::abuse::{Anomaly, Detector, Thresholds};
use crate::security::rate_limit::{Class, Limiter, Shared, Verdict};
use crate::security::tokens;

/// The node's limits, detector and their metrics.
pub struct Guard {
    pub limiter: Limiter,
    pub detector: Detector,
    shared: Option<Shared>,
    refused: IntCounterVec,
    anomalies: IntCounterVec,
    shared_errors: IntCounter,
    staff_risk_alerts: IntCounterVec,
}

impl Guard {
    /// Counts a `staff.risk_alert` (many_portals, refusals or volume).
    pub fn staff_risk_alert(&self, reason: &str) {
        self.staff_risk_alerts.with_label_values(&[reason]).inc();
    }

    pub fn new(settings: &Settings, registry: &Registry) -> anyhow::Result<Arc<Self>> {
        let refused =
            IntCounterVec::new(Opts::new("rate_limited_total", "requests refused with 429, by bucket"), &["class"])?;
        let anomalies = IntCounterVec::new(
            Opts::new("security_anomalies_total", "credentials or addresses marked by the abuse detector, by kind"),
            &["kind"],
        )?;
        let shared_errors = IntCounter::new(
            "rate_limit_shared_errors_total",
            "cluster-wide rate-limit checks skipped because Redis could not be reached",
        )?;
        registry.register(Box::new(refused.clone()))?;
        registry.register(Box::new(anomalies.clone()))?;
        registry.register(Box::new(shared_errors.clone()))?;
        let staff_risk_alerts = IntCounterVec::new(
            Opts::new("staff_risk_alerts_total", "Portal JITA grants suspended by risk monitoring, by reason"),
            &["reason"],
        )?;
        registry.register(Box::new(staff_risk_alerts.clone()))?;
        let shared = settings.redis_url.as_ref().map(|u| Shared::new(u.expose())).transpose()?;
        Ok(Arc::new(Self {
            limiter: Limiter::new(
                settings.rate_limit_per_ip,
                settings.rate_limit_per_credential,
                settings.rate_limit_per_tenant,
            ),
            detector: Detector::new(Thresholds {
                errors_per_minute: settings.abuse_errors_per_minute,
                read_factor: settings.abuse_read_factor,
                read_floor: settings.abuse_read_floor,
            }),
            shared,
            refused,
            anomalies,
            shared_errors,
            staff_risk_alerts,
        }))
    }

    /// Forgets idle keys; run every minute.
    pub fn forget_idle(&self, minute: i64) {
        self.limiter.forget_idle();
        self.detector.forget_idle(minute);
    }
}

/// Whether an answered request read CRM records (a list, a record, a timeline, a search or
/// an export).
fn reads_records(method: &Method, pattern: &str) -> bool {
    if pattern.starts_with("/api/v1/exports/") {
        return *method == Method::GET;
    }
    let Some(rest) = pattern.strip_prefix("/api/v1/") else { return false };
    let (plural, tail) = rest.split_once('/').unwrap_or((rest, ""));
    if !Object::ALL.iter().any(|o| o.plural() == plural) {
        return false;
    }
    matches!((method, tail), (&Method::GET, "" | "{id}" | "{id}/timeline") | (&Method::POST, "search"))
}

fn headers_of(v: &Verdict) -> [(HeaderName, String); 3] {
    [
        (HeaderName::from_static("ratelimit-limit"), v.limit.to_string()),
        (HeaderName::from_static("ratelimit-remaining"), v.remaining.to_string()),
        (HeaderName::from_static("ratelimit-reset"), v.reset_secs.to_string()),
    ]
}

pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let guard = state.guard.clone();
    let ip = client_ip(req.request(), &state.settings.trusted_proxies).map(|ip| format!("ip:{ip}"));
    let token = bearer_token(req.request());
    let credential = token.as_deref().map(|t| format!("cred:{}", tokens::digest(t)));

    // Resolve the credential once, for the portal's bucket and the handler.
    let mut who: Option<Authenticated> = None;
    if let Some(t) = &token {
        if let Ok(a) = authenticate(&state, t).await {
            req.extensions_mut().insert(a.clone());
            who = Some(a);
        }
    }
    let tenant = who.as_ref().map(|a| a.tenant.clone());
    let tenant_key = tenant.as_ref().map(|t| format!("tenant:{}", t.as_str()));

    let keys: Vec<(Class, &String)> = [(Class::Ip, ip.as_ref()), (Class::Credential, credential.as_ref())]
        .into_iter()
        .chain([(Class::Tenant, tenant_key.as_ref())])
        .filter_map(|(c, k)| k.map(|k| (c, k)))
        .collect();
    let mut verdicts: Vec<Verdict> = keys.iter().filter_map(|(c, k)| guard.limiter.check(*c, k)).collect();
    if let (Some(shared), true) = (&guard.shared, verdicts.iter().all(|v| v.allowed)) {
        let wanted: Vec<_> =
            keys.iter().filter_map(|(c, k)| guard.limiter.config(*c).map(|limit| (*c, (*k).clone(), limit))).collect();
        let unix = state.clock.now().timestamp().max(0) as u64;
        match shared.check(&wanted, unix).await {
            Ok(v) => verdicts.extend(v),
            Err(e) => {
                guard.shared_errors.inc();
                tracing::warn!(error = %e, "cluster-wide rate limit skipped: Redis unreachable");
            }
        }
    }
    let verdict = Verdict::combine(verdicts);

    if let Some(v) = verdict.filter(|v| !v.allowed) {
        guard.refused.with_label_values(&[v.class.label()]).inc();
        let err = AppError::RateLimited {
            retry_after_secs: v.retry_after_secs,
            detail: format!("too many requests for this {}; retry in {} s", noun(v.class), v.retry_after_secs),
        };
        let mut resp = err.error_response();
        for (name, value) in headers_of(&v) {
            if let Ok(value) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(name, value);
            }
        }
        if let Ok(value) = HeaderValue::from_str(&v.retry_after_secs.to_string()) {
            resp.headers_mut().insert(RETRY_AFTER, value);
        }
        return Ok(req.into_response(resp));
    }

    let mut res = next.call(req).await?.map_into_boxed_body();
    if let Some(v) = verdict {
        for (name, value) in headers_of(&v) {
            if let Ok(value) = HeaderValue::from_str(&value) {
                res.headers_mut().insert(name, value);
            }
        }
    }

    // Behaviour, by credential (or address without one).
    let Some(key) = credential.or(ip) else { return Ok(res) };
    let minute = state.clock.now().timestamp().div_euclid(60);
    let status = res.status().as_u16();
    let anomaly = if matches!(status, 401 | 403 | 404) {
        guard.detector.error(&key, minute)
    } else if res.status().is_success()
        && res.request().match_pattern().is_some_and(|p| reads_records(res.request().method(), &p))
    {
        guard.detector.read(&key, minute)
    } else {
        None
    };
    if let Some(anomaly) = anomaly {
        let meta = super::principal::request_meta(res.request());
        report(&state, &guard, &key, anomaly, who, meta).await;
    }
    Ok(res)
}

fn noun(class: Class) -> &'static str {
    match class {
        Class::Ip => "address",
        Class::Credential => "credential",
        Class::Tenant => "portal",
    }
}

/// Throttles the key harder, counts, logs and (when the portal is known) audits.
async fn report(
    state: &AppState,
    guard: &Guard,
    key: &str,
    anomaly: Anomaly,
    who: Option<Authenticated>,
    meta: crate::db::audit::RequestMeta,
) {
    guard.limiter.penalise(key);
    guard.anomalies.with_label_values(&[anomaly.kind()]).inc();
    tracing::warn!(kind = anomaly.kind(), ?anomaly, ip = ?meta.ip, "security anomaly: throttling harder for 10 minutes");
    let Some(Authenticated { tenant, actor }) = who else { return };
    let details = match &anomaly {
        Anomaly::Probing { errors } => serde_json::json!({
            "kind": "probing", "errors_in_minute": errors, "penalty_seconds": 600,
        }),
        Anomaly::Scraping { reads, usual } => serde_json::json!({
            "kind": "scraping", "reads_in_minute": reads, "usual_per_minute": (usual * 10.0).round() / 10.0,
            "penalty_seconds": 600,
        }),
    };
    let entry = NewEntry::new("security.anomaly").from_request(meta.ip, meta.user_agent, meta.request_id);
    let entry = match &actor {
        Actor::User(u) => entry.actor("user", &u.user_id),
        Actor::Key(k) => entry.actor("api_key", &k.key_id),
        Actor::Jita(j) => entry.actor("jita_grant", &j.grant_id),
    }
    .details(details);
    if let Err(e) = audit(state, tenant, entry).await {
        tracing::error!(error = %e, "could not audit a security anomaly");
    }
}

async fn audit(state: &AppState, tenant: TenantId, entry: NewEntry) -> Result<(), AppError> {
    let now = state.clock.now();
    state.db.tenant(tenant).write(move |t| Ok(t.audit(entry, now).map(|_| ())?)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_reads_are_lists_records_timelines_searches_and_exports() {
        for (m, p) in [
            (Method::GET, "/api/v1/contacts"),
            (Method::GET, "/api/v1/deals/{id}"),
            (Method::GET, "/api/v1/notes/{id}/timeline"),
            (Method::POST, "/api/v1/tickets/search"),
            (Method::GET, "/api/v1/exports/{file}"),
        ] {
            assert!(reads_records(&m, p), "{m} {p}");
        }
        for (m, p) in [
            (Method::POST, "/api/v1/contacts"),
            (Method::GET, "/api/v1/users"),
            (Method::POST, "/api/v1/contacts/batch"),
            (Method::GET, "/api/v1/tags"),
        ] {
            assert!(!reads_records(&m, p), "{m} {p}");
        }
    }
}
