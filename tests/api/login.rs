use chrono::Duration;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{TestApp, PASSWORD};

async fn login_returns_token_expiry_and_tenant(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let r = app.login("ADA@acme.example", PASSWORD, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["tenant_id"], owner.tenant_id.as_str());
    let expires: chrono::DateTime<chrono::Utc> = r.body["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(expires > app.clock.now() + Duration::hours(1), "{expires}");
    let token = r.body["token"].as_str().unwrap();
    assert_ne!(token, owner.token, "each sign-in gets its own token");
    let me = app.get("/api/v1/me", Some(token)).await;
    assert_eq!(me.body["user"]["id"], owner.user_id.as_str());
}

async fn wrong_password_and_unknown_email_get_the_same_answer(app: TestApp) {
    app.signup("Acme", "ada@acme.example").await;
    let wrong = app.login("ada@acme.example", "Wr0ng!Password", None).await;
    let unknown = app.login("nobody@acme.example", "Wr0ng!Password", None).await;
    wrong.problem(401, "unauthorized");
    unknown.problem(401, "unauthorized");
    assert_eq!(wrong.body["detail"], unknown.body["detail"]);
    assert_eq!(wrong.body["title"], unknown.body["title"]);
    assert!(wrong.header("www-authenticate").is_some());
}

async fn login_input_is_validated(app: TestApp) {
    let r = app.post("/api/v1/auth/login", &json!({"email": "x", "password": ""}), None).await;
    let p = r.problem(422, "validation_failed");
    assert_eq!(p["errors"].as_array().unwrap().len(), 2, "{}", r.text);
    let r = app.post("/api/v1/auth/login", &json!({"email": "a@b.example", "password": 5}), None).await;
    assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], "password");
    let r = app
        .post("/api/v1/auth/login", &json!({"email": "a@b.example", "password": "x", "tenant_id": "nope"}), None)
        .await;
    assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], "tenant_id");
}

async fn a_user_in_several_portals_chooses_one_at_login(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let second = app.post("/api/v1/me/tenants", &json!({"name": "Acme EMEA"}), Some(&owner.token)).await;
    assert_eq!(second.status, 201, "{}", second.text);
    assert_eq!(second.body["role"], "owner");
    let second_id = second.body["id"].as_str().unwrap().to_string();

    let r = app.login("ada@acme.example", PASSWORD, None).await;
    let p = r.problem(422, "tenant_required");
    let listed: Vec<&str> = p["tenants"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(listed, vec![owner.tenant_id.as_str(), second_id.as_str()]);

    let r = app.login("ada@acme.example", PASSWORD, Some(&second_id)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["tenant_id"], second_id.as_str());
    let me = app.get("/api/v1/me", Some(r.body["token"].as_str().unwrap())).await;
    assert_eq!(me.body["tenant"]["name"], "Acme EMEA");

    // The wrong password never reveals the portal list.
    let r = app.login("ada@acme.example", "Wr0ng!Password", None).await;
    assert!(r.body.get("tenants").is_none());
    r.problem(401, "unauthorized");
}

async fn a_portal_the_user_is_not_in_cannot_be_chosen(app: TestApp) {
    let ada = app.signup("Acme", "ada@acme.example").await;
    let eve = app.signup("Evil", "eve@evil.example").await;
    let r = app.login("eve@evil.example", PASSWORD, Some(&ada.tenant_id)).await;
    r.problem(401, "unauthorized");
    let r = app.login("eve@evil.example", PASSWORD, Some(&eve.tenant_id)).await;
    assert_eq!(r.status, 200);
    // Nor does a portal id that does not exist answer differently.
    let r = app.login("eve@evil.example", PASSWORD, Some(&uuid::Uuid::now_v7().to_string())).await;
    r.problem(401, "unauthorized");
    // Each user's portal list holds only their own.
    let mine = app.get("/api/v1/me/tenants", Some(&eve.token)).await;
    let ids: Vec<&str> = mine.body["data"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![eve.tenant_id.as_str()]);
}

async fn logout_revokes_the_token_at_once(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let other = app.login("ada@acme.example", PASSWORD, None).await;
    let other_token = other.body["token"].as_str().unwrap();
    let r = app.post("/api/v1/auth/logout", &json!({}), Some(&owner.token)).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let me = app.get("/api/v1/me", Some(&owner.token)).await;
    assert!(me.problem(401, "unauthorized")["detail"].as_str().unwrap().contains("revoked"));
    app.post("/api/v1/auth/logout", &json!({}), Some(&owner.token)).await.problem(401, "unauthorized");
    // Only that session ended.
    assert_eq!(app.get("/api/v1/me", Some(other_token)).await.status, 200);
}

async fn expired_tokens_are_refused(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    assert_eq!(app.get("/api/v1/me", Some(&owner.token)).await.status, 200);
    app.clock.advance(Duration::hours(11));
    assert_eq!(app.get("/api/v1/me", Some(&owner.token)).await.status, 200, "12 h lifetime");
    app.clock.advance(Duration::hours(1) + Duration::seconds(1));
    let me = app.get("/api/v1/me", Some(&owner.token)).await;
    assert!(me.problem(401, "unauthorized")["detail"].as_str().unwrap().contains("expired"));
}

async fn missing_or_forged_tokens_are_401(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.get("/api/v1/me", None).await.problem(401, "unauthorized");
    app.get("/api/v1/me", Some("ozs_forged")).await.problem(401, "unauthorized");
    let tampered = format!("{}x", owner.token);
    app.get("/api/v1/me", Some(&tampered)).await.problem(401, "unauthorized");
    let r = app
        .client
        .get(app.url("/api/v1/me"))
        .insert_header(("Authorization", format!("Basic {}", owner.token)))
        .send()
        .await
        .unwrap();
    crate::helpers::read(r).await.problem(401, "unauthorized");
}

both_backends!(
    login_returns_token_expiry_and_tenant,
    wrong_password_and_unknown_email_get_the_same_answer,
    login_input_is_validated,
    a_user_in_several_portals_chooses_one_at_login,
    a_portal_the_user_is_not_in_cannot_be_chosen,
    logout_revokes_the_token_at_once,
    expired_tokens_are_refused,
    missing_or_forged_tokens_are_401,
);
