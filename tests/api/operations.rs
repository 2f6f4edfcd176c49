//! Health, readiness, metrics and the OpenAPI document.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::both_backends;
use crate::helpers::{spawn_app, wait_for, Backend, TestApp};

async fn healthz_and_readyz_answer_when_all_is_well(app: TestApp) {
    let r = app.get("/healthz", None).await;
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("ok")));
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let expected = match app.db.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(r.body["database"], expected);
}

async fn readyz_is_503_when_the_database_is_gone(app: TestApp) {
    assert_eq!(app.get("/readyz", None).await.status, 200);
    app.db.destroy();
    let r = wait_for("readyz to fail", Duration::from_secs(15), || async {
        let r = app.get("/readyz", None).await;
        (r.status != 200).then_some(r)
    })
    .await;
    r.problem(503, "unavailable");
    // Liveness does not depend on the database.
    assert_eq!(app.get("/healthz", None).await.status, 200);
}

async fn metrics_count_requests_by_route_pattern_and_status(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.get("/api/v1/me", Some(&owner.token)).await;
    app.get("/api/v1/me", None).await;
    app.get("/no/such/path/123", None).await;
    let r = app.get("/metrics", None).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let m = &r.text;
    for line in [
        r#"organizeo_http_requests_total{method="POST",route="/api/v1/signup",status="201"} 1"#,
        r#"organizeo_http_requests_total{method="GET",route="/api/v1/me",status="200"} 1"#,
        r#"organizeo_http_requests_total{method="GET",route="/api/v1/me",status="401"} 1"#,
        r#"organizeo_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"organizeo_http_request_duration_seconds_count{method="GET",route="/api/v1/me",status="200"} 1"#,
        "organizeo_db_pool_max_connections 4",
    ] {
        assert!(m.contains(line), "missing {line}\n{m}");
    }
    assert!(m.contains("organizeo_db_pool_connections "), "{m}");
    assert!(!m.contains("/no/such/path"), "raw paths must not become labels");
    // Made-up methods are one label, OTHER: 200 of them add one series, not 200.
    for i in 0..200 {
        let method = awc::http::Method::from_bytes(format!("PROBE{i}").as_bytes()).unwrap();
        app.request(method, "/api/v1/me", None, None).await;
    }
    let m = app.get("/metrics", None).await.text;
    assert!(!m.contains("PROBE"), "a client-invented method became a label");
    assert!(m.contains(r#"method="OTHER""#), "{m}");
    let series = m.lines().filter(|l| l.starts_with("organizeo_http_requests_total{")).count();
    assert!(series < 20, "{series} request series after 200 invented methods");
}

both_backends!(
    healthz_and_readyz_answer_when_all_is_well,
    readyz_is_503_when_the_database_is_gone,
    metrics_count_requests_by_route_pattern_and_status,
);

/// Every route the server registers is in the OpenAPI document, and every documented
/// operation is routed.
#[actix_web::test]
async fn openapi_spec_lists_every_route() {
    let app = spawn_app(Backend::Sqlite).await;
    let r = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(r.status, 200);
    assert!(r.body["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in r.body["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_string(), path.to_string()));
        }
    }
    let routed: BTreeSet<(String, String)> =
        organizeo::http::ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    assert!(undocumented.is_empty(), "routes missing from the OpenAPI spec: {undocumented:?}");
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(unrouted.is_empty(), "documented but not routed: {unrouted:?}");
    assert!(r.body["components"]["securitySchemes"]["bearer"].is_object());
}
