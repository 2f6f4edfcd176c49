//! Portal JITA: a staff member enters one portal under its `staff_access` rule, for at most
//! 24 hours; high-risk and unclassified routes are refused; everything is audited with the
//! grant id; owners approve and revoke; risk monitoring suspends unusual grants.

use awc::http::Method;
use chrono::Duration;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{Signed, TestApp};
use crate::staff::{staff_cli, staff_member};

async fn ask(app: &TestApp, staff: &str, tenant: &str, minutes: i64) -> crate::helpers::Resp {
    app.post(
        "/api/v1/staff/jita",
        &json!({"tenant_id": tenant, "reason": "customer reports a broken pipeline", "ticket_ref": "SUP-1234", "duration_minutes": minutes}),
        Some(staff),
    )
    .await
}

async fn set_access(app: &TestApp, owner: &Signed, rule: &str) {
    let r = app.patch("/api/v1/tenant", &json!({"staff_access": rule}), Some(&owner.token)).await;
    assert_eq!((r.status, r.body["staff_access"].as_str()), (200, Some(rule)), "{}", r.text);
}

fn grants(v: &Value) -> &Vec<Value> {
    v["data"].as_array().unwrap()
}

async fn a_grant_waits_for_approval_acts_within_limits_and_expires(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let member = app.member(&owner, "bob@acme.example", "member").await;
    let (staff, _) = staff_member(&app, "sam@platform.example", "support").await;
    let t = app.get("/api/v1/tenant", Some(&owner.token)).await;
    assert_eq!(t.body["staff_access"], "approval_required", "the default: {}", t.text);

    let r = ask(&app, &staff, &owner.tenant_id, 60).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!((r.body["status"].as_str(), &r.body["expires_at"]), (Some("pending_approval"), &Value::Null));
    let grant = r.body["id"].as_str().unwrap().to_string();
    let token = r.body["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("ozj_"), "{token}");
    app.get("/api/v1/contacts", Some(&token)).await.problem(403, "jita_pending_approval");

    // Owners and admins see it; members do not; a grant cannot approve itself.
    app.get("/api/v1/staff-access", Some(&member.token)).await.problem(403, "forbidden");
    let list = app.get("/api/v1/staff-access", Some(&owner.token)).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["staff_access"], "approval_required");
    let g = &grants(&list.body)[0];
    assert_eq!((g["id"].as_str(), g["status"].as_str()), (Some(grant.as_str()), Some("pending_approval")));
    assert_eq!((g["staff_email"].as_str(), g["ticket_ref"].as_str()), (Some("sam@platform.example"), Some("SUP-1234")));
    app.post(&format!("/api/v1/staff-access/{grant}/approve"), &json!({}), Some(&member.token))
        .await
        .problem(403, "forbidden");
    let ok = app.post(&format!("/api/v1/staff-access/{grant}/approve"), &json!({}), Some(&owner.token)).await;
    assert_eq!((ok.status, ok.body["status"].as_str()), (200, Some("active")), "{}", ok.text);
    let end = (app.clock.now() + Duration::minutes(60)).timestamp();
    let expires = chrono::DateTime::parse_from_rfc3339(ok.body["expires_at"].as_str().unwrap()).unwrap().timestamp();
    assert!((expires - end).abs() <= 2, "the grant runs from its approval: {expires} vs {end}");
    app.post(&format!("/api/v1/staff-access/{grant}/approve"), &json!({}), Some(&owner.token))
        .await
        .problem(409, "conflict");

    // Everyday work: read, create, edit.
    assert_eq!(app.get("/api/v1/contacts", Some(&token)).await.status, 200);
    let c = app.post("/api/v1/contacts", &json!({"email": "lee@customer.example"}), Some(&token)).await;
    assert_eq!(c.status, 201, "{}", c.text);
    let cid = c.body["id"].as_str().unwrap().to_string();
    assert_eq!(app.get("/api/v1/tenant", Some(&token)).await.status, 200);
    // High risk: refused, and nothing changes.
    app.delete(&format!("/api/v1/contacts/{cid}"), Some(&token)).await.problem(403, "jita_forbidden");
    app.get("/api/v1/staff-access", Some(&token)).await.problem(403, "jita_forbidden");
    assert_eq!(app.get(&format!("/api/v1/contacts/{cid}"), Some(&owner.token)).await.status, 200);

    // The portal's audit log has every request under the grant, with its id.
    let log = app.get(&format!("/api/v1/audit-log?actor_id={grant}&limit=100"), Some(&owner.token)).await;
    let actions: Vec<&str> = grants(&log.body).iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "jita.request").count(), 3, "{actions:?}");
    assert_eq!(actions.iter().filter(|a| **a == "jita.refused").count(), 2, "{actions:?}");
    assert!(
        actions.contains(&"contact.created") || grants(&log.body).iter().any(|e| e["actor"]["type"] == "jita_grant")
    );
    let all = app.get("/api/v1/audit-log?action=jita&limit=100", Some(&owner.token)).await;
    let all: Vec<&str> = grants(&all.body).iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(all.contains(&"jita.requested") && all.contains(&"jita.approved"), "{all:?}");
    let contact = app.get(&format!("/api/v1/contacts/{cid}/timeline"), Some(&owner.token)).await;
    assert!(contact.text.contains(&grant), "the change names the grant: {}", contact.text);
    let list = app.get("/api/v1/staff-access", Some(&owner.token)).await;
    let g = &grants(&list.body)[0];
    assert_eq!((g["requests"].as_i64(), g["refusals"].as_i64()), (Some(3), Some(2)), "{g}");
    assert_eq!(g["activity"].as_array().unwrap().len(), 5, "{g}");

    // Past its end (by the clock), the token stops and the grant reads as expired.
    app.clock.advance(Duration::minutes(61));
    app.get("/api/v1/contacts", Some(&token)).await.problem(401, "unauthorized");
    let list = app.get("/api/v1/staff-access", Some(&owner.token)).await;
    assert_eq!(grants(&list.body)[0]["status"], "expired");
}

async fn owners_revoke_at_once_and_other_portals_see_nothing(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let other = app.signup("Other", "olga@other.example").await;
    let (staff, _) = staff_member(&app, "sam@platform.example", "engineer").await;
    set_access(&app, &owner, "allowed").await;
    let r = ask(&app, &staff, &owner.tenant_id, 30).await;
    assert_eq!((r.status, r.body["status"].as_str()), (201, Some("active")), "{}", r.text);
    let (grant, token) = (r.body["id"].as_str().unwrap().to_string(), r.body["token"].as_str().unwrap().to_string());
    assert_eq!(app.get("/api/v1/contacts", Some(&token)).await.status, 200);
    // The grant acts in its portal only: the other portal's records are not there.
    let theirs = app.post("/api/v1/contacts", &json!({"email": "x@other.example"}), Some(&other.token)).await;
    let theirs = theirs.body["id"].as_str().unwrap();
    app.get(&format!("/api/v1/contacts/{theirs}"), Some(&token)).await.problem(404, "not_found");
    // Another portal's owner cannot see, approve or revoke it.
    assert_eq!(grants(&app.get("/api/v1/staff-access", Some(&other.token)).await.body).len(), 0);
    app.delete(&format!("/api/v1/staff-access/{grant}"), Some(&other.token)).await.problem(404, "not_found");
    app.post(&format!("/api/v1/staff-access/{grant}/approve"), &json!({}), Some(&other.token))
        .await
        .problem(404, "not_found");
    assert_eq!(app.get("/api/v1/contacts", Some(&token)).await.status, 200);
    // The grant may watch the portal live; the owner watches the staff access live.
    let mut staff_ws = app.ws(&token).await;
    let got = staff_ws.subscribe("crm", None).await;
    assert_eq!(got.last().unwrap()["type"], "subscribed", "{got:?}");
    let mut owner_ws = app.ws(&owner.token).await;
    owner_ws.subscribe("notifications", None).await;
    app.contact(&owner, json!({"email": "seen@acme.example"})).await;
    staff_ws.until("event", Some("contact.created")).await;
    // Revoked: at once, the token and its websocket.
    assert_eq!(app.delete(&format!("/api/v1/staff-access/{grant}"), Some(&owner.token)).await.status, 204);
    assert_eq!(staff_ws.closed().await, (Some(4003), Some("grant_revoked".to_string())));
    let told = owner_ws.until("event", Some("notification.created")).await;
    assert_eq!(
        (told["data"]["kind"].as_str(), told["data"]["data"]["status"].as_str()),
        (Some("staff_access"), Some("revoked"))
    );
    app.get("/api/v1/contacts", Some(&token)).await.problem(401, "unauthorized");
    let inbox = app.get("/api/v1/me/notifications", Some(&owner.token)).await;
    let titles: Vec<&str> = inbox.body["data"].as_array().unwrap().iter().filter_map(|n| n["title"].as_str()).collect();
    assert_eq!(titles, ["Staff access revoked", "Staff access started"], "{}", inbox.text);
    app.delete(&format!("/api/v1/staff-access/{grant}"), Some(&owner.token)).await.problem(409, "conflict");
    let list = app.get("/api/v1/staff-access", Some(&owner.token)).await;
    assert_eq!(grants(&list.body)[0]["status"], "revoked");
    // Disabling the staff member ends their grants too.
    let r = ask(&app, &staff, &owner.tenant_id, 30).await;
    let token = r.body["token"].as_str().unwrap().to_string();
    assert_eq!(app.get("/api/v1/contacts", Some(&token)).await.status, 200);
    let mut staff_ws = app.ws(&token).await;
    staff_ws.subscribe("crm", None).await;
    let (ok, out) = staff_cli(&app, &["disable", "sam@platform.example"], "");
    assert!(ok, "{out}");
    app.get("/api/v1/contacts", Some(&token)).await.problem(401, "unauthorized");
    // The CLI's commit reaches this server through the outbox on the next event it reads.
    app.contact(&owner, json!({"email": "after@acme.example"})).await;
    assert_eq!(staff_ws.closed().await, (Some(4003), Some("grant_revoked".to_string())));
}

async fn requests_are_checked_and_denied_portals_refuse(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (staff, _) = staff_member(&app, "sam@platform.example", "support").await;
    let (release, _) = staff_member(&app, "rita@platform.example", "release_manager").await;
    for minutes in [0, -5, 1441, 100_000] {
        ask(&app, &staff, &owner.tenant_id, minutes).await.problem(422, "validation_failed");
    }
    let r = app
        .post(
            "/api/v1/staff/jita",
            &json!({"tenant_id": owner.tenant_id, "reason": " ", "ticket_ref": "", "duration_minutes": 5}),
            Some(&staff),
        )
        .await;
    let fields: Vec<&str> = r.problem(422, "validation_failed")["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["reason", "ticket_ref"]);
    let r = app.post("/api/v1/staff/jita", &json!({"tenant_id": owner.tenant_id}), Some(&staff)).await;
    assert_eq!(r.status, 422, "{}", r.text);
    ask(&app, &staff, "0190a0b0-0000-7000-8000-000000000001", 5).await.problem(404, "not_found");
    ask(&app, &staff, "not-a-portal", 5).await.problem(404, "not_found");
    ask(&app, &release, &owner.tenant_id, 5).await.problem(403, "forbidden");
    ask(&app, &owner.token, &owner.tenant_id, 5).await.problem(401, "unauthorized");
    set_access(&app, &owner, "denied").await;
    ask(&app, &staff, &owner.tenant_id, 5).await.problem(403, "staff_access_denied");
    app.patch("/api/v1/tenant", &json!({"staff_access": "sometimes"}), Some(&owner.token))
        .await
        .problem(422, "validation_failed");
    let log = app.get("/api/v1/audit-log?action=jita&limit=100", Some(&owner.token)).await;
    assert_eq!(grants(&log.body)[0]["action"], "jita.refused", "{}", log.text);
    let log = app.get("/api/v1/audit-log?action=tenant.settings_changed", Some(&owner.token)).await;
    assert_eq!(grants(&log.body)[0]["details"]["staff_access"]["to"], "denied", "{}", log.text);
}

/// Every route of the table under a grant: standard routes are not refused; high-risk and
/// unclassified portal routes answer 403 `jita_forbidden` (fail closed).
async fn every_route_obeys_its_risk_class(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let app = app.restart_with(|s| s.jita_max_refusals = 100_000).await;
    let (staff, _) = staff_member(&app, "sam@platform.example", "support").await;
    set_access(&app, &owner, "allowed").await;
    let token = ask(&app, &staff, &owner.tenant_id, 600).await.body["token"].as_str().unwrap().to_string();
    let mut checked = (0, 0);
    for (method, path, risk) in organizeo::http::ROUTE_RISK {
        let portal_route = path.starts_with("/api/v1/")
            && !path.starts_with("/api/v1/staff/")
            // The end-user inbox takes no bearer token (HMAC headers): no grant applies.
            && !path.starts_with("/api/v1/inbox")
            && !matches!(
                *path,
                "/api/v1/signup"
                    | "/api/v1/auth/login"
                    | "/api/v1/auth/mfa"
                    | "/api/v1/openapi.json"
                    | "/api/v1/realtime"
            );
        if !portal_route {
            continue;
        }
        let url = path
            .replace("{id}", &uuid::Uuid::now_v7().to_string())
            .replace("{type}", "contact")
            .replace("{file}", "contacts.csv");
        let url = if url == "/api/v1/trash" { format!("{url}?type=contact") } else { url };
        let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
        let body = (*method != "get").then(|| b"{}".to_vec());
        let r = app.request(m, &url, Some(&token), body).await;
        if *risk == Some(organizeo::http::Risk::Standard) {
            assert!(r.status != 401 && r.status != 403, "{method} {path} is standard: {} {}", r.status, r.text);
            checked.0 += 1;
        } else {
            assert_eq!(
                (r.status, r.body["code"].as_str()),
                (403, Some("jita_forbidden")),
                "{method} {path}: {}",
                r.text
            );
            checked.1 += 1;
        }
    }
    assert!(checked.0 >= 40 && checked.1 >= 20, "{checked:?}: the table lost routes");
}

async fn risk_monitoring_suspends_and_alerts(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (staff, _) = staff_member(&app, "sam@platform.example", "support").await;
    let (security, _) = staff_member(&app, "sue@platform.example", "security").await;
    set_access(&app, &owner, "allowed").await;
    let token = ask(&app, &staff, &owner.tenant_id, 60).await.body["token"].as_str().unwrap().to_string();
    // Repeated refusals: the third suspends the grant.
    app.get("/api/v1/users", Some(&token)).await.problem(403, "jita_forbidden");
    app.get("/api/v1/api-keys", Some(&token)).await.problem(403, "jita_forbidden");
    app.get("/api/v1/exports/contacts.csv", Some(&token)).await.problem(401, "unauthorized");
    app.get("/api/v1/contacts", Some(&token)).await.problem(401, "unauthorized");
    let list = app.get("/api/v1/staff-access", Some(&owner.token)).await;
    assert_eq!(
        (grants(&list.body)[0]["status"].as_str(), grants(&list.body)[0]["ended_by"].as_str()),
        (Some("suspended"), Some("risk_monitor"))
    );
    let alert = app.get("/api/v1/audit-log?action=staff.risk_alert", Some(&owner.token)).await;
    assert_eq!(grants(&alert.body)[0]["details"]["reason"], "refusals", "{}", alert.text);
    let platform = app.get("/api/v1/staff/audit-log?action=staff.risk_alert", Some(&security)).await;
    assert_eq!(grants(&platform.body)[0]["details"]["tenant_id"], owner.tenant_id.as_str(), "{}", platform.text);
    let metrics = app.get("/metrics", None).await.text;
    assert!(metrics.contains("organizeo_staff_risk_alerts_total{reason=\"refusals\"} 1"), "{metrics}");

    // Many portals within an hour: the sixth different portal is refused and alerted.
    let mut portals = vec![owner.tenant_id.clone()];
    for i in 0..5 {
        let o = app.signup(&format!("P{i}"), &format!("o{i}@p{i}.example")).await;
        set_access(&app, &o, "approval_required").await;
        portals.push(o.tenant_id.clone());
    }
    for p in &portals[1..5] {
        assert_eq!(ask(&app, &staff, p, 10).await.status, 201);
    }
    // The same portal again is not a new one.
    assert_eq!(ask(&app, &staff, &portals[1], 10).await.status, 201);
    ask(&app, &staff, &portals[5], 10).await.problem(403, "staff_risk_alert");
    let metrics = app.get("/metrics", None).await.text;
    assert!(metrics.contains("organizeo_staff_risk_alerts_total{reason=\"many_portals\"} 1"), "{metrics}");
    // An hour later the count starts again.
    app.clock.advance(Duration::minutes(61));
    assert_eq!(ask(&app, &staff, &portals[5], 10).await.status, 201);
}

async fn unusual_volume_suspends_a_grant(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let app = app.restart_with(|s| s.jita_max_requests_per_hour = 5).await;
    let (staff, _) = staff_member(&app, "sam@platform.example", "support").await;
    set_access(&app, &owner, "allowed").await;
    let token = ask(&app, &staff, &owner.tenant_id, 120).await.body["token"].as_str().unwrap().to_string();
    for _ in 0..5 {
        assert_eq!(app.get("/api/v1/contacts", Some(&token)).await.status, 200);
    }
    app.get("/api/v1/contacts", Some(&token)).await.problem(401, "unauthorized");
    let alert = app.get("/api/v1/audit-log?action=staff.risk_alert", Some(&owner.token)).await;
    assert_eq!(grants(&alert.body)[0]["details"]["reason"], "volume", "{}", alert.text);
}

both_backends!(
    a_grant_waits_for_approval_acts_within_limits_and_expires,
    owners_revoke_at_once_and_other_portals_see_nothing,
    requests_are_checked_and_denied_portals_refuse,
    every_route_obeys_its_risk_class,
    risk_monitoring_suspends_and_alerts,
    unusual_volume_suspends_a_grant,
);
