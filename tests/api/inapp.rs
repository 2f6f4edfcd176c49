//! In-app messages, the portal's side and the HMAC identity: settings and secret rotation,
//! sending to user ids, segments and everyone, bad input, and the end-user helpers the
//! inbox tests share.

use std::time::Duration;

use awc::http::Method;
use serde_json::{json, Value};

use crate::helpers::{wait_for, Resp, Signed, TestApp};

/// A portal ready to send: its owner, app id and identity secret.
pub struct Portal {
    pub owner: Signed,
    pub app_id: String,
    pub secret: String,
}

pub async fn portal(app: &TestApp, name: &str, email: &str) -> Portal {
    let owner = app.signup(name, email).await;
    let s = app.get("/api/v1/inapp/settings", Some(&owner.token)).await;
    assert_eq!(s.status, 200, "{}", s.text);
    let r = app.post("/api/v1/inapp/settings/rotate-secret", &json!({}), Some(&owner.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    Portal {
        app_id: s.body["app_id"].as_str().unwrap().to_string(),
        secret: r.body["identity_secret"].as_str().unwrap().to_string(),
        owner,
    }
}

pub fn hash(secret: &str, user: &str) -> String {
    organizeo::messages::identity::user_hash(secret.as_bytes(), user)
}

/// A request as an end user's browser (or the test) makes it.
pub async fn as_user(app: &TestApp, p: &Portal, user: &str, method: Method, path: &str, origin: Option<&str>) -> Resp {
    let mut req = app
        .client
        .request(method, app.url(path))
        .insert_header(("X-Organizeo-App", p.app_id.clone()))
        .insert_header(("X-Organizeo-User", user.to_string()))
        .insert_header(("X-Organizeo-User-Hash", hash(&p.secret, user)));
    if let Some(o) = origin {
        req = req.insert_header(("Origin", o.to_string()));
    }
    crate::helpers::read(req.send().await.expect("request sent")).await
}

pub async fn counts(app: &TestApp, p: &Portal, user: &str) -> (i64, i64, i64) {
    let c = as_user(app, p, user, Method::GET, "/api/v1/inbox/counts", None).await;
    assert_eq!(c.status, 200, "{}", c.text);
    (c.body["unread"].as_i64().unwrap(), c.body["unseen"].as_i64().unwrap(), c.body["total"].as_i64().unwrap())
}

pub async fn inbox(app: &TestApp, p: &Portal, user: &str, status: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/api/v1/inbox?status={status}&limit=100&after={a}"),
            None => format!("/api/v1/inbox?status={status}&limit=100"),
        };
        let r = as_user(app, p, user, Method::GET, &path, None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        out.extend(r.body["data"].as_array().unwrap().iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(c) => after = Some(c.to_string()),
            None => return out,
        }
    }
}

/// Sends a message and waits until its fan-out is done; returns its id.
pub async fn send(app: &TestApp, p: &Portal, body: Value) -> String {
    let r = app.post("/api/v1/inapp/messages", &body, Some(&p.owner.token)).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/inapp/messages/{id}");
    wait_for("the fan-out", Duration::from_secs(60), || async {
        let m = app.get(&path, Some(&p.owner.token)).await;
        (m.body["status"] == "sent").then_some(())
    })
    .await;
    id
}

async fn hmac_accepts_the_portals_hash_and_refuses_anything_else(app: TestApp) {
    let p = portal(&app, "Acme", "ada@acme.example").await;
    assert_eq!(counts(&app, &p, "user-1").await, (0, 0, 0));
    let bare = app.get("/api/v1/inbox/counts", None).await;
    assert_eq!(bare.status, 401, "{}", bare.text);
    bare.problem(401, "unauthorized");
    let try_with = |app_id: String, user: &'static str, h: String| {
        let app = &app;
        async move {
            let req = app
                .client
                .get(app.url("/api/v1/inbox/counts"))
                .insert_header(("X-Organizeo-App", app_id))
                .insert_header(("X-Organizeo-User", user))
                .insert_header(("X-Organizeo-User-Hash", h));
            crate::helpers::read(req.send().await.unwrap()).await.status
        }
    };
    // Another user's hash, a hash from another key, an unknown app.
    assert_eq!(try_with(p.app_id.clone(), "user-2", hash(&p.secret, "user-1")).await, 401);
    assert_eq!(try_with(p.app_id.clone(), "user-1", hash("not-the-secret", "user-1")).await, 401);
    assert_eq!(try_with("app_unknown".into(), "user-1", hash(&p.secret, "user-1")).await, 401);
    assert_eq!(try_with(p.app_id.clone(), "user-1", hash(&p.secret, "user-1").to_uppercase()).await, 200);
    // Rotation: the old secret stops working at once; settings show only the last four.
    let old = p.secret.clone();
    let r = app.post("/api/v1/inapp/settings/rotate-secret", &json!({}), Some(&p.owner.token)).await;
    let new = r.body["identity_secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(try_with(p.app_id.clone(), "user-1", hash(&old, "user-1")).await, 401);
    assert_eq!(try_with(p.app_id.clone(), "user-1", hash(&new, "user-1")).await, 200);
    let s = app.get("/api/v1/inapp/settings", Some(&p.owner.token)).await;
    assert_eq!(s.body["secret_last4"].as_str(), Some(&new[new.len() - 4..]));
    assert!(!s.text.contains(&new), "the secret is shown only once");
    // The secret is sealed at rest, not stored in the clear.
    let mut conn = app.db_conn();
    use diesel::prelude::*;
    #[derive(diesel::QueryableByName)]
    struct Stored {
        #[diesel(sql_type = diesel::sql_types::Text)]
        secret: String,
    }
    let stored: Stored = diesel::sql_query("SELECT secret FROM inapp_apps").get_result(&mut conn).unwrap();
    assert!(!stored.secret.contains(&new[5..]), "sealed, not plain");
    // A member who is no admin cannot see or rotate the identity.
    let member = app.member(&p.owner, "mo@acme.example", "member").await;
    assert_eq!(app.post("/api/v1/inapp/settings/rotate-secret", &json!({}), Some(&member.token)).await.status, 403);
}

async fn sending_to_user_ids_reports_per_message_figures(app: TestApp) {
    let p = portal(&app, "Acme", "ada@acme.example").await;
    let id =
        send(&app, &p, json!({"audience": {"user_ids": ["u1", "u2", "u1"]}, "title": "Hello", "body": "Hi"})).await;
    let m = app.get(&format!("/api/v1/inapp/messages/{id}"), Some(&p.owner.token)).await;
    assert_eq!((m.body["delivered"].as_i64(), m.body["recipients"].as_i64()), (Some(2), Some(2)), "{}", m.text);
    let items = inbox(&app, &p, "u1", "all").await;
    assert_eq!(items.len(), 1);
    let item = items[0]["id"].as_str().unwrap().to_string();
    as_user(&app, &p, "u1", Method::POST, &format!("/api/v1/inbox/{item}/read"), None).await;
    let u2 = inbox(&app, &p, "u2", "all").await;
    let item2 = u2[0]["id"].as_str().unwrap().to_string();
    as_user(&app, &p, "u2", Method::POST, &format!("/api/v1/inbox/{item2}/archive"), None).await;
    let m = app.get(&format!("/api/v1/inapp/messages/{id}"), Some(&p.owner.token)).await;
    assert_eq!(
        (m.body["delivered"].as_i64(), m.body["seen"].as_i64(), m.body["read"].as_i64(), m.body["archived"].as_i64()),
        (Some(2), Some(2), Some(2), Some(1)),
        "{}",
        m.text
    );
    let list = app.get("/api/v1/inapp/messages", Some(&p.owner.token)).await;
    assert_eq!(list.body["data"].as_array().map(Vec::len), Some(1), "{}", list.text);
}

async fn a_segment_reaches_its_members_with_an_external_id(app: TestApp) {
    let p = portal(&app, "Acme", "ada@acme.example").await;
    let t = Some(p.owner.token.as_str());
    for (email, ext) in [("a@x.example", Some("ext-a")), ("b@x.example", Some("EXT-a")), ("c@x.example", None)] {
        let mut body = json!({"email": email, "first_name": "Vip"});
        if let Some(e) = ext {
            body["external_id"] = json!(e);
        }
        assert_eq!(app.post("/api/v1/contacts", &body, t).await.status, 201);
    }
    app.post("/api/v1/contacts", &json!({"email": "d@x.example", "first_name": "Other", "external_id": "ext-d"}), t)
        .await;
    // External ids are unique per portal, and case-sensitive.
    let dup = app.post("/api/v1/contacts", &json!({"email": "e@x.example", "external_id": "ext-a"}), t).await;
    assert_eq!(dup.status, 409, "{}", dup.text);
    let seg = app
        .post(
            "/api/v1/segments",
            &json!({"name": "VIP", "filter_groups": [{"filters": [{"field": "first_name", "op": "eq", "value": "Vip"}]}]}),
            t,
        )
        .await;
    let seg = seg.body["id"].as_str().unwrap().to_string();
    let r = app.post("/api/v1/inapp/messages", &json!({"audience": {"segment_id": seg}, "title": "VIP news"}), t).await;
    assert_eq!((r.status, r.body["recipients"].as_i64()), (202, Some(2)), "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    wait_for("the fan-out", Duration::from_secs(60), || async {
        let m = app.get(&format!("/api/v1/inapp/messages/{id}"), t).await;
        (m.body["status"] == "sent").then_some(())
    })
    .await;
    assert_eq!(counts(&app, &p, "ext-a").await, (1, 1, 1));
    assert_eq!(counts(&app, &p, "EXT-a").await, (1, 1, 1));
    assert_eq!(counts(&app, &p, "ext-d").await, (0, 0, 0), "not in the segment");
    send(&app, &p, json!({"audience": {"all": true}, "title": "Everyone"})).await;
    assert_eq!(counts(&app, &p, "ext-d").await, (1, 1, 1));
    assert_eq!(counts(&app, &p, "ext-a").await, (2, 2, 2));
}

async fn bad_messages_are_refused_whole(app: TestApp) {
    let p = portal(&app, "Acme", "ada@acme.example").await;
    let t = Some(p.owner.token.as_str());
    let many: Vec<String> = (0..10_001).map(|i| format!("u{i}")).collect();
    let cases = [
        (json!({"audience": {"user_ids": ["u1"]}, "title": "x", "action_url": "javascript:alert(1)"}), "action_url"),
        (json!({"audience": {"user_ids": ["u1"]}, "title": "x".repeat(201)}), "title"),
        (json!({"audience": {"user_ids": ["u1"]}, "title": "x", "body": "y".repeat(5_001)}), "body"),
        (json!({"audience": {"user_ids": []}, "title": "x"}), "audience.user_ids"),
        (json!({"audience": {"user_ids": many}, "title": "x"}), "audience.user_ids"),
        (
            json!({"audience": {"segment_id": "0190a0a0-0000-7000-8000-000000000000"}, "title": "x"}),
            "audience.segment_id",
        ),
        (json!({"audience": {"all": true, "user_ids": ["u1"]}, "title": "x"}), "audience"),
        (json!({"audience": {"user_ids": ["u1"]}, "title": "x", "expires_at": "2000-01-01T00:00:00Z"}), "expires_at"),
    ];
    for (body, field) in cases {
        let r = app.post("/api/v1/inapp/messages", &body, t).await;
        assert_eq!(r.status, 422, "{field}: {}", r.text);
        let errors = r.body["errors"].as_array().unwrap();
        assert!(errors.iter().any(|e| e["field"] == field), "{field}: {}", r.text);
    }
    let list = app.get("/api/v1/inapp/messages", t).await;
    assert_eq!(list.body["data"].as_array().map(Vec::len), Some(0), "nothing stored: {}", list.text);
    let bad_origin = app.patch("/api/v1/inapp/settings", &json!({"allowed_origins": ["javascript:x"]}), t).await;
    assert_eq!(bad_origin.status, 422, "{}", bad_origin.text);
}

async fn assigning_a_task_fills_the_assignees_inbox_and_pushes_it(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let member = app.member(&owner, "mo@acme.example", "member").await;
    let mut ws = app.ws(&member.token).await;
    ws.subscribe("notifications", None).await;
    let r = app
        .post("/api/v1/tasks", &json!({"title": "Call Ada", "assignee_id": member.user_id}), Some(&owner.token))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let n = ws.until("event", Some("notification.created")).await;
    assert_eq!(
        (n["data"]["kind"].as_str(), n["data"]["title"].as_str()),
        (Some("task_assigned"), Some("Task assigned: Call Ada"))
    );
    let list = app.get("/api/v1/me/notifications", Some(&member.token)).await;
    assert_eq!(list.body["data"][0]["kind"], "task_assigned", "{}", list.text);
    let id = list.body["data"][0]["id"].as_str().unwrap().to_string();
    let c = app.get("/api/v1/me/notifications/counts", Some(&member.token)).await;
    assert_eq!(c.body, json!({"unread": 1, "unseen": 1, "total": 1}));
    let t = Some(member.token.as_str());
    let seen = app.post(&format!("/api/v1/me/notifications/{id}/seen"), &json!({}), t).await;
    assert_eq!(seen.body, json!({"unread": 1, "unseen": 0, "total": 1}), "{}", seen.text);
    app.post(&format!("/api/v1/me/notifications/{id}/read"), &json!({}), t).await;
    let unread = app.post(&format!("/api/v1/me/notifications/{id}/unread"), &json!({}), t).await;
    assert_eq!(unread.body, json!({"unread": 1, "unseen": 0, "total": 1}));
    app.post(&format!("/api/v1/me/notifications/{id}/archive"), &json!({}), t).await;
    let back = app.post(&format!("/api/v1/me/notifications/{id}/unarchive"), &json!({}), t).await;
    assert_eq!(back.body, json!({"unread": 0, "unseen": 0, "total": 1}));
    // Assigning a task to yourself tells nobody.
    app.post("/api/v1/tasks", &json!({"title": "Mine", "assignee_id": member.user_id}), t).await;
    let c = app.get("/api/v1/me/notifications/counts", t).await;
    assert_eq!(c.body["total"], 1);
}

crate::both_backends!(
    assigning_a_task_fills_the_assignees_inbox_and_pushes_it,
    hmac_accepts_the_portals_hash_and_refuses_anything_else,
    sending_to_user_ids_reports_per_message_figures,
    a_segment_reaches_its_members_with_an_external_id,
    bad_messages_are_refused_whole,
);
