//! Who may do what with campaigns (roles, key scopes, JITA-free), what bad input gets
//! (a clear 4xx, nothing changed), other portals' ids (404), provider webhooks into the
//! suppression list, and a server without an SMTP relay.

use serde_json::{json, Value};

use crate::campaigns::{campaign_app, campaign_tests, draft, recipients, setup, until_status};
use crate::helpers::{wait_for, Backend, TestApp};
use crate::smtp_sink::SmtpSink;
use std::time::Duration;

campaign_tests!(
    bad_input_is_a_clear_4xx_and_other_portals_ids_are_404,
    roles_and_key_scopes_decide_who_drafts_and_who_sends,
    provider_bounces_and_complaints_join_the_suppression_list,
    a_refused_sender_fails_the_campaign_without_bouncing_anyone,
    refused_or_unrenderable_messages_never_burn_the_audience,
);

async fn a_refused_sender_fails_the_campaign_without_bouncing_anyone(app: TestApp, sink: SmtpSink) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (email, segment) = setup(&app, &owner, 5).await;
    sink.refuse_sender("news@acme.example");
    let id = draft(&app, &owner, &email, &segment).await;
    app.post(&format!("/api/v1/campaigns/{id}/send"), &json!({}), Some(&owner.token)).await;
    let failed = until_status(&app, &owner.token, &id, "failed").await;
    assert!(failed["error"].as_str().unwrap().contains("refuses the sender news@acme.example"), "{failed}");
    assert_eq!((failed["stats"]["bounced"].as_i64(), failed["stats"]["sent"].as_i64()), (Some(0), Some(0)), "{failed}");
    for r in recipients(&app, &owner.token, &id).await {
        assert_eq!((r["status"].as_str(), r["attempts"].as_i64()), (Some("queued"), Some(0)), "nobody charged: {r}");
    }
    assert_eq!(app.get("/api/v1/suppressions", Some(&owner.token)).await.body["data"], json!([]), "nobody suppressed");
    let n = app.get("/api/v1/me/notifications", Some(&owner.token)).await;
    assert!(n.text.contains("refuses the sender"), "the creator is told why: {}", n.text);
    assert!(sink.pipelined() > 0 && sink.count() == 0, "MAIL, RCPT and DATA went in one write, and nothing was queued");
}

async fn refused_or_unrenderable_messages_never_burn_the_audience(app: TestApp, sink: SmtpSink) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (email, segment) = setup(&app, &owner, 30).await;
    // A policy rejection after DATA: messages fail, nobody is bounced, and the campaign
    // stops after a run of them instead of going through all 30.
    sink.answer_data_with(Some("554 5.7.1 Message rejected: Email address is not verified"));
    let id = draft(&app, &owner, &email, &segment).await;
    app.post(&format!("/api/v1/campaigns/{id}/send"), &json!({}), Some(&owner.token)).await;
    let failed = until_status(&app, &owner.token, &id, "failed").await;
    let st = &failed["stats"];
    assert_eq!((st["bounced"].as_i64(), st["sent"].as_i64()), (Some(0), Some(0)), "{failed}");
    assert!(st["failed"].as_i64().unwrap() < 30 && st["queued"].as_i64().unwrap() > 0, "stopped early: {failed}");
    assert!(failed["error"].as_str().unwrap().contains("554"), "{failed}");
    assert_eq!(app.get("/api/v1/suppressions", Some(&owner.token)).await.body["data"], json!([]));
    sink.answer_data_with(None);
    // An email that parses but cannot render is refused at send, before anyone is queued.
    let bad = app
        .post(
            "/api/v1/emails",
            &json!({"name": "Bad", "subject": "S", "html": "{{ contact.first_name | nosuchfilter }}", "text": "t"}),
            Some(&owner.token),
        )
        .await;
    assert_eq!(bad.status, 201, "{}", bad.text);
    let c = draft(&app, &owner, bad.body["id"].as_str().unwrap(), &segment).await;
    let r = app.post(&format!("/api/v1/campaigns/{c}/send"), &json!({}), Some(&owner.token)).await;
    assert!(
        r.problem(422, "validation_failed")["detail"].as_str().unwrap().contains("cannot be rendered"),
        "{}",
        r.text
    );
    assert_eq!(app.get(&format!("/api/v1/campaigns/{c}"), Some(&owner.token)).await.body["status"], "draft");
    // A contact without a first name: the default applies, never "None".
    let lone = app.contact(&owner, json!({"email": "lone@x.example", "last_name": "Only"})).await;
    let ok = draft(&app, &owner, &email, &segment).await;
    let pv = app
        .get(&format!("/api/v1/campaigns/{ok}/preview?contact_id={}", lone["id"].as_str().unwrap()), Some(&owner.token))
        .await;
    assert_eq!(pv.body["subject"], "Hi", "{}", pv.text);
    assert!(pv.body["html"].as_str().unwrap().contains("Hello there"), "{}", pv.text);
    assert!(!sink.messages().iter().any(|m| m.data.contains("None")));
}

async fn bad_input_is_a_clear_4xx_and_other_portals_ids_are_404(app: TestApp, _sink: SmtpSink) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let other = app.signup("Bolt", "bob@bolt.example").await;
    let (email, segment) = setup(&app, &owner, 1).await;
    let (their_email, their_segment) = setup(&app, &other, 1).await;
    let tok = Some(owner.token.as_str());
    for (body, field) in [
        (json!({}), "name"),
        (json!({"name": 5}), "name"),
        (json!({"name": "x", "email_id": their_email}), "email_id"),
        (json!({"name": "x", "segment_id": their_segment}), "segment_id"),
        (json!({"name": "x", "email_id": "not-an-id"}), "email_id"),
        (json!({"name": "x", "from_email": "nope"}), "from_email"),
        (json!({"name": "x", "reply_to": "a@b.c>, <evil@x"}), "reply_to"),
        (json!({"name": "x", "send_at": "2001-01-01T00:00:00Z"}), "send_at"),
        (json!({"name": "x", "send_at": "tomorrow"}), "send_at"),
        (json!({"name": "x", "colour": "red"}), "colour"),
        (json!({"name": "x".repeat(201)}), "name"),
    ] {
        let r = app.post("/api/v1/campaigns", &body, tok).await;
        let p = r.problem(422, "validation_failed");
        assert!(p["errors"].as_array().unwrap().iter().any(|e| e["field"] == field), "{body}: {}", r.text);
    }
    let r = app.request(awc::http::Method::POST, "/api/v1/campaigns", tok, Some(b"{not json".to_vec())).await;
    assert!((400..500).contains(&r.status), "{}", r.text);
    let r = app.post("/api/v1/campaigns", &json!([1, 2]), tok).await;
    assert_eq!(r.status, 422, "{}", r.text);

    // Sending a draft that is not ready names what is missing; nothing changes.
    let r = app.post("/api/v1/campaigns", &json!({"name": "Empty"}), tok).await;
    let empty = r.body["id"].as_str().unwrap().to_string();
    let r = app.post(&format!("/api/v1/campaigns/{empty}/send"), &json!({}), tok).await;
    let p = r.problem(422, "validation_failed");
    let fields: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["email_id", "segment_id", "from_email"], "{}", r.text);
    assert_eq!(app.get(&format!("/api/v1/campaigns/{empty}"), tok).await.body["status"], "draft");
    // A segment that matches nobody.
    let nobody = app
        .post("/api/v1/segments", &json!({"name": "Nobody", "filter_groups": [{"filters": [{"field": "email", "op": "eq", "value": "none@none.example"}]}]}), tok)
        .await;
    let nobody = nobody.body["id"].as_str().unwrap().to_string();
    let id = draft(&app, &owner, &email, &nobody).await;
    let r = app.post(&format!("/api/v1/campaigns/{id}/send"), &json!({}), tok).await;
    assert!(
        r.problem(422, "validation_failed")["errors"][0]["message"].as_str().unwrap().contains("no contact"),
        "{}",
        r.text
    );
    // Preview: a contact of another portal is not found; merged values come back escaped.
    let theirs =
        app.get("/api/v1/contacts", Some(&other.token)).await.body["data"][0]["id"].as_str().unwrap().to_string();
    let ok = draft(&app, &owner, &email, &segment).await;
    app.get(&format!("/api/v1/campaigns/{ok}/preview?contact_id={theirs}"), tok)
        .await
        .problem(422, "validation_failed");
    app.get(&format!("/api/v1/campaigns/{ok}/preview"), tok).await.problem(422, "validation_failed");
    let mine = app.contact(&owner, json!({"email": "x@y.example", "first_name": "<i>X</i>"})).await;
    let pv = app.get(&format!("/api/v1/campaigns/{ok}/preview?contact_id={}", mine["id"].as_str().unwrap()), tok).await;
    assert_eq!(pv.status, 200, "{}", pv.text);
    assert!(pv.body["html"].as_str().unwrap().contains("Hello &lt;i&gt;X&lt;"), "{}", pv.text);
    assert_eq!(pv.body["subject"], "Hi <i>X</i>", "subjects are text, not HTML");
    // Test sends: bad addresses are 422; good ones are 202 and arrive.
    app.post(&format!("/api/v1/campaigns/{ok}/test"), &json!({"to": []}), tok).await.problem(422, "validation_failed");
    app.post(&format!("/api/v1/campaigns/{ok}/test"), &json!({"to": ["nope"]}), tok)
        .await
        .problem(422, "validation_failed");

    // Another portal's campaign is 404 on every route; so is a malformed id.
    let mut paths = Vec::new();
    for base in [format!("/api/v1/campaigns/{ok}"), "/api/v1/campaigns/not-a-uuid".to_string()] {
        paths.push(base.clone());
        assert_eq!(app.get(&base, Some(&other.token)).await.status, 404);
        assert_eq!(app.patch(&base, &json!({"name": "y"}), Some(&other.token)).await.status, 404);
        for action in ["send", "pause", "resume", "cancel"] {
            assert_eq!(
                app.post(&format!("{base}/{action}"), &json!({}), Some(&other.token)).await.status,
                404,
                "{action}"
            );
        }
        assert_eq!(
            app.post(&format!("{base}/test"), &json!({"to": ["a@b.example"]}), Some(&other.token)).await.status,
            404
        );
        assert_eq!(app.get(&format!("{base}/recipients"), Some(&other.token)).await.status, 404);
        assert_eq!(app.get(&format!("{base}/preview?contact_id={theirs}"), Some(&other.token)).await.status, 404);
        assert_eq!(app.delete(&base, Some(&other.token)).await.status, 404);
    }
    assert_eq!(app.get(&format!("/api/v1/campaigns/{ok}"), tok).await.body["name"], "Launch", "unchanged");
    // Suppression input.
    app.post("/api/v1/suppressions", &json!({"email": "nope"}), tok).await.problem(422, "validation_failed");
    app.post("/api/v1/suppressions", &json!({"email": "a@b.example", "reason": "bored"}), tok)
        .await
        .problem(422, "validation_failed");
    app.get("/api/v1/suppressions?after=zzz", tok).await.problem(422, "validation_failed");
    let r = app.post("/api/v1/suppressions", &json!({"email": "Shared@X.example"}), Some(&other.token)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(app.delete("/api/v1/suppressions/shared@x.example", tok).await.status, 404, "another portal's entry");
    assert_eq!(app.get("/api/v1/suppressions", tok).await.body["data"], json!([]));
}

async fn roles_and_key_scopes_decide_who_drafts_and_who_sends(app: TestApp, sink: SmtpSink) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (email, segment) = setup(&app, &owner, 1).await;
    let member = app.member(&owner, "mo@acme.example", "member").await;
    let viewer = app.member(&owner, "vi@acme.example", "viewer").await;
    let id = draft(&app, &member, &email, &segment).await;
    assert_eq!(app.get(&format!("/api/v1/campaigns/{id}"), Some(&viewer.token)).await.status, 200);
    assert_eq!(app.post("/api/v1/campaigns", &json!({"name": "v"}), Some(&viewer.token)).await.status, 403);
    assert_eq!(app.post(&format!("/api/v1/campaigns/{id}/send"), &json!({}), Some(&member.token)).await.status, 403);
    assert_eq!(
        app.post("/api/v1/suppressions", &json!({"email": "a@b.example"}), Some(&member.token)).await.status,
        403
    );
    assert_eq!(app.get("/api/v1/suppressions", Some(&viewer.token)).await.status, 200);

    let key = |scopes: Value| {
        let app = &app;
        let token = owner.token.clone();
        async move {
            let r = app.post("/api/v1/api-keys", &json!({"name": "k", "scopes": scopes}), Some(&token)).await;
            assert_eq!(r.status, 201, "{}", r.text);
            r.body["key"].as_str().unwrap().to_string()
        }
    };
    let reader = key(json!(["campaigns:read"])).await;
    let writer = key(json!(["campaigns:write"])).await;
    let other = key(json!(["contacts:read"])).await;
    assert_eq!(app.get("/api/v1/campaigns", Some(&reader)).await.status, 200);
    assert_eq!(app.get("/api/v1/campaigns", Some(&other)).await.status, 403);
    assert_eq!(app.post(&format!("/api/v1/campaigns/{id}/send"), &json!({}), Some(&reader)).await.status, 403);
    let r = app.post(&format!("/api/v1/campaigns/{id}/send"), &json!({}), Some(&writer)).await;
    assert_eq!(r.status, 202, "{}", r.text);
    until_status(&app, &owner.token, &id, "completed").await;
    assert_eq!(sink.count(), 1);
    // A test send by the owner arrives, marked as a test, untracked.
    let r = app
        .post(&format!("/api/v1/campaigns/{id}/test"), &json!({"to": ["qa@acme.example"]}), Some(&owner.token))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let m = wait_for("the test message", Duration::from_secs(10), || async { sink.to("qa@acme.example").pop() }).await;
    assert!(m.header("Subject").unwrap().starts_with("[Test]"), "{:?}", m.header("Subject"));
    assert!(m.header("List-Unsubscribe").is_none() && !m.data.contains("/t/o/"));
    let c = app.get(&format!("/api/v1/campaigns/{id}"), Some(&owner.token)).await;
    assert_eq!(c.body["stats"]["sent"], 1, "tests are not counted");
}

async fn provider_bounces_and_complaints_join_the_suppression_list(app: TestApp, _sink: SmtpSink) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (email, segment) = setup(&app, &owner, 2).await;
    let id = draft(&app, &owner, &email, &segment).await;
    app.post(&format!("/api/v1/campaigns/{id}/send"), &json!({}), Some(&owner.token)).await;
    until_status(&app, &owner.token, &id, "completed").await;
    let rows = recipients(&app, &owner.token, &id).await;
    let p0 = rows.iter().find(|r| r["email"] == "p0@x.example").unwrap();
    let r =
        app.post("/api/v1/api-keys", &json!({"name": "ESP", "scopes": ["campaigns:write"]}), Some(&owner.token)).await;
    let key = r.body["key"].as_str().unwrap().to_string();
    let r = app
        .post(
            "/api/v1/email-events",
            &json!({"email": "p0@x.example", "type": "bounce", "message_id": p0["message_id"]}),
            Some(&key),
        )
        .await;
    assert_eq!((r.status, r.body["reason"].as_str()), (200, Some("hard_bounce")), "{}", r.text);
    assert_eq!(r.body["campaign_id"], id.as_str());
    let r = app.post("/api/v1/email-events", &json!({"email": "p1@x.example", "type": "complaint"}), Some(&key)).await;
    assert_eq!(r.body["reason"], "complaint");
    app.post("/api/v1/email-events", &json!({"email": "p1@x.example", "type": "spam"}), Some(&key))
        .await
        .problem(422, "validation_failed");
    let c = app.get(&format!("/api/v1/campaigns/{id}"), Some(&owner.token)).await;
    assert_eq!(
        (c.body["stats"]["bounced"].as_i64(), c.body["stats"]["sent"].as_i64()),
        (Some(1), Some(1)),
        "{}",
        c.text
    );
    let list = app.get("/api/v1/suppressions?reason=complaint", Some(&owner.token)).await;
    assert_eq!(list.body["data"][0]["email"], "p1@x.example");
    let reader =
        app.post("/api/v1/api-keys", &json!({"name": "r", "scopes": ["campaigns:read"]}), Some(&owner.token)).await;
    let reader = reader.body["key"].as_str().unwrap().to_string();
    assert_eq!(
        app.post("/api/v1/email-events", &json!({"email": "a@b.example", "type": "bounce"}), Some(&reader))
            .await
            .status,
        403
    );
}

/// A server without ORGANIZEO_SMTP_URL refuses to send (409), and says why.
#[actix_web::test]
async fn without_an_smtp_relay_sending_is_refused() {
    let app = campaign_app(Backend::Sqlite, None).await.unwrap();
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (email, segment) = setup(&app, &owner, 1).await;
    let id = draft(&app, &owner, &email, &segment).await;
    app.post(&format!("/api/v1/campaigns/{id}/send"), &json!({}), Some(&owner.token))
        .await
        .problem(409, "smtp_not_configured");
    app.post(&format!("/api/v1/campaigns/{id}/test"), &json!({"to": ["a@b.example"]}), Some(&owner.token))
        .await
        .problem(409, "smtp_not_configured");
    assert_eq!(app.get(&format!("/api/v1/campaigns/{id}"), Some(&owner.token)).await.body["status"], "draft");
}
