//! Feature flags by stage: portals see their features, release managers roll them out,
//! routes and websocket topics of a feature that is off are refused (and live
//! subscriptions end), announcements land in people's notification inbox, and a change on
//! one node applies on the others.

use std::time::Duration;

use organizeo::config::Secret;
use serde_json::{json, Value};

use crate::both_backends;
use crate::cluster::{bus_connected, redis_or_warn};
use crate::helpers::{wait_for, Signed, TestApp};
use crate::staff::staff_member;

fn feature<'a>(list: &'a Value, key: &str) -> &'a Value {
    list["data"].as_array().unwrap().iter().find(|f| f["key"] == key).unwrap_or_else(|| panic!("{key} in {list}"))
}

async fn patch_flag(app: &TestApp, rm: &str, key: &str, body: Value) -> crate::helpers::Resp {
    app.patch(&format!("/api/v1/staff/flags/{key}"), &body, Some(rm)).await
}

/// An import status read: 404 for an unknown id when the feature is on, 403 when off.
async fn imports_status(app: &TestApp, who: &Signed) -> u16 {
    app.get(&format!("/api/v1/imports/{}", uuid::Uuid::now_v7()), Some(&who.token)).await.status
}

async fn stages_decide_what_each_portal_has(app: TestApp) {
    let a = app.signup("Acme", "ada@acme.example").await;
    let b = app.signup("Bolt", "bob@bolt.example").await;
    let b_member = app.member(&b, "mo@bolt.example", "member").await;
    let (rm, _) = staff_member(&app, "rita@platform.example", "release_manager").await;
    let (support, _) = staff_member(&app, "sam@platform.example", "support").await;

    // A new install has every gated capability, generally available.
    let list = app.get("/api/v1/features", Some(&a.token)).await;
    assert_eq!(list.status, 200, "{}", list.text);
    for key in ["campaigns", "in_app_messages", "csv_import_export", "live_dashboard"] {
        let f = feature(&list.body, key);
        assert_eq!((f["stage"].as_str(), f["enabled"].as_bool()), (Some("ga"), Some(true)), "{f}");
    }
    assert_eq!(imports_status(&app, &a).await, 404);

    // Only release managers change flags; portal tokens never reach staff routes.
    patch_flag(&app, &support, "csv_import_export", json!({"stage": "off"})).await.problem(403, "forbidden");
    patch_flag(&app, &a.token, "csv_import_export", json!({"stage": "off"})).await.problem(401, "unauthorized");
    patch_flag(&app, &rm, "no_such_flag", json!({"stage": "off"})).await.problem(404, "not_found");
    patch_flag(&app, &rm, "csv_import_export", json!({"stage": "sometimes"})).await.problem(422, "validation_failed");
    let bad =
        patch_flag(&app, &rm, "csv_import_export", json!({"tenants": ["0190a0b0-0000-7000-8000-000000000009"]})).await;
    bad.problem(422, "validation_failed");

    // Private beta: listed portals only.
    let r =
        patch_flag(&app, &rm, "csv_import_export", json!({"stage": "private_beta", "tenants": [a.tenant_id]})).await;
    assert_eq!((r.status, r.body["stage"].as_str()), (200, Some("private_beta")), "{}", r.text);
    assert_eq!(r.body["tenants"], json!([a.tenant_id]));
    assert_eq!(imports_status(&app, &a).await, 404);
    let refused = app.get(&format!("/api/v1/imports/{}", uuid::Uuid::now_v7()), Some(&b.token)).await;
    assert_eq!(refused.problem(403, "feature_not_enabled")["feature"], "csv_import_export");
    let refused = app.get("/api/v1/exports/contacts.csv", Some(&b.token)).await;
    refused.problem(403, "feature_not_enabled");
    let theirs = app.get("/api/v1/features", Some(&b.token)).await;
    let f = feature(&theirs.body, "csv_import_export");
    assert_eq!((f["enabled"].as_bool(), f["can_opt_in"].as_bool()), (Some(false), Some(false)), "{f}");
    app.post("/api/v1/features/csv_import_export/opt-in", &json!({}), Some(&b.token))
        .await
        .problem(409, "not_public_beta");

    // Public beta: owners and admins opt in and out.
    let r = patch_flag(&app, &rm, "csv_import_export", json!({"stage": "public_beta"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(imports_status(&app, &a).await, 404, "listed portals keep it");
    assert_eq!(imports_status(&app, &b).await, 403);
    let f = feature(&app.get("/api/v1/features", Some(&b.token)).await.body, "csv_import_export").clone();
    assert_eq!((f["enabled"].as_bool(), f["can_opt_in"].as_bool()), (Some(false), Some(true)), "{f}");
    app.post("/api/v1/features/csv_import_export/opt-in", &json!({}), Some(&b_member.token))
        .await
        .problem(403, "forbidden");
    app.post("/api/v1/features/nope/opt-in", &json!({}), Some(&b.token)).await.problem(404, "not_found");
    let r = app.post("/api/v1/features/csv_import_export/opt-in", &json!({}), Some(&b.token)).await;
    assert_eq!((r.status, r.body["enabled"].as_bool()), (200, Some(true)), "{}", r.text);
    assert_eq!(imports_status(&app, &b).await, 404);
    let r = app.post("/api/v1/features/csv_import_export/opt-out", &json!({}), Some(&b.token)).await;
    assert_eq!((r.status, r.body["enabled"].as_bool()), (200, Some(false)), "{}", r.text);
    assert_eq!(imports_status(&app, &b).await, 403);
    let log = app.get("/api/v1/audit-log?action=feature", Some(&b.token)).await;
    let actions: Vec<&str> = log.body["data"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["feature.opted_out", "feature.opted_in"], "{}", log.text);

    // Off is the kill switch, for listed portals too; ga gives it back to all.
    patch_flag(&app, &rm, "csv_import_export", json!({"stage": "off"})).await;
    assert_eq!(imports_status(&app, &a).await, 403);
    patch_flag(&app, &rm, "csv_import_export", json!({"stage": "ga"})).await;
    assert_eq!((imports_status(&app, &a).await, imports_status(&app, &b).await), (404, 404));

    // Flags of the release managers' own: clients read them.
    let new = json!({"key": "new_editor", "name": "New editor", "stage": "private_beta"});
    let r = app.post("/api/v1/staff/flags", &new, Some(&rm)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    app.post("/api/v1/staff/flags", &new, Some(&rm)).await.problem(409, "conflict");
    app.post("/api/v1/staff/flags", &json!({"key": "Bad Key!", "name": "x"}), Some(&rm))
        .await
        .problem(422, "validation_failed");
    app.post("/api/v1/staff/flags", &json!({"key": "x2", "name": "x"}), Some(&support)).await.problem(403, "forbidden");
    let f = feature(&app.get("/api/v1/features", Some(&a.token)).await.body, "new_editor").clone();
    assert_eq!((f["stage"].as_str(), f["enabled"].as_bool()), (Some("private_beta"), Some(false)));
    let all = app.get("/api/v1/staff/flags", Some(&support)).await;
    assert_eq!(all.body["data"].as_array().unwrap().len(), 5, "{}", all.text);
    assert_eq!(feature(&all.body, "live_dashboard")["topics"], json!(["dashboard"]));

    // Every change is in the platform audit trail.
    let (sec, _) = staff_member(&app, "sue@platform.example", "security").await;
    let trail = app.get("/api/v1/staff/audit-log?action=flag&limit=100", Some(&sec)).await;
    let n = trail.body["data"].as_array().unwrap().len();
    assert_eq!(n, 5, "four changes and one creation: {}", trail.text);
}

async fn turning_a_topic_off_ends_live_subscriptions(app: TestApp) {
    let a = app.signup("Acme", "ada@acme.example").await;
    let (rm, _) = staff_member(&app, "rita@platform.example", "release_manager").await;
    let mut ws = app.ws(&a.token).await;
    let got = ws.subscribe("dashboard", None).await;
    assert_eq!(got.last().unwrap()["type"], "subscribed", "{got:?}");
    ws.subscribe("crm", None).await;
    let r = patch_flag(&app, &rm, "live_dashboard", json!({"stage": "off"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ended = ws.until("unsubscribed", None).await;
    assert_eq!(
        (ended["topic"].as_str(), ended["code"].as_str(), ended["feature"].as_str()),
        (Some("dashboard"), Some("feature_not_enabled"), Some("live_dashboard")),
        "{ended}"
    );
    // A new subscription is refused; the crm topic goes on.
    let got = ws.subscribe("dashboard", None).await;
    assert_eq!(
        (got.last().unwrap()["type"].as_str(), got.last().unwrap()["code"].as_str()),
        (Some("error"), Some("feature_not_enabled"))
    );
    app.contact(&a, json!({"email": "x@acme.example"})).await;
    let e = ws.until("event", Some("contact.created")).await;
    assert_eq!(e["topic"], "crm");
    // Back on: subscribing works again.
    patch_flag(&app, &rm, "live_dashboard", json!({"stage": "ga"})).await;
    let got = ws.subscribe("dashboard", None).await;
    assert!(got.iter().any(|f| f["type"] == "subscribed"), "{got:?}");
}

async fn announcements_reach_the_affected_inboxes_live(app: TestApp) {
    let a = app.signup("Acme", "ada@acme.example").await;
    let a_member = app.member(&a, "mo@acme.example", "member").await;
    let b = app.signup("Bolt", "bob@bolt.example").await;
    let (rm, _) = staff_member(&app, "rita@platform.example", "release_manager").await;
    let mut live = app.ws(&a_member.token).await;
    live.subscribe("notifications", None).await;
    // Off, unannounced; then a private beta for A, announced: A's people are affected (it
    // turns on for them), B's are not (it stays off).
    assert_eq!(patch_flag(&app, &rm, "campaigns", json!({"stage": "off"})).await.status, 200);
    let r = patch_flag(
        &app,
        &rm,
        "campaigns",
        json!({"stage": "private_beta", "tenants": [a.tenant_id],
               "announcement": {"title": "Campaigns are here", "body": "Send newsletters to your segments."}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let pushed = live.until("event", Some("notification.created")).await;
    assert_eq!(pushed["data"]["title"], "Campaigns are here");
    assert_eq!(pushed["data"]["user_id"], a_member.user_id.as_str());

    let counts = app.get("/api/v1/me/notifications/counts", Some(&a_member.token)).await;
    assert_eq!(counts.body, json!({"unread": 1, "unseen": 1, "total": 1}), "{}", counts.text);
    let mine = app.get("/api/v1/me/notifications", Some(&a_member.token)).await;
    let n = &mine.body["data"][0];
    assert_eq!((n["kind"].as_str(), n["data"]["feature"].as_str()), (Some("announcement"), Some("campaigns")));
    let id = n["id"].as_str().unwrap().to_string();
    assert_eq!(app.get("/api/v1/me/notifications/counts", Some(&b.token)).await.body["total"], 0);
    // Someone else's notification is not there for them.
    app.post(&format!("/api/v1/me/notifications/{id}/read"), &json!({}), Some(&a.token))
        .await
        .problem(404, "not_found");
    app.post(&format!("/api/v1/me/notifications/{id}/read"), &json!({}), Some(&b.token))
        .await
        .problem(404, "not_found");
    app.post("/api/v1/me/notifications/not-an-id/read", &json!({}), Some(&a_member.token))
        .await
        .problem(404, "not_found");

    let seen = app.post("/api/v1/me/notifications/seen", &json!({}), Some(&a_member.token)).await;
    assert_eq!(seen.body, json!({"unread": 1, "unseen": 0, "total": 1}), "{}", seen.text);
    let read = app.post(&format!("/api/v1/me/notifications/{id}/read"), &json!({}), Some(&a_member.token)).await;
    assert_eq!(read.body, json!({"unread": 0, "unseen": 0, "total": 1}), "{}", read.text);
    let again = app.post(&format!("/api/v1/me/notifications/{id}/read"), &json!({}), Some(&a_member.token)).await;
    assert_eq!(again.status, 200, "idempotent");
    let archived = app.post(&format!("/api/v1/me/notifications/{id}/archive"), &json!({}), Some(&a_member.token)).await;
    assert_eq!(archived.body["total"], 0);
    let shelf = app.get("/api/v1/me/notifications?status=archived", Some(&a_member.token)).await;
    assert_eq!(shelf.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(app.get("/api/v1/me/notifications", Some(&a_member.token)).await.body["data"], json!([]));
    app.get("/api/v1/me/notifications?status=bogus", Some(&a_member.token)).await.problem(422, "validation_failed");
    app.get("/api/v1/me/notifications?after=zzz", Some(&a_member.token)).await.problem(422, "validation_failed");

    // A public beta concerns every portal (each may opt in). Paging, newest first;
    // read-all and archive-all.
    for i in 0..3 {
        let body = json!({"stage": "public_beta", "announcement": {"title": format!("News {i}"), "body": "…"}});
        assert_eq!(patch_flag(&app, &rm, "campaigns", body).await.status, 200);
    }
    assert_eq!(app.get("/api/v1/me/notifications/counts", Some(&b.token)).await.body["total"], 3);
    let page = app.get("/api/v1/me/notifications?limit=2", Some(&a.token)).await;
    let titles: Vec<&str> = page.body["data"].as_array().unwrap().iter().filter_map(|n| n["title"].as_str()).collect();
    assert_eq!(titles, ["News 2", "News 1"], "{}", page.text);
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let rest = app.get(&format!("/api/v1/me/notifications?limit=2&after={cursor}"), Some(&a.token)).await;
    let titles: Vec<&str> = rest.body["data"].as_array().unwrap().iter().filter_map(|n| n["title"].as_str()).collect();
    assert_eq!(titles, ["News 0", "Campaigns are here"]);
    let all = app.post("/api/v1/me/notifications/read-all", &json!({}), Some(&a.token)).await;
    assert_eq!(all.body["unread"], 0);
    let all = app.post("/api/v1/me/notifications/archive-all", &json!({}), Some(&a.token)).await;
    assert_eq!(all.body, json!({"unread": 0, "unseen": 0, "total": 0}));
    // Keys have no inbox.
    let key = app.post("/api/v1/api-keys", &json!({"name": "k", "scopes": ["contacts:read"]}), Some(&a.token)).await;
    let key = key.body["key"].as_str().unwrap();
    app.get("/api/v1/me/notifications", Some(key)).await.problem(403, "user_required");
}

/// A flag changed through one node applies on another at once (the bus), without restart.
async fn a_flag_change_reaches_every_node(app: TestApp) {
    let Some(redis) = redis_or_warn() else { return };
    let a = app.restart_with(|s| s.redis_url = Some(Secret::new(redis.clone()))).await;
    let b = a.another_node(|_| {}).await;
    bus_connected(&a, true).await;
    bus_connected(&b, true).await;
    let owner = a.signup("Acme", "ada@acme.example").await;
    let (rm, _) = staff_member(&a, "rita@platform.example", "release_manager").await;
    let mut on_b = b.ws(&owner.token).await;
    on_b.subscribe("dashboard", None).await;
    assert_eq!(imports_status(&b, &owner).await, 404);
    patch_flag(&a, &rm, "csv_import_export", json!({"stage": "off"})).await;
    patch_flag(&a, &rm, "live_dashboard", json!({"stage": "off"})).await;
    wait_for("node B refuses the import routes", Duration::from_secs(10), || async {
        (imports_status(&b, &owner).await == 403).then_some(())
    })
    .await;
    let ended = on_b.until("unsubscribed", None).await;
    assert_eq!(ended["feature"], "live_dashboard");
}

both_backends!(
    stages_decide_what_each_portal_has,
    turning_a_topic_off_ends_live_subscriptions,
    announcements_reach_the_affected_inboxes_live,
    a_flag_change_reaches_every_node,
);
