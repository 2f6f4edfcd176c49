//! Accessibility of every screen, in English and in Dutch: headless Chromium (see
//! `browser.rs`; without ORGANIZEO_TEST_CHROMIUM the test says loudly that it DID NOT RUN)
//! signs in through the portal choice and the second factor to a portal with a record of
//! every kind, opens each GET screen of `organizeo::web::PAGES` (and the server's public
//! `/` and `/dashboard`), runs axe-core (vendored in `fixtures/axe/`, injected into the
//! page) and fails listing every `serious` or `critical` violation: rule, impact, the
//! elements' selectors and the page. The SQLite run keeps a full-page PNG of each screen at
//! 1280 px in `target/artifacts/screens/<lang>/<name>.png`, and of a few main screens at a
//! phone's 390 px as `<name>-phone.png`. A GET page that is neither in [`SCREENS`] nor in
//! [`NOT_SCANNED`] (with its reason) fails `every_get_page_is_scanned_or_listed`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use crate::both_backends;
use crate::browser::{chromium_or_warn, Browser};
use crate::helpers::{Signed, TestApp, PASSWORD};

/// axe-core 4.14.1 (MPL-2.0, `fixtures/axe/LICENSE`), test-only: never served.
const AXE: &str = include_str!("fixtures/axe/axe.min.js");

/// The GET screens scanned, in visiting order: the first four are seen signed out, on the
/// way in; the rest signed in as the portal's owner.
const SCREENS: &[&str] = &[
    "/app/signup",
    "/app/login",
    "/app/login/portal",
    "/app/login/code",
    "/app/dashboard",
    "/app/contacts",
    "/app/contacts/new",
    "/app/contacts/{id}",
    "/app/contacts/{id}/edit",
    "/app/companies",
    "/app/companies/new",
    "/app/companies/{id}",
    "/app/companies/{id}/edit",
    "/app/deals",
    "/app/deals/new",
    "/app/deals/board",
    "/app/deals/{id}",
    "/app/deals/{id}/edit",
    "/app/pipelines",
    "/app/pipelines/{id}",
    "/app/tickets",
    "/app/tickets/new",
    "/app/tickets/{id}",
    "/app/tickets/{id}/edit",
    "/app/tasks",
    "/app/tasks/new",
    "/app/tasks/{id}",
    "/app/tasks/{id}/edit",
    "/app/notes",
    "/app/notes/new",
    "/app/notes/{id}",
    "/app/notes/{id}/edit",
    "/app/trash",
    "/app/settings",
    "/app/tags",
    "/app/custom-fields",
    "/app/custom-values",
    "/app/custom-values/{id}",
    "/app/account",
    "/app/emails",
    "/app/emails/new",
    "/app/emails/{id}",
    "/app/emails/{id}/edit",
    "/app/emails/{id}/revisions",
    "/app/emails/{id}/revisions/{n}",
    "/app/emails/{id}/compare",
    "/app/emails/{id}/preview",
    "/app/segments",
    "/app/segments/new",
    "/app/segments/{id}",
    "/app/segments/{id}/edit",
    "/app/campaigns",
    "/app/campaigns/new",
    "/app/campaigns/{id}",
    "/app/campaigns/{id}/edit",
    "/app/campaigns/{id}/preview",
    "/app/campaigns/{id}/recipients",
    "/app/suppressions",
    "/app/settings/portal",
    "/app/people",
    "/app/api-keys",
    "/app/audit",
    "/app/imports",
    "/app/imports/mapping",
    "/app/imports/{id}",
    "/app/messages",
    "/app/messages/new",
    "/app/messages/{id}",
    "/app/notifications",
    "/app/staff-access",
    "/app/features",
];

/// GET routes of `PAGES` that are not screens of their own, and why.
const NOT_SCANNED: &[(&str, &str)] = &[
    ("/app", "redirects to /app/dashboard, which is scanned"),
    ("/app/", "redirects to /app/dashboard, which is scanned"),
    ("/app/brand.css", "a stylesheet"),
    ("/app/static/app.css", "a stylesheet"),
    ("/app/static/board.js", "a script"),
    ("/app/static/live.js", "a script"),
    ("/app/static/records.js", "a script"),
    ("/app/notifications/counts", "JSON for live.js"),
    ("/app/imports/{id}/errors.csv", "a CSV download"),
    ("/app/exports/download", "a CSV download"),
    ("/app/emails/{id}/preview/html", "the portal's own email HTML, shown in the preview's sandboxed frame"),
    ("/app/campaigns/{id}/preview/html", "the portal's own email HTML, shown in the preview's sandboxed frame"),
];

/// The server's own pages outside `/app`, scanned signed out first.
const PUBLIC: &[&str] = &["/", "/dashboard"];

/// Screens scanned and photographed again at a phone's width.
const PHONE: &[&str] = &[
    "/app/login",
    "/app/dashboard",
    "/app/contacts",
    "/app/contacts/{id}",
    "/app/deals/board",
    "/app/campaigns/{id}",
    "/app/audit",
    "/app/imports/{id}",
];

const LANGS: &[&str] = &["en", "nl"];

#[test]
fn every_get_page_is_scanned_or_listed() {
    let gets: Vec<&str> = organizeo::web::PAGES.iter().filter(|(m, _)| *m == "get").map(|(_, p)| *p).collect();
    for page in &gets {
        let scanned = SCREENS.contains(page);
        let listed = NOT_SCANNED.iter().any(|(p, _)| p == page);
        assert!(scanned ^ listed, "GET {page}: scan it in SCREENS or list it with a reason in NOT_SCANNED");
    }
    for page in SCREENS.iter().chain(NOT_SCANNED.iter().map(|(p, _)| p)).chain(PHONE) {
        assert!(gets.contains(page), "{page} is not a GET page of organizeo::web::PAGES any more");
    }
}

/// `contacts-id-edit` for `/app/contacts/{id}/edit`; `index` for `/`.
fn name(pattern: &str) -> String {
    let path = pattern.strip_prefix("/app").unwrap_or(pattern).trim_matches('/');
    let name = path.replace(['{', '}'], "").replace('/', "-");
    if name.is_empty() {
        "index".into()
    } else if pattern == "/dashboard" {
        "live-dashboard".into()
    } else {
        name
    }
}

struct Scan<'a> {
    b: Browser,
    app: &'a TestApp,
    lang: &'static str,
    shots: bool,
    found: Vec<String>,
}

impl Scan<'_> {
    /// Opens `path` (a query allowed) and waits for the new document to have loaded; it
    /// must be a 200 at that very path, not a redirect elsewhere.
    async fn go(&mut self, path: &str) {
        self.b.eval("window.__a11yOld = true").await;
        self.b.call("Page.navigate", json!({"url": self.app.url(path)})).await;
        self.loaded(path).await;
    }

    async fn loaded(&mut self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let state = self
                .b
                .eval(
                    "(() => window.__a11yOld || document.readyState !== 'complete' ? null : \
                     ({path: location.pathname + location.search, \
                       status: performance.getEntriesByType('navigation')[0]?.responseStatus}))()",
                )
                .await;
            if !state.is_null() {
                assert_eq!(state["path"], path, "{} ({}): redirected", path, self.lang);
                assert_eq!(state["status"], 200, "{} ({}): not a 200", path, self.lang);
                return;
            }
            assert!(Instant::now() < deadline, "timed out loading {path} ({})", self.lang);
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs axe on the open page, notes its serious and critical violations, and keeps a
    /// screenshot named `name`.
    async fn check(&mut self, name: &str) {
        let lang = self.b.eval("document.documentElement.lang").await;
        let page = self.b.eval("location.pathname + location.search").await;
        let page = page.as_str().unwrap_or_default().to_string();
        if !PUBLIC.contains(&page.as_str()) {
            assert_eq!(lang, self.lang, "{page}: the page's language");
        }
        self.b.eval(&format!("{AXE}\n;true")).await;
        let violations = self
            .b
            .eval(
                "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations \
                 .filter(v => v.impact === 'serious' || v.impact === 'critical') \
                 .map(v => ({id: v.id, impact: v.impact, help: v.help, \
                   targets: v.nodes.map(n => n.target.join(' ')) })))",
            )
            .await;
        for v in violations.as_array().expect("axe's violations") {
            let targets: Vec<&str> = v["targets"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
            self.found.push(format!(
                "[{}] {} ({}) {}: {} — {}",
                self.lang,
                page,
                v["impact"].as_str().unwrap_or_default(),
                v["id"].as_str().unwrap_or_default(),
                v["help"].as_str().unwrap_or_default(),
                targets.join(" | ")
            ));
        }
        if self.shots {
            self.screenshot(name).await;
        }
    }

    async fn screenshot(&mut self, name: &str) {
        let m = self.b.call("Page.getLayoutMetrics", json!({})).await;
        let size = &m["cssContentSize"];
        let (w, h) = (size["width"].as_f64().unwrap(), size["height"].as_f64().unwrap().min(8000.0));
        let clip = json!({"x": 0, "y": 0, "width": w, "height": h, "scale": 1});
        let r = self
            .b
            .call("Page.captureScreenshot", json!({"format": "png", "captureBeyondViewport": true, "clip": clip}))
            .await;
        let png = base64::engine::general_purpose::STANDARD.decode(r["data"].as_str().unwrap()).unwrap();
        assert!(png.len() > 2_000, "{name}: a real screenshot");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/artifacts/screens").join(self.lang);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    async fn width(&mut self, width: u32, height: u32, mobile: bool) {
        let metrics = json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile});
        self.b.call("Emulation.setDeviceMetricsOverride", metrics).await;
    }

    async fn click(&mut self, selector: &str) {
        let js = format!("(() => {{ document.querySelector({}).click(); return true; }})()", json!(selector));
        self.b.eval("window.__a11yOld = true").await;
        self.b.eval(&js).await;
    }

    async fn fill(&mut self, form: &str, fields: &[(&str, &str)]) {
        let sets: String =
            fields.iter().map(|(k, v)| format!("f.elements[{}].value = {};", json!(k), json!(v))).collect();
        self.b.eval("window.__a11yOld = true").await;
        self.b
            .eval(&format!(
                "(() => {{ const f = document.querySelector({}); {sets} f.requestSubmit(); return true; }})()",
                json!(form)
            ))
            .await;
    }
}

/// A portal with a record of every kind, `{id}` prefixes mapped to a real id; its owner
/// has a second portal (so signing in asks which) and a second factor.
struct Seeded {
    owner: Signed,
    ids: BTreeMap<String, String>,
    contact: String,
    recovery: Vec<String>,
}

async fn seed(app: &TestApp) -> Seeded {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let mo = app.member(&owner, "mo@acme.example", "member").await;
    let invite = json!({"email": "pat@acme.example", "name": "Pat", "role": "viewer", "password": PASSWORD});
    assert_eq!(app.post("/api/v1/users", &invite, Some(&owner.token)).await.status, 202);
    app.custom_field(&owner, "deal", "tier", "select", json!({"options": ["gold"]})).await;
    app.custom_field(&owner, "contact", "shoe_size", "number", json!({})).await;
    app.create(&owner, "/api/v1/tags", json!({"name": "vip"})).await;
    let sales = app
        .create(&owner, "/api/v1/pipelines", json!({"name": "Sales", "stages": [{"name": "Lead"}, {"name": "Won"}]}))
        .await;
    let mut ids = BTreeMap::new();
    let company = app.create(&owner, "/api/v1/companies", json!({"name": "Navy", "domain": "navy.example"})).await;
    let contact = json!({"email": "grace@navy.example", "first_name": "Grace", "last_name": "Hopper",
        "tags": ["vip"], "company_ids": [company["id"]], "custom_fields": {"shoe_size": 38}});
    let contact = app.contact(&owner, contact).await;
    let cid = contact["id"].as_str().unwrap().to_string();
    for (plural, body) in [
        (
            "deals",
            json!({"name": "Cobol", "amount": "1250.10", "currency": "EUR", "tags": ["vip"],
            "custom_fields": {"tier": "gold"}, "pipeline_id": sales["id"], "contact_ids": [&cid]}),
        ),
        ("tickets", json!({"subject": "Printer on fire", "description": "Smoke.", "contact_ids": [&cid]})),
        ("tasks", json!({"title": "Call back", "due_at": "2030-01-02T09:00:00Z", "contact_ids": [&cid]})),
        ("notes", json!({"body": "Met at the conference.", "contact_ids": [&cid]})),
    ] {
        let r = app.create(&owner, &format!("/api/v1/{plural}"), body).await;
        ids.insert(format!("/app/{plural}/"), r["id"].as_str().unwrap().to_string());
    }
    // Something in the trash, and a notification from a colleague's task.
    let gone = app.contact(&owner, json!({"email": "old@navy.example"})).await;
    app.delete(&format!("/api/v1/contacts/{}", gone["id"].as_str().unwrap()), Some(&owner.token)).await;
    app.create(&mo, "/api/v1/tasks", json!({"title": "Review the offer", "assignee_id": owner.user_id})).await;
    let html = "<h1>Hello {{ contact.first_name }}</h1><p>Our spring news.</p>";
    let email = app.create(&owner, "/api/v1/emails", json!({"name": "Spring", "subject": "Hi", "html": html})).await;
    let eid = email["id"].as_str().unwrap().to_string();
    app.patch(&format!("/api/v1/emails/{eid}"), &json!({"subject": "Hi {{ contact.first_name }}"}), Some(&owner.token))
        .await;
    let segment = app.create(&owner, "/api/v1/segments", json!({"name": "Everyone", "filter_groups": []})).await;
    let draft = json!({"name": "Spring news", "email_id": eid, "segment_id": segment["id"], "from_name": "Acme",
        "from_email": "news@acme.example"});
    let campaign = app.create(&owner, "/api/v1/campaigns", draft).await;
    let value = app.create(&owner, "/api/v1/custom-values", json!({"key": "brand", "value": "Acme"})).await;
    app.post("/api/v1/suppressions", &json!({"email": "gone@navy.example"}), Some(&owner.token)).await;
    app.post("/api/v1/api-keys", &json!({"name": "CRM sync", "scopes": ["contacts:read"]}), Some(&owner.token)).await;
    let import =
        crate::imports::upload(app, &owner.token, &[("object", "contact")], Some("email\nx@y.example\nbad\n")).await;
    let message = json!({"audience": {"all": true}, "title": "Hello", "body": "Welcome aboard."});
    let message = app.post("/api/v1/inapp/messages", &message, Some(&owner.token)).await;
    let (staff, _) = crate::staff::staff_member(app, "sam@platform.example", "support").await;
    let ask = json!({"tenant_id": owner.tenant_id, "reason": "A broken pipeline", "ticket_ref": "SUP-1",
        "duration_minutes": 60});
    assert_eq!(app.post("/api/v1/staff/jita", &ask, Some(&staff)).await.status, 201);
    for (prefix, id) in [
        ("/app/companies/", &company["id"]),
        ("/app/contacts/", &contact["id"]),
        ("/app/emails/", &email["id"]),
        ("/app/segments/", &segment["id"]),
        ("/app/campaigns/", &campaign["id"]),
        ("/app/custom-values/", &value["id"]),
        ("/app/pipelines/", &sales["id"]),
        ("/app/imports/", &import.body["id"]),
        ("/app/messages/", &message.body["id"]),
    ] {
        ids.insert(prefix.to_string(), id.as_str().unwrap().to_string());
    }
    let r = app.post("/api/v1/me/tenants", &json!({"name": "Acme EMEA"}), Some(&owner.token)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (_, recovery) = app.enable_mfa(&owner.token).await;
    Seeded { owner, ids, contact: cid, recovery }
}

/// The path to open for a screen: its ids filled in, a query where the screen needs one.
fn path(pattern: &str, seeded: &Seeded) -> String {
    let id = seeded.ids.iter().find(|(prefix, _)| pattern.starts_with(prefix.as_str())).map(|(_, id)| id.as_str());
    let path = pattern.replace("{id}", id.unwrap_or("{id}")).replace("{n}", "1");
    assert!(!path.contains('{'), "{pattern}: no id seeded for it");
    match pattern {
        "/app/emails/{id}/compare" => format!("{path}?from=1&to=2"),
        "/app/emails/{id}/preview" => format!("{path}?contact_id={}", seeded.contact),
        _ => path,
    }
}

async fn every_screen_passes_axe_in_english_and_dutch(app: TestApp) {
    let Some(binary) = chromium_or_warn() else { return };
    let seeded = seed(&app).await;
    let mut found = Vec::new();
    let mut scanned = 0;
    for (i, lang) in LANGS.iter().enumerate() {
        let b = Browser::launch(&binary).await;
        let mut s = Scan { b, app: &app, lang, shots: !app.is_postgres(), found: Vec::new() };
        s.width(1280, 900, false).await;
        s.go("/app/login").await;
        if *lang != "en" {
            s.click(&format!("footer button[name=lang][value={lang}]")).await;
            s.loaded("/app/login").await;
        }
        for page in PUBLIC {
            s.go(page).await;
            s.check(&name(page)).await;
        }
        for pattern in &SCREENS[..2] {
            s.go(pattern).await;
            s.check(&name(pattern)).await;
        }
        // Signing in: the password, the portal, then a recovery code (one per language).
        s.fill("#login-form", &[("email", "ada@acme.example"), ("password", PASSWORD)]).await;
        s.loaded("/app/login/portal").await;
        s.check(&name("/app/login/portal")).await;
        s.click(&format!("button[name=choice][value$=\"{}\"]", seeded.owner.tenant_id)).await;
        s.loaded("/app/login/code").await;
        s.check(&name("/app/login/code")).await;
        s.fill("#code-form", &[("code", &seeded.recovery[i])]).await;
        s.loaded("/app/dashboard").await;
        scanned += 4 + PUBLIC.len();
        for pattern in &SCREENS[4..] {
            if *pattern == "/app/imports/mapping" {
                // Reached only by uploading a file on the imports page.
                s.go("/app/imports").await;
                s.b.eval(
                    "(() => { const f = document.querySelector('#upload-form'); const dt = new DataTransfer(); \
                     dt.items.add(new File(['email,name\\ngrace@navy.example,Grace\\n'], 'people.csv', \
                     {type: 'text/csv'})); f.elements['file'].files = dt.files; return true; })()",
                )
                .await;
                s.b.eval("window.__a11yOld = true").await;
                s.b.eval("(() => { document.querySelector('#upload-form').requestSubmit(); return true; })()").await;
                s.b.wait_until("the mapping page", "location.pathname === '/app/imports/mapping' && !window.__a11yOld")
                    .await;
                let at = s.b.eval("location.pathname + location.search").await;
                s.loaded(at.as_str().unwrap()).await;
            } else {
                s.go(&path(pattern, &seeded)).await;
            }
            s.check(&name(pattern)).await;
            scanned += 1;
        }
        s.width(390, 844, true).await;
        for pattern in PHONE.iter().filter(|p| **p != "/app/login") {
            s.go(&path(pattern, &seeded)).await;
            s.check(&format!("{}-phone", name(pattern))).await;
        }
        // The sign-in page on a phone, signed out by the navigation's button.
        s.click("form[action=\"/app/logout\"] button").await;
        s.loaded("/app/login").await;
        s.check(&format!("{}-phone", name("/app/login"))).await;
        found.append(&mut s.found);
    }
    assert_eq!(scanned, LANGS.len() * (SCREENS.len() + PUBLIC.len()), "every screen in every language");
    let mut by_rule: BTreeMap<String, usize> = BTreeMap::new();
    for f in &found {
        let rule = f.split(") ").nth(1).and_then(|r| r.split(':').next()).unwrap_or_default();
        *by_rule.entry(rule.to_string()).or_default() += 1;
    }
    assert!(found.is_empty(), "{} serious or critical axe violations {by_rule:?}:\n{}", found.len(), found.join("\n"));
}

both_backends!(every_screen_passes_axe_in_english_and_dutch);
