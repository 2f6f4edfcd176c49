//! Losing access reaches live connections: every way a credential stops being valid closes
//! its websockets with 4003 and the reason, promptly, and nothing more is delivered to
//! them. Other connections of the portal keep receiving.

use serde_json::json;

use crate::both_backends;
use crate::helpers::{Signed, TestApp, PASSWORD};
use crate::ws::Ws;

const ACCESS_REVOKED: u16 = 4003;

/// A websocket subscribed to `crm`.
async fn watching(app: &TestApp, token: &str) -> Ws {
    let mut ws = app.ws(token).await;
    ws.subscribe("crm", None).await;
    ws
}

/// A second watcher that keeps its access, and proof it still receives.
async fn bystander_still_receives(app: &TestApp, owner: &Signed, witness: &mut Ws) {
    let c = app.contact(owner, json!({"email": format!("after-{}@x.example", uuid::Uuid::new_v4())})).await;
    let got = witness.until("event", Some("contact.created")).await;
    assert_eq!(got["data"]["id"], c["id"]);
}

/// The closed socket got 4003 with `reason`, and no record created after the revocation.
async fn closed_for(ws: &mut Ws, reason: &str) {
    loop {
        match ws.next(crate::ws::WAIT).await {
            crate::ws::Got::Json(v) => {
                assert_ne!(v["event"], "contact.created", "a record reached a revoked socket: {v}");
            }
            crate::ws::Got::Close(code) => {
                assert_eq!(code, Some(ACCESS_REVOKED));
                assert_eq!(ws.close_reason.as_deref(), Some(reason));
                return;
            }
            crate::ws::Got::Ended => panic!("the connection ended without a close frame"),
            crate::ws::Got::Ping => {}
        }
    }
}

async fn a_removed_member_is_disconnected(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let member = app.member(&owner, "mo@acme.example", "member").await;
    let mut theirs = watching(&app, &member.token).await;
    let mut witness = watching(&app, &owner.token).await;
    let r = app.delete(&format!("/api/v1/users/{}", member.user_id), Some(&owner.token)).await;
    assert_eq!(r.status, 204, "{}", r.text);
    bystander_still_receives(&app, &owner, &mut witness).await;
    closed_for(&mut theirs, "removed_from_portal").await;
}

async fn signing_out_closes_that_sessions_sockets_only(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let other = app.sign_in("ada@acme.example").await;
    let mut signed_out = watching(&app, &owner.token).await;
    let mut same_person_other_session = watching(&app, &other).await;
    let r = app.post("/api/v1/auth/logout", &json!({}), Some(&owner.token)).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let c = app.contact(&Signed { token: other.clone(), ..owner.clone() }, json!({"email": "x@x.example"})).await;
    let got = same_person_other_session.until("event", Some("contact.created")).await;
    assert_eq!(got["data"]["id"], c["id"]);
    closed_for(&mut signed_out, "signed_out").await;
}

async fn revoking_a_session_from_the_list_closes_its_sockets(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let laptop = app.sign_in("ada@acme.example").await;
    let mut on_laptop = watching(&app, &laptop).await;
    let me = app.get("/api/v1/me", Some(&laptop)).await;
    let laptop_session = me.body["session"]["id"].as_str().unwrap().to_string();
    let r = app.delete(&format!("/api/v1/me/sessions/{laptop_session}"), Some(&owner.token)).await;
    assert_eq!(r.status, 204, "{}", r.text);
    closed_for(&mut on_laptop, "session_revoked").await;
}

async fn a_password_change_closes_the_other_sessions_in_every_portal(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    // A second portal of the same person.
    let r = app.post("/api/v1/me/tenants", &json!({"name": "Acme Two"}), Some(&owner.token)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let second = r.body["id"].as_str().unwrap().to_string();
    let there =
        app.login("ada@acme.example", PASSWORD, Some(&second)).await.body["token"].as_str().unwrap().to_string();
    let elsewhere = app.login("ada@acme.example", PASSWORD, Some(&owner.tenant_id)).await.body["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut in_second = watching(&app, &there).await;
    let mut in_first = watching(&app, &elsewhere).await;
    let mut mine = watching(&app, &owner.token).await;
    let r = app
        .post(
            "/api/v1/me/password",
            &json!({"current_password": PASSWORD, "new_password": "Another-Long-Pass-42"}),
            Some(&owner.token),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    closed_for(&mut in_second, "password_changed").await;
    closed_for(&mut in_first, "password_changed").await;
    bystander_still_receives(&app, &owner, &mut mine).await;
}

async fn deleting_or_rotating_a_key_closes_its_sockets(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let mut keys = Vec::new();
    for name in ["deleted", "rotated"] {
        let r = app
            .post(
                "/api/v1/api-keys",
                &json!({"name": name, "scopes": ["contacts:read", "realtime:read"]}),
                Some(&owner.token),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        keys.push((r.body["id"].as_str().unwrap().to_string(), r.body["key"].as_str().unwrap().to_string()));
    }
    let mut deleted = watching(&app, &keys[0].1).await;
    let mut rotated = watching(&app, &keys[1].1).await;
    let r = app.delete(&format!("/api/v1/api-keys/{}", keys[0].0), Some(&owner.token)).await;
    assert_eq!(r.status, 204, "{}", r.text);
    closed_for(&mut deleted, "key_deleted").await;
    let r = app.post(&format!("/api/v1/api-keys/{}/rotate", keys[1].0), &json!({}), Some(&owner.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    closed_for(&mut rotated, "key_rotated").await;
    // The new secret connects and receives.
    let mut fresh = watching(&app, r.body["key"].as_str().unwrap()).await;
    bystander_still_receives(&app, &owner, &mut fresh).await;
}

async fn requiring_2fa_closes_the_sockets_of_people_without_it(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.enable_mfa(&owner.token).await;
    let member = app.member(&owner, "mo@acme.example", "member").await;
    let mut without = watching(&app, &member.token).await;
    let mut with = watching(&app, &owner.token).await;
    let r = app.patch("/api/v1/tenant", &json!({"require_mfa": true}), Some(&owner.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    closed_for(&mut without, "mfa_required").await;
    bystander_still_receives(&app, &owner, &mut with).await;
}

async fn an_expired_session_is_disconnected_by_the_servers_clock(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let app = app.restart_with(|s| s.realtime_heartbeat = std::time::Duration::from_millis(100)).await;
    let token = app.sign_in("ada@acme.example").await;
    let mut ws = watching(&app, &token).await;
    app.clock.advance(chrono::Duration::hours(13)); // past the 12 h session lifetime
    closed_for(&mut ws, "expired").await;
    let _ = owner;
}

both_backends!(
    a_removed_member_is_disconnected,
    signing_out_closes_that_sessions_sockets_only,
    revoking_a_session_from_the_list_closes_its_sockets,
    a_password_change_closes_the_other_sessions_in_every_portal,
    deleting_or_rotating_a_key_closes_its_sockets,
    requiring_2fa_closes_the_sockets_of_people_without_it,
    an_expired_session_is_disconnected_by_the_servers_clock,
);
