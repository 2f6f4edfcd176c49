//! `?sort=` and the search's `sort` on created_at, updated_at, built-in and custom fields:
//! order, ties, records without a value, cursors that survive inserts, refusals; `tags` as
//! a search field; text values longer than the value index holds.

use std::cmp::Ordering;

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{Signed, TestApp};

/// Every id of a list, paging `limit` at a time through GET (`body` None) or search.
async fn all_ids(app: &TestApp, who: &Signed, sort: &str, limit: usize, body: Option<Value>) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..200 {
        let r = match &body {
            None => {
                let mut path = format!("/api/v1/contacts?limit={limit}&sort={}", urlencode(sort));
                if let Some(a) = &after {
                    path.push_str(&format!("&after={a}"));
                }
                app.get(&path, Some(&who.token)).await
            }
            Some(b) => {
                let mut b = b.clone();
                b["sort"] = json!(sort);
                b["limit"] = json!(limit);
                b["after"] = after.clone().map(Value::String).unwrap_or(Value::Null);
                app.post("/api/v1/contacts/search", &b, Some(&who.token)).await
            }
        };
        assert_eq!(r.status, 200, "{sort}: {}", r.text);
        let page = r.body["data"].as_array().unwrap();
        assert!(page.len() <= limit);
        ids.extend(page.iter().map(|c| c["id"].as_str().unwrap().to_string()));
        match r.body["next_cursor"].as_str() {
            Some(c) => after = Some(c.to_string()),
            None => return ids,
        }
    }
    panic!("{sort}: paging never ended");
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B")
}

/// The order the API promises: records with a value by (value, id), then the rest by id;
/// descending reverses both parts, and records without a value stay last.
fn expected<K: PartialOrd + Clone>(rows: &[(String, Option<K>)], desc: bool) -> Vec<String> {
    let mut with: Vec<_> = rows.iter().filter(|r| r.1.is_some()).cloned().collect();
    let mut without: Vec<_> = rows.iter().filter(|r| r.1.is_none()).cloned().collect();
    with.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(Ordering::Equal).then_with(|| a.0.cmp(&b.0)));
    without.sort_by(|a, b| a.0.cmp(&b.0));
    if desc {
        with.reverse();
        without.reverse();
    }
    with.into_iter().chain(without).map(|r| r.0).collect()
}

async fn sort_fixture(app: &TestApp, owner: &Signed) -> Vec<(String, Option<String>, Option<f64>, String)> {
    app.custom_field(owner, "contact", "score", "number", json!({})).await;
    // Ties on both keys, records without either, mixed case (text sorts case-insensitively).
    let last = [Some("Baker"), Some("adams"), None, Some("clark"), Some("baker"), Some("Adams"), None, Some("evans")];
    let scores = [Some(2.5), None, Some(-1.0), Some(2.5), Some(10.0), None, Some(0.0), Some(2.5)];
    let mut rows = Vec::new();
    for i in 0..24 {
        let (l, s) = (last[i % last.len()], scores[(i * 5) % scores.len()]);
        let first = if i % 3 == 0 { format!("x{i}") } else { format!("p{i}") };
        let mut body = json!({"first_name": first, "custom_fields": {}});
        if let Some(l) = l {
            body["last_name"] = json!(format!("{l}{}", i % 2));
        }
        if let Some(s) = s {
            body["custom_fields"]["score"] = json!(s);
        }
        let r = app.post("/api/v1/contacts", &body, Some(&owner.token)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        rows.push((
            r.body["id"].as_str().unwrap().to_string(),
            l.map(|l| format!("{}{}", l.to_lowercase(), i % 2)),
            s,
            first,
        ));
    }
    rows
}

async fn lists_sort_by_any_field_with_ties_and_missing_values_last(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let rows = sort_fixture(&app, &owner).await;
    // Another portal's records never show up, whatever the sort.
    let evil = app.signup("Evil", "eve@evil.example").await;
    app.custom_field(&evil, "contact", "score", "number", json!({})).await;
    for i in 0..3 {
        let r = app
            .post(
                "/api/v1/contacts",
                &json!({"last_name": format!("aaa{i}"), "custom_fields": {"score": -5}}),
                Some(&evil.token),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let by_last: Vec<_> = rows.iter().map(|r| (r.0.clone(), r.1.clone())).collect();
    let by_score: Vec<_> = rows.iter().map(|r| (r.0.clone(), r.2)).collect();
    for (sort, want) in [
        ("last_name", expected(&by_last, false)),
        ("-last_name", expected(&by_last, true)),
        ("custom_fields.score", expected(&by_score, false)),
        ("-custom_fields.score", expected(&by_score, true)),
    ] {
        for limit in [1, 4, 100] {
            assert_eq!(all_ids(&app, &owner, sort, limit, None).await, want, "GET sort={sort} limit={limit}");
        }
        assert_eq!(all_ids(&app, &owner, sort, 5, Some(json!({}))).await, want, "search sort={sort}");
    }
    // A filter that leaves the first window short: the page fills from further on, in order.
    let xs = json!({"filter_groups": [{"filters": [{"field": "first_name", "op": "contains", "value": "x"}]}]});
    let subset: Vec<_> = rows.iter().filter(|r| r.3.starts_with('x')).collect();
    let want = expected(&subset.iter().map(|r| (r.0.clone(), r.1.clone())).collect::<Vec<_>>(), false);
    assert_eq!(all_ids(&app, &owner, "last_name", 2, Some(xs.clone())).await, want, "filtered by last_name");
    let want = expected(&subset.iter().map(|r| (r.0.clone(), r.2)).collect::<Vec<_>>(), true);
    assert_eq!(all_ids(&app, &owner, "-custom_fields.score", 2, Some(xs)).await, want, "filtered by -score");
    // Ranges on the sorted number itself (they bound the walk over the value index).
    for (op, bound, keep) in [
        ("lte", 2.5, (|s: f64| s <= 2.5) as fn(f64) -> bool),
        ("lt", 2.5, |s| s < 2.5),
        ("gt", 0.0, |s| s > 0.0),
        ("gte", 2.5, |s| s >= 2.5),
        ("eq", 2.5, |s| s == 2.5),
    ] {
        let subset: Vec<_> = rows.iter().filter(|r| r.2.is_some_and(keep)).map(|r| (r.0.clone(), r.2)).collect();
        let range =
            json!({"filter_groups": [{"filters": [{"field": "custom_fields.score", "op": op, "value": bound}]}]});
        for (sort, desc) in [("custom_fields.score", false), ("-custom_fields.score", true)] {
            assert_eq!(
                all_ids(&app, &owner, sort, 2, Some(range.clone())).await,
                expected(&subset, desc),
                "{op} {bound} {sort}"
            );
        }
    }
    // One match deep in the order: past the first window, found by the second pass.
    for row in rows.iter().filter(|r| r.3.starts_with('x')) {
        let only = json!({"filter_groups": [{"filters": [{"field": "first_name", "op": "eq", "value": row.3}]}]});
        for sort in ["last_name", "-custom_fields.score"] {
            assert_eq!(
                all_ids(&app, &owner, sort, 1, Some(only.clone())).await,
                vec![row.0.clone()],
                "{sort} {}",
                row.3
            );
        }
    }
    // updated_at: a change moves the record to the end; created_at keeps its place.
    let first = &rows[0].0;
    let r =
        app.patch(&format!("/api/v1/contacts/{first}"), &json!({"first_name": "Changed"}), Some(&owner.token)).await;
    assert_eq!(r.status, 200);
    let updated = all_ids(&app, &owner, "updated_at", 7, None).await;
    assert_eq!(updated.last(), Some(first));
    assert_eq!(updated.len(), rows.len());
    let newest_change = all_ids(&app, &owner, "-updated_at", 7, None).await;
    assert_eq!(newest_change.first(), Some(first));
    let created: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    assert_eq!(all_ids(&app, &owner, "created_at", 7, None).await, created);
}

async fn sorted_cursors_hold_their_place_while_rows_are_added(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let mut names = Vec::new();
    for name in ["delta", "bravo", "foxtrot", "alpha", "echo", "charlie"] {
        let r = app.post("/api/v1/contacts", &json!({"last_name": name}), Some(&owner.token)).await;
        names.push((r.body["id"].as_str().unwrap().to_string(), name));
    }
    let page = |after: Option<String>| {
        let app = &app;
        let token = owner.token.clone();
        async move {
            let mut path = "/api/v1/contacts?sort=last_name&limit=2".to_string();
            if let Some(a) = after {
                path.push_str(&format!("&after={a}"));
            }
            let r = app.get(&path, Some(&token)).await;
            assert_eq!(r.status, 200, "{}", r.text);
            let got: Vec<String> = r.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["last_name"].as_str().unwrap().to_string())
                .collect();
            (got, r.body["next_cursor"].as_str().map(str::to_string))
        }
    };
    let (p1, c1) = page(None).await;
    assert_eq!(p1, ["alpha", "bravo"]);
    // Before the cursor (never shown), after it (shown in its place), and a tie with the
    // cursor's own value (a later id: after it).
    for name in ["aardvark", "delta", "bravo", "golf"] {
        let r = app.post("/api/v1/contacts", &json!({"last_name": name}), Some(&owner.token)).await;
        assert_eq!(r.status, 201);
    }
    let (p2, c2) = page(c1).await;
    assert_eq!(p2, ["bravo", "charlie"]);
    let (p3, c3) = page(c2).await;
    assert_eq!(p3, ["delta", "delta"]);
    let (p4, c4) = page(c3).await;
    assert_eq!(p4, ["echo", "foxtrot"]);
    let (p5, c5) = page(c4).await;
    assert_eq!(p5, ["golf"]);
    assert_eq!(c5, None);
}

async fn bad_sorts_and_foreign_cursors_are_422(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.custom_field(&owner, "contact", "topics", "multi_select", json!({"options": ["a", "b"]})).await;
    for i in 0..3 {
        app.post("/api/v1/contacts", &json!({"last_name": format!("n{i}")}), Some(&owner.token)).await;
    }
    for sort in ["shoe_size", "company_ids", "custom_fields.topics", "custom_fields.nope", "--last_name", "amount", "-"]
    {
        let r = app.get(&format!("/api/v1/contacts?sort={sort}"), Some(&owner.token)).await;
        assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], "sort", "{sort}");
        let r = app.post("/api/v1/contacts/search", &json!({"sort": sort}), Some(&owner.token)).await;
        assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], "sort", "{sort}");
    }
    // A cursor belongs to the sort it was made for.
    let r = app.get("/api/v1/contacts?sort=last_name&limit=1", Some(&owner.token)).await;
    let cursor = r.body["next_cursor"].as_str().unwrap().to_string();
    for other in ["-last_name", "updated_at", "created_at", "first_name"] {
        let r = app.get(&format!("/api/v1/contacts?sort={other}&after={cursor}"), Some(&owner.token)).await;
        assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], "after", "{other}");
    }
    let r = app.get(&format!("/api/v1/contacts?sort=last_name&after={cursor}"), Some(&owner.token)).await;
    assert_eq!(r.status, 200);
    let r = app.get("/api/v1/contacts?sort=last_name&after=djI6bm9wZQ", Some(&owner.token)).await;
    r.problem(422, "validation_failed");
}

async fn tags_are_a_search_field(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    for (name, tags) in
        [("Ann", json!(["VIP", "Lead"])), ("Ben", json!(["lead"])), ("Cat", json!(["Partner"])), ("Dan", json!([]))]
    {
        let r = app.post("/api/v1/contacts", &json!({"first_name": name, "tags": tags}), Some(&owner.token)).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let evil = app.signup("Evil", "eve@evil.example").await;
    app.post("/api/v1/contacts", &json!({"first_name": "Eve", "tags": ["vip"]}), Some(&evil.token)).await;
    let find = |body: Value, who: &Signed| {
        let (app, token) = (&app, who.token.clone());
        async move {
            let r = app.post("/api/v1/contacts/search", &body, Some(&token)).await;
            assert_eq!(r.status, 200, "{body}: {}", r.text);
            r.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["first_name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let one =
        |op: &str, value: Value| json!({"filter_groups": [{"filters": [{"field": "tags", "op": op, "value": value}]}]});
    assert_eq!(find(one("eq", json!("vip")), &owner).await, ["Ann"]);
    assert_eq!(find(one("eq", json!("LEAD")), &owner).await, ["Ann", "Ben"]);
    assert_eq!(find(one("neq", json!("lead")), &owner).await, ["Cat", "Dan"]);
    assert_eq!(find(one("in", json!(["vip", "partner"])), &owner).await, ["Ann", "Cat"]);
    assert_eq!(find(one("contains", json!("ART")), &owner).await, ["Cat"]);
    assert_eq!(find(one("exists", json!(true)), &owner).await, ["Ann", "Ben", "Cat"]);
    assert_eq!(find(one("exists", json!(false)), &owner).await, ["Dan"]);
    assert_eq!(find(one("eq", json!("vip")), &evil).await, ["Eve"]);
    let both = json!({"filter_groups": [{"filters": [
        {"field": "tags", "op": "eq", "value": "lead"}, {"field": "tags", "op": "neq", "value": "vip"}]}]});
    assert_eq!(find(both, &owner).await, ["Ben"]);
    for op in ["lt", "gte"] {
        let r = app.post("/api/v1/contacts/search", &one(op, json!("a")), Some(&owner.token)).await;
        assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], "filter_groups[0].filters[0].value");
    }
    // A trashed tag no longer matches; restored, it does again.
    let tags = app.get("/api/v1/tags", Some(&owner.token)).await;
    let partner = tags.body["data"].as_array().unwrap().iter().find(|t| t["name"] == "Partner").unwrap()["id"].clone();
    let partner = partner.as_str().unwrap();
    assert_eq!(app.delete(&format!("/api/v1/tags/{partner}"), Some(&owner.token)).await.status, 204);
    assert_eq!(find(one("eq", json!("partner")), &owner).await, Vec::<String>::new());
    assert_eq!(find(one("exists", json!(false)), &owner).await, ["Cat", "Dan"]);
    let r = app.post(&format!("/api/v1/trash/tag/{partner}/restore"), &json!({}), Some(&owner.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(find(one("eq", json!("partner")), &owner).await, ["Cat"]);
}

/// Text past what a B-tree entry may hold (PostgreSQL refuses index rows over ~2.7 kB):
/// stored and returned whole, filtered on exactly, sorted by its first 512 characters.
async fn long_text_values_are_stored_filtered_and_sorted(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.custom_field(&owner, "contact", "bio", "text", json!({})).await;
    // Random-looking text compresses badly; multi-byte characters make it longer still.
    let mut seed = 7u64;
    let mut noise = |n: usize| -> String {
        (0..n)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ['a', 'é', 'z', 'ü', 'q', ' ', 'm', 'ø'][(seed >> 60) as usize % 8]
            })
            .collect()
    };
    let common = noise(600);
    // They differ first at character 601, past the indexed prefix: a < b in any collation.
    let long_a = format!("{common}a{}needle{}", noise(3000), noise(16000));
    let long_b = format!("{common}b{}", noise(5000));
    let mut ids = Vec::new();
    for bio in [&long_a, &long_b] {
        let r = app
            .post("/api/v1/contacts", &json!({"first_name": "Long", "custom_fields": {"bio": bio}}), Some(&owner.token))
            .await;
        assert_eq!(r.status, 201, "{}", &r.text[..r.text.len().min(300)]);
        assert_eq!(r.body["custom_fields"]["bio"], json!(bio));
        ids.push(r.body["id"].as_str().unwrap().to_string());
    }
    let short = noise(512);
    let r = app
        .post("/api/v1/contacts", &json!({"first_name": "Short", "custom_fields": {"bio": short}}), Some(&owner.token))
        .await;
    assert_eq!(r.status, 201);
    ids.push(r.body["id"].as_str().unwrap().to_string());
    let r = app.post("/api/v1/notes", &json!({"body": long_a}), Some(&owner.token)).await;
    assert_eq!(r.status, 201, "a 19,607-character note body");

    let found = |op: &str, value: Value| {
        let (app, token) = (&app, owner.token.clone());
        let body = json!({"filter_groups": [{"filters": [{"field": "custom_fields.bio", "op": op, "value": value}]}]});
        async move {
            let r = app.post("/api/v1/contacts/search", &body, Some(&token)).await;
            assert_eq!(r.status, 200, "{}", r.text);
            r.body["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
        }
    };
    assert_eq!(found("eq", json!(long_a)).await, [ids[0].clone()]);
    assert_eq!(found("eq", json!(long_b.to_uppercase())).await, [ids[1].clone()], "case-insensitive");
    let prefix: String = long_a.chars().take(512).collect();
    assert_eq!(found("eq", json!(prefix)).await, Vec::<String>::new(), "a prefix is not the value");
    assert_eq!(found("eq", json!(short)).await, [ids[2].clone()]);
    assert_eq!(found("neq", json!(long_a)).await, [ids[1].clone(), ids[2].clone()]);
    assert_eq!(found("contains", json!("needle")).await, [ids[0].clone()], "found past the indexed prefix");
    assert_eq!(found("in", json!([long_b, short])).await, [ids[1].clone(), ids[2].clone()]);
    assert!(found("lte", json!(long_a)).await.contains(&ids[0]));
    assert!(!found("lt", json!(long_a)).await.contains(&ids[0]));
    assert!(found("gt", json!(long_a)).await.contains(&ids[1]));
    assert!(!found("gt", json!(long_b)).await.contains(&ids[1]));
    assert!(found("gte", json!(long_b)).await.contains(&ids[1]));
    let sorted = all_ids(&app, &owner, "custom_fields.bio", 1, None).await;
    assert_eq!(sorted.len(), 3);
}

both_backends!(
    lists_sort_by_any_field_with_ties_and_missing_values_last,
    sorted_cursors_hold_their_place_while_rows_are_added,
    bad_sorts_and_foreign_cursors_are_422,
    tags_are_a_search_field,
    long_text_values_are_stored_filtered_and_sorted,
);
