//! The audit log: what is recorded, how it is read, and that its chain detects tampering.

use std::process::Command;

use diesel::connection::SimpleConnection;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, PASSWORD};

async fn every_security_event_is_recorded_with_its_origin(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.login("ada@acme.example", "Wr0ng!Password", None).await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .insert_header(("User-Agent", "audit-test/1.0"))
        .insert_header(("X-Request-Id", "req-login-1"))
        .send_json(&json!({"email": "ada@acme.example", "password": PASSWORD}))
        .await
        .unwrap();
    let login = crate::helpers::read(res).await;
    let token = login.body["token"].as_str().unwrap().to_string();
    let (secret, codes) = app.enable_mfa(&token).await;
    let challenge = app.login("ada@acme.example", PASSWORD, None).await.body["mfa_token"].as_str().unwrap().to_string();
    app.post("/api/v1/auth/mfa", &json!({"mfa_token": challenge, "code": codes[0]}), None).await;
    app.delete_json("/api/v1/me/mfa/totp", &json!({"code": app.totp_code(&secret)}), Some(&token)).await;
    app.patch("/api/v1/tenant", &json!({"name": "Acme Growth"}), Some(&token)).await;
    let member = app.member(&owner, "bob@acme.example", "member").await;
    app.patch(&format!("/api/v1/users/{}", member.user_id), &json!({"role": "viewer"}), Some(&token)).await;
    app.delete(&format!("/api/v1/users/{}", member.user_id), Some(&token)).await;
    let key = app.post("/api/v1/api-keys", &json!({"name": "k", "scopes": ["contacts:read"]}), Some(&token)).await;
    let key_id = key.body["id"].as_str().unwrap();
    app.post(&format!("/api/v1/api-keys/{key_id}/rotate"), &json!({}), Some(&token)).await;
    app.delete(&format!("/api/v1/api-keys/{key_id}"), Some(&token)).await;
    let old_session =
        app.get("/api/v1/me", Some(&owner.token)).await.body["session"]["id"].as_str().unwrap().to_string();
    app.delete(&format!("/api/v1/me/sessions/{old_session}"), Some(&token)).await;
    app.post(
        "/api/v1/me/password",
        &json!({"current_password": PASSWORD, "new_password": "N3w-Passphrase!"}),
        Some(&token),
    )
    .await;

    let actions = app.audit_actions(&token).await;
    let expected = [
        "tenant.created",
        "auth.login.succeeded",
        "auth.login.failed",
        "auth.login.succeeded",
        "auth.mfa.enrolled",
        "auth.mfa.recovery_code_used",
        "auth.login.succeeded",
        "auth.mfa.disabled",
        "tenant.settings_changed",
        "user.invited",
        "user.invitation_accepted",
        "auth.login.succeeded",
        "user.role_changed",
        "user.removed",
        "api_key.created",
        "api_key.rotated",
        "api_key.deleted",
        "session.revoked",
        "user.password_changed",
    ];
    // signup opens a session without a login entry; the member's login is in their portal too.
    let filtered: Vec<&str> = actions.iter().map(String::as_str).collect();
    for action in expected {
        assert!(filtered.contains(&action), "{action} missing from {actions:?}");
    }
    let r = app.get("/api/v1/audit-log?action=auth.login.succeeded&limit=100", Some(&token)).await;
    let with_origin = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["request_id"] == "req-login-1")
        .expect("the login entry keeps the caller's request id");
    assert_eq!(with_origin["user_agent"], "audit-test/1.0");
    assert_eq!(with_origin["ip"], "127.0.0.1");
    assert_eq!(with_origin["actor"], json!({"type": "user", "id": owner.user_id}));
    let r = app.get("/api/v1/audit-log?action=user.role_changed", Some(&token)).await;
    assert_eq!(r.body["data"][0]["details"], json!({"from": "member", "to": "viewer"}));
    assert_eq!(r.body["data"][0]["target"], json!({"type": "user", "id": member.user_id}));
}

async fn the_log_pages_filters_and_stays_in_its_portal(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    for _ in 0..4 {
        app.login("ada@acme.example", PASSWORD, None).await;
    }
    let evil = app.signup("Evil", "eve@evil.example").await;
    let page1 = app.get("/api/v1/audit-log?limit=2", Some(&owner.token)).await;
    assert_eq!(page1.body["data"].as_array().unwrap().len(), 2);
    let seqs: Vec<i64> = page1.body["data"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, vec![5, 4], "newest first");
    let cursor = page1.body["next_cursor"].as_str().unwrap();
    let page2 = app.get(&format!("/api/v1/audit-log?limit=2&after={cursor}"), Some(&owner.token)).await;
    let seqs: Vec<i64> = page2.body["data"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, vec![3, 2]);
    let last = app.get("/api/v1/audit-log?limit=2&after=2", Some(&owner.token)).await;
    assert_eq!(last.body["next_cursor"], serde_json::Value::Null);

    let r = app.get("/api/v1/audit-log?action=auth.login", Some(&owner.token)).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 4, "prefix match");
    let r = app.get(&format!("/api/v1/audit-log?actor_id={}", evil.user_id), Some(&owner.token)).await;
    assert_eq!(r.body["data"], json!([]), "another portal's actor is not here");
    let future = (app.clock.now() + chrono::Duration::hours(1)).to_rfc3339();
    let r = app.get(&format!("/api/v1/audit-log?since={}", future.replace('+', "%2B")), Some(&owner.token)).await;
    assert_eq!(r.body["data"], json!([]), "{}", r.text);
    let evil_log = app.get("/api/v1/audit-log", Some(&evil.token)).await;
    assert_eq!(evil_log.body["data"].as_array().unwrap().len(), 1, "{}", evil_log.text);
    for bad in ["limit=0", "limit=101", "limit=x", "after=-3", "since=yesterday"] {
        app.get(&format!("/api/v1/audit-log?{bad}"), Some(&owner.token)).await.problem(422, "validation_failed");
    }
}

fn verify(app: &TestApp) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_organizeo"))
        .env("ORGANIZEO_DATABASE_URL", app.db.url_string())
        .env("ORGANIZEO_LOG", "warn")
        .args(["audit", "verify"])
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string())
}

async fn audit_verify_detects_an_entry_changed_with_sql(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    for _ in 0..3 {
        app.login("ada@acme.example", PASSWORD, None).await;
    }
    app.signup("Other", "olga@other.example").await;
    let (ok, out) = verify(&app);
    assert!(ok, "{out}");
    assert!(out.contains("5 entries in 2 portals"), "{out}");

    let mut conn = app.db_conn();
    let tamper = format!("UPDATE audit_log SET ip = '10.6.6.6' WHERE tenant_id = '{}' AND seq = 3", owner.tenant_id);
    assert!(conn.batch_execute(&tamper).is_err(), "the database refuses edits to the audit log");
    let bypass = match app.db.backend() {
        Backend::Sqlite => "DROP TRIGGER audit_log_no_update;",
        Backend::Postgres => "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update;",
    };
    conn.batch_execute(bypass).unwrap();
    conn.batch_execute(&tamper).unwrap();
    let (ok, out) = verify(&app);
    assert!(!ok, "{out}");
    assert!(out.contains(&format!("portal {} entry 3", owner.tenant_id)), "{out}");
    assert!(out.contains("altered"), "{out}");
}

async fn audit_verify_detects_a_deleted_entry(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    for _ in 0..3 {
        app.login("ada@acme.example", PASSWORD, None).await;
    }
    let mut conn = app.db_conn();
    let bypass = match app.db.backend() {
        Backend::Sqlite => "DROP TRIGGER audit_log_no_delete;",
        Backend::Postgres => "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update;",
    };
    conn.batch_execute(bypass).unwrap();
    conn.batch_execute(&format!("DELETE FROM audit_log WHERE tenant_id = '{}' AND seq = 2", owner.tenant_id)).unwrap();
    let (ok, out) = verify(&app);
    assert!(!ok, "{out}");
    assert!(out.contains("entry 3") && out.contains("missing"), "{out}");
    // Removing the newest entries is caught by the chain head.
    conn.batch_execute(&format!("DELETE FROM audit_log WHERE tenant_id = '{}' AND seq >= 2", owner.tenant_id)).unwrap();
    let (ok, out) = verify(&app);
    assert!(!ok && out.contains("head"), "{out}");
}

both_backends!(
    every_security_event_is_recorded_with_its_origin,
    the_log_pages_filters_and_stays_in_its_portal,
    audit_verify_detects_an_entry_changed_with_sql,
    audit_verify_detects_a_deleted_entry,
);
