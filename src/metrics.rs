//! Prometheus metrics served at `GET /metrics`: HTTP requests and latency by route pattern
//! and status, and database pool gauges read at scrape time.
//!
//! Every label is bounded whatever clients send: routes by their pattern
//! (`/api/v1/users/{id}`, or `unmatched`), never the raw path; methods by the standard
//! names, anything else as `OTHER`; statuses are three digits.

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

use crate::db::Db;

/// A request method as a label: the standard ones by name, anything a client invents as
/// `OTHER`, so made-up methods cannot grow the label set.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_latency: HistogramVec,
    pool_connections: IntGauge,
    pool_idle: IntGauge,
    pool_max: IntGauge,
}

impl Metrics {
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new_custom(Some("organizeo".into()), None)?;
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered, by method, route and status"),
            &["method", "route", "status"],
        )?;
        let http_latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency, by method, route and status")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["method", "route", "status"],
        )?;
        let pool_connections = IntGauge::new("db_pool_connections", "open database connections")?;
        let pool_idle = IntGauge::new("db_pool_idle_connections", "idle database connections")?;
        let pool_max = IntGauge::new("db_pool_max_connections", "configured database pool size")?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_latency.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        registry.register(Box::new(pool_idle.clone()))?;
        registry.register(Box::new(pool_max.clone()))?;
        Ok(Self { registry, http_requests, http_latency, pool_connections, pool_idle, pool_max })
    }

    /// The registry, for other parts of the server to register their own metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn observe_request(&self, method: &actix_web::http::Method, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [method_label(method), route, status.as_str()];
        self.http_requests.with_label_values(&labels).inc();
        self.http_latency.with_label_values(&labels).observe(seconds);
    }

    /// The text exposition, with pool gauges refreshed from `db` first.
    pub fn render(&self, db: &Db, pool_max: u32) -> anyhow::Result<String> {
        let state = db.pool_state();
        self.pool_connections.set(i64::from(state.connections));
        self.pool_idle.set(i64::from(state.idle_connections));
        self.pool_max.set(i64::from(pool_max));
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        Ok(String::from_utf8(buf)?)
    }
}
