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
        json!({"email": "x@acme.example", "name": "X", "role": "member", "password": "weak"}),
    ] {
        app.post("/api/v1/users", &body, Some(&owner.token)).await.problem(422, "validation_failed");
    }
    app.post("/api/v1/users", &json!({"email": "ann@acme.example", "name": "A", "role": "member"}), Some(&owner.token))
        .await
        .problem(409, "already_member");
    assert_eq!(app.get("/api/v1/users", Some(&owner.token)).await.body["data"].as_array().unwrap().len(), 3);
}

/// Adding someone is an invitation they accept: an existing account is not added without
/// consent, and the answer is the same whether the email has an account or not (no
/// enumeration, no leak of the person's name or 2FA state).
async fn adding_a_person_is_an_invitation_answered_alike_for_known_and_unknown_emails(app: TestApp) {
    let acme = app.signup("Acme", "ada@acme.example").await;
    let other = app.signup("Other", "olga@other.example").await;
    let invite = |email: &str, password: Option<&str>| {
        let mut body = json!({"email": email, "name": "Someone", "role": "member"});
        if let Some(p) = password {
            body["password"] = json!(p);
        }
        body
    };
    let known = app.post("/api/v1/users", &invite("olga@other.example", Some(PASSWORD)), Some(&acme.token)).await;
    let unknown = app.post("/api/v1/users", &invite("nobody@nowhere.example", Some(PASSWORD)), Some(&acme.token)).await;
    let known_bare = app.post("/api/v1/users", &invite("OLGA@other.example", None), Some(&acme.token)).await;
    let unknown_bare = app.post("/api/v1/users", &invite("ghost@nowhere.example", None), Some(&acme.token)).await;
    for r in [&known, &unknown, &known_bare, &unknown_bare] {
        assert_eq!(r.status, 202, "{}", r.text);
        let mut keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["created_at", "email", "expires_at", "id", "role", "status"], "{}", r.text);
        assert_eq!(r.body["status"], "pending");
        assert!(!r.text.contains("Olga") && !r.text.contains("mfa"), "leaks the account: {}", r.text);
    }
    assert_eq!(known_bare.body["id"], known.body["id"], "inviting again refreshes the one invitation");
    // Olga is not in Acme until she says so; her own password still stands.
    let members = app.get("/api/v1/users", Some(&acme.token)).await;
    assert!(!members.text.contains("olga@other.example"), "added without consent: {}", members.text);
    let pending = app.get("/api/v1/invitations", Some(&acme.token)).await;
    assert_eq!(pending.body["data"].as_array().unwrap().len(), 3, "{}", pending.text);
    let hers = app.get("/api/v1/me/invitations", Some(&other.token)).await;
    let list = hers.body["data"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{}", hers.text);
    assert_eq!((list[0]["tenant"]["name"].as_str(), list[0]["role"].as_str()), (Some("Acme"), Some("member")));
    // Nobody else can answer it: another person, or another portal's id.
    let id = known.body["id"].as_str().unwrap();
    app.post(&format!("/api/v1/me/invitations/{id}/accept"), &json!({}), Some(&acme.token))
        .await
        .problem(404, "not_found");
    let r = app.post(&format!("/api/v1/me/invitations/{id}/accept"), &json!({}), Some(&other.token)).await;
    assert_eq!((r.status, r.body["tenant_id"].as_str()), (200, Some(acme.tenant_id.as_str())), "{}", r.text);
    app.post(&format!("/api/v1/me/invitations/{id}/accept"), &json!({}), Some(&other.token))
        .await
        .problem(404, "not_found");
    let login = app.login("olga@other.example", PASSWORD, Some(&acme.tenant_id)).await;
    assert_eq!(login.status, 200, "her own password, in the portal she joined: {}", login.text);
    let members = app.get("/api/v1/users", Some(&acme.token)).await;
    assert!(members.text.contains("olga@other.example"));

    // The brand-new account: its sign-in lists the invitation until it accepts one.
    let r = app.login("nobody@nowhere.example", PASSWORD, None).await;
    let p = r.problem(422, "invitation_required");
    assert_eq!(p["invitations"][0]["id"], unknown.body["id"]);
    let r = app
        .post(
            "/api/v1/auth/login",
            &json!({"email": "nobody@nowhere.example", "password": PASSWORD, "invitation_id": unknown.body["id"]}),
            None,
        )
        .await;
    assert_eq!((r.status, r.body["tenant_id"].as_str()), (200, Some(acme.tenant_id.as_str())), "{}", r.text);

    // Declined and revoked invitations cannot be accepted.
    let ghost = unknown_bare.body["id"].as_str().unwrap();
    // Another portal's owner: not found (no oracle).
    app.delete(&format!("/api/v1/invitations/{ghost}"), Some(&other.token)).await.problem(404, "not_found");
    assert_eq!(app.delete(&format!("/api/v1/invitations/{ghost}"), Some(&acme.token)).await.status, 204);
    app.delete(&format!("/api/v1/invitations/{ghost}"), Some(&acme.token)).await.problem(404, "not_found");
    let r = app.post("/api/v1/users", &invite("olga@other.example", None), Some(&acme.token)).await;
    r.problem(409, "already_member");
    // Another portal invites Olga; she declines.
    let third = app.signup("Third", "tom@third.example").await;
    let r = app.post("/api/v1/users", &invite("olga@other.example", None), Some(&third.token)).await;
    let id = r.body["id"].as_str().unwrap();
    assert_eq!(
        app.post(&format!("/api/v1/me/invitations/{id}/decline"), &json!({}), Some(&other.token)).await.status,
        204
    );
    app.post(&format!("/api/v1/me/invitations/{id}/accept"), &json!({}), Some(&other.token))
        .await
        .problem(404, "not_found");
    // Invitations expire after 7 days.
    let r = app.post("/api/v1/users", &invite("late@nowhere.example", Some(PASSWORD)), Some(&acme.token)).await;
    app.clock.advance(chrono::Duration::days(8));
    let r2 = app
        .post(
            "/api/v1/auth/login",
            &json!({"email": "late@nowhere.example", "password": PASSWORD, "invitation_id": r.body["id"]}),
            None,
        )
        .await;
    r2.problem(422, "validation_failed");
}

/// With 2FA on, an invitation accepted at sign-in is accepted only once the second factor
/// is proven.
async fn an_invitation_accepted_at_sign_in_waits_for_the_second_factor(app: TestApp) {
    let acme = app.signup("Acme", "ada@acme.example").await;
    let olga = app.signup("Other", "olga@other.example").await;
    let (secret, _) = app.enable_mfa(&olga.token).await;
    let r = app
        .post(
            "/api/v1/users",
            &json!({"email": "olga@other.example", "name": "O", "role": "viewer"}),
            Some(&acme.token),
        )
        .await;
    let invitation = r.body["id"].as_str().unwrap().to_string();
    let step = app
        .post(
            "/api/v1/auth/login",
            &json!({"email": "olga@other.example", "password": PASSWORD, "invitation_id": invitation}),
            None,
        )
        .await;
    let mfa_token = step.body["mfa_token"].as_str().expect("a second step").to_string();
    // Not a member yet: only the password was proven.
    assert!(!app.get("/api/v1/users", Some(&acme.token)).await.text.contains("olga@other.example"));
    let r = app.post("/api/v1/auth/mfa", &json!({"mfa_token": mfa_token, "code": app.totp_code(&secret)}), None).await;
    assert_eq!((r.status, r.body["tenant_id"].as_str()), (200, Some(acme.tenant_id.as_str())), "{}", r.text);
    let me = app.get("/api/v1/me", Some(r.body["token"].as_str().unwrap())).await;
    assert_eq!(me.body["role"], "viewer");
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
    adding_a_person_is_an_invitation_answered_alike_for_known_and_unknown_emails,
    an_invitation_accepted_at_sign_in_waits_for_the_second_factor,
    only_owners_touch_the_owner_role_and_the_last_owner_stays,
    a_removed_person_is_signed_out_and_ids_of_other_portals_are_404,
    changing_the_password_needs_the_old_one_and_signs_out_other_sessions,
    people_list_and_revoke_their_own_sessions,
);
