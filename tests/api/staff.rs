//! Platform staff: the CLI, sign-in with mandatory TOTP (enrolment on first sign-in),
//! token separation from portal routes, throttling, and the platform audit chain.

use std::io::Write;
use std::process::{Command, Stdio};

use chrono::Duration;
use serde_json::json;

use crate::both_backends;
use diesel::connection::SimpleConnection;

use crate::helpers::{Backend, TestApp, PASSWORD};

const BIN: &str = env!("CARGO_BIN_EXE_organizeo");

/// Runs `organizeo staff …` against the app's database, `stdin` as standard input.
pub fn staff_cli(app: &TestApp, args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new(BIN)
        .env("ORGANIZEO_DATABASE_URL", app.db.url_string())
        .env("ORGANIZEO_LOG", "warn")
        .arg("staff")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text =
        format!("{}{}{:?}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr), out.status);
    (out.status.success(), text)
}

/// A staff member signed in for the first time: enrols TOTP, returns (token, base32 secret).
pub async fn staff_member(app: &TestApp, email: &str, role: &str) -> (String, String) {
    let (ok, out) = staff_cli(app, &["add", email, "--role", role], &format!("{PASSWORD}\n"));
    assert!(ok, "{out}");
    let step = app.post("/api/v1/staff/login", &json!({"email": email, "password": PASSWORD}), None).await;
    assert_eq!(step.status, 200, "{}", step.text);
    assert_eq!(step.body["mfa_enrollment_required"], true, "{}", step.text);
    let enrolment = step.body["enrollment_token"].as_str().unwrap().to_string();
    let secret = app.post("/api/v1/staff/mfa/totp", &json!({"enrollment_token": enrolment}), None).await;
    assert_eq!(secret.status, 200, "{}", secret.text);
    let b32 = secret.body["secret"].as_str().unwrap().to_string();
    assert!(secret.body["otpauth_url"].as_str().unwrap().starts_with("otpauth://totp/"));
    let done = app
        .post(
            "/api/v1/staff/mfa/totp/confirm",
            &json!({"enrollment_token": enrolment, "code": app.totp_code(&b32)}),
            None,
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.body["recovery_codes"].as_array().unwrap().len(), 10);
    (done.body["token"].as_str().unwrap().to_string(), b32)
}

async fn staff_sign_in_requires_totp_and_refuses_replays(app: TestApp) {
    let (token, b32) = staff_member(&app, "sam@platform.example", "support").await;
    assert!(token.starts_with("ozst_"), "{token}");
    let me = app.get("/api/v1/staff/me", Some(&token)).await;
    assert_eq!((me.status, me.body["role"].as_str()), (200, Some("support")), "{}", me.text);

    // The enrolment step is single-use.
    let again =
        app.post("/api/v1/staff/login", &json!({"email": "sam@platform.example", "password": PASSWORD}), None).await;
    assert_eq!(again.body["mfa_required"], true, "now enrolled: {}", again.text);
    assert!(again.body.get("enrollment_token").is_none(), "{}", again.text);
    let mfa_token = again.body["mfa_token"].as_str().unwrap().to_string();
    // The code used at enrolment is spent: the same 30-second step is refused.
    let code = app.totp_code(&b32);
    app.post("/api/v1/staff/mfa", &json!({"mfa_token": mfa_token, "code": code}), None)
        .await
        .problem(401, "unauthorized");
    app.clock.advance(Duration::seconds(30));
    let code = app.totp_code(&b32);
    let ok = app.post("/api/v1/staff/mfa", &json!({"mfa_token": mfa_token, "code": code}), None).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert!(ok.body.get("recovery_codes").is_none());
    let second = ok.body["token"].as_str().unwrap().to_string();
    // The step is consumed: its token cannot sign in twice.
    app.clock.advance(Duration::seconds(30));
    let code = app.totp_code(&b32);
    app.post("/api/v1/staff/mfa", &json!({"mfa_token": mfa_token, "code": code}), None)
        .await
        .problem(401, "unauthorized");

    // Wrong password: the same answer as an unknown email.
    let a = app
        .post("/api/v1/staff/login", &json!({"email": "sam@platform.example", "password": "Wr0ng!Password"}), None)
        .await;
    let b = app
        .post("/api/v1/staff/login", &json!({"email": "nobody@platform.example", "password": "Wr0ng!Password"}), None)
        .await;
    a.problem(401, "unauthorized");
    b.problem(401, "unauthorized");
    assert_eq!(a.body["detail"], b.body["detail"]);

    // Sign-out ends that session only.
    assert_eq!(app.post("/api/v1/staff/logout", &json!({}), Some(&second)).await.status, 204);
    app.get("/api/v1/staff/me", Some(&second)).await.problem(401, "unauthorized");
    assert_eq!(app.get("/api/v1/staff/me", Some(&token)).await.status, 200);

    // Disabling ends every session at once.
    let (ok, out) = staff_cli(&app, &["disable", "sam@platform.example"], "");
    assert!(ok, "{out}");
    app.get("/api/v1/staff/me", Some(&token)).await.problem(401, "unauthorized");
    app.post("/api/v1/staff/login", &json!({"email": "sam@platform.example", "password": PASSWORD}), None)
        .await
        .problem(401, "unauthorized");
    let (ok, out) = staff_cli(&app, &["list"], "");
    assert!(
        ok && out.contains("sam@platform.example") && out.contains("disabled") && out.contains("enrolled"),
        "{out}"
    );
}

async fn staff_and_portal_tokens_never_cross(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (staff, _) = staff_member(&app, "sue@platform.example", "security").await;
    for path in ["/api/v1/contacts", "/api/v1/me", "/api/v1/audit-log", "/api/v1/users"] {
        app.get(path, Some(&staff)).await.problem(401, "unauthorized");
    }
    let created = app.post("/api/v1/contacts", &json!({"email": "x@y.example"}), Some(&staff)).await;
    created.problem(401, "unauthorized");
    for path in ["/api/v1/staff/me", "/api/v1/staff/audit-log"] {
        app.get(path, Some(&owner.token)).await.problem(401, "unauthorized");
    }
    app.post("/api/v1/staff/logout", &json!({}), Some(&owner.token)).await.problem(401, "unauthorized");
    // A staff session's token is not a websocket credential either.
    let ticket = app.post("/api/v1/realtime/ticket", &json!({}), Some(&staff)).await;
    assert_eq!(ticket.status, 401, "{}", ticket.text);
}

async fn staff_sign_in_is_throttled(app: TestApp) {
    let (_, b32) = staff_member(&app, "tim@platform.example", "engineer").await;
    for i in 1..=5 {
        let r = app
            .post("/api/v1/staff/login", &json!({"email": "tim@platform.example", "password": "Wr0ng!Password"}), None)
            .await;
        assert_eq!(r.status, 401, "attempt {i}: {}", r.text);
    }
    let r =
        app.post("/api/v1/staff/login", &json!({"email": "tim@platform.example", "password": PASSWORD}), None).await;
    r.problem(429, "rate_limited");
    assert!(r.header("retry-after").is_some());

    // Second-factor guesses on one step: five, then 429 even for the right code.
    app.clock.advance(Duration::minutes(30));
    let step =
        app.post("/api/v1/staff/login", &json!({"email": "tim@platform.example", "password": PASSWORD}), None).await;
    assert_eq!(step.status, 200, "{}", step.text);
    let mfa_token = step.body["mfa_token"].as_str().unwrap().to_string();
    for _ in 0..5 {
        let r = app.post("/api/v1/staff/mfa", &json!({"mfa_token": mfa_token, "code": "000000"}), None).await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    // The sixth try, even with the right code, does not sign in: the step is spent.
    let r = app.post("/api/v1/staff/mfa", &json!({"mfa_token": mfa_token, "code": app.totp_code(&b32)}), None).await;
    assert!(r.status == 401 || r.status == 429, "{}", r.text);
    // …and the counter is per staff member: a fresh step is throttled too.
    let step =
        app.post("/api/v1/staff/login", &json!({"email": "tim@platform.example", "password": PASSWORD}), None).await;
    let mfa_token = step.body["mfa_token"].as_str().unwrap().to_string();
    let r = app.post("/api/v1/staff/mfa", &json!({"mfa_token": mfa_token, "code": app.totp_code(&b32)}), None).await;
    r.problem(429, "rate_limited");
}

async fn staff_actions_are_in_the_verified_platform_chain(app: TestApp) {
    let (sec, _) = staff_member(&app, "sue@platform.example", "security").await;
    let (support, _) = staff_member(&app, "sam@platform.example", "support").await;
    // Only the security role reads the platform trail.
    app.get("/api/v1/staff/audit-log", Some(&support)).await.problem(403, "forbidden");
    let log = app.get("/api/v1/staff/audit-log", Some(&sec)).await;
    assert_eq!(log.status, 200, "{}", log.text);
    let actions: Vec<&str> = log.body["data"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    for a in ["staff.created", "staff.mfa.enrolled", "staff.login.succeeded"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    let (ok, out) = verify(&app);
    assert!(ok, "{out}");
    // Altering a platform entry is caught.
    let mut conn = app.db_conn();
    let tamper = "UPDATE platform_audit_log SET ip = '10.6.6.6' WHERE seq = 1";
    assert!(conn.batch_execute(tamper).is_err(), "the database refuses edits to the platform log");
    let bypass = match app.db.backend() {
        Backend::Sqlite => "DROP TRIGGER platform_audit_log_no_update;",
        Backend::Postgres => "ALTER TABLE platform_audit_log DISABLE TRIGGER platform_audit_log_no_update;",
    };
    conn.batch_execute(bypass).unwrap();
    conn.batch_execute(tamper).unwrap();
    let (ok, out) = verify(&app);
    assert!(!ok && out.contains("platform") && out.contains("altered"), "{out}");
}

async fn staff_cli_applies_the_password_policy_and_roles(app: TestApp) {
    let (ok, out) = staff_cli(&app, &["add", "weak@platform.example", "--role", "support"], "short\n");
    assert!(!ok && out.contains("password"), "{out}");
    let (ok, out) = staff_cli(&app, &["add", "x@platform.example", "--role", "janitor"], &format!("{PASSWORD}\n"));
    assert!(!ok && out.contains("role"), "{out}");
    let (ok, out) =
        staff_cli(&app, &["add", "x@platform.example", "--role", "release_manager"], &format!("{PASSWORD}\n"));
    assert!(ok, "{out}");
    let (ok, out) = staff_cli(&app, &["add", "X@platform.example", "--role", "support"], &format!("{PASSWORD}\n"));
    assert!(!ok && out.contains("exists"), "{out}");
    let (ok, out) = staff_cli(&app, &["disable", "ghost@platform.example"], "");
    assert!(!ok, "{out}");
}

fn verify(app: &TestApp) -> (bool, String) {
    let out = Command::new(BIN)
        .env("ORGANIZEO_DATABASE_URL", app.db.url_string())
        .env("ORGANIZEO_LOG", "warn")
        .args(["audit", "verify"])
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string())
}

both_backends!(
    staff_sign_in_requires_totp_and_refuses_replays,
    staff_and_portal_tokens_never_cross,
    staff_sign_in_is_throttled,
    staff_actions_are_in_the_verified_platform_chain,
    staff_cli_applies_the_password_policy_and_roles,
);
