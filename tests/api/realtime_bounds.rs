//! What one connection can cost the server is bounded: a catch-up from the outbox obeys
//! the same bounded queue as live delivery (a client that does not read holds a page, not
//! every event it missed), and derived views respect the reader's scopes.

use std::time::Duration;

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::TestApp;

/// The server's count of frames handed to websocket connections.
async fn frames_out(app: &TestApp) -> u64 {
    let m = app.get("/metrics", None).await.text;
    m.lines()
        .find_map(|l| l.strip_prefix("organizeo_realtime_frames_out_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

async fn a_catch_up_from_the_outbox_waits_for_the_client_to_read(app: TestApp) {
    let app = app
        .restart_with(|s| {
            // Nothing in memory: `since: 0` is read from the outbox.
            s.tuning.realtime.history = 1;
            s.max_body_bytes = 8 * 1024 * 1024;
        })
        .await;
    let owner = app.signup("Acme", "ada@acme.example").await;
    // 500 notes of 60 KB: 30 MB of catch-up, more than the socket buffers hold.
    let body = "x".repeat(60_000);
    for _ in 0..25 {
        let items: Vec<Value> = (0..20).map(|_| json!({"body": body})).collect();
        let r = app.post("/api/v1/notes/batch", &json!({"action": "create", "items": items}), Some(&owner.token)).await;
        assert_eq!(
            (r.status, r.body["created"].as_u64()),
            (200, Some(20)),
            "{}",
            r.text.chars().take(300).collect::<String>()
        );
    }
    let before = frames_out(&app).await;
    let mut ws = app.ws(&owner.token).await;
    ws.send(json!({"type": "subscribe", "topic": "crm", "since": 0})).await;
    // The client reads nothing: the server hands over frames until the buffers are full,
    // then waits. (Before pacing it queued all 500 at once.)
    // Stable: two readings 300 ms apart agree (the poll interval of this wait).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut last = frames_out(&app).await;
    let handed = loop {
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        let now = frames_out(&app).await;
        if now == last {
            break now;
        }
        assert!(std::time::Instant::now() < deadline, "the catch-up never paused for a client that reads nothing");
        last = now;
    };
    let queued = handed - before;
    assert!(queued < 500, "every frame was queued for a client that reads nothing ({queued})");
    // Reading, the client gets all 500 in order, then `subscribed`.
    for seq in 1..=500 {
        let f = ws.json().await;
        assert_eq!((f["type"].as_str(), f["seq"].as_i64()), (Some("event"), Some(seq)));
    }
    assert_eq!(ws.json().await["type"], "subscribed");
}

/// A key that reads contacts only does not read linked notes or tasks through a
/// contact's timeline, nor the portal's dashboard counters of deals, tickets and tasks.
async fn derived_views_respect_a_keys_scopes(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let c = app.contact(&owner, json!({"email": "grace@navy.example"})).await;
    let id = c["id"].as_str().unwrap();
    app.create(&owner, "/api/v1/notes", json!({"body": "secret note", "contact_ids": [id]})).await;
    app.create(&owner, "/api/v1/tasks", json!({"title": "secret task", "contact_ids": [id]})).await;
    let r = app
        .post(
            "/api/v1/api-keys",
            &json!({"name": "c", "scopes": ["contacts:read", "realtime:read"]}),
            Some(&owner.token),
        )
        .await;
    let key = r.body["key"].as_str().unwrap().to_string();
    let t = app.get(&format!("/api/v1/contacts/{id}/timeline"), Some(&key)).await;
    assert_eq!(t.status, 200, "{}", t.text);
    assert!(!t.text.contains("secret"), "a contacts-only key read linked notes or tasks: {}", t.text);
    let kinds: Vec<&str> = t.body["data"].as_array().unwrap().iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds, vec!["contact.created"]);
    // People see the whole history.
    let t = app.get(&format!("/api/v1/contacts/{id}/timeline"), Some(&owner.token)).await;
    assert!(t.text.contains("secret note") && t.text.contains("secret task"), "{}", t.text);
    // The dashboard summarises deals, tickets and tasks: refused to this key.
    let mut ws = app.ws(&key).await;
    let got = ws.subscribe("dashboard", None).await;
    assert_eq!(got.last().unwrap()["code"], "topic_forbidden", "{got:?}");
    // A key that reads every summarised object may watch it.
    let r = app
        .post(
            "/api/v1/api-keys",
            &json!({"name": "all", "scopes": ["contacts:read", "deals:read", "tickets:read", "tasks:read", "realtime:read"]}),
            Some(&owner.token),
        )
        .await;
    let mut ws = app.ws(r.body["key"].as_str().unwrap()).await;
    let got = ws.subscribe("dashboard", None).await;
    assert_eq!(got.last().unwrap()["type"], "subscribed", "{got:?}");
    assert_eq!(ws.until("snapshot", None).await["topic"], "dashboard");
}

both_backends!(a_catch_up_from_the_outbox_waits_for_the_client_to_read, derived_views_respect_a_keys_scopes);
