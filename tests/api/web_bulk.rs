//! The record lists' filter builder and bulk changes over real HTTP (issue #17): builder
//! rows become the API's search (and show their expression), invalid filters show the
//! API's 422 message in the page, paging and sorting keep the filter, a contact filter
//! becomes a segment; checked records are tagged, untagged and moved to the trash with
//! the API's audit entries, behind CSRF and roles, and another portal's ids change
//! nothing. Both databases.

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{Signed, TestApp};
use crate::web::Browser;

fn query(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap()
}

/// Creates contacts in one batch and returns their ids in order.
async fn contacts(app: &TestApp, owner: &Signed, items: Vec<Value>) -> Vec<String> {
    let r = app.post("/api/v1/contacts/batch", &json!({"action": "create", "items": items}), Some(&owner.token)).await;
    assert_eq!((r.status, r.body["failed"].as_u64()), (200, Some(0)), "{}", r.text);
    r.body["results"].as_array().unwrap().iter().map(|x| x["record"]["id"].as_str().unwrap().to_string()).collect()
}

fn listed(html: &str, ids: &[String]) -> Vec<usize> {
    ids.iter().enumerate().filter(|(_, id)| html.contains(&format!("data-id=\"{id}\""))).map(|(i, _)| i).collect()
}

/// The `href` of the element with this id.
fn href_of(html: &str, id: &str) -> String {
    let at = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id}"));
    let start = html[..at].rfind("href=\"").unwrap() + 6;
    html[start..start + html[start..].find('"').unwrap()].replace("&#x2f;", "/").replace("&amp;", "&")
}

async fn the_builder_filters_pages_and_shows_its_expression(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.custom_field(&owner, "contact", "score", "number", json!({"label": "Score"})).await;
    // 40 contacts: score i, tagged vip unless i % 4 == 3 (30 of them).
    let items: Vec<Value> = (0..40)
        .map(|i| {
            let tags: Vec<&str> = if i % 4 == 3 { vec![] } else { vec!["vip"] };
            json!({"email": format!("c{i:02}@acme.example"), "tags": tags, "custom_fields": {"score": i}})
        })
        .collect();
    let ids = contacts(&app, &owner, items).await;
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;

    // Two rows (AND): tagged vip and score at least 30.
    let rows = query(&[
        ("apply", "rows"),
        ("field.0", "tags"),
        ("op.0", "eq"),
        ("value.0", "vip"),
        ("join.1", "and"),
        ("field.1", "custom_fields.score"),
        ("op.1", "gte"),
        ("value.1", "30"),
        ("field.2", ""),
    ]);
    let r = b.get(&format!("/app/contacts?{rows}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(listed(&r.text, &ids), vec![30, 32, 33, 34, 36, 37, 38], "vip and score >= 30");
    assert!(r.text.contains("tags eq vip\ncustom_fields.score gte 30</textarea>"), "the expression is shown");
    assert!(r.text.contains("id=\"field-2\""), "the rows and a blank one to add: {}", r.text);
    // The operator menu of a number offers comparisons, a tag's does not.
    assert!(r.text.contains("data-ops=\"eq neq gt gte lt lte in exists not_exists\""));
    assert!(r.text.contains("data-ops=\"eq neq contains in exists not_exists\""));

    // OR across rows; the same filter typed as an expression lists the same records.
    let or = query(&[
        ("apply", "rows"),
        ("field.0", "email"),
        ("op.0", "eq"),
        ("value.0", "c01@acme.example"),
        ("join.1", "or"),
        ("field.1", "custom_fields.score"),
        ("op.1", "in"),
        ("value.1", "5, 7"),
    ]);
    let r = b.get(&format!("/app/contacts?{or}")).await;
    assert_eq!(listed(&r.text, &ids), vec![1, 5, 7], "{}", r.text);
    let typed = query(&[("filter", "email eq c01@acme.example\nor\ncustom_fields.score in [5, 7]")]);
    assert_eq!(listed(&b.get(&format!("/app/contacts?{typed}")).await.text, &ids), vec![1, 5, 7]);
    // Removing a row (a submit button without JavaScript) drops it.
    let r = b.get(&format!("/app/contacts?{or}&remove=1")).await;
    assert_eq!(listed(&r.text, &ids), vec![1]);
    // Not set: empty.
    let r = b
        .get(&format!("/app/contacts?{}", query(&[("apply", "rows"), ("field.0", "phone"), ("op.0", "not_exists")])))
        .await;
    assert_eq!(listed(&r.text, &ids).len(), 25, "no contact has a phone; 25 a page");
    assert!(r.text.contains("phone exists false</textarea>"));

    // Paging keeps the filter (and the sort): 30 vip contacts, 25 then 5.
    let vip =
        query(&[("apply", "rows"), ("field.0", "tags"), ("op.0", "eq"), ("value.0", "VIP"), ("sort", "-created_at")]);
    let first = b.get(&format!("/app/contacts?{vip}")).await;
    let page1 = listed(&first.text, &ids);
    assert_eq!(page1.len(), 25);
    let next = href_of(&first.text, "next-page");
    assert!(next.contains("filter=tags+eq+VIP") && next.contains("sort=-created_at"), "{next}");
    let second = b.get(&next).await;
    assert_eq!(second.status, 200, "{}", second.text);
    let page2 = listed(&second.text, &ids);
    assert_eq!(page2.len(), 5, "{page2:?}");
    assert!(page1.iter().chain(&page2).all(|i| i % 4 != 3), "only vip contacts on both pages");
    assert!(second.text.contains("tags eq VIP</textarea>"), "the filter is still shown");
    assert!(href_of(&second.text, "clear-filters").ends_with("sort=-created_at"));

    // Invalid filters: the API's 422 message in the page, not a 500.
    let bad = query(&[("apply", "rows"), ("field.0", "custom_fields.score"), ("op.0", "gte"), ("value.0", "lots")]);
    let r = b.get(&format!("/app/contacts?{bad}")).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("filter_groups[0].filters[0].value: needs a number"), "{}", r.text);
    let bad = query(&[("apply", "rows"), ("field.0", "custom_fields.score"), ("op.0", "contains"), ("value.0", "1")]);
    let r = b.get(&format!("/app/contacts?{bad}")).await;
    assert!(r.status == 422 && r.text.contains("contains works on text fields"), "{}", r.text);
    let r = b.get(&format!("/app/contacts?{}", query(&[("filter", "nonsense")]))).await;
    assert!(r.status == 422 && r.text.contains("Line 1"), "{}", r.text);
    let r = b.get(&format!("/app/contacts?{}", query(&[("filter", "shoe_size eq 9")]))).await;
    assert!(r.status == 422 && r.text.contains("shoe_size is not a field of contact"), "{}", r.text);

    // A contact filter becomes a segment: the segment form comes filled in.
    let r = b.get(&format!("/app/contacts?{vip}")).await;
    let segment = href_of(&r.text, "segment-from-filter");
    assert!(segment.starts_with("/app/segments/new?query="), "{segment}");
    let form = b.get(&segment).await;
    assert_eq!(form.status, 200, "{}", form.text);
    assert!(form.text.contains(">tags eq VIP</textarea>"), "{}", form.text);
    // Other objects filter the same way (no segment link: segments are of contacts).
    app.create(&owner, "/api/v1/deals", json!({"name": "Big", "amount": "5000", "currency": "EUR"})).await;
    app.create(&owner, "/api/v1/deals", json!({"name": "Small", "amount": "50", "currency": "EUR"})).await;
    let deals = query(&[("apply", "rows"), ("field.0", "amount"), ("op.0", "gt"), ("value.0", "100")]);
    let r = b.get(&format!("/app/deals?{deals}")).await;
    assert!(r.status == 200 && r.text.contains(">Big<") && !r.text.contains(">Small<"), "{}", r.text);
    assert!(!r.text.contains("segment-from-filter"));
    assert!(
        r.text.contains(
            "id=\"value-0\" name=\"value.0\" type=\"text\" value=\"100\" class=\"filter-value\" inputmode=\"decimal\""
        ),
        "{}",
        r.text
    );
    // A choice field suggests its options; a date-time shows the format it takes.
    let r =
        b.get(&format!("/app/tickets?{}", query(&[("apply", "rows"), ("field.0", "priority"), ("op.0", "eq")]))).await;
    let list = r.text.split("<datalist id=\"value-options-0\">").nth(1).and_then(|t| t.split("</datalist>").next());
    assert_eq!(list.map(|l| l.matches("<option value=").count()), Some(4), "{}", r.text);
    assert!(list.is_some_and(|l| l.contains("<option value=\"urgent\">")));
    let r = b
        .get(&format!("/app/tickets?{}", query(&[("apply", "rows"), ("field.0", "created_at"), ("op.0", "gte")])))
        .await;
    assert!(r.text.contains("placeholder=\"e.g. 2026-12-01T09:00:00Z (UTC)\""), "{}", r.text);

    // Dutch.
    assert_eq!(b.post("/app/language", &[("lang", "nl"), ("next", "/app/contacts")]).await.status, 303);
    let r = b.get(&format!("/app/contacts?{vip}")).await;
    for text in ["Filter toevoegen", "Filterexpressie", "Label toevoegen", "Alles op deze pagina selecteren", "is niet"]
    {
        assert!(r.text.contains(text), "{text}");
    }
}

/// How many audit entries the portal has; [`audited_since`] gives those added after.
async fn audit_mark(app: &TestApp, owner: &Signed) -> usize {
    app.audit_actions(&owner.token).await.len()
}

async fn audited_since(app: &TestApp, owner: &Signed, mark: usize) -> Vec<String> {
    app.audit_actions(&owner.token).await.split_off(mark)
}

async fn events(app: &TestApp, who: &Signed, kind: &str) -> usize {
    app.events(&who.tenant_id).await.iter().filter(|e| e.event_type == kind).count()
}

async fn tags_of(app: &TestApp, who: &Signed, id: &str) -> Value {
    let r = app.get(&format!("/api/v1/contacts/{id}"), Some(&who.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["tags"].clone()
}

async fn bulk_changes_tag_untag_and_trash_like_the_api(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let items: Vec<Value> =
        ["a", "b", "c", "d", "e"].iter().map(|n| json!({"email": format!("{n}@acme.example")})).collect();
    let ids = contacts(&app, &owner, items).await;
    let (a, b_, c, d, e) = (&ids[0], &ids[1], &ids[2], &ids[3], &ids[4]);
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    let list = b.get("/app/contacts").await;
    assert!(list.text.contains("id=\"bulk\"") && list.text.contains("value=\"delete\""), "owners see every action");

    // What the API audits (and emits) for one tag change and one delete.
    app.create(&owner, "/api/v1/tags", json!({"name": "vip"})).await;
    let mark = audit_mark(&app, &owner).await;
    app.patch(&format!("/api/v1/contacts/{d}"), &json!({"tags": ["vip"]}), Some(&owner.token)).await;
    let api_tag = audited_since(&app, &owner, mark).await;
    assert_eq!(events(&app, &owner, "contact.updated").await, 1);

    // Tag two: the result line, the tags, and the API's audit entries once per record.
    let mark = audit_mark(&app, &owner).await;
    let r =
        b.post("/app/contacts/bulk", &[("action", "tag"), ("tag", "vip"), ("id", a), ("id", b_), ("q", "acme")]).await;
    let added = audited_since(&app, &owner, mark).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let back = r.header("location").unwrap();
    assert!(back.starts_with("/app/contacts?q=acme&done=tagged&n=2&same=0&missing=0&tag=vip"), "{back}");
    assert!(b.get(&back).await.text.contains("2 contacts tagged “vip”."));
    assert_eq!(added, [api_tag.clone(), api_tag.clone()].concat(), "audited as the API audits it");
    assert_eq!(events(&app, &owner, "contact.updated").await, 3, "one event per record, as the API's");
    assert_eq!((tags_of(&app, &owner, a).await, tags_of(&app, &owner, c).await), (json!(["vip"]), json!([])));

    // "Select all on this page": every page id; those already tagged are unchanged.
    let mut all: Vec<(&str, &str)> = vec![("action", "tag"), ("tag", "VIP"), ("all", "1"), ("id", a)];
    all.extend(ids.iter().map(|id| ("page", id.as_str())));
    let r = b.post("/app/contacts/bulk", &all).await;
    let back = r.header("location").unwrap();
    assert!(back.contains("n=2&same=3&missing=0"), "{back}");
    let e_tags = tags_of(&app, &owner, e).await;
    assert_eq!(e_tags.as_array().map(|t| t.len()), Some(1));
    assert!(e_tags[0].as_str().unwrap().eq_ignore_ascii_case("vip"), "{e_tags}");

    // Untag.
    let r = b.post("/app/contacts/bulk", &[("action", "untag"), ("tag", "vip"), ("id", a), ("id", c)]).await;
    assert!(r.header("location").unwrap().contains("done=untagged&n=2"), "{}", r.text);
    assert_eq!((tags_of(&app, &owner, a).await, tags_of(&app, &owner, b_).await), (json!([]), json!(["vip"])));

    // Bad input: a clear 4xx page, nothing changed.
    let r = b.post("/app/contacts/bulk", &[("action", "tag"), ("tag", " "), ("id", a)]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = b.post("/app/contacts/bulk", &[("action", "tag"), ("tag", "x")]).await;
    assert!(r.status == 422 && r.text.contains("Select at least one record"), "{}", r.text);
    assert_eq!(b.post("/app/contacts/bulk", &[("action", "explode"), ("id", a)]).await.status, 422);
    let long = "t".repeat(500);
    let r = b.post("/app/contacts/bulk", &[("action", "tag"), ("tag", &long), ("id", a), ("id", c)]).await;
    assert_eq!(r.status, 422, "the API's tag rule: {}", r.text);
    assert_eq!(tags_of(&app, &owner, c).await, json!([]), "all or nothing");

    // Another portal's ids change nothing and are reported as not found.
    let other = app.signup("Other", "olga@other.example").await;
    let theirs = app.contact(&other, json!({"email": "x@other.example", "tags": ["keep"]})).await;
    let tid = theirs["id"].as_str().unwrap();
    let r = b.post("/app/contacts/bulk", &[("action", "tag"), ("tag", "gold"), ("id", tid), ("id", c)]).await;
    assert!(r.header("location").unwrap().contains("n=1&same=0&missing=1"), "{}", r.text);
    assert!(b.get(&r.header("location").unwrap()).await.text.contains("1 not found"));
    let r = b.post("/app/contacts/bulk", &[("action", "delete"), ("confirm", "yes"), ("id", tid)]).await;
    assert!(r.header("location").unwrap().contains("n=0&same=0&missing=1"), "{}", r.text);
    let r = app.get(&format!("/api/v1/contacts/{tid}"), Some(&other.token)).await;
    assert_eq!((r.status, r.body["tags"].clone()), (200, json!(["keep"])), "theirs is untouched");

    // Delete asks first; confirmed, it is the API's delete (trash, same audit).
    let mark = audit_mark(&app, &owner).await;
    app.delete(&format!("/api/v1/contacts/{d}"), Some(&owner.token)).await;
    let api_delete = audited_since(&app, &owner, mark).await;
    let r = b.post("/app/contacts/bulk", &[("action", "delete"), ("id", c), ("id", e), ("sort", "email")]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("id=\"bulk-confirm\"") && r.text.contains("these 2 records"), "{}", r.text);
    assert_eq!(app.get(&format!("/api/v1/contacts/{c}"), Some(&owner.token)).await.status, 200, "not yet");
    let mark = audit_mark(&app, &owner).await;
    let confirmed = [("action", "delete"), ("confirm", "yes"), ("id", c), ("id", e), ("sort", "email")];
    let r = b.post("/app/contacts/bulk", &confirmed).await;
    let deleted = audited_since(&app, &owner, mark).await;
    let back = r.header("location").unwrap();
    assert!(back.starts_with("/app/contacts?sort=email&done=deleted&n=2"), "{back}");
    assert!(b.get(&back).await.text.contains("2 contacts moved to the trash."));
    assert_eq!(deleted, [api_delete.clone(), api_delete].concat());
    assert_eq!(events(&app, &owner, "contact.deleted").await, 3);
    assert_eq!(app.get(&format!("/api/v1/contacts/{c}"), Some(&owner.token)).await.status, 404);
    assert_eq!(app.trash_len(&owner, "contact").await, 3);

    // Without the CSRF token: refused, nothing changed.
    let r = b.post_raw("/app/contacts/bulk", &[("action", "tag"), ("tag", "forged"), ("id", a)], &[]).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(tags_of(&app, &owner, a).await, json!([]));

    // A viewer sees no bulk controls, and a forged POST is refused; a member may tag but
    // not trash contacts (owner or admin).
    app.member(&owner, "vic@acme.example", "viewer").await;
    app.member(&owner, "max@acme.example", "member").await;
    let mut viewer = Browser::new(&app);
    viewer.sign_in("vic@acme.example").await;
    let list = viewer.get("/app/contacts").await;
    assert!(list.status == 200 && !list.text.contains("id=\"bulk\"") && !list.text.contains("bulk-pick"));
    for action in [
        vec![("action", "tag"), ("tag", "forged")],
        vec![("action", "delete")],
        vec![("action", "delete"), ("confirm", "yes")],
    ] {
        let mut form = action.clone();
        form.push(("id", a));
        assert_eq!(viewer.post("/app/contacts/bulk", &form).await.status, 403, "{action:?}");
    }
    let mut member = Browser::new(&app);
    member.sign_in("max@acme.example").await;
    let list = member.get("/app/contacts").await;
    assert!(list.text.contains("id=\"bulk\"") && !list.text.contains("value=\"delete\""));
    assert_eq!(member.post("/app/contacts/bulk", &[("action", "delete"), ("id", a)]).await.status, 403);
    assert_eq!(
        member.post("/app/contacts/bulk", &[("action", "delete"), ("confirm", "yes"), ("id", a)]).await.status,
        403
    );
    assert_eq!(app.get(&format!("/api/v1/contacts/{a}"), Some(&owner.token)).await.status, 200);
    assert_eq!(tags_of(&app, &owner, a).await, json!([]));
    let r = member.post("/app/contacts/bulk", &[("action", "tag"), ("tag", "ok"), ("id", a)]).await;
    assert_eq!(r.status, 303, "{}", r.text);

    // Dutch result line and confirmation.
    assert_eq!(b.post("/app/language", &[("lang", "nl"), ("next", "/app/contacts")]).await.status, 303);
    let r = b.post("/app/contacts/bulk", &[("action", "tag"), ("tag", "nl"), ("id", a), ("id", b_)]).await;
    let page = b.get(&r.header("location").unwrap()).await;
    assert!(page.text.contains("2 contacten gelabeld met “nl”."), "{}", page.text);
    let r = b.post("/app/contacts/bulk", &[("action", "delete"), ("id", a)]).await;
    assert!(r.text.contains("Dit record naar de prullenbak verplaatsen?"), "{}", r.text);
    let r = b.post("/app/contacts/bulk", &[("action", "tag"), ("tag", "x")]).await;
    assert!(r.text.contains("Selecteer eerst minstens één record."), "{}", r.text);
}

/// Every object's list takes bulk changes (tasks and notes: members may trash them).
async fn every_object_is_tagged_and_trashed_in_bulk(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    for (plural, body) in [
        ("companies", json!({"name": "Navy"})),
        ("deals", json!({"name": "Cobol"})),
        ("tickets", json!({"subject": "Bug"})),
        ("tasks", json!({"title": "Call"})),
        ("notes", json!({"body": "Met"})),
    ] {
        let id = app.create(&owner, &format!("/api/v1/{plural}"), body).await["id"].as_str().unwrap().to_string();
        b.get(&format!("/app/{plural}")).await;
        let r = b.post(&format!("/app/{plural}/bulk"), &[("action", "tag"), ("tag", "q3"), ("id", &id)]).await;
        assert!(r.header("location").unwrap_or_default().contains("done=tagged&n=1"), "{plural}: {}", r.text);
        let rec = app.get(&format!("/api/v1/{plural}/{id}"), Some(&owner.token)).await;
        assert_eq!(rec.body["tags"], json!(["q3"]), "{plural}");
        let r = b.post(&format!("/app/{plural}/bulk"), &[("action", "delete"), ("confirm", "yes"), ("id", &id)]).await;
        assert!(r.header("location").unwrap_or_default().contains("done=deleted&n=1"), "{plural}: {}", r.text);
        assert_eq!(app.get(&format!("/api/v1/{plural}/{id}"), Some(&owner.token)).await.status, 404, "{plural}");
    }
}

both_backends!(
    the_builder_filters_pages_and_shows_its_expression,
    bulk_changes_tag_untag_and_trash_like_the_api,
    every_object_is_tagged_and_trashed_in_bulk,
);
