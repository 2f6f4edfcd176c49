//! Deals, tickets, tasks and notes, and deal pipelines: the same record rules for every
//! object (generated over a table), plus each object's own fields.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::TestApp;

/// (plural, a minimal valid body, the defaults it must come back with, a field to update)
fn objects() -> Vec<(&'static str, Value, Value, (&'static str, Value))> {
    vec![
        ("deals", json!({"name": "Big one"}), json!({"status": "open", "amount": null}), ("status", json!("won"))),
        (
            "tickets",
            json!({"subject": "Login broken"}),
            json!({"status": "open", "priority": "normal"}),
            ("priority", json!("urgent")),
        ),
        (
            "tasks",
            json!({"title": "Call back"}),
            json!({"completed": false, "due_at": null}),
            ("completed", json!(true)),
        ),
        (
            "notes",
            json!({"body": "Met at the fair"}),
            json!({"deal_ids": [], "ticket_ids": []}),
            ("body", json!("Met at the trade fair")),
        ),
    ]
}

async fn every_object_keeps_the_record_rules(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let evil = app.signup("Evil", "eve@evil.example").await;
    for (plural, body, defaults, (field, new)) in objects() {
        let object = plural.trim_end_matches('s');
        let rec = app.create(&owner, &format!("/api/v1/{plural}"), body.clone()).await;
        for (k, v) in defaults.as_object().unwrap() {
            assert_eq!(&rec[k], v, "{plural}.{k} default");
        }
        let id = rec["id"].as_str().unwrap().to_string();
        let path = format!("/api/v1/{plural}/{id}");
        // Required fields are required, unknown fields refused.
        app.post(&format!("/api/v1/{plural}"), &json!({}), Some(&owner.token)).await.problem(422, "validation_failed");
        app.post(&format!("/api/v1/{plural}"), &json!({"nope": 1}), Some(&owner.token))
            .await
            .problem(422, "validation_failed");
        let r = app.patch(&path, &json!({ field: new }), Some(&owner.token)).await;
        assert_eq!(r.body[field], new, "{plural}: {}", r.text);
        // Another portal sees nothing.
        app.get(&path, Some(&evil.token)).await.problem(404, "not_found");
        app.patch(&path, &json!({ field: new }), Some(&evil.token)).await.problem(404, "not_found");
        app.delete(&path, Some(&evil.token)).await.problem(404, "not_found");
        assert_eq!(app.get(&format!("/api/v1/{plural}"), Some(&evil.token)).await.body["data"], json!([]));
        // Trash and restore.
        assert_eq!(app.delete(&path, Some(&owner.token)).await.status, 204);
        app.get(&path, Some(&owner.token)).await.problem(404, "not_found");
        assert_eq!(app.trash_len(&owner, object).await, 1);
        let back = app.post(&format!("/api/v1/trash/{object}/{id}/restore"), &json!({}), Some(&owner.token)).await;
        assert_eq!(back.status, 200, "{}", back.text);
        assert_eq!(back.body[field], new);
    }
}

async fn members_delete_tasks_and_notes_but_not_deals_or_tickets(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let member = app.member(&owner, "bob@acme.example", "member").await;
    for (plural, body, _, _) in objects() {
        let rec = app.create(&member, &format!("/api/v1/{plural}"), body).await;
        let r = app.delete(&format!("/api/v1/{plural}/{}", rec["id"].as_str().unwrap()), Some(&member.token)).await;
        let expected = if matches!(plural, "tasks" | "notes") { 204 } else { 403 };
        assert_eq!(r.status, expected, "{plural}: {}", r.text);
    }
}

async fn deal_amounts_are_exact_and_currencies_checked(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let d = app.create(&owner, "/api/v1/deals", json!({"name": "A", "amount": "0012500.10", "currency": "eur"})).await;
    assert_eq!((d["amount"].clone(), d["currency"].clone()), (json!("12500.10"), json!("EUR")));
    let d = app.create(&owner, "/api/v1/deals", json!({"name": "B", "amount": 0.1})).await;
    assert_eq!(d["amount"], "0.1");
    let d = app.create(&owner, "/api/v1/deals", json!({"name": "C", "amount": "999999999999999.999999"})).await;
    assert_eq!(d["amount"], "999999999999999.999999", "no float rounding");
    for bad in [
        json!({"name": "X", "amount": "1e9"}),
        json!({"name": "X", "currency": "EURO"}),
        json!({"name": "X", "status": "maybe"}),
    ] {
        app.post("/api/v1/deals", &bad, Some(&owner.token)).await.problem(422, "validation_failed");
    }
}

async fn deals_move_through_their_pipelines_stages(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let evil = app.signup("Evil", "eve@evil.example").await;
    let sales = app
        .create(
            &owner,
            "/api/v1/pipelines",
            json!({"name": "Sales", "stages": [{"name": "Lead"}, {"name": "Proposal"}, {"name": "Won"}]}),
        )
        .await;
    let stages: Vec<String> =
        sales["stages"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
    let names: Vec<&str> = sales["stages"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["Lead", "Proposal", "Won"], "order kept");
    let pid = sales["id"].as_str().unwrap().to_string();
    let theirs = app.create(&evil, "/api/v1/pipelines", json!({"name": "Theirs", "stages": [{"name": "S"}]})).await;

    let d = app.create(&owner, "/api/v1/deals", json!({"name": "Deal", "pipeline_id": pid})).await;
    assert_eq!(d["stage_id"], stages[0].as_str(), "lands in the first stage");
    let path = format!("/api/v1/deals/{}", d["id"].as_str().unwrap());
    let r = app.patch(&path, &json!({"stage_id": stages[1]}), Some(&owner.token)).await;
    assert_eq!(r.body["stage_id"], stages[1].as_str(), "{}", r.text);
    for (bad, field) in [
        (json!({"stage_id": theirs["stages"][0]["id"]}), "stage_id"),
        (json!({"pipeline_id": theirs["id"]}), "pipeline_id"),
    ] {
        let r = app.patch(&path, &bad, Some(&owner.token)).await;
        assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], field);
    }
    app.post("/api/v1/deals", &json!({"name": "X", "stage_id": stages[0]}), Some(&owner.token))
        .await
        .problem(422, "validation_failed");

    // Stages in use cannot disappear; kept ids keep their deals; reordering is free.
    let pipe_path = format!("/api/v1/pipelines/{pid}");
    let r = app.patch(&pipe_path, &json!({"stages": [{"id": stages[0], "name": "Lead"}]}), Some(&owner.token)).await;
    r.problem(409, "conflict");
    let r = app
        .patch(
            &pipe_path,
            &json!({"stages": [{"id": stages[1], "name": "Offer"}, {"id": stages[0], "name": "Lead"}]}),
            Some(&owner.token),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["stages"][0]["name"], "Offer");
    app.delete(&pipe_path, Some(&owner.token)).await.problem(409, "conflict");
    app.get(&pipe_path, Some(&evil.token)).await.problem(404, "not_found");
    let member = app.member(&owner, "bob@acme.example", "member").await;
    app.post("/api/v1/pipelines", &json!({"name": "Mine", "stages": [{"name": "S"}]}), Some(&member.token))
        .await
        .problem(403, "forbidden");
    for bad in [
        json!({"name": "P", "stages": []}),
        json!({"name": "", "stages": [{"name": "S"}]}),
        json!({"name": "P", "stages": [{"name": "S"}, {"name": "s"}]}),
    ] {
        app.post("/api/v1/pipelines", &bad, Some(&owner.token)).await.problem(422, "validation_failed");
    }

    let events = app.events(&owner.tenant_id).await;
    let stage_changed = events.iter().find(|e| e.event_type == "deal.stage_changed").expect("deal.stage_changed");
    let diff: Value = serde_json::from_str(stage_changed.diff.as_deref().unwrap()).unwrap();
    assert_eq!(diff["stage_id"], json!({"from": stages[0], "to": stages[1]}));
}

async fn tasks_and_notes_link_to_people_and_any_record(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let evil = app.signup("Evil", "eve@evil.example").await;
    let deal = app.create(&owner, "/api/v1/deals", json!({"name": "D"})).await;
    let ticket = app.create(&owner, "/api/v1/tickets", json!({"subject": "T"})).await;
    let t = app
        .create(
            &owner,
            "/api/v1/tasks",
            json!({"title": "Follow up", "due_at": "2026-12-01T10:00:00+02:00", "assignee_id": owner.user_id,
               "deal_ids": [deal["id"]], "ticket_ids": [ticket["id"]]}),
        )
        .await;
    assert_eq!(t["due_at"], "2026-12-01T08:00:00Z");
    assert_eq!(t["assignee_id"], owner.user_id.as_str());
    let r = app.post("/api/v1/tasks", &json!({"title": "X", "assignee_id": evil.user_id}), Some(&owner.token)).await;
    assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], "assignee_id");
    let n = app.create(&owner, "/api/v1/notes", json!({"body": "Hi", "deal_ids": [deal["id"]]})).await;
    assert_eq!(n["deal_ids"], json!([deal["id"]]));
    app.delete(&format!("/api/v1/deals/{}", deal["id"].as_str().unwrap()), Some(&owner.token)).await;
    let r = app.post("/api/v1/notes", &json!({"body": "Hi", "deal_ids": [deal["id"]]}), Some(&owner.token)).await;
    assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], "deal_ids[0]");
}

async fn a_records_timeline_shows_changes_notes_tasks_and_the_trash(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let member = app.member(&owner, "bob@acme.example", "member").await;
    let c = app.create(&owner, "/api/v1/contacts", json!({"email": "t@x.example", "first_name": "Tim"})).await;
    let id = c["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/contacts/{id}");
    app.patch(&path, &json!({"first_name": "Timothy"}), Some(&member.token)).await;
    app.create(&member, "/api/v1/notes", json!({"body": "Called him", "contact_ids": [id]})).await;
    app.create(&owner, "/api/v1/tasks", json!({"title": "Send offer", "contact_ids": [id]})).await;
    app.create(&owner, "/api/v1/notes", json!({"body": "Unrelated"})).await;
    app.delete(&path, Some(&owner.token)).await;
    app.post(&format!("/api/v1/trash/contact/{id}/restore"), &json!({}), Some(&owner.token)).await;

    let r = app.get(&format!("{path}/timeline"), Some(&member.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let kinds: Vec<&str> = r.body["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        vec![
            "contact.restored",
            "contact.deleted",
            "task.created",
            "note.created",
            "contact.updated",
            "contact.created"
        ]
    );
    let update = &r.body["data"][4];
    assert_eq!(update["changes"]["first_name"], json!({"from": "Tim", "to": "Timothy"}));
    assert_eq!(update["actor"], json!({"type": "user", "id": member.user_id}));
    assert_eq!(r.body["data"][3]["record"]["body"], "Called him");

    let page = app.get(&format!("{path}/timeline?limit=4"), Some(&member.token)).await;
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let rest = app.get(&format!("{path}/timeline?limit=4&after={cursor}"), Some(&member.token)).await;
    assert_eq!(rest.body["data"].as_array().unwrap().len(), 2);
    assert_eq!(rest.body["next_cursor"], Value::Null);
    let evil = app.signup("Evil", "eve@evil.example").await;
    app.get(&format!("{path}/timeline"), Some(&evil.token)).await.problem(404, "not_found");
    app.get(&format!("{path}/timeline?limit=0"), Some(&owner.token)).await.problem(422, "validation_failed");
}

both_backends!(
    every_object_keeps_the_record_rules,
    members_delete_tasks_and_notes_but_not_deals_or_tickets,
    deal_amounts_are_exact_and_currencies_checked,
    deals_move_through_their_pipelines_stages,
    tasks_and_notes_link_to_people_and_any_record,
    a_records_timeline_shows_changes_notes_tasks_and_the_trash,
);
