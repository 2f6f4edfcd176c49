//! The web app's screens over real HTTP: contacts (escaping, isolation, roles, validation,
//! paging and search) and sign-in through the portal choice and the second factor. Both
//! databases.

use serde_json::json;

use crate::both_backends;
use crate::helpers::{TestApp, PASSWORD};
use crate::web::Browser;

async fn hostile_contact_names_render_as_text(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let c = app
        .contact(
            &owner,
            json!({"first_name": "<script>alert(1)</script>", "last_name": "\"><img src=x onerror=alert(2)>",
                "email": "x@evil.example", "tags": ["<b>vip</b>"]}),
        )
        .await;
    let id = c["id"].as_str().unwrap();
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    for path in ["/app/contacts".to_string(), format!("/app/contacts/{id}"), format!("/app/contacts/{id}/edit")] {
        let r = b.get(&path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        for raw in ["<script>alert(1)", "<img src=x", "<b>vip</b>"] {
            assert!(!r.text.contains(raw), "{path} holds raw markup {raw}: {}", r.text);
        }
        // (minijinja escapes `/` too, as &#x2f;)
        assert!(r.text.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;") || path.ends_with("/edit"), "{path}");
        assert!(r.text.contains("&lt;img src=x onerror=alert(2)&gt;"), "{path}: {}", r.text);
    }
    // Search is the API's `q`, and what was searched for comes back escaped too.
    let r = b.get("/app/contacts?q=%3Cscript%3E").await;
    assert!(r.text.contains(&format!("data-id=\"{id}\"")), "found by q");
    let r = b.get("/app/contacts?q=%3Ciframe%3Enothing").await;
    assert!(r.text.contains("&lt;iframe&gt;nothing") && !r.text.contains("<iframe>"), "{}", r.text);
}

async fn another_portals_contact_is_not_found(app: TestApp) {
    app.signup("Acme", "ada@acme.example").await;
    let other = app.signup("Globex", "hank@globex.example").await;
    let theirs = app.contact(&other, json!({"email": "secret@globex.example"})).await;
    let id = theirs["id"].as_str().unwrap();
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    for path in [format!("/app/contacts/{id}"), format!("/app/contacts/{id}/edit"), "/app/contacts/not-a-uuid".into()] {
        let r = b.get(&path).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
        assert!(!r.text.contains("secret@globex.example"));
    }
    let r = b.post(&format!("/app/contacts/{id}"), &[("email", "taken@acme.example")]).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let still = app.get(&format!("/api/v1/contacts/{id}"), Some(&other.token)).await;
    assert_eq!(still.body["email"], "secret@globex.example", "unchanged");
    // An unknown page under /app is a 404 page too, not JSON.
    let r = b.get("/app/no-such-page").await;
    assert_eq!(r.status, 404);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
}

async fn a_viewer_sees_no_edit_buttons_and_a_forged_post_is_refused(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.member(&owner, "vic@acme.example", "viewer").await;
    let c = app.contact(&owner, json!({"email": "grace@navy.example", "first_name": "Grace"})).await;
    let id = c["id"].as_str().unwrap();
    let mut owner_view = Browser::new(&app);
    owner_view.sign_in("ada@acme.example").await;
    assert!(owner_view.get("/app/contacts").await.text.contains("id=\"new-contact\""), "an owner may add");
    assert!(owner_view.get(&format!("/app/contacts/{id}")).await.text.contains("id=\"edit-contact\""));

    let mut b = Browser::new(&app);
    b.sign_in("vic@acme.example").await;
    let list = b.get("/app/contacts").await;
    assert!(list.text.contains("grace@navy.example"), "a viewer reads");
    assert!(!list.text.contains("id=\"new-contact\""), "but gets no add button");
    let show = b.get(&format!("/app/contacts/{id}")).await;
    assert!(show.text.contains("Grace") && !show.text.contains("id=\"edit-contact\""));
    for path in ["/app/contacts/new".to_string(), format!("/app/contacts/{id}/edit")] {
        let r = b.get(&path).await;
        assert_eq!(r.status, 403, "{path}: {}", r.text);
        assert!(r.text.contains("does not allow"), "{}", r.text);
    }
    // Forged posts with a valid token are refused by the API's own role rule.
    let r = b.post("/app/contacts", &[("email", "new@acme.example")]).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = b.post(&format!("/app/contacts/{id}"), &[("email", "changed@acme.example")]).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let list = app.get("/api/v1/contacts", Some(&owner.token)).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["data"][0]["email"], "grace@navy.example");
}

async fn contact_forms_show_the_apis_validation_messages_per_field(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.contact(&owner, json!({"email": "grace@navy.example"})).await;
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    b.get("/app/contacts/new").await;
    let r = b.post("/app/contacts", &[("email", "not-an-email"), ("first_name", "Ada")]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("data-field=\"email\""), "{}", r.text);
    assert!(r.text.contains("value=\"Ada\""), "what was typed stays");
    let english = r.text.clone();
    // A Dutch page shows the API's message in Dutch (the JSON API keeps its English).
    let mut nl = Browser::new(&app);
    nl.accept_language = Some("nl-NL,nl;q=0.9".into());
    nl.sign_in("ada@acme.example").await;
    nl.get("/app/contacts/new").await;
    let r = nl.post("/app/contacts", &[("email", "not-an-email"), ("first_name", "Ada")]).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let (en_msg, nl_msg) = ("must be an email address", "moet een e-mailadres zijn");
    assert!(english.contains(en_msg) && !english.contains(nl_msg), "{english}");
    assert!(r.text.contains(nl_msg) && !r.text.contains(en_msg), "{}", r.text);
    let r = b.post("/app/contacts", &[("email", "GRACE@navy.example")]).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains("data-field=\"email\""), "the duplicate is shown at the email field");
    let r = b.post("/app/contacts", &[("phone", "")]).await;
    assert_eq!(r.status, 422, "a contact needs an email or a name: {}", r.text);
    let r = b.post("/app/contacts", &[("first_name", "nul\0byte")]).await;
    assert_eq!(r.status, 400, "U+0000 never reaches the database: {}", r.text);
    let r = b.post("/app/contacts", &[("first_name", "\u{fffd}")]).await;
    assert_eq!(r.status, 303, "other text is fine: {}", r.text);
    // Created, shown, then edited: tags from a comma list; an emptied field is cleared.
    let r = b
        .post("/app/contacts", &[("email", "ada@lovelace.example"), ("last_name", "Lovelace"), ("tags", "vip, lead")])
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let location = r.header("location").unwrap();
    let r = b.get(&location).await;
    assert!(r.text.contains("Lovelace") && r.text.contains(">vip<") && r.text.contains(">lead<"), "{}", r.text);
    let id = location.rsplit('/').next().unwrap().to_string();
    b.get(&format!("/app/contacts/{id}/edit")).await;
    let r = b
        .post(
            &format!("/app/contacts/{id}"),
            &[("email", "ada@lovelace.example"), ("first_name", "Ada"), ("last_name", ""), ("tags", "vip")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let stored = app.get(&format!("/api/v1/contacts/{id}"), Some(&owner.token)).await.body;
    assert_eq!((stored["first_name"].as_str(), stored["last_name"].as_str()), (Some("Ada"), None));
    assert_eq!(stored["tags"], json!(["vip"]));
    let r = b.post(&format!("/app/contacts/{id}"), &[("email", "broken")]).await;
    assert_eq!(r.status, 422);
}

async fn the_contact_list_pages_by_cursor_and_searches(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    for i in 0..30 {
        app.contact(
            &owner,
            json!({"email": format!("p{i:02}@acme.example"), "last_name": if i % 10 == 0 { "Tenth" } else { "Other" }}),
        )
        .await;
    }
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    let first = b.get("/app/contacts").await;
    assert_eq!(first.text.matches("<tr data-id=").count(), 25);
    let anchor = first.text.find("rel=\"next\" id=\"next-page\"").expect("a next page link");
    let href = first.text[..anchor].rsplit("href=\"").next().unwrap().split('"').next().unwrap();
    let next = href.replace("&#x2f;", "/").replace("&amp;", "&");
    assert!(next.starts_with("/app/contacts?after="), "{next}");
    let second = b.get(&next).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.text.matches("<tr data-id=").count(), 5);
    assert!(second.text.contains("p29@acme.example") && !second.text.contains("p00@acme.example"));
    assert!(!second.text.contains("id=\"next-page\""), "the end");
    let found = b.get("/app/contacts?q=tenth").await;
    assert_eq!(found.text.matches("<tr data-id=").count(), 3, "{}", found.text);
    let r = b.get("/app/contacts?after=garbage").await;
    assert_eq!(r.status, 422, "a forged cursor is a 4xx page: {}", r.text);
}

async fn sign_in_picks_the_portal_by_name_then_asks_for_the_second_factor(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let r = app.post("/api/v1/me/tenants", &json!({"name": "Acme <EMEA>"}), Some(&owner.token)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (secret, _) = app.enable_mfa(&owner.token).await;
    let mut b = Browser::new(&app);
    b.get("/app/login").await;
    let r = b.post("/app/login", &[("email", "ada@acme.example"), ("password", "wrong-Passw0rd!")]).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.text.contains("Invalid email or password"));
    let r = b.post("/app/login", &[("email", "ada@acme.example"), ("password", PASSWORD)]).await;
    assert_eq!(r.header("location").as_deref(), Some("/app/login/portal"), "{}", r.text);
    assert!(!b.jar.keys().any(|k| k.contains("session")), "no session before the choice");
    let picker = b.get("/app/login/portal").await;
    assert!(picker.text.contains(">Acme<") && picker.text.contains("Acme &lt;EMEA&gt;"), "{}", picker.text);
    let choices: Vec<String> = picker
        .text
        .match_indices("value=\"t:")
        .map(|(i, _)| picker.text[i + 7..].split('"').next().unwrap().to_string())
        .collect();
    assert_eq!(choices.len(), 2, "{}", picker.text);
    let emea = choices.iter().find(|c| !c.ends_with(&owner.tenant_id)).unwrap().clone();
    let sealed = b.jar.get("organizeo_choice").cloned().expect("the sealed choice");
    let r = b.post("/app/login/portal", &[("choice", &emea)]).await;
    assert_eq!(r.header("location").as_deref(), Some("/app/login/code"), "{}", r.text);
    // The choice was spent: a copy of its cookie opens no second challenge.
    let mut replay = Browser::new(&app);
    replay.get("/app/login").await;
    replay.jar.insert("organizeo_choice".into(), sealed);
    let r = replay.post("/app/login/portal", &[("choice", &emea)]).await;
    assert_eq!(r.header("location").as_deref(), Some("/app/login"), "{}", r.text);
    assert!(!replay.jar.contains_key("organizeo_mfa") && !replay.jar.contains_key("organizeo_choice"));
    b.get("/app/login/code").await;
    let r = b.post("/app/login/code", &[("code", "000000")]).await;
    assert_eq!(r.status, 401, "{}", r.text);
    let code = app.totp_code(&secret);
    let r = b.post("/app/login/code", &[("code", &code)]).await;
    assert_eq!(r.header("location").as_deref(), Some("/app/dashboard"), "{}", r.text);
    let page = b.get("/app/contacts").await;
    assert!(page.text.contains("Acme &lt;EMEA&gt;"), "signed in to the chosen portal: {}", page.text);
    // The choice cannot be forged: a made-up sealed value sends back to the password.
    let mut forger = Browser::new(&app);
    forger.get("/app/login").await;
    forger.jar.insert("organizeo_choice".into(), "k1.AAAA".into());
    let r = forger.post("/app/login/portal", &[("choice", &emea)]).await;
    assert_eq!(r.header("location").as_deref(), Some("/app/login"), "{}", r.text);
}

/// A sealed portal choice opens one session: replayed (a copied cookie, a second tab, a
/// double submit) it sends back to the password and opens nothing; a refused choice (not
/// this person's portal) is not spent.
async fn a_portal_choice_opens_one_session_only(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let r = app.post("/api/v1/me/tenants", &json!({"name": "Second"}), Some(&owner.token)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let stranger = app.signup("Other", "bo@other.example").await;
    let mut b = Browser::new(&app);
    b.get("/app/login").await;
    let r = b.post("/app/login", &[("email", "ada@acme.example"), ("password", PASSWORD)]).await;
    assert_eq!(r.header("location").as_deref(), Some("/app/login/portal"), "{}", r.text);
    b.get("/app/login/portal").await;
    let sealed = b.jar.get("organizeo_choice").cloned().expect("the sealed choice");
    let r = b.post("/app/login/portal", &[("choice", &format!("t:{}", stranger.tenant_id))]).await;
    assert_eq!(r.header("location").as_deref(), Some("/app/login"), "not a member: {}", r.text);
    let mut b = Browser::new(&app);
    b.get("/app/login").await;
    b.jar.insert("organizeo_choice".into(), sealed.clone());
    b.get("/app/login/portal").await;
    let r = b.post("/app/login/portal", &[("choice", &format!("t:{}", owner.tenant_id))]).await;
    assert_eq!(r.header("location").as_deref(), Some("/app/dashboard"), "the refused choice was not spent: {}", r.text);
    assert!(b.jar.keys().any(|k| k.contains("session")));
    let sessions = app.get("/api/v1/me/sessions", Some(&owner.token)).await.body["data"].as_array().map(Vec::len);
    for attempt in 0..2 {
        let mut replay = Browser::new(&app);
        replay.get("/app/login").await;
        replay.jar.insert("organizeo_choice".into(), sealed.clone());
        let r = replay.post("/app/login/portal", &[("choice", &format!("t:{}", owner.tenant_id))]).await;
        assert_eq!(r.header("location").as_deref(), Some("/app/login"), "replay {attempt}: {}", r.text);
        assert!(!replay.jar.keys().any(|k| k.contains("session")), "replay {attempt} opened a session");
        // Nor does a spent choice show the person's portals to whoever holds the copy.
        replay.jar.insert("organizeo_choice".into(), sealed.clone());
        let r = replay.get("/app/login/portal").await;
        assert_eq!(r.header("location").as_deref(), Some("/app/login"), "spent, portal list {attempt}: {}", r.text);
        assert!(!r.text.contains("Second"), "{}", r.text);
    }
    let after = app.get("/api/v1/me/sessions", Some(&owner.token)).await.body["data"].as_array().map(Vec::len);
    assert_eq!(sessions, after, "no session was opened by a replay");
}

both_backends!(
    a_portal_choice_opens_one_session_only,
    hostile_contact_names_render_as_text,
    another_portals_contact_is_not_found,
    a_viewer_sees_no_edit_buttons_and_a_forged_post_is_refused,
    contact_forms_show_the_apis_validation_messages_per_field,
    the_contact_list_pages_by_cursor_and_searches,
    sign_in_picks_the_portal_by_name_then_asks_for_the_second_factor,
);
