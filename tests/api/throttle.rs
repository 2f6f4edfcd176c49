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

/// Parallel guesses are each counted before they are checked: 40 at once against one
/// account get at most 5 evaluations (401), the rest 429, and the right password among
/// later ones waits too.
async fn parallel_password_guesses_are_evaluated_at_most_the_limit(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let guesses = (0..40).map(|_| app.login("ada@acme.example", "Wr0ng!Password", None));
    let answers: Vec<u16> = futures_util::future::join_all(guesses).await.iter().map(|r| r.status).collect();
    let evaluated = answers.iter().filter(|s| **s == 401).count();
    assert!(evaluated <= 5, "{evaluated} of 40 parallel guesses were evaluated: {answers:?}");
    assert_eq!(answers.iter().filter(|s| **s == 429).count(), 40 - evaluated, "{answers:?}");
    app.login("ada@acme.example", PASSWORD, None).await.problem(429, "rate_limited");
    let failed = app.audit_actions(&owner.token).await.iter().filter(|a| *a == "auth.login.failed").count();
    assert_eq!(failed, evaluated, "one audit entry per evaluated guess");
}

/// 60 parallel sign-ins for different accounts from one address: at most 20 evaluated.
async fn parallel_guesses_from_one_address_are_evaluated_at_most_the_limit(app: TestApp) {
    let guesses = (0..60).map(|i| {
        let email = format!("user{i}@acme.example");
        let app = &app;
        async move { app.login(&email, "Wr0ng!Password", None).await.status }
    });
    let answers: Vec<u16> = futures_util::future::join_all(guesses).await;
    let evaluated = answers.iter().filter(|s| **s == 401).count();
    assert!(evaluated <= 20, "{evaluated} of 60 were evaluated: {answers:?}");
    assert_eq!(answers.iter().filter(|s| **s == 429).count(), 60 - evaluated, "{answers:?}");
}

/// 40 parallel codes on one sign-in challenge: at most 5 are checked; the right code sent
/// afterwards does not sign in.
async fn parallel_second_factor_guesses_are_evaluated_at_most_the_limit(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (secret, _) = app.enable_mfa(&owner.token).await;
    let challenge = app.login("ada@acme.example", PASSWORD, None).await.body["mfa_token"].as_str().unwrap().to_string();
    let guesses = (0..40).map(|i| {
        let body = serde_json::json!({"mfa_token": challenge, "code": format!("{:06}", (i * 7919) % 1_000_000)});
        let app = &app;
        async move { app.post("/api/v1/auth/mfa", &body, None).await }
    });
    let answers = futures_util::future::join_all(guesses).await;
    let checked = answers.iter().filter(|r| r.body["detail"] == "the code is not valid").count();
    assert!(checked <= 5, "{checked} of 40 codes were checked");
    assert!(answers.iter().all(|r| r.status == 401 || r.status == 429), "no code signed in");
    let r = app
        .post("/api/v1/auth/mfa", &serde_json::json!({"mfa_token": challenge, "code": app.totp_code(&secret)}), None)
        .await;
    assert!(r.status == 401 || r.status == 429, "the right code after the limit: {}", r.text);
}

/// Changing the password checks the current one like a sign-in: throttled and audited,
/// so a stolen session is not an unlimited password oracle.
async fn the_current_password_check_is_throttled_and_audited(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let change =
        |current: &str| serde_json::json!({"current_password": current, "new_password": "Another-Long-Pass-42"});
    for i in 1..=5 {
        let r = app.post("/api/v1/me/password", &change("Wr0ng!Guess"), Some(&owner.token)).await;
        assert_eq!(r.status, 422, "guess {i}: {}", r.text);
    }
    let r = app.post("/api/v1/me/password", &change(PASSWORD), Some(&owner.token)).await;
    r.problem(429, "rate_limited");
    let failed = app.audit_actions(&owner.token).await.iter().filter(|a| *a == "user.password_change_failed").count();
    assert_eq!(failed, 5);
    // Parallel guesses count too.
    app.clock.advance(Duration::minutes(16));
    let wrong = change("Wr0ng!Guess");
    let guesses = (0..20).map(|_| app.post("/api/v1/me/password", &wrong, Some(&owner.token)));
    let answers: Vec<u16> = futures_util::future::join_all(guesses).await.iter().map(|r| r.status).collect();
    assert!(answers.iter().filter(|s| **s == 422).count() <= 5, "{answers:?}");
    app.clock.advance(Duration::minutes(16));
    assert_eq!(app.post("/api/v1/me/password", &change(PASSWORD), Some(&owner.token)).await.status, 204);
}

/// Confirming enrolment is a code check like any other: wrong codes are throttled (the
/// right code then waits too), and answers that check no code (2FA not on, nothing
/// pending) never cost an attempt.
async fn enrolment_codes_are_throttled_and_other_answers_cost_nothing(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    for _ in 0..8 {
        app.delete_json("/api/v1/me/mfa/totp", &serde_json::json!({"code": "000000"}), Some(&owner.token))
            .await
            .problem(409, "mfa_not_enabled");
        app.post("/api/v1/me/mfa/totp/confirm", &serde_json::json!({"code": "000000"}), Some(&owner.token))
            .await
            .problem(409, "mfa_not_pending");
    }
    let enrol = app.post("/api/v1/me/mfa/totp", &serde_json::json!({}), Some(&owner.token)).await;
    let secret = enrol.body["secret"].as_str().unwrap().to_string();
    for _ in 0..5 {
        app.post("/api/v1/me/mfa/totp/confirm", &serde_json::json!({"code": "000000"}), Some(&owner.token))
            .await
            .problem(422, "validation_failed");
    }
    let r = app
        .post("/api/v1/me/mfa/totp/confirm", &serde_json::json!({"code": app.totp_code(&secret)}), Some(&owner.token))
        .await;
    r.problem(429, "rate_limited");
    assert!(r.header("retry-after").is_some());
}

both_backends!(
    enrolment_codes_are_throttled_and_other_answers_cost_nothing,
    parallel_password_guesses_are_evaluated_at_most_the_limit,
    parallel_guesses_from_one_address_are_evaluated_at_most_the_limit,
    parallel_second_factor_guesses_are_evaluated_at_most_the_limit,
    the_current_password_check_is_throttled_and_audited,
    an_account_is_throttled_after_five_failures_with_backoff,
    one_address_trying_many_accounts_is_throttled,
    second_factor_guesses_are_throttled,
);
