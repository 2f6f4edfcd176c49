//! Private app keys: shown once, scoped, rotated, deleted, tracked.

use serde_json::json;

use crate::both_backends;
use crate::helpers::TestApp;

async fn a_key_is_shown_once_works_within_scope_and_can_rotate_and_die(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let r = app
        .post(
            "/api/v1/api-keys",
            &json!({"name": "SIEM export", "scopes": ["audit_log:read", "audit_log:read"]}),
            Some(&owner.token),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let key = r.body["key"].as_str().unwrap().to_string();
    let id = r.body["id"].as_str().unwrap().to_string();
    assert!(key.starts_with("ozk_") && key.len() > 40, "{key}");
    assert_eq!(r.body["scopes"], json!(["audit_log:read"]), "deduplicated");

    let list = app.get("/api/v1/api-keys", Some(&owner.token)).await;
    assert!(!list.text.contains(&key), "the key is never shown again");
    let listed = &list.body["data"][0];
    assert_eq!(listed["prefix"].as_str().unwrap(), &key[..10]);
    assert!(listed["last_used_at"].is_null());

    assert_eq!(app.get("/api/v1/audit-log", Some(&key)).await.status, 200);
    let listed = app.get("/api/v1/api-keys", Some(&owner.token)).await;
    assert!(listed.body["data"][0]["last_used_at"].is_string(), "use is tracked");

    let r = app.post(&format!("/api/v1/api-keys/{id}/rotate"), &json!({}), Some(&owner.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rotated = r.body["key"].as_str().unwrap().to_string();
    assert_ne!(rotated, key);
    app.get("/api/v1/audit-log", Some(&key)).await.problem(401, "unauthorized");
    assert_eq!(app.get("/api/v1/audit-log", Some(&rotated)).await.status, 200);

    assert_eq!(app.delete(&format!("/api/v1/api-keys/{id}"), Some(&owner.token)).await.status, 204);
    app.get("/api/v1/audit-log", Some(&rotated)).await.problem(401, "unauthorized");
    app.delete(&format!("/api/v1/api-keys/{id}"), Some(&owner.token)).await.problem(404, "not_found");
}

async fn key_input_is_validated(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    for body in [
        json!({"name": "x", "scopes": []}),
        json!({"name": "x", "scopes": ["contacts"]}),
        json!({"name": "x", "scopes": ["contacts:delete"]}),
        json!({"name": "x", "scopes": ["users:write"]}),
        json!({"name": "", "scopes": ["contacts:read"]}),
        json!({"name": "x", "scopes": "contacts:read"}),
    ] {
        app.post("/api/v1/api-keys", &body, Some(&owner.token)).await.problem(422, "validation_failed");
    }
    assert_eq!(app.get("/api/v1/api-keys", Some(&owner.token)).await.body["data"], json!([]));
}

async fn keys_of_another_portal_are_404_and_never_leak(app: TestApp) {
    let acme = app.signup("Acme", "ada@acme.example").await;
    let evil = app.signup("Evil", "eve@evil.example").await;
    let r = app.post("/api/v1/api-keys", &json!({"name": "x", "scopes": ["contacts:read"]}), Some(&acme.token)).await;
    let id = r.body["id"].as_str().unwrap().to_string();
    app.post(&format!("/api/v1/api-keys/{id}/rotate"), &json!({}), Some(&evil.token)).await.problem(404, "not_found");
    app.delete(&format!("/api/v1/api-keys/{id}"), Some(&evil.token)).await.problem(404, "not_found");
    assert_eq!(app.get("/api/v1/api-keys", Some(&evil.token)).await.body["data"], json!([]));
    assert_eq!(app.get("/api/v1/api-keys", Some(&acme.token)).await.body["data"].as_array().unwrap().len(), 1);
}

async fn a_refused_key_use_is_audited(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let r =
        app.post("/api/v1/api-keys", &json!({"name": "crm", "scopes": ["contacts:read"]}), Some(&owner.token)).await;
    let key = r.body["key"].as_str().unwrap().to_string();
    app.get("/api/v1/audit-log", Some(&key)).await.problem(403, "insufficient_scope");
    let r = app.get("/api/v1/audit-log?action=api_key.use_denied", Some(&owner.token)).await;
    let entry = &r.body["data"][0];
    assert_eq!(entry["actor"]["type"], "api_key");
    assert_eq!(entry["details"]["needed_scope"], "audit_log:read");
}

both_backends!(
    a_key_is_shown_once_works_within_scope_and_can_rotate_and_die,
    key_input_is_validated,
    keys_of_another_portal_are_404_and_never_leak,
    a_refused_key_use_is_audited,
);
