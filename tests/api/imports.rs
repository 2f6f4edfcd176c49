//! CSV import jobs (bad rows, upsert, resuming after a stop) and safe CSV exports.

use std::time::Duration as StdDuration;

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{read, wait_for, Signed, TestApp};

/// A multipart/form-data body with text fields and a `file` part.
fn multipart(fields: &[(&str, &str)], file: Option<&str>) -> (String, Vec<u8>) {
    let boundary = "organizeo-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    if let Some(csv) = file {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"data.csv\"\r\nContent-Type: text/csv\r\n\r\n")
                .as_bytes(),
        );
        body.extend(csv.as_bytes());
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(app: &TestApp, token: &str, fields: &[(&str, &str)], file: Option<&str>) -> crate::helpers::Resp {
    let (ct, body) = multipart(fields, file);
    let res = app
        .client
        .post(app.url("/api/v1/imports"))
        .insert_header(("Authorization", format!("Bearer {token}")))
        .insert_header(("Content-Type", ct))
        .send_body(body)
        .await
        .unwrap();
    read(res).await
}

async fn finished(app: &TestApp, who: &Signed, id: &str) -> Value {
    wait_for("import to finish", StdDuration::from_secs(20), || async {
        let r = app.get(&format!("/api/v1/imports/{id}"), Some(&who.token)).await;
        matches!(r.body["status"].as_str(), Some("completed" | "failed")).then_some(r.body)
    })
    .await
}

const MESSY: &str = "email,first_name,last_name,Tier,tags,company_ids\n\
ann@x.example,Ann,Lee,gold,vip; speaker,\n\
bad-email,Bob,,gold,,\n\
,,,,,\n\
cat@x.example,Cat,,platinum,,\n\
\"dan@x.example\",\"Dan \"\"The Man\"\"\",\"Smith,\nJr.\",silver,,\n\
ANN@x.example,Ann again,,,,\n";

async fn a_messy_csv_imports_the_good_rows_and_reports_the_rest(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.post(
        "/api/v1/custom-fields",
        &json!({"object": "contact", "key": "tier", "label": "Tier", "type": "select", "options": ["gold", "silver"]}),
        Some(&owner.token),
    )
    .await;
    let r = upload(
        &app,
        &owner.token,
        &[("object", "contact"), ("mode", "create"), ("mapping", r#"{"Tier": "custom_fields.tier"}"#)],
        Some(MESSY),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!((r.body["status"].as_str(), r.body["rows_total"].as_i64()), (Some("queued"), Some(6)));
    let id = r.body["id"].as_str().unwrap().to_string();
    let job = finished(&app, &owner, &id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!((job["rows_imported"].as_i64(), job["rows_failed"].as_i64()), (Some(2), Some(4)), "{job}");
    let errors: Vec<(i64, String)> = job["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_i64().unwrap(), e["column"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        errors,
        vec![(2, "email".into()), (3, "email".into()), (4, "Tier".into()), (6, "email".into())],
        "{job}"
    );
    assert!(job["errors"][3]["message"].as_str().unwrap().contains("already"), "{job}");

    let dan = app
        .post(
            "/api/v1/contacts/search",
            &json!({"filter_groups": [{"filters": [{"field": "email", "op": "eq", "value": "dan@x.example"}]}]}),
            Some(&owner.token),
        )
        .await;
    let dan = &dan.body["data"][0];
    assert_eq!(dan["first_name"], "Dan \"The Man\"");
    assert_eq!(dan["last_name"], "Smith,\nJr.", "quoted commas and newlines survive");
    assert_eq!(dan["custom_fields"]["tier"], "silver");
    let ann = app.get("/api/v1/contacts?q=ann@x", Some(&owner.token)).await;
    assert_eq!(ann.body["data"][0]["tags"], json!(["speaker", "vip"]));

    let csv = app.get(&format!("/api/v1/imports/{id}/errors.csv"), Some(&owner.token)).await;
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    assert!(csv.text.starts_with("row,column,message\n2,email,"), "{}", csv.text);
    let actions = app.audit_actions(&owner.token).await;
    assert!(actions.iter().any(|a| a == "import.created"), "{actions:?}");
}

async fn upsert_updates_by_email_and_creates_the_rest(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let ann =
        app.post("/api/v1/contacts", &json!({"email": "ann@x.example", "first_name": "Ann"}), Some(&owner.token)).await;
    let r = upload(
        &app,
        &owner.token,
        &[("object", "contact"), ("mode", "upsert")],
        Some("email,last_name\nANN@x.example,Lee\nbo@x.example,Bo\n"),
    )
    .await;
    let job = finished(&app, &owner, r.body["id"].as_str().unwrap()).await;
    assert_eq!(job["rows_imported"], 2, "{job}");
    let now = app.get(&format!("/api/v1/contacts/{}", ann.body["id"].as_str().unwrap()), Some(&owner.token)).await;
    assert_eq!((now.body["first_name"].as_str(), now.body["last_name"].as_str()), (Some("Ann"), Some("Lee")));
    assert_eq!(app.get("/api/v1/contacts", Some(&owner.token)).await.body["data"].as_array().unwrap().len(), 2);
}

async fn bad_uploads_are_refused_before_any_job_exists(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let member = app.member(&owner, "bob@acme.example", "member").await;
    let ok_csv = "email\na@x.example\n";
    for (fields, file, field) in [
        (vec![("object", "contact")], None, "file"),
        (vec![("object", "widget")], Some(ok_csv), "object"),
        (vec![("object", "company"), ("mode", "upsert")], Some("name\nAcme\n"), "mode"),
        (vec![("object", "contact"), ("mode", "merge")], Some(ok_csv), "mode"),
        (vec![("object", "contact"), ("mapping", "{nope")], Some(ok_csv), "mapping"),
        (vec![("object", "contact"), ("mapping", r#"{"email": "shoe_size"}"#)], Some(ok_csv), "mapping.email"),
        (vec![("object", "contact"), ("mapping", r#"{"Mail": "email"}"#)], Some(ok_csv), "mapping.Mail"),
    ] {
        let r = upload(&app, &owner.token, &fields, file).await;
        assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], field, "{fields:?}");
    }
    upload(&app, &member.token, &[("object", "contact")], Some(ok_csv)).await.problem(403, "forbidden");
    let evil = app.signup("Evil", "eve@evil.example").await;
    let r = upload(&app, &owner.token, &[("object", "contact")], Some(ok_csv)).await;
    let id = r.body["id"].as_str().unwrap();
    app.get(&format!("/api/v1/imports/{id}"), Some(&evil.token)).await.problem(404, "not_found");
    app.get("/api/v1/imports/not-an-id", Some(&owner.token)).await.problem(404, "not_found");
}

async fn an_import_resumes_after_a_stop_without_duplicating_rows(app: TestApp) {
    use organizeo::db::Db;
    let owner = app.signup("Acme", "ada@acme.example").await;
    let csv: String = std::iter::once("email,first_name".to_string())
        .chain((1..=7).map(|i| format!("p{i}@x.example,P{i}")))
        .collect::<Vec<_>>()
        .join("\n");
    // This server runs no job workers: the import waits, queued.
    let app = app.restart_with(|s| s.run_jobs = false).await;
    let r = upload(&app, &owner.token, &[("object", "contact")], Some(&csv)).await;
    let id = r.body["id"].as_str().unwrap().to_string();
    // A worker applies one chunk of 3 rows, then stops (as a crash between chunks would).
    let db = Db::connect(&app.db.url(), 2).unwrap();
    let outcome = organizeo::jobs::imports::step(&db, &app.clock, "worker-a", 3, 1).await.unwrap();
    assert_eq!(outcome, organizeo::jobs::imports::Outcome::Yielded { import: id.clone() });
    let mid = app.get(&format!("/api/v1/imports/{id}"), Some(&owner.token)).await;
    assert_eq!(
        (mid.body["status"].as_str(), mid.body["rows_imported"].as_i64()),
        (Some("running"), Some(3)),
        "{}",
        mid.text
    );
    // A restarted server with workers picks it up where it stopped.
    let app = app.restart_with(|s| s.run_jobs = true).await;
    let job = finished(&app, &owner, &id).await;
    assert_eq!((job["rows_imported"].as_i64(), job["rows_failed"].as_i64()), (Some(7), Some(0)), "{job}");
    let all = app.get("/api/v1/contacts?limit=100", Some(&owner.token)).await;
    assert_eq!(all.body["data"].as_array().unwrap().len(), 7, "every row exactly once");
}

async fn exports_stream_every_record_with_formulas_neutralised(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.post(
        "/api/v1/custom-fields",
        &json!({"object": "contact", "key": "note", "label": "Note", "type": "text"}),
        Some(&owner.token),
    )
    .await;
    let dangerous = [
        ("=HYPERLINK(\"http://evil.example\",\"x\")", "+1 555 0100", "@SUM(A1)"),
        ("-2+3", "555 0101", "-cmd|' /C calc'!A0"),
    ];
    for (i, (first, phone, note)) in dangerous.iter().enumerate() {
        let r = app
            .post(
                "/api/v1/contacts",
                &json!({"email": format!("d{i}@x.example"), "first_name": first, "phone": phone, "custom_fields": {"note": note}, "tags": ["a", "b"]}),
                Some(&owner.token),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    // Enough rows to span several pages of the stream.
    for batch in 0..6 {
        let items: Vec<Value> = (0..100).map(|i| json!({"email": format!("bulk{batch}-{i}@x.example")})).collect();
        app.post("/api/v1/contacts/batch", &json!({"action": "create", "items": items}), Some(&owner.token)).await;
    }
    let r = app.get("/api/v1/exports/contacts.csv", Some(&owner.token)).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/csv"));
    assert!(r.header("content-disposition").unwrap().contains("contacts.csv"));
    let mut reader = csv::Reader::from_reader(r.text.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(
        headers,
        vec![
            "id",
            "created_at",
            "updated_at",
            "email",
            "first_name",
            "last_name",
            "phone",
            "company_ids",
            "tags",
            "custom_fields.note"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 602);
    assert_eq!(&rows[0][4], "'=HYPERLINK(\"http://evil.example\",\"x\")");
    assert_eq!(&rows[0][6], "'+1 555 0100");
    assert_eq!(&rows[0][9], "'@SUM(A1)");
    assert_eq!(&rows[0][8], "a;b");
    assert_eq!(&rows[1][4], "'-2+3");
    // (Tab and carriage return prefixes are trimmed from stored text; the unit tests cover them.)
    assert_eq!(&rows[1][9], "'-cmd|' /C calc'!A0");
    for row in &rows {
        for cell in row.iter() {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "unsafe cell {cell:?}");
        }
    }
    let member = app.member(&owner, "bob@acme.example", "member").await;
    app.get("/api/v1/exports/contacts.csv", Some(&member.token)).await.problem(403, "forbidden");
    app.get("/api/v1/exports/widgets.csv", Some(&owner.token)).await.problem(404, "not_found");
    let key =
        app.post("/api/v1/api-keys", &json!({"name": "bi", "scopes": ["exports:read"]}), Some(&owner.token)).await;
    let by_key = app.get("/api/v1/exports/companies.csv", Some(key.body["key"].as_str().unwrap())).await;
    assert_eq!((by_key.status, by_key.text.lines().count()), (200, 1), "header only: {}", by_key.text);
    let evil = app.signup("Evil", "eve@evil.example").await;
    let theirs = app.get("/api/v1/exports/contacts.csv", Some(&evil.token)).await;
    assert_eq!(theirs.text.lines().count(), 1, "another portal exports only its own");
    assert!(app.audit_actions(&owner.token).await.iter().any(|a| a == "export.created"));
}

/// A NUL in a cell (PostgreSQL text cannot hold one) is that row's error, in a header or
/// the file name it is the upload's; the other rows import.
async fn nul_characters_in_a_csv_are_row_errors(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let csv = "email,first_name,last_name\nann@x.example,Ann,Lee\nbob@x.example,B\u{0}ob,\ncat@x.example,Cat,\u{0}\n";
    let r = upload(&app, &owner.token, &[("object", "contact"), ("mode", "create")], Some(csv)).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let job = finished(&app, &owner, r.body["id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!((job["rows_imported"].as_i64(), job["rows_failed"].as_i64()), (Some(1), Some(2)), "{job}");
    assert_eq!((job["errors"][0]["row"].as_i64(), job["errors"][0]["column"].as_str()), (Some(2), Some("first_name")));
    assert_eq!((job["errors"][1]["row"].as_i64(), job["errors"][1]["column"].as_str()), (Some(3), Some("last_name")));
    assert!(job["errors"][0]["message"].as_str().unwrap().contains("NUL"), "{job}");
    let bad_header = "email,first\u{0}name\nann2@x.example,Ann\n";
    let r = upload(&app, &owner.token, &[("object", "contact"), ("mode", "create")], Some(bad_header)).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = upload(
        &app,
        &owner.token,
        &[("object", "contact"), ("mode", "create"), ("mapping", "{\"a\u{0}\": \"email\"}")],
        Some(csv),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
}

/// Four workers (as on four nodes) stepping at once: each row is applied exactly once.
async fn parallel_workers_apply_each_row_once(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let csv: String = std::iter::once("email,first_name".to_string())
        .chain((1..=40).map(|i| format!("w{i}@x.example,W{i}")))
        .collect::<Vec<_>>()
        .join("\n");
    let app = app.restart_with(|s| s.run_jobs = false).await;
    let r = upload(&app, &owner.token, &[("object", "contact")], Some(&csv)).await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let db = organizeo::db::Db::connect(&app.db.url(), 8).unwrap();
    loop {
        let workers = (0..4).map(|w| {
            let (db, clock) = (&db, &app.clock);
            async move { organizeo::jobs::imports::step(db, clock, &format!("worker-{w}"), 3, 2).await.unwrap() }
        });
        let outcomes = futures_util::future::join_all(workers).await;
        if outcomes.iter().all(|o| *o == organizeo::jobs::imports::Outcome::Idle) {
            break;
        }
    }
    let job = app.get(&format!("/api/v1/imports/{id}"), Some(&owner.token)).await.body;
    assert_eq!((job["status"].as_str(), job["rows_imported"].as_i64()), (Some("completed"), Some(40)), "{job}");
    let created = app.events(&owner.tenant_id).await.iter().filter(|e| e.event_type == "contact.created").count();
    assert_eq!(created, 40, "a row was applied twice or not at all");
}

both_backends!(
    parallel_workers_apply_each_row_once,
    nul_characters_in_a_csv_are_row_errors,
    a_messy_csv_imports_the_good_rows_and_reports_the_rest,
    upsert_updates_by_email_and_creates_the_rest,
    bad_uploads_are_refused_before_any_job_exists,
    an_import_resumes_after_a_stop_without_duplicating_rows,
    exports_stream_every_record_with_formulas_neutralised,
);
