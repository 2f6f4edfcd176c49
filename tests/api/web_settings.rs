//! The web app's settings screens over real HTTP: the trash (delete from a record's page,
//! restore), my account (2FA enrolment so a portal that requires it is usable from the
//! browser, sessions with revoke), with the API's roles, isolation and escaping. Both
//! databases.

use serde_json::json;

use crate::both_backends;
use crate::helpers::TestApp;
use crate::web::Browser;

async fn records_go_to_the_trash_and_come_back_whole(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.member(&owner, "mo@acme.example", "member").await;
    app.member(&owner, "vic@acme.example", "viewer").await;
    let contact = app.contact(&owner, json!({"first_name": "<script>x</script>", "tags": ["vip"]})).await;
    let cid = contact["id"].as_str().unwrap();
    let note = app.create(&owner, "/api/v1/notes", json!({"body": "Met", "contact_ids": [cid]})).await;
    let nid = note["id"].as_str().unwrap();

    // Roles: a member deletes notes but not contacts (the API's rule), a viewer nothing.
    let mut member = Browser::new(&app);
    member.sign_in("mo@acme.example").await;
    assert!(!member.get(&format!("/app/contacts/{cid}")).await.text.contains("id=\"delete-contact\""));
    assert!(member.get(&format!("/app/notes/{nid}")).await.text.contains("id=\"delete-note\""));
    assert_eq!(member.post(&format!("/app/contacts/{cid}/delete"), &[]).await.status, 403);
    let mut viewer = Browser::new(&app);
    viewer.sign_in("vic@acme.example").await;
    assert!(!viewer.get(&format!("/app/notes/{nid}")).await.text.contains("id=\"delete-note\""));
    assert_eq!(viewer.post(&format!("/app/notes/{nid}/delete"), &[]).await.status, 403);
    let r = member.post(&format!("/app/notes/{nid}/delete"), &[]).await;
    assert_eq!((r.status, r.header("location").as_deref()), (303, Some("/app/notes")), "{}", r.text);
    assert_eq!(app.trash_len(&owner, "note").await, 1);

    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    let r = b.post(&format!("/app/contacts/{cid}/delete"), &[]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(b.get(&format!("/app/contacts/{cid}")).await.status, 404, "gone from its page");
    let trash = b.get("/app/trash").await;
    assert_eq!(trash.status, 200);
    assert!(trash.text.contains(&format!("data-id=\"{cid}\"")), "{}", trash.text);
    assert!(trash.text.contains("&lt;script&gt;x") && !trash.text.contains("<script>x"), "as text");
    assert!(trash.text.contains(&format!("action=\"/app/trash/contact/{cid}/restore\"")), "{}", trash.text);
    // A member sees the trash but no restore buttons, and a forged restore is refused.
    let seen = member.get("/app/trash?type=note").await;
    assert!(seen.text.contains(&format!("data-id=\"{nid}\"")) && !seen.text.contains("/restore"), "{}", seen.text);
    assert_eq!(member.post(&format!("/app/trash/note/{nid}/restore"), &[]).await.status, 403);
    // The owner restores: back whole, with its tag.
    let r = b.post(&format!("/app/trash/contact/{cid}/restore"), &[]).await;
    assert_eq!(r.header("location"), Some(format!("/app/contacts/{cid}")), "{}", r.text);
    let back = app.get(&format!("/api/v1/contacts/{cid}"), Some(&owner.token)).await;
    assert_eq!((back.status, back.body["tags"].clone()), (200, json!(["vip"])));
    let r = b.post(&format!("/app/trash/note/{nid}/restore"), &[]).await;
    assert_eq!(r.status, 303);
    assert_eq!(app.trash_len(&owner, "note").await, 0);
    assert_eq!(b.get("/app/trash?type=nonsense").await.status, 404);
    assert_eq!(b.get("/app/trash?type=tag&after=garbage").await.status, 422);

    // Another portal's record cannot be deleted or restored from here.
    let other = app.signup("Globex", "hank@globex.example").await;
    let theirs = app.create(&other, "/api/v1/notes", json!({"body": "Secret"})).await;
    let tid = theirs["id"].as_str().unwrap();
    assert_eq!(b.post(&format!("/app/notes/{tid}/delete"), &[]).await.status, 404);
    app.delete(&format!("/api/v1/notes/{tid}"), Some(&other.token)).await;
    assert_eq!(b.post(&format!("/app/trash/note/{tid}/restore"), &[]).await.status, 404);
    assert!(!b.get("/app/trash?type=note").await.text.contains("Secret"));
    assert_eq!(app.trash_len(&other, "note").await, 1, "still in its own portal's trash");
}

/// The value of `<code id="{id}">` on a page.
fn code_in(html: &str, id: &str) -> String {
    let start = html.find(&format!("<code id=\"{id}\">")).unwrap_or_else(|| panic!("no {id}: {html}")) + id.len() + 12;
    html[start..].split('<').next().unwrap().to_string()
}

async fn a_portal_requiring_2fa_is_usable_after_enrolling_in_the_browser(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.member(&owner, "bob@acme.example", "member").await;
    let r = app.patch("/api/v1/tenant", &json!({"require_mfa": true}), Some(&owner.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut b = Browser::new(&app);
    b.get("/app/login").await;
    let r = b.post("/app/login", &[("email", "bob@acme.example"), ("password", crate::helpers::PASSWORD)]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    // Every page sends the person to set 2FA up; every other write is refused.
    let r = b.get("/app/contacts").await;
    assert_eq!((r.status, r.header("location").as_deref()), (303, Some("/app/account")));
    let account = b.get("/app/account").await;
    assert_eq!(account.status, 200, "{}", account.text);
    assert!(account.text.contains("id=\"mfa-required\"") && account.text.contains("data-state=\"off\""));
    assert!(!account.text.contains("id=\"sessions\""), "nothing but enrolment before 2FA");
    assert_eq!(b.post("/app/contacts", &[("email", "x@y.example")]).await.status, 403);
    let start = b.post("/app/account/2fa", &[]).await;
    assert_eq!(start.status, 200, "{}", start.text);
    assert!(start.text.contains("src=\"data:image&#x2f;svg+xml;base64,"), "the QR as an image: {}", start.text);
    let secret = code_in(&start.text, "mfa-secret");
    let r = b.post("/app/account/2fa/confirm", &[("code", "000000")]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("data-field=\"code\""));
    let r = b.post("/app/account/2fa/confirm", &[("code", &app.totp_code(&secret))]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let codes: Vec<&str> = r.text.split("<li><code>").skip(1).map(|c| c.split('<').next().unwrap()).collect();
    assert_eq!(codes.len(), 10, "ten recovery codes, shown once: {}", r.text);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    // Now the portal is open, and the account shows 2FA on.
    assert_eq!(b.get("/app/contacts").await.status, 200);
    assert!(b.get("/app/account").await.text.contains("data-state=\"on\""));
    let session = b.jar.get("organizeo_session").cloned().unwrap();
    let me = app.get("/api/v1/me", Some(&session)).await.body;
    assert_eq!((me["mfa_enabled"].as_bool(), me["mfa_enrollment_required"].as_bool()), (Some(true), Some(false)));
    // Signing in again asks for the second factor; a recovery code works once.
    let mut again = Browser::new(&app);
    again.get("/app/login").await;
    let r = again.post("/app/login", &[("email", "bob@acme.example"), ("password", crate::helpers::PASSWORD)]).await;
    assert_eq!(r.header("location").as_deref(), Some("/app/login/code"), "{}", r.text);
    again.get("/app/login/code").await;
    let r = again.post("/app/login/code", &[("code", codes[0])]).await;
    assert_eq!(r.header("location").as_deref(), Some("/app/dashboard"), "{}", r.text);
}

async fn people_see_their_sessions_and_sign_one_out(app: TestApp) {
    app.signup("Acme", "ada@acme.example").await;
    let other = app.signup("Globex", "hank@globex.example").await;
    let mut laptop = Browser::new(&app);
    laptop.sign_in("ada@acme.example").await;
    let mut phone = Browser::new(&app);
    phone.sign_in("ada@acme.example").await;
    let page = laptop.get("/app/account").await;
    assert_eq!(page.status, 200);
    let ids: Vec<String> = page
        .text
        .match_indices("<tr data-id=\"")
        .map(|(i, _)| page.text[i + 13..].split('"').next().unwrap().to_string())
        .collect();
    assert!(ids.len() >= 3, "the sign-ups' and both browsers' sessions: {ids:?}");
    assert_eq!(page.text.matches("this browser").count(), 1);
    let phone_token = phone.jar.get("organizeo_session").cloned().unwrap();
    let phone_id = app.get("/api/v1/me", Some(&phone_token)).await.body["session"]["id"].as_str().unwrap().to_string();
    assert!(ids.contains(&phone_id));
    let r = laptop.post(&format!("/app/account/sessions/{phone_id}/revoke"), &[]).await;
    assert_eq!((r.status, r.header("location").as_deref()), (303, Some("/app/account")), "{}", r.text);
    let r = phone.get("/app/contacts").await;
    assert_eq!(r.header("location").as_deref(), Some("/app/login"), "the phone is signed out");
    // Someone else's session is not found; revoking this one signs out here.
    let theirs = app.get("/api/v1/me", Some(&other.token)).await.body["session"]["id"].as_str().unwrap().to_string();
    assert_eq!(laptop.post(&format!("/app/account/sessions/{theirs}/revoke"), &[]).await.status, 404);
    assert_eq!(app.get("/api/v1/me", Some(&other.token)).await.status, 200);
    let own = laptop.jar.get("organizeo_session").cloned().unwrap();
    let own_id = app.get("/api/v1/me", Some(&own)).await.body["session"]["id"].as_str().unwrap().to_string();
    let r = laptop.post(&format!("/app/account/sessions/{own_id}/revoke"), &[]).await;
    assert_eq!(r.header("location").as_deref(), Some("/app/login"));
    assert!(!laptop.jar.contains_key("organizeo_session"));
}

async fn tags_and_custom_fields_are_listed_added_and_deleted(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.member(&owner, "mo@acme.example", "member").await;
    app.contact(&owner, json!({"email": "a@b.example", "tags": ["vip"]})).await;
    let mut member = Browser::new(&app);
    member.sign_in("mo@acme.example").await;
    let page = member.get("/app/tags").await;
    assert!(page.text.contains(">vip<") && page.text.contains("id=\"tag-form\""), "{}", page.text);
    assert!(!page.text.contains("/delete"), "members add tags but do not delete them");
    assert_eq!(member.post("/app/tags", &[("name", "<b>lead</b>")]).await.status, 303);
    let r = member.post("/app/tags", &[("name", "VIP")]).await;
    assert!(r.status == 409 && r.text.contains("data-field=\"name\""), "{}", r.text);
    let r = member.post("/app/tags", &[("name", " ")]).await;
    assert_eq!(r.status, 422);
    let tags = app.get("/api/v1/tags", Some(&owner.token)).await.body;
    let lead = tags["data"].as_array().unwrap().iter().find(|t| t["name"] == "<b>lead</b>").unwrap()["id"].clone();
    let lead = lead.as_str().unwrap();
    assert_eq!(member.post(&format!("/app/tags/{lead}/delete"), &[]).await.status, 403);
    assert!(!member.get("/app/tags").await.text.contains("<b>lead"), "escaped");

    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    assert!(b.get("/app/tags").await.text.contains(&format!("/app/tags/{lead}/delete")));
    assert_eq!(b.post(&format!("/app/tags/{lead}/delete"), &[]).await.status, 303);
    assert_eq!(app.trash_len(&owner, "tag").await, 1);

    // Custom fields: owners and admins define them; they appear in the object's form.
    assert!(!member.get("/app/custom-fields").await.text.contains("id=\"custom-field-form\""));
    let forged = [("object", "deal"), ("key", "tier"), ("label", "Tier"), ("type", "text")];
    assert_eq!(member.post("/app/custom-fields", &forged).await.status, 403);
    let r = b
        .post("/app/custom-fields", &[("object", "deal"), ("key", "Bad Key"), ("label", ""), ("type", "select")])
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    for field in ["key", "label", "options"] {
        assert!(r.text.contains(&format!("data-field=\"{field}\"")), "{field}: {}", r.text);
    }
    let fields = [
        ("object", "deal"),
        ("key", "tier"),
        ("label", "<i>Tier</i>"),
        ("type", "select"),
        ("options", "gold\nsilver\n"),
        ("required", "true"),
    ];
    assert_eq!(b.post("/app/custom-fields", &fields).await.status, 303);
    let r = b.post("/app/custom-fields", &fields).await;
    assert!(r.status == 409 && r.text.contains("data-field=\"key\""), "{}", r.text);
    let list = b.get("/app/custom-fields").await;
    assert!(list.text.contains("&lt;i&gt;Tier") && !list.text.contains("<i>Tier"), "{}", list.text);
    let form = b.get("/app/deals/new").await;
    assert!(form.text.contains("name=\"custom_fields.tier\"") && form.text.contains(">silver<"), "{}", form.text);
    let r = b.post("/app/deals", &[("name", "No tier")]).await;
    assert!(r.status == 422 && r.text.contains("data-field=\"custom_fields.tier\""), "required: {}", r.text);
    let defs = app.get("/api/v1/custom-fields", Some(&owner.token)).await.body;
    let id = defs["data"][0]["id"].as_str().unwrap();
    assert_eq!(defs["data"][0]["options"], json!(["gold", "silver"]));
    assert_eq!(b.post(&format!("/app/custom-fields/{id}/delete"), &[]).await.status, 303);
    assert_eq!(app.trash_len(&owner, "custom_field").await, 1);
    assert!(!b.get("/app/deals/new").await.text.contains("custom_fields.tier"));
}

both_backends!(
    records_go_to_the_trash_and_come_back_whole,
    tags_and_custom_fields_are_listed_added_and_deleted,
    a_portal_requiring_2fa_is_usable_after_enrolling_in_the_browser,
    people_see_their_sessions_and_sign_one_out,
);
