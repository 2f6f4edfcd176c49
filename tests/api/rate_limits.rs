//! Rate limits per IP address, per credential and per portal, with their headers; shared
//! between nodes through Redis; and the abuse detector (probing, scraping) throttling
//! harder and auditing.

use organizeo::config::{RateLimit, Secret};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Signed, TestApp};

fn limit(rate: u32, burst: u32) -> Option<RateLimit> {
    Some(RateLimit { rate, burst })
}

async fn get(app: &TestApp, who: &Signed) -> crate::helpers::Resp {
    app.get("/api/v1/contacts", Some(&who.token)).await
}

/// The burst passes with the remaining count going down; the next request is a 429 with
/// Retry-After and the RateLimit headers, and changes nothing.
async fn one_address_gets_its_burst_then_429(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let app = app
        .restart_with(|s| {
            s.rate_limit_per_ip = limit(1, 3);
            s.rate_limit_per_credential = None;
            s.rate_limit_per_tenant = None;
        })
        .await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = get(&app, &owner).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.header("ratelimit-limit").as_deref(), Some("3"));
        remaining.push(r.header("ratelimit-remaining").unwrap());
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let r = app.post("/api/v1/contacts", &json!({"email": "x@x.example"}), Some(&owner.token)).await;
    r.problem(429, "rate_limited");
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    assert_eq!(r.header("ratelimit-remaining").as_deref(), Some("0"));
    assert!(r.header("ratelimit-reset").is_some());
    // Unauthenticated requests count against the address too.
    app.get("/healthz", None).await.problem(429, "rate_limited");
    let app = app.restart_with(|s| s.rate_limit_per_ip = None).await;
    let all = app.get("/api/v1/contacts", Some(&owner.token)).await;
    assert_eq!(all.body["data"].as_array().unwrap().len(), 0, "the refused create changed nothing");
}

/// A credential's bucket is its own: another person's token in the same portal, from the
/// same address, is unaffected.
async fn one_credential_is_limited_and_another_is_not(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let member = app.member(&owner, "bob@acme.example", "member").await;
    let app = app
        .restart_with(|s| {
            s.rate_limit_per_ip = None;
            s.rate_limit_per_credential = limit(1, 2);
            s.rate_limit_per_tenant = None;
        })
        .await;
    assert_eq!(get(&app, &owner).await.status, 200);
    assert_eq!(get(&app, &owner).await.status, 200);
    get(&app, &owner).await.problem(429, "rate_limited");
    let r = get(&app, &member).await;
    assert_eq!((r.status, r.header("ratelimit-remaining").as_deref()), (200, Some("1")));
    // A made-up token has a bucket of its own too (and still gets its 401).
    app.get("/api/v1/contacts", Some("ozs_made-up")).await.problem(401, "unauthorized");
}

/// A portal's bucket holds all its credentials together; another portal is unaffected.
async fn a_portal_shares_one_bucket(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let member = app.member(&owner, "bob@acme.example", "member").await;
    let other = app.signup("Other", "olga@other.example").await;
    let app = app
        .restart_with(|s| {
            s.rate_limit_per_ip = None;
            s.rate_limit_per_credential = None;
            s.rate_limit_per_tenant = limit(1, 4);
        })
        .await;
    for who in [&owner, &member, &owner, &member] {
        assert_eq!(get(&app, who).await.status, 200);
    }
    get(&app, &member).await.problem(429, "rate_limited");
    get(&app, &owner).await.problem(429, "rate_limited");
    assert_eq!(get(&app, &other).await.status, 200, "another portal has its own bucket");
}

/// Two nodes joined by Redis share a credential's limit: what one node let through counts
/// on the other.
async fn two_nodes_share_a_limit_through_redis(app: TestApp) {
    let Some(redis) = crate::cluster::redis_or_warn() else { return };
    let owner = app.signup("Acme", "ada@acme.example").await;
    // The cluster window for 1:20 is 20 s aligned to the clock: start early in one.
    let into_window = app.clock.now().timestamp().rem_euclid(20);
    if into_window > 8 {
        app.clock.advance(chrono::Duration::seconds(20 - into_window));
    }
    let adjust = |s: &mut organizeo::config::Settings| {
        s.redis_url = Some(Secret::new(redis.clone()));
        s.rate_limit_per_ip = None;
        s.rate_limit_per_credential = limit(1, 20);
        s.rate_limit_per_tenant = None;
    };
    let a = app.restart_with(adjust).await;
    let b = a.another_node(adjust).await;
    for _ in 0..12 {
        assert_eq!(get(&a, &owner).await.status, 200);
    }
    for _ in 0..8 {
        assert_eq!(get(&b, &owner).await.status, 200);
    }
    let r = get(&b, &owner).await;
    r.problem(429, "rate_limited");
    assert!(r.header("retry-after").is_some());
    get(&a, &owner).await.problem(429, "rate_limited");
}

/// Many 404s in a minute mark a credential as probing: it is audited as
/// `security.anomaly`, counted, and held to a tenth of its limit.
async fn probing_is_audited_and_throttled_harder(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let key =
        app.post("/api/v1/api-keys", &json!({"name": "probe", "scopes": ["contacts:read"]}), Some(&owner.token)).await;
    let key = Signed { token: key.body["key"].as_str().unwrap().to_string(), ..owner.clone() };
    let app = app
        .restart_with(|s| {
            s.rate_limit_per_ip = None;
            s.rate_limit_per_credential = limit(100, 100);
            s.rate_limit_per_tenant = None;
            s.abuse_errors_per_minute = 5;
        })
        .await;
    for i in 0..6 {
        let r = app.get(&format!("/api/v1/contacts/0190a000-0000-7000-8000-00000000000{i}"), Some(&key.token)).await;
        r.problem(404, "not_found");
    }
    let entries = app.get("/api/v1/audit-log?action=security.anomaly", Some(&owner.token)).await;
    let entry = &entries.body["data"][0];
    assert_eq!(
        (entry["action"].as_str(), entry["actor"]["type"].as_str()),
        (Some("security.anomaly"), Some("api_key"))
    );
    assert_eq!(entry["details"]["kind"], "probing");
    assert!(app.get("/metrics", None).await.text.contains("organizeo_security_anomalies_total{kind=\"probing\"} 1"));
    // A tenth of 100 at once: about 10 more requests, then 429s; the owner is unaffected.
    let mut refused = 0;
    for _ in 0..30 {
        if get(&app, &key).await.status == 429 {
            refused += 1;
        }
    }
    assert!(refused >= 15, "{refused} of 30 refused");
    assert_eq!(get(&app, &owner).await.status, 200);
}

/// A credential with a usual rate that suddenly reads far above it is scraping; a new
/// credential's first bulk read is not.
async fn scraping_far_above_the_usual_rate_is_flagged(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let app = app
        .restart_with(|s| {
            s.abuse_read_floor = 5;
            s.abuse_read_factor = 10;
        })
        .await;
    for _ in 0..20 {
        assert_eq!(get(&app, &owner).await.status, 200, "no habit yet: not an anomaly");
    }
    assert!(!app.audit_actions(&owner.token).await.iter().any(|a| a == "security.anomaly"));
    // Quiet for a quarter of an hour: the habit is now a read or so a minute.
    app.clock.advance(chrono::Duration::minutes(15));
    for _ in 0..6 {
        assert_eq!(get(&app, &owner).await.status, 200);
    }
    let entries = app.get("/api/v1/audit-log?action=security.anomaly", Some(&owner.token)).await;
    assert_eq!(entries.body["data"][0]["details"]["kind"], "scraping", "{}", entries.text);
    assert_eq!(entries.body["data"][0]["actor"]["type"], "user");
}

both_backends!(
    one_address_gets_its_burst_then_429,
    one_credential_is_limited_and_another_is_not,
    a_portal_shares_one_bucket,
    two_nodes_share_a_limit_through_redis,
    probing_is_audited_and_throttled_harder,
    scraping_far_above_the_usual_rate_is_flagged,
);
