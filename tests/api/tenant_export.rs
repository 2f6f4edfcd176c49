//! Portal export on both databases: the job is a row (202, then completed by a worker, and
//! resumed after a restart), the zip holds a CSV per object whose rows are the records and
//! JSON for settings, definitions and the audit log, and nothing of another portal;
//! another portal's export id is a 404.

use std::io::Read;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{wait_for, Signed, TestApp};

async fn completed(app: &TestApp, who: &Signed, id: &str) -> Value {
    wait_for("the export to complete", Duration::from_secs(60), || async {
        let r = app.get(&format!("/api/v1/tenant/exports/{id}"), Some(&who.token)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_ne!(r.body["status"], "failed", "{}", r.text);
        (r.body["status"] == "completed").then_some(r.body)
    })
    .await
}

async fn download(app: &TestApp, token: &str, id: &str) -> (u16, Option<String>, Vec<u8>) {
    let mut res = app
        .client
        .get(app.url(&format!("/api/v1/tenant/exports/{id}/download")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let ct = res.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = res.body().limit(256 << 20).await.unwrap().to_vec();
    (res.status().as_u16(), ct, body)
}

fn entry(archive: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str) -> String {
    let mut text = String::new();
    archive.by_name(name).unwrap_or_else(|e| panic!("{name}: {e}")).read_to_string(&mut text).unwrap();
    text
}

async fn the_portal_export_holds_every_record_and_nothing_of_other_portals(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let other = app.signup("Bolt", "bob@bolt.example").await;
    app.custom_field(&owner, "contact", "tier", "text", json!({})).await;
    for i in 0..7 {
        let r = app
            .post(
                "/api/v1/contacts",
                &json!({"email": format!("c{i}@acme.example"), "first_name": format!("-Ann {i}"),
                        "tags": ["vip", "north;south"], "custom_fields": {"tier": "gold"}}),
                Some(&owner.token),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let trashed = app.post("/api/v1/contacts", &json!({"email": "gone@acme.example"}), Some(&owner.token)).await;
    app.delete(&format!("/api/v1/contacts/{}", trashed.body["id"].as_str().unwrap()), Some(&owner.token)).await;
    let r = app.post("/api/v1/companies", &json!({"name": "Acme BV"}), Some(&owner.token)).await;
    assert_eq!(r.status, 201);
    let r = app.post("/api/v1/contacts", &json!({"email": "secret@bolt.example"}), Some(&other.token)).await;
    assert_eq!(r.status, 201);
    // Content: an email with two revisions and a segment (and portal B's, which must not leak).
    let email = app.create(&owner, "/api/v1/emails", json!({"name": "News", "html": "<p>v1</p>"})).await;
    let r = app
        .patch(
            &format!("/api/v1/emails/{}", email["id"].as_str().unwrap()),
            &json!({"html": "<p>v2</p>"}),
            Some(&owner.token),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.create(&owner, "/api/v1/segments", json!({"name": "Gold", "filter_groups": []})).await;
    app.create(&other, "/api/v1/emails", json!({"name": "bolt.example news"})).await;

    let r = app.post("/api/v1/tenant/export", &json!({}), Some(&owner.token)).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.header("location").as_deref(), Some(format!("/api/v1/tenant/exports/{id}").as_str()));
    assert!(matches!(r.body["status"].as_str(), Some("queued" | "running" | "completed")), "{}", r.text);

    // Another portal, a member and a malformed id learn nothing.
    app.get(&format!("/api/v1/tenant/exports/{id}"), Some(&other.token)).await.problem(404, "not_found");
    let (status, _, _) = download(&app, &other.token, &id).await;
    assert_eq!(status, 404);
    let member = app.member(&owner, "mem@acme.example", "member").await;
    app.get(&format!("/api/v1/tenant/exports/{id}"), Some(&member.token)).await.problem(403, "forbidden");
    app.get("/api/v1/tenant/exports/nope", Some(&owner.token)).await.problem(404, "not_found");

    let done = completed(&app, &owner, &id).await;
    assert_eq!(done["download_url"], format!("/api/v1/tenant/exports/{id}/download"));
    let (status, ct, bytes) = download(&app, &owner.token, &id).await;
    assert_eq!(status, 200);
    assert_eq!(ct.as_deref(), Some("application/zip"));
    assert_eq!(bytes.len() as i64, done["bytes"].as_i64().unwrap());
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();

    // contacts.csv: one row per live contact, custom fields as columns; what a re-import reads.
    let contacts = entry(&mut archive, "contacts.csv");
    let mut reader = csv::Reader::from_reader(contacts.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert!(headers.iter().any(|h| h == "custom_fields.tier"), "{headers:?}");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 7, "the live contacts, not the trashed one");
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let mut emails: Vec<&str> = rows.iter().map(|r| &r[col("email")]).collect();
    emails.sort();
    assert_eq!(emails[0], "c0@acme.example");
    assert!(rows.iter().all(|r| &r[col("custom_fields.tier")] == "gold" && r[col("first_name")].starts_with("'-Ann")));
    assert!(rows.iter().all(|r| r[col("tags")].contains("north\\;south")), "list cells escaped as exports write them");
    let companies = entry(&mut archive, "companies.csv");
    assert_eq!(companies.lines().count(), 2, "{companies}");
    for plural in ["deals", "tickets", "tasks", "notes"] {
        assert_eq!(entry(&mut archive, &format!("{plural}.csv")).lines().count(), 1, "{plural}: a header only");
    }

    let settings: Value = serde_json::from_str(&entry(&mut archive, "settings.json")).unwrap();
    assert_eq!(settings["name"], "Acme");
    let fields: Value = serde_json::from_str(&entry(&mut archive, "custom_fields.json")).unwrap();
    assert_eq!(fields[0]["key"], "tier");
    let tags: Value = serde_json::from_str(&entry(&mut archive, "tags.json")).unwrap();
    assert_eq!(tags.as_array().unwrap().len(), 2);
    let pipelines: Value = serde_json::from_str(&entry(&mut archive, "pipelines.json")).unwrap();
    assert!(pipelines.is_array());
    let values: Value = serde_json::from_str(&entry(&mut archive, "custom_values.json")).unwrap();
    assert!(values.is_array());
    let audit: Value = serde_json::from_str(&entry(&mut archive, "audit_log.json")).unwrap();
    let actions: Vec<&str> = audit.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"tenant.export_requested") && actions.contains(&"tenant.created"), "{actions:?}");
    let emails: Value = serde_json::from_str(&entry(&mut archive, "emails.json")).unwrap();
    assert_eq!(emails[0]["email"]["html"], "<p>v2</p>", "{emails}");
    let revisions: Vec<&Value> = emails[0]["revisions"].as_array().unwrap().iter().collect();
    assert_eq!(revisions.iter().map(|r| r["revision"].as_i64().unwrap()).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(revisions[0]["content"]["html"], "<p>v1</p>");
    let segments: Value = serde_json::from_str(&entry(&mut archive, "segments.json")).unwrap();
    assert_eq!((segments[0]["name"].as_str(), &segments[0]["filter_groups"]), (Some("Gold"), &json!([])));
    let manifest: Value = serde_json::from_str(&entry(&mut archive, "manifest.json")).unwrap();
    assert_eq!(manifest["rows"]["contacts.csv"], 7);
    assert_eq!(
        (manifest["rows"]["emails.json"].as_i64(), manifest["rows"]["segments.json"].as_i64()),
        (Some(1), Some(1))
    );

    // Nothing of the other portal anywhere in the archive.
    for i in 0..archive.len() {
        let mut text = String::new();
        archive.by_index(i).unwrap().read_to_string(&mut text).unwrap();
        assert!(!text.contains("bolt.example") && !text.contains(&other.tenant_id), "entry {i} leaks portal B");
    }
    let log = app.audit_actions(&owner.token).await;
    assert!(log.contains(&"tenant.export_downloaded".to_string()), "{log:?}");
}

async fn an_export_queued_before_a_restart_is_built_after_it_and_expires_after_a_week(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let app = app.restart_with(|s| s.run_jobs = false).await;
    let r = app.post("/api/v1/tenant/export", &json!({}), Some(&owner.token)).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let (status, _, body) = download(&app, &owner.token, &id).await;
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&body));
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["code"], "export_not_ready");
    let dir = tempfile::tempdir().unwrap();
    let exports = dir.path().to_path_buf();
    let app = app
        .restart_with(move |s| {
            s.run_jobs = true;
            s.export_dir = exports;
            s.tuning.jobs_interval = Duration::from_millis(50);
        })
        .await;
    let done = completed(&app, &owner, &id).await;
    assert!(done["bytes"].as_i64().unwrap() > 100);
    let archive = dir.path().join(&owner.tenant_id).join(format!("{id}.zip"));
    assert!(archive.exists(), "built under ORGANIZEO_EXPORT_DIR");
    let (status, _, _) = download(&app, &owner.token, &id).await;
    assert_eq!(status, 200);

    // Kept seven days by the clock, then the purge deletes the archive.
    app.clock.advance(chrono::Duration::days(6));
    let db = organizeo::db::Db::connect(&app.db.url(), 1).unwrap();
    assert_eq!(organizeo::jobs::purge::step(&db, &app.clock).await.unwrap().exports, 0);
    app.clock.advance(chrono::Duration::days(2));
    let purged = organizeo::jobs::purge::step(&db, &app.clock).await.unwrap();
    assert!(purged.exports <= 1, "the server's own purge may have been first");
    wait_for("the archive to be deleted", Duration::from_secs(30), || {
        let gone = !archive.exists();
        async move { gone.then_some(()) }
    })
    .await;
    let token = app.sign_in("ada@acme.example").await;
    let r = app.get(&format!("/api/v1/tenant/exports/{id}"), Some(&token)).await;
    assert_eq!(r.body["status"], "expired", "{}", r.text);
    assert!(r.body["download_url"].is_null());
    let (status, _, body) = download(&app, &token, &id).await;
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&body));
}

crate::both_backends!(
    the_portal_export_holds_every_record_and_nothing_of_other_portals,
    an_export_queued_before_a_restart_is_built_after_it_and_expires_after_a_week,
);
