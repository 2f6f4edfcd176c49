//! Emails with version history on both databases: every change of content is an immutable
//! revision, a no-op edit stores nothing, restoring revision n makes a new revision equal
//! to n; templates that do not parse or name unknown variables are 422s naming the field
//! and line; the trash keeps the history until the purge; another portal's id is a 404
//! on every verb; viewers read only; keys by `campaigns:*` scope; email events reach a
//! websocket key only with `campaigns:read`.

use awc::http::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{Signed, TestApp};

fn email_body() -> Value {
    json!({
        "name": "Welcome",
        "subject": "Hi {{ contact.first_name | default(\"there\") }}",
        "preheader": "From {{ tenant.name }}",
        "html": "<p>Hello {{ contact.first_name }}</p>\n<a href=\"{{ unsubscribe_url }}\">unsubscribe</a>",
        "text": "Hello {{ contact.first_name }} ({{ custom_values.company }})",
    })
}

async fn new_email(app: &TestApp, who: &Signed) -> Value {
    app.create(who, "/api/v1/emails", email_body()).await
}

async fn key(app: &TestApp, owner: &Signed, scopes: &[&str]) -> String {
    let r = app.post("/api/v1/api-keys", &json!({"name": "k", "scopes": scopes}), Some(&owner.token)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["key"].as_str().unwrap().to_string()
}

fn revision_numbers(page: &Value) -> Vec<i64> {
    page["data"].as_array().unwrap().iter().map(|r| r["revision"].as_i64().unwrap()).collect()
}

async fn every_change_is_a_revision_and_restore_appends_one(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let email = new_email(&app, &owner).await;
    let keys: Vec<&str> = email.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys.iter().copied().collect::<std::collections::BTreeSet<_>>(),
        ["created_at", "html", "id", "name", "preheader", "revision", "subject", "text", "updated_at"].into(),
        "{email}"
    );
    assert_eq!(email["revision"], 1);
    let id = email["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/emails/{id}");

    // Edits that change nothing store nothing.
    for same in [json!({}), json!({"subject": email_body()["subject"]}), json!({"name": "  Welcome "})] {
        let r = app.patch(&path, &same, Some(&owner.token)).await;
        assert_eq!((r.status, r.body["revision"].as_i64()), (200, Some(1)), "{same}: {}", r.text);
        assert_eq!(r.body["updated_at"], email["updated_at"]);
    }
    let r = app.patch(&path, &json!({"subject": "Second {{ contact.email }}"}), Some(&owner.token)).await;
    assert_eq!((r.status, r.body["revision"].as_i64()), (200, Some(2)), "{}", r.text);
    let r = app.patch(&path, &json!({"html": "<p>Third</p>"}), Some(&owner.token)).await;
    assert_eq!((r.status, r.body["revision"].as_i64()), (200, Some(3)), "{}", r.text);
    assert_eq!(r.body["subject"], "Second {{ contact.email }}");

    let history = app.get(&format!("{path}/revisions"), Some(&owner.token)).await;
    assert_eq!(history.status, 200, "{}", history.text);
    assert_eq!(revision_numbers(&history.body), [3, 2, 1]);
    assert_eq!(history.body["data"][2]["subject"], email_body()["subject"]);
    assert_eq!(history.body["data"][0]["subject"], "Second {{ contact.email }}");
    assert_eq!(history.body["data"][0]["author"], owner.user_id.as_str());
    assert!(history.body["next_cursor"].is_null());
    let first = app.get(&format!("{path}/revisions?limit=2"), Some(&owner.token)).await;
    assert_eq!(revision_numbers(&first.body), [3, 2]);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_string();
    let rest = app.get(&format!("{path}/revisions?limit=2&after={cursor}"), Some(&owner.token)).await;
    assert_eq!((revision_numbers(&rest.body), rest.body["next_cursor"].is_null()), (vec![1], true));
    app.get(&format!("{path}/revisions?after=nonsense"), Some(&owner.token)).await.problem(422, "validation_failed");

    let one = app.get(&format!("{path}/revisions/1"), Some(&owner.token)).await;
    assert_eq!(one.status, 200, "{}", one.text);
    for field in ["name", "subject", "preheader", "html", "text"] {
        assert_eq!(one.body[field], email_body()[field], "{field}");
    }
    assert_eq!(one.body["revision"], 1);

    // Restore: a new revision equal to 1; the old ones stay as they were.
    let restored = app.post(&format!("{path}/revisions/1/restore"), &json!({}), Some(&owner.token)).await;
    assert_eq!((restored.status, restored.body["revision"].as_i64()), (200, Some(4)), "{}", restored.text);
    for field in ["name", "subject", "preheader", "html", "text"] {
        assert_eq!(restored.body[field], email_body()[field], "{field}");
    }
    let four = app.get(&format!("{path}/revisions/4"), Some(&owner.token)).await;
    let again = app.get(&format!("{path}/revisions/1"), Some(&owner.token)).await;
    assert_eq!(again.body, one.body, "revision 1 was rewritten");
    for field in ["name", "subject", "preheader", "html", "text"] {
        assert_eq!(four.body[field], one.body[field], "{field}");
    }
    let three = app.get(&format!("{path}/revisions/3"), Some(&owner.token)).await;
    assert_eq!(three.body["html"], "<p>Third</p>");
    let history = app.get(&format!("{path}/revisions"), Some(&owner.token)).await;
    assert_eq!(revision_numbers(&history.body), [4, 3, 2, 1]);

    for bad in ["99", "0", "-1", "abc", "1.5"] {
        app.get(&format!("{path}/revisions/{bad}"), Some(&owner.token)).await.problem(404, "not_found");
        app.post(&format!("{path}/revisions/{bad}/restore"), &json!({}), Some(&owner.token))
            .await
            .problem(404, "not_found");
    }
    let list = app.get("/api/v1/emails", Some(&owner.token)).await;
    assert_eq!(list.body["data"][0]["id"], id.as_str(), "{}", list.text);
    assert_eq!(list.body["data"][0]["revision"], 4);

    // One event per stored change (none for the no-op edits), bodies left out; audited.
    let events: Vec<(String, Value)> = app
        .events(&owner.tenant_id)
        .await
        .into_iter()
        .filter(|e| e.object == "email")
        .map(|e| (e.event_type, serde_json::from_str(&e.data).unwrap()))
        .collect();
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["email.created", "email.updated", "email.updated", "email.updated"]);
    assert!(events.iter().all(|(_, d)| d.get("html").is_none() && d["id"] == id.as_str()), "{events:?}");
    assert_eq!(events[3].1["restored_from"], 1);
    let actions = app.audit_actions(&owner.token).await;
    for a in ["email.created", "email.updated", "email.revision_restored"] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
}

async fn broken_templates_and_bad_input_are_refused_by_field(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let t = Some(owner.token.as_str());
    let with = |field: &str, value: Value| {
        let mut b = email_body();
        b[field] = value;
        b
    };
    let r = app.post("/api/v1/emails", &with("html", json!("<p>\n\n{{ foo.bar }}</p>")), t).await;
    assert_eq!(
        r.problem(422, "validation_failed")["errors"],
        json!([{"field": "html", "message": "line 3: unknown variable foo"}])
    );
    let r = app.post("/api/v1/emails", &with("text", json!("one\n{% if contact.email %}never closed")), t).await;
    let e = &r.problem(422, "validation_failed")["errors"][0];
    assert_eq!(e["field"], "text");
    assert!(e["message"].as_str().unwrap().starts_with("line 2: syntax error"), "{e}");
    let r = app.post("/api/v1/emails", &with("subject", json!("{{ contact.first_name }")), t).await;
    assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], "subject");
    for (field, value) in [
        ("subject", json!("s".repeat(999))),
        ("preheader", json!("p".repeat(999))),
        ("html", json!("h".repeat(512 * 1024 + 1))),
        ("text", json!("t".repeat(256 * 1024 + 1))),
        ("name", json!("n".repeat(201))),
        ("name", json!("   ")),
    ] {
        let r = app.post("/api/v1/emails", &with(field, value), t).await;
        assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], field, "{}", r.text);
    }
    let r = app.post("/api/v1/emails", &json!({"subject": "no name"}), t).await;
    assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], "name");
    // Wrong types and broken JSON are 4xx problems, never a 500.
    let r = app.post("/api/v1/emails", &json!({"name": 5}), t).await;
    r.problem(422, "validation_failed");
    let r = app.post("/api/v1/emails", &json!("just a string"), t).await;
    assert!((400..500).contains(&r.status), "{}", r.text);
    let r = app.request(Method::POST, "/api/v1/emails", t, Some(b"{\"name\": ".to_vec())).await;
    r.problem(400, "malformed_json");
    let r = app.post("/api/v1/emails", &json!({"name": "x", "html": "a\u{0}b"}), t).await;
    r.problem(422, "validation_failed");

    // A refused edit changes nothing.
    let email = new_email(&app, &owner).await;
    let path = format!("/api/v1/emails/{}", email["id"].as_str().unwrap());
    let r = app.patch(&path, &json!({"html": "{{ contact.first_name", "text": "{{ nope }}"}), t).await;
    let errors = r.problem(422, "validation_failed")["errors"].as_array().unwrap().clone();
    assert_eq!(errors.iter().map(|e| e["field"].as_str().unwrap()).collect::<Vec<_>>(), ["html", "text"]);
    assert_eq!(errors[1]["message"], "line 1: unknown variable nope");
    let r = app.patch(&path, &json!({"subject": 7}), t).await;
    r.problem(422, "validation_failed");
    let now = app.get(&path, t).await;
    assert_eq!((now.body["revision"].as_i64(), &now.body["html"]), (Some(1), &email_body()["html"]));
    // Locals, loops and filters are fine.
    let r = app
        .patch(&path, &json!({"text": "{% set n = contact.first_name | default('there') %}{% for x in range(2) %}{{ loop.index }}{{ n | upper }}{% endfor %}"}), t)
        .await;
    assert_eq!((r.status, r.body["revision"].as_i64()), (200, Some(2)), "{}", r.text);

    // Unknown and malformed ids are 404s on every verb.
    for id in [uuid::Uuid::now_v7().to_string(), "not-a-uuid".to_string(), "1".to_string()] {
        let p = format!("/api/v1/emails/{id}");
        app.get(&p, t).await.problem(404, "not_found");
        app.patch(&p, &json!({"name": "x"}), t).await.problem(404, "not_found");
        app.delete(&p, t).await.problem(404, "not_found");
        app.get(&format!("{p}/revisions"), t).await.problem(404, "not_found");
        app.get(&format!("{p}/revisions/1"), t).await.problem(404, "not_found");
        app.post(&format!("{p}/revisions/1/restore"), &json!({}), t).await.problem(404, "not_found");
        app.post(&format!("/api/v1/trash/email/{id}/restore"), &json!({}), t).await.problem(404, "not_found");
    }
}

async fn deleted_emails_keep_their_history_until_the_purge(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let t = Some(owner.token.as_str());
    let email = new_email(&app, &owner).await;
    let id = email["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/emails/{id}");
    assert_eq!(app.patch(&path, &json!({"name": "Renamed"}), t).await.body["revision"], 2);
    assert_eq!(app.delete(&path, t).await.status, 204);
    app.get(&path, t).await.problem(404, "not_found");
    app.get(&format!("{path}/revisions"), t).await.problem(404, "not_found");
    app.delete(&path, t).await.problem(404, "not_found");
    assert_eq!(app.get("/api/v1/emails", t).await.body["data"], json!([]));

    let trash = app.get("/api/v1/trash?type=email", t).await;
    assert_eq!(trash.status, 200, "{}", trash.text);
    let item = &trash.body["data"][0];
    assert_eq!((item["type"].as_str(), item["id"].as_str()), (Some("email"), Some(id.as_str())), "{item}");
    assert_eq!(item["item"]["name"], "Renamed");
    let deleted = chrono::DateTime::parse_from_rfc3339(item["deleted_at"].as_str().unwrap()).unwrap();
    let purge = chrono::DateTime::parse_from_rfc3339(item["purge_at"].as_str().unwrap()).unwrap();
    assert_eq!(purge - deleted, chrono::Duration::days(30));

    let back = app.post(&format!("/api/v1/trash/email/{id}/restore"), &json!({}), t).await;
    assert_eq!((back.status, back.body["revision"].as_i64()), (200, Some(2)), "{}", back.text);
    let history = app.get(&format!("{path}/revisions"), t).await;
    assert_eq!(revision_numbers(&history.body), [2, 1]);
    assert_eq!(app.trash_len(&owner, "email").await, 0);

    // Past the retention the purge deletes it and its history for good.
    assert_eq!(app.delete(&path, t).await.status, 204);
    app.clock.advance(chrono::Duration::days(29));
    let db = organizeo::db::Db::connect(&app.db.url(), 1).unwrap();
    assert_eq!(organizeo::jobs::purge::step(&db, &app.clock).await.unwrap().emails, 0);
    app.clock.advance(chrono::Duration::days(2));
    assert_eq!(organizeo::jobs::purge::step(&db, &app.clock).await.unwrap().emails, 1);
    let owner = Signed { token: app.sign_in("ada@acme.example").await, ..owner };
    let t = Some(owner.token.as_str());
    assert_eq!(app.trash_len(&owner, "email").await, 0);
    app.post(&format!("/api/v1/trash/email/{id}/restore"), &json!({}), t).await.problem(404, "not_found");
    let left = db
        .tenant(organizeo::domain::TenantId::from_db(owner.tenant_id.clone()))
        .read(move |tdb| Ok(tdb.revisions("email", &id, "subject", None, 100)?.len()))
        .await
        .unwrap();
    assert_eq!(left, 0, "the history goes with the email");
    let kinds: Vec<String> =
        app.events(&owner.tenant_id).await.into_iter().filter(|e| e.object == "email").map(|e| e.event_type).collect();
    assert_eq!(
        kinds,
        ["email.created", "email.updated", "email.deleted", "email.restored", "email.deleted", "email.purged"]
    );
    let actions = app.audit_actions(&owner.token).await;
    assert!(actions.iter().any(|a| a == "email.restored") && actions.iter().any(|a| a == "email.deleted"));
}

async fn emails_are_isolated_and_follow_roles_and_scopes(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let other = app.signup("Bolt", "bob@bolt.example").await;
    let email = new_email(&app, &owner).await;
    let id = email["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/emails/{id}");

    // Another portal: 404 on every verb, and nothing changed.
    let o = Some(other.token.as_str());
    app.get(&path, o).await.problem(404, "not_found");
    app.patch(&path, &json!({"name": "stolen"}), o).await.problem(404, "not_found");
    app.delete(&path, o).await.problem(404, "not_found");
    app.get(&format!("{path}/revisions"), o).await.problem(404, "not_found");
    app.get(&format!("{path}/revisions/1"), o).await.problem(404, "not_found");
    app.post(&format!("{path}/revisions/1/restore"), &json!({}), o).await.problem(404, "not_found");
    assert_eq!(app.get("/api/v1/emails", o).await.body["data"], json!([]));
    app.delete(&path, Some(&owner.token)).await;
    app.post(&format!("/api/v1/trash/email/{id}/restore"), &json!({}), o).await.problem(404, "not_found");
    assert_eq!(app.get("/api/v1/trash?type=email", o).await.body["data"], json!([]));
    // Members write (and bring back from the trash); viewers read only.
    let member = app.member(&owner, "mia@acme.example", "member").await;
    let back = app.post(&format!("/api/v1/trash/email/{id}/restore"), &json!({}), Some(&member.token)).await;
    assert_eq!((back.status, back.body["name"].as_str()), (200, Some("Welcome")), "{}", back.text);
    let viewer = app.member(&owner, "vic@acme.example", "viewer").await;
    let v = Some(viewer.token.as_str());
    assert_eq!(app.get(&path, v).await.status, 200);
    assert_eq!(app.get(&format!("{path}/revisions/1"), v).await.status, 200);
    app.post("/api/v1/emails", &email_body(), v).await.problem(403, "forbidden");
    app.patch(&path, &json!({"name": "x"}), v).await.problem(403, "forbidden");
    app.post(&format!("{path}/revisions/1/restore"), &json!({}), v).await.problem(403, "forbidden");
    app.delete(&path, v).await.problem(403, "forbidden");
    let mine = app.create(&member, "/api/v1/emails", email_body()).await;
    assert_eq!(
        app.delete(&format!("/api/v1/emails/{}", mine["id"].as_str().unwrap()), Some(&member.token)).await.status,
        204
    );

    // Keys: campaigns:read reads, campaigns:write writes (and is the revision's author).
    let reader = key(&app, &owner, &["campaigns:read"]).await;
    assert_eq!(app.get(&path, Some(&reader)).await.status, 200);
    app.post("/api/v1/emails", &email_body(), Some(&reader)).await.problem(403, "insufficient_scope");
    let outsider = key(&app, &owner, &["contacts:write"]).await;
    app.get(&path, Some(&outsider)).await.problem(403, "insufficient_scope");
    let writer = key(&app, &owner, &["campaigns:write"]).await;
    let r = app.patch(&path, &json!({"name": "By key"}), Some(&writer)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let history = app.get(&format!("{path}/revisions"), Some(&writer)).await;
    let key_id = app.get("/api/v1/api-keys", Some(&owner.token)).await.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["scopes"] == json!(["campaigns:write"]))
        .unwrap()["id"]
        .clone();
    assert_eq!(history.body["data"][0]["author"], key_id);
}

async fn email_events_reach_websocket_keys_with_the_campaigns_scope_only(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let with = key(&app, &owner, &["realtime:read", "campaigns:read", "contacts:read"]).await;
    let without = key(&app, &owner, &["realtime:read", "contacts:read"]).await;
    let mut sees = app.ws(&with).await;
    let mut blind = app.ws(&without).await;
    sees.subscribe("crm", None).await;
    blind.subscribe("crm", None).await;
    let email = new_email(&app, &owner).await;
    app.contact(&owner, json!({"email": "zoe@example.com"})).await;
    let got = sees.until("event", Some("email.created")).await;
    assert_eq!(got["data"]["id"], email["id"]);
    assert!(got["data"].get("html").is_none(), "events leave the bodies out: {got}");
    sees.until("event", Some("contact.created")).await;
    // The contact's event comes after the email's: anything before it would have shown.
    let first = blind.until("event", None).await;
    assert_eq!(first["event"], "contact.created", "{first}");
}

both_backends!(
    every_change_is_a_revision_and_restore_appends_one,
    broken_templates_and_bad_input_are_refused_by_field,
    deleted_emails_keep_their_history_until_the_purge,
    emails_are_isolated_and_follow_roles_and_scopes,
    email_events_reach_websocket_keys_with_the_campaigns_scope_only,
);
