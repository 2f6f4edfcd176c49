//! Health, readiness, metrics and the OpenAPI document.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;

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

/// Pooled connections are not pinged when checked out; the first statement of each piece
/// of work (its BEGIN) is the check, and a dead connection is discarded and the work started
/// on another. Backends terminated under a running server — a PostgreSQL restart, a
/// failover, an idle-connection reaper — cost no request: reads, writes, platform reads and
/// readiness all answer.
async fn terminated_database_connections_cost_no_request(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let contact = app.contact(&owner, json!({"email": "ann@x.example"})).await;
    let path = format!("/api/v1/contacts/{}", contact["id"].as_str().unwrap());
    for round in 0..3 {
        let killed = app.db.terminate_connections();
        if app.db.backend() == Backend::Postgres {
            assert!(killed > 0, "round {round}: the server's pooled connections were terminated");
        }
        // More requests than the pool holds (4), so every dead connection is met.
        for i in 0..10 {
            let r = app.get(&path, Some(&owner.token)).await;
            assert_eq!(r.status, 200, "round {round}, read {i}: {}", r.text);
        }
        let r =
            app.post("/api/v1/contacts", &json!({"email": format!("new{round}@x.example")}), Some(&owner.token)).await;
        assert_eq!(r.status, 201, "round {round}: a write after the termination: {}", r.text);
        assert_eq!(app.get("/api/v1/me", Some(&owner.token)).await.status, 200, "round {round}: a platform read");
        assert_eq!(app.get("/readyz", None).await.status, 200, "round {round}: readiness");
    }
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

/// The answers schemathesis found missing from the document, asked for again: each status
/// the server gives is one the document lists for that operation (`(method, route)`).
async fn answers_the_fuzzer_found_undocumented_are_documented(app: TestApp) {
    let spec = app.get("/api/v1/openapi.json", None).await.body;
    let owner = app.signup("Acme", "ada@acme.example").await;
    let t = Some(owner.token.as_str());
    let id = "01a22b38-8393-7726-a156-82ed2bc46c8b";
    let documented = |method: &str, route: &str, r: &crate::helpers::Resp| {
        let listed = &spec["paths"][route][method]["responses"][r.status.to_string()];
        assert!(listed.is_object(), "{method} {route} answered {} undocumented: {}", r.status, r.text);
    };

    // No token at all (every bearer operation): 401.
    let r = app.get("/api/v1/contacts", None).await;
    r.problem(401, "unauthorized");
    documented("get", "/api/v1/contacts", &r);
    // %00 anywhere in a URL: 400, before routing.
    let r = app.get("/api/v1/contacts?q=%00", t).await;
    r.problem(400, "bad_request");
    documented("get", "/api/v1/contacts", &r);
    // A body that is not JSON: 415.
    let res = app
        .client
        .patch(app.url("/api/v1/tenant"))
        .insert_header(("Authorization", format!("Bearer {}", owner.token)))
        .insert_header(("Content-Type", "text/plain"))
        .send_body("{}")
        .await
        .unwrap();
    let r = crate::helpers::read(res).await;
    r.problem(415, "unsupported_media_type");
    documented("patch", "/api/v1/tenant", &r);
    // A bad cursor or limit on a paged list, an unknown object: 422.
    for (route, path) in [
        ("/api/v1/companies/{id}/timeline", format!("/api/v1/companies/{id}/timeline?after=x")),
        ("/api/v1/tags", "/api/v1/tags?limit=0".to_string()),
        ("/api/v1/custom-values", "/api/v1/custom-values?after=zzz".to_string()),
        ("/api/v1/custom-fields", "/api/v1/custom-fields?object=nope".to_string()),
    ] {
        let r = app.get(&path, t).await;
        if route.contains("{id}") {
            // The record does not exist: the cursor is judged first, or the id; both documented.
            assert!([404, 422].contains(&r.status), "{path}: {}", r.text);
        } else {
            r.problem(422, "validation_failed");
        }
        documented("get", route, &r);
    }
    // A malformed Idempotency-Key on an authenticated POST: 422.
    let res = app
        .client
        .post(app.url("/api/v1/tags"))
        .insert_header(("Authorization", format!("Bearer {}", owner.token)))
        .insert_header(("Idempotency-Key", "two words"))
        .send_json(&json!({"name": "vip"}))
        .await
        .unwrap();
    let r = crate::helpers::read(res).await;
    r.problem(422, "validation_failed");
    documented("post", "/api/v1/tags", &r);
    // Wrong secrets, again and again, where they are throttled: 429 with Retry-After
    // (2FA that is not on costs no attempt, so the enrolment being confirmed is the case).
    app.post("/api/v1/me/mfa/totp", &json!({}), t).await;
    for (method, route, body) in [
        ("post", "/api/v1/me/mfa/totp/confirm", json!({"code": "000000"})),
        (
            "post",
            "/api/v1/me/password",
            json!({"current_password": "Wr0ng-Password!", "new_password": "N3w-Passw0rd!x"}),
        ),
    ] {
        let mut last = None;
        for _ in 0..10 {
            let r = match method {
                "delete" => app.delete_json(route, &body, t).await,
                _ => app.post(route, &body, t).await,
            };
            documented(method, route, &r);
            if r.status == 429 {
                last = Some(r);
                break;
            }
        }
        let r = last.unwrap_or_else(|| panic!("{method} {route} was never throttled"));
        r.problem(429, "rate_limited");
        assert!(r.header("retry-after").is_some(), "{route}: 429 carries Retry-After");
    }
}

both_backends!(
    answers_the_fuzzer_found_undocumented_are_documented,
    healthz_and_readyz_answer_when_all_is_well,
    readyz_is_503_when_the_database_is_gone,
    terminated_database_connections_cost_no_request,
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
    let answers = [
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
    ];
    for (status, name) in answers {
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
                if let Some((_, name)) = answers.iter().find(|(s, _)| s.to_string() == *status) {
                    let r = answer["$ref"].as_str().unwrap_or_default();
                    assert_eq!(r, format!("#/components/responses/{name}"), "{label} {status} is the shared answer");
                }
            }
            assert!(has("400"), "{label}: any URL with %00 is a 400");
            assert!(has("429"), "{label}: every request is rate limited");
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
    // Ids come from method and path, unique by construction (handler names repeat).
    assert_eq!(spec["paths"]["/api/v1/contacts/{id}/timeline"]["get"]["operationId"], "get_contacts_by_id_timeline");
    assert_eq!(spec["paths"]["/"]["get"]["operationId"], "get_root");

    // Links from a creation name real operations, in OpenAPI's spelling (utoipa's is not).
    let mut links = 0;
    for item in spec["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            for response in op["responses"].as_object().unwrap().values() {
                for link in response["links"].as_object().into_iter().flat_map(|l| l.values()) {
                    let target = link["operationId"].as_str().expect("links name an operationId");
                    assert!(ids.contains(target), "a link names {target}, which is no operation");
                    assert_eq!(link["parameters"]["id"], "$response.body#/id");
                    links += 1;
                }
            }
        }
    }
    assert!(links >= 30, "every creation links to what it made ({links} links)");
    let created = &spec["paths"]["/api/v1/contacts"]["post"]["responses"]["201"];
    assert_eq!(created["links"]["patch_contacts_by_id"]["operationId"], "patch_contacts_by_id");

    let mut all = Vec::new();
    refs(&spec, &mut all);
    for r in all {
        let pointer = r.strip_prefix('#').unwrap();
        assert!(spec.pointer(pointer).is_some(), "{r} does not resolve");
    }
}
