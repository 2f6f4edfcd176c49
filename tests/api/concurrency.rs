//! Every state change is a compare-and-set on both databases: concurrent requests for the
//! same transition see one winner, one event, and no lost update.

use awc::http::Method;
use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{Signed, TestApp};

/// Fires `n` copies of a request at once; returns the statuses.
async fn at_once(app: &TestApp, n: usize, method: Method, path: &str, who: &Signed) -> Vec<u16> {
    let body = (method == Method::POST).then(|| b"{}".to_vec());
    let requests = (0..n).map(|_| app.request(method.clone(), path, Some(&who.token), body.clone()));
    join_all(requests).await.iter().map(|r| r.status).collect()
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

async fn event_count(app: &TestApp, who: &Signed, kind: &str) -> usize {
    app.events(&who.tenant_id).await.iter().filter(|e| e.event_type == kind).count()
}

async fn a_record_is_trashed_and_restored_once_however_many_ask(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let c = app.contact(&owner, json!({"email": "grace@navy.example"})).await;
    let id = c["id"].as_str().unwrap();
    let deletes = at_once(&app, 10, Method::DELETE, &format!("/api/v1/contacts/{id}"), &owner).await;
    assert_eq!((count(&deletes, 204), count(&deletes, 404)), (1, 9), "{deletes:?}");
    assert_eq!(event_count(&app, &owner, "contact.deleted").await, 1);
    let restores = at_once(&app, 10, Method::POST, &format!("/api/v1/trash/contact/{id}/restore"), &owner).await;
    assert_eq!((count(&restores, 200), count(&restores, 404)), (1, 9), "{restores:?}");
    assert_eq!(event_count(&app, &owner, "contact.restored").await, 1);
}

async fn tags_and_custom_values_are_restored_once(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let tag = app.create(&owner, "/api/v1/tags", json!({"name": "VIP"})).await;
    let value = app.create(&owner, "/api/v1/custom-values", json!({"key": "city", "value": "Delft"})).await;
    for (kind, path, id) in [
        ("tag", "/api/v1/tags", tag["id"].as_str().unwrap()),
        ("custom_value", "/api/v1/custom-values", value["id"].as_str().unwrap()),
    ] {
        let deletes = at_once(&app, 8, Method::DELETE, &format!("{path}/{id}"), &owner).await;
        assert_eq!(count(&deletes, 204), 1, "{kind}: {deletes:?}");
        let restores = at_once(&app, 8, Method::POST, &format!("/api/v1/trash/{kind}/{id}/restore"), &owner).await;
        assert_eq!(count(&restores, 200), 1, "{kind}: {restores:?}");
    }
}

/// Concurrent changes to one deal: each stage change's `from` is the stage the previous
/// one moved to (a chain, not several moves from the same stage), and changes to other
/// fields are not lost.
async fn concurrent_updates_chain_and_lose_nothing(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let stages: Vec<Value> = (0..6).map(|i| json!({"name": format!("S{i}")})).collect();
    let p = app.create(&owner, "/api/v1/pipelines", json!({"name": "Sales", "stages": stages})).await;
    let ids: Vec<String> = p["stages"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().into()).collect();
    let deal = app.create(&owner, "/api/v1/deals", json!({"name": "D", "pipeline_id": p["id"]})).await;
    let path = format!("/api/v1/deals/{}", deal["id"].as_str().unwrap());
    let bodies: Vec<Value> = ids.iter().skip(1).map(|s| json!({"stage_id": s})).collect();
    let moves = join_all(bodies.iter().map(|b| app.patch(&path, b, Some(&owner.token))));
    assert!(moves.await.iter().all(|r| r.status == 200));
    let changes: Vec<Value> = app
        .events(&owner.tenant_id)
        .await
        .iter()
        .filter(|e| e.event_type == "deal.stage_changed")
        .map(|e| serde_json::from_str::<Value>(e.diff.as_deref().unwrap()).unwrap()["stage_id"].clone())
        .collect();
    assert_eq!(changes.len(), 5);
    let mut at = Value::String(ids[0].clone());
    for c in &changes {
        assert_eq!(c["from"], at, "a stage change from a stale stage: {changes:?}");
        at = c["to"].clone();
    }
    let now = app.get(&path, Some(&owner.token)).await;
    assert_eq!(now.body["stage_id"], at);

    // Different fields of one contact, changed at once: every change survives.
    let c = app.contact(&owner, json!({"email": "x@x.example"})).await;
    let cpath = format!("/api/v1/contacts/{}", c["id"].as_str().unwrap());
    let edits = [json!({"first_name": "Grace"}), json!({"last_name": "Hopper"}), json!({"phone": "+31 15 000"})];
    let done = join_all(edits.iter().map(|e| app.patch(&cpath, e, Some(&owner.token)))).await;
    assert!(done.iter().all(|r| r.status == 200));
    let got = app.get(&cpath, Some(&owner.token)).await.body;
    assert_eq!(
        (got["first_name"].as_str(), got["last_name"].as_str(), got["phone"].as_str()),
        (Some("Grace"), Some("Hopper"), Some("+31 15 000")),
        "a concurrent update was lost: {got}"
    );
}

/// Purge passes running at once on two "nodes" delete each item once, with one event.
async fn concurrent_purges_delete_each_item_once(app: TestApp) {
    let app = app.restart_with(|s| s.run_jobs = false).await;
    let owner = app.signup("Acme", "ada@acme.example").await;
    for i in 0..6 {
        let c = app.contact(&owner, json!({"email": format!("p{i}@x.example")})).await;
        app.delete(&format!("/api/v1/contacts/{}", c["id"].as_str().unwrap()), Some(&owner.token)).await;
    }
    app.clock.advance(chrono::Duration::days(31));
    let db = organizeo::db::Db::connect(&app.db.url(), 4).unwrap();
    let passes = join_all((0..4).map(|_| organizeo::jobs::purge::step(&db, &app.clock))).await;
    // (The first server's own purge loop may take some too: every purger counts.)
    let purged: usize = passes.into_iter().map(|p| p.map(|d| d.records).unwrap_or(0)).sum();
    assert!(purged <= 6, "{purged} purges of 6 items");
    let db2 = db.clone();
    crate::helpers::wait_for("every item purged", std::time::Duration::from_secs(10), || {
        let (db, clock) = (db2.clone(), app.clock.clone());
        async move { organizeo::jobs::purge::step(&db, &clock).await.ok().filter(|d| d.items() == 0) }
    })
    .await;
    assert_eq!(event_count(&app, &owner, "contact.purged").await, 6, "one event per item, however many purgers");
}

/// Two owners demoting each other at once: the portal keeps an owner.
async fn concurrent_role_changes_keep_an_owner(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let second = app.member(&owner, "bo@acme.example", "owner").await;
    let (to_second, to_owner) =
        (format!("/api/v1/users/{}", second.user_id), format!("/api/v1/users/{}", owner.user_id));
    let demote = json!({"role": "admin"});
    let both = join_all([
        app.patch(&to_second, &demote, Some(&owner.token)),
        app.patch(&to_owner, &demote, Some(&second.token)),
    ])
    .await;
    let (a, b) = (&both[0], &both[1]);
    assert!(a.status == 200 || a.status == 409 || a.status == 403, "{}", a.text);
    assert!(b.status == 200 || b.status == 409 || b.status == 403, "{}", b.text);
    let people = app.get("/api/v1/users", Some(&owner.token)).await;
    let owners = people.body["data"].as_array().unwrap().iter().filter(|u| u["role"] == "owner").count();
    assert_eq!(owners, 1, "{}", people.text);
}

/// Concurrent writes naming the same new tag all succeed and share one tag (a get-or-create
/// that lost the race used to answer 409 on PostgreSQL).
async fn concurrent_writes_create_a_new_tag_once(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let writes = (0..10).map(|i| {
        let (app, owner) = (&app, &owner);
        async move {
            let body = match i % 3 {
                0 => json!({"body": format!("n{i}"), "tags": ["Launch", "q4"]}),
                1 => json!({"body": format!("n{i}"), "tags": ["launch"]}),
                _ => json!({"body": format!("n{i}"), "tags": ["LAUNCH", "Q4", "launch"]}),
            };
            app.post("/api/v1/notes", &body, Some(&owner.token)).await
        }
    });
    let answers = join_all(writes).await;
    for r in &answers {
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let tags = app.get("/api/v1/tags", Some(&owner.token)).await;
    let mut names: Vec<String> =
        tags.body["data"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_lowercase()).collect();
    names.sort();
    assert_eq!(names, ["launch", "q4"], "{}", tags.text);
    let tagged = app
        .post(
            "/api/v1/notes/search",
            &json!({"filter_groups": [{"filters": [{"field": "tags", "op": "contains", "value": "launch"}]}]}),
            Some(&owner.token),
        )
        .await;
    assert_eq!(tagged.body["data"].as_array().map(Vec::len), Some(10), "{}", tagged.text);
}

both_backends!(
    concurrent_writes_create_a_new_tag_once,
    a_record_is_trashed_and_restored_once_however_many_ask,
    tags_and_custom_values_are_restored_once,
    concurrent_updates_chain_and_lose_nothing,
    concurrent_purges_delete_each_item_once,
    concurrent_role_changes_keep_an_owner,
);
