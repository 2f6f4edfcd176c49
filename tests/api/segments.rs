//! Segments on both databases: the exact count and the members (live contacts only, in
//! creation order, paged, shown as the contact list shows them), the engine's batch read,
//! invalid filters as 422s like the search endpoint, a stale filter as a 409, isolation
//! (another portal's id is a 404 on every verb), viewers read only, key scopes, and the
//! `campaigns` feature flag.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::TestApp;
use crate::staff::staff_member;

fn gold() -> Value {
    json!([{"filters": [{"field": "custom_fields.plan", "op": "eq", "value": "gold"}]}])
}

fn ids(page: &Value) -> Vec<String> {
    page["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
}

async fn segments_count_and_page_their_live_members_exactly(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let t = Some(owner.token.as_str());
    app.custom_field(&owner, "contact", "plan", "text", json!({})).await;
    let mut golds = Vec::new();
    for i in 0..4 {
        let plan = if i % 2 == 0 { "gold" } else { "silver" };
        for j in 0..2 {
            let c = app
                .contact(
                    &owner,
                    json!({"email": format!("p{i}{j}@x.example"), "custom_fields": {"plan": plan}, "tags": ["t"]}),
                )
                .await;
            if plan == "gold" {
                golds.push(c["id"].as_str().unwrap().to_string());
            }
        }
    }
    // A trashed gold contact is no member.
    let trashed = golds.remove(1);
    assert_eq!(app.delete(&format!("/api/v1/contacts/{trashed}"), t).await.status, 204);

    let created = app.post("/api/v1/segments", &json!({"name": " Gold ", "filter_groups": gold()}), t).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let keys: std::collections::BTreeSet<&str> = created.body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["created_at", "filter_groups", "id", "name", "updated_at"].into());
    assert_eq!((created.body["name"].as_str(), &created.body["filter_groups"]), (Some("Gold"), &gold()));
    let id = created.body["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/segments/{id}");
    let got = app.get(&path, t).await;
    assert_eq!((got.status, got.body["count"].as_i64()), (200, Some(3)), "{}", got.text);

    // Members, a page at a time, as the contact list shows them.
    let first = app.get(&format!("{path}/contacts?limit=2"), t).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_string();
    let rest = app.get(&format!("{path}/contacts?limit=2&after={cursor}"), t).await;
    assert!(rest.body["next_cursor"].is_null(), "{}", rest.text);
    let mut members = ids(&first.body);
    members.extend(ids(&rest.body));
    assert_eq!(members, golds);
    let listed = app.get(&format!("/api/v1/contacts/{}", golds[0]), t).await;
    assert_eq!(first.body["data"][0], listed.body);
    for bad in ["limit=0", "limit=101", "limit=x", "after=nope"] {
        app.get(&format!("{path}/contacts?{bad}"), t).await.problem(422, "validation_failed");
    }

    // The engine's batch read: every member once, in creation order.
    let db = organizeo::db::Db::connect(&app.db.url(), 1).unwrap();
    let sid = organizeo::domain::SegmentId::parse(&id).unwrap();
    let batched = db
        .tenant(organizeo::domain::TenantId::from_db(owner.tenant_id.clone()))
        .read(move |tdb| {
            let row = organizeo::crm::segments::get(tdb, &sid)?;
            let search = organizeo::crm::segments::search_of(tdb, &row)?;
            let mut out = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = tdb.segment_member_page(&search, after.as_deref(), 2)?;
                if page.is_empty() {
                    break;
                }
                after = page.last().map(|r| r.id.clone());
                out.extend(page.into_iter().map(|r| r.id));
            }
            Ok(out)
        })
        .await
        .unwrap();
    assert_eq!(batched, golds);

    // OR across groups; a rename alone; an edit that changes nothing writes nothing.
    let either = json!([{"filters": [{"field": "custom_fields.plan", "op": "eq", "value": "gold"}]},
                        {"filters": [{"field": "custom_fields.plan", "op": "eq", "value": "silver"}]}]);
    let r = app.patch(&path, &json!({"filter_groups": either}), t).await;
    assert_eq!((r.status, &r.body["filter_groups"]), (200, &either), "{}", r.text);
    assert_eq!(app.get(&path, t).await.body["count"], 7);
    let r = app.patch(&path, &json!({"name": "Everyone paying"}), t).await;
    assert_eq!((r.status, r.body["name"].as_str()), (200, Some("Everyone paying")));
    let before = app.events(&owner.tenant_id).await.len();
    let same = app.patch(&path, &json!({"name": "Everyone paying", "filter_groups": either}), t).await;
    assert_eq!((same.status, &same.body["updated_at"]), (200, &r.body["updated_at"]));
    assert_eq!(app.events(&owner.tenant_id).await.len(), before, "a no-op edit wrote an event");
    // Empty groups: every live contact; a segment matching nobody counts 0.
    let all = app.create(&owner, "/api/v1/segments", json!({"name": "All", "filter_groups": []})).await;
    assert_eq!(app.get(&format!("/api/v1/segments/{}", all["id"].as_str().unwrap()), t).await.body["count"], 7);
    let none = app
        .create(&owner, "/api/v1/segments", json!({"name": "None", "filter_groups": [{"filters": [{"field": "email", "op": "eq", "value": "nobody@x.example"}]}]}))
        .await;
    let none_path = format!("/api/v1/segments/{}", none["id"].as_str().unwrap());
    assert_eq!(app.get(&none_path, t).await.body["count"], 0);
    let empty = app.get(&format!("{none_path}/contacts"), t).await;
    assert_eq!((empty.body["data"].clone(), empty.body["next_cursor"].is_null()), (json!([]), true));
    let list = app.get("/api/v1/segments?limit=2", t).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 2, "{}", list.text);
    assert!(list.body["data"][0].get("count").is_none());

    // A custom field the filters name is deleted: the segment refuses to evaluate.
    let fields = app.get("/api/v1/custom-fields", t).await;
    let field = fields.body["data"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(app.delete(&format!("/api/v1/custom-fields/{field}"), t).await.status, 204);
    app.get(&path, t).await.problem(409, "conflict");
    app.get(&format!("{path}/contacts"), t).await.problem(409, "conflict");

    assert_eq!(app.delete(&path, t).await.status, 204);
    app.get(&path, t).await.problem(404, "not_found");
    let kinds: Vec<String> = app
        .events(&owner.tenant_id)
        .await
        .into_iter()
        .filter(|e| e.object == "segment" && e.record_id == id)
        .map(|e| e.event_type)
        .collect();
    assert_eq!(kinds, ["segment.created", "segment.updated", "segment.updated", "segment.deleted"]);
    let actions = app.audit_actions(&owner.token).await;
    for a in ["segment.created", "segment.updated", "segment.deleted"] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
}

async fn invalid_segments_are_refused_like_the_search(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let t = Some(owner.token.as_str());
    let bad_field = json!([{"filters": [{"field": "nope", "op": "eq", "value": "x"}]}]);
    let r = app.post("/api/v1/segments", &json!({"name": "S", "filter_groups": bad_field}), t).await;
    let search = app.post("/api/v1/contacts/search", &json!({"filter_groups": bad_field}), t).await;
    assert_eq!(r.problem(422, "validation_failed")["errors"], search.problem(422, "validation_failed")["errors"]);
    for (body, field) in [
        (
            json!({"name": "S", "filter_groups": [{"filters": [{"field": "email", "op": "bogus", "value": "x"}]}]}),
            "filter_groups[0].filters[0].op",
        ),
        (json!({"name": "S", "filter_groups": [{"filters": []}]}), "filter_groups[0].filters"),
        (json!({"name": "S"}), "filter_groups"),
        (json!({"filter_groups": []}), "name"),
        (json!({"name": "", "filter_groups": []}), "name"),
        (json!({"name": "n".repeat(201), "filter_groups": []}), "name"),
    ] {
        let r = app.post("/api/v1/segments", &body, t).await;
        assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], field, "{body}: {}", r.text);
    }
    for body in [json!({"name": "S", "filter_groups": "x"}), json!({"name": 3, "filter_groups": []}), json!([1])] {
        let r = app.post("/api/v1/segments", &body, t).await;
        assert!((400..500).contains(&r.status), "{body}: {}", r.text);
        assert_eq!(r.header("content-type").as_deref(), Some("application/problem+json"));
    }
    let s = app.create(&owner, "/api/v1/segments", json!({"name": "S", "filter_groups": []})).await;
    let path = format!("/api/v1/segments/{}", s["id"].as_str().unwrap());
    app.patch(&path, &json!({"filter_groups": bad_field}), t).await.problem(422, "validation_failed");
    app.patch(&path, &json!({"name": " "}), t).await.problem(422, "validation_failed");
    assert_eq!(app.get(&path, t).await.body["filter_groups"], json!([]));
    for id in [uuid::Uuid::now_v7().to_string(), "not-a-uuid".to_string()] {
        let p = format!("/api/v1/segments/{id}");
        app.get(&p, t).await.problem(404, "not_found");
        app.patch(&p, &json!({"name": "x"}), t).await.problem(404, "not_found");
        app.delete(&p, t).await.problem(404, "not_found");
        app.get(&format!("{p}/contacts"), t).await.problem(404, "not_found");
    }
}

async fn segments_are_isolated_and_follow_roles_scopes_and_the_flag(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let other = app.signup("Bolt", "bob@bolt.example").await;
    app.contact(&owner, json!({"email": "a@x.example"})).await;
    let s = app.create(&owner, "/api/v1/segments", json!({"name": "All", "filter_groups": []})).await;
    let path = format!("/api/v1/segments/{}", s["id"].as_str().unwrap());
    let o = Some(other.token.as_str());
    app.get(&path, o).await.problem(404, "not_found");
    app.patch(&path, &json!({"name": "stolen"}), o).await.problem(404, "not_found");
    app.delete(&path, o).await.problem(404, "not_found");
    app.get(&format!("{path}/contacts"), o).await.problem(404, "not_found");
    assert_eq!(app.get("/api/v1/segments", o).await.body["data"], json!([]));
    assert_eq!(app.get(&path, Some(&owner.token)).await.body["name"], "All");

    let viewer = app.member(&owner, "vic@acme.example", "viewer").await;
    let v = Some(viewer.token.as_str());
    assert_eq!(app.get(&path, v).await.body["count"], 1);
    assert_eq!(app.get(&format!("{path}/contacts"), v).await.status, 200);
    app.post("/api/v1/segments", &json!({"name": "V", "filter_groups": []}), v).await.problem(403, "forbidden");
    app.patch(&path, &json!({"name": "V"}), v).await.problem(403, "forbidden");
    app.delete(&path, v).await.problem(403, "forbidden");
    let member = app.member(&owner, "mia@acme.example", "member").await;
    let mine = app.create(&member, "/api/v1/segments", json!({"name": "M", "filter_groups": []})).await;
    let r = app.delete(&format!("/api/v1/segments/{}", mine["id"].as_str().unwrap()), Some(&member.token)).await;
    assert_eq!(r.status, 204);

    let mk = |scopes: Value| {
        let app = &app;
        let owner = &owner;
        async move {
            let r = app.post("/api/v1/api-keys", &json!({"name": "k", "scopes": scopes}), Some(&owner.token)).await;
            r.body["key"].as_str().unwrap().to_string()
        }
    };
    let reader = mk(json!(["campaigns:read"])).await;
    assert_eq!(app.get(&path, Some(&reader)).await.body["count"], 1);
    // Members are contacts: a key needs contacts:read for them too.
    app.get(&format!("{path}/contacts"), Some(&reader)).await.problem(403, "insufficient_scope");
    app.patch(&path, &json!({"name": "K"}), Some(&reader)).await.problem(403, "insufficient_scope");
    let both = mk(json!(["campaigns:read", "contacts:read"])).await;
    assert_eq!(app.get(&format!("{path}/contacts"), Some(&both)).await.body["data"].as_array().unwrap().len(), 1);
    let contacts_only = mk(json!(["contacts:write"])).await;
    app.get(&path, Some(&contacts_only)).await.problem(403, "insufficient_scope");
    let writer = mk(json!(["campaigns:write"])).await;
    assert_eq!(app.patch(&path, &json!({"name": "K"}), Some(&writer)).await.status, 200);

    // The campaigns flag off: emails and segments answer 403 feature_not_enabled.
    let (rm, _) = staff_member(&app, "rita@platform.example", "release_manager").await;
    let r = app.patch("/api/v1/staff/flags/campaigns", &json!({"stage": "off"}), Some(&rm)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    for p in [path.as_str(), "/api/v1/segments", "/api/v1/emails"] {
        let r = app.get(p, Some(&owner.token)).await;
        assert_eq!(r.problem(403, "feature_not_enabled")["feature"], "campaigns");
    }
}

both_backends!(
    segments_count_and_page_their_live_members_exactly,
    invalid_segments_are_refused_like_the_search,
    segments_are_isolated_and_follow_roles_scopes_and_the_flag,
);
