//! The web app's settings screens over real HTTP, each through its forms with the API's
//! rules: portal settings, people and roles, private app keys (the key shown once), my
//! password and turning 2FA off, the audit log (filters, paging), custom values and
//! pipelines. For each: writers' forms, readers without buttons and forged posts refused,
//! the CSRF token, hostile text, another portal's ids, Dutch. Both databases.

use serde_json::json;

use crate::both_backends;
use crate::helpers::{Signed, TestApp, PASSWORD};
use crate::web::Browser;

const HOSTILE: &str = "<script>alert(1)</script>";
const ESCAPED: &str = "&lt;script&gt;alert(1)&lt;&#x2f;script&gt;";

/// A portal with an owner (Ada, signed in to `b`), a member and a viewer.
async fn portal(app: &TestApp) -> (Signed, Signed, Signed) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let member = app.member(&owner, "mo@acme.example", "member").await;
    let viewer = app.member(&owner, "vic@acme.example", "viewer").await;
    (owner, member, viewer)
}

async fn browser<'a>(app: &'a TestApp, email: &str) -> Browser<'a> {
    let mut b = Browser::new(app);
    b.sign_in(email).await;
    b
}

/// Posts without a token and with a wrong one: both refused before anything runs.
async fn refuses_without_token(b: &mut Browser<'_>, path: &str, fields: &[(&str, &str)]) {
    let r = b.post_raw(path, fields, &[]).await;
    assert!(r.status == 403 && r.text.contains("Nothing was changed"), "no token {path}: {}", r.text);
    let mut wrong = fields.to_vec();
    wrong.push(("csrf", "AAAA"));
    let r = b.post_raw(path, &wrong, &[]).await;
    assert!(r.status == 403 && r.text.contains("Nothing was changed"), "wrong token {path}: {}", r.text);
}

/// The text of `<code … id="{id}">` on a page.
fn code_in(html: &str, id: &str) -> String {
    let at = html.find(&format!("id=\"{id}\">")).unwrap_or_else(|| panic!("no {id}: {html}"));
    html[at + id.len() + 6..].split('<').next().unwrap().to_string()
}

async fn portal_settings_are_changed_by_managers_and_read_by_others(app: TestApp) {
    let (owner, _member, _viewer) = portal(&app).await;
    let mut b = browser(&app, "ada@acme.example").await;
    assert!(b.get("/app/settings").await.text.contains("href=\"/app/settings/portal\""));
    let page = b.get("/app/settings/portal").await;
    assert!(page.status == 200 && page.text.contains("id=\"portal-form\""), "{}", page.text);
    let name = format!("{HOSTILE} Co");
    let form = [
        ("name", name.as_str()),
        ("staff_access", "denied"),
        ("sending_rate_per_second", "50"),
        ("email_tracking", "true"),
    ];
    let r = b.post("/app/settings/portal", &form).await;
    assert_eq!(r.header("location").as_deref(), Some("/app/settings/portal?saved=1"), "{}", r.text);
    let t = app.get("/api/v1/tenant", Some(&owner.token)).await.body;
    assert_eq!((t["name"].as_str(), t["staff_access"].as_str()), (Some(name.as_str()), Some("denied")));
    assert_eq!((t["sending_rate_per_second"].as_i64(), t["email_tracking"].as_bool()), (Some(50), Some(true)));
    assert_eq!(t["require_mfa"].as_bool(), Some(false), "an unticked box is false");
    let page = b.get("/app/settings/portal?saved=1").await;
    assert!(page.text.contains("id=\"saved\"") && page.text.contains(ESCAPED), "{}", page.text);
    assert!(!page.text.contains(HOSTILE), "names render as text");
    assert!(app.audit_actions(&owner.token).await.contains(&"tenant.settings_changed".to_string()));

    // The API's 422s beside their fields; nothing changes.
    let bad = [("name", "Acme"), ("staff_access", "denied"), ("sending_rate_per_second", "0")];
    let r = b.post("/app/settings/portal", &bad).await;
    assert!(r.status == 422 && r.text.contains("data-field=\"sending_rate_per_second\""), "{}", r.text);
    let r = b.post("/app/settings/portal", &[("name", " "), ("staff_access", "sometimes")]).await;
    assert!(r.status == 422 && r.text.contains("data-field=\"staff_access\""), "{}", r.text);
    let r = b.post("/app/settings/portal", &[("name", " "), ("staff_access", "allowed")]).await;
    assert!(r.status == 422 && r.text.contains("data-field=\"name\""), "{}", r.text);
    assert_eq!(app.get("/api/v1/tenant", Some(&owner.token)).await.body["sending_rate_per_second"], 50);
    refuses_without_token(&mut b, "/app/settings/portal", &[("name", "Forged"), ("staff_access", "allowed")]).await;

    // A member and a viewer read the settings, without the form; a forged post is 403.
    for who in ["mo@acme.example", "vic@acme.example"] {
        let mut r = browser(&app, who).await;
        let page = r.get("/app/settings/portal").await;
        assert!(page.status == 200 && !page.text.contains("id=\"portal-form\""), "{who}: {}", page.text);
        assert!(page.text.contains("id=\"portal-settings\"") && page.text.contains(ESCAPED));
        let post = r.post("/app/settings/portal", &[("name", "Hijacked"), ("staff_access", "allowed")]).await;
        assert_eq!(post.status, 403, "{who}: {}", post.text);
    }
    assert_eq!(app.get("/api/v1/tenant", Some(&owner.token)).await.body["name"].as_str(), Some(name.as_str()));
    // Another portal sees its own settings.
    app.signup("Globex", "hank@globex.example").await;
    let mut other = browser(&app, "hank@globex.example").await;
    let theirs = other.get("/app/settings/portal").await.text;
    assert!(theirs.contains("value=\"Globex\"") && !theirs.contains(ESCAPED), "{theirs}");
}

async fn people_are_invited_given_roles_and_removed_by_the_api_rules(app: TestApp) {
    let (owner, member, _viewer) = portal(&app).await;
    let admin = app.member(&owner, "al@acme.example", "admin").await;
    // A person with a hostile name, joined by accepting the invitation.
    let body = json!({"email": "eve@acme.example", "name": HOSTILE, "role": "member", "password": PASSWORD});
    let inv = app.post("/api/v1/users", &body, Some(&owner.token)).await.body["id"].as_str().unwrap().to_string();
    let login = json!({"email": "eve@acme.example", "password": PASSWORD, "invitation_id": inv});
    assert_eq!(app.post("/api/v1/auth/login", &login, None).await.status, 200);

    let mut b = browser(&app, "ada@acme.example").await;
    let page = b.get("/app/people").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains(ESCAPED) && !page.text.contains(HOSTILE), "names as text");
    let role_form = format!("action=\"/app/people/{}/role\"", member.user_id);
    assert!(page.text.contains(&role_form) && page.text.contains("id=\"invite-form\""));
    assert_eq!(page.text.matches("<tr data-id=").count(), 5);

    let invite = [("email", "neo@acme.example"), ("name", "Neo"), ("role", "viewer"), ("password", PASSWORD)];
    let r = b.post("/app/people", &invite).await;
    assert_eq!(r.header("location").as_deref(), Some("/app/people?invited=1"), "{}", r.text);
    let pending = app.get("/api/v1/invitations", Some(&owner.token)).await.body;
    assert!(pending["data"].as_array().unwrap().iter().any(|i| i["email"] == "neo@acme.example"), "{pending}");
    let neo = pending["data"].as_array().unwrap().iter().find(|i| i["email"] == "neo@acme.example").unwrap().clone();
    let neo_id = neo["id"].as_str().unwrap().to_string();
    let page = b.get("/app/people?invited=1").await.text;
    assert!(page.contains("id=\"invited\"") && page.contains(&format!("data-invitation=\"{neo_id}\"")), "{page}");
    let r = b.post("/app/people", &[("email", "not-an-address"), ("name", "X"), ("role", "member")]).await;
    assert!(r.status == 422 && r.text.contains("data-field=\"email\""), "{}", r.text);
    let r = b.post("/app/people", &[("email", "x@acme.example"), ("name", "X"), ("role", "boss")]).await;
    assert!(r.status == 422 && r.text.contains("data-field=\"role\""), "{}", r.text);

    let r = b.post(&format!("/app/people/{}/role", member.user_id), &[("role", "viewer")]).await;
    assert_eq!(r.header("location").as_deref(), Some("/app/people"), "{}", r.text);
    let people = app.get("/api/v1/users", Some(&owner.token)).await.body;
    let mo = people["data"].as_array().unwrap().iter().find(|p| p["id"] == member.user_id.as_str()).unwrap().clone();
    assert_eq!(mo["role"], "viewer");
    // The last owner cannot step down: the API's 409, on the list.
    let r = b.post(&format!("/app/people/{}/role", owner.user_id), &[("role", "admin")]).await;
    assert!(r.status == 409 && r.text.contains("id=\"people-error\""), "{}", r.text);
    // An admin manages people but not the owner role.
    let mut al = browser(&app, "al@acme.example").await;
    assert!(al.get("/app/people").await.text.contains(&role_form));
    let r = al.post(&format!("/app/people/{}/role", member.user_id), &[("role", "owner")]).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(al.post(&format!("/app/people/{}/remove", owner.user_id), &[]).await.status, 403);
    // A viewer sees roles as text, and a forged post is refused.
    let mut vic = browser(&app, "vic@acme.example").await;
    let seen = vic.get("/app/people").await.text;
    assert!(!seen.contains("/role\"") && !seen.contains("/remove\"") && !seen.contains("invite-form"), "{seen}");
    assert_eq!(vic.post(&format!("/app/people/{}/role", admin.user_id), &[("role", "viewer")]).await.status, 403);
    assert_eq!(vic.post("/app/people", &invite).await.status, 403);
    assert!(!seen.contains("data-invitation="), "open invitations are for managers");
    assert_eq!(vic.post(&format!("/app/people/invitations/{neo_id}/revoke"), &[]).await.status, 403);
    let r = b.post(&format!("/app/people/invitations/{neo_id}/revoke"), &[]).await;
    assert_eq!(r.header("location").as_deref(), Some("/app/people"), "{}", r.text);
    assert!(!b.get("/app/people").await.text.contains("data-invitation="), "taken back");
    refuses_without_token(&mut b, &format!("/app/people/{}/remove", member.user_id), &[]).await;

    let r = b.post(&format!("/app/people/{}/remove", member.user_id), &[]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert!(!b.get("/app/people").await.text.contains(&member.user_id));
    // Another portal's person is not found here.
    let other = app.signup("Globex", "hank@globex.example").await;
    assert_eq!(b.post(&format!("/app/people/{}/role", other.user_id), &[("role", "viewer")]).await.status, 404);
    assert_eq!(b.post(&format!("/app/people/{}/remove", other.user_id), &[]).await.status, 404);
    let body = json!({"email": "zed@globex.example", "name": "Zed", "role": "member"});
    let theirs = app.post("/api/v1/users", &body, Some(&other.token)).await.body["id"].as_str().unwrap().to_string();
    assert_eq!(b.post(&format!("/app/people/invitations/{theirs}/revoke"), &[]).await.status, 404);
}

async fn keys_are_shown_once_rotated_and_deleted_by_managers(app: TestApp) {
    let (owner, _member, _viewer) = portal(&app).await;
    let mut b = browser(&app, "ada@acme.example").await;
    assert!(b.get("/app/api-keys").await.text.contains("value=\"contacts:read\""), "the picker");
    let fields = [("name", HOSTILE), ("scopes", "contacts:read"), ("scopes", "deals:write")];
    let r = b.post("/app/api-keys", &fields).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let key = code_in(&r.text, "api-key-secret");
    assert!(key.starts_with("ozk_"), "{key}");
    assert_eq!(r.text.matches(&key).count(), 1, "the key once on its page");
    assert!(r.text.contains(ESCAPED) && !r.text.contains(HOSTILE));
    assert_eq!(app.get("/api/v1/contacts", Some(&key)).await.status, 200, "the key works");
    let list = b.get("/app/api-keys").await;
    assert!(!list.text.contains(&key) && list.text.contains(&key[..10]), "never again, only its prefix");
    assert!(list.text.contains("contacts:read") && list.text.contains(ESCAPED) && !list.text.contains(HOSTILE));
    let id = app.get("/api/v1/api-keys", Some(&owner.token)).await.body["data"][0]["id"].as_str().unwrap().to_string();

    let r = b.post("/app/api-keys", &[("name", "No scopes")]).await;
    assert!(r.status == 422 && r.text.contains("data-field=\"scopes\""), "{}", r.text);
    let r = b.post("/app/api-keys", &[("name", "Bad"), ("scopes", "root:write")]).await;
    assert!(r.status == 422 && r.text.contains("data-field=\"scopes\""), "{}", r.text);
    let r = b.post("/app/api-keys", &[("name", ""), ("scopes", "deals:read")]).await;
    assert!(r.status == 422 && r.text.contains("data-field=\"name\""), "{}", r.text);

    let r = b.post(&format!("/app/api-keys/{id}/rotate"), &[]).await;
    let rotated = code_in(&r.text, "api-key-secret");
    assert!(r.status == 200 && rotated != key && r.text.matches(&rotated).count() == 1, "{}", r.text);
    assert_eq!(app.get("/api/v1/contacts", Some(&key)).await.status, 401, "the old key stops");
    assert_eq!(app.get("/api/v1/contacts", Some(&rotated)).await.status, 200);
    assert!(!b.get("/app/api-keys").await.text.contains(&rotated));

    for who in ["mo@acme.example", "vic@acme.example"] {
        let mut r = browser(&app, who).await;
        assert!(!r.get("/app/settings").await.text.contains("href=\"/app/api-keys\""), "{who}: no link");
        assert_eq!(r.get("/app/api-keys").await.status, 403, "{who}: the API's rule");
        assert_eq!(r.post("/app/api-keys", &fields).await.status, 403, "{who}");
        assert_eq!(r.post(&format!("/app/api-keys/{id}/rotate"), &[]).await.status, 403, "{who}");
        assert_eq!(r.post(&format!("/app/api-keys/{id}/delete"), &[]).await.status, 403, "{who}");
    }
    assert_eq!(app.get("/api/v1/contacts", Some(&rotated)).await.status, 200, "still the same key");
    refuses_without_token(&mut b, &format!("/app/api-keys/{id}/rotate"), &[]).await;
    let other = app.signup("Globex", "hank@globex.example").await;
    let theirs = app.post("/api/v1/api-keys", &json!({"name": "G", "scopes": ["tags:read"]}), Some(&other.token)).await;
    let tid = theirs.body["id"].as_str().unwrap();
    assert_eq!(b.post(&format!("/app/api-keys/{tid}/rotate"), &[]).await.status, 404);
    assert_eq!(b.post(&format!("/app/api-keys/{tid}/delete"), &[]).await.status, 404);
    assert_eq!(app.get("/api/v1/tags", Some(theirs.body["key"].as_str().unwrap())).await.status, 200);

    assert_eq!(b.post(&format!("/app/api-keys/{id}/delete"), &[]).await.status, 303);
    assert_eq!(app.get("/api/v1/contacts", Some(&rotated)).await.status, 401);
    assert!(b.get("/app/api-keys").await.text.contains("There are no keys yet."));
}

async fn people_change_their_password_and_turn_2fa_off(app: TestApp) {
    let (owner, _member, _viewer) = portal(&app).await;
    let mut b = browser(&app, "ada@acme.example").await;
    let mut phone = browser(&app, "ada@acme.example").await;
    assert!(b.get("/app/account").await.text.contains("id=\"password-form\""));
    let new = "N3w-Passw0rd!x";
    let r = b.post("/app/account/password", &[("current_password", "wrong"), ("new_password", new)]).await;
    assert!(r.status == 422 && r.text.contains("data-field=\"current_password\""), "{}", r.text);
    let r = b.post("/app/account/password", &[("current_password", PASSWORD), ("new_password", "short")]).await;
    assert!(r.status == 422 && r.text.contains("data-field=\"new_password\""), "{}", r.text);
    refuses_without_token(&mut b, "/app/account/password", &[("current_password", PASSWORD), ("new_password", new)])
        .await;
    let r = b.post("/app/account/password", &[("current_password", PASSWORD), ("new_password", new)]).await;
    assert_eq!(r.header("location").as_deref(), Some("/app/account?password=changed"), "{}", r.text);
    assert!(b.get("/app/account?password=changed").await.text.contains("id=\"account-notice\""), "still signed in");
    assert_eq!(phone.get("/app/dashboard").await.header("location").as_deref(), Some("/app/login"), "others end");
    // The sign-up's token ended with the other sessions; the new password signs in.
    assert_eq!(app.get("/api/v1/me", Some(&owner.token)).await.status, 401);
    let login = app.login("ada@acme.example", new, None).await;
    assert_eq!(login.status, 200, "{}", login.text);
    let token = login.body["token"].as_str().unwrap().to_string();

    // 2FA off: a wrong code beside its field; refused while the portal requires it.
    let (_secret, codes) = app.enable_mfa(&token).await;
    let page = b.get("/app/account").await;
    assert!(page.text.contains("data-state=\"on\"") && page.text.contains("id=\"mfa-off\""), "{}", page.text);
    let r = b.post("/app/account/2fa/disable", &[("code", "000000")]).await;
    assert!(r.status == 422 && r.text.contains("data-field=\"code\""), "{}", r.text);
    assert_eq!(app.patch("/api/v1/tenant", &json!({"require_mfa": true}), Some(&token)).await.status, 200);
    let r = b.post("/app/account/2fa/disable", &[("code", codes[0].as_str())]).await;
    assert!(r.status == 403 && r.text.contains("data-field=\"code\"") && r.text.contains("Acme"), "{}", r.text);
    assert_eq!(app.patch("/api/v1/tenant", &json!({"require_mfa": false}), Some(&token)).await.status, 200);
    let r = b.post("/app/account/2fa/disable", &[("code", codes[0].as_str())]).await;
    assert_eq!(r.header("location").as_deref(), Some("/app/account?mfa=off"), "{}", r.text);
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.body["mfa_enabled"], false);
    assert!(b.get("/app/account").await.text.contains("data-state=\"off\""));
    // Signed out: the forms send the visitor to sign in.
    let mut anonymous = Browser::new(&app);
    anonymous.get("/app/login").await;
    let r = anonymous.post("/app/account/password", &[("current_password", new), ("new_password", PASSWORD)]).await;
    assert_eq!(r.header("location").as_deref(), Some("/app/login"));
}

async fn the_audit_log_filters_and_pages(app: TestApp) {
    let (owner, member, _viewer) = portal(&app).await;
    for i in 0..27 {
        let body = json!({"name": format!("{HOSTILE} {i}"), "scopes": ["tags:read"]});
        assert_eq!(app.post("/api/v1/api-keys", &body, Some(&owner.token)).await.status, 201);
    }
    app.create(&member, "/api/v1/tags", json!({"name": "vip"})).await;
    let mut b = browser(&app, "ada@acme.example").await;
    let all = b.get("/app/audit").await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert!(all.text.contains(ESCAPED) && !all.text.contains(HOSTILE), "details as text");
    let seqs = |html: &str| -> Vec<String> {
        html.match_indices("<tr data-seq=\"")
            .map(|(i, _)| html[i + 14..].split('"').next().unwrap().to_string())
            .collect()
    };
    let first = b.get("/app/audit?action=api_key.created").await;
    let page1 = seqs(&first.text);
    assert_eq!(page1.len(), 25, "{}", first.text);
    assert_eq!(first.text.matches("<code>api_key.created</code>").count(), 25);
    let link = first.text.split("rel=\"next\"").next().unwrap().rsplit("href=\"").next().unwrap();
    let next = link.split('"').next().unwrap().replace("&#x2f;", "/").replace("&amp;", "&");
    assert!(next.contains("action=api_key.created") && next.contains("after="), "{next}");
    let second = b.get(&next).await;
    let page2 = seqs(&second.text);
    assert_eq!(page2.len(), 2, "{}", second.text);
    assert!(page2.iter().all(|s| !page1.contains(s)) && !second.text.contains("rel=\"next\""));

    let mine = b.get(&format!("/app/audit?actor_id={}", member.user_id)).await;
    assert!(!mine.text.contains("api_key.created") && !seqs(&mine.text).is_empty(), "{}", mine.text);
    let today = app.clock.now().date_naive();
    let yesterday = today.pred_opt().unwrap();
    let r = b.get(&format!("/app/audit?action=api_key&since={today}&until={today}")).await;
    assert_eq!(seqs(&r.text).len(), 25, "today's, whole day: {}", r.text);
    let r = b.get(&format!("/app/audit?until={yesterday}")).await;
    assert!(seqs(&r.text).is_empty() && r.text.contains("No entries match."), "{}", r.text);
    let r = b.get("/app/audit?since=soon").await;
    assert!(r.status == 422 && r.text.contains("data-field=\"since\""), "{}", r.text);
    assert_eq!(b.get("/app/audit?after=garbage").await.status, 422);

    for who in ["mo@acme.example", "vic@acme.example"] {
        let mut r = browser(&app, who).await;
        assert_eq!(r.get("/app/audit").await.status, 403, "{who}: the API's rule");
    }
    // Another portal's log is its own.
    app.signup("Globex", "hank@globex.example").await;
    let mut other = browser(&app, "hank@globex.example").await;
    assert!(!other.get("/app/audit").await.text.contains("api_key.created"));
}

async fn custom_values_and_pipelines_are_edited_by_managers(app: TestApp) {
    let (owner, _member, _viewer) = portal(&app).await;
    let mut b = browser(&app, "ada@acme.example").await;
    let r = b.post("/app/custom-values", &[("key", "brand"), ("value", HOSTILE)]).await;
    assert_eq!(r.header("location").as_deref(), Some("/app/custom-values"), "{}", r.text);
    let list = b.get("/app/custom-values").await;
    assert!(list.text.contains(ESCAPED) && !list.text.contains(HOSTILE), "{}", list.text);
    let r = b.post("/app/custom-values", &[("key", "Bad Key"), ("value", "x")]).await;
    assert!(r.status == 422 && r.text.contains("data-field=\"key\""), "{}", r.text);
    let r = b.post("/app/custom-values", &[("key", "brand"), ("value", "again")]).await;
    assert!(r.status == 409 && r.text.contains("data-field=\"key\""), "{}", r.text);
    let values = app.get("/api/v1/custom-values", Some(&owner.token)).await.body;
    let id = values["data"][0]["id"].as_str().unwrap().to_string();
    assert!(b.get(&format!("/app/custom-values/{id}")).await.text.contains("id=\"cv-form\""));
    let r = b.post(&format!("/app/custom-values/{id}"), &[("key", "brand"), ("value", "Acme\r\nBV")]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let got = app.get(&format!("/api/v1/custom-values/{id}"), Some(&owner.token)).await.body;
    assert_eq!(got["value"], "Acme\nBV");
    refuses_without_token(&mut b, &format!("/app/custom-values/{id}/delete"), &[]).await;

    let sales = json!({"name": "Sales", "stages": [{"name": "Lead"}, {"name": "Won"}]});
    let pipe = app.create(&owner, "/api/v1/pipelines", sales).await;
    let pid = pipe["id"].as_str().unwrap().to_string();
    let (lead, won) = (pipe["stages"][0]["id"].as_str().unwrap(), pipe["stages"][1]["id"].as_str().unwrap());
    app.create(&owner, "/api/v1/deals", json!({"name": "Big", "pipeline_id": pid, "stage_id": lead})).await;
    assert!(b.get("/app/pipelines").await.text.contains(&format!("href=\"/app/pipelines/{pid}\"")));
    let form = b.get(&format!("/app/pipelines/{pid}")).await;
    assert!(form.text.contains(&format!("value=\"{won}\"")), "{}", form.text);
    let edit = [
        ("name", HOSTILE),
        ("stage_id", lead),
        ("stage_name", "Lead in"),
        ("stage_id", won),
        ("stage_name", ""),
        ("stage_id", ""),
        ("stage_name", "Proposal"),
    ];
    let r = b.post(&format!("/app/pipelines/{pid}"), &edit).await;
    assert_eq!(r.header("location").as_deref(), Some("/app/pipelines"), "{}", r.text);
    let got = app.get(&format!("/api/v1/pipelines/{pid}"), Some(&owner.token)).await.body;
    assert_eq!((got["stages"][0]["id"].as_str(), got["stages"][0]["name"].as_str()), (Some(lead), Some("Lead in")));
    assert_eq!((got["stages"].as_array().unwrap().len(), got["stages"][1]["name"].as_str()), (2, Some("Proposal")));
    assert!(b.get("/app/pipelines").await.text.contains(ESCAPED));
    // Reordered by the position numbers: Proposal first, the deal stays in its stage.
    let proposal = got["stages"][1]["id"].as_str().unwrap().to_string();
    let form = b.get(&format!("/app/pipelines/{pid}")).await;
    assert!(form.text.contains("name=\"stage_pos\""), "{}", form.text);
    let order = [
        ("name", "Sales"),
        ("stage_id", lead),
        ("stage_name", "Lead in"),
        ("stage_pos", "2"),
        ("stage_id", &proposal),
        ("stage_name", "Proposal"),
        ("stage_pos", "1"),
        ("stage_id", ""),
        ("stage_name", ""),
        ("stage_pos", "3"),
    ];
    let r = b.post(&format!("/app/pipelines/{pid}"), &order).await;
    assert_eq!(r.header("location").as_deref(), Some("/app/pipelines"), "{}", r.text);
    let got = app.get(&format!("/api/v1/pipelines/{pid}"), Some(&owner.token)).await.body;
    let ids: Vec<&str> = got["stages"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [proposal.as_str(), lead], "{got}");
    let r =
        b.post(&format!("/app/pipelines/{pid}"), &[("name", "Sales"), ("stage_id", ""), ("stage_name", "Only")]).await;
    assert!(r.status == 409 && r.text.contains("data-field=\"stages\""), "deals are in Lead: {}", r.text);
    let r = b.post(&format!("/app/pipelines/{pid}/delete"), &[]).await;
    assert!(r.status == 409 && r.text.contains("data-field=\"stages\""), "{}", r.text);

    // Readers: no forms or buttons, and forged posts refused.
    for who in ["mo@acme.example", "vic@acme.example"] {
        let mut r = browser(&app, who).await;
        let seen = r.get("/app/custom-values").await.text;
        assert!(seen.contains("Acme") && !seen.contains("cv-form") && !seen.contains("/delete\""), "{who}: {seen}");
        assert!(!r.get(&format!("/app/custom-values/{id}")).await.text.contains("cv-form"));
        assert_eq!(r.post("/app/custom-values", &[("key", "x"), ("value", "y")]).await.status, 403, "{who}");
        assert_eq!(r.post(&format!("/app/custom-values/{id}"), &[("value", "y")]).await.status, 403);
        assert_eq!(r.post(&format!("/app/custom-values/{id}/delete"), &[]).await.status, 403);
        let p = r.get(&format!("/app/pipelines/{pid}")).await.text;
        assert!(!p.contains("pipeline-form") && !p.contains("pipeline-delete"), "{who}: {p}");
        assert_eq!(r.post(&format!("/app/pipelines/{pid}"), &[("name", "Mine")]).await.status, 403);
        assert_eq!(r.post(&format!("/app/pipelines/{pid}/delete"), &[]).await.status, 403);
    }
    // Another portal's value and pipeline are not found here.
    let other = app.signup("Globex", "hank@globex.example").await;
    let cv = app.create(&other, "/api/v1/custom-values", json!({"key": "secret", "value": "G"})).await;
    let gp = app.create(&other, "/api/v1/pipelines", json!({"name": "G", "stages": [{"name": "A"}]})).await;
    let (cvid, gpid) = (cv["id"].as_str().unwrap(), gp["id"].as_str().unwrap());
    assert_eq!(b.get(&format!("/app/custom-values/{cvid}")).await.status, 404);
    assert_eq!(b.post(&format!("/app/custom-values/{cvid}"), &[("value", "x")]).await.status, 404);
    assert_eq!(b.post(&format!("/app/custom-values/{cvid}/delete"), &[]).await.status, 404);
    assert_eq!(b.get(&format!("/app/pipelines/{gpid}")).await.status, 404);
    assert_eq!(b.post(&format!("/app/pipelines/{gpid}"), &[("name", "x")]).await.status, 404);
    assert_eq!(b.post(&format!("/app/pipelines/{gpid}/delete"), &[]).await.status, 404);
    // Into the trash, from where it comes back.
    assert_eq!(b.post(&format!("/app/custom-values/{id}/delete"), &[]).await.status, 303);
    assert_eq!(app.trash_len(&owner, "custom_value").await, 1);
}

async fn every_settings_screen_speaks_dutch(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let pipe = app.create(&owner, "/api/v1/pipelines", json!({"name": "Sales", "stages": [{"name": "Lead"}]})).await;
    let cv = app.create(&owner, "/api/v1/custom-values", json!({"key": "brand", "value": "Acme"})).await;
    let mut b = browser(&app, "ada@acme.example").await;
    b.post("/app/language", &[("lang", "nl"), ("next", "/app/")]).await;
    for (path, words) in [
        ("/app/settings".to_string(), "Portaalinstellingen"),
        ("/app/settings/portal".to_string(), "Toegang voor platformmedewerkers"),
        ("/app/people".to_string(), "Iemand uitnodigen"),
        ("/app/api-keys".to_string(), "Sleutel maken"),
        ("/app/account".to_string(), "Wachtwoord wijzigen"),
        ("/app/audit".to_string(), "Auditlog"),
        ("/app/custom-values".to_string(), "Waarde toevoegen"),
        (format!("/app/custom-values/{}", cv["id"].as_str().unwrap()), "Eigen waarde"),
        ("/app/pipelines".to_string(), "Pijplijn toevoegen"),
        (format!("/app/pipelines/{}", pipe["id"].as_str().unwrap()), "Pijplijn verwijderen"),
    ] {
        let r = b.get(&path).await;
        assert!(r.status == 200 && r.text.contains(words), "{path} in Dutch: {}", r.text);
        assert!(r.text.contains("lang=\"nl\""), "{path}");
    }
    let r = b.post("/app/api-keys", &[("name", "Sync"), ("scopes", "tags:read")]).await;
    assert!(r.text.contains("Kopieer deze sleutel nu"), "{}", r.text);
}

both_backends!(
    portal_settings_are_changed_by_managers_and_read_by_others,
    people_are_invited_given_roles_and_removed_by_the_api_rules,
    keys_are_shown_once_rotated_and_deleted_by_managers,
    people_change_their_password_and_turn_2fa_off,
    the_audit_log_filters_and_pages,
    custom_values_and_pipelines_are_edited_by_managers,
    every_settings_screen_speaks_dutch,
);
