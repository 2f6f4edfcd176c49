//! The live dashboard in a real browser: headless Chromium (path in ORGANIZEO_TEST_CHROMIUM,
//! e.g. /usr/bin/chromium) driven over the DevTools protocol with the same websocket client
//! the other tests use. Sign in on the page, see the counters, create a contact through
//! the API, see the counter and the feed change; drop the page's websocket, write while it
//! is down, see it recover; keep a screenshot in target/artifacts/.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::Duration;

use awc::ws::{Frame, Message};
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{wait_for, TestApp, PASSWORD};

pub const CHROMIUM_ENV: &str = "ORGANIZEO_TEST_CHROMIUM";

pub(crate) fn chromium_or_warn() -> Option<String> {
    static WARN: Once = Once::new();
    match std::env::var(CHROMIUM_ENV) {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            WARN.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "\n*** Browser tests DID NOT RUN: {CHROMIUM_ENV} is not set (e.g. /usr/bin/chromium). \
                     They pass vacuously. ***\n"
                );
            });
            None
        }
    }
}

pub(crate) struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    conn: actix_codec::Framed<awc::BoxedSocket, awc::ws::Codec>,
    next_id: u64,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    pub(crate) async fn launch(binary: &str) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1200,900",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium starts");
        // Chromium writes its DevTools port to this file once it listens.
        let port_file = profile.path().join("DevToolsActivePort");
        let port: u16 = wait_for("chromium's DevTools port", Duration::from_secs(30), || async {
            std::fs::read_to_string(&port_file).ok().and_then(|s| s.lines().next().and_then(|l| l.parse().ok()))
        })
        .await;
        let client = awc::Client::new();
        let targets: Value = wait_for("a page target", Duration::from_secs(30), || async {
            let mut r = client.get(format!("http://127.0.0.1:{port}/json/list")).send().await.ok()?;
            let list: Value = r.json().await.ok()?;
            list.as_array()?.iter().any(|t| t["type"] == "page").then_some(list)
        })
        .await;
        let page = targets.as_array().unwrap().iter().find(|t| t["type"] == "page").unwrap();
        let url = page["webSocketDebuggerUrl"].as_str().unwrap().to_string();
        let (_, conn) = client.ws(url).max_frame_size(64 * 1024 * 1024).connect().await.expect("devtools websocket");
        Browser { child, _profile: profile, conn, next_id: 1 }
    }

    /// Sends a DevTools command and returns its result (events in between are skipped).
    pub(crate) async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.conn.send(Message::Text(msg.into())).await.expect("devtools send");
        loop {
            let frame = actix_web::rt::time::timeout(Duration::from_secs(30), self.conn.next())
                .await
                .expect("devtools answer in time")
                .expect("devtools open")
                .expect("devtools frame");
            let text = match frame {
                Frame::Text(t) => t,
                Frame::Continuation(_) => panic!("fragmented devtools frame"),
                _ => continue,
            };
            let v: Value = serde_json::from_slice(&text).expect("devtools JSON");
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method} failed: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Evaluates JavaScript in the page and returns its value.
    pub(crate) async fn eval(&mut self, js: &str) -> Value {
        let r =
            self.call("Runtime.evaluate", json!({"expression": js, "awaitPromise": true, "returnByValue": true})).await;
        assert!(r.get("exceptionDetails").is_none(), "{js} threw: {r}");
        r["result"]["value"].clone()
    }

    pub(crate) async fn wait_until(&mut self, what: &str, js: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let v = self.eval(js).await;
            if !v.is_null() && v != json!(false) {
                return v;
            }
            assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) async fn screenshot(&mut self, name: &str) -> std::path::PathBuf {
        let r = self.call("Page.captureScreenshot", json!({"format": "png"})).await;
        let png = base64::engine::general_purpose::STANDARD.decode(r["data"].as_str().unwrap()).unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/artifacts");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, png).unwrap();
        path
    }
}

fn counter(key: &str) -> String {
    format!("document.querySelector('[data-counter=\"{key}\"]').textContent")
}

async fn the_dashboard_updates_live_and_recovers_after_a_drop(app: TestApp) {
    let Some(binary) = chromium_or_warn() else { return };
    let owner = app.signup("Acme", "ada@acme.example").await;
    let mut b = Browser::launch(&binary).await;
    b.call("Page.navigate", json!({"url": app.url("/dashboard")})).await;
    b.wait_until("the sign-in form", "document.readyState === 'complete' && !!document.querySelector('#signin-form')")
        .await;
    let sign_in = format!(
        "(() => {{ const f = document.querySelector('#signin-form'); f.email.value = 'ada@acme.example'; \
         f.password.value = {}; f.requestSubmit(); return true; }})()",
        json!(PASSWORD)
    );
    b.eval(&sign_in).await;
    b.wait_until("the live status", "document.querySelector('#status').dataset.state === 'live'").await;
    b.wait_until("the snapshot", &format!("{} === '0'", counter("contacts"))).await;
    b.wait_until(
        "the bell",
        "!document.querySelector('#bell').hidden && document.querySelector('#bell-count').textContent === '0'",
    )
    .await;
    // A colleague assigns a task to the owner: the bell counts it, live.
    let member = app.member(&owner, "mo@acme.example", "member").await;
    let task = app
        .post("/api/v1/tasks", &json!({"title": "Call <b>Ada</b>", "assignee_id": owner.user_id}), Some(&member.token))
        .await;
    assert_eq!(task.status, 201, "{}", task.text);
    b.wait_until("the bell's count", "document.querySelector('#bell-count').textContent === '1'").await;
    b.wait_until(
        "the bell's entry as text",
        "document.querySelector('#bell-list').textContent.includes('Call <b>Ada</b>')",
    )
    .await;

    let r = app
        .post("/api/v1/contacts", &json!({"email": "grace@navy.example", "first_name": "Grace"}), Some(&owner.token))
        .await;
    assert_eq!(r.status, 201);
    b.wait_until("the contact counter", &format!("{} === '1'", counter("contacts"))).await;
    b.wait_until("the feed entry", "document.querySelector('#feed').textContent.includes('grace@navy.example')").await;
    assert_eq!(b.eval(&counter("contacts_new_today")).await, "1");

    // Drop the page's websocket, write while it is down, and watch it catch up.
    b.eval("(() => { window.__organizeo.socket.close(); return true; })()").await;
    let r = app.post("/api/v1/contacts", &json!({"email": "ada@lovelace.example"}), Some(&owner.token)).await;
    assert_eq!(r.status, 201);
    let r = app
        .post("/api/v1/deals", &json!({"name": "Big one", "amount": "12500.50", "currency": "EUR"}), Some(&owner.token))
        .await;
    assert_eq!(r.status, 201);
    b.wait_until("recovery: the counter", &format!("{} === '2'", counter("contacts"))).await;
    b.wait_until(
        "recovery: the missed event in the feed",
        "document.querySelector('#feed').textContent.includes('ada@lovelace.example')",
    )
    .await;
    b.wait_until("the open deal amount", &format!("{}.includes('EUR 12500.50')", counter("open_deal_amounts"))).await;
    let feed_items = b.eval("document.querySelectorAll('#feed li').length").await;
    assert_eq!(feed_items, 4, "each event once: the task, two contacts and the deal");
    b.wait_until("live again", "document.querySelector('#status').dataset.state === 'live'").await;

    // Markup in record values is shown as text, never run.
    app.post("/api/v1/contacts", &json!({"first_name": "<img src=x onerror=alert(1)>"}), Some(&owner.token)).await;
    b.wait_until("the hostile name as text", "document.querySelector('#feed').textContent.includes('<img src=x')")
        .await;
    assert_eq!(b.eval("document.querySelectorAll('#feed img').length").await, 0);

    let shot = b.screenshot(&format!("dashboard-{}.png", if app.is_postgres() { "postgres" } else { "sqlite" })).await;
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "a real screenshot");
}

both_backends!(the_dashboard_updates_live_and_recovers_after_a_drop);

async fn the_dashboard_shows_a_sending_campaign_live(backend: crate::helpers::Backend) {
    let Some(binary) = chromium_or_warn() else { return };
    let sink = crate::smtp_sink::SmtpSink::start().await;
    sink.slow(Duration::from_millis(40));
    let Some(app) = crate::campaigns::campaign_app(backend, Some(&sink)).await else { return };
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (email, segment) = crate::campaigns::setup(&app, &owner, 12).await;
    app.patch("/api/v1/tenant", &json!({"sending_rate_per_second": 4}), Some(&owner.token)).await;
    let id = crate::campaigns::draft(&app, &owner, &email, &segment).await;
    let mut b = Browser::launch(&binary).await;
    b.call("Page.navigate", json!({"url": app.url("/dashboard")})).await;
    b.wait_until("the sign-in form", "document.readyState === 'complete' && !!document.querySelector('#signin-form')")
        .await;
    let sign_in = format!(
        "(() => {{ const f = document.querySelector('#signin-form'); f.email.value = 'ada@acme.example'; \
         f.password.value = {}; f.requestSubmit(); return true; }})()",
        json!(PASSWORD)
    );
    b.eval(&sign_in).await;
    b.wait_until("the live status", "document.querySelector('#status').dataset.state === 'live'").await;
    assert_eq!(b.eval("document.querySelector('#campaigns').hidden").await, true, "no campaign yet");

    let r = app.post(&format!("/api/v1/campaigns/{id}/send"), &json!({}), Some(&owner.token)).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let row = format!("document.querySelector('tr[data-campaign=\"{id}\"]')");
    b.wait_until("the campaign row, sending", &format!("{row} && {row}.dataset.status === 'sending'")).await;
    b.wait_until("progress under way", &format!("/ [1-9][0-9]* \\/ 12 sent/.test({row}.textContent)")).await;
    b.wait_until("the campaign completed", &format!("{row}.dataset.status === 'completed'")).await;
    b.wait_until("the final count", &format!("{row}.textContent.includes('12 / 12 sent')")).await;
    assert_eq!(b.eval(&format!("{row}.querySelector('progress').value")).await, 12);
    let shot = b
        .screenshot(&format!("dashboard-campaign-{}.png", if app.is_postgres() { "postgres" } else { "sqlite" }))
        .await;
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "a real screenshot");
}

#[actix_web::test]
async fn the_dashboard_shows_a_sending_campaign_live_sqlite() {
    the_dashboard_shows_a_sending_campaign_live(crate::helpers::Backend::Sqlite).await;
}

#[actix_web::test]
async fn the_dashboard_shows_a_sending_campaign_live_postgres() {
    the_dashboard_shows_a_sending_campaign_live(crate::helpers::Backend::Postgres).await;
}
