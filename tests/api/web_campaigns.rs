//! The web app's email-marketing screens over real HTTP (the `Browser` of `web.rs`) with a
//! real SMTP sink: emails with history, compare and restore; segments with their exact
//! count; a campaign previewed, tested, sent to the sink and finished; suppressions; and
//! the API's roles, CSRF refusal, escaping and portal isolation. Both databases.

use serde_json::json;

use crate::campaigns::{campaign_tests, setup, until_status};
use crate::helpers::{Signed, TestApp};
use crate::smtp_sink::SmtpSink;
use crate::web::Browser;

campaign_tests!(
    emails_are_written_compared_restored_and_previewed_in_the_browser,
    segments_show_their_exact_count_and_first_members,
    a_campaign_is_previewed_tested_sent_to_the_sink_and_finishes,
    viewers_see_no_buttons_and_forged_posts_are_refused,
    forms_need_the_csrf_token_names_render_as_text_and_other_portals_are_404,
);

/// The id in a `/app/{kind}/{id}` redirect.
fn id_from(location: Option<String>, prefix: &str) -> String {
    let l = location.expect("a redirect");
    l.strip_prefix(prefix).unwrap_or_else(|| panic!("{l} is not under {prefix}")).to_string()
}

async fn email(app: &TestApp, who: &Signed, id: &str) -> serde_json::Value {
    app.get(&format!("/api/v1/emails/{id}"), Some(&who.token)).await.body
}

async fn emails_are_written_compared_restored_and_previewed_in_the_browser(app: TestApp, _sink: SmtpSink) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.contact(&owner, json!({"email": "grace@navy.example", "first_name": "Grace"})).await;
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    let list = b.get("/app/emails").await;
    assert!(list.status == 200 && list.text.contains("id=\"new-email\""), "{}", list.text);
    assert!(list.text.contains("href=\"/app/campaigns\" aria-current=\"page\""), "in the navigation");
    assert_eq!(b.get("/app/emails/new").await.status, 200);
    // Textareas arrive with CRLF; the stored content has plain line ends.
    let first = [
        ("name", "Welcome"),
        ("subject", "Hi {{ contact.first_name }}"),
        ("html", "<p>Hello</p>\r\n<p>{{ contact.first_name | default('there') }}</p>"),
        ("text", "Hello {{ contact.first_name }}"),
    ];
    let r = b.post("/app/emails", &first).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let id = id_from(r.header("location"), "/app/emails/");
    assert_eq!(
        email(&app, &owner, &id).await["html"],
        "<p>Hello</p>\n<p>{{ contact.first_name | default('there') }}</p>"
    );
    // A template that does not parse, or names an unknown variable: the API's 422, with its line.
    let broken = [("name", "Welcome"), ("html", "<p>ok</p>\n<p>{{ contact.first_name </p>")];
    let r = b.post(&format!("/app/emails/{id}"), &broken).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("data-field=\"html\"") && r.text.contains("line 2"), "{}", r.text);
    assert!(r.text.contains("{{ contact.first_name &lt;&#x2f;p&gt;"), "the form keeps what was typed");
    let r = b.post(&format!("/app/emails/{id}"), &[("name", "Welcome"), ("subject", "{{ nope.x }}")]).await;
    assert!(r.status == 422 && r.text.contains("unknown variable nope"), "{}", r.text);
    assert_eq!(email(&app, &owner, &id).await["revision"], 1, "nothing was stored");
    // An edit is revision 2; posting the same form again stores nothing new.
    let mut second = first;
    second[1] = ("subject", "Welcome aboard, {{ contact.first_name }}");
    assert_eq!(b.post(&format!("/app/emails/{id}"), &second).await.status, 303);
    assert_eq!(b.post(&format!("/app/emails/{id}"), &second).await.status, 303);
    assert_eq!(email(&app, &owner, &id).await["revision"], 2);
    let edit = b.get(&format!("/app/emails/{id}/edit")).await;
    assert!(edit.text.contains("Welcome aboard"), "{}", edit.text);

    let history = b.get(&format!("/app/emails/{id}/revisions")).await;
    assert_eq!(history.status, 200, "{}", history.text);
    assert!(history.text.contains("data-revision=\"2\"") && history.text.contains("data-revision=\"1\""));
    let old = b.get(&format!("/app/emails/{id}/revisions/1")).await;
    assert!(old.text.contains("id=\"restore-form\"") && old.text.contains("Hi {{ contact.first_name }}"));
    assert_eq!(b.get(&format!("/app/emails/{id}/revisions/9")).await.status, 404);
    let diff = b.get(&format!("/app/emails/{id}/compare?from=1&to=2")).await;
    assert_eq!(diff.status, 200, "{}", diff.text);
    assert!(diff.text.contains("<span class=\"removed\">- Hi {{ contact.first_name }}</span>"), "{}", diff.text);
    assert!(diff.text.contains("<span class=\"added\">+ Welcome aboard, {{ contact.first_name }}</span>"));
    assert!(!diff.text.contains("data-field=\"html\""), "only fields that changed");
    assert!(b.get(&format!("/app/emails/{id}/compare?from=2&to=2")).await.text.contains("id=\"no-differences\""));
    // Restore: a new revision 3 with revision 1's content; history kept.
    let r = b.post(&format!("/app/emails/{id}/revisions/1/restore"), &[]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let now = email(&app, &owner, &id).await;
    assert_eq!((now["revision"].clone(), now["subject"].clone()), (json!(3), json!("Hi {{ contact.first_name }}")));
    assert!(b.get(&format!("/app/emails/{id}/revisions")).await.text.contains("data-revision=\"3\""));

    // Preview as a contact found by name.
    let found = b.get(&format!("/app/emails/{id}/preview?q=grace")).await;
    let start = found.text.find("contact_id=").expect("a contact to pick") + "contact_id=".len();
    let cid: String = found.text[start..].chars().take_while(|c| *c != '&' && *c != '"').collect();
    let shown = b.get(&format!("/app/emails/{id}/preview?contact_id={cid}")).await;
    assert_eq!(shown.status, 200, "{}", shown.text);
    assert!(shown.text.contains("<dd id=\"preview-subject\">Hi Grace</dd>"), "{}", shown.text);
    // The rendered HTML in a sandboxed frame of this origin: no script, no same-origin access.
    assert!(shown.text.contains("<iframe class=\"preview-frame\" id=\"preview-frame\" sandbox src="), "{}", shown.text);
    assert!(shown.header("content-security-policy").unwrap().contains("frame-src 'self'"));
    let frame = b.get(&format!("/app/emails/{id}/preview/html?contact_id={cid}")).await;
    assert_eq!((frame.status, frame.header("x-frame-options").as_deref()), (200, Some("SAMEORIGIN")), "{}", frame.text);
    let csp = frame.header("content-security-policy").unwrap();
    assert!(csp.starts_with("sandbox;") && csp.contains("frame-ancestors 'self'") && !csp.contains("script"), "{csp}");
    assert_eq!(frame.text, "<p>Hello</p>\n<p>Grace</p>");
    let hostile =
        app.contact(&owner, json!({"email": "evil@x.example", "first_name": "<script>alert(1)</script>"})).await;
    let evil = hostile["id"].as_str().unwrap();
    let frame = b.get(&format!("/app/emails/{id}/preview/html?contact_id={evil}")).await;
    assert!(frame.text.contains("<p>&lt;script&gt;alert(1)&lt;&#x2f;script&gt;</p>"), "{}", frame.text);
    let page = b.get(&format!("/app/emails/{id}/preview?contact_id={evil}")).await;
    assert!(!page.text.contains("<script>alert"), "as text on the page too");
    let r = b.get(&format!("/app/emails/{id}/preview/html")).await;
    assert_eq!(r.header("location"), Some(format!("/app/emails/{id}/preview")), "no contact: the preview page");
    let nobody = b.get(&format!("/app/emails/{id}/preview?contact_id=00000000-0000-0000-0000-000000000000")).await;
    assert!(nobody.status == 422 && nobody.text.contains("no such contact"), "{}", nobody.text);

    // In Dutch.
    b.post("/app/language", &[("lang", "nl"), ("next", "/app/")]).await;
    let nl = b.get(&format!("/app/emails/{id}/revisions")).await;
    assert!(nl.text.contains("Geschiedenis") && nl.text.contains("Versie 3"), "{}", nl.text);
}

async fn segments_show_their_exact_count_and_first_members(app: TestApp, _sink: SmtpSink) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    for i in 0..27 {
        app.contact(&owner, json!({"email": format!("p{i}@x.example"), "tags": ["news"]})).await;
    }
    app.contact(&owner, json!({"email": "other@x.example"})).await;
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    assert!(b.get("/app/segments").await.text.contains("id=\"new-segment\""));
    let r = b.post("/app/segments", &[("name", "News"), ("query", "tags eq news\r\n")]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let id = id_from(r.header("location"), "/app/segments/");
    let page = b.get(&format!("/app/segments/{id}")).await;
    assert!(page.text.contains("data-count=\"27\""), "{}", page.text);
    assert_eq!(page.text.matches("<tr data-id=").count(), 25, "the first page of members");
    assert!(page.text.contains("id=\"next-page\""), "more members on the next page");
    let api = app.get(&format!("/api/v1/segments/{id}"), Some(&owner.token)).await.body;
    assert_eq!(api["count"], 27);
    // Two groups (OR): the 27 plus the one without the tag.
    let query = "tags eq news\nor\nemail eq other@x.example";
    assert_eq!(b.post(&format!("/app/segments/{id}"), &[("name", "News"), ("query", query)]).await.status, 303);
    assert!(b.get(&format!("/app/segments/{id}")).await.text.contains("data-count=\"28\""));
    let edit = b.get(&format!("/app/segments/{id}/edit")).await;
    assert!(edit.text.contains("tags eq news\nor\nemail eq other@x.example"), "{}", edit.text);
    // A line the box cannot read, and a field the search language does not know.
    let r = b.post(&format!("/app/segments/{id}"), &[("name", "News"), ("query", "tags")]).await;
    assert!(r.status == 422 && r.text.contains("data-field=\"query\"") && r.text.contains("Line 1"), "{}", r.text);
    let r = b.post(&format!("/app/segments/{id}"), &[("name", "News"), ("query", "shoe_size eq 44")]).await;
    assert!(r.status == 422 && r.text.contains("data-field=\"query\""), "{}", r.text);
    let r = b.post("/app/segments", &[("name", ""), ("query", "")]).await;
    assert!(r.status == 422 && r.text.contains("data-field=\"name\""), "{}", r.text);
    assert_eq!(app.get(&format!("/api/v1/segments/{id}"), Some(&owner.token)).await.body["count"], 28);
}

async fn a_campaign_is_previewed_tested_sent_to_the_sink_and_finishes(app: TestApp, sink: SmtpSink) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (email_id, segment_id) = setup(&app, &owner, 27).await;
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    let new = b.get("/app/campaigns/new").await;
    assert!(new.text.contains(&format!("<option value=\"{email_id}\">Launch</option>")), "{}", new.text);
    let draft = [("name", "Spring"), ("email_id", email_id.as_str()), ("segment_id", segment_id.as_str())];
    let r = b.post("/app/campaigns", &draft).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let id = id_from(r.header("location"), "/app/campaigns/");
    // Not ready: no sender. The API's 422 on the campaign's page; it stays a draft.
    let r = b.post(&format!("/app/campaigns/{id}/send"), &[]).await;
    assert!(r.status == 422 && r.text.contains("from_email: is required to send"), "{}", r.text);
    let r = b.post(&format!("/app/campaigns/{id}"), &[("name", "Spring"), ("from_email", "not an address")]).await;
    assert!(r.status == 422 && r.text.contains("data-field=\"from_email\""), "{}", r.text);
    let mut ready = draft.to_vec();
    ready.extend([("from_name", "Acme"), ("from_email", "news@acme.example")]);
    assert_eq!(b.post(&format!("/app/campaigns/{id}"), &ready).await.status, 303);
    let page = b.get(&format!("/app/campaigns/{id}")).await;
    assert!(page.text.contains("data-status=\"draft\"") && page.text.contains("id=\"send-form\""), "{}", page.text);
    assert!(page.text.contains("27 members"), "the segment's count: {}", page.text);

    let contacts = app.get("/api/v1/contacts?q=p3%40x.example", Some(&owner.token)).await.body;
    let cid = contacts["data"][0]["id"].as_str().unwrap().to_string();
    let shown = b.get(&format!("/app/campaigns/{id}/preview?contact_id={cid}")).await;
    assert!(shown.text.contains("<dd id=\"preview-subject\">Hi P3</dd>"), "{}", shown.text);
    // A test goes to the sink marked [Test]; the campaign is still a draft.
    let r = b.post(&format!("/app/campaigns/{id}/test"), &[("to", "qa@acme.example, lead@acme.example")]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.text.matches("<li data-status=\"sent\">").count(), 2, "{}", r.text);
    let test = sink.to("qa@acme.example");
    assert_eq!(test.len(), 1);
    assert!(test[0].header("subject").unwrap().starts_with("[Test] Hi"), "{:?}", test[0].header("subject"));
    let r = b.post(&format!("/app/campaigns/{id}/test"), &[("to", "nobody")]).await;
    assert!(r.status == 422 && r.text.contains("must be an email address"), "{}", r.text);

    // Send now: 303 back to the page; it finishes with every member mailed once.
    let r = b.post(&format!("/app/campaigns/{id}/send"), &[("send_at", "")]).await;
    assert_eq!((r.status, r.header("location")), (303, Some(format!("/app/campaigns/{id}"))), "{}", r.text);
    until_status(&app, &owner.token, &id, "completed").await;
    let done = b.get(&format!("/app/campaigns/{id}")).await;
    assert!(done.text.contains("data-status=\"completed\"") && done.text.contains("<dd data-stat=\"sent\">27</dd>"));
    assert!(!done.text.contains("id=\"send-form\"") && !done.text.contains("http-equiv=\"refresh\""));
    assert!(!done.text.contains("27 members"), "the segment is not counted once sent: stats say who was mailed");
    assert_eq!(sink.count(), 29, "27 recipients and the 2 tests");
    let sent = b.get(&format!("/app/campaigns/{id}/recipients?status=sent")).await;
    assert_eq!(sent.text.matches("<tr data-status=\"sent\">").count(), 25, "{}", sent.text);
    let next = sent.text.split("id=\"next-page\"").next().unwrap();
    let href =
        next.rsplit("href=\"").next().unwrap().split('"').next().unwrap().replace("&#x2f;", "/").replace("&amp;", "&");
    let rest = b.get(&href).await;
    assert_eq!(rest.text.matches("<tr data-status=\"sent\">").count(), 2, "{href}: {}", rest.text);
    let failed = b.get(&format!("/app/campaigns/{id}/recipients?status=failed")).await;
    assert!(failed.text.contains("No recipients with this status."), "{}", failed.text);
    let list = b.get("/app/campaigns?status=completed").await;
    assert!(list.text.contains(&format!("<tr data-id=\"{id}\" data-status=\"completed\">")), "{}", list.text);

    // Scheduled for tomorrow: the page refreshes itself; then cancelled.
    let r = b.post("/app/campaigns", &ready).await;
    let later = id_from(r.header("location"), "/app/campaigns/");
    let tomorrow = (app.clock.now() + chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M").to_string();
    let r = b.post(&format!("/app/campaigns/{later}/send"), &[("send_at", &tomorrow)]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let page = b.get(&format!("/app/campaigns/{later}")).await;
    assert!(page.text.contains("data-status=\"scheduled\"") && page.text.contains("http-equiv=\"refresh\""));
    // The reload is for browsers without script; live.js follows the campaign over the websocket.
    assert!(page.text.contains("<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>"), "{}", page.text);
    assert!(page.text.contains(&format!("data-live-campaign=\"{later}\" data-live-status=\"scheduled\"")));
    assert!(page.text.contains("id=\"campaign-cancel\"") && !page.text.contains("id=\"campaign-pause\""));
    assert_eq!(b.post(&format!("/app/campaigns/{later}/pause"), &[]).await.status, 409, "the status machine's 409");
    assert_eq!(b.post(&format!("/app/campaigns/{later}/cancel"), &[]).await.status, 303);
    b.post("/app/language", &[("lang", "nl"), ("next", "/app/")]).await;
    assert!(b.get(&format!("/app/campaigns/{later}")).await.text.contains("Geannuleerd"));
    assert!(b.get(&format!("/app/campaigns/{id}")).await.text.contains("Voltooid"));
}

async fn viewers_see_no_buttons_and_forged_posts_are_refused(app: TestApp, _sink: SmtpSink) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (email_id, segment_id) = setup(&app, &owner, 1).await;
    let id = crate::campaigns::draft(&app, &owner, &email_id, &segment_id).await;
    app.post("/api/v1/suppressions", &json!({"email": "gone@x.example"}), Some(&owner.token)).await;
    app.member(&owner, "mo@acme.example", "member").await;
    app.member(&owner, "vic@acme.example", "viewer").await;
    let mut viewer = Browser::new(&app);
    viewer.sign_in("vic@acme.example").await;
    for (path, hidden) in [
        ("/app/emails".to_string(), "id=\"new-email\""),
        (format!("/app/emails/{email_id}"), "id=\"edit-email\""),
        (format!("/app/emails/{email_id}/revisions/1"), "id=\"restore-form\""),
        ("/app/segments".to_string(), "id=\"new-segment\""),
        (format!("/app/segments/{segment_id}"), "id=\"edit-segment\""),
        ("/app/campaigns".to_string(), "id=\"new-campaign\""),
        (format!("/app/campaigns/{id}"), "id=\"send-form\""),
        (format!("/app/campaigns/{id}"), "id=\"test-form\""),
        (format!("/app/campaigns/{id}"), "id=\"edit-campaign\""),
        ("/app/suppressions".to_string(), "id=\"suppression-form\""),
        ("/app/suppressions".to_string(), "/app/suppressions/remove"),
    ] {
        let r = viewer.get(&path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert!(!r.text.contains(hidden), "a viewer sees no {hidden} on {path}");
    }
    assert!(viewer.get("/app/suppressions").await.text.contains("gone@x.example"), "but reads the list");
    let forged: Vec<(String, Vec<(&str, &str)>)> = vec![
        ("/app/emails".into(), vec![("name", "X")]),
        (format!("/app/emails/{email_id}"), vec![("name", "X")]),
        (format!("/app/emails/{email_id}/revisions/1/restore"), vec![]),
        ("/app/segments".into(), vec![("name", "X"), ("query", "")]),
        (format!("/app/segments/{segment_id}"), vec![("name", "X")]),
        ("/app/campaigns".into(), vec![("name", "X")]),
        (format!("/app/campaigns/{id}"), vec![("name", "X")]),
        (format!("/app/campaigns/{id}/send"), vec![]),
        (format!("/app/campaigns/{id}/test"), vec![("to", "a@b.example")]),
        (format!("/app/campaigns/{id}/cancel"), vec![]),
        ("/app/suppressions".into(), vec![("email", "a@b.example")]),
        ("/app/suppressions/remove".into(), vec![("email", "gone@x.example")]),
    ];
    for (path, fields) in &forged {
        assert_eq!(viewer.post(path, fields).await.status, 403, "viewer POST {path}");
    }
    // A member drafts, but sending, tests and suppressions need the owner or admin role.
    let mut member = Browser::new(&app);
    member.sign_in("mo@acme.example").await;
    let page = member.get(&format!("/app/campaigns/{id}")).await;
    assert!(page.text.contains("id=\"edit-campaign\"") && !page.text.contains("id=\"send-form\""), "{}", page.text);
    assert!(!page.text.contains("id=\"test-form\""));
    for (path, fields) in forged.iter().skip(7) {
        assert_eq!(member.post(path, fields).await.status, 403, "member POST {path}");
    }
    let r = member.post("/app/emails", &[("name", "Member's")]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    // Nothing the refused posts asked for happened.
    let c = app.get(&format!("/api/v1/campaigns/{id}"), Some(&owner.token)).await.body;
    assert_eq!((c["status"].as_str(), c["name"].as_str()), (Some("draft"), Some("Launch")));
    let emails = app.get("/api/v1/emails", Some(&owner.token)).await.body;
    let names: Vec<&str> = emails["data"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let s = app.get("/api/v1/suppressions", Some(&owner.token)).await.body;
    assert_eq!(s["data"].as_array().unwrap().len(), 1);
}

async fn forms_need_the_csrf_token_names_render_as_text_and_other_portals_are_404(app: TestApp, _sink: SmtpSink) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let hostile = "<script>alert(1)</script>";
    let email =
        app.create(&owner, "/api/v1/emails", json!({"name": hostile, "subject": "<img src=x onerror=alert(1)>"})).await;
    let eid = email["id"].as_str().unwrap();
    let seg = app.create(&owner, "/api/v1/segments", json!({"name": hostile, "filter_groups": []})).await;
    let sid = seg["id"].as_str().unwrap();
    let draft = json!({"name": hostile, "email_id": eid, "segment_id": sid, "from_name": hostile});
    let cid = app.create(&owner, "/api/v1/campaigns", draft).await["id"].as_str().unwrap().to_string();
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    for path in [
        "/app/emails".to_string(),
        format!("/app/emails/{eid}"),
        format!("/app/emails/{eid}/revisions/1"),
        "/app/segments".to_string(),
        format!("/app/segments/{sid}"),
        "/app/campaigns".to_string(),
        format!("/app/campaigns/{cid}"),
        format!("/app/campaigns/{cid}/edit"),
    ] {
        let r = b.get(&path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert!(!r.text.contains("<script>alert") && !r.text.contains("<img src=x"), "{path} renders markup");
        assert!(r.text.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"), "{path}: as text: {}", r.text);
    }

    // A draft whose email went to the trash still opens, the email shown as deleted.
    assert_eq!(app.delete(&format!("/api/v1/emails/{eid}"), Some(&owner.token)).await.status, 204);
    let r = b.get(&format!("/app/campaigns/{cid}")).await;
    assert!(r.status == 200 && r.text.contains("(deleted)"), "{}", r.text);
    let restored = app.post(&format!("/api/v1/trash/email/{eid}/restore"), &json!({}), Some(&owner.token)).await;
    assert_eq!(restored.status, 200, "{}", restored.text);

    // No token, a wrong one, or another site: refused before anything runs.
    let good = b.csrf.clone();
    for (what, fields, headers) in [
        ("no token", vec![("name", "X")], vec![]),
        ("a wrong token", vec![("name", "X"), ("csrf", "AAAA")], vec![]),
        ("another site", vec![("name", "X"), ("csrf", good.as_str())], vec![("Origin", "https://evil.example")]),
    ] {
        for path in ["/app/emails".to_string(), format!("/app/campaigns/{cid}/send"), "/app/suppressions".into()] {
            let r = b.post_raw(&path, &fields, &headers).await;
            assert!(r.status == 403 && r.text.contains("Nothing was changed"), "{what} {path}: {}", r.text);
        }
    }
    assert_eq!(app.get("/api/v1/emails", Some(&owner.token)).await.body["data"].as_array().unwrap().len(), 1);

    // Suppressions: added by hand (case kept, matched without it), refused when not an address, removed.
    let r = b.post("/app/suppressions", &[("email", "Spam@X.example")]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert!(b.get("/app/suppressions?reason=manual").await.text.contains("data-email=\"Spam@X.example\""));
    let r = b.post("/app/suppressions", &[("email", "not-an-address")]).await;
    assert!(r.status == 422 && r.text.contains("data-field=\"email\""), "{}", r.text);
    assert_eq!(b.post("/app/suppressions/remove", &[("email", "spam@x.example")]).await.status, 303);
    assert!(!b.get("/app/suppressions").await.text.contains("data-email="), "removed");

    // Another portal's email, segment and campaign are not found here, for reading or writing.
    let other = app.signup("Globex", "hank@globex.example").await;
    let (theirs_e, theirs_s) = setup(&app, &other, 1).await;
    let theirs_c = crate::campaigns::draft(&app, &other, &theirs_e, &theirs_s).await;
    let zero = "00000000-0000-0000-0000-000000000000";
    for path in [
        format!("/app/emails/{theirs_e}"),
        format!("/app/emails/{theirs_e}/edit"),
        format!("/app/emails/{theirs_e}/revisions"),
        format!("/app/emails/{theirs_e}/revisions/1"),
        format!("/app/emails/{theirs_e}/compare?from=1&to=1"),
        format!("/app/emails/{theirs_e}/preview"),
        format!("/app/segments/{theirs_s}"),
        format!("/app/campaigns/{theirs_c}"),
        format!("/app/campaigns/{theirs_c}/preview"),
        format!("/app/campaigns/{theirs_c}/preview/html?contact_id={zero}"),
        format!("/app/emails/{theirs_e}/preview/html?contact_id={zero}"),
        format!("/app/campaigns/{theirs_c}/recipients"),
    ] {
        let r = b.get(&path).await;
        assert!(r.status == 404 && r.text.contains("another portal"), "GET {path}: {} {}", r.status, r.text);
    }
    for (path, fields) in [
        (format!("/app/emails/{theirs_e}"), vec![("name", "Mine")]),
        (format!("/app/emails/{theirs_e}/revisions/1/restore"), vec![]),
        (format!("/app/segments/{theirs_s}"), vec![("name", "Mine"), ("query", "")]),
        (format!("/app/campaigns/{theirs_c}"), vec![("name", "Mine")]),
        (format!("/app/campaigns/{theirs_c}/send"), vec![]),
        (format!("/app/campaigns/{theirs_c}/cancel"), vec![]),
        (format!("/app/campaigns/{theirs_c}/test"), vec![("to", "a@b.example")]),
    ] {
        assert_eq!(b.post(&path, &fields).await.status, 404, "POST {path}");
    }
    // Picking their email or segment for a draft here is the API's 422.
    let r = b.post("/app/campaigns", &[("name", "Steal"), ("email_id", theirs_e.as_str())]).await;
    assert!(r.status == 422 && r.text.contains("no such email in this portal"), "{}", r.text);
    let c = app.get(&format!("/api/v1/campaigns/{theirs_c}"), Some(&other.token)).await.body;
    assert_eq!((c["name"].as_str(), c["status"].as_str()), (Some("Launch"), Some("draft")));
}
