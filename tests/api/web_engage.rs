//! The web app's engagement screens over real HTTP (the `Browser` of `web.rs`): imports
//! (upload, mapping with a preview, progress, the error CSV) and exports; in-app messages
//! with their stats; the notification bell and inbox; staff-access grants; features. For
//! each: the happy path by the forms, roles (no buttons, forged posts refused), CSRF,
//! escaping, another portal's ids, and Dutch. Both databases.

use std::time::Duration;

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{read, wait_for, Resp, Signed, TestApp};
use crate::staff::staff_member;
use crate::web::Browser;

both_backends!(
    an_import_is_uploaded_mapped_started_and_its_errors_downloaded,
    in_app_messages_are_composed_sent_and_show_their_stats,
    the_bell_counts_unread_notifications_and_the_inbox_marks_them,
    owners_approve_and_revoke_staff_access_grants,
    owners_opt_the_portal_in_and_out_of_public_betas,
    campaigns_off_shows_no_segments_on_other_pages,
);

const WAIT: Duration = Duration::from_secs(30);

/// Posts a multipart upload as a browser's form does, with the jar's cookies; `csrf` in
/// the action's query string as the page's form has it.
async fn upload(
    app: &TestApp,
    b: &Browser<'_>,
    csrf: Option<&str>,
    fields: &[(&str, &str)],
    file: Option<&str>,
) -> Resp {
    let (ct, body) = crate::imports::multipart(fields, file);
    let cookie = b.jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
    let path = match csrf {
        Some(t) => format!("/app/imports/upload?csrf={t}"),
        None => "/app/imports/upload".to_string(),
    };
    let client = awc::Client::builder().disable_redirects().timeout(WAIT).finish();
    let res = client
        .post(app.url(&path))
        .insert_header(("Cookie", cookie))
        .insert_header(("Content-Type", ct))
        .send_body(body)
        .await
        .expect("upload sent");
    read(res).await
}

/// The `name` query parameter of a URL.
fn param(url: &str, name: &str) -> String {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v).unwrap_or_else(|| panic!("no {name} in {url}"))
}

fn after<'s>(location: &'s Option<String>, prefix: &str) -> &'s str {
    let l = location.as_deref().expect("a redirect");
    l.strip_prefix(prefix).unwrap_or_else(|| panic!("{l} is not under {prefix}"))
}

async fn an_import_is_uploaded_mapped_started_and_its_errors_downloaded(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.member(&owner, "mo@acme.example", "member").await;
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    let page = b.get("/app/imports").await;
    assert!(page.status == 200 && page.text.contains("id=\"upload-form\""), "{}", page.text);
    assert!(page.text.contains("href=\"/app/imports\" id=\"nav-imports\" aria-current=\"page\""), "in the navigation");
    assert!(page.text.contains(&format!("action=\"/app/imports/upload?csrf={}\"", b.csrf)), "{}", page.text);

    let csv = "E-mail,Voornaam\ngrace@navy.example,<b>Grace</b>\nnot-an-email,Bad\nlin@navy.example,Lin\n";
    // The token rides in the query string: missing or wrong, nothing is kept.
    assert_eq!(upload(&app, &b, None, &[("object", "contact")], Some(csv)).await.status, 403);
    assert_eq!(upload(&app, &b, Some("forged"), &[("object", "contact")], Some(csv)).await.status, 403);
    let csrf = b.csrf.clone();
    let r = upload(&app, &b, Some(&csrf), &[("object", "contact")], None).await;
    assert!(r.status == 422 && r.text.contains("data-field=\"file\""), "no file: {} {}", r.status, r.text);

    let r = upload(&app, &b, Some(&csrf), &[("object", "contact")], Some(csv)).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let mapping_url = r.header("location").unwrap();
    assert!(mapping_url.starts_with("/app/imports/mapping?"), "{mapping_url}");
    let token = param(&mapping_url, "upload");
    let mapping = b.get(&mapping_url).await;
    assert_eq!(mapping.status, 200, "{}", mapping.text);
    assert!(mapping.text.contains("data-column=\"E-mail\"") && mapping.text.contains("not-an-email"), "a preview");
    assert!(mapping.text.contains("&lt;b&gt;Grace") && !mapping.text.contains("<b>Grace"), "cells are text");
    // Nothing mapped: the API's 422, shown on the mapping page.
    let none = [("upload", token.as_str()), ("object", "contact"), ("mode", "create")];
    let r = b.post("/app/imports", &none).await;
    assert!(r.status == 422 && r.text.contains("no column names a field"), "{} {}", r.status, r.text);
    assert!(r.text.contains("id=\"mapping-form\""), "the form again");
    // A field that is not importable (a custom field deleted meanwhile): the API's 422,
    // beside its column, the choices kept.
    let gone = [("upload", token.as_str()), ("object", "contact"), ("col0", "email"), ("col1", "custom_fields.gone")];
    let r = b.post("/app/imports", &gone).await;
    assert!(r.status == 422 && r.text.contains("data-field=\"mapping.Voornaam\""), "{} {}", r.status, r.text);
    assert!(r.text.contains("custom_fields.gone is not a field you can import"), "{}", r.text);
    assert!(r.text.contains("<option value=\"email\" selected>"), "{}", r.text);
    let mapped = [
        ("upload", token.as_str()),
        ("object", "contact"),
        ("mode", "create"),
        ("col0", "email"),
        ("col1", "first_name"),
    ];
    // Started twice at once (a double click): one import, the other start finds nothing.
    let mut twin = Browser::new(&app);
    (twin.jar, twin.csrf) = (b.jar.clone(), b.csrf.clone());
    let (one, two) =
        futures_util::future::join(b.post("/app/imports", &mapped), twin.post("/app/imports", &mapped)).await;
    let mut statuses = [one.status, two.status];
    statuses.sort();
    assert_eq!(statuses, [303, 404], "{} / {}", one.text, two.text);
    let r = if one.status == 303 { one } else { two };
    let location = r.header("location");
    let id = after(&location, "/app/imports/").to_string();
    let done = wait_for("the import to complete", WAIT, || {
        let (b, id, app) = (&b, &id, &app);
        async move {
            let mut b2 = Browser::new(app);
            b2.jar = b.jar.clone();
            let p = b2.get(&format!("/app/imports/{id}")).await;
            p.text.contains("data-status=\"completed\"").then_some(p)
        }
    })
    .await;
    assert!(done.text.contains("<dd data-stat=\"rows_imported\">2</dd>"), "{}", done.text);
    assert!(done.text.contains("<dd data-stat=\"rows_failed\">1</dd>"), "{}", done.text);
    assert!(done.text.contains("id=\"errors-csv\"") && done.text.contains("data-row=\"2\""), "{}", done.text);
    let errors = b.get(&format!("/app/imports/{id}/errors.csv")).await;
    assert_eq!(errors.status, 200);
    assert!(errors.header("content-type").unwrap().starts_with("text/csv"));
    assert!(errors.text.starts_with("row,column,message\n2,E-mail,"), "{}", errors.text);
    let grace = app.get("/api/v1/contacts?q=grace@navy", Some(&owner.token)).await;
    assert_eq!(grace.body["data"][0]["first_name"], "<b>Grace</b>", "{}", grace.text);
    let list = b.get("/app/imports").await;
    assert!(list.text.contains(&format!("data-id=\"{id}\" data-status=\"completed\"")), "{}", list.text);
    // The kept file went with the start: the same upload cannot start twice.
    assert_eq!(b.post("/app/imports", &mapped).await.status, 404);
    assert_eq!(b.get(&format!("/app/imports/mapping?upload={token}&object=contact")).await.status, 404);

    let export = b.get("/app/exports/download?object=contacts").await;
    assert_eq!(export.status, 200, "{}", export.text);
    assert!(export.header("content-type").unwrap().starts_with("text/csv"));
    assert!(export.text.contains("grace@navy.example") && export.text.contains("lin@navy.example"));
    assert_eq!(b.get("/app/exports/download").await.header("location").as_deref(), Some("/app/imports"));

    // A member: no forms, and the forms' posts and reads are refused as the API refuses them.
    let mut m = Browser::new(&app);
    m.sign_in("mo@acme.example").await;
    let seen = m.get("/app/imports").await;
    assert!(seen.text.contains("id=\"imports-managers-only\""), "{}", seen.text);
    assert!(!seen.text.contains("upload-form") && !seen.text.contains("export-form") && !seen.text.contains(&id));
    let mcsrf = m.csrf.clone();
    assert_eq!(upload(&app, &m, Some(&mcsrf), &[("object", "contact")], Some(csv)).await.status, 403);
    assert_eq!(m.post("/app/imports", &mapped).await.status, 403);
    assert_eq!(m.get(&format!("/app/imports/{id}")).await.status, 403);
    assert_eq!(m.get(&format!("/app/imports/{id}/errors.csv")).await.status, 403);
    assert_eq!(m.get("/app/exports/download?object=contacts").await.status, 403);
    assert_eq!(m.get(&format!("/app/imports/mapping?upload={token}&object=contact")).await.status, 403);

    // Another portal's import is not found here.
    let other = app.signup("Globex", "hank@globex.example").await;
    let theirs =
        crate::imports::upload(&app, &other.token, &[("object", "contact")], Some("email\nx@globex.example\n")).await;
    assert_eq!(theirs.status, 202, "{}", theirs.text);
    let tid = theirs.body["id"].as_str().unwrap();
    assert_eq!(b.get(&format!("/app/imports/{tid}")).await.status, 404);
    assert_eq!(b.get(&format!("/app/imports/{tid}/errors.csv")).await.status, 404);
    assert!(!b.get("/app/imports").await.text.contains(tid));

    b.post("/app/language", &[("lang", "nl"), ("next", "/app/")]).await;
    let nl = b.get(&format!("/app/imports/{id}")).await;
    assert!(nl.text.contains("Mislukte regels") && nl.text.contains("Voltooid"), "{}", nl.text);
    assert!(b.get("/app/imports").await.text.contains("Eerdere imports"));
}

async fn message_of(app: &TestApp, who: &Signed, id: &str) -> Value {
    app.get(&format!("/api/v1/inapp/messages/{id}"), Some(&who.token)).await.body
}

async fn in_app_messages_are_composed_sent_and_show_their_stats(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.member(&owner, "vic@acme.example", "viewer").await;
    for (email, user) in [("a@x.example", "u-1"), ("b@x.example", "u-2")] {
        app.contact(&owner, json!({"email": email, "external_id": user})).await;
    }
    app.contact(&owner, json!({"email": "nobody@x.example"})).await;
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    let list = b.get("/app/messages").await;
    assert!(list.status == 200 && list.text.contains("id=\"new-message\""), "{}", list.text);
    assert!(list.text.contains("href=\"/app/messages\" id=\"nav-messages\" aria-current=\"page\""));
    assert_eq!(b.get("/app/messages/new").await.status, 200);

    // The API's 422s beside their fields, the form kept.
    let r = b.post("/app/messages", &[("title", ""), ("body", "Hi"), ("audience", "all")]).await;
    assert!(r.status == 422 && r.text.contains("data-field=\"title\""), "{} {}", r.status, r.text);
    let r = b.post("/app/messages", &[("title", "Hi"), ("audience", "users"), ("user_ids", "")]).await;
    assert!(r.status == 422 && r.text.contains("data-field=\"audience\""), "{} {}", r.status, r.text);
    let r =
        b.post("/app/messages", &[("title", "Hi"), ("audience", "all"), ("action_url", "javascript:alert(1)")]).await;
    assert!(r.status == 422 && r.text.contains("data-field=\"action_url\""), "{}", r.text);
    assert!(r.text.contains("value=\"javascript:alert(1)\""), "what was typed stays");

    let hostile = "<script>alert(1)</script> News";
    let sent = [("title", hostile), ("body", "Line one\r\nLine two"), ("audience", "all"), ("category", "news")];
    let r = b.post("/app/messages", &sent).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let location = r.header("location");
    let id = after(&location, "/app/messages/").to_string();
    let api = wait_for("the message to go out", WAIT, || async {
        let m = message_of(&app, &owner, &id).await;
        (m["status"] == "sent").then_some(m)
    })
    .await;
    assert_eq!((api["recipients"].as_i64(), api["body"].as_str()), (Some(2), Some("Line one\nLine two")), "{api}");
    let page = b.get(&format!("/app/messages/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("&lt;script&gt;alert(1)") && !page.text.contains("<script>alert"), "as text");
    assert!(page.text.contains("<dd data-stat=\"recipients\">2</dd>"), "{}", page.text);
    assert!(page.text.contains("<dd data-stat=\"delivered\">2</dd>"), "{}", page.text);
    assert!(!page.text.contains("http-equiv=\"refresh\""), "a sent message does not reload");
    let list = b.get("/app/messages").await;
    assert!(list.text.contains(&format!("data-id=\"{id}\" data-status=\"sent\"")), "{}", list.text);

    // A viewer reads but cannot send.
    let mut v = Browser::new(&app);
    v.sign_in("vic@acme.example").await;
    let seen = v.get("/app/messages").await;
    assert!(seen.text.contains(&id) && !seen.text.contains("new-message"), "{}", seen.text);
    assert_eq!(v.get("/app/messages/new").await.status, 403);
    assert_eq!(v.post("/app/messages", &[("title", "Forged"), ("audience", "all")]).await.status, 403);
    assert_eq!(v.post_raw("/app/messages", &[("title", "No token"), ("audience", "all")], &[]).await.status, 403);
    let wrong = [("title", "Wrong token"), ("audience", "all"), ("csrf", "nope")];
    assert_eq!(b.post_raw("/app/messages", &wrong, &[]).await.status, 403);
    let all = app.get("/api/v1/inapp/messages", Some(&owner.token)).await;
    assert_eq!(all.body["data"].as_array().unwrap().len(), 1, "nothing else was sent: {}", all.text);

    // Another portal's message is not found here.
    let other = app.signup("Globex", "hank@globex.example").await;
    let theirs = app
        .post("/api/v1/inapp/messages", &json!({"audience": {"all": true}, "title": "Theirs"}), Some(&other.token))
        .await;
    assert_eq!(theirs.status, 202, "{}", theirs.text);
    assert_eq!(b.get(&format!("/app/messages/{}", theirs.body["id"].as_str().unwrap())).await.status, 404);
    assert_eq!(b.get("/app/messages/not-a-uuid").await.status, 404);

    b.post("/app/language", &[("lang", "nl"), ("next", "/app/")]).await;
    let nl = b.get(&format!("/app/messages/{id}")).await;
    assert!(nl.text.contains("Bezorging") && nl.text.contains("Ontvangers"), "{}", nl.text);
}

async fn the_bell_counts_unread_notifications_and_the_inbox_marks_them(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let member = app.member(&owner, "mo@acme.example", "member").await;
    // Tasks assigned to the member by the owner reach the member's inbox.
    for title in ["<img src=x onerror=alert(1)> Call back", "Send the offer"] {
        let task = json!({"title": title, "assignee_id": member.user_id});
        app.create(&owner, "/api/v1/tasks", task).await;
    }
    let mut b = Browser::new(&app);
    b.sign_in("mo@acme.example").await;
    let dash = b.get("/app/dashboard").await;
    assert!(dash.text.contains("id=\"bell\"") && dash.text.contains("src=\"/app/static/live.js\""), "{}", dash.text);
    let script = b.get("/app/static/live.js").await;
    assert!(script.status == 200 && script.text.contains("textContent"), "{}", script.text);
    let counts = b.get("/app/notifications/counts").await;
    assert_eq!((counts.status, counts.body["unread"].as_i64()), (200, Some(2)), "{}", counts.text);
    let inbox = b.get("/app/notifications").await;
    assert!(inbox.text.contains("data-unread=\"2\""), "{}", inbox.text);
    assert!(inbox.text.contains("&lt;img src=x") && !inbox.text.contains("<img src=x"), "titles are text");
    let api = app.get("/api/v1/me/notifications", Some(&member.token)).await;
    let ids: Vec<String> =
        api.body["data"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 2, "{}", api.text);
    assert!(inbox.text.contains(&format!("id=\"read-{}\"", ids[0])));

    // Mark one read: the bell counts one.
    let back = [("back", "/app/notifications?status=unread")];
    let r = b.post(&format!("/app/notifications/{}/read", ids[0]), &back).await;
    assert_eq!((r.status, r.header("location").as_deref()), (303, Some("/app/notifications?status=unread")));
    assert_eq!(b.get("/app/notifications/counts").await.body["unread"], 1);
    let unread = b.get("/app/notifications?status=unread").await;
    assert!(!unread.text.contains(&format!("data-id=\"{}\"", ids[0])) && unread.text.contains(&ids[1]));
    // Forged: without the token, or another person's notification, nothing changes.
    assert_eq!(b.post_raw(&format!("/app/notifications/{}/read", ids[1]), &[], &[]).await.status, 403);
    let wrong = [("csrf", "wrong")];
    assert_eq!(b.post_raw("/app/notifications/read-all", &wrong, &[]).await.status, 403);
    let mut o = Browser::new(&app);
    o.sign_in("ada@acme.example").await;
    assert_eq!(o.post(&format!("/app/notifications/{}/read", ids[1]), &[]).await.status, 404);
    assert_eq!(o.post(&format!("/app/notifications/{}/archive", ids[1]), &[]).await.status, 404);
    assert_eq!(b.get("/app/notifications/counts").await.body["unread"], 1);
    // Back to unread, archive, then read all.
    b.post(&format!("/app/notifications/{}/unread", ids[0]), &[]).await;
    assert_eq!(b.get("/app/notifications/counts").await.body["unread"], 2);
    let r = b.post(&format!("/app/notifications/{}/archive", ids[0]), &[("back", "https://evil.example/")]).await;
    assert_eq!(r.header("location").as_deref(), Some("/app/notifications"), "only back to the inbox");
    assert!(b.get("/app/notifications?status=archived").await.text.contains(&format!("data-id=\"{}\"", ids[0])));
    b.post("/app/notifications/read-all", &[]).await;
    assert_eq!(b.get("/app/notifications/counts").await.body["unread"], 0);
    assert!(!b.get("/app/notifications").await.text.contains("id=\"read-all\""));
    assert_eq!(b.get("/app/notifications?status=nonsense").await.status, 422);

    b.post("/app/language", &[("lang", "nl"), ("next", "/app/")]).await;
    let nl = b.get("/app/notifications?status=archived").await;
    assert!(nl.text.contains("Meldingen") && nl.text.contains("Gearchiveerd"), "{}", nl.text);
}

async fn owners_approve_and_revoke_staff_access_grants(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.member(&owner, "mo@acme.example", "member").await;
    let (staff, _) = staff_member(&app, "sam@platform.example", "support").await;
    let ask = |reason: &'static str| {
        let body =
            json!({"tenant_id": owner.tenant_id, "reason": reason, "ticket_ref": "SUP-1", "duration_minutes": 60});
        let (app, staff) = (&app, &staff);
        async move {
            let r = app.post("/api/v1/staff/jita", &body, Some(staff)).await;
            assert_eq!(r.status, 201, "{}", r.text);
            (r.body["id"].as_str().unwrap().to_string(), r.body["token"].as_str().unwrap().to_string())
        }
    };
    let (first, token) = ask("<script>alert(1)</script> broken pipeline").await;
    let (second, _) = ask("a second look").await;
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    let page = b.get("/app/staff-access").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("id=\"nav-staff-access\""), "owners see it in the navigation");
    assert!(page.text.contains("data-rule=\"approval_required\""), "{}", page.text);
    assert!(page.text.contains(&format!("data-id=\"{first}\" data-status=\"pending_approval\"")), "{}", page.text);
    assert!(page.text.contains("sam@platform.example") && page.text.contains("&lt;script&gt;alert(1)"));
    assert!(!page.text.contains("<script>alert"), "reasons are text");
    assert!(
        page.text.contains(&format!("id=\"approve-{first}\"")) && page.text.contains(&format!("id=\"revoke-{first}\""))
    );

    // A member neither sees it nor acts.
    let mut m = Browser::new(&app);
    m.sign_in("mo@acme.example").await;
    assert!(!m.get("/app/dashboard").await.text.contains("nav-staff-access"));
    assert_eq!(m.get("/app/staff-access").await.status, 403);
    assert_eq!(m.post(&format!("/app/staff-access/{first}/approve"), &[]).await.status, 403);
    assert_eq!(m.post(&format!("/app/staff-access/{first}/revoke"), &[]).await.status, 403);
    assert_eq!(b.post_raw(&format!("/app/staff-access/{first}/approve"), &[], &[]).await.status, 403);
    assert_eq!(app.get("/api/v1/contacts", Some(&token)).await.status, 403, "still pending");

    // Approve: the grant acts; revoke: it stops at once.
    let r = b.post(&format!("/app/staff-access/{first}/approve"), &[]).await;
    assert_eq!((r.status, r.header("location").as_deref()), (303, Some("/app/staff-access")), "{}", r.text);
    assert_eq!(app.get("/api/v1/contacts", Some(&token)).await.status, 200);
    let page = b.get("/app/staff-access").await;
    assert!(page.text.contains(&format!("data-id=\"{first}\" data-status=\"active\"")), "{}", page.text);
    assert!(!page.text.contains(&format!("id=\"approve-{first}\"")), "approved once");
    assert_eq!(b.post(&format!("/app/staff-access/{first}/approve"), &[]).await.status, 409);
    assert_eq!(b.post(&format!("/app/staff-access/{first}/revoke"), &[]).await.status, 303);
    assert_eq!(app.get("/api/v1/contacts", Some(&token)).await.status, 401, "revoked at once");
    let page = b.get("/app/staff-access").await;
    assert!(page.text.contains(&format!("data-id=\"{first}\" data-status=\"revoked\"")), "{}", page.text);
    assert!(!page.text.contains(&format!("id=\"revoke-{first}\"")));
    assert!(page.text.contains(&format!("id=\"revoke-{second}\"")), "the other is still pending");

    // Another portal's grant is not found from here.
    let other = app.signup("Globex", "hank@globex.example").await;
    let body = json!({"tenant_id": other.tenant_id, "reason": "theirs", "ticket_ref": "SUP-2", "duration_minutes": 30});
    let theirs = app.post("/api/v1/staff/jita", &body, Some(&staff)).await;
    let tid = theirs.body["id"].as_str().unwrap();
    assert_eq!(b.post(&format!("/app/staff-access/{tid}/approve"), &[]).await.status, 404);
    assert_eq!(b.post(&format!("/app/staff-access/{tid}/revoke"), &[]).await.status, 404);
    assert!(!b.get("/app/staff-access").await.text.contains(tid));

    b.post("/app/language", &[("lang", "nl"), ("next", "/app/")]).await;
    let nl = b.get("/app/staff-access").await;
    assert!(nl.text.contains("Toegang medewerkers") && nl.text.contains("Ingetrokken"), "{}", nl.text);
}

async fn owners_opt_the_portal_in_and_out_of_public_betas(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.member(&owner, "mo@acme.example", "member").await;
    let (rm, _) = staff_member(&app, "rita@platform.example", "release_manager").await;
    let r = app.patch("/api/v1/staff/flags/in_app_messages", &json!({"stage": "public_beta"}), Some(&rm)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    let page = b.get("/app/features").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("data-key=\"in_app_messages\" data-enabled=\"false\""), "{}", page.text);
    assert!(page.text.contains("data-key=\"campaigns\" data-enabled=\"true\""), "{}", page.text);
    assert!(page.text.contains("id=\"opt-in-in_app_messages\""), "{}", page.text);
    assert!(
        !page.text.contains("id=\"opt-in-campaigns\"") && !page.text.contains("id=\"opt-out-campaigns\""),
        "ga: no buttons"
    );
    // The messages screen is off with the feature, as its API route is, and out of the
    // navigation.
    assert_eq!(b.get("/app/messages").await.status, 403);
    assert!(!page.text.contains("id=\"nav-messages\"") && page.text.contains("id=\"nav-imports\""), "{}", page.text);
    // So are the campaign screens when campaigns are off: every page under them, and its
    // navigation entry; forms too.
    let r = app.patch("/api/v1/staff/flags/campaigns", &json!({"stage": "off"}), Some(&rm)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    for path in [
        "/app/campaigns",
        "/app/campaigns/new",
        "/app/emails",
        "/app/emails/x/revisions",
        "/app/segments",
        "/app/suppressions",
    ] {
        let r = b.get(path).await;
        assert_eq!(r.status, 403, "{path}: {}", r.text);
        assert!(r.text.contains("campaigns"), "{path} names the feature: {}", r.text);
    }
    assert_eq!(b.post("/app/segments", &[("name", "x"), ("query", "tags eq vip")]).await.status, 403);
    let home = b.get("/app/contacts").await;
    assert!(!home.text.contains("href=\"/app/campaigns\""), "{}", home.text);
    let r = app.patch("/api/v1/staff/flags/campaigns", &json!({"stage": "ga"}), Some(&rm)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(b.get("/app/campaigns").await.status, 200);
    assert!(b.get("/app/contacts").await.text.contains("href=\"/app/campaigns\""));

    // A member sees the stages but no buttons, and cannot opt in by a forged post.
    let mut m = Browser::new(&app);
    m.sign_in("mo@acme.example").await;
    let seen = m.get("/app/features").await;
    assert!(seen.text.contains("data-key=\"in_app_messages\"") && !seen.text.contains("opt-in-"), "{}", seen.text);
    assert_eq!(m.post("/app/features/in_app_messages/opt-in", &[]).await.status, 403);
    assert_eq!(b.post_raw("/app/features/in_app_messages/opt-in", &[], &[]).await.status, 403);
    assert_eq!(b.post("/app/features/campaigns/opt-in", &[]).await.status, 409, "not a public beta");
    assert_eq!(b.post("/app/features/no_such_flag/opt-in", &[]).await.status, 404);
    let api = app.get("/api/v1/features", Some(&owner.token)).await;
    let f = api.body["data"].as_array().unwrap().iter().find(|f| f["key"] == "in_app_messages").unwrap().clone();
    assert_eq!(f["enabled"], false, "nothing changed: {f}");

    let r = b.post("/app/features/in_app_messages/opt-in", &[]).await;
    assert_eq!((r.status, r.header("location").as_deref()), (303, Some("/app/features")), "{}", r.text);
    let page = b.get("/app/features").await;
    assert!(page.text.contains("data-key=\"in_app_messages\" data-enabled=\"true\""), "{}", page.text);
    assert!(page.text.contains("id=\"opt-out-in_app_messages\""));
    assert_eq!(b.get("/app/messages").await.status, 200, "on for this portal now");
    let other = app.signup("Globex", "hank@globex.example").await;
    let theirs = app.get("/api/v1/features", Some(&other.token)).await;
    let f = theirs.body["data"].as_array().unwrap().iter().find(|f| f["key"] == "in_app_messages").unwrap().clone();
    assert_eq!(f["enabled"], false, "only this portal opted in: {f}");
    assert_eq!(b.post("/app/features/in_app_messages/opt-out", &[]).await.status, 303);
    assert!(b.get("/app/features").await.text.contains("data-key=\"in_app_messages\" data-enabled=\"false\""));

    b.post("/app/language", &[("lang", "nl"), ("next", "/app/")]).await;
    let nl = b.get("/app/features").await;
    assert!(nl.text.contains("Functies") && nl.text.contains("Openbare bèta"), "{}", nl.text);
}

/// With campaigns off, segments are off too (`GET /api/v1/segments` is 403): no other
/// page reads them for the portal or links to their screens — the in-app message form
/// lists no segment names, a contact filter offers no "save as a segment".
async fn campaigns_off_shows_no_segments_on_other_pages(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (rm, _) = staff_member(&app, "rita@platform.example", "release_manager").await;
    let body = json!({"name": "Secret VIP list", "filter_groups": [{"filters": [{"field": "tags", "op": "eq", "value": "vip"}]}]});
    let seg = app.post("/api/v1/segments", &body, Some(&owner.token)).await;
    assert_eq!(seg.status, 201, "{}", seg.text);
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    let filter = "/app/contacts?filter=tags+eq+vip";
    assert!(b.get("/app/messages/new").await.text.contains("Secret VIP list"), "campaigns on: listed");
    assert!(b.get(filter).await.text.contains("segment-from-filter"), "campaigns on: offered");

    let r = app.patch("/api/v1/staff/flags/campaigns", &json!({"stage": "off"}), Some(&rm)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.get("/api/v1/segments", Some(&owner.token)).await.status, 403);
    let form = b.get("/app/messages/new").await;
    assert_eq!(form.status, 200, "{}", form.text);
    assert!(!form.text.contains("Secret VIP list"), "a gated read through another page: {}", form.text);
    let list = b.get(filter).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert!(!list.text.contains("segment-from-filter"), "a link to a refused page: {}", list.text);
}
