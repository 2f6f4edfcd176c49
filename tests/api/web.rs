//! The web app (`/app/`) over real HTTP, as a browser speaks it: cookies kept in a jar,
//! forms posted urlencoded with the page's CSRF token, redirects not followed (each step
//! is checked). Both databases.

use std::collections::BTreeMap;

use awc::http::Method;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{read, Resp, TestApp, PASSWORD};

/// A browser without JavaScript: a cookie jar and the last page's CSRF token.
pub struct Browser<'a> {
    app: &'a TestApp,
    client: awc::Client,
    pub jar: BTreeMap<String, String>,
    pub set_cookies: Vec<String>,
    pub csrf: String,
    pub accept_language: Option<String>,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Browser<'a> {
        let client = awc::Client::builder().disable_redirects().timeout(std::time::Duration::from_secs(30)).finish();
        Browser {
            app,
            client,
            jar: BTreeMap::new(),
            set_cookies: Vec::new(),
            csrf: String::new(),
            accept_language: None,
        }
    }

    async fn send(&mut self, method: Method, path: &str, form: Option<String>, headers: &[(&str, &str)]) -> Resp {
        let mut req = self.client.request(method, self.app.url(path));
        let cookie = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        if !cookie.is_empty() {
            req = req.insert_header(("Cookie", cookie));
        }
        if let Some(lang) = &self.accept_language {
            req = req.insert_header(("Accept-Language", lang.clone()));
        }
        for (k, v) in headers {
            req = req.insert_header((*k, *v));
        }
        let sent = match form {
            Some(body) => {
                req.insert_header(("Content-Type", "application/x-www-form-urlencoded")).send_body(body).await
            }
            None => req.send().await,
        };
        let r = read(sent.expect("request sent")).await;
        self.set_cookies =
            r.headers.get_all("set-cookie").filter_map(|v| v.to_str().ok()).map(str::to_string).collect();
        for c in &self.set_cookies {
            let first = c.split(';').next().unwrap();
            let (name, value) = first.split_once('=').unwrap();
            if value.is_empty() || c.to_ascii_lowercase().contains("max-age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_string(), value.to_string());
            }
        }
        if let Some(token) = meta_csrf(&r.text) {
            self.csrf = token;
        }
        r
    }

    pub async fn get(&mut self, path: &str) -> Resp {
        self.send(Method::GET, path, None, &[]).await
    }

    /// Posts a form with the current CSRF token added.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        let csrf = self.csrf.clone();
        all.push(("csrf", &csrf));
        self.post_raw(path, &all, &[]).await
    }

    /// Posts exactly these fields and headers (no token added).
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> Resp {
        let body = serde_urlencoded::to_string(fields).unwrap();
        self.send(Method::POST, path, Some(body), headers).await
    }

    pub fn cookie_header(&self, name: &str) -> Option<String> {
        self.set_cookies.iter().find(|c| c.starts_with(&format!("{name}="))).cloned()
    }

    /// Signs in by the forms (one portal, no 2FA) and lands on the dashboard.
    pub async fn sign_in(&mut self, email: &str) {
        self.get("/app/login").await;
        let r = self.post("/app/login", &[("email", email), ("password", PASSWORD)]).await;
        assert_eq!((r.status, r.header("location").as_deref()), (303, Some("/app/dashboard")), "{}", r.text);
        // As a browser follows the redirect: the signed-in page brings the session's token.
        assert_eq!(self.get("/app/dashboard").await.status, 200);
    }
}

fn meta_csrf(html: &str) -> Option<String> {
    let start = html.find("<meta name=\"csrf-token\" content=\"")? + "<meta name=\"csrf-token\" content=\"".len();
    let end = html[start..].find('"')?;
    let token = &html[start..start + end];
    (!token.is_empty()).then(|| token.to_string())
}

fn is_html(r: &Resp) -> bool {
    r.header("content-type").is_some_and(|c| c.starts_with("text/html"))
}

async fn contact_count(app: &TestApp, token: &str) -> usize {
    let r = app.get("/api/v1/contacts?limit=100", Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].as_array().unwrap().len()
}

async fn signing_up_sets_an_httponly_lax_session_cookie(app: TestApp) {
    let mut b = Browser::new(&app);
    let r = b.get("/app/signup").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(is_html(&r));
    let pre = b.cookie_header("organizeo_pre").expect("a pre-session cookie for the form's token");
    assert!(pre.contains("HttpOnly") && pre.contains("SameSite=Lax") && pre.contains("Path=/"), "{pre}");
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("form-action 'self'"), "{csp}");
    let r = b
        .post(
            "/app/signup",
            &[("tenant_name", "Acme Web"), ("name", "Ada"), ("email", "ada@acme.example"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!((r.status, r.header("location").as_deref()), (303, Some("/app/dashboard")), "{}", r.text);
    let session = b.cookie_header("organizeo_session").expect("session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(session.contains(attribute), "{attribute} missing: {session}");
    }
    assert!(!session.contains("Secure"), "plain http: no Secure, so browsers keep it: {session}");
    let r = b.get("/app/dashboard").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("Acme Web") && r.text.contains("/app/contacts"), "branding and navigation");
    // The same person signs in again by the form.
    let mut again = Browser::new(&app);
    again.sign_in("ada@acme.example").await;
    // A weak password is refused per rule, with the field named, and no portal is made.
    let mut c = Browser::new(&app);
    c.get("/app/signup").await;
    let r = c
        .post("/app/signup", &[("tenant_name", "X"), ("name", "Y"), ("email", "y@x.example"), ("password", "short")])
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("data-field=\"password\""), "{}", r.text);
    assert!(r.text.contains("value=\"y@x.example\""), "the form keeps what was typed");
    assert_eq!(app.login("y@x.example", "short", None).await.status, 401);
}

async fn under_https_the_cookies_are_secure_and_host_prefixed(app: TestApp) {
    let app = app.restart_with(|s| s.public_url = "https://crm.example".into()).await;
    let mut b = Browser::new(&app);
    b.get("/app/signup").await;
    assert!(b.cookie_header("__Host-organizeo_pre").is_some_and(|c| c.contains("Secure")), "{:?}", b.set_cookies);
    let r = b
        .post(
            "/app/signup",
            &[("tenant_name", "Acme"), ("name", "Ada"), ("email", "ada@acme.example"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let session = b.cookie_header("__Host-organizeo_session").expect("__Host- session cookie");
    assert!(session.contains("Secure") && session.contains("Path=/") && !session.contains("Domain"), "{session}");
    // The public URL's origin is this site's own.
    let r = b.get("/app/contacts/new").await;
    assert_eq!(r.status, 200);
    let csrf = b.csrf.clone();
    let r = b
        .post_raw("/app/contacts", &[("email", "x@y.example"), ("csrf", &csrf)], &[("Origin", "https://crm.example")])
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
}

async fn state_changing_requests_need_the_csrf_token_and_same_origin(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    b.get("/app/contacts/new").await;
    let good = b.csrf.clone();
    assert!(!good.is_empty());
    type Pairs<'a> = Vec<(&'a str, &'a str)>;
    let forged: [(&str, Pairs, Pairs); 7] = [
        ("no token", vec![("email", "a@x.example")], vec![]),
        ("a wrong token", vec![("email", "a@x.example"), ("csrf", "AAAA")], vec![]),
        (
            "another site's origin",
            vec![("email", "a@x.example"), ("csrf", &good)],
            vec![("Origin", "https://evil.example")],
        ),
        ("a cross-site fetch", vec![("email", "a@x.example"), ("csrf", &good)], vec![("Sec-Fetch-Site", "cross-site")]),
        ("a null origin", vec![("email", "a@x.example"), ("csrf", &good)], vec![("Origin", "null")]),
        // Forwarding headers are not this server's origin (no proxy is trusted to set them).
        (
            "another origin claimed through X-Forwarded-Host",
            vec![("email", "a@x.example"), ("csrf", &good)],
            vec![("Origin", "http://evil.example"), ("X-Forwarded-Host", "evil.example")],
        ),
        (
            "another origin claimed through Forwarded",
            vec![("email", "a@x.example"), ("csrf", &good)],
            vec![("Origin", "http://evil.example"), ("Forwarded", "host=evil.example;proto=http")],
        ),
    ];
    for (what, fields, headers) in forged {
        let r = b.post_raw("/app/contacts", &fields, &headers).await;
        assert_eq!(r.status, 403, "{what}: {}", r.text);
        assert!(is_html(&r), "{what}: a page, not JSON");
        assert!(r.text.contains("Nothing was changed"), "{what}: {}", r.text);
    }
    // A token from another session is wrong for this one.
    let mut other = Browser::new(&app);
    other.get("/app/login").await;
    let theirs = other.csrf.clone();
    assert_ne!(theirs, good);
    let r = b.post_raw("/app/contacts", &[("email", "a@x.example"), ("csrf", &theirs)], &[]).await;
    assert_eq!(r.status, 403);
    assert_eq!(contact_count(&app, &owner.token).await, 0, "nothing was created");
    // The header works as the form field does (scripts), and the same origin passes.
    let own = app.address.clone();
    let r =
        b.post_raw("/app/contacts", &[("email", "a@x.example")], &[("X-CSRF-Token", &good), ("Origin", &own)]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(contact_count(&app, &owner.token).await, 1);
    // Sign-in is protected too (login CSRF): no pre-session token, no sign-in.
    let mut fresh = Browser::new(&app);
    let r = fresh.post_raw("/app/login", &[("email", "ada@acme.example"), ("password", PASSWORD)], &[]).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(fresh.jar.keys().all(|k| !k.contains("session")), "no session was made");
}

async fn cookies_do_not_authenticate_the_json_api(app: TestApp) {
    app.signup("Acme", "ada@acme.example").await;
    let mut b = Browser::new(&app);
    b.sign_in("ada@acme.example").await;
    let cookie = b.jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
    for (method, path) in [(Method::GET, "/api/v1/me"), (Method::POST, "/api/v1/contacts")] {
        let mut req = app.client.request(method.clone(), app.url(path)).insert_header(("Cookie", cookie.clone()));
        req = req.insert_header(("X-CSRF-Token", b.csrf.clone()));
        let r = read(req.send_body(json!({"email": "c@x.example"}).to_string()).await.unwrap()).await;
        r.problem(401, "unauthorized");
    }
    // Signing in again in the same browser replaces the session: the old one is ended.
    let first = b.jar.get("organizeo_session").cloned().unwrap();
    b.sign_in("ada@acme.example").await;
    let second = b.jar.get("organizeo_session").cloned().unwrap();
    assert_ne!(first, second, "a new session");
    assert_eq!(app.get("/api/v1/me", Some(&first)).await.status, 401, "the replaced session is revoked");
    // Signing out ends the session the cookie held, everywhere.
    let token = b.jar.get("organizeo_session").cloned().unwrap();
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.status, 200, "the cookie holds an API session");
    let r = b.post("/app/logout", &[]).await;
    assert_eq!((r.status, r.header("location").as_deref()), (303, Some("/app/login")));
    assert!(!b.jar.contains_key("organizeo_session"), "the cookie is removed");
    assert_eq!(app.get("/api/v1/me", Some(&token)).await.status, 401, "and the session revoked");
    let r = b.get("/app/contacts").await;
    assert_eq!((r.status, r.header("location").as_deref()), (303, Some("/app/login")));
}

async fn pages_speak_the_persons_saved_language_else_the_browsers(app: TestApp) {
    app.signup("Acme", "ada@acme.example").await;
    let mut b = Browser::new(&app);
    for (header, lang, words) in [
        ("nl-NL,nl;q=0.9,en;q=0.8", "nl", "Inloggen"),
        ("en-GB,en;q=0.9", "en", "Sign in"),
        ("nl;q=0.2, en;q=0.8", "en", "Sign in"),
        ("fr-FR, de", "en", "Sign in"),
    ] {
        b.accept_language = Some(header.to_string());
        let r = b.get("/app/login").await;
        assert!(r.text.contains(&format!("<html lang=\"{lang}\">")), "{header}: {}", r.text);
        assert!(r.text.contains(words), "{header}");
    }
    assert!(b.get("/app/login").await.text.contains("not available yet"), "forgot-password is out of scope, said");
    // An English browser; the person picks Dutch once; a new browser shows Dutch after sign-in.
    b.accept_language = Some("en".into());
    b.sign_in("ada@acme.example").await;
    let r = b.post("/app/language", &[("lang", "nl"), ("next", "/app/contacts")]).await;
    assert_eq!((r.status, r.header("location").as_deref()), (303, Some("/app/contacts")));
    assert!(b.get("/app/contacts").await.text.contains("Nog geen contacten"));
    let mut elsewhere = Browser::new(&app);
    elsewhere.accept_language = Some("en-US".into());
    assert!(elsewhere.get("/app/login").await.text.contains("Sign in"));
    elsewhere.sign_in("ada@acme.example").await;
    let r = elsewhere.get("/app/contacts").await;
    assert!(r.text.contains("<html lang=\"nl\">") && r.text.contains("Contacten"), "{}", r.text);
    // Dates follow the language too.
    let token = app.sign_in("ada@acme.example").await;
    let c = app
        .contact(
            &crate::helpers::Signed { token, tenant_id: String::new(), user_id: String::new() },
            json!({"email": "x@y.example"}),
        )
        .await;
    let r = elsewhere.get(&format!("/app/contacts/{}", c["id"].as_str().unwrap())).await;
    let month_nl = ["jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"];
    assert!(month_nl.iter().any(|m| r.text.contains(&format!(" {m} "))), "a Dutch date: {}", r.text);
    // A language we do not speak is a 400 page, and an outside `next` is not followed.
    assert_eq!(b.post("/app/language", &[("lang", "xx"), ("next", "/app/")]).await.status, 400);
    let r = b.post("/app/language", &[("lang", "en"), ("next", "https://evil.example/")]).await;
    assert_eq!(r.header("location").as_deref(), Some("/app/"));
    // A control character cannot become a Location header: the start page, never a 500.
    for next in ["/app\n", "/app\r\nSet-Cookie: x=1", "/app\u{1}"] {
        let r = b.post("/app/language", &[("lang", "en"), ("next", next)]).await;
        assert_eq!((r.status, r.header("location").as_deref()), (303, Some("/app/")), "{next:?}: {}", r.text);
    }
    // Bytes that are not UTF-8 once decoded are refused, not stored as U+FFFD.
    let body = format!("csrf={}&first_name=a%FFb&email=c%FEd%40x.example", b.csrf);
    let r = b.send(Method::POST, "/app/contacts", Some(body), &[]).await;
    assert!(r.status == 400 && is_html(&r), "{} {}", r.status, r.text);
    assert!(!b.get("/app/contacts").await.text.contains('\u{fffd}'), "nothing was stored");
}

/// Every route of `web::PAGES`, so later screens are held to the same rules without a new
/// test: GETs answer a page or a redirect (signed out and signed in, never JSON, never a
/// 5xx); no POST passes the guard without a token; none is in the OpenAPI document.
async fn every_page_route_answers_html_and_no_post_passes_without_a_token(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    // Settings with content (a custom field, a pipeline), so lists render their rows too.
    app.custom_field(&owner, "deal", "tier", "select", json!({"options": ["gold"]})).await;
    let sales = app.create(&owner, "/api/v1/pipelines", json!({"name": "Sales", "stages": [{"name": "Lead"}]})).await;
    // A record of every object, so each object's `{id}` pages answer for a real one.
    let mut ids = BTreeMap::new();
    for (plural, body) in [
        ("contacts", json!({"email": "grace@navy.example"})),
        ("companies", json!({"name": "Navy"})),
        (
            "deals",
            json!({"name": "Cobol", "tags": ["vip"], "custom_fields": {"tier": "gold"}, "pipeline_id": sales["id"]}),
        ),
        ("tickets", json!({"subject": "Bug"})),
        ("tasks", json!({"title": "Call"})),
        ("notes", json!({"body": "Met"})),
    ] {
        let r = app.create(&owner, &format!("/api/v1/{plural}"), body).await;
        ids.insert(format!("/app/{plural}/"), r["id"].as_str().unwrap().to_string());
    }
    // An email, a segment and a draft campaign, for the email-marketing pages.
    let email = app.create(&owner, "/api/v1/emails", json!({"name": "Hello", "subject": "Hi"})).await;
    let segment = app.create(&owner, "/api/v1/segments", json!({"name": "All", "filter_groups": []})).await;
    let draft = json!({"name": "Launch", "email_id": email["id"], "segment_id": segment["id"]});
    let campaign = app.create(&owner, "/api/v1/campaigns", draft).await;
    // A custom value, and the pipeline above, for the settings screens' `{id}` pages.
    let value = app.create(&owner, "/api/v1/custom-values", json!({"key": "brand", "value": "Acme"})).await;
    for (prefix, record) in [
        ("/app/emails/", &email),
        ("/app/segments/", &segment),
        ("/app/campaigns/", &campaign),
        ("/app/custom-values/", &value),
        ("/app/pipelines/", &sales),
    ] {
        ids.insert(prefix.to_string(), record["id"].as_str().unwrap().to_string());
    }
    // An import and an in-app message, for the engagement pages.
    let import =
        crate::imports::upload(&app, &owner.token, &[("object", "contact")], Some("email\nx@y.example\n")).await;
    ids.insert("/app/imports/".to_string(), import.body["id"].as_str().unwrap().to_string());
    let message = json!({"audience": {"all": true}, "title": "Hello"});
    let message = app.post("/api/v1/inapp/messages", &message, Some(&owner.token)).await;
    ids.insert("/app/messages/".to_string(), message.body["id"].as_str().unwrap().to_string());
    let mut anonymous = Browser::new(&app);
    let mut member = Browser::new(&app);
    member.sign_in("ada@acme.example").await;
    let mut checked = 0;
    for (method, pattern) in organizeo::web::PAGES {
        let id = ids.iter().find(|(prefix, _)| pattern.starts_with(prefix.as_str())).map(|(_, id)| id.as_str());
        let path = pattern.replace("{id}", id.unwrap_or("00000000-0000-0000-0000-000000000000")).replace("{n}", "1");
        match *method {
            "get" => {
                for (who, b) in [("anonymous", &mut anonymous), ("member", &mut member)] {
                    let r = b.get(&path).await;
                    assert!(matches!(r.status, 200 | 303), "{who} GET {path}: {} {}", r.status, r.text);
                    let kind = r.header("content-type").unwrap_or_default();
                    assert!(
                        r.status == 303 || kind.starts_with("text/") || kind.starts_with("application/json"),
                        "{who} GET {path}: {kind}"
                    );
                }
            }
            "post" => {
                let r = member.post_raw(&path, &[("email", "x@y.example")], &[]).await;
                assert_eq!(r.status, 403, "POST {path} without a token: {}", r.text);
                assert!(is_html(&r), "POST {path}: a page");
            }
            other => panic!("a page route with method {other}: add it here"),
        }
        checked += 1;
    }
    assert!(checked >= 18, "only {checked} page routes checked");
    let spec = app.get("/api/v1/openapi.json", None).await.body;
    let paths: Vec<&String> = spec["paths"].as_object().unwrap().keys().collect();
    assert!(paths.iter().all(|p| !p.starts_with("/app")), "HTML pages are not API operations: {paths:?}");
    // The landing page sends a browser with a session on to the app.
    let r = member.get("/").await;
    assert_eq!((r.status, r.header("location").as_deref()), (303, Some("/app/")));
    assert_eq!(anonymous.get("/").await.status, 200);
}

both_backends!(
    every_page_route_answers_html_and_no_post_passes_without_a_token,
    signing_up_sets_an_httponly_lax_session_cookie,
    under_https_the_cookies_are_secure_and_host_prefixed,
    state_changing_requests_need_the_csrf_token_and_same_origin,
    cookies_do_not_authenticate_the_json_api,
    pages_speak_the_persons_saved_language_else_the_browsers,
);
