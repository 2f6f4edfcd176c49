//! The generic record screens for every CRM object over real HTTP: forms built from the
//! object's fields (built-in and custom) with the API's 422s beside their fields, lists
//! with search, sort and paging, detail with links both ways and the timeline, hostile
//! values as text, another portal's ids as 404, viewers without edit controls. Both
//! databases.

use serde_json::json;

use crate::both_backends;
use crate::helpers::TestApp;
use crate::web::Browser;

/// The id at the end of a redirect to a record's page.
fn created_id(r: &crate::helpers::Resp, plural: &str) -> String {
    assert_eq!(r.status, 303, "{}", r.text);
    let location = r.header("location").unwrap();
    let prefix = format!("/app/{plural}/");
    assert!(location.starts_with(&prefix), "{location}");
    location[prefix.len()..].to_string()
}

async fn every_object_is_created_listed_shown_and_edited_by_its_forms(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.custom_field(&owner, "deal", "tier", "select", json!({"label": "Tier", "options": ["gold", "silver"]})).await;
    let pipeline = app
        .create(&owner, "/api/v1/pipelines", json!({"name": "Sales", "stages": [{"name": "Lead"}, {"name": "Won"}]}))
        .await;
    let (pid, lead) = (pipeline["id"].as_str().unwrap(), pipeline["stages"][0]["id"].as_str().unwrap());
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    // One required field each, typed as the form sends it.
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: [Case; 6] = [
        ("contacts", "contact", vec![("email", "grace@navy.example"), ("first_name", "Grace")], "Grace"),
        ("companies", "company", vec![("name", "Navy"), ("domain", "navy.example")], "Navy"),
        (
            "deals",
            "deal",
            vec![
                ("name", "Cobol licence"),
                ("amount", "1250.10"),
                ("currency", "EUR"),
                ("pipeline_id", pid),
                ("stage_id", lead),
                ("custom_fields.tier", "gold"),
            ],
            "Cobol licence",
        ),
        ("tickets", "ticket", vec![("subject", "Printer on fire"), ("priority", "urgent")], "Printer on fire"),
        (
            "tasks",
            "task",
            vec![("title", "Call back"), ("due_at", "2026-03-12T14:05"), ("completed", "true")],
            "Call back",
        ),
        ("notes", "note", vec![("body", "Met at the conference")], "Met at the conference"),
    ];
    for (plural, name, fields, title) in cases {
        let form = b.get(&format!("/app/{plural}/new")).await;
        assert_eq!(form.status, 200, "{plural}: {}", form.text);
        assert!(form.text.contains(&format!("id=\"{name}-form\"")), "{plural}");
        let id = created_id(&b.post(&format!("/app/{plural}"), &fields).await, plural);
        let list = b.get(&format!("/app/{plural}")).await;
        assert!(
            list.text.contains(&format!("data-id=\"{id}\"")) && list.text.contains(title),
            "{plural}: {}",
            list.text
        );
        assert!(list.text.contains(&format!("id=\"new-{name}\"")), "{plural}: an add button");
        let show = b.get(&format!("/app/{plural}/{id}")).await;
        assert_eq!(show.status, 200, "{plural}: {}", show.text);
        assert!(show.text.contains(&format!("id=\"{name}-name\">{title}<")), "{plural}: {}", show.text);
        assert!(show.text.contains("id=\"timeline\"") && show.text.contains("created"), "{plural}: the history");
        let edit = b.get(&format!("/app/{plural}/{id}/edit")).await;
        assert_eq!(edit.status, 200, "{plural}: {}", edit.text);
    }
    // The deal's page shows its values the page's way: money, stage name, custom field.
    let deals = app.get("/api/v1/deals", Some(&owner.token)).await.body;
    let deal = &deals["data"][0];
    assert_eq!(deal["custom_fields"]["tier"], "gold");
    assert_eq!(deal["stage_id"], lead);
    let show = b.get(&format!("/app/deals/{}", deal["id"].as_str().unwrap())).await;
    assert!(
        show.text.contains("€1,250.10") && show.text.contains(">Lead<") && show.text.contains(">gold<"),
        "{}",
        show.text
    );
    let task = &app.get("/api/v1/tasks", Some(&owner.token)).await.body["data"][0];
    assert_eq!((task["due_at"].as_str(), task["completed"].as_bool()), (Some("2026-03-12T14:05:00Z"), Some(true)));
    // Edited: an unticked box is false, an emptied field cleared.
    let tid = task["id"].as_str().unwrap();
    let edit = b.get(&format!("/app/tasks/{tid}/edit")).await;
    assert!(edit.text.contains(r#"name="_present" value="completed""#), "{}", edit.text);
    let r = b
        .post(&format!("/app/tasks/{tid}"), &[("title", "Call again"), ("due_at", ""), ("_present", "completed")])
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let task = app.get(&format!("/api/v1/tasks/{tid}"), Some(&owner.token)).await.body;
    assert_eq!((task["title"].as_str(), task["completed"].as_bool()), (Some("Call again"), Some(false)));
    assert!(task["due_at"].is_null());
    // A partial POST (a stale page, a hand-made form) changes only the fields it carries.
    let r = b.post(&format!("/app/tasks/{tid}"), &[("completed", "true"), ("_present", "completed")]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let r = b.post(&format!("/app/tasks/{tid}"), &[("title", "Only the title")]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let task = app.get(&format!("/api/v1/tasks/{tid}"), Some(&owner.token)).await.body;
    assert_eq!((task["title"].as_str(), task["completed"].as_bool()), (Some("Only the title"), Some(true)));
}

async fn forms_show_the_apis_messages_beside_each_field(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.custom_field(&owner, "company", "size", "number", json!({"label": "Size"})).await;
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    b.get("/app/companies/new").await;
    let r = b.post("/app/companies", &[("domain", "https://not-a-domain"), ("custom_fields.size", "lots")]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    for field in ["name", "domain", "custom_fields.size"] {
        assert!(r.text.contains(&format!("data-field=\"{field}\"")), "{field}: {}", r.text);
    }
    assert!(r.text.contains("value=\"lots\""), "what was typed stays");
    let r = b.post("/app/deals", &[("name", "X"), ("amount", "a lot"), ("currency", "EURO")]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("data-field=\"amount\"") && r.text.contains("data-field=\"currency\""), "{}", r.text);
    let r = b.post("/app/tasks", &[("title", "T"), ("contact_ids", "not-an-id")]).await;
    assert!(r.status == 422 && r.text.contains("data-field=\"contact_ids\""), "{}", r.text);
    let c = app.create(&owner, "/api/v1/companies", json!({"name": "Navy"})).await;
    let r = b.post(&format!("/app/companies/{}", c["id"].as_str().unwrap()), &[("name", "")]).await;
    assert!(
        r.status == 422 && r.text.contains("data-field=\"name\""),
        "a required field cannot be cleared: {}",
        r.text
    );
    assert_eq!(app.get("/api/v1/companies", Some(&owner.token)).await.body["data"].as_array().unwrap().len(), 1);
    // A bad sort or cursor is a 4xx page, never a 500.
    assert_eq!(b.get("/app/deals?sort=nonsense").await.status, 422);
    assert_eq!(b.get("/app/tickets?after=garbage").await.status, 422);
    let nul = b.get("/app/notes?q=%00").await;
    assert_eq!(nul.status, 400);
    assert!(
        nul.header("content-type").is_some_and(|c| c.starts_with("text/html")) && nul.text.contains("<html"),
        "a page answers a person with a page: {}",
        nul.text
    );
}

async fn record_pages_show_links_both_ways_and_the_timeline(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let company = app.create(&owner, "/api/v1/companies", json!({"name": "Navy"})).await;
    let cid = company["id"].as_str().unwrap();
    let contact =
        app.contact(&owner, json!({"email": "grace@navy.example", "first_name": "Grace", "company_ids": [cid]})).await;
    let pid = contact["id"].as_str().unwrap();
    app.create(&owner, "/api/v1/notes", json!({"body": "Likes compilers", "contact_ids": [pid]})).await;
    app.patch(&format!("/api/v1/contacts/{pid}"), &json!({"last_name": "Hopper"}), Some(&owner.token)).await;
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    let page = b.get(&format!("/app/contacts/{pid}")).await;
    assert!(page.text.contains(&format!("<a href=\"&#x2f;app&#x2f;companies&#x2f;{cid}\">Navy</a>")), "{}", page.text);
    assert!(page.text.contains("Likes compilers"), "the linked note: {}", page.text);
    assert!(page.text.contains("Hopper") && page.text.contains("changed"), "the change in the history");
    assert!(page.text.contains("new?contact_ids="), "a note or task can be added already linked");
    let company_page = b.get(&format!("/app/companies/{cid}")).await;
    let contacts = company_page.text.split("data-related=\"contacts\"").nth(1).unwrap();
    assert!(contacts.contains("Grace Hopper"), "the company lists its contacts: {}", company_page.text);
    // The prefilled new note links to the contact.
    let form = b.get(&format!("/app/notes/new?contact_ids={pid}&csrf=ignored")).await;
    assert!(form.text.contains(&format!("value=\"{pid}\"")), "{}", form.text);
}

async fn hostile_values_render_as_text_on_every_object(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let evil = "<script>alert(1)</script>";
    app.custom_field(&owner, "ticket", "code", "text", json!({"label": "<b>Code</b>"})).await;
    let mut ids = Vec::new();
    for (plural, body) in [
        ("companies", json!({"name": evil})),
        ("deals", json!({"name": evil, "tags": ["<i>x</i>"]})),
        ("tickets", json!({"subject": evil, "custom_fields": {"code": "<img src=x onerror=alert(2)>"}})),
        ("tasks", json!({"title": evil})),
        ("notes", json!({"body": evil})),
    ] {
        ids.push((
            plural,
            app.create(&owner, &format!("/api/v1/{plural}"), body).await["id"].as_str().unwrap().to_string(),
        ));
    }
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    for (plural, id) in ids {
        for path in [format!("/app/{plural}"), format!("/app/{plural}/{id}"), format!("/app/{plural}/{id}/edit")] {
            let r = b.get(&path).await;
            assert_eq!(r.status, 200, "{path}");
            for raw in ["<script>alert", "<img src=x", "<b>Code", "<i>x"] {
                assert!(!r.text.contains(raw), "{path} holds raw markup {raw}");
            }
        }
    }
}

async fn another_portals_records_are_not_found_and_viewers_cannot_write(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.member(&owner, "vic@acme.example", "viewer").await;
    let other = app.signup("Globex", "hank@globex.example").await;
    let mut viewer = Browser::new(&app);
    viewer.sign_in("vic@acme.example").await;
    for (plural, name, body, field) in [
        ("companies", "company", json!({"name": "Secret Co"}), "name"),
        ("deals", "deal", json!({"name": "Secret deal"}), "name"),
        ("tickets", "ticket", json!({"subject": "Secret ticket"}), "subject"),
        ("tasks", "task", json!({"title": "Secret task"}), "title"),
        ("notes", "note", json!({"body": "Secret note"}), "body"),
    ] {
        let theirs = app.create(&other, &format!("/api/v1/{plural}"), body.clone()).await;
        let tid = theirs["id"].as_str().unwrap();
        for path in [format!("/app/{plural}/{tid}"), format!("/app/{plural}/{tid}/edit")] {
            let r = viewer.get(&path).await;
            assert_eq!(r.status, 404, "{path}");
            assert!(!r.text.contains("Secret"), "{path}");
        }
        let ours = app.create(&owner, &format!("/api/v1/{plural}"), body).await;
        let oid = ours["id"].as_str().unwrap();
        let list = viewer.get(&format!("/app/{plural}")).await;
        assert!(list.text.contains(&format!("data-id=\"{oid}\"")), "a viewer reads {plural}");
        assert!(!list.text.contains(&format!("id=\"new-{name}\"")), "{plural}: no add button for a viewer");
        let show = viewer.get(&format!("/app/{plural}/{oid}")).await;
        assert!(!show.text.contains(&format!("id=\"edit-{name}\"")) && !show.text.contains("/new?"), "{plural}");
        assert_eq!(viewer.get(&format!("/app/{plural}/new")).await.status, 403);
        assert_eq!(viewer.post(&format!("/app/{plural}"), &[(field, "Forged")]).await.status, 403, "{plural}");
        assert_eq!(viewer.post(&format!("/app/{plural}/{oid}"), &[(field, "Forged")]).await.status, 403);
        // The API's order: a viewer may not write at all (403) before any id is looked up.
        assert_eq!(viewer.post(&format!("/app/{plural}/{tid}"), &[(field, "Forged")]).await.status, 403);
        let still = app.get(&format!("/api/v1/{plural}/{tid}"), Some(&other.token)).await.body;
        assert!(still[field].as_str().unwrap().starts_with("Secret"), "{plural} unchanged");
    }
}

async fn lists_sort_and_page_with_the_search_kept(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    for i in 0..27 {
        app.create(&owner, "/api/v1/deals", json!({"name": format!("Deal {i:02}"), "amount": i * 10})).await;
    }
    app.create(&owner, "/api/v1/deals", json!({"name": "Other", "amount": 5})).await;
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    let first = b.get("/app/deals?q=deal&sort=-amount").await;
    assert_eq!(first.text.matches("<tr data-id=").count(), 25, "{}", first.text);
    let top = first.text.find("Deal 26").unwrap();
    assert!(top < first.text.find("Deal 25").unwrap(), "highest amount first");
    assert!(first.text.contains("<option value=\"-amount\" selected>"), "the sort is kept in the form");
    let anchor = first.text.find("rel=\"next\" id=\"next-page\"").expect("a next page");
    let href = first.text[..anchor].rsplit("href=\"").next().unwrap().split('"').next().unwrap();
    let next = href.replace("&#x2f;", "/").replace("&amp;", "&");
    assert!(next.contains("q=deal") && next.contains("sort=-amount") && next.contains("after="), "{next}");
    let second = b.get(&next).await;
    assert_eq!(second.text.matches("<tr data-id=").count(), 2, "{}", second.text);
    assert!(second.text.contains("Deal 00") && !second.text.contains(">Other<"), "{}", second.text);
}

both_backends!(
    every_object_is_created_listed_shown_and_edited_by_its_forms,
    forms_show_the_apis_messages_beside_each_field,
    record_pages_show_links_both_ways_and_the_timeline,
    hostile_values_render_as_text_on_every_object,
    another_portals_records_are_not_found_and_viewers_cannot_write,
    lists_sort_and_page_with_the_search_kept,
);
