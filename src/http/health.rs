//! Operator endpoints: liveness, readiness (the database answers) and Prometheus metrics.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::error::AppError;

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` when serving.
    pub status: &'static str,
    pub version: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` when the database answers.
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    pub database: &'static str,
}

/// Alive: the process is serving HTTP. Never touches the database.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is serving", body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok", version: env!("CARGO_PKG_VERSION") })
}

/// Ready: the database is reachable (within 2 s); 503 otherwise.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "The database is unreachable", body = crate::error::Problem,
            content_type = "application/problem+json"),
    ))]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let database = state.settings.database_url.backend_name();
    match state.db.ping(Duration::from_secs(2)).await {
        Ok(()) => Ok(HttpResponse::Ok().json(Readiness { status: "ready", database })),
        Err(why) => {
            tracing::warn!(reason = %why, "not ready");
            Err(AppError::Unavailable { detail: format!("{database} database unreachable") })
        }
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let text = state.metrics.render(&state.db, state.settings.db_pool_size)?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text))
}
