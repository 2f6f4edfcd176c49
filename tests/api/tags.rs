//! Tags and custom values: CRUD, the trash, and isolation.

use std::time::Duration as StdDuration;

use chrono::Duration;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{wait_for, Signed, TestApp};

async fn tags_are_renamed_everywhere_and_trashed_with_their_links(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let c = app.post("/api/v1/contacts", &json!({"first_name": "Al", "tags": ["Prospect"]}), Some(&owner.token)).await;
    let path = format!("/api/v1/contacts/{}", c.body["id"].as_str().unwrap());
    let list = app.get("/api/v1/tags", Some(&owner.token)).await;
    assert_eq!(list.body["data"][0]["name"], "Prospect");
    assert_eq!(list.body["data"][0]["record_count"], 1);
    let tag_id = list.body["data"][0]["id"].as_str().unwrap().to_string();
    // The count is of live records: a trashed one leaves it, restored it comes back.
    let second = app.create(&owner, "/api/v1/contacts", json!({"first_name": "Bo", "tags": ["Prospect"]})).await;
    let second = second["id"].as_str().unwrap().to_string();
    let count = || async { app.get("/api/v1/tags", Some(&owner.token)).await.body["data"][0]["record_count"].clone() };
    assert_eq!(count().await, 2);
    assert_eq!(app.delete(&format!("/api/v1/contacts/{second}"), Some(&owner.token)).await.status, 204);
    assert_eq!(count().await, 1, "a trashed record is not counted");
    app.post(&format!("/api/v1/trash/contact/{second}/restore"), &json!({}), Some(&owner.token)).await;
    assert_eq!(count().await, 2, "restored, it counts again");
    app.delete(&format!("/api/v1/contacts/{second}"), Some(&owner.token)).await;
    app.post("/api/v1/tags", &json!({"name": "prospect"}), Some(&owner.token)).await.problem(409, "conflict");
    app.post("/api/v1/tags", &json!({"name": ""}), Some(&owner.token)).await.problem(422, "validation_failed");
    let r = app.patch(&format!("/api/v1/tags/{tag_id}"), &json!({"name": "Lead"}), Some(&owner.token)).await;
    assert_eq!(r.body["name"], "Lead", "{}", r.text);
    assert_eq!(app.get(&path, Some(&owner.token)).await.body["tags"], json!(["Lead"]));

    assert_eq!(app.delete(&format!("/api/v1/tags/{tag_id}"), Some(&owner.token)).await.status, 204);
    assert_eq!(app.get(&path, Some(&owner.token)).await.body["tags"], json!([]));
    assert_eq!(app.get("/api/v1/contacts?tag=lead", Some(&owner.token)).await.body["data"], json!([]));
    assert_eq!(app.trash_len(&owner, "tag").await, 1);
    let r = app.post(&format!("/api/v1/trash/tag/{tag_id}/restore"), &json!({}), Some(&owner.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.get(&path, Some(&owner.token)).await.body["tags"], json!(["Lead"]), "links came back");

    app.delete(&format!("/api/v1/tags/{tag_id}"), Some(&owner.token)).await;
    app.clock.advance(Duration::days(30) + Duration::seconds(1));
    let owner = Signed { token: app.sign_in("ada@acme.example").await, ..owner };
    wait_for("tag purge", StdDuration::from_secs(10), || async {
        (app.trash_len(&owner, "tag").await == 0).then_some(())
    })
    .await;
    // The name is free again and starts with no records.
    let r = app.post("/api/v1/tags", &json!({"name": "Lead"}), Some(&owner.token)).await;
    assert_eq!(r.body["record_count"], 0, "{}", r.text);
}

async fn custom_values_are_managed_by_admins_and_restorable(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let member = app.member(&owner, "bob@acme.example", "member").await;
    let r = app
        .post("/api/v1/custom-values", &json!({"key": "support_phone", "value": "+1 555 0100"}), Some(&owner.token))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    app.post("/api/v1/custom-values", &json!({"key": "support_phone", "value": "x"}), Some(&owner.token))
        .await
        .problem(409, "conflict");
    for bad in
        [json!({"key": "Bad Key", "value": "x"}), json!({"key": "k"}), json!({"key": "k", "value": "x".repeat(10_001)})]
    {
        app.post("/api/v1/custom-values", &bad, Some(&owner.token)).await.problem(422, "validation_failed");
    }
    app.post("/api/v1/custom-values", &json!({"key": "k", "value": "v"}), Some(&member.token))
        .await
        .problem(403, "forbidden");
    assert_eq!(app.get("/api/v1/custom-values", Some(&member.token)).await.body["data"][0]["key"], "support_phone");
    let r =
        app.patch(&format!("/api/v1/custom-values/{id}"), &json!({"value": "+1 555 0199"}), Some(&owner.token)).await;
    assert_eq!(r.body["value"], "+1 555 0199");
    let evil = app.signup("Evil", "eve@evil.example").await;
    app.get(&format!("/api/v1/custom-values/{id}"), Some(&evil.token)).await.problem(404, "not_found");
    app.delete(&format!("/api/v1/custom-values/{id}"), Some(&evil.token)).await.problem(404, "not_found");
    assert_eq!(app.get("/api/v1/custom-values", Some(&evil.token)).await.body["data"], json!([]));
    assert_eq!(app.delete(&format!("/api/v1/custom-values/{id}"), Some(&owner.token)).await.status, 204);
    app.get(&format!("/api/v1/custom-values/{id}"), Some(&owner.token)).await.problem(404, "not_found");
    let r = app.post(&format!("/api/v1/trash/custom_value/{id}/restore"), &json!({}), Some(&owner.token)).await;
    assert_eq!((r.status, r.body["value"].as_str()), (200, Some("+1 555 0199")), "{}", r.text);
}

both_backends!(
    tags_are_renamed_everywhere_and_trashed_with_their_links,
    custom_values_are_managed_by_admins_and_restorable,
);
