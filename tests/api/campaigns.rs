//! Campaigns end to end through a real SMTP server (`smtp_sink`): sending to a segment,
//! the message's headers and escaping, unsubscribe (GET changes nothing, POST once is
//! enough), tracked links and the open pixel, tracking off, the status machine and its
//! 409s, permissions, bad input, isolation, and progress on the `campaigns` topic.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{spawn_with, wait_for, Backend, Signed, TestApp, TestDb};
use crate::smtp_sink::SmtpSink;

/// A server on `backend` sending through `sink` (None: no SMTP configured).
pub async fn campaign_app(backend: Backend, sink: Option<&SmtpSink>) -> Option<TestApp> {
    let db = TestDb::fresh(backend)?;
    let url = sink.map(SmtpSink::url);
    Some(
        spawn_with(db, move |s| {
            s.smtp_url = url.map(organizeo::config::Secret::new);
            s.public_url = "https://mail.organizeo.test".into();
            s.campaign_retry = Duration::from_secs(60);
            s.tuning.jobs_interval = Duration::from_millis(50);
        })
        .await,
    )
}

macro_rules! campaign_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[actix_web::test]
                async fn $name() {
                    let sink = $crate::smtp_sink::SmtpSink::start().await;
                    let app = $crate::campaigns::campaign_app($crate::helpers::Backend::Sqlite, Some(&sink)).await.unwrap();
                    super::$name(app, sink).await
                }
            )*
        }
        mod postgres {
            $(
                #[actix_web::test]
                async fn $name() {
                    let sink = $crate::smtp_sink::SmtpSink::start().await;
                    if let Some(app) = $crate::campaigns::campaign_app($crate::helpers::Backend::Postgres, Some(&sink)).await {
                        super::$name(app, sink).await
                    }
                }
            )*
        }
    };
}
pub(crate) use campaign_tests;

campaign_tests!(
    a_campaign_reaches_each_member_once_with_rfc8058_headers,
    unsubscribe_get_changes_nothing_and_post_is_idempotent,
    tracked_links_redirect_only_to_the_signed_url_and_tracking_can_be_off,
    status_machine_refuses_illegal_changes_and_schedules_run_when_due,
    progress_and_status_arrive_on_the_campaigns_topic,
    the_audience_is_exactly_the_segment_for_every_kind_of_filter,
);

pub async fn setup(app: &TestApp, owner: &Signed, n: usize) -> (String, String) {
    for i in 0..n {
        app.contact(
            owner,
            json!({"email": format!("p{i}@x.example"), "first_name": format!("P{i}"), "tags": ["news"]}),
        )
        .await;
    }
    let email = app
        .post(
            "/api/v1/emails",
            &json!({"name": "Launch", "subject": "Hi {{ contact.first_name }}", "preheader": "News from {{ tenant.name }}",
                "html": "<html><body><p>Hello {{ contact.first_name | default('there') }}</p><a href=\"https://example.com/launch?a=1&amp;b=2\">Read</a> <a href=\"{{ unsubscribe_url }}\">Unsubscribe</a></body></html>",
                "text": "Hello {{ contact.first_name }}! Unsubscribe: {{ unsubscribe_url }}"}),
            Some(&owner.token),
        )
        .await;
    assert_eq!(email.status, 201, "{}", email.text);
    let segment = app
        .post(
            "/api/v1/segments",
            &json!({"name": "News", "filter_groups": [{"filters": [{"field": "tags", "op": "eq", "value": "news"}]}]}),
            Some(&owner.token),
        )
        .await;
    assert_eq!(segment.status, 201, "{}", segment.text);
    (email.body["id"].as_str().unwrap().to_string(), segment.body["id"].as_str().unwrap().to_string())
}

pub async fn draft(app: &TestApp, owner: &Signed, email: &str, segment: &str) -> String {
    let r = app
        .post(
            "/api/v1/campaigns",
            &json!({"name": "Launch", "email_id": email, "segment_id": segment, "from_name": "Acme", "from_email": "news@acme.example"}),
            Some(&owner.token),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["status"], "draft");
    r.body["id"].as_str().unwrap().to_string()
}

/// Waits until campaign `id` has status `status`; returns it.
pub async fn until_status(app: &TestApp, token: &str, id: &str, status: &str) -> Value {
    wait_for(&format!("campaign {status}"), Duration::from_secs(30), || async {
        let r = app.get(&format!("/api/v1/campaigns/{id}"), Some(token)).await;
        (r.body["status"] == status).then_some(r.body)
    })
    .await
}

pub async fn recipients(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/api/v1/campaigns/{id}/recipients?limit=100&after={a}"),
            None => format!("/api/v1/campaigns/{id}/recipients?limit=100"),
        };
        let r = app.get(&path, Some(token)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        out.extend(r.body["data"].as_array().unwrap().iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(c) => after = Some(c.to_string()),
            None => return out,
        }
    }
}

fn path_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    format!("/{}", rest.split_once('/').map_or("", |(_, p)| p))
}

/// The body of a message's text/html part, quoted-printable or base64 decoded enough to
/// find links (lettre uses quoted-printable for text under 76-column lines).
fn html_part(data: &str) -> String {
    let start = data.find("Content-Type: text/html").expect("an HTML part");
    let body = &data[start..];
    let body = &body[body.find("\r\n\r\n").unwrap() + 4..];
    let end = body.find("\r\n--").unwrap_or(body.len());
    let raw = &body[..end];
    if data[start..start + 200].contains("base64") {
        use base64::Engine;
        let clean: String = raw.split_whitespace().collect();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(clean).unwrap()).unwrap()
    } else {
        raw.replace("=\r\n", "").replace("=3D", "=").replace("=20", " ")
    }
}

fn links(html: &str, prefix: &str) -> Vec<String> {
    html.match_indices(prefix)
        .map(|(i, _)| html[i..].split(['"', '\'', ' ', '>']).next().unwrap().to_string())
        .collect()
}

async fn a_campaign_reaches_each_member_once_with_rfc8058_headers(app: TestApp, sink: SmtpSink) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (email, segment) = setup(&app, &owner, 5).await;
    // A member whose name must be escaped in HTML, one without an email (skipped), one
    // outside the segment.
    app.contact(&owner, json!({"email": "evil@x.example", "first_name": "<b>Eve</b>", "tags": ["news"]})).await;
    app.contact(&owner, json!({"first_name": "NoMail", "tags": ["news"]})).await;
    app.contact(&owner, json!({"email": "out@x.example", "first_name": "Out"})).await;
    let id = draft(&app, &owner, &email, &segment).await;

    let sent = app.post(&format!("/api/v1/campaigns/{id}/send"), &json!({}), Some(&owner.token)).await;
    assert_eq!(sent.status, 202, "{}", sent.text);
    assert_eq!(sent.body["status"], "sending");
    let done = until_status(&app, &owner.token, &id, "completed").await;
    let stats = &done["stats"];
    assert_eq!(
        (
            stats["recipients"].as_i64(),
            stats["sent"].as_i64(),
            stats["skipped_no_email"].as_i64(),
            stats["queued"].as_i64()
        ),
        (Some(6), Some(6), Some(1), Some(0)),
        "{done}"
    );
    assert!(done["started_at"].is_string() && done["completed_at"].is_string());
    assert_eq!(sink.count(), 6, "one message per member with an email");
    assert!(sink.pipelined_after_data() > 0, "a connection's next message followed the data of the one before");
    assert!(sink.to("out@x.example").is_empty(), "outside the segment");

    let rows = recipients(&app, &owner.token, &id).await;
    assert_eq!(rows.len(), 6);
    for row in &rows {
        assert_eq!(row["status"], "sent", "{row}");
        assert_eq!(row["attempts"], 1);
        let got = sink.to(row["email"].as_str().unwrap());
        assert_eq!(got.len(), 1, "mailed once: {row}");
        let m = &got[0];
        assert_eq!(m.header("Message-ID").as_deref(), row["message_id"].as_str(), "the recorded Message-ID");
        let lu = m.header("List-Unsubscribe").expect("List-Unsubscribe");
        assert!(
            lu.contains("<https://mail.organizeo.test/u/")
                && lu.contains("<mailto:news@acme.example?subject=unsubscribe>"),
            "{lu}"
        );
        assert_eq!(m.header("List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));
        assert!(
            m.header("Content-Type").unwrap().starts_with("multipart/alternative"),
            "{:?}",
            m.header("Content-Type")
        );
        assert_eq!(m.from, "news@acme.example");
    }
    let eve = &sink.to("evil@x.example")[0];
    let html = html_part(&eve.data);
    assert!(html.contains("Hello &lt;b&gt;Eve&lt;") && !html.contains("<b>Eve"), "merged values are escaped: {html}");
    assert!(eve.data.contains("<b>Eve</b>"), "the text part carries the name as written");

    // The recipient list filters by status; the campaign is no longer editable.
    let r = app.get(&format!("/api/v1/campaigns/{id}/recipients?status=failed"), Some(&owner.token)).await;
    assert_eq!(r.body["data"], json!([]));
    let r = app.patch(&format!("/api/v1/campaigns/{id}"), &json!({"name": "x"}), Some(&owner.token)).await;
    r.problem(409, "campaign_not_draft");
    // Audited, and the creator was told it finished.
    let actions = app.audit_actions(&owner.token).await;
    assert!(actions.contains(&"campaign.sent".to_string()), "{actions:?}");
    let n = app.get("/api/v1/me/notifications", Some(&owner.token)).await;
    assert!(n.body["data"].as_array().unwrap().iter().any(|x| x["kind"] == "campaign_finished"), "{}", n.text);
}

async fn unsubscribe_get_changes_nothing_and_post_is_idempotent(app: TestApp, sink: SmtpSink) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (email, segment) = setup(&app, &owner, 3).await;
    let id = draft(&app, &owner, &email, &segment).await;
    app.post(&format!("/api/v1/campaigns/{id}/send"), &json!({}), Some(&owner.token)).await;
    until_status(&app, &owner.token, &id, "completed").await;
    let m = &sink.to("p1@x.example")[0];
    let lu = m.header("List-Unsubscribe").unwrap();
    let url = lu.split('<').nth(1).unwrap().split('>').next().unwrap();
    let path = path_of(url);

    // A scanner's GET: a page, nothing changes.
    for _ in 0..2 {
        let page = app.get(&path, None).await;
        assert_eq!(page.status, 200, "{}", page.text);
        assert!(page.text.contains("<form method=\"post\"") && page.text.contains("Afmelden"), "{}", page.text);
    }
    let list = app.get("/api/v1/suppressions", Some(&owner.token)).await;
    assert_eq!(list.body["data"], json!([]), "a GET never unsubscribes");

    // One click (RFC 8058), twice: 200 both times, one entry.
    for _ in 0..2 {
        let r = app.request(awc::http::Method::POST, &path, None, Some(b"List-Unsubscribe=One-Click".to_vec())).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let list = app.get("/api/v1/suppressions", Some(&owner.token)).await;
    let data = list.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{}", list.text);
    assert_eq!((data[0]["email"].as_str(), data[0]["reason"].as_str()), (Some("p1@x.example"), Some("unsubscribed")));
    assert_eq!(data[0]["campaign_id"], id.as_str());
    let c = app.get(&format!("/api/v1/campaigns/{id}"), Some(&owner.token)).await;
    assert_eq!(c.body["stats"]["unsubscribed"], 1);

    // A tampered token is 404 on every verb.
    let token = path.trim_start_matches("/u/");
    let mut bad = token.as_bytes().to_vec();
    let i = bad.len() / 3;
    bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
    let bad = format!("/u/{}", String::from_utf8(bad).unwrap());
    assert_eq!(app.get(&bad, None).await.status, 404);
    // A person following a dead link gets a page (a program gets problem+json, above);
    // the previews' link explains itself.
    let page = app.client.get(app.url(&bad)).insert_header(("Accept", "text/html")).send().await.unwrap();
    assert_eq!(page.status(), 404);
    assert!(page.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/html"));
    let preview = app.get("/u/preview", None).await;
    assert!(preview.status == 200 && preview.text.contains("preview"), "{}", preview.text);
    assert_eq!(app.request(awc::http::Method::POST, &bad, None, Some(Vec::new())).await.status, 404);

    // The next campaign to the same segment skips the unsubscribed address.
    let again = draft(&app, &owner, &email, &segment).await;
    app.post(&format!("/api/v1/campaigns/{again}/send"), &json!({}), Some(&owner.token)).await;
    let done = until_status(&app, &owner.token, &again, "completed").await;
    assert_eq!((done["stats"]["sent"].as_i64(), done["stats"]["suppressed"].as_i64()), (Some(2), Some(1)), "{done}");
    assert_eq!(sink.to("p1@x.example").len(), 1, "never mailed again");
    let suppressed =
        app.get(&format!("/api/v1/campaigns/{again}/recipients?status=suppressed"), Some(&owner.token)).await;
    assert_eq!(suppressed.body["data"][0]["email"], "p1@x.example");

    // Removing the entry (owner) lets the address be mailed again.
    let r = app.delete("/api/v1/suppressions/P1@X.example", Some(&owner.token)).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(app.delete("/api/v1/suppressions/p1@x.example", Some(&owner.token)).await.status, 404);
    let actions = app.audit_actions(&owner.token).await;
    assert!(
        actions.contains(&"suppression.unsubscribed".to_string())
            && actions.contains(&"suppression.removed".to_string())
    );
}

async fn tracked_links_redirect_only_to_the_signed_url_and_tracking_can_be_off(app: TestApp, sink: SmtpSink) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (email, segment) = setup(&app, &owner, 2).await;
    let id = draft(&app, &owner, &email, &segment).await;
    app.post(&format!("/api/v1/campaigns/{id}/send"), &json!({}), Some(&owner.token)).await;
    until_status(&app, &owner.token, &id, "completed").await;
    let html = html_part(&sink.to("p0@x.example")[0].data);
    let clicks = links(&html, "https://mail.organizeo.test/t/c/");
    assert_eq!(clicks.len(), 1, "the article link is tracked, the unsubscribe link is not: {html}");
    assert!(html.contains("https://mail.organizeo.test/u/"), "{html}");
    let opens = links(&html, "https://mail.organizeo.test/t/o/");
    assert_eq!(opens.len(), 1, "{html}");

    let no_redirects = awc::Client::builder().disable_redirects().finish();
    let r = no_redirects.get(app.url(&path_of(&clicks[0]))).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers().get("location").and_then(|v| v.to_str().ok()), Some("https://example.com/launch?a=1&b=2"));
    let pixel = app.get(&path_of(&opens[0]), None).await;
    assert_eq!((pixel.status, pixel.header("content-type").as_deref()), (200, Some("image/gif")));
    let c = app.get(&format!("/api/v1/campaigns/{id}"), Some(&owner.token)).await;
    assert_eq!(
        (c.body["stats"]["opened"].as_i64(), c.body["stats"]["clicked"].as_i64()),
        (Some(1), Some(1)),
        "{}",
        c.text
    );

    // Tampering: another URL signed by nobody, a truncated token, an open token used as a click.
    let token = path_of(&clicks[0]).trim_start_matches("/t/c/").to_string();
    let (body, tag) = token.split_once('.').unwrap();
    use base64::Engine;
    let payload = String::from_utf8(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
    let evil = payload.replace("https://example.com/launch?a=1&b=2", "https://evil.example/");
    let forged = format!("{}.{tag}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(evil));
    for bad in [
        format!("/t/c/{forged}"),
        format!("/t/c/{}", &token[..token.len() - 2]),
        path_of(&opens[0]).replace("/t/o/", "/t/c/"),
    ] {
        let r = no_redirects.get(app.url(&bad)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{bad}");
        assert!(r.headers().get("location").is_none());
    }

    // Tracking off for the portal: the next campaign carries the original links, no pixel.
    let r = app.patch("/api/v1/tenant", &json!({"email_tracking": false}), Some(&owner.token)).await;
    assert_eq!((r.status, r.body["email_tracking"].as_bool()), (200, Some(false)), "{}", r.text);
    // The sending rate is a ceiling from 1 to 100,000 messages a second; nothing else.
    for bad in [0, -5, 100_001] {
        let r = app.patch("/api/v1/tenant", &json!({"sending_rate_per_second": bad}), Some(&owner.token)).await;
        assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], "sending_rate_per_second", "{bad}");
    }
    let r = app.patch("/api/v1/tenant", &json!({"sending_rate_per_second": 100_000}), Some(&owner.token)).await;
    assert_eq!((r.status, r.body["sending_rate_per_second"].as_i64()), (200, Some(100_000)), "{}", r.text);
    let second = draft(&app, &owner, &email, &segment).await;
    app.post(&format!("/api/v1/campaigns/{second}/send"), &json!({}), Some(&owner.token)).await;
    until_status(&app, &owner.token, &second, "completed").await;
    let html = html_part(&sink.to("p0@x.example")[1].data);
    assert!(!html.contains("/t/c/") && !html.contains("/t/o/"), "{html}");
    assert!(html.contains("https://example.com/launch?a=1&amp;b=2"), "{html}");
}

async fn status_machine_refuses_illegal_changes_and_schedules_run_when_due(app: TestApp, sink: SmtpSink) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (email, segment) = setup(&app, &owner, 2).await;
    let id = draft(&app, &owner, &email, &segment).await;
    for action in ["pause", "resume", "cancel"] {
        let r = app.post(&format!("/api/v1/campaigns/{id}/{action}"), &json!({}), Some(&owner.token)).await;
        r.problem(409, "campaign_status");
    }
    // Scheduled: waits for its time on the server's clock, can be cancelled, never sends.
    let at = (app.clock.now() + chrono::Duration::hours(2)).to_rfc3339();
    let r = app.patch(&format!("/api/v1/campaigns/{id}"), &json!({"send_at": at}), Some(&owner.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.post(&format!("/api/v1/campaigns/{id}/send"), &json!({}), Some(&owner.token)).await;
    assert_eq!((r.status, r.body["status"].as_str()), (202, Some("scheduled")), "{}", r.text);
    app.post(&format!("/api/v1/campaigns/{id}/send"), &json!({}), Some(&owner.token))
        .await
        .problem(409, "campaign_status");
    app.post(&format!("/api/v1/campaigns/{id}/pause"), &json!({}), Some(&owner.token))
        .await
        .problem(409, "campaign_status");
    app.patch(&format!("/api/v1/campaigns/{id}"), &json!({"name": "x"}), Some(&owner.token))
        .await
        .problem(409, "campaign_not_draft");
    app.delete(&format!("/api/v1/campaigns/{id}"), Some(&owner.token)).await.problem(409, "campaign_active");
    let r = app.post(&format!("/api/v1/campaigns/{id}/cancel"), &json!({}), Some(&owner.token)).await;
    assert_eq!((r.status, r.body["status"].as_str()), (202, Some("cancelled")), "{}", r.text);
    app.post(&format!("/api/v1/campaigns/{id}/resume"), &json!({}), Some(&owner.token))
        .await
        .problem(409, "campaign_status");
    app.clock.advance(chrono::Duration::hours(3));
    assert_eq!(sink.count(), 0);

    // Another, scheduled: runs when the clock reaches it.
    let second = draft(&app, &owner, &email, &segment).await;
    let at = (app.clock.now() + chrono::Duration::minutes(30)).to_rfc3339();
    app.patch(&format!("/api/v1/campaigns/{second}"), &json!({"send_at": at}), Some(&owner.token)).await;
    app.post(&format!("/api/v1/campaigns/{second}/send"), &json!({}), Some(&owner.token)).await;
    let c = app.get(&format!("/api/v1/campaigns/{second}"), Some(&owner.token)).await;
    assert_eq!(c.body["status"], "scheduled");
    app.clock.advance(chrono::Duration::minutes(31));
    let done = until_status(&app, &owner.token, &second, "completed").await;
    assert_eq!(done["stats"]["sent"], 2);
    app.post(&format!("/api/v1/campaigns/{second}/cancel"), &json!({}), Some(&owner.token))
        .await
        .problem(409, "campaign_status");
    // A sent campaign is kept (its messages' unsubscribe links name it); a draft may go.
    app.delete(&format!("/api/v1/campaigns/{second}"), Some(&owner.token)).await.problem(409, "campaign_sent");
    app.delete(&format!("/api/v1/campaigns/{id}"), Some(&owner.token)).await.problem(409, "campaign_sent");
    let third = draft(&app, &owner, &email, &segment).await;
    assert_eq!(app.delete(&format!("/api/v1/campaigns/{third}"), Some(&owner.token)).await.status, 204);
    assert_eq!(app.get(&format!("/api/v1/campaigns/{third}"), Some(&owner.token)).await.status, 404);
    let list = app.get("/api/v1/campaigns?status=cancelled", Some(&owner.token)).await;
    assert_eq!(list.body["data"].as_array().map(Vec::len), Some(1), "{}", list.text);
}

async fn progress_and_status_arrive_on_the_campaigns_topic(app: TestApp, _sink: SmtpSink) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (email, segment) = setup(&app, &owner, 3).await;
    let mut ws = app.ws(&owner.token).await;
    ws.subscribe("campaigns", None).await;
    let mut crm = app.ws(&owner.token).await;
    crm.subscribe("crm", None).await;
    let id = draft(&app, &owner, &email, &segment).await;
    app.post(&format!("/api/v1/campaigns/{id}/send"), &json!({}), Some(&owner.token)).await;
    let first = ws.until("event", Some("campaign.status_changed")).await;
    assert_eq!(
        (first["data"]["id"].as_str(), first["data"]["status"].as_str()),
        (Some(id.as_str()), Some("sending")),
        "{first}"
    );
    let mut last_progress = None;
    loop {
        let f = ws.json().await;
        if f["event"] == "campaign.progress" {
            last_progress = Some(f.clone());
        }
        if f["event"] == "campaign.status_changed" {
            assert_eq!(f["data"]["status"], "completed", "{f}");
            assert_eq!(f["data"]["stats"]["sent"], 3);
            break;
        }
    }
    let p = last_progress.expect("progress events");
    assert_eq!(p["data"]["stats"]["sent"], 3, "the last progress has the final counts: {p}");
    // Campaign events are not on the crm topic.
    let c = app.contact(&owner, json!({"email": "late@x.example"})).await;
    let f = crm.until("event", Some("contact.created")).await;
    assert_eq!(f["record_id"], c["id"], "the next crm frame is the contact, not a campaign event");
    // A key without campaigns:read cannot see them.
    let r = app
        .post(
            "/api/v1/api-keys",
            &json!({"name": "k", "scopes": ["contacts:read", "realtime:read"]}),
            Some(&owner.token),
        )
        .await;
    let key = r.body["key"].as_str().unwrap().to_string();
    let mut keyed = app.ws(&key).await;
    let got = keyed.subscribe("campaigns", Some(0)).await;
    assert!(got.iter().all(|f| f["type"] != "event"), "{got:?}");
}

/// Segment members now, as their addresses (paged through).
async fn segment_addresses(app: &TestApp, token: &str, id: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/api/v1/segments/{id}/contacts?limit=3&after={a}"),
            None => format!("/api/v1/segments/{id}/contacts?limit=3"),
        };
        let r = app.get(&path, Some(token)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        for c in r.body["data"].as_array().unwrap() {
            if let Some(e) = c["email"].as_str() {
                out.insert(e.to_lowercase());
            }
        }
        match r.body["next_cursor"].as_str() {
            Some(c) => after = Some(c.to_string()),
            None => return out,
        }
    }
}

/// The audience is read by a different plan than the segment's page (each filter tested
/// per contact in id order, not collected first), so every kind of filter — tags and
/// values, equal, unequal, in, contains, exists, ranges, OR of ANDs — must pick exactly
/// the members the segment shows.
async fn the_audience_is_exactly_the_segment_for_every_kind_of_filter(app: TestApp, sink: SmtpSink) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let people = [
        ("a@x.example", "Ann", "Lee", vec!["vip", "news"]),
        ("b@x.example", "Bob", "Lee", vec!["news"]),
        ("c@x.example", "Cas", "de Vries", vec!["old"]),
        ("d@x.example", "Dirk", "", vec![]),
        ("e@x.example", "Eva", "Jansen", vec!["vip", "old"]),
        ("f@x.example", "Fem", "Lee", vec!["news", "old"]),
    ];
    for (email, first, last, tags) in &people {
        let mut c = json!({"email": email, "first_name": first, "tags": tags});
        if !last.is_empty() {
            c["last_name"] = json!(last);
        }
        app.contact(&owner, c).await;
    }
    let (email, _) = setup(&app, &owner, 0).await;
    let segments = [
        json!([{"filters": [{"field": "tags", "op": "eq", "value": "vip"}]}]),
        json!([{"filters": [{"field": "tags", "op": "neq", "value": "old"}]}]),
        json!([{"filters": [{"field": "tags", "op": "in", "value": ["vip", "old"]}, {"field": "tags", "op": "neq", "value": "news"}]}]),
        json!([{"filters": [{"field": "last_name", "op": "eq", "value": "Lee"}]}]),
        json!([{"filters": [{"field": "last_name", "op": "neq", "value": "Lee"}]}]),
        json!([{"filters": [{"field": "first_name", "op": "in", "value": ["Ann", "Dirk", "Nobody"]}]}]),
        json!([{"filters": [{"field": "last_name", "op": "contains", "value": "ries"}]}]),
        json!([{"filters": [{"field": "last_name", "op": "exists", "value": false}]}]),
        json!([{"filters": [{"field": "first_name", "op": "gte", "value": "Dirk"}]}]),
        json!([{"filters": [{"field": "tags", "op": "eq", "value": "vip"}, {"field": "last_name", "op": "neq", "value": "Jansen"}]},
               {"filters": [{"field": "tags", "op": "exists", "value": false}]},
               {"filters": [{"field": "first_name", "op": "eq", "value": "Fem"}, {"field": "tags", "op": "eq", "value": "old"}]}]),
    ];
    let mut sizes = Vec::new();
    for (i, groups) in segments.iter().enumerate() {
        let seg = app
            .post("/api/v1/segments", &json!({"name": format!("S{i}"), "filter_groups": groups}), Some(&owner.token))
            .await;
        assert_eq!(seg.status, 201, "{}", seg.text);
        let seg = seg.body["id"].as_str().unwrap().to_string();
        let members = segment_addresses(&app, &owner.token, &seg).await;
        assert!(!members.is_empty() && members.len() < people.len(), "segment {i} tells something: {members:?}");
        let id = draft(&app, &owner, &email, &seg).await;
        let sent = app.post(&format!("/api/v1/campaigns/{id}/send"), &json!({}), Some(&owner.token)).await;
        assert_eq!(sent.status, 202, "{}", sent.text);
        until_status(&app, &owner.token, &id, "completed").await;
        let audience: std::collections::BTreeSet<String> = recipients(&app, &owner.token, &id)
            .await
            .iter()
            .map(|r| r["email"].as_str().unwrap().to_lowercase())
            .collect();
        assert_eq!(audience, members, "segment {i}: {groups}");
        sizes.push(members.len());
    }
    assert_eq!(sizes, vec![2, 3, 2, 3, 3, 2, 1, 1, 3, 3], "the expected members");
    assert_eq!(sink.count(), sizes.iter().sum::<usize>());
}
