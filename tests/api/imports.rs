//! CSV import jobs (bad rows, upsert, resuming after a stop) and safe CSV exports.

use std::time::Duration as StdDuration;

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{read, wait_for, Signed, TestApp};

/// A multipart/form-data body with text fields and a `file` part.
pub(crate) fn multipart(fields: &[(&str, &str)], file: Option<&str>) -> (String, Vec<u8>) {
    multipart_with("organizeo-test-boundary-7d1f", fields, file)
}

fn multipart_with(boundary: &str, fields: &[(&str, &str)], file: Option<&str>) -> (String, Vec<u8>) {
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

pub(crate) async fn upload(
    app: &TestApp,
    token: &str,
    fields: &[(&str, &str)],
    file: Option<&str>,
) -> crate::helpers::Resp {
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

pub(crate) async fn finished(app: &TestApp, who: &Signed, id: &str) -> Value {
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
    assert_eq!(
        (r.body["status"].as_str(), r.body["rows_total"].as_i64()),
        (Some("queued"), Some(5)),
        "blank row skipped"
    );
    assert_eq!((r.body["delimiter"].as_str(), r.body["encoding"].as_str()), (Some(","), Some("utf-8")));
    let id = r.body["id"].as_str().unwrap().to_string();
    let job = finished(&app, &owner, &id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!((job["rows_imported"].as_i64(), job["rows_failed"].as_i64()), (Some(2), Some(3)), "{job}");
    let errors: Vec<(i64, String)> = job["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_i64().unwrap(), e["column"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(errors, vec![(2, "email".into()), (4, "Tier".into()), (6, "email".into())], "{job}");
    assert!(job["errors"][2]["message"].as_str().unwrap().contains("already"), "{job}");

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
        // Two columns mapped to one field: refused, not one of them silently winning.
        (
            vec![("object", "contact"), ("mapping", r#"{"Work": "email", "Home": "email"}"#)],
            Some("Home,Work\nh@x.example,w@x.example\n"),
            "mapping.Work",
        ),
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
            "external_id",
            "tags",
            "custom_fields.note"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 602);
    assert_eq!(&rows[0][4], "'=HYPERLINK(\"http://evil.example\",\"x\")");
    assert_eq!(&rows[0][6], "'+1 555 0100");
    assert_eq!(&rows[0][10], "'@SUM(A1)");
    assert_eq!(&rows[0][9], "a;b");
    assert_eq!(&rows[1][4], "'-2+3");
    // (Tab and carriage return prefixes are trimmed from stored text; the unit tests cover them.)
    assert_eq!(&rows[1][10], "'-cmd|' /C calc'!A0");
    for row in &rows {
        for cell in row.iter() {
            let number = cell.parse::<f64>().is_ok() && !cell.contains(char::is_alphabetic);
            assert!(number || !cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "unsafe cell {cell:?}");
        }
    }
    let member = app.member(&owner, "bob@acme.example", "member").await;
    app.get("/api/v1/exports/contacts.csv", Some(&member.token)).await.problem(403, "forbidden");
    app.get("/api/v1/exports/widgets.csv", Some(&owner.token)).await.problem(404, "not_found");
    let key = app
        .post(
            "/api/v1/api-keys",
            &json!({"name": "bi", "scopes": ["exports:read", "companies:read"]}),
            Some(&owner.token),
        )
        .await;
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

/// Every object with every field type — values that look like formulas, numbers below
/// zero, phone numbers, `;` and `\` inside tags and options — exported, re-imported in
/// update mode, is equal to what it was.
async fn an_export_reimported_changes_nothing(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let tricky = ["north;south", "a\\b", "-minus", "+plus", "=eq", "'quoted"];
    for object in ["contact", "company", "deal", "ticket", "task", "note"] {
        for (key, kind, extra) in [
            ("t", "text", json!({})),
            ("n", "number", json!({})),
            ("d", "date", json!({})),
            ("b", "boolean", json!({})),
            ("s", "select", json!({"options": tricky})),
            ("m", "multi_select", json!({"options": tricky})),
            ("e", "email", json!({})),
            ("p", "phone", json!({})),
            ("u", "url", json!({})),
        ] {
            app.custom_field(&owner, object, key, kind, extra).await;
        }
    }
    let custom = |i: i64| {
        json!({"t": "-Ann; =1+1 'x' \\ y", "n": -50.25 * i as f64, "d": "2026-01-31", "b": i % 2 == 0,
               "s": "north;south", "m": ["north;south", "a\\b", "-minus", "'quoted"], "e": "ann@x.example",
               "p": "+1 (555) 010-2030", "u": "https://example.com/a;b?c=1"})
    };
    let tags = json!(["north;south", "a\\b", "-minus", "plain", "@at"]);
    let company = app
        .create(&owner, "/api/v1/companies", json!({"name": "=Acme", "domain": "acme.example", "phone": "-555", "tags": tags, "custom_fields": custom(1)}))
        .await;
    let cid = company["id"].clone();
    let contact = app
        .create(
            &owner,
            "/api/v1/contacts",
            json!({"email": "ann@x.example", "first_name": "-Ann", "last_name": "'=x",
            "phone": "+31 6 1234 5678", "company_ids": [cid], "tags": tags, "custom_fields": custom(2)}),
        )
        .await;
    let deal = app
        .create(&owner, "/api/v1/deals", json!({"name": "@Big", "amount": "-50.00", "currency": "EUR", "status": "won",
            "close_date": "2026-12-01", "contact_ids": [contact["id"]], "company_ids": [cid], "tags": tags, "custom_fields": custom(3)}))
        .await;
    let ticket = app
        .create(&owner, "/api/v1/tickets", json!({"subject": "+Help", "description": "line 1\nline 2; with \"quotes\"",
            "status": "pending", "priority": "high", "contact_ids": [contact["id"]], "tags": tags, "custom_fields": custom(4)}))
        .await;
    app.create(&owner, "/api/v1/tasks", json!({"title": "-Call", "due_at": "2026-12-01T10:00:00Z", "completed": true,
        "assignee_id": owner.user_id, "deal_ids": [deal["id"]], "ticket_ids": [ticket["id"]], "tags": tags, "custom_fields": custom(5)}))
        .await;
    app.create(
        &owner,
        "/api/v1/notes",
        json!({"body": "=SUM(A1)\n'-quoted", "contact_ids": [contact["id"]],
        "deal_ids": [deal["id"]], "tags": tags, "custom_fields": custom(6)}),
    )
    .await;
    // Records with only what is required, too.
    app.create(&owner, "/api/v1/contacts", json!({"email": "plain@x.example"})).await;
    app.create(&owner, "/api/v1/tasks", json!({"title": "Plain"})).await;

    for plural in ["contacts", "companies", "deals", "tickets", "tasks", "notes"] {
        let app = &app;
        let all = || {
            let token = owner.token.clone();
            let path = format!("/api/v1/{plural}?limit=100");
            async move {
                let mut list = app.get(&path, Some(&token)).await.body["data"].as_array().unwrap().clone();
                for r in &mut list {
                    r.as_object_mut().unwrap().remove("updated_at");
                }
                list
            }
        };
        let before = all().await;
        let export = app.get(&format!("/api/v1/exports/{plural}.csv"), Some(&owner.token)).await;
        assert_eq!(export.status, 200);
        let object = plural.trim_end_matches('s').replace("companie", "company");
        let r = upload(app, &owner.token, &[("object", &object), ("mode", "update")], Some(&export.text)).await;
        assert_eq!(r.status, 202, "{plural}: {}", r.text);
        let job = finished(app, &owner, r.body["id"].as_str().unwrap()).await;
        assert_eq!(
            (job["rows_imported"].as_i64(), job["rows_failed"].as_i64()),
            (Some(before.len() as i64), Some(0)),
            "{plural}: {job}\n{}",
            export.text
        );
        assert_eq!(all().await, before, "{plural} changed in the round trip:\n{}", export.text);
    }
}

/// Files as Excel writes them in Dutch, German and French locales: `;`-separated,
/// Windows-1252, a `sep=` line or a byte-order mark, blank rows below the data, cells
/// guarded with a quote.
async fn spreadsheet_files_import_as_written(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let upload_bytes = |bytes: Vec<u8>, fields: Vec<(&'static str, &'static str)>| {
        let token = owner.token.clone();
        let app = &app;
        async move {
            let boundary = "organizeo-test-boundary-7d1f";
            let mut body = Vec::new();
            for (name, value) in fields {
                body.extend(
                    format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                        .as_bytes(),
                );
            }
            body.extend(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.csv\"\r\n\r\n")
                    .as_bytes(),
            );
            body.extend(bytes);
            body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
            let res = app
                .client
                .post(app.url("/api/v1/imports"))
                .insert_header(("Authorization", format!("Bearer {token}")))
                .insert_header(("Content-Type", format!("multipart/form-data; boundary={boundary}")))
                .send_body(body)
                .await
                .unwrap();
            read(res).await
        }
    };
    // Excel "CSV (gescheiden door lijstscheidingsteken)": Windows-1252, ';', CRLF, blank rows.
    let mut dutch = b"email;first_name;last_name;phone;tags\r\n".to_vec();
    dutch.extend(b"jose@x.example;Jos\xe9;M\xfcller;'+31 6 1234 5678;vip;\r\n");
    dutch.extend(b"\"anne@x.example\";Anne;\"de Vries; jr.\";;\r\n;;;;\r\n;;;;\r\n");
    let r = upload_bytes(dutch, vec![("object", "contact")]).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(
        (r.body["rows_total"].as_i64(), r.body["delimiter"].as_str(), r.body["encoding"].as_str()),
        (Some(2), Some(";"), Some("windows-1252"))
    );
    let job = finished(&app, &owner, r.body["id"].as_str().unwrap()).await;
    assert_eq!((job["rows_imported"].as_i64(), job["rows_failed"].as_i64()), (Some(2), Some(0)), "{job}");
    let jose = app.get("/api/v1/contacts?q=jose@x", Some(&owner.token)).await.body["data"][0].clone();
    assert_eq!(
        (jose["first_name"].as_str(), jose["last_name"].as_str(), jose["phone"].as_str()),
        (Some("José"), Some("Müller"), Some("+31 6 1234 5678"))
    );
    let anne = app.get("/api/v1/contacts?q=anne@x", Some(&owner.token)).await.body["data"][0].clone();
    assert_eq!(anne["last_name"], "de Vries; jr.");

    // UTF-8 with a byte-order mark and Excel's sep= line; a tab-separated file.
    let bom = "\u{feff}sep=;\r\nemail;first_name\r\nbom@x.example;Zoë\r\n".as_bytes().to_vec();
    let r = upload_bytes(bom, vec![("object", "contact")]).await;
    assert_eq!((r.status, r.body["encoding"].as_str()), (202, Some("utf-8")), "{}", r.text);
    finished(&app, &owner, r.body["id"].as_str().unwrap()).await;
    let zoe = app.get("/api/v1/contacts?q=bom@x", Some(&owner.token)).await.body["data"][0].clone();
    assert_eq!(zoe["first_name"], "Zoë");
    let r = upload_bytes(b"email\tfirst_name\ntab@x.example\tTab\n".to_vec(), vec![("object", "contact")]).await;
    assert_eq!((r.status, r.body["delimiter"].as_str()), (202, Some("\t")), "{}", r.text);
    finished(&app, &owner, r.body["id"].as_str().unwrap()).await;

    // What cannot be read is refused, naming the problem, and leaves nothing behind.
    let utf16: Vec<u8> = [0xFF, 0xFE].into_iter().chain("email\n".encode_utf16().flat_map(u16::to_le_bytes)).collect();
    let r = upload_bytes(utf16, vec![("object", "contact")]).await;
    assert!(r.problem(422, "validation_failed")["errors"][0]["message"].as_str().unwrap().contains("UTF-8"));
    // The wrong separator given: nothing maps, and the answer says why.
    let r =
        upload_bytes(b"email;first_name\na@x.example;A\n".to_vec(), vec![("object", "contact"), ("delimiter", ",")])
            .await;
    let message = r.problem(422, "validation_failed")["errors"][0]["message"].as_str().unwrap().to_string();
    assert!(message.contains("delimiter"), "{message}");
    let r = upload_bytes(b"a\n1\n".to_vec(), vec![("object", "contact"), ("delimiter", "#")]).await;
    assert_eq!(r.problem(422, "validation_failed")["errors"][0]["field"], "delimiter");
    let contacts =
        app.get("/api/v1/contacts?limit=100", Some(&owner.token)).await.body["data"].as_array().unwrap().len();
    assert_eq!(contacts, 4);
}

/// Staged rows are the job: an upload cut off while staging is removed by the purge, an
/// import accepted before staging existed (its file kept whole) is staged at start and
/// completes, and a finished import keeps no rows.
async fn staged_rows_are_resumed_cleaned_and_migrated(app: TestApp) {
    use diesel::RunQueryDsl;
    let owner = app.signup("Acme", "ada@acme.example").await;
    let count = |app: &TestApp, sql: &str| -> i64 {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query(sql).get_result::<N>(&mut app.db_conn()).unwrap().n
    };
    let r = upload(&app, &owner.token, &[("object", "contact")], Some("email\na@x.example\nb@x.example\n")).await;
    finished(&app, &owner, r.body["id"].as_str().unwrap()).await;
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM import_rows"), 0, "applied rows are deleted");

    let app = app.restart_with(|s| s.run_jobs = false).await;
    let old = (app.clock.now() - chrono::Duration::hours(2)).naive_utc().format("%Y-%m-%d %H:%M:%S").to_string();
    let legacy = "email,first_name\nold1@x.example,Old\nold2@x.example,Older\n";
    {
        let mut conn = app.db_conn();
        for (id, status) in
            [("0190a000-0000-7000-8000-000000000001", "staging"), ("0190a000-0000-7000-8000-000000000002", "queued")]
        {
            diesel::sql_query(format!(
                "INSERT INTO imports (id, tenant_id, object, mode, mapping, status, rows_total, rows_imported, rows_failed, errors, next_row, created_at, updated_at)
                 VALUES ('{id}', '{}', 'contact', 'create', 'null', '{status}', 2, 0, 0, '[]', 1, '{old}', '{old}')",
                owner.tenant_id
            ))
            .execute(&mut conn)
            .unwrap();
        }
        diesel::sql_query(format!(
            "INSERT INTO import_rows (import_id, tenant_id, row_no, cells) VALUES ('0190a000-0000-7000-8000-000000000001', '{}', 1, '[\"cut@x.example\"]')",
            owner.tenant_id
        ))
        .execute(&mut conn)
        .unwrap();
        let hex: String = legacy.bytes().map(|b| format!("{b:02x}")).collect();
        let blob = if app.is_postgres() { format!("'\\x{hex}'::bytea") } else { format!("x'{hex}'") };
        diesel::sql_query(format!(
            "INSERT INTO import_files (import_id, tenant_id, file) VALUES ('0190a000-0000-7000-8000-000000000002', '{}', {blob})",
            owner.tenant_id
        ))
        .execute(&mut conn)
        .unwrap();
    }
    let db = organizeo::db::Db::connect(&app.db.url(), 2).unwrap();
    // (The server's own purge may get there first; either way it is the same pass.)
    organizeo::jobs::purge::step(&db, &app.clock).await.unwrap();
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM imports WHERE status = 'staging'"), 0);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM import_rows"), 0, "the cut-off upload's rows went with it");

    let app = app.restart_with(|s| s.run_jobs = true).await;
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM import_files"), 0, "the kept file was staged at start");
    let job = finished(&app, &owner, "0190a000-0000-7000-8000-000000000002").await;
    assert_eq!((job["status"].as_str(), job["rows_imported"].as_i64()), (Some("completed"), Some(2)), "{job}");
    let old = app.get("/api/v1/contacts?q=old2@x", Some(&owner.token)).await;
    assert_eq!(old.body["data"][0]["first_name"], "Older");
}

/// An upload larger than the JSON body limit may carry an `Idempotency-Key`: the retry
/// gets the first answer and starts no second import.
async fn an_upload_may_carry_an_idempotency_key(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let filler = "x".repeat(1500);
    let csv: String = std::iter::once("email,first_name,ignored".to_string())
        .chain((1..=2000).map(|i| format!("k{i}@x.example,K{i},{filler}")))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(csv.len() > 2 * 1024 * 1024);
    let send = |key: &'static str, file: String| {
        // A new random boundary each time, as browsers and python-requests do.
        let boundary = format!("----client{}", uuid::Uuid::new_v4().simple());
        let (ct, body) = multipart_with(&boundary, &[("object", "contact")], Some(&file));
        let token = owner.token.clone();
        let app = &app;
        async move {
            let res = app
                .client
                .post(app.url("/api/v1/imports"))
                .insert_header(("Authorization", format!("Bearer {token}")))
                .insert_header(("Content-Type", ct))
                .insert_header(("Idempotency-Key", key))
                .send_body(body)
                .await
                .unwrap();
            read(res).await
        }
    };
    let first = send("upload-1", csv.clone()).await;
    assert_eq!(first.status, 202, "{}", first.text);
    let again = send("upload-1", csv.clone()).await;
    assert_eq!((again.status, again.header("idempotent-replayed")), (202, Some("true".to_string())), "{}", again.text);
    assert_eq!(again.body["id"], first.body["id"]);
    let other = send("upload-1", csv.replace("K1,", "Other,")).await;
    assert_eq!(other.status, 422, "{}", other.text);
    let job = finished(&app, &owner, first.body["id"].as_str().unwrap()).await;
    assert_eq!(job["rows_imported"], 2000, "{job}");
    let created = app.events(&owner.tenant_id).await.iter().filter(|e| e.event_type == "contact.created").count();
    assert_eq!(created, 2000, "one import, not two");
}

/// A key imports or exports an object only with that object's scope as well: imports:write
/// alone edits nothing, exports:read alone reads nothing, and an import's errors are read
/// with the object's read scope.
async fn imports_and_exports_need_the_objects_scope_too(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let deal = app.post("/api/v1/deals", &json!({"name": "Big", "amount": "10.00"}), Some(&owner.token)).await;
    let deal_id = deal.body["id"].as_str().unwrap().to_string();
    app.post("/api/v1/notes", &json!({"body": "the secret plan"}), Some(&owner.token)).await;
    let key = |scopes: Value| {
        let (app, owner) = (&app, &owner);
        async move {
            let r = app.post("/api/v1/api-keys", &json!({"name": "k", "scopes": scopes}), Some(&owner.token)).await;
            r.body["key"].as_str().unwrap().to_string()
        }
    };
    let only_imports = key(json!(["imports:write"])).await;
    let csv = format!("id,name,amount\n{deal_id},Hijacked,0.01\n");
    let r = upload(&app, &only_imports, &[("object", "deal"), ("mode", "update")], Some(&csv)).await;
    r.problem(403, "insufficient_scope");
    let r = upload(&app, &only_imports, &[("object", "contact")], Some("email\nx@x.example\n")).await;
    r.problem(403, "insufficient_scope");
    let d = app.get(&format!("/api/v1/deals/{deal_id}"), Some(&owner.token)).await;
    assert_eq!(d.body["name"], "Big", "nothing changed");

    let both = key(json!(["imports:write", "deals:write"])).await;
    let r = upload(&app, &both, &[("object", "deal"), ("mode", "update")], Some(&csv)).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let import_id = r.body["id"].as_str().unwrap().to_string();
    let done = wait_for("import to finish", StdDuration::from_secs(20), || async {
        let r = app.get(&format!("/api/v1/imports/{import_id}"), Some(&both)).await;
        matches!(r.body["status"].as_str(), Some("completed" | "failed")).then_some(r.body)
    })
    .await;
    assert_eq!(done["rows_imported"], 1, "{done}");
    // Reading that import's errors needs deals:read as well as imports:read.
    let imports_read = key(json!(["imports:read"])).await;
    app.get(&format!("/api/v1/imports/{import_id}/errors.csv"), Some(&imports_read))
        .await
        .problem(403, "insufficient_scope");

    let only_exports = key(json!(["exports:read"])).await;
    for file in ["notes", "deals", "contacts"] {
        app.get(&format!("/api/v1/exports/{file}.csv"), Some(&only_exports)).await.problem(403, "insufficient_scope");
    }
    let with_contacts = key(json!(["exports:read", "contacts:read"])).await;
    app.get("/api/v1/exports/notes.csv", Some(&with_contacts)).await.problem(403, "insufficient_scope");
    let r = app.get("/api/v1/exports/contacts.csv", Some(&with_contacts)).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

both_backends!(
    imports_and_exports_need_the_objects_scope_too,
    an_upload_may_carry_an_idempotency_key,
    an_export_reimported_changes_nothing,
    spreadsheet_files_import_as_written,
    staged_rows_are_resumed_cleaned_and_migrated,
    parallel_workers_apply_each_row_once,
    nul_characters_in_a_csv_are_row_errors,
    a_messy_csv_imports_the_good_rows_and_reports_the_rest,
    upsert_updates_by_email_and_creates_the_rest,
    bad_uploads_are_refused_before_any_job_exists,
    an_import_resumes_after_a_stop_without_duplicating_rows,
    exports_stream_every_record_with_formulas_neutralised,
);
