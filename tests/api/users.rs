//! People and roles in a portal; password change; sessions.

use serde_json::json;

use crate::both_backends;
use crate::helpers::{TestApp, PASSWORD};

async fn owners_and_admins_add_people_with_roles(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let admin = app.member(&owner, "ann@acme.example", "admin").await;
    let viewer = app.member(&admin, "vic@acme.example", "viewer").await;
    let list = app.get("/api/v1/users", Some(&viewer.token)).await;
    assert_eq!(list.status, 200, "everyone may see who is in the portal");
    let roles: Vec<(&str, &str)> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["email"].as_str().unwrap(), u["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        vec![("ada@acme.example", "owner"), ("ann@acme.example", "admin"), ("vic@acme.example", "viewer")]
    );
    // Bad input changes nothing.
    for body in [
        json!({"email": "x@acme.example", "name": "X", "role": "god", "password": PASSWORD}),
        json!({"email": "nope", "name": "X", "role": "member", "password": PASSWORD}),
        json!({"email": "x@acme.example", "name": "X", "role": "member"}),
        json!({"email": "x@acme.example", "name": "X", "role": "member", "password": "weak"}),
    ] {
        app.post("/api/v1/users", &body, Some(&owner.token)).await.problem(422, "validation_failed");
    }
    app.post("/api/v1/users", &json!({"email": "ann@acme.example", "name": "A", "role": "member"}), Some(&owner.token))
        .await
        .problem(409, "already_member");
    assert_eq!(app.get("/api/v1/users", Some(&owner.token)).await.body["data"].as_array().unwrap().len(), 3);
}

async fn an_existing_account_joins_with_its_own_password(app: TestApp) {
    let acme = app.signup("Acme", "ada@acme.example").await;
    let other = app.signup("Other", "olga@other.example").await;
    let r = app
        .post(
            "/api/v1/users",
            &json!({"email": "olga@other.example", "name": "Olga", "role": "member", "password": PASSWORD}),
            Some(&acme.token),
        )
        .await;
    assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], "password");
    let r = app
        .post(
            "/api/v1/users",
            &json!({"email": "olga@other.example", "name": "Olga", "role": "member"}),
            Some(&acme.token),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["id"], other.user_id.as_str());
    let r = app.login("olga@other.example", PASSWORD, None).await;
    r.problem(422, "tenant_required");
}

async fn only_owners_touch_the_owner_role_and_the_last_owner_stays(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let admin = app.member(&owner, "ann@acme.example", "admin").await;
    let member = app.member(&owner, "bob@acme.example", "member").await;
    let path = |id: &str| format!("/api/v1/users/{id}");
    // Admin cannot grant owner, nor demote the owner.
    app.patch(&path(&member.user_id), &json!({"role": "owner"}), Some(&admin.token)).await.problem(403, "forbidden");
    app.patch(&path(&owner.user_id), &json!({"role": "member"}), Some(&admin.token)).await.problem(403, "forbidden");
    app.delete(&path(&owner.user_id), Some(&admin.token)).await.problem(403, "forbidden");
    // The last owner can be neither demoted nor removed.
    app.patch(&path(&owner.user_id), &json!({"role": "admin"}), Some(&owner.token)).await.problem(409, "last_owner");
    app.delete(&path(&owner.user_id), Some(&owner.token)).await.problem(409, "last_owner");
    // With a second owner, the first may step down.
    let r = app.patch(&path(&admin.user_id), &json!({"role": "owner"}), Some(&owner.token)).await;
    assert_eq!((r.status, r.body["role"].as_str()), (200, Some("owner")), "{}", r.text);
    let r = app.patch(&path(&owner.user_id), &json!({"role": "admin"}), Some(&owner.token)).await;
    assert_eq!(r.body["role"], "admin", "{}", r.text);
    // The role change applies to live sessions at once.
    app.get("/api/v1/api-keys", Some(&member.token)).await.problem(403, "forbidden");
    app.patch(&path(&member.user_id), &json!({"role": "admin"}), Some(&admin.token)).await;
    assert_eq!(app.get("/api/v1/api-keys", Some(&member.token)).await.status, 200);
    app.patch(&path(&member.user_id), &json!({"role": "sovereign"}), Some(&admin.token))
        .await
        .problem(422, "validation_failed");
}

async fn a_removed_person_is_signed_out_and_ids_of_other_portals_are_404(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let member = app.member(&owner, "bob@acme.example", "member").await;
    let evil = app.signup("Evil", "eve@evil.example").await;
    // Another portal's person, addressed from here: not found, never forbidden.
    for r in [
        app.patch(&format!("/api/v1/users/{}", owner.user_id), &json!({"role": "viewer"}), Some(&evil.token)).await,
        app.delete(&format!("/api/v1/users/{}", member.user_id), Some(&evil.token)).await,
        app.delete("/api/v1/users/not-a-uuid", Some(&evil.token)).await,
    ] {
        r.problem(404, "not_found");
    }
    let r = app.delete(&format!("/api/v1/users/{}", member.user_id), Some(&owner.token)).await;
    assert_eq!(r.status, 204, "{}", r.text);
    app.get("/api/v1/me", Some(&member.token)).await.problem(401, "unauthorized");
    app.login("bob@acme.example", PASSWORD, None).await.problem(403, "no_tenant");
}

async fn changing_the_password_needs_the_old_one_and_signs_out_other_sessions(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let other = app.login("ada@acme.example", PASSWORD, None).await.body["token"].as_str().unwrap().to_string();
    let r = app
        .post(
            "/api/v1/me/password",
            &json!({"current_password": "Wr0ng!Password", "new_password": "N3w-Passphrase!"}),
            Some(&owner.token),
        )
        .await;
    assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], "current_password");
    let r = app
        .post(
            "/api/v1/me/password",
            &json!({"current_password": PASSWORD, "new_password": "short"}),
            Some(&owner.token),
        )
        .await;
    assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], "new_password");
    let r = app
        .post(
            "/api/v1/me/password",
            &json!({"current_password": PASSWORD, "new_password": "N3w-Passphrase!"}),
            Some(&owner.token),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(app.get("/api/v1/me", Some(&owner.token)).await.status, 200, "this session stays");
    app.get("/api/v1/me", Some(&other)).await.problem(401, "unauthorized");
    app.login("ada@acme.example", PASSWORD, None).await.problem(401, "unauthorized");
    assert_eq!(app.login("ada@acme.example", "N3w-Passphrase!", None).await.status, 200);
}

async fn people_list_and_revoke_their_own_sessions(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let laptop = app.login("ada@acme.example", PASSWORD, None).await.body["token"].as_str().unwrap().to_string();
    let r = app.get("/api/v1/me/sessions", Some(&owner.token)).await;
    let sessions = r.body["data"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{}", r.text);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let laptop_id = app.get("/api/v1/me", Some(&laptop)).await.body["session"]["id"].as_str().unwrap().to_string();
    // Someone else cannot end it, even knowing its id.
    let member = app.member(&owner, "bob@acme.example", "admin").await;
    app.delete(&format!("/api/v1/me/sessions/{laptop_id}"), Some(&member.token)).await.problem(404, "not_found");
    let r = app.delete(&format!("/api/v1/me/sessions/{laptop_id}"), Some(&owner.token)).await;
    assert_eq!(r.status, 204, "{}", r.text);
    app.get("/api/v1/me", Some(&laptop)).await.problem(401, "unauthorized");
    app.delete(&format!("/api/v1/me/sessions/{laptop_id}"), Some(&owner.token)).await.problem(404, "not_found");
}

both_backends!(
    owners_and_admins_add_people_with_roles,
    an_existing_account_joins_with_its_own_password,
    only_owners_touch_the_owner_role_and_the_last_owner_stays,
    a_removed_person_is_signed_out_and_ids_of_other_portals_are_404,
    changing_the_password_needs_the_old_one_and_signs_out_other_sessions,
    people_list_and_revoke_their_own_sessions,
);
