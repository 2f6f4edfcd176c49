//! Conventions every route keeps, including for errors actix raises itself.

use awc::http::Method;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{read, TestApp};

async fn malformed_json_is_400_and_changes_nothing(app: TestApp) {
    for body in ["{\"tenant_name\": \"Acme\",", "not json", "", "{\"a\":1} trailing"] {
        let r = app.request(Method::POST, "/api/v1/signup", None, Some(body.as_bytes().to_vec())).await;
        r.problem(400, "malformed_json");
    }
    // Nothing was created by any of them.
    app.signup("Acme", "ada@acme.example").await;
}

async fn wrong_json_types_are_422_naming_the_field(app: TestApp) {
    let r = app
        .post(
            "/api/v1/signup",
            &json!({"tenant_name": ["Acme"], "email": "ada@acme.example", "password": "x", "name": "Ada"}),
            None,
        )
        .await;
    assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], "tenant_name");
    let r = app.post("/api/v1/signup", &json!(["not", "an", "object"]), None).await;
    r.problem(422, "validation_failed");
    let r = app.post("/api/v1/signup", &json!("text"), None).await;
    assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], "body");
}

async fn unknown_route_is_a_404_problem(app: TestApp) {
    let r = app.get("/api/v1/no-such-thing", None).await;
    assert!(r.problem(404, "not_found")["detail"].as_str().unwrap().contains("/api/v1/no-such-thing"));
    app.get("/api", None).await.problem(404, "not_found");
}

async fn the_landing_page_and_its_stylesheet_are_served(app: TestApp) {
    let r = app.get("/", None).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text.contains("/api/v1/openapi.json"));
    assert!(r.header("content-security-policy").unwrap().contains("style-src 'self'"));
    let css = app.get("/static/organizeo.css", None).await;
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
}

async fn wrong_method_is_a_405_problem_with_allow(app: TestApp) {
    let r = app.request(Method::DELETE, "/api/v1/signup", None, None).await;
    r.problem(405, "method_not_allowed");
    assert_eq!(r.header("allow").as_deref(), Some("POST"));
    let r = app.request(Method::PUT, "/api/v1/tenant", None, Some(b"{}".to_vec())).await;
    r.problem(405, "method_not_allowed");
    assert_eq!(r.header("allow").as_deref(), Some("GET, PATCH"));
}

async fn oversized_bodies_are_413_declared_or_streamed(app: TestApp) {
    let big = format!("{{\"tenant_name\":\"{}\"}}", "a".repeat(1024 * 1024 + 10));
    let r = app.request(Method::POST, "/api/v1/signup", None, Some(big.clone().into_bytes())).await;
    r.problem(413, "payload_too_large");
    // Streamed without Content-Length (chunked): still refused once the limit is passed.
    let chunks: Vec<Result<actix_web::web::Bytes, std::io::Error>> =
        big.into_bytes().chunks(64 * 1024).map(|c| Ok(actix_web::web::Bytes::copy_from_slice(c))).collect();
    let stream = futures_util::stream::iter(chunks);
    let res = app
        .client
        .post(app.url("/api/v1/signup"))
        .insert_header(("Content-Type", "application/json"))
        .send_stream(stream)
        .await
        .unwrap();
    read(res).await.problem(413, "payload_too_large");
}

async fn non_json_content_type_is_415(app: TestApp) {
    let res = app
        .client
        .post(app.url("/api/v1/signup"))
        .insert_header(("Content-Type", "text/plain"))
        .send_body("{}")
        .await
        .unwrap();
    read(res).await.problem(415, "unsupported_media_type");
}

async fn every_answer_has_a_request_id_and_security_headers(app: TestApp) {
    for path in ["/healthz", "/api/v1/me", "/nowhere"] {
        let r = app.get(path, None).await;
        let id = r.header("x-request-id").expect("x-request-id");
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        assert_eq!(r.header("x-content-type-options").as_deref(), Some("nosniff"));
        assert_eq!(r.header("x-frame-options").as_deref(), Some("DENY"));
        assert!(r.header("content-security-policy").unwrap().contains("frame-ancestors 'none'"));
        assert_eq!(r.header("referrer-policy").as_deref(), Some("no-referrer"));
        assert!(r.header("strict-transport-security").is_none(), "HSTS only under TLS");
    }
    // A caller's well-formed request id is kept (for tracing across services); junk is not.
    let res = app.client.get(app.url("/healthz")).insert_header(("X-Request-Id", "trace-42.a:b")).send().await.unwrap();
    assert_eq!(read(res).await.header("x-request-id").as_deref(), Some("trace-42.a:b"));
    let res =
        app.client.get(app.url("/healthz")).insert_header(("X-Request-Id", "bad id<script>")).send().await.unwrap();
    assert_ne!(read(res).await.header("x-request-id").as_deref(), Some("bad id<script>"));
}

/// PostgreSQL text cannot hold U+0000: a NUL anywhere in a body, a path or a query is a
/// 4xx naming it, never a database error, on both backends alike.
async fn nul_characters_are_refused_everywhere(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let t = Some(owner.token.as_str());
    for (path, body, field) in [
        ("/api/v1/contacts", r#"{"first_name": "a\u0000b"}"#, "first_name"),
        ("/api/v1/contacts", r#"{"first_name": "ok", "custom_fields": {"x\u0000": 1}}"#, "custom_fields"),
        ("/api/v1/tags", r#"{"name": "\u0000"}"#, "name"),
        ("/api/v1/custom-fields", r#"{"object": "contact", "key": "k", "label": "L\u0000", "type": "text"}"#, "label"),
        (
            "/api/v1/contacts/search",
            r#"{"filter_groups": [{"filters": [{"field": "email", "op": "eq", "value": "\u0000"}]}]}"#,
            "filter_groups[0].filters[0].value",
        ),
        ("/api/v1/contacts/search", r#"{"q": "a\u0000"}"#, "q"),
        (
            "/api/v1/contacts/batch",
            r#"{"action": "create", "items": [{"first_name": "\u0000"}]}"#,
            "items[0].first_name",
        ),
    ] {
        let res = app
            .client
            .post(app.url(path))
            .insert_header(("Authorization", format!("Bearer {}", owner.token)))
            .insert_header(("Content-Type", "application/json"))
            .send_body(body.to_string())
            .await
            .unwrap();
        let r = read(res).await;
        assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], field, "{path} {body}");
    }
    // An escaped backslash before "u0000" is just text.
    let r = app.post("/api/v1/contacts", &serde_json::json!({"first_name": "a\\u0000"}), t).await;
    assert_eq!(r.status, 201, "{}", r.text);
    for path in [
        "/api/v1/contacts?q=a%00b",
        "/api/v1/contacts?tag=%00",
        "/api/v1/contacts?sort=%00",
        "/api/v1/contacts/%00",
        "/api/v1/trash?type=contact&after=%00",
    ] {
        let r = app.get(path, t).await;
        assert_eq!(r.problem(400, "bad_request")["detail"].as_str().map(|d| d.contains("NUL")), Some(true), "{path}");
    }
    let list = app.get("/api/v1/contacts", t).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1, "only the one good contact");
    assert_eq!(app.get("/api/v1/tags", t).await.body["data"], serde_json::json!([]));
}

both_backends!(
    nul_characters_are_refused_everywhere,
    malformed_json_is_400_and_changes_nothing,
    wrong_json_types_are_422_naming_the_field,
    unknown_route_is_a_404_problem,
    the_landing_page_and_its_stylesheet_are_served,
    wrong_method_is_a_405_problem_with_allow,
    oversized_bodies_are_413_declared_or_streamed,
    non_json_content_type_is_415,
    every_answer_has_a_request_id_and_security_headers,
);
