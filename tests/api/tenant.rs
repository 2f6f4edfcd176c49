use serde_json::json;

use crate::both_backends;
use crate::helpers::TestApp;

async fn owner_reads_and_renames_the_portal(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let r = app.get("/api/v1/tenant", Some(&owner.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], owner.tenant_id.as_str());
    assert_eq!(r.body["name"], "Acme");
    let r = app.patch("/api/v1/tenant", &json!({"name": "Acme Growth"}), Some(&owner.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "Acme Growth");
    assert_eq!(app.get("/api/v1/tenant", Some(&owner.token)).await.body["name"], "Acme Growth");
}

async fn tenant_settings_are_validated_and_bad_input_changes_nothing(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.patch("/api/v1/tenant", &json!({"name": ""}), Some(&owner.token)).await.problem(422, "validation_failed");
    app.patch("/api/v1/tenant", &json!({"name": 42}), Some(&owner.token)).await.problem(422, "validation_failed");
    app.patch("/api/v1/tenant", &json!({"name": "x".repeat(201)}), Some(&owner.token))
        .await
        .problem(422, "validation_failed");
    assert_eq!(app.get("/api/v1/tenant", Some(&owner.token)).await.body["name"], "Acme");
}

async fn a_token_only_ever_sees_its_own_portal(app: TestApp) {
    let ada = app.signup("Acme", "ada@acme.example").await;
    let eve = app.signup("Evil", "eve@evil.example").await;
    app.patch("/api/v1/tenant", &json!({"name": "Pwned"}), Some(&eve.token)).await;
    let r = app.get("/api/v1/tenant", Some(&ada.token)).await;
    assert_eq!(r.body["name"], "Acme");
    assert_eq!(r.body["id"], ada.tenant_id.as_str());
}

both_backends!(
    owner_reads_and_renames_the_portal,
    tenant_settings_are_validated_and_bad_input_changes_nothing,
    a_token_only_ever_sees_its_own_portal,
);
