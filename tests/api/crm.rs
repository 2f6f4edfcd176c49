//! CRM records (contacts, companies), custom fields, lists, trash and the event outbox.

use std::time::Duration as StdDuration;

use chrono::Duration;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{wait_for, Signed, TestApp};

async fn count(app: &TestApp, who: &Signed, path: &str) -> usize {
    let r = app.get(&format!("{path}?limit=100"), Some(&who.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].as_array().unwrap().len()
}

async fn contacts_are_created_read_updated_with_exact_shapes(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let c = app
        .contact(
            &owner,
            json!({"email": "Grace@Navy.Example", "first_name": "Grace", "last_name": "Hopper", "phone": "+1 555 0100",
               "tags": ["VIP", "vip", "Speaker"]}),
        )
        .await;
    assert_eq!(c["email"], "grace@navy.example");
    assert_eq!(c["tags"], json!(["Speaker", "VIP"]), "deduplicated case-insensitively, sorted");
    assert_eq!(c["company_ids"], json!([]));
    assert_eq!(c["custom_fields"], json!({}));
    for key in ["id", "created_at", "updated_at"] {
        assert!(c[key].is_string(), "{key}: {c}");
    }
    let id = c["id"].as_str().unwrap();
    let got = app.get(&format!("/api/v1/contacts/{id}"), Some(&owner.token)).await;
    assert_eq!(got.body, c);

    let r = app
        .patch(
            &format!("/api/v1/contacts/{id}"),
            &json!({"phone": null, "first_name": "Amazing Grace"}),
            Some(&owner.token),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["phone"], Value::Null);
    assert_eq!(r.body["first_name"], "Amazing Grace");
    assert_eq!(r.body["last_name"], "Hopper", "untouched fields stay");
    // Sending back what GET returned is harmless.
    let r = app.patch(&format!("/api/v1/contacts/{id}"), &r.body, Some(&owner.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let ev = app.events(&owner.tenant_id).await;
    let kinds: Vec<&str> = ev.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(kinds, vec!["contact.created", "contact.updated"], "a no-op update writes no event");
    assert_eq!(ev.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2]);
    let diff: Value = serde_json::from_str(ev[1].diff.as_deref().unwrap()).unwrap();
    assert_eq!(diff["phone"], json!({"from": "+1 555 0100", "to": null}));
    assert_eq!(diff["first_name"], json!({"from": "Grace", "to": "Amazing Grace"}));
}

async fn bad_record_input_is_422_and_changes_nothing(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let cases = [
        (json!({"email": "not-an-email"}), "email"),
        (json!({"email": 42}), "email"),
        (json!({"first_name": "A", "favourite_color": "red"}), "favourite_color"),
        (json!({"phone": "+1 555"}), "email"),
        (json!({"first_name": "A", "company_ids": ["nope"]}), "company_ids"),
        (json!({"first_name": "A", "tags": "vip"}), "tags"),
        (json!({"first_name": "A", "custom_fields": {"nope": 1}}), "custom_fields.nope"),
        (json!({"first_name": "   "}), "first_name"),
        (json!(["x"]), "body"),
    ];
    for (body, field) in cases {
        let r = app.post("/api/v1/contacts", &body, Some(&owner.token)).await;
        let p = r.problem(422, "validation_failed");
        let fields: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert!(fields.contains(&field), "{body}: expected {field} in {fields:?}");
    }
    app.post("/api/v1/companies", &json!({"domain": "acme.example"}), Some(&owner.token))
        .await
        .problem(422, "validation_failed");
    assert_eq!(count(&app, &owner, "/api/v1/contacts").await, 0);
    assert_eq!(count(&app, &owner, "/api/v1/companies").await, 0);
    assert!(app.events(&owner.tenant_id).await.is_empty());
    // A PATCH cannot clear a required field.
    let co = app.post("/api/v1/companies", &json!({"name": "Acme"}), Some(&owner.token)).await;
    let id = co.body["id"].as_str().unwrap();
    app.patch(&format!("/api/v1/companies/{id}"), &json!({"name": null}), Some(&owner.token))
        .await
        .problem(422, "validation_failed");
}

async fn contact_emails_are_unique_per_portal_case_insensitively(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let first = app.contact(&owner, json!({"email": "lin@x.example"})).await;
    let r = app.post("/api/v1/contacts", &json!({"email": "LIN@X.example"}), Some(&owner.token)).await;
    assert_eq!(r.problem(409, "conflict")["existing_id"], first["id"]);
    let other = app.contact(&owner, json!({"email": "mo@x.example"})).await;
    let r = app
        .patch(
            &format!("/api/v1/contacts/{}", other["id"].as_str().unwrap()),
            &json!({"email": "Lin@x.example"}),
            Some(&owner.token),
        )
        .await;
    r.problem(409, "conflict");
    // Another portal may hold the same address.
    let evil = app.signup("Evil", "eve@evil.example").await;
    app.contact(&evil, json!({"email": "lin@x.example"})).await;
}

async fn contacts_link_only_live_companies_of_their_own_portal(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let evil = app.signup("Evil", "eve@evil.example").await;
    let acme =
        app.post("/api/v1/companies", &json!({"name": "Acme", "domain": "ACME.example"}), Some(&owner.token)).await;
    assert_eq!(acme.body["domain"], "acme.example");
    let acme_id = acme.body["id"].as_str().unwrap().to_string();
    let theirs = app.post("/api/v1/companies", &json!({"name": "Evil Corp"}), Some(&evil.token)).await;
    let theirs_id = theirs.body["id"].as_str().unwrap().to_string();

    let c = app.contact(&owner, json!({"first_name": "Bo", "company_ids": [acme_id, acme_id]})).await;
    assert_eq!(c["company_ids"], json!([acme_id]));
    let r = app
        .post("/api/v1/contacts", &json!({"first_name": "Bo", "company_ids": [theirs_id]}), Some(&owner.token))
        .await;
    assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], "company_ids[0]");
    assert_eq!(app.delete(&format!("/api/v1/companies/{acme_id}"), Some(&owner.token)).await.status, 204);
    let r =
        app.post("/api/v1/contacts", &json!({"first_name": "Cy", "company_ids": [acme_id]}), Some(&owner.token)).await;
    r.problem(422, "validation_failed");
}

async fn custom_fields_are_validated_on_every_write(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let member = app.member(&owner, "bob@acme.example", "member").await;
    let def = |key: &str, t: &str, extra: Value| {
        let mut b = json!({"object": "contact", "key": key, "label": key, "type": t});
        if let (Some(b), Some(e)) = (b.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        b
    };
    app.post(
        "/api/v1/custom-fields",
        &def("tier", "select", json!({"options": ["gold", "silver"]})),
        Some(&member.token),
    )
    .await
    .problem(403, "forbidden");
    for (body, field) in [
        (def("Bad Key", "text", json!({})), "key"),
        (def("tier", "colour", json!({})), "type"),
        (def("tier", "select", json!({})), "options"),
        (json!({"object": "widget", "key": "k", "label": "K", "type": "text"}), "object"),
    ] {
        let r = app.post("/api/v1/custom-fields", &body, Some(&owner.token)).await;
        assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], field, "{body}");
    }
    for body in [
        def("tier", "select", json!({"options": ["gold", "silver"]})),
        def("score", "number", json!({})),
        def("birthday", "date", json!({})),
        def("topics", "multi_select", json!({"options": ["seo", "ads"]})),
        def("site", "url", json!({})),
    ] {
        let r = app.post("/api/v1/custom-fields", &body, Some(&owner.token)).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    app.post("/api/v1/custom-fields", &def("tier", "text", json!({})), Some(&owner.token))
        .await
        .problem(409, "conflict");

    let c = app.contact(
        &member,
        json!({"first_name": "Al", "custom_fields": {"tier": "gold", "score": 4.5, "birthday": "1990-02-03", "topics": ["ads"], "site": "https://al.example"}}),
    )
    .await;
    assert_eq!(c["custom_fields"]["tier"], "gold");
    assert_eq!(c["custom_fields"]["score"], 4.5);
    for (cf, bad) in [
        ("tier", json!("bronze")),
        ("score", json!("high")),
        ("birthday", json!("3 Feb")),
        ("topics", json!(["tv"])),
        ("site", json!("ftp://x")),
    ] {
        let r = app
            .post("/api/v1/contacts", &json!({"first_name": "X", "custom_fields": {cf: bad}}), Some(&member.token))
            .await;
        assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], format!("custom_fields.{cf}"));
    }
    // A required field is enforced from then on.
    let req =
        app.post("/api/v1/custom-fields", &def("region", "text", json!({"required": true})), Some(&owner.token)).await;
    let region_id = req.body["id"].as_str().unwrap().to_string();
    let r = app.post("/api/v1/contacts", &json!({"first_name": "Y"}), Some(&member.token)).await;
    assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], "custom_fields.region");
    let r = app
        .patch(
            &format!("/api/v1/custom-fields/{region_id}"),
            &json!({"required": false, "label": "Sales region"}),
            Some(&owner.token),
        )
        .await;
    assert_eq!((r.body["required"].as_bool(), r.body["label"].as_str()), (Some(false), Some("Sales region")));
    let list = app.get("/api/v1/custom-fields?object=contact", Some(&member.token)).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 6);
}

async fn deleting_a_custom_field_hides_its_values_until_restored(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let f = app
        .post(
            "/api/v1/custom-fields",
            &json!({"object": "contact", "key": "tier", "label": "Tier", "type": "text"}),
            Some(&owner.token),
        )
        .await;
    let fid = f.body["id"].as_str().unwrap().to_string();
    let c = app.contact(&owner, json!({"first_name": "Al", "custom_fields": {"tier": "gold"}})).await;
    let path = format!("/api/v1/contacts/{}", c["id"].as_str().unwrap());
    assert_eq!(app.delete(&format!("/api/v1/custom-fields/{fid}"), Some(&owner.token)).await.status, 204);
    assert_eq!(app.get(&path, Some(&owner.token)).await.body["custom_fields"], json!({}));
    let trash = app.get("/api/v1/trash?type=custom_field", Some(&owner.token)).await;
    assert_eq!(trash.body["data"][0]["id"], fid.as_str());
    let r = app.post(&format!("/api/v1/trash/custom_field/{fid}/restore"), &json!({}), Some(&owner.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.get(&path, Some(&owner.token)).await.body["custom_fields"], json!({"tier": "gold"}));

    // Purged for good after 30 days: a new field with the same key starts empty.
    app.delete(&format!("/api/v1/custom-fields/{fid}"), Some(&owner.token)).await;
    app.clock.advance(Duration::days(30) + Duration::seconds(1));
    let token = app.sign_in("ada@acme.example").await;
    wait_for("custom field purge", StdDuration::from_secs(10), || async {
        let t = app.get("/api/v1/trash?type=custom_field", Some(&token)).await;
        t.body["data"].as_array().unwrap().is_empty().then_some(())
    })
    .await;
    app.post(
        "/api/v1/custom-fields",
        &json!({"object": "contact", "key": "tier", "label": "Tier", "type": "text"}),
        Some(&token),
    )
    .await;
    assert_eq!(app.get(&path, Some(&token)).await.body["custom_fields"], json!({"tier": null}));
}

async fn lists_page_with_stable_cursors_search_and_filter_by_tag(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let tags = if i % 2 == 0 { json!(["even"]) } else { json!([]) };
        let c = app
            .contact(
                &owner,
                json!({"email": format!("p{i}@x.example"), "last_name": format!("Person{i}"), "tags": tags}),
            )
            .await;
        ids.push(c["id"].as_str().unwrap().to_string());
    }
    let page1 = app.get("/api/v1/contacts?limit=2", Some(&owner.token)).await;
    let got = |r: &crate::helpers::Resp| -> Vec<String> {
        r.body["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(got(&page1), ids[0..2]);
    // Rows inserted between pages neither shift nor repeat what comes next.
    let late = app.contact(&owner, json!({"email": "late@x.example"})).await;
    let c1 = page1.body["next_cursor"].as_str().unwrap();
    let page2 = app.get(&format!("/api/v1/contacts?limit=2&after={c1}"), Some(&owner.token)).await;
    assert_eq!(got(&page2), ids[2..4]);
    let c2 = page2.body["next_cursor"].as_str().unwrap();
    let page3 = app.get(&format!("/api/v1/contacts?limit=2&after={c2}"), Some(&owner.token)).await;
    assert_eq!(got(&page3), vec![ids[4].clone(), late["id"].as_str().unwrap().to_string()]);
    assert_eq!(page3.body["next_cursor"], Value::Null);

    let newest = app.get("/api/v1/contacts?limit=1&sort=-created_at", Some(&owner.token)).await;
    assert_eq!(newest.body["data"][0]["id"], late["id"]);
    let found = app.get("/api/v1/contacts?q=PERSON3", Some(&owner.token)).await;
    assert_eq!(got(&found), vec![ids[3].clone()]);
    let literal = app.get("/api/v1/contacts?q=%25", Some(&owner.token)).await;
    assert_eq!(got(&literal), Vec::<String>::new(), "% is searched literally");
    let tagged = app.get("/api/v1/contacts?tag=EVEN", Some(&owner.token)).await;
    assert_eq!(got(&tagged), vec![ids[0].clone(), ids[2].clone(), ids[4].clone()]);
    for bad in ["limit=0", "limit=101", "after=garbage", "sort=shoe_size"] {
        app.get(&format!("/api/v1/contacts?{bad}"), Some(&owner.token)).await.problem(422, "validation_failed");
    }
}

async fn trash_restores_records_whole_and_purges_after_30_days(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let member = app.member(&owner, "bob@acme.example", "member").await;
    app.post(
        "/api/v1/custom-fields",
        &json!({"object": "contact", "key": "tier", "label": "Tier", "type": "text"}),
        Some(&owner.token),
    )
    .await;
    let co = app.post("/api/v1/companies", &json!({"name": "Acme"}), Some(&owner.token)).await;
    let co_id = co.body["id"].as_str().unwrap().to_string();
    let c = app.contact(
        &member,
        json!({"email": "kim@x.example", "first_name": "Kim", "tags": ["vip"], "company_ids": [co_id], "custom_fields": {"tier": "gold"}}),
    )
    .await;
    let id = c["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/contacts/{id}");
    app.delete(&path, Some(&member.token)).await.problem(403, "forbidden");
    assert_eq!(app.delete(&path, Some(&owner.token)).await.status, 204);
    app.get(&path, Some(&owner.token)).await.problem(404, "not_found");
    app.delete(&path, Some(&owner.token)).await.problem(404, "not_found");
    assert_eq!(count(&app, &owner, "/api/v1/contacts").await, 0);
    assert_eq!(app.get("/api/v1/contacts?tag=vip", Some(&owner.token)).await.body["data"], json!([]));

    let trash = app.get("/api/v1/trash?type=contact", Some(&owner.token)).await;
    let item = &trash.body["data"][0];
    assert_eq!(item["id"], id.as_str());
    let deleted: chrono::DateTime<chrono::Utc> = item["deleted_at"].as_str().unwrap().parse().unwrap();
    let purge: chrono::DateTime<chrono::Utc> = item["purge_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(purge - deleted, Duration::days(30));
    app.get("/api/v1/trash", Some(&owner.token)).await.problem(422, "validation_failed");

    // The address is free while the contact is in the trash; restoring then conflicts.
    let twin = app.contact(&owner, json!({"email": "kim@x.example"})).await;
    let restore = format!("/api/v1/trash/contact/{id}/restore");
    app.post(&restore, &json!({}), Some(&owner.token)).await.problem(409, "conflict");
    app.delete(&format!("/api/v1/contacts/{}", twin["id"].as_str().unwrap()), Some(&owner.token)).await;
    app.post(&restore, &json!({}), Some(&member.token)).await.problem(403, "forbidden");
    let back = app.post(&restore, &json!({}), Some(&owner.token)).await;
    assert_eq!(back.status, 200, "{}", back.text);
    let now = app.get(&path, Some(&owner.token)).await.body;
    for key in ["email", "first_name", "tags", "company_ids", "custom_fields", "created_at"] {
        assert_eq!(now[key], c[key], "{key} came back whole");
    }
    app.post(&restore, &json!({}), Some(&owner.token)).await.problem(404, "not_found");

    // After 30 days in the trash, gone for good.
    app.delete(&path, Some(&owner.token)).await;
    app.clock.advance(Duration::days(29));
    let owner = Signed { token: app.sign_in("ada@acme.example").await, ..owner };
    assert_eq!(app.trash_len(&owner, "contact").await, 2, "twin and kim, both restorable still");
    app.clock.advance(Duration::days(1) + Duration::seconds(1));
    let owner = Signed { token: app.sign_in("ada@acme.example").await, ..owner };
    wait_for("trash purge", StdDuration::from_secs(10), || async {
        (app.trash_len(&owner, "contact").await == 0).then_some(())
    })
    .await;
    app.post(&restore, &json!({}), Some(&owner.token)).await.problem(404, "not_found");
    let kinds: Vec<String> = app.events(&owner.tenant_id).await.into_iter().map(|e| e.event_type).collect();
    for k in ["contact.created", "contact.deleted", "contact.restored", "contact.purged", "company.created"] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }
}

async fn another_portals_records_are_404_everywhere(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let evil = app.signup("Evil", "eve@evil.example").await;
    let c = app.contact(&owner, json!({"email": "secret@x.example", "tags": ["vip"]})).await;
    let id = c["id"].as_str().unwrap();
    let co = app.post("/api/v1/companies", &json!({"name": "Acme"}), Some(&owner.token)).await;
    let co_id = co.body["id"].as_str().unwrap();
    let cf = app
        .post(
            "/api/v1/custom-fields",
            &json!({"object": "contact", "key": "k", "label": "K", "type": "text"}),
            Some(&owner.token),
        )
        .await;
    let cf_id = cf.body["id"].as_str().unwrap();
    for r in [
        app.get(&format!("/api/v1/contacts/{id}"), Some(&evil.token)).await,
        app.patch(&format!("/api/v1/contacts/{id}"), &json!({"first_name": "X"}), Some(&evil.token)).await,
        app.patch(&format!("/api/v1/contacts/{id}"), &json!({"email": 5}), Some(&evil.token)).await,
        app.delete(&format!("/api/v1/contacts/{id}"), Some(&evil.token)).await,
        app.get(&format!("/api/v1/companies/{co_id}"), Some(&evil.token)).await,
        app.get(&format!("/api/v1/custom-fields/{cf_id}"), Some(&evil.token)).await,
        app.delete(&format!("/api/v1/custom-fields/{cf_id}"), Some(&evil.token)).await,
    ] {
        r.problem(404, "not_found");
    }
    app.delete(&format!("/api/v1/contacts/{id}"), Some(&owner.token)).await;
    app.post(&format!("/api/v1/trash/contact/{id}/restore"), &json!({}), Some(&evil.token))
        .await
        .problem(404, "not_found");
    for path in [
        "/api/v1/contacts",
        "/api/v1/companies",
        "/api/v1/custom-fields",
        "/api/v1/contacts?tag=vip",
        "/api/v1/trash?type=contact",
    ] {
        let r = app.get(path, Some(&evil.token)).await;
        assert_eq!(r.body["data"], json!([]), "{path} leaks: {}", r.text);
    }
    assert!(app.events(&evil.tenant_id).await.is_empty());
}

both_backends!(
    contacts_are_created_read_updated_with_exact_shapes,
    bad_record_input_is_422_and_changes_nothing,
    contact_emails_are_unique_per_portal_case_insensitively,
    contacts_link_only_live_companies_of_their_own_portal,
    custom_fields_are_validated_on_every_write,
    deleting_a_custom_field_hides_its_values_until_restored,
    lists_page_with_stable_cursors_search_and_filter_by_tag,
    trash_restores_records_whole_and_purges_after_30_days,
    another_portals_records_are_404_everywhere,
);
