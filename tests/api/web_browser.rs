//! The web app end to end in headless Chromium (ORGANIZEO_TEST_CHROMIUM; without it the
//! test says loudly that it DID NOT RUN): sign up, watch the live dashboard connect, add a
//! contact by the form, find it in the list; a hostile name stays text; the list fits a
//! phone's width; create a pipeline and a deal, move the deal on the board with the
//! keyboard fallback and by drag and drop; an email's preview frame shows its HTML and
//! runs none of its script. Screenshots go to target/artifacts/.

use serde_json::json;

use crate::both_backends;
use crate::browser::{chromium_or_warn, Browser};
use crate::helpers::{TestApp, PASSWORD};

fn fill(form: &str, fields: &[(&str, &str)]) -> String {
    let sets: String = fields.iter().map(|(k, v)| format!("f.elements[{}].value = {};", json!(k), json!(v))).collect();
    format!("(() => {{ const f = document.querySelector({}); {sets} f.requestSubmit(); return true; }})()", json!(form))
}

/// Navigates to `path` and waits until it has loaded (shared by the browser tests).
pub async fn go(b: &mut Browser, app: &TestApp, path: &str) {
    b.call("Page.navigate", json!({"url": app.url(path)})).await;
    b.wait_until(
        &format!("{path} loaded"),
        &format!("document.readyState === 'complete' && location.pathname === {}", json!(path)),
    )
    .await;
}

async fn sign_up_add_a_contact_and_find_it_in_the_list(app: TestApp) {
    let Some(binary) = chromium_or_warn() else { return };
    let db = if app.is_postgres() { "postgres" } else { "sqlite" };
    let mut b = Browser::launch(&binary).await;
    go(&mut b, &app, "/app/signup").await;
    b.eval(&fill(
        "#signup-form",
        &[("tenant_name", "Acme Browser"), ("name", "Ada"), ("email", "ada@acme.example"), ("password", PASSWORD)],
    ))
    .await;
    b.wait_until("the dashboard after sign-up", "location.pathname === '/app/dashboard'").await;
    b.wait_until("the live dashboard", "document.querySelector('#status')?.dataset.state === 'live'").await;
    b.wait_until("the snapshot", "document.querySelector('[data-counter=\"contacts\"]')?.textContent === '0'").await;
    assert_eq!(b.eval("document.cookie").await, "", "the session cookie is HttpOnly: scripts cannot read it");

    go(&mut b, &app, "/app/contacts").await;
    b.eval("(() => { document.querySelector('#new-contact').click(); return true; })()").await;
    b.wait_until(
        "the new contact form",
        "location.pathname === '/app/contacts/new' && !!document.querySelector('#contact-form')",
    )
    .await;
    b.eval(&fill("#contact-form", &[("email", "grace@navy.example"), ("first_name", "Grace"), ("tags", "vip")])).await;
    b.wait_until("the contact's page", "/^\\/app\\/contacts\\/[0-9a-f-]{36}$/.test(location.pathname)").await;
    b.wait_until("the contact's name", "document.querySelector('#contact-name')?.textContent === 'Grace'").await;

    go(&mut b, &app, "/app/contacts").await;
    b.wait_until(
        "the contact in the list",
        "document.querySelector('#contacts')?.textContent.includes('grace@navy.example')",
    )
    .await;
    // The dashboard counted it, live over the websocket.
    go(&mut b, &app, "/app/dashboard").await;
    b.wait_until("the counter", "document.querySelector('[data-counter=\"contacts\"]')?.textContent === '1'").await;

    // Markup typed into a name is shown as text in the list.
    go(&mut b, &app, "/app/contacts/new").await;
    b.eval(&fill("#contact-form", &[("first_name", "<img src=x onerror=\"document.title='owned'\">")])).await;
    b.wait_until("the hostile contact's page", "/^\\/app\\/contacts\\/[0-9a-f-]{36}$/.test(location.pathname)").await;
    go(&mut b, &app, "/app/contacts").await;
    b.wait_until("the hostile name as text", "document.querySelector('#contacts')?.textContent.includes('<img src=x')")
        .await;
    assert_eq!(b.eval("document.querySelectorAll('#contacts img').length").await, 0);
    assert_ne!(b.eval("document.title").await, "owned");
    let shot = b.screenshot(&format!("web-contacts-desktop-{db}.png")).await;
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "a real screenshot");

    // A phone's width: nothing wider than the screen.
    b.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true}),
    )
    .await;
    go(&mut b, &app, "/app/contacts").await;
    b.wait_until("the phone layout", "document.documentElement.scrollWidth <= window.innerWidth").await;
    b.screenshot(&format!("web-contacts-phone-{db}.png")).await;

    // Deals on the pipeline board: a first pipeline from the empty board, a deal by its
    // form, then moved with the keyboard fallback (the card's stage select and Move button).
    b.call("Emulation.clearDeviceMetricsOverride", json!({})).await;
    go(&mut b, &app, "/app/deals/board").await;
    b.eval(&fill("#pipeline-form", &[("name", "Sales"), ("stages", "Lead\nProposal\nWon")])).await;
    b.wait_until("the new pipeline's board", "!!document.querySelector('ul[data-stage-name=\"Won\"]')").await;
    go(&mut b, &app, "/app/deals/new").await;
    b.eval(
        "(() => { const s = document.querySelector('#deal-form').elements['pipeline_id']; \
         s.value = [...s.options].find(o => o.text === 'Sales').value; return true; })()",
    )
    .await;
    b.eval(&fill("#deal-form", &[("name", "Cobol licence"), ("amount", "1250.10"), ("currency", "EUR")])).await;
    b.wait_until("the deal's page", "/^\\/app\\/deals\\/[0-9a-f-]{36}$/.test(location.pathname)").await;
    let deal = b.eval("location.pathname.split('/').pop()").await;
    let deal = deal.as_str().unwrap().to_string();
    go(&mut b, &app, "/app/deals/board").await;
    let card_in =
        |stage: &str| format!("!!document.querySelector('ul[data-stage-name=\"{stage}\"] li[data-id=\"{deal}\"]')");
    b.wait_until("the deal in the first stage", &card_in("Lead")).await;
    b.eval(&format!(
        "(() => {{ const s = document.querySelector('#move-{deal}'); s.focus(); \
         s.value = [...s.options].find(o => o.text === 'Won').value; \
         s.form.querySelector('button').focus(); return document.activeElement.tagName; }})()"
    ))
    .await;
    for kind in ["keyDown", "keyUp"] {
        b.call(
            "Input.dispatchKeyEvent",
            json!({"type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"}),
        )
        .await;
    }
    b.wait_until("the deal in the new stage after the form's round trip", &card_in("Won")).await;
    assert_eq!(b.eval("location.pathname").await, "/app/deals/board");
    let shot = b.screenshot(&format!("web-board-{db}.png")).await;
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "a real screenshot");
    // Drag and drop posts the same move from board.js (synthetic drag events).
    b.eval(&format!(
        "(() => {{ const card = document.querySelector('li[data-id=\"{deal}\"]'); \
         const to = document.querySelector('ul[data-stage-name=\"Proposal\"]'); const dt = new DataTransfer(); \
         card.dispatchEvent(new DragEvent('dragstart', {{bubbles: true, dataTransfer: dt}})); \
         to.dispatchEvent(new DragEvent('dragover', {{bubbles: true, cancelable: true, dataTransfer: dt}})); \
         to.dispatchEvent(new DragEvent('drop', {{bubbles: true, cancelable: true, dataTransfer: dt}})); return true; }})()"
    ))
    .await;
    b.wait_until("the card dropped in Proposal", &card_in("Proposal")).await;
    b.wait_until("the move announced", "document.querySelector('#board-status')?.textContent.includes('Proposal')")
        .await;
    go(&mut b, &app, "/app/deals/board").await;
    b.wait_until("the drop stored on the server", &card_in("Proposal")).await;

    // Signing out by the navigation's button ends the session.
    b.eval("(() => { document.querySelector('form[action=\"/app/logout\"] button').click(); return true; })()").await;
    b.wait_until("the sign-in page", "location.pathname === '/app/login'").await;
    b.call("Page.navigate", json!({"url": app.url("/app/contacts")})).await;
    b.wait_until("sent back to sign in", "location.pathname === '/app/login' && document.readyState === 'complete'")
        .await;
}

/// An email's HTML is the portal's own: its preview frame must not run a script of it, nor
/// reach the app's page (an opaque origin). The parent's `load` waits for the frame, so
/// `readyState === 'complete'` means the frame's document was loaded (and, were scripts
/// allowed, run).
async fn an_email_preview_shows_the_html_without_running_its_script(app: TestApp) {
    let Some(binary) = chromium_or_warn() else { return };
    let db = if app.is_postgres() { "postgres" } else { "sqlite" };
    let owner = app.signup("Acme", "ada@acme.example").await;
    let contact = app.contact(&owner, json!({"email": "grace@navy.example", "first_name": "Grace"})).await;
    let html = "<style>h1 { color: #2b8a3e; }</style><h1 id=\"hello\">Hello {{ contact.first_name }}</h1>\
        <script>parent.document.title = 'owned'; document.title = 'ran';</script><p>Our spring news.</p>";
    let email = app.create(&owner, "/api/v1/emails", json!({"name": "Spring", "subject": "Hi", "html": html})).await;
    let mut b = Browser::launch(&binary).await;
    go(&mut b, &app, "/app/login").await;
    b.eval(&fill("#login-form", &[("email", "ada@acme.example"), ("password", PASSWORD)])).await;
    b.wait_until("signed in", "location.pathname === '/app/dashboard'").await;
    let (eid, cid) = (email["id"].as_str().unwrap(), contact["id"].as_str().unwrap());
    let url = app.url(&format!("/app/emails/{eid}/preview?contact_id={cid}"));
    b.call("Page.navigate", json!({"url": url})).await;
    b.wait_until(
        "the preview with its frame loaded",
        "location.search.includes('contact_id') && document.readyState === 'complete' \
         && !!document.querySelector('#preview-frame')",
    )
    .await;
    assert_eq!(b.eval("document.querySelector('#preview-frame').contentDocument === null").await, true);
    assert_ne!(b.eval("document.title").await, "owned", "the email's script did not run");
    let shot = b.screenshot(&format!("web-email-preview-{db}.png")).await;
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "a real screenshot");

    // The revision comparison and a draft campaign's page, for the screenshots.
    app.patch(&format!("/api/v1/emails/{eid}"), &json!({"subject": "Hi {{ contact.first_name }}"}), Some(&owner.token))
        .await;
    b.call("Page.navigate", json!({"url": app.url(&format!("/app/emails/{eid}/compare?from=1&to=2"))})).await;
    b.wait_until("the comparison", "document.readyState === 'complete' && !!document.querySelector('pre.diff .added')")
        .await;
    b.screenshot(&format!("web-email-compare-{db}.png")).await;
    let segment = app.create(&owner, "/api/v1/segments", json!({"name": "Everyone", "filter_groups": []})).await;
    let draft = json!({"name": "Spring news", "email_id": eid, "segment_id": segment["id"], "from_name": "Acme",
        "from_email": "news@acme.example"});
    let campaign = app.create(&owner, "/api/v1/campaigns", draft).await;
    go(&mut b, &app, &format!("/app/campaigns/{}", campaign["id"].as_str().unwrap())).await;
    b.wait_until(
        "the draft's buttons",
        "!!document.querySelector('#send-form') && !!document.querySelector('#test-form')",
    )
    .await;
    b.screenshot(&format!("web-campaign-draft-{db}.png")).await;
}

both_backends!(
    sign_up_add_a_contact_and_find_it_in_the_list,
    an_email_preview_shows_the_html_without_running_its_script,
);
