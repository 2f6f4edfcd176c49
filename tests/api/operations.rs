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

/// Every `$ref` in the document, as `#/components/...` strings.
fn refs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", serde_json::Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// The answers every operation shares are documented once, as `components.responses`, and
/// referenced from each operation that can give them: schemathesis (`.ci/run`) fails on any
/// status the document does not list, so a rule missing here is a red CI.
#[actix_web::test]
async fn openapi_references_the_shared_error_answers_from_every_operation() {
    let app = spawn_app(Backend::Sqlite).await;
    let spec = app.get("/api/v1/openapi.json", None).await.body;
    let shared = &spec["components"]["responses"];
    for (status, name) in [
        (400, "BadRequest"),
        (401, "Unauthorized"),
        (403, "Forbidden"),
        (404, "NotFound"),
        (409, "Conflict"),
        (413, "PayloadTooLarge"),
        (415, "UnsupportedMediaType"),
        (422, "Unprocessable"),
        (429, "TooManyRequests"),
        (503, "ServiceUnavailable"),
    ] {
        let schema = &shared[name]["content"]["application/problem+json"]["schema"]["$ref"];
        assert_eq!(schema, "#/components/schemas/Problem", "{status} {name}");
    }
    for (name, header) in [
        ("Unauthorized", "WWW-Authenticate"),
        ("TooManyRequests", "Retry-After"),
        ("ServiceUnavailable", "Retry-After"),
    ] {
        assert!(shared[name]["headers"][header].is_object(), "{name} documents {header}");
    }

    let mut ids = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let label = format!("{method} {path}");
            let id = op["operationId"].as_str().unwrap().to_string();
            assert!(ids.insert(id.clone()), "operationId {id} is used twice ({label})");
            let responses = op["responses"].as_object().unwrap();
            let has = |status: &str| responses.contains_key(status);
            for (status, answer) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let r = answer["$ref"].as_str().unwrap_or_default();
                    assert!(r.starts_with("#/components/responses/"), "{label} {status} is not a shared answer");
                }
            }
            assert!(has("400"), "{label}: any URL with %00 is a 400");
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                for status in ["401", "403", "503"] {
                    assert!(has(status), "{label}: a bearer operation can answer {status}");
                }
            }
            if op["requestBody"]["content"]["application/json"].is_object() {
                for status in ["413", "415", "422"] {
                    assert!(has(status), "{label}: a JSON body can be answered {status}");
                }
            }
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                if p["in"] == "path" {
                    assert!(path.contains(&format!("{{{name}}}")), "{label}: path parameter {name} is not in the path");
                    assert!(has("404"), "{label}: an id in the path can be unknown");
                }
            }
        }
    }
    let mut all = Vec::new();
    refs(&spec, &mut all);
    for r in all {
        let pointer = r.strip_prefix('#').unwrap();
        assert!(spec.pointer(pointer).is_some(), "{r} does not resolve");
    }
}
