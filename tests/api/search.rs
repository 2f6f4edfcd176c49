//! `POST /{plural}/search`: every operator on built-in and custom fields, OR of ANDs,
//! paging, and isolation.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{Signed, TestApp};

async fn names(app: &TestApp, who: &Signed, plural: &str, body: Value) -> Vec<String> {
    let r = app.post(&format!("/api/v1/{plural}/search"), &body, Some(&who.token)).await;
    assert_eq!(r.status, 200, "{body}: {}", r.text);
    let key = if plural == "deals" { "name" } else { "first_name" };
    r.body["data"].as_array().unwrap().iter().map(|c| c[key].as_str().unwrap_or("").to_string()).collect()
}

fn one(field: &str, op: &str, value: Value) -> Value {
    json!({"filter_groups": [{"filters": [{"field": field, "op": op, "value": value}]}]})
}

async fn seed(app: &TestApp, owner: &Signed) {
    for (field, kind, extra) in [
        ("score", "number", json!({})),
        ("tier", "select", json!({"options": ["gold", "silver", "bronze"]})),
        ("vip", "boolean", json!({})),
        ("birthday", "date", json!({})),
        ("topics", "multi_select", json!({"options": ["seo", "ads", "email"]})),
    ] {
        app.custom_field(owner, "contact", field, kind, extra).await;
    }
    for (name, email, score, tier, vip, birthday, topics) in [
        ("Ann", "ann@alpha.example", 10, "gold", true, "1990-01-01", json!(["seo"])),
        ("Ben", "ben@beta.example", 20, "silver", false, "1985-06-15", json!(["ads", "email"])),
        ("Cat", "cat@alpha.example", 30, "bronze", true, "2000-12-31", json!([])),
    ] {
        let r = app
            .post(
                "/api/v1/contacts",
                &json!({"first_name": name, "email": email, "custom_fields":
                    {"score": score, "tier": tier, "vip": vip, "birthday": birthday, "topics": topics}}),
                Some(&owner.token),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    // No custom values at all: the "exists: false" and "neq" cases.
    app.post("/api/v1/contacts", &json!({"first_name": "Dan"}), Some(&owner.token)).await;
}

async fn every_operator_works_on_built_in_and_custom_fields(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    seed(&app, &owner).await;
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (one("email", "eq", json!("BEN@beta.example")), vec!["Ben"]),
        (one("email", "neq", json!("ben@beta.example")), vec!["Ann", "Cat", "Dan"]),
        (one("email", "contains", json!("ALPHA")), vec!["Ann", "Cat"]),
        (one("email", "in", json!(["ann@alpha.example", "cat@alpha.example"])), vec!["Ann", "Cat"]),
        (one("email", "exists", json!(false)), vec!["Dan"]),
        (one("first_name", "lt", json!("b")), vec!["Ann"]),
        (one("first_name", "gte", json!("cat")), vec!["Cat", "Dan"]),
        (one("custom_fields.score", "gt", json!(10)), vec!["Ben", "Cat"]),
        (one("custom_fields.score", "lte", json!(20)), vec!["Ann", "Ben"]),
        (one("custom_fields.score", "eq", json!("30")), vec!["Cat"]),
        (one("custom_fields.score", "in", json!([10, 30])), vec!["Ann", "Cat"]),
        (one("custom_fields.score", "neq", json!(10)), vec!["Ben", "Cat", "Dan"]),
        (one("custom_fields.tier", "eq", json!("Gold")), vec!["Ann"]),
        (one("custom_fields.vip", "eq", json!(true)), vec!["Ann", "Cat"]),
        (one("custom_fields.vip", "neq", json!(true)), vec!["Ben", "Dan"]),
        (one("custom_fields.birthday", "lt", json!("1990-01-01")), vec!["Ben"]),
        (one("custom_fields.birthday", "gte", json!("1990-01-01")), vec!["Ann", "Cat"]),
        (one("custom_fields.topics", "eq", json!("email")), vec!["Ben"]),
        (one("custom_fields.topics", "exists", json!(true)), vec!["Ann", "Ben"]),
        (one("custom_fields.topics", "exists", Value::Null), vec!["Ann", "Ben"]),
        (one("created_at", "gte", json!("2000-01-01T00:00:00Z")), vec!["Ann", "Ben", "Cat", "Dan"]),
        (one("created_at", "lt", json!("2000-01-01T00:00:00Z")), vec![]),
    ];
    for (body, expected) in cases {
        assert_eq!(names(&app, &owner, "contacts", body.clone()).await, expected, "{body}");
    }
    // AND inside a group, OR across groups.
    let body = json!({"filter_groups": [
        {"filters": [{"field": "email", "op": "contains", "value": "alpha"}, {"field": "custom_fields.vip", "op": "eq", "value": true},
                     {"field": "custom_fields.score", "op": "gt", "value": 15}]},
        {"filters": [{"field": "first_name", "op": "eq", "value": "dan"}]}
    ]});
    assert_eq!(names(&app, &owner, "contacts", body).await, vec!["Cat", "Dan"]);
    // No groups: everything, paged like a list.
    let r = app.post("/api/v1/contacts/search", &json!({"limit": 3, "sort": "-created_at"}), Some(&owner.token)).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 3);
    let next = r.body["next_cursor"].as_str().unwrap();
    let r = app
        .post("/api/v1/contacts/search", &json!({"limit": 3, "sort": "-created_at", "after": next}), Some(&owner.token))
        .await;
    assert_eq!(r.body["data"][0]["first_name"], "Ann");
    assert_eq!(r.body["next_cursor"], Value::Null);
}

async fn deals_search_by_amount_and_stage(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    for (name, amount, status) in [("Small", "99.99", "open"), ("Mid", "1000", "won"), ("Large", "25000.50", "open")] {
        let r = app
            .post("/api/v1/deals", &json!({"name": name, "amount": amount, "status": status}), Some(&owner.token))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    assert_eq!(names(&app, &owner, "deals", one("amount", "gte", json!("1000"))).await, vec!["Mid", "Large"]);
    assert_eq!(names(&app, &owner, "deals", one("amount", "lt", json!(100))).await, vec!["Small"]);
    assert_eq!(names(&app, &owner, "deals", one("status", "eq", json!("won"))).await, vec!["Mid"]);
}

async fn bad_searches_are_422_naming_the_filter(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    seed(&app, &owner).await;
    for (body, field) in [
        (one("shoe_size", "eq", json!(1)), "filter_groups[0].filters[0].field"),
        (one("email", "like", json!("x")), "filter_groups[0].filters[0].op"),
        (one("custom_fields.score", "contains", json!("1")), "filter_groups[0].filters[0].value"),
        (one("custom_fields.score", "gt", json!("lots")), "filter_groups[0].filters[0].value"),
        (one("email", "in", json!("x")), "filter_groups[0].filters[0].value"),
        (one("custom_fields.vip", "gt", json!(true)), "filter_groups[0].filters[0].value"),
        (one("custom_fields.nope", "eq", json!(1)), "filter_groups[0].filters[0].field"),
        (json!({"filter_groups": [{"filters": []}]}), "filter_groups[0].filters"),
        (json!({"filter_groups": "all"}), "filter_groups"),
        (json!({"limit": "ten"}), "limit"),
    ] {
        let r = app.post("/api/v1/contacts/search", &body, Some(&owner.token)).await;
        assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], field, "{body}");
    }
}

async fn search_never_crosses_portals(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    seed(&app, &owner).await;
    let evil = app.signup("Evil", "eve@evil.example").await;
    assert_eq!(names(&app, &evil, "contacts", one("email", "contains", json!("alpha"))).await, Vec::<String>::new());
    // Their custom fields are not even nameable here.
    let r = app.post("/api/v1/contacts/search", &one("custom_fields.score", "gt", json!(0)), Some(&evil.token)).await;
    r.problem(422, "validation_failed");
}

/// Text of any length is searched whole: `contains` and `?q=` with 60,000 characters work
/// on both databases (SQLite's LIKE refuses patterns over 50,000 bytes).
async fn very_long_search_text_is_found_exactly(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let needle: String = (0..60_000).map(|i| char::from(b'a' + (i % 23) as u8)).collect();
    let app = app.restart_with(|s| s.max_body_bytes = 4 * 1024 * 1024).await;
    let hay = format!("start {needle} end");
    let note = app.create(&owner, "/api/v1/notes", json!({"body": hay})).await;
    app.create(&owner, "/api/v1/notes", json!({"body": "something else"})).await;
    let search = json!({"filter_groups": [{"filters": [{"field": "body", "op": "contains", "value": needle}]}]});
    let r = app.post("/api/v1/notes/search", &search, Some(&owner.token)).await;
    assert_eq!(r.status, 200, "{}", r.text.chars().take(300).collect::<String>());
    let ids: Vec<&Value> = r.body["data"].as_array().unwrap().iter().map(|n| &n["id"]).collect();
    assert_eq!(ids, vec![&note["id"]]);
    // A different long text finds nothing.
    let other: String = needle.chars().rev().collect();
    let search = json!({"filter_groups": [{"filters": [{"field": "body", "op": "contains", "value": other}]}]});
    let r = app.post("/api/v1/notes/search", &search, Some(&owner.token)).await;
    assert_eq!((r.status, r.body["data"].as_array().map(Vec::len)), (200, Some(0)));
    // ?q= (here far longer than any contact's main fields) and a long tag search.
    app.contact(&owner, json!({"first_name": needle.chars().take(200).collect::<String>()})).await;
    let r = app.post("/api/v1/contacts/search", &json!({"q": needle}), Some(&owner.token)).await;
    assert_eq!((r.status, r.body["data"].as_array().map(Vec::len)), (200, Some(0)), "{}", r.status);
    let r = app.post("/api/v1/notes/search", &json!({"q": needle}), Some(&owner.token)).await;
    assert_eq!(r.status, 200);
    let tags = json!({"filter_groups": [{"filters": [{"field": "tags", "op": "contains", "value": needle}]}]});
    let r = app.post("/api/v1/contacts/search", &tags, Some(&owner.token)).await;
    assert_eq!((r.status, r.body["data"].as_array().map(Vec::len)), (200, Some(0)));
    // The audit filter refuses an absurd action instead of failing.
    let r = app.get(&format!("/api/v1/audit-log?action={}", "a".repeat(60_000)), Some(&owner.token)).await;
    assert!(r.status == 422 || r.status == 414 || r.status == 431, "{}", r.status);
}

async fn search_ids(app: &TestApp, who: &Signed, plural: &str, body: Value) -> Vec<String> {
    let r = app.post(&format!("/api/v1/{plural}/search"), &body, Some(&who.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_string()).collect()
}

/// Amounts compare and sort exactly as stored (floats cannot tell these two apart), and
/// times compare at the stored precision: a record's own `created_at` finds it with `eq`
/// and with `in`.
async fn values_compare_exactly_as_stored(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let low = app.create(&owner, "/api/v1/deals", json!({"name": "Low", "amount": "999999999999.999998"})).await;
    let high = app.create(&owner, "/api/v1/deals", json!({"name": "High", "amount": "999999999999.999999"})).await;
    let neg = app.create(&owner, "/api/v1/deals", json!({"name": "Neg", "amount": "-0.000001"})).await;
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    assert_eq!(search_ids(&app, &owner, "deals", one("amount", "eq", json!("999999999999.999998"))).await, [id(&low)]);
    assert_eq!(search_ids(&app, &owner, "deals", one("amount", "gt", json!("999999999999.999998"))).await, [id(&high)]);
    assert_eq!(search_ids(&app, &owner, "deals", one("amount", "lt", json!(0))).await, [id(&neg)]);
    assert_eq!(
        search_ids(&app, &owner, "deals", one("amount", "in", json!(["999999999999.999999", "-0.000001"]))).await,
        [id(&high), id(&neg)]
    );
    let sorted = search_ids(&app, &owner, "deals", json!({"sort": "-amount"})).await;
    assert_eq!(sorted, [id(&high), id(&low), id(&neg)]);

    // created_at: eq and in agree, at the stored microsecond, and a whole second covers it.
    let at = low["created_at"].as_str().unwrap();
    assert_eq!(search_ids(&app, &owner, "deals", one("created_at", "eq", json!(at))).await, [id(&low)]);
    assert_eq!(search_ids(&app, &owner, "deals", one("created_at", "in", json!([at]))).await, [id(&low)]);
    let second = format!("{}Z", &at[..19]);
    let same_second = search_ids(&app, &owner, "deals", one("created_at", "eq", json!(second))).await;
    assert!(same_second.contains(&id(&low)), "{same_second:?}");
    assert!(!search_ids(&app, &owner, "deals", one("created_at", "gt", json!(at))).await.contains(&id(&low)));
    assert!(search_ids(&app, &owner, "deals", one("created_at", "gte", json!(at))).await.contains(&id(&low)));

    // Amounts indexed the old way (a float) are rewritten as exact keys on migration.
    {
        use diesel::RunQueryDsl;
        let mut conn = app.db_conn();
        diesel::sql_query("UPDATE record_values SET text_value = NULL, num_value = 1e12 WHERE field = 'amount'")
            .execute(&mut conn)
            .unwrap();
    }
    let app = app.restart().await;
    assert_eq!(search_ids(&app, &owner, "deals", one("amount", "eq", json!("999999999999.999999"))).await, [id(&high)]);
}

both_backends!(
    values_compare_exactly_as_stored,
    very_long_search_text_is_found_exactly,
    every_operator_works_on_built_in_and_custom_fields,
    deals_search_by_amount_and_stage,
    bad_searches_are_422_naming_the_filter,
    search_never_crosses_portals,
);
