//! The end user's inbox: exact counts through every transition (and under concurrent
//! read-all and new messages), isolation between users and portals, CORS, and live push
//! of a 10,000-recipient message arriving once on each websocket.

use std::time::Duration;

use awc::http::Method;
use serde_json::json;

use crate::helpers::{wait_for, TestApp};
use crate::inapp::{as_user, counts, hash, inbox, portal, send, Portal};
use crate::ws::Ws;

async fn post(app: &TestApp, p: &Portal, user: &str, path: &str) -> serde_json::Value {
    let r = as_user(app, p, user, Method::POST, path, None).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    r.body
}

/// Counts as the counter row gives them, and as the items say.
async fn check_exact(app: &TestApp, p: &Portal, user: &str) -> (i64, i64, i64) {
    let c = counts(app, p, user).await;
    let all = inbox(app, p, user, "all").await;
    let unread = all.iter().filter(|i| i["read_at"].is_null()).count() as i64;
    let unseen = all.iter().filter(|i| i["seen_at"].is_null()).count() as i64;
    assert_eq!(c, (unread, unseen, all.len() as i64), "counters agree with the items");
    c
}

async fn counts_are_exact_through_every_transition(app: TestApp) {
    let p = portal(&app, "Acme", "ada@acme.example").await;
    for n in 0..3 {
        send(&app, &p, json!({"audience": {"user_ids": ["u1"]}, "title": format!("m{n}")})).await;
    }
    assert_eq!(check_exact(&app, &p, "u1").await, (3, 3, 3));
    let items = inbox(&app, &p, "u1", "all").await;
    assert_eq!(items[0]["title"], "m2", "newest first");
    let ids: Vec<String> = items.iter().map(|i| i["id"].as_str().unwrap().to_string()).collect();
    let b = post(&app, &p, "u1", &format!("/api/v1/inbox/{}/seen", ids[0])).await;
    assert_eq!(b["counts"], json!({"unread": 3, "unseen": 2, "total": 3}));
    post(&app, &p, "u1", &format!("/api/v1/inbox/{}/seen", ids[0])).await; // idempotent
    assert_eq!(check_exact(&app, &p, "u1").await, (3, 2, 3));
    post(&app, &p, "u1", &format!("/api/v1/inbox/{}/read", ids[1])).await;
    assert_eq!(check_exact(&app, &p, "u1").await, (2, 1, 3));
    post(&app, &p, "u1", &format!("/api/v1/inbox/{}/unread", ids[1])).await;
    assert_eq!(check_exact(&app, &p, "u1").await, (3, 1, 3));
    post(&app, &p, "u1", &format!("/api/v1/inbox/{}/archive", ids[2])).await;
    assert_eq!(check_exact(&app, &p, "u1").await, (2, 0, 2));
    assert_eq!(inbox(&app, &p, "u1", "archived").await.len(), 1);
    post(&app, &p, "u1", &format!("/api/v1/inbox/{}/unarchive", ids[2])).await;
    assert_eq!(check_exact(&app, &p, "u1").await, (2, 0, 3));
    assert_eq!(inbox(&app, &p, "u1", "read").await.len(), 1);
    let all = post(&app, &p, "u1", "/api/v1/inbox/read-all").await;
    assert_eq!(all["counts"], json!({"unread": 0, "unseen": 0, "total": 3}));
    let all = post(&app, &p, "u1", "/api/v1/inbox/archive-all").await;
    assert_eq!((all["changed"].as_i64(), &all["counts"]), (Some(3), &json!({"unread": 0, "unseen": 0, "total": 0})));
    assert_eq!(check_exact(&app, &p, "u1").await, (0, 0, 0));
    let bad = as_user(&app, &p, "u1", Method::GET, "/api/v1/inbox?status=bogus", None).await;
    assert_eq!(bad.status, 422, "{}", bad.text);
}

async fn an_expired_message_leaves_the_inbox_and_the_counts(app: TestApp) {
    let p = portal(&app, "Acme", "ada@acme.example").await;
    let at = (app.clock.now() + chrono::Duration::hours(1)).to_rfc3339();
    send(&app, &p, json!({"audience": {"user_ids": ["u1"]}, "title": "flash sale", "expires_at": at})).await;
    send(&app, &p, json!({"audience": {"user_ids": ["u1"]}, "title": "welcome"})).await;
    assert_eq!(check_exact(&app, &p, "u1").await, (2, 2, 2));
    app.clock.advance(chrono::Duration::hours(2));
    assert_eq!(counts(&app, &p, "u1").await, (1, 1, 1), "the expired one is counted out");
    let items = inbox(&app, &p, "u1", "all").await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["title"], "welcome");
    assert_eq!(inbox(&app, &p, "u1", "archived").await[0]["title"], "flash sale");
    assert_eq!(check_exact(&app, &p, "u1").await, (1, 1, 1));
}

async fn counts_stay_exact_under_concurrent_read_all_and_new_messages(app: TestApp) {
    let p = portal(&app, "Acme", "ada@acme.example").await;
    send(&app, &p, json!({"audience": {"user_ids": ["u1", "u2"]}, "title": "first"})).await;
    let mut tasks = Vec::new();
    for n in 0..6 {
        let (app, p) = (&app, &p);
        tasks.push(Box::pin(async move {
            if n % 2 == 0 {
                let r = app
                    .post(
                        "/api/v1/inapp/messages",
                        &json!({"audience": {"user_ids": ["u1"]}, "title": format!("n{n}")}),
                        Some(&p.owner.token),
                    )
                    .await;
                assert_eq!(r.status, 202, "{}", r.text);
            } else {
                let r = as_user(app, p, "u1", Method::POST, "/api/v1/inbox/read-all", None).await;
                assert_eq!(r.status, 200, "{}", r.text);
            }
        }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>);
    }
    futures_util::future::join_all(tasks).await;
    wait_for("every fan-out", Duration::from_secs(60), || async {
        let l = app.get("/api/v1/inapp/messages", Some(&p.owner.token)).await;
        l.body["data"].as_array().unwrap().iter().all(|m| m["status"] == "sent").then_some(())
    })
    .await;
    let (_, _, total) = check_exact(&app, &p, "u1").await;
    assert_eq!(total, 4);
    assert_eq!(check_exact(&app, &p, "u2").await, (1, 1, 1));
}

async fn another_users_item_is_not_found_and_portals_are_apart(app: TestApp) {
    let a = portal(&app, "Acme", "ada@acme.example").await;
    let b = portal(&app, "Bolt", "bob@bolt.example").await;
    send(&app, &a, json!({"audience": {"user_ids": ["u1"]}, "title": "for u1 of Acme"})).await;
    let item = inbox(&app, &a, "u1", "all").await[0]["id"].as_str().unwrap().to_string();
    let theirs = as_user(&app, &a, "u2", Method::POST, &format!("/api/v1/inbox/{item}/read"), None).await;
    theirs.problem(404, "not_found");
    // The same user id in another portal is someone else: nothing there, and not this item.
    assert!(inbox(&app, &b, "u1", "all").await.is_empty());
    assert_eq!(counts(&app, &b, "u1").await, (0, 0, 0));
    let other = as_user(&app, &b, "u1", Method::POST, &format!("/api/v1/inbox/{item}/read"), None).await;
    assert_eq!(other.status, 404, "{}", other.text);
    assert_eq!(counts(&app, &a, "u1").await, (1, 1, 1), "untouched");
    // Another portal's secret never vouches here.
    let mixed = app
        .client
        .get(app.url("/api/v1/inbox/counts"))
        .insert_header(("X-Organizeo-App", a.app_id.clone()))
        .insert_header(("X-Organizeo-User", "u1"))
        .insert_header(("X-Organizeo-User-Hash", hash(&b.secret, "u1")));
    assert_eq!(crate::helpers::read(mixed.send().await.unwrap()).await.status, 401);
    // The portal's message list and ids are its own.
    let list = app.get("/api/v1/inapp/messages", Some(&b.owner.token)).await;
    assert_eq!(list.body["data"].as_array().map(Vec::len), Some(0));
}

async fn cors_answers_only_the_portals_allowed_origins(app: TestApp) {
    let p = portal(&app, "Acme", "ada@acme.example").await;
    let allowed = "https://app.acme.example";
    let r = app.patch("/api/v1/inapp/settings", &json!({"allowed_origins": [allowed]}), Some(&p.owner.token)).await;
    assert_eq!(r.body["allowed_origins"], json!([allowed]), "{}", r.text);
    let ok = as_user(&app, &p, "u1", Method::GET, "/api/v1/inbox/counts", Some(allowed)).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.header("access-control-allow-origin").as_deref(), Some(allowed));
    let evil = as_user(&app, &p, "u1", Method::POST, "/api/v1/inbox/read-all", Some("https://evil.example")).await;
    evil.problem(403, "origin_not_allowed");
    assert_eq!(evil.header("access-control-allow-origin"), None);
    let preflight = |origin: &'static str| {
        let app = &app;
        async move {
            let req = app
                .client
                .request(Method::OPTIONS, app.url("/api/v1/inbox/read-all"))
                .insert_header(("Origin", origin))
                .insert_header(("Access-Control-Request-Method", "POST"))
                .insert_header(("Access-Control-Request-Headers", "x-organizeo-app"));
            crate::helpers::read(req.send().await.unwrap()).await
        }
    };
    let pre = preflight(allowed).await;
    assert_eq!(pre.header("access-control-allow-origin").as_deref(), Some(allowed));
    assert!(pre.header("access-control-allow-headers").unwrap().contains("X-Organizeo-User-Hash"));
    assert_eq!(preflight("https://evil.example").await.header("access-control-allow-origin"), None);
    // The portal API itself stays same-origin: no CORS headers.
    let portal_api = app
        .client
        .get(app.url("/api/v1/me"))
        .insert_header(("Origin", allowed))
        .insert_header(("Authorization", format!("Bearer {}", p.owner.token)));
    let portal_api = crate::helpers::read(portal_api.send().await.unwrap()).await;
    assert_eq!(portal_api.header("access-control-allow-origin"), None);
}

async fn ticket(app: &TestApp, p: &Portal, user: &str) -> String {
    let t = as_user(app, p, user, Method::POST, "/api/v1/inbox/ticket", None).await;
    assert_eq!(t.status, 200, "{}", t.text);
    t.body["ticket"].as_str().unwrap().to_string()
}

async fn a_large_message_arrives_once_on_each_websocket(app: TestApp) {
    let p = portal(&app, "Acme", "ada@acme.example").await;
    let mut sockets = Vec::new();
    for user in ["u7", "u7", "u4242", "u9999"] {
        let t = ticket(&app, &p, user).await;
        let mut ws = Ws::connect_path(app.port, &format!("/api/v1/inbox/ws?ticket={t}"), None).await.expect("upgrade");
        ws.until("subscribed", None).await;
        sockets.push((user, ws));
    }
    // A ticket is single use.
    let t = ticket(&app, &p, "u7").await;
    let first = Ws::connect_path(app.port, &format!("/api/v1/inbox/ws?ticket={t}"), None).await;
    assert!(first.is_ok());
    assert_eq!(Ws::connect_path(app.port, &format!("/api/v1/inbox/ws?ticket={t}"), None).await.err(), Some(401));
    let ids: Vec<String> = (0..10_000).map(|i| format!("u{i}")).collect();
    let r = app
        .post(
            "/api/v1/inapp/messages",
            &json!({"audience": {"user_ids": ids}, "title": "Big news", "body": "<img src=x onerror=alert(1)>"}),
            Some(&p.owner.token),
        )
        .await;
    assert_eq!((r.status, r.body["recipients"].as_i64()), (202, Some(10_000)), "{}", r.text);
    for (user, ws) in &mut sockets {
        let m = ws.until("message", None).await;
        assert_eq!(m["data"]["title"], "Big news", "{user}");
        assert_eq!(m["data"]["body"], "<img src=x onerror=alert(1)>");
        let c = ws.json().await;
        assert_eq!((c["type"].as_str(), &c["data"]), (Some("counts"), &json!({"unread": 1, "unseen": 1, "total": 1})));
    }
    // A change in one tab reaches the other tab of the same user, and nobody else.
    let item = inbox(&app, &p, "u7", "all").await[0]["id"].as_str().unwrap().to_string();
    post(&app, &p, "u7", &format!("/api/v1/inbox/{item}/read")).await;
    for (user, ws) in sockets.iter_mut().filter(|(u, _)| *u == "u7") {
        let ch = ws.json().await;
        assert_eq!((ch["type"].as_str(), ch["data"]["action"].as_str()), (Some("changed"), Some("read")), "{user}");
        let c = ws.json().await;
        assert_eq!(c["data"], json!({"unread": 0, "unseen": 0, "total": 1}));
    }
    for (_, ws) in sockets.iter_mut() {
        ws.expect_quiet().await; // exactly once: no second message frame
    }
    // Frames from the widget beyond the limit close the socket.
    let (_, ws) = sockets.last_mut().unwrap();
    ws.send_raw(awc::ws::Message::Text("x".repeat(70_000).into())).await;
    let (code, _) = ws.closed().await;
    assert_eq!(code, Some(1009));
}

async fn inbox_changes_reach_every_node(app: TestApp) {
    let Some(redis) = crate::cluster::redis_or_warn() else { return };
    let a = app.restart_with(|s| s.redis_url = Some(organizeo::config::Secret::new(redis.clone()))).await;
    let b = a.another_node(|_| {}).await;
    crate::cluster::bus_connected(&a, true).await;
    crate::cluster::bus_connected(&b, true).await;
    let p = portal(&a, "Acme", "ada@acme.example").await;
    let t = ticket(&b, &p, "u1").await;
    let mut on_b = Ws::connect_path(b.port, &format!("/api/v1/inbox/ws?ticket={t}"), None).await.expect("upgrade");
    on_b.until("subscribed", None).await;
    let t = ticket(&a, &p, "u1").await;
    let mut on_a = Ws::connect_path(a.port, &format!("/api/v1/inbox/ws?ticket={t}"), None).await.expect("upgrade");
    on_a.until("subscribed", None).await;
    let r = a
        .post(
            "/api/v1/inapp/messages",
            &json!({"audience": {"user_ids": ["u1", "u2"]}, "title": "Both nodes"}),
            Some(&p.owner.token),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    for ws in [&mut on_a, &mut on_b] {
        assert_eq!(ws.until("message", None).await["data"]["title"], "Both nodes");
        assert_eq!(ws.json().await["data"], json!({"unread": 1, "unseen": 1, "total": 1}));
    }
    // A change made through node B reaches the tab on node A.
    post(&b, &p, "u1", "/api/v1/inbox/read-all").await;
    for ws in [&mut on_a, &mut on_b] {
        assert_eq!(ws.until("changed", None).await["data"]["action"], "read");
        assert_eq!(ws.json().await["data"], json!({"unread": 0, "unseen": 0, "total": 1}));
        ws.expect_quiet().await;
    }
}

crate::both_backends!(
    an_expired_message_leaves_the_inbox_and_the_counts,
    inbox_changes_reach_every_node,
    counts_are_exact_through_every_transition,
    counts_stay_exact_under_concurrent_read_all_and_new_messages,
    another_users_item_is_not_found_and_portals_are_apart,
    cors_answers_only_the_portals_allowed_origins,
    a_large_message_arrives_once_on_each_websocket,
);
