//! Campaign sending when things go wrong: 5xx bounces (suppressed), 4xx deferrals (retried
//! with back-off, failed after three attempts), an SMTP server that is down (the campaign
//! waits, nobody is charged an attempt), pause and resume across a restart, a graceful stop
//! mid-send (the campaign handed back, nobody mailed twice), and a SIGKILL
//! of a real `organizeo serve` mid-send (every recipient mailed; a repeat only for the
//! messages in flight, with the same Message-ID).

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::campaigns::{campaign_tests, draft, recipients, setup, until_status};
use crate::helpers::{wait_for, TestApp, TestDb};
use crate::smtp_sink::SmtpSink;

campaign_tests!(
    hard_bounces_are_suppressed_and_deferrals_retried_then_failed,
    without_pipelining_bounces_and_deferrals_are_judged_alike,
    a_down_smtp_server_makes_the_campaign_wait_without_burning_recipients,
    pause_and_resume_hold_across_a_restart,
    a_pause_stops_the_batch_already_composed,
    a_graceful_stop_mid_send_hands_the_campaign_back,
    two_nodes_never_mail_a_recipient_twice,
    erasing_a_contact_removes_the_address_from_campaigns_but_keeps_it_unmailed,
    pooled_connections_the_server_closed_cost_nobody_an_attempt,
);

/// The relay closes the pooled connections while they sit idle between two campaigns (its
/// idle timeout): the next campaign finds out at its first command on each, and every
/// message goes out on a fresh connection at once, uncharged — not deferred for a retry.
async fn pooled_connections_the_server_closed_cost_nobody_an_attempt(app: TestApp, sink: SmtpSink) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (email, segment) = setup(&app, &owner, 6).await;
    let first = draft(&app, &owner, &email, &segment).await;
    app.post(&format!("/api/v1/campaigns/{first}/send"), &json!({}), Some(&owner.token)).await;
    until_status(&app, &owner.token, &first, "completed").await;
    sink.close_idle();
    // Fewer messages than idle connections: a retry on another pooled one would meet a
    // closed connection again.
    let two = app
        .post(
            "/api/v1/segments",
            &json!({"name": "Two", "filter_groups": [{"filters": [{"field": "email", "op": "in", "value": ["p0@x.example", "p1@x.example"]}]}]}),
            Some(&owner.token),
        )
        .await;
    assert_eq!(two.status, 201, "{}", two.text);
    let second = draft(&app, &owner, &email, two.body["id"].as_str().unwrap()).await;
    app.post(&format!("/api/v1/campaigns/{second}/send"), &json!({}), Some(&owner.token)).await;
    let done = until_status(&app, &owner.token, &second, "completed").await;
    assert_eq!(done["stats"]["sent"], 2, "{done}");
    for r in recipients(&app, &owner.token, &second).await {
        assert_eq!((r["status"].as_str(), r["attempts"].as_i64()), (Some("sent"), Some(1)), "{r}");
    }
    assert_eq!(sink.count(), 8);
}

async fn two_nodes_never_mail_a_recipient_twice(app: TestApp, sink: SmtpSink) {
    let second = app.another_node(|_| {}).await;
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (email, segment) = setup(&app, &owner, 40).await;
    let r = app.patch("/api/v1/tenant", &json!({"sending_rate_per_second": 10}), Some(&owner.token)).await;
    assert_eq!(r.status, 200);
    let id = draft(&app, &owner, &email, &segment).await;
    app.post(&format!("/api/v1/campaigns/{id}/send"), &json!({}), Some(&owner.token)).await;
    // Pause on one node, resume on the other: the campaign may move between them.
    wait_for("a few messages", Duration::from_secs(20), || async { (sink.count() >= 5).then_some(()) }).await;
    second.post(&format!("/api/v1/campaigns/{id}/pause"), &json!({}), Some(&owner.token)).await;
    second.post(&format!("/api/v1/campaigns/{id}/resume"), &json!({}), Some(&owner.token)).await;
    let done = until_status(&second, &owner.token, &id, "completed").await;
    assert_eq!(done["stats"]["sent"], 40);
    assert_eq!(sink.count(), 40, "40 recipients, 40 messages, two nodes");
    for i in 0..40 {
        assert_eq!(sink.to(&format!("p{i}@x.example")).len(), 1);
    }
}

async fn erasing_a_contact_removes_the_address_from_campaigns_but_keeps_it_unmailed(app: TestApp, sink: SmtpSink) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (email, segment) = setup(&app, &owner, 2).await;
    let id = draft(&app, &owner, &email, &segment).await;
    app.post(&format!("/api/v1/campaigns/{id}/send"), &json!({}), Some(&owner.token)).await;
    until_status(&app, &owner.token, &id, "completed").await;
    app.post("/api/v1/suppressions", &json!({"email": "p0@x.example"}), Some(&owner.token)).await;
    let rows = recipients(&app, &owner.token, &id).await;
    let p0 = rows.iter().find(|r| r["email"] == "p0@x.example").unwrap();
    let contact = p0["contact_id"].as_str().unwrap().to_string();
    let r = app.post(&format!("/api/v1/contacts/{contact}/erase"), &json!({}), Some(&owner.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["campaign_recipients_anonymised"], 1, "{}", r.text);
    // A contact without an address erases too (no address to look for in campaigns).
    let nameless = app.contact(&owner, json!({"first_name": "NoMail"})).await;
    let r = app
        .post(&format!("/api/v1/contacts/{}/erase", nameless["id"].as_str().unwrap()), &json!({}), Some(&owner.token))
        .await;
    assert_eq!((r.status, r.body["campaign_recipients_anonymised"].as_i64()), (200, Some(0)), "{}", r.text);
    let rows = recipients(&app, &owner.token, &id).await;
    assert!(rows.iter().all(|r| r["email"] != "p0@x.example" && r["contact_id"] != contact.as_str()), "{rows:?}");
    assert_eq!(rows.iter().filter(|r| r["status"] == "sent").count(), 2, "the stats stay exact");
    let list = app.get("/api/v1/suppressions", Some(&owner.token)).await;
    assert_eq!(list.body["data"], json!([]), "the address is not kept in the list");
    let audit = app.get("/api/v1/audit-log", Some(&owner.token)).await;
    let quoting: Vec<&Value> =
        audit.body["data"].as_array().unwrap().iter().filter(|e| e.to_string().contains("p0@x.example")).collect();
    assert!(quoting.is_empty(), "the audit log never held the whole address: {quoting:?}");
    // Re-created with the same address, the person is still not mailed (the erased hash).
    app.contact(&owner, json!({"email": "P0@x.example", "tags": ["news"]})).await;
    let again = draft(&app, &owner, &email, &segment).await;
    app.post(&format!("/api/v1/campaigns/{again}/send"), &json!({}), Some(&owner.token)).await;
    let done = until_status(&app, &owner.token, &again, "completed").await;
    assert_eq!((done["stats"]["sent"].as_i64(), done["stats"]["suppressed"].as_i64()), (Some(1), Some(1)), "{done}");
    assert_eq!(sink.to("p0@x.example").len(), 1, "only the message before the erasure");
}

async fn hard_bounces_are_suppressed_and_deferrals_retried_then_failed(app: TestApp, sink: SmtpSink) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (email, segment) = setup(&app, &owner, 4).await;
    sink.reject("p0@x.example");
    sink.defer("p1@x.example", 1);
    sink.defer("p2@x.example", 10);
    let id = draft(&app, &owner, &email, &segment).await;
    app.post(&format!("/api/v1/campaigns/{id}/send"), &json!({}), Some(&owner.token)).await;

    // First pass: p3 sent, p0 bounced, p1 and p2 waiting for their retry.
    let rows = wait_for("the first pass", Duration::from_secs(20), || async {
        let rows = recipients(&app, &owner.token, &id).await;
        let settled = rows.iter().filter(|r| r["status"] != "queued" || r["attempts"] == 1).count();
        (settled == 4 && rows.iter().any(|r| r["status"] == "sent")).then_some(rows)
    })
    .await;
    let by: HashMap<&str, &serde_json::Value> = rows.iter().map(|r| (r["email"].as_str().unwrap(), r)).collect();
    assert_eq!(by["p0@x.example"]["status"], "bounced");
    assert!(by["p0@x.example"]["error"].as_str().unwrap().contains("550"), "{}", by["p0@x.example"]);
    assert_eq!(
        (by["p1@x.example"]["status"].as_str(), by["p1@x.example"]["attempts"].as_i64()),
        (Some("queued"), Some(1))
    );
    assert!(by["p1@x.example"]["error"].as_str().unwrap().contains("451"));
    let s = app.get("/api/v1/suppressions?reason=hard_bounce", Some(&owner.token)).await;
    assert_eq!(
        (s.body["data"][0]["email"].as_str(), s.body["data"][0]["campaign_id"].as_str()),
        (Some("p0@x.example"), Some(id.as_str()))
    );

    // Back-off: 60 s, then 120 s on the server's clock.
    app.clock.advance(chrono::Duration::seconds(61));
    wait_for("p1 delivered on its second attempt", Duration::from_secs(20), || async {
        let rows = recipients(&app, &owner.token, &id).await;
        rows.iter().find(|r| r["email"] == "p1@x.example" && r["status"] == "sent" && r["attempts"] == 2).map(|_| ())
    })
    .await;
    app.clock.advance(chrono::Duration::seconds(121));
    let done = until_status(&app, &owner.token, &id, "completed").await;
    let st = &done["stats"];
    assert_eq!(
        (st["sent"].as_i64(), st["bounced"].as_i64(), st["failed"].as_i64(), st["queued"].as_i64()),
        (Some(2), Some(1), Some(1), Some(0)),
        "{done}"
    );
    let rows = recipients(&app, &owner.token, &id).await;
    let p2 = rows.iter().find(|r| r["email"] == "p2@x.example").unwrap();
    assert_eq!((p2["status"].as_str(), p2["attempts"].as_i64()), (Some("failed"), Some(3)), "{p2}");
    assert_eq!(sink.to("p1@x.example").len(), 1);
    assert!(sink.to("p0@x.example").is_empty() && sink.to("p2@x.example").is_empty());
    assert_eq!(sink.count(), 2, "a refused recipient never leaves an empty message behind: {:?}", sink.messages());
}

/// The same answers, from a server that does not offer PIPELINING: one command at a time,
/// judged alike.
async fn without_pipelining_bounces_and_deferrals_are_judged_alike(app: TestApp, sink: SmtpSink) {
    sink.set_pipelining(false);
    hard_bounces_are_suppressed_and_deferrals_retried_then_failed(app, sink.clone()).await;
    assert_eq!(sink.pipelined(), 0, "nothing was pipelined to a server that does not offer it");
    assert_eq!(sink.pipelined_after_data(), 0, "nor from one message to the next");
}

async fn a_down_smtp_server_makes_the_campaign_wait_without_burning_recipients(app: TestApp, sink: SmtpSink) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (email, segment) = setup(&app, &owner, 3).await;
    sink.set_down(true);
    let id = draft(&app, &owner, &email, &segment).await;
    app.post(&format!("/api/v1/campaigns/{id}/send"), &json!({}), Some(&owner.token)).await;
    let waiting = wait_for("the campaign to report the SMTP server", Duration::from_secs(20), || async {
        let c = app.get(&format!("/api/v1/campaigns/{id}"), Some(&owner.token)).await;
        c.body["error"].as_str().is_some_and(|e| e.contains("SMTP")).then_some(c.body)
    })
    .await;
    assert_eq!(waiting["status"], "sending", "{waiting}");
    for r in recipients(&app, &owner.token, &id).await {
        assert_eq!((r["status"].as_str(), r["attempts"].as_i64()), (Some("queued"), Some(0)), "{r}");
    }
    // Another node finishes it: the waiting message it never showed is cleared all the same.
    let app = app.restart().await;
    sink.set_down(false);
    let done = until_status(&app, &owner.token, &id, "completed").await;
    assert_eq!((done["stats"]["sent"].as_i64(), done["error"].as_str()), (Some(3), None), "{done}");
    for r in recipients(&app, &owner.token, &id).await {
        assert_eq!(r["attempts"], 1, "{r}");
    }
}

async fn pause_and_resume_hold_across_a_restart(app: TestApp, sink: SmtpSink) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (email, segment) = setup(&app, &owner, 12).await;
    let r = app.patch("/api/v1/tenant", &json!({"sending_rate_per_second": 4}), Some(&owner.token)).await;
    assert_eq!(r.body["sending_rate_per_second"], 4, "{}", r.text);
    let id = draft(&app, &owner, &email, &segment).await;
    app.post(&format!("/api/v1/campaigns/{id}/send"), &json!({}), Some(&owner.token)).await;
    wait_for("some messages", Duration::from_secs(20), || async { (sink.count() >= 1).then_some(()) }).await;
    let r = app.post(&format!("/api/v1/campaigns/{id}/pause"), &json!({}), Some(&owner.token)).await;
    assert_eq!((r.status, r.body["status"].as_str()), (202, Some("paused")), "{}", r.text);
    // In-flight messages finish; then nothing more leaves.
    let settled = wait_for("the sends in flight to settle", Duration::from_secs(10), || async {
        let rows = recipients(&app, &owner.token, &id).await;
        let sent = rows.iter().filter(|r| r["status"] == "sent").count();
        (sent == sink.count()).then_some(sent)
    })
    .await;
    assert!(settled < 12, "paused before the end ({settled} sent)");

    let app = app.restart().await;
    let c = app.get(&format!("/api/v1/campaigns/{id}"), Some(&owner.token)).await;
    assert_eq!(c.body["status"], "paused", "a restart keeps it paused");
    assert_eq!(sink.count(), settled, "nothing sent while paused, restart included");
    let r = app.post(&format!("/api/v1/campaigns/{id}/resume"), &json!({}), Some(&owner.token)).await;
    assert_eq!(r.body["status"], "sending", "{}", r.text);
    let done = until_status(&app, &owner.token, &id, "completed").await;
    assert_eq!(done["stats"]["sent"], 12);
    for i in 0..12 {
        assert_eq!(sink.to(&format!("p{i}@x.example")).len(), 1, "p{i} mailed exactly once");
    }
    let actions = app.audit_actions(&owner.token).await;
    assert!(actions.contains(&"campaign.paused".to_string()) && actions.contains(&"campaign.resumed".to_string()));
}

/// At one message a second, the pause lands while the step waits for its pace, with the
/// next batch already composed and the one after claimed: neither goes out. What was
/// mailed before the pause is recorded, the rest goes back to the queue uncharged, and a
/// last `campaign.progress` (status `paused`) gives the figures the pause answer could not.
async fn a_pause_stops_the_batch_already_composed(app: TestApp, sink: SmtpSink) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (email, segment) = setup(&app, &owner, 5).await;
    let r = app.patch("/api/v1/tenant", &json!({"sending_rate_per_second": 1}), Some(&owner.token)).await;
    assert_eq!(r.body["sending_rate_per_second"], 1, "{}", r.text);
    let mut ws = app.ws(&owner.token).await;
    ws.subscribe("campaigns", None).await;
    let id = draft(&app, &owner, &email, &segment).await;
    app.post(&format!("/api/v1/campaigns/{id}/send"), &json!({}), Some(&owner.token)).await;
    wait_for("the first message", Duration::from_secs(20), || async { (sink.count() >= 1).then_some(()) }).await;
    let r = app.post(&format!("/api/v1/campaigns/{id}/pause"), &json!({}), Some(&owner.token)).await;
    assert_eq!((r.status, r.body["status"].as_str()), (202, Some("paused")), "{}", r.text);
    let last = loop {
        let f = ws.until("event", Some("campaign.progress")).await;
        if f["data"]["status"] == "paused" {
            break f;
        }
    };
    assert_eq!(last["data"]["stats"]["sent"], 1, "{last}");
    assert_eq!(last["data"]["stats"]["queued"], 4, "{last}");
    assert_eq!(sink.count(), 1, "nothing composed before the pause went out after it");
    let rows = recipients(&app, &owner.token, &id).await;
    for r in rows.iter().filter(|r| r["status"] == "queued") {
        assert_eq!(r["attempts"], 0, "put back uncharged: {r}");
    }
    let r = app.post(&format!("/api/v1/campaigns/{id}/resume"), &json!({}), Some(&owner.token)).await;
    assert_eq!(r.body["status"], "sending", "{}", r.text);
    let done = until_status(&app, &owner.token, &id, "completed").await;
    assert_eq!(done["stats"]["sent"], 5, "{done}");
    for i in 0..5 {
        assert_eq!(sink.to(&format!("p{i}@x.example")).len(), 1, "p{i} mailed exactly once");
    }
}

/// A node stopped gracefully mid-send finishes the batch on the wire, records it, puts the
/// batch it had claimed back (uncharged) and mails nothing more; the next node resumes at
/// once and mails every recipient exactly once.
async fn a_graceful_stop_mid_send_hands_the_campaign_back(app: TestApp, sink: SmtpSink) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (email, segment) = setup(&app, &owner, 30).await;
    let r = app.patch("/api/v1/tenant", &json!({"sending_rate_per_second": 4}), Some(&owner.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = draft(&app, &owner, &email, &segment).await;
    app.post(&format!("/api/v1/campaigns/{id}/send"), &json!({}), Some(&owner.token)).await;
    wait_for("a first batch", Duration::from_secs(20), || async { (sink.count() >= 4).then_some(()) }).await;

    // Stop, and come back as a node that sends nothing, to look at what the stop left.
    let app = app.restart_with(|s| s.run_jobs = false).await;
    let mailed = sink.count();
    let rows = recipients(&app, &owner.token, &id).await;
    let sent = rows.iter().filter(|r| r["status"] == "sent").count();
    assert_eq!(sent, mailed, "every message the relay accepted is recorded sent");
    assert!(sent < 30, "stopped mid-send ({sent} sent)");
    for r in rows.iter().filter(|r| r["status"] == "queued") {
        assert_eq!(r["attempts"], 0, "claimed but unmailed recipients are back in the queue, uncharged: {r}");
    }
    let c = app.get(&format!("/api/v1/campaigns/{id}"), Some(&owner.token)).await;
    assert_eq!(c.body["status"], "sending", "{}", c.text);
    assert_eq!(sink.count(), mailed, "the stopped node mails nothing more");

    let app = app.restart_with(|s| s.run_jobs = true).await;
    let done = until_status(&app, &owner.token, &id, "completed").await;
    assert_eq!(done["stats"]["sent"], 30, "{done}");
    assert_eq!(sink.count(), 30, "30 recipients, 30 messages, across the stop");
    for i in 0..30 {
        assert_eq!(sink.to(&format!("p{i}@x.example")).len(), 1, "p{i} mailed exactly once");
    }
}

const BIN: &str = env!("CARGO_BIN_EXE_organizeo");

/// A client of a server in another process.
struct Remote {
    base: String,
    client: awc::Client,
}

type Answer = (u16, String, serde_json::Value);

impl Remote {
    fn new(port: u16) -> Self {
        Remote {
            base: format!("http://127.0.0.1:{port}"),
            client: awc::Client::builder().timeout(Duration::from_secs(30)).finish(),
        }
    }

    async fn ready(&self) {
        wait_for("the server process to listen", Duration::from_secs(30), || async {
            let r = self.client.get(format!("{}/healthz", self.base)).send().await.ok()?;
            r.status().is_success().then_some(())
        })
        .await;
    }

    async fn call(
        &self,
        method: awc::http::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        token: Option<&str>,
    ) -> Answer {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = match body {
            Some(b) => req.send_json(b).await,
            None => req.send().await,
        }
        .expect("request");
        let r = crate::helpers::read(res).await;
        (r.status, r.text, r.body)
    }

    async fn signup(&self, tenant: &str, email: &str) -> String {
        let body =
            json!({"tenant_name": tenant, "email": email, "password": crate::helpers::PASSWORD, "name": "Owner"});
        let r = self.call(awc::http::Method::POST, "/api/v1/signup", Some(&body), None).await;
        assert_eq!(r.0, 201, "{}", r.1);
        r.2["token"].as_str().unwrap().to_string()
    }

    async fn post(&self, path: &str, body: &serde_json::Value, token: &str) -> Answer {
        self.call(awc::http::Method::POST, path, Some(body), Some(token)).await
    }

    async fn patch(&self, path: &str, body: &serde_json::Value, token: &str) -> Answer {
        self.call(awc::http::Method::PATCH, path, Some(body), Some(token)).await
    }

    async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(awc::http::Method::GET, path, None, Some(token)).await
    }
}

fn serve(db_url: &str, port: u16, sink: &SmtpSink, dir: &std::path::Path, key: &str) -> Child {
    Command::new(BIN)
        .arg("serve")
        .current_dir(dir)
        .env("ORGANIZEO_DATABASE_URL", db_url)
        .env("ORGANIZEO_LISTEN", format!("127.0.0.1:{port}"))
        .env("ORGANIZEO_ENCRYPTION_KEY", key)
        .env("ORGANIZEO_SMTP_URL", sink.url())
        .env("ORGANIZEO_CAMPAIGN_LEASE_SECONDS", "2")
        .env("ORGANIZEO_BACKUP_INTERVAL_HOURS", "0")
        .env("ORGANIZEO_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("organizeo serve")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn sigkill_mid_send(db: TestDb) {
    let sink = SmtpSink::start().await;
    sink.slow(Duration::from_millis(30));
    let url = db.url_string();
    let dir = tempfile::tempdir().unwrap();
    let key = organizeo::security::crypto::generate_key("k1").unwrap();
    let port = free_port();
    let mut child = serve(&url, port, &sink, dir.path(), &key);
    let client = Remote::new(port);
    client.ready().await;
    let owner = client.signup("Acme", "ada@acme.example").await;
    let n = 60;
    for i in 0..n {
        let r = client
            .post("/api/v1/contacts", &json!({"email": format!("p{i}@x.example"), "tags": ["news"]}), &owner)
            .await;
        assert_eq!(r.0, 201, "{}", r.1);
    }
    let email = client
        .post("/api/v1/emails", &json!({"name": "E", "subject": "S", "html": "<p>Hi</p>", "text": "Hi"}), &owner)
        .await;
    let segment = client
        .post(
            "/api/v1/segments",
            &json!({"name": "N", "filter_groups": [{"filters": [{"field": "tags", "op": "eq", "value": "news"}]}]}),
            &owner,
        )
        .await;
    client.patch("/api/v1/tenant", &json!({"sending_rate_per_second": 40}), &owner).await;
    let c = client
        .post(
            "/api/v1/campaigns",
            &json!({"name": "C", "email_id": email.2["id"], "segment_id": segment.2["id"], "from_email": "news@acme.example"}),
            &owner,
        )
        .await;
    let id = c.2["id"].as_str().unwrap().to_string();
    let sent = client.post(&format!("/api/v1/campaigns/{id}/send"), &json!({}), &owner).await;
    assert_eq!(sent.0, 202, "{}", sent.1);
    wait_for("the send to be under way", Duration::from_secs(30), || async { (sink.count() >= 10).then_some(()) })
        .await;
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let at_kill = sink.count();
    assert!(at_kill < n, "killed mid-send ({at_kill} of {n})");

    let port = free_port();
    let mut child = serve(&url, port, &sink, dir.path(), &key);
    let client = Remote::new(port);
    client.ready().await;
    wait_for("the campaign to complete after the restart", Duration::from_secs(60), || async {
        let c = client.get(&format!("/api/v1/campaigns/{id}"), &owner).await;
        (c.2["status"] == "completed").then_some(())
    })
    .await;
    child.kill().ok();
    child.wait().ok();

    let mut by: HashMap<String, Vec<String>> = HashMap::new();
    for m in sink.messages() {
        by.entry(m.to[0].clone()).or_default().push(m.header("Message-ID").unwrap());
    }
    assert_eq!(by.len(), n, "every recipient mailed");
    let repeats: usize = by.values().map(|ids| ids.len() - 1).sum();
    for (to, ids) in &by {
        assert!(ids.iter().all(|i| i == &ids[0]), "{to}: a repeat carries the same Message-ID: {ids:?}");
    }
    // Only messages in flight at the kill can repeat: at most one claimed batch.
    assert!(repeats <= 40, "{repeats} repeats");
    eprintln!("sigkill: {at_kill} sent before the kill, {repeats} repeated after it");
}

#[actix_web::test]
async fn sigkill_mid_send_resumes_every_recipient_with_stable_message_ids_sqlite() {
    sigkill_mid_send(TestDb::fresh(crate::helpers::Backend::Sqlite).unwrap()).await;
}

#[actix_web::test]
async fn sigkill_mid_send_resumes_every_recipient_with_stable_message_ids_postgres() {
    if let Some(db) = TestDb::fresh(crate::helpers::Backend::Postgres) {
        sigkill_mid_send(db).await;
    }
}
