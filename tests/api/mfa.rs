//! TOTP two-factor authentication end to end: enrolment, sign-in, replay, recovery codes,
//! expiry, disabling, encryption at rest, and the portal-wide requirement.

use chrono::Duration;
use diesel::prelude::*;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{TestApp, PASSWORD};

async fn mfa_token_for(app: &TestApp, email: &str) -> String {
    let r = app.login(email, PASSWORD, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["mfa_required"], true, "{}", r.text);
    assert!(r.body.get("token").is_none(), "no session before the second factor");
    r.body["mfa_token"].as_str().unwrap().to_string()
}

async fn enrolment_gives_a_uri_a_qr_and_recovery_codes_then_login_needs_a_code(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let r = app.post("/api/v1/me/mfa/totp", &json!({}), Some(&owner.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let secret = r.body["secret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 32, "160-bit secret in base32");
    let url = r.body["otpauth_url"].as_str().unwrap();
    assert!(url.starts_with("otpauth://totp/Organizeo:ada%40acme.example?"), "{url}");
    assert!(url.contains(&format!("secret={secret}")) && url.contains("issuer=Organizeo"), "{url}");
    assert!(r.body["qr_svg"].as_str().unwrap().starts_with("<svg"));
    // Not on until confirmed.
    assert_eq!(app.get("/api/v1/me", Some(&owner.token)).await.body["mfa_enabled"], false);
    assert_eq!(app.login("ada@acme.example", PASSWORD, None).await.body["mfa_required"], serde_json::Value::Null);

    let wrong = app.post("/api/v1/me/mfa/totp/confirm", &json!({"code": "000000"}), Some(&owner.token)).await;
    wrong.problem(422, "validation_failed");
    let r = app.post("/api/v1/me/mfa/totp/confirm", &json!({"code": app.totp_code(&secret)}), Some(&owner.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["recovery_codes"].as_array().unwrap().len(), 10);
    assert_eq!(app.get("/api/v1/me", Some(&owner.token)).await.body["mfa_enabled"], true);
    app.post("/api/v1/me/mfa/totp", &json!({}), Some(&owner.token)).await.problem(409, "mfa_already_enabled");

    app.clock.advance(Duration::seconds(30));
    let challenge = mfa_token_for(&app, "ada@acme.example").await;
    let r = app.post("/api/v1/auth/mfa", &json!({"mfa_token": challenge, "code": app.totp_code(&secret)}), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["tenant_id"], owner.tenant_id.as_str());
    let token = r.body["token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/me", Some(token)).await.status, 200);
    // The challenge is single use.
    app.post("/api/v1/auth/mfa", &json!({"mfa_token": challenge, "code": app.totp_code(&secret)}), None)
        .await
        .problem(401, "unauthorized");
}

async fn a_code_is_never_accepted_twice(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (secret, _) = app.enable_mfa(&owner.token).await;
    let code = app.totp_code(&secret);
    let first = mfa_token_for(&app, "ada@acme.example").await;
    let r = app.post("/api/v1/auth/mfa", &json!({"mfa_token": first, "code": code}), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Same code, new challenge, same 30 s window: refused (replay guard).
    let second = mfa_token_for(&app, "ada@acme.example").await;
    let r = app.post("/api/v1/auth/mfa", &json!({"mfa_token": second, "code": code}), None).await;
    r.problem(401, "unauthorized");
    // Within the skew window the previous step's code is refused too, once a newer one was used.
    app.clock.advance(Duration::seconds(30));
    let r = app.post("/api/v1/auth/mfa", &json!({"mfa_token": second, "code": code}), None).await;
    r.problem(401, "unauthorized");
    let r = app.post("/api/v1/auth/mfa", &json!({"mfa_token": second, "code": app.totp_code(&secret)}), None).await;
    assert_eq!(r.status, 200, "the next step's code works: {}", r.text);
}

async fn recovery_codes_work_once_each(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (_, codes) = app.enable_mfa(&owner.token).await;
    let challenge = mfa_token_for(&app, "ada@acme.example").await;
    let typed = codes[3].to_uppercase().replace('-', " ");
    let r = app.post("/api/v1/auth/mfa", &json!({"mfa_token": challenge, "code": typed}), None).await;
    assert_eq!(r.status, 200, "case and separators are forgiven: {}", r.text);
    let challenge = mfa_token_for(&app, "ada@acme.example").await;
    let r = app.post("/api/v1/auth/mfa", &json!({"mfa_token": challenge, "code": codes[3]}), None).await;
    r.problem(401, "unauthorized");
    let r = app.post("/api/v1/auth/mfa", &json!({"mfa_token": challenge, "code": codes[4]}), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let actions = app.audit_actions(r.body["token"].as_str().unwrap()).await;
    assert_eq!(actions.iter().filter(|a| *a == "auth.mfa.recovery_code_used").count(), 2);
}

async fn the_second_step_expires_and_allows_few_attempts(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (secret, _) = app.enable_mfa(&owner.token).await;
    let challenge = mfa_token_for(&app, "ada@acme.example").await;
    app.clock.advance(Duration::minutes(5) + Duration::seconds(1));
    let r = app.post("/api/v1/auth/mfa", &json!({"mfa_token": challenge, "code": app.totp_code(&secret)}), None).await;
    r.problem(401, "unauthorized");

    let challenge = mfa_token_for(&app, "ada@acme.example").await;
    for _ in 0..5 {
        let r = app.post("/api/v1/auth/mfa", &json!({"mfa_token": challenge, "code": "000000"}), None).await;
        assert!(r.status == 401 || r.status == 429, "{}", r.text);
    }
    // Burnt after five wrong codes, even with the right one (and throttled meanwhile).
    let r = app.post("/api/v1/auth/mfa", &json!({"mfa_token": challenge, "code": app.totp_code(&secret)}), None).await;
    assert!(r.status == 401 || r.status == 429, "{}", r.text);
    app.post("/api/v1/auth/mfa", &json!({"mfa_token": "ozm_forged", "code": "123456"}), None)
        .await
        .problem(401, "unauthorized");
}

async fn disabling_needs_a_current_code(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (secret, _) = app.enable_mfa(&owner.token).await;
    app.delete_json("/api/v1/me/mfa/totp", &json!({"code": "123456"}), Some(&owner.token))
        .await
        .problem(422, "validation_failed");
    assert_eq!(app.get("/api/v1/me", Some(&owner.token)).await.body["mfa_enabled"], true);
    let r = app.delete_json("/api/v1/me/mfa/totp", &json!({"code": app.totp_code(&secret)}), Some(&owner.token)).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app.login("ada@acme.example", PASSWORD, None).await;
    assert!(r.body["token"].is_string(), "2FA off: a password is enough again: {}", r.text);
    app.delete_json("/api/v1/me/mfa/totp", &json!({"code": "123456"}), Some(&owner.token))
        .await
        .problem(409, "mfa_not_enabled");
}

async fn the_totp_secret_is_encrypted_at_rest(app: TestApp) {
    use organizeo::db::schema::users;
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (secret, _) = app.enable_mfa(&owner.token).await;
    let raw = totp_rs::Secret::Encoded(secret.clone()).to_bytes().unwrap();
    let mut conn = app.db_conn();
    let (stored, key_id): (Option<String>, Option<String>) =
        users::table.find(&owner.user_id).select((users::totp_secret, users::totp_key_id)).first(&mut conn).unwrap();
    let stored = stored.unwrap();
    assert_eq!(key_id.as_deref(), Some("test"), "the key id sits beside the ciphertext");
    assert!(!stored.contains(&secret));
    use base64::Engine;
    let blob = base64::engine::general_purpose::STANDARD.decode(&stored).unwrap();
    assert_eq!(blob.len(), 12 + 20 + 16, "nonce + ciphertext + tag");
    assert!(!blob.windows(raw.len()).any(|w| w == raw.as_slice()), "plaintext secret stored");
}

async fn a_portal_can_require_2fa_and_people_without_it_can_only_enrol(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let member = app.member(&owner, "bob@acme.example", "member").await;
    let r = app.patch("/api/v1/tenant", &json!({"require_mfa": true}), Some(&member.token)).await;
    r.problem(403, "forbidden");
    let r = app.patch("/api/v1/tenant", &json!({"require_mfa": true}), Some(&owner.token)).await;
    assert_eq!((r.status, r.body["require_mfa"].as_bool()), (200, Some(true)), "{}", r.text);

    // Bob can still sign in, but only to enrol.
    let login = app.login("bob@acme.example", PASSWORD, None).await;
    let token = login.body["token"].as_str().unwrap().to_string();
    for (path, expected) in [("/api/v1/tenant", 403), ("/api/v1/users", 403), ("/api/v1/me/sessions", 403)] {
        let r = app.get(path, Some(&token)).await;
        assert_eq!(r.status, expected, "{path}: {}", r.text);
        assert_eq!(r.body["code"], "mfa_enrollment_required");
    }
    let me = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["mfa_enrollment_required"], true);
    let (secret, _) = app.enable_mfa(&token).await;
    assert_eq!(app.get("/api/v1/tenant", Some(&token)).await.status, 200, "enrolled: gate lifted");
    // And 2FA cannot be switched off while the portal requires it.
    app.delete_json("/api/v1/me/mfa/totp", &json!({"code": "123456"}), Some(&token))
        .await
        .problem(403, "mfa_required_by_portal");
    // Nor from another portal of theirs that does not require it: 2FA is the person's,
    // and their sessions in the requiring portal would go on without it.
    let other = app.post("/api/v1/me/tenants", &json!({"name": "Bob's own"}), Some(&token)).await;
    assert_eq!(other.status, 201, "{}", other.text);
    let other_id = other.body["id"].as_str().unwrap().to_string();
    let step = app.login("bob@acme.example", PASSWORD, Some(&other_id)).await;
    let mfa_token = step.body["mfa_token"].as_str().unwrap_or_else(|| panic!("{}", step.text)).to_string();
    let done =
        app.post("/api/v1/auth/mfa", &json!({"mfa_token": mfa_token, "code": app.totp_code(&secret)}), None).await;
    let elsewhere = done.body["token"].as_str().unwrap_or_else(|| panic!("{}", done.text)).to_string();
    let r = app.delete_json("/api/v1/me/mfa/totp", &json!({"code": "123456"}), Some(&elsewhere)).await;
    assert!(r.problem(403, "mfa_required_by_portal")["detail"].as_str().unwrap().contains("Acme"), "{}", r.text);
    app.post("/api/v1/auth/logout", &json!({}), Some(&token)).await;
}

/// Challenges do not pile up: a day after they expire, answered or not, the purge
/// deletes them (and an expired one was refused before that).
async fn expired_challenges_are_purged(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.enable_mfa(&owner.token).await;
    let first = mfa_token_for(&app, "ada@acme.example").await;
    mfa_token_for(&app, "ada@acme.example").await;
    let db = organizeo::db::Db::connect(&app.db.url(), 1).unwrap();
    assert_eq!(organizeo::jobs::purge::step(&db, &app.clock).await.unwrap().challenges, 0, "live ones stay");
    app.clock.advance(chrono::Duration::minutes(10));
    let r = app.post("/api/v1/auth/mfa", &json!({"mfa_token": first, "code": "000000"}), None).await;
    assert_eq!(r.status, 401, "expired: {}", r.text);
    assert_eq!(organizeo::jobs::purge::step(&db, &app.clock).await.unwrap().challenges, 0, "kept a day");
    assert_eq!(challenge_rows(&app), 2, "kept a day");
    app.clock.advance(chrono::Duration::days(1));
    // The node's own purge loop shares the clock and may get there first: count the rows.
    let purged = organizeo::jobs::purge::step(&db, &app.clock).await.unwrap().challenges;
    assert!(purged <= 2, "{purged}");
    assert_eq!(challenge_rows(&app), 0, "purged a day after they expired");
    assert_eq!(organizeo::jobs::purge::step(&db, &app.clock).await.unwrap().challenges, 0);
}

fn challenge_rows(app: &TestApp) -> i64 {
    organizeo::db::schema::mfa_challenges::table.count().get_result(&mut app.db_conn()).unwrap()
}

both_backends!(
    expired_challenges_are_purged,
    enrolment_gives_a_uri_a_qr_and_recovery_codes_then_login_needs_a_code,
    a_code_is_never_accepted_twice,
    recovery_codes_work_once_each,
    the_second_step_expires_and_allows_few_attempts,
    disabling_needs_a_current_code,
    the_totp_secret_is_encrypted_at_rest,
    a_portal_can_require_2fa_and_people_without_it_can_only_enrol,
);
