use serde_json::json;

use crate::both_backends;
use crate::helpers::{TestApp, PASSWORD};

async fn signup_creates_portal_owner_and_working_token(app: TestApp) {
    let r = app
        .post(
            "/api/v1/signup",
            &json!({"tenant_name": "Acme Marketing", "email": "Ada@Acme.Example", "password": PASSWORD, "name": "Ada"}),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["tenant"]["name"], "Acme Marketing");
    assert_eq!(r.body["user"]["email"], "ada@acme.example", "emails are stored lower-case");
    assert_eq!(r.body["user"]["name"], "Ada");
    assert_eq!(r.body["user"]["role"], "owner");
    let token = r.body["token"].as_str().unwrap();
    assert!(token.starts_with("ozs_"), "{token}");

    let me = app.get("/api/v1/me", Some(token)).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["user"]["id"], r.body["user"]["id"]);
    assert_eq!(me.body["tenant"]["id"], r.body["tenant"]["id"]);
    assert_eq!(me.body["role"], "owner");
    assert_eq!(me.body["mfa_enabled"], false);
}

async fn duplicate_signup_is_409_whatever_the_case_and_changes_nothing(app: TestApp) {
    let first = app.signup("Acme", "ada@acme.example").await;
    let r = app
        .post(
            "/api/v1/signup",
            &json!({"tenant_name": "Other", "email": "ADA@acme.example", "password": "An0ther!Secret", "name": "Eve"}),
            None,
        )
        .await;
    r.problem(409, "conflict");
    // The original account is untouched: its password still works, the new one does not,
    // and it still belongs to exactly one portal.
    assert_eq!(app.login("ada@acme.example", "An0ther!Secret", None).await.status, 401);
    let login = app.login("ada@acme.example", PASSWORD, None).await;
    assert_eq!(login.status, 200, "{}", login.text);
    let mine = app.get("/api/v1/me/tenants", Some(&first.token)).await;
    assert_eq!(mine.body["data"].as_array().unwrap().len(), 1);
}

async fn each_password_rule_is_refused_with_422_naming_it(app: TestApp) {
    let cases = [
        ("Sh0rt!x", "min_length"),
        ("n0-upper-case!", "uppercase"),
        ("N0-LOWER-CASE!", "lowercase"),
        ("No-Digits-Here!", "digit"),
        ("NoSpecials1234", "special"),
        ("P@ssw0rd", "breached"),
        ("Password1!", "breached"),
        // Every character rule met, guessed at once: zxcvbn scores these below 3.
        ("Passw0rd!", "weak"),
        ("Summer2024!", "weak"),
        ("Qwerty123!", "weak"),
        ("Welkom01!", "weak"),
    ];
    for (password, rule) in cases {
        let r = app
            .post(
                "/api/v1/signup",
                &json!({"tenant_name": "Acme", "email": "ada@acme.example", "password": password, "name": "Ada"}),
                None,
            )
            .await;
        let p = r.problem(422, "validation_failed");
        let rules: Vec<&str> = p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["field"] == "password")
            .map(|e| e["rule"].as_str().unwrap())
            .collect();
        assert_eq!(rules, vec![rule], "password {password:?}: {}", r.text);
    }
    // None of the refusals created anything: the email is still free.
    app.signup("Acme", "ada@acme.example").await;
}

async fn long_passphrases_are_accepted_and_never_truncated(app: TestApp) {
    let long = format!("Aa1!{}", "correct horse battery staple ".repeat(8));
    assert!(long.chars().count() >= 200);
    let r = app
        .post(
            "/api/v1/signup",
            &json!({"tenant_name": "Acme", "email": "ada@acme.example", "password": long, "name": "Ada"}),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(app.login("ada@acme.example", &long, None).await.status, 200);
    // A prefix (what a truncating hash like bcrypt would compare) must not sign in.
    let prefix: String = long.chars().take(128).collect();
    assert_eq!(app.login("ada@acme.example", &prefix, None).await.status, 401);
    let one_off = format!("{long}x");
    assert_eq!(app.login("ada@acme.example", &one_off, None).await.status, 401);
}

async fn signup_reports_every_invalid_field_at_once(app: TestApp) {
    let r = app
        .post("/api/v1/signup", &json!({"tenant_name": "  ", "email": "not-an-email", "password": "abc"}), None)
        .await;
    let p = r.problem(422, "validation_failed");
    let fields: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    for f in ["tenant_name", "name", "email", "password"] {
        assert!(fields.contains(&f), "{f} not reported: {}", r.text);
    }
}

/// A password typed with composed (`é`) or decomposed (`e` + U+0301, macOS) characters is
/// one password (NFKC, NIST SP 800-63B); a hash made before normalisation still signs in
/// and is upgraded on the way.
async fn composed_and_decomposed_passwords_are_the_same_password(app: TestApp) {
    let composed = "Cr\u{e8}me-Br\u{fb}l\u{e9}e-Vlinder7";
    let decomposed = "Cre\u{300}me-Bru\u{302}le\u{301}e-Vlinder7";
    let r = app
        .post(
            "/api/v1/signup",
            &json!({"tenant_name": "Acme", "email": "ada@acme.example", "password": composed, "name": "Ada"}),
            None,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(app.login("ada@acme.example", decomposed, None).await.status, 200);
    assert_eq!(app.login("ada@acme.example", composed, None).await.status, 200);

    // A legacy hash: the decomposed bytes as typed, stored before normalisation.
    let legacy = organizeo::security::password_hash::hash_normalized(decomposed).unwrap();
    let set = |hash: &str| {
        use diesel::RunQueryDsl;
        let mut conn = app.db_conn();
        diesel::sql_query(format!("UPDATE users SET password_hash = '{hash}' WHERE email = 'ada@acme.example'"))
            .execute(&mut conn)
            .unwrap();
    };
    set(&legacy);
    assert_eq!(app.login("ada@acme.example", decomposed, None).await.status, 200, "the legacy hash still signs in");
    // ... and was replaced by one of the normalised form: the composed form works now too.
    assert_eq!(app.login("ada@acme.example", composed, None).await.status, 200);
}

both_backends!(
    composed_and_decomposed_passwords_are_the_same_password,
    signup_creates_portal_owner_and_working_token,
    duplicate_signup_is_409_whatever_the_case_and_changes_nothing,
    each_password_rule_is_refused_with_422_naming_it,
    long_passphrases_are_accepted_and_never_truncated,
    signup_reports_every_invalid_field_at_once,
);
