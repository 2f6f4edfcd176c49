//! Brute-force throttling with a moved clock, surviving a restart.

use chrono::Duration;

use crate::both_backends;
use crate::helpers::{TestApp, PASSWORD};

async fn an_account_is_throttled_after_five_failures_with_backoff(app: TestApp) {
    app.signup("Acme", "ada@acme.example").await;
    for i in 1..=5 {
        let r = app.login("ada@acme.example", "Wr0ng!Password", None).await;
        assert_eq!(r.status, 401, "attempt {i}: {}", r.text);
    }
    // Now even the right password waits.
    let r = app.login("ada@acme.example", PASSWORD, None).await;
    r.problem(429, "rate_limited");
    assert_eq!(r.header("retry-after").as_deref(), Some("30"));
    // Unknown emails are throttled the same way (no enumeration through the limiter).
    for _ in 0..5 {
        app.login("ghost@acme.example", "Wr0ng!Password", None).await;
    }
    app.login("ghost@acme.example", "Wr0ng!Password", None).await.problem(429, "rate_limited");

    app.clock.advance(Duration::seconds(31));
    // One more failure doubles the wait.
    app.login("ada@acme.example", "Wr0ng!Password", None).await.problem(401, "unauthorized");
    let r = app.login("ada@acme.example", PASSWORD, None).await;
    assert_eq!(r.header("retry-after").as_deref(), Some("60"), "{}", r.text);

    // The counters live in the database: a restart does not reset them.
    let app = app.restart().await;
    app.login("ada@acme.example", PASSWORD, None).await.problem(429, "rate_limited");
    app.clock.advance(Duration::seconds(61));
    let r = app.login("ada@acme.example", PASSWORD, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Success clears the account's counter.
    app.login("ada@acme.example", "Wr0ng!Password", None).await.problem(401, "unauthorized");
    assert_eq!(app.login("ada@acme.example", PASSWORD, None).await.status, 200);
}

async fn one_address_trying_many_accounts_is_throttled(app: TestApp) {
    app.signup("Acme", "ada@acme.example").await;
    for i in 0..20 {
        let r = app.login(&format!("user{i}@acme.example"), "Wr0ng!Password", None).await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    let r = app.login("ada@acme.example", PASSWORD, None).await;
    r.problem(429, "rate_limited");
    app.clock.advance(Duration::seconds(31));
    assert_eq!(app.login("ada@acme.example", PASSWORD, None).await.status, 200);
}

async fn second_factor_guesses_are_throttled(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (secret, _) = app.enable_mfa(&owner.token).await;
    let mut challenge = String::new();
    for i in 0..5 {
        if i % 4 == 0 {
            challenge =
                app.login("ada@acme.example", PASSWORD, None).await.body["mfa_token"].as_str().unwrap().to_string();
        }
        let r =
            app.post("/api/v1/auth/mfa", &serde_json::json!({"mfa_token": challenge, "code": "000000"}), None).await;
        r.problem(401, "unauthorized");
    }
    let fresh = app.login("ada@acme.example", PASSWORD, None).await.body["mfa_token"].as_str().unwrap().to_string();
    let r = app
        .post("/api/v1/auth/mfa", &serde_json::json!({"mfa_token": fresh, "code": app.totp_code(&secret)}), None)
        .await;
    r.problem(429, "rate_limited");
    assert!(r.header("retry-after").is_some());
}

both_backends!(
    an_account_is_throttled_after_five_failures_with_backoff,
    one_address_trying_many_accounts_is_throttled,
    second_factor_guesses_are_throttled,
);
