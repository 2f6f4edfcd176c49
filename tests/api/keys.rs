//! Keys for data at rest on both databases: rotation re-seals values sealed under the old
//! key (resumably, in batches) so the old key can be dropped; a start with a missing or
//! wrong key stops with exit 2 naming the setting.

use std::process::Command;

use organizeo::clock::Clock;
use organizeo::config::{Secret, Settings};
use organizeo::startup::{Application, StartError};
use serde_json::json;

use crate::helpers::{TestApp, PASSWORD};

const BIN: &str = env!("CARGO_BIN_EXE_organizeo");

/// The setting a start-up with these settings is refused on.
fn refused_on(settings: &Settings) -> (String, String) {
    match Application::build(settings.clone(), Clock::manual()) {
        Err(StartError::Config(e)) => (e.setting, e.message),
        Err(StartError::Other(e)) => panic!("expected a configuration error, got {e:#}"),
        Ok(_) => panic!("the server started"),
    }
}

/// Runs `organizeo ARGS` on the app's database with these keys.
fn cli(app: &TestApp, args: &[&str], key: &str, old: &str) -> (Option<i32>, String) {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("ORGANIZEO_") {
            cmd.env_remove(k);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let out = cmd
        .current_dir(dir.path())
        .env("ORGANIZEO_DATABASE_URL", app.db.url_string())
        .env("ORGANIZEO_ENCRYPTION_KEY", key)
        .env("ORGANIZEO_ENCRYPTION_OLD_KEYS", old)
        .env("ORGANIZEO_LISTEN", "127.0.0.1:0")
        .env("ORGANIZEO_LOG", "error")
        .args(args)
        .output()
        .unwrap();
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

async fn signs_in_with_totp(app: &TestApp, email: &str, secret: &str) {
    let r = app.login(email, PASSWORD, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let challenge = r.body["mfa_token"].as_str().unwrap().to_string();
    let r = app.post("/api/v1/auth/mfa", &json!({"mfa_token": challenge, "code": app.totp_code(secret)}), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.clock.advance(chrono::Duration::seconds(30));
}

async fn rotation_reseals_everything_so_the_old_key_can_be_dropped(app: TestApp) {
    let old = app.settings().encryption_key.clone().unwrap().expose().to_string();
    let owner = app.signup("Acme", "ada@acme.example").await;
    let (ada, _) = app.enable_mfa(&owner.token).await;
    let bob = app.member(&owner, "bob@acme.example", "member").await;
    let (bob_secret, _) = app.enable_mfa(&bob.token).await;
    let (_, staff_secret) = crate::staff::staff_member(&app, "sam@platform.example", "support").await;

    // A new active key: the old one must stay listed until everything is re-sealed.
    let new = organizeo::security::crypto::generate_key("k2").unwrap();
    let mut only_new = app.settings().clone();
    only_new.encryption_key = Some(Secret::new(&new));
    only_new.encryption_old_keys = vec![];
    let (setting, message) = refused_on(&only_new);
    assert_eq!(setting, "ORGANIZEO_ENCRYPTION_OLD_KEYS", "{message}");
    assert!(message.contains("users.totp_secret") && message.contains("sealed with key test"), "{message}");
    assert!(!message.contains(&old[5..]), "never prints key material");
    // The right key id with the wrong key material.
    let mut wrong = app.settings().clone();
    wrong.encryption_key = Some(Secret::new(organizeo::security::crypto::generate_key("test").unwrap()));
    let (setting, message) = refused_on(&wrong);
    assert_eq!(setting, "ORGANIZEO_ENCRYPTION_KEY", "{message}");
    assert!(message.contains("wrong key material"), "{message}");
    let (code, out) = cli(&app, &["serve"], &new, "");
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("ORGANIZEO_ENCRYPTION_OLD_KEYS"), "{out}");

    let app = app
        .restart_with(|s| {
            s.encryption_key = Some(Secret::new(&new));
            s.encryption_old_keys = vec![Secret::new(&old)];
        })
        .await;
    // A person enrolling now is sealed under the new key already.
    let cy = app.member(&owner, "cy@acme.example", "viewer").await;
    let (cy_secret, _) = app.enable_mfa(&cy.token).await;

    // Interrupted after one batch of one value, then resumed by the command.
    let db = organizeo::db::Db::connect(&app.db.url(), 1).unwrap();
    let ring = organizeo::startup::keyring(app.settings()).unwrap();
    let first = organizeo::keys::rotate(&db, &ring, 1, Some(1), |_| {}).await.unwrap();
    assert_eq!((first[0].table, first[0].resealed, first[0].remaining), ("users", 1, 1));
    let (code, out) = cli(&app, &["keys", "rotate", "--batch", "1"], &new, &old);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("users.totp_secret: 1 re-sealed under k2"), "{out}");
    assert!(out.contains("staff_members.totp_secret: 1 re-sealed under k2"), "{out}");
    let (code, out) = cli(&app, &["keys", "rotate"], &new, &old);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("0 values re-sealed"), "a finished rotation finds nothing: {out}");
    let (code, out) = cli(&app, &["keys", "status"], &new, "");
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("users.totp_secret: 3 under k2") && out.contains("staff_members.totp_secret: 1 under k2"),
        "{out}"
    );

    // The old key dropped: the server starts and every secret still opens.
    let app = app.restart_with(|s| s.encryption_old_keys = vec![]).await;
    signs_in_with_totp(&app, "ada@acme.example", &ada).await;
    signs_in_with_totp(&app, "bob@acme.example", &bob_secret).await;
    signs_in_with_totp(&app, "cy@acme.example", &cy_secret).await;
    let r =
        app.post("/api/v1/staff/login", &json!({"email": "sam@platform.example", "password": PASSWORD}), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let challenge = r.body["mfa_token"].as_str().unwrap().to_string();
    app.clock.advance(chrono::Duration::seconds(30));
    let r = app
        .post("/api/v1/staff/mfa", &json!({"mfa_token": challenge, "code": app.totp_code(&staff_secret)}), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

crate::both_backends!(rotation_reseals_everything_so_the_old_key_can_be_dropped);
