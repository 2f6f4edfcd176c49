//! Erasure on request on both databases: nothing findable by the person's address, phone
//! or names in any text column of any table afterwards; the outbox keeps gap-free
//! tombstones (and a websocket resume shows nothing); the address is suppressed by hash;
//! access is owners, admins and `contacts:erase` keys; another portal's id is a 404.

use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, RunQueryDsl};
use organizeo::db::DbConnection;
use serde_json::json;

use crate::helpers::TestApp;

const EMAIL: &str = "zebulon.quixote@erase-me.example";
const PHONE: &str = "+31 6 9876 5432";
const FIRST: &str = "Zebulon";
const LAST: &str = "Quixotewright";

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Every `(table, text column)` of the database.
fn text_columns(conn: &mut DbConnection) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match conn {
        DbConnection::Sqlite(c) => {
            let tables: Vec<Name> =
                diesel::sql_query("SELECT name FROM sqlite_master WHERE type = 'table'").load(c).unwrap();
            for t in tables {
                let cols: Vec<Name> = diesel::sql_query(format!(
                    "SELECT name FROM pragma_table_info('{}') WHERE upper(type) IN ('TEXT', '')",
                    t.name
                ))
                .load(c)
                .unwrap();
                out.extend(cols.into_iter().map(|col| (t.name.clone(), col.name)));
            }
        }
        DbConnection::Postgresql(c) => {
            #[derive(QueryableByName)]
            struct Col {
                #[diesel(sql_type = Text)]
                table_name: String,
                #[diesel(sql_type = Text)]
                column_name: String,
            }
            let cols: Vec<Col> = diesel::sql_query(
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND data_type IN ('text', 'character varying', 'json', 'jsonb')",
            )
            .load(c)
            .unwrap();
            out.extend(cols.into_iter().map(|c| (c.table_name, c.column_name)));
        }
    }
    out
}

/// Where `needle` (any case) still appears: `table.column (rows)`.
fn findings(app: &TestApp, needles: &[&str]) -> Vec<String> {
    let mut conn = app.db_conn();
    if let DbConnection::Postgresql(c) = &mut conn {
        // Every portal's rows, as the system scope sees them (superuser or not).
        c.batch_execute("BEGIN; SET LOCAL organizeo.system = 'on'").unwrap();
    }
    let columns = text_columns(&mut conn);
    assert!(columns.len() > 50, "only {} text columns found", columns.len());
    let mut found = Vec::new();
    for (table, column) in &columns {
        for needle in needles {
            let sql = format!(
                "SELECT COUNT(*) AS n FROM \"{table}\" WHERE lower(CAST(\"{column}\" AS TEXT)) LIKE '%{}%'",
                needle.to_lowercase()
            );
            let Count { n } = match &mut conn {
                DbConnection::Sqlite(c) => diesel::sql_query(&sql).get_result(c).unwrap(),
                DbConnection::Postgresql(c) => diesel::sql_query(&sql).get_result(c).unwrap(),
            };
            if n > 0 {
                found.push(format!("{table}.{column} ({n} rows with {needle})"));
            }
        }
    }
    found
}

async fn erasure_leaves_nothing_findable_by_the_persons_details(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    app.custom_field(&owner, "contact", "nickname", "text", json!({})).await;
    // A live session, so the portal's tenant actor keeps every frame in its resume history.
    let mut live = app.ws(&owner.token).await;
    live.subscribe("crm", None).await;
    // Created with an Idempotency-Key, so a stored answer quotes the person.
    let created = app
        .client
        .post(app.url("/api/v1/contacts"))
        .bearer_auth(&owner.token)
        .insert_header(("Idempotency-Key", "erase-test-1"))
        .send_json(&json!({"email": EMAIL, "phone": PHONE, "first_name": FIRST, "last_name": LAST,
                           "tags": ["vip"], "custom_fields": {"nickname": format!("{FIRST} the {LAST}")}}))
        .await
        .unwrap();
    let created = crate::helpers::read(created).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_string();
    for i in 0..3 {
        let r = app
            .patch(&format!("/api/v1/contacts/{id}"), &json!({"last_name": format!("{LAST}{i}")}), Some(&owner.token))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let other = app
        .post("/api/v1/contacts", &json!({"email": "keep@acme.example", "first_name": "Keep"}), Some(&owner.token))
        .await;
    assert_eq!(other.status, 201);
    let deal = app.post("/api/v1/deals", &json!({"name": "Big one", "contact_ids": [id]}), Some(&owner.token)).await;
    assert_eq!(deal.status, 201, "{}", deal.text);
    // An import whose row for the same address fails: its error quotes the address.
    let csv =
        format!("email,first_name,last_name,phone\n{EMAIL},{FIRST},{LAST},{PHONE}\nnew@acme.example,New,Person,\n");
    let up = crate::imports::upload(&app, &owner.token, &[("object", "contact"), ("mode", "create")], Some(&csv)).await;
    assert_eq!(up.status, 202, "{}", up.text);
    let done = crate::imports::finished(&app, &owner, up.body["id"].as_str().unwrap()).await;
    assert_eq!(done["rows_failed"], 1, "{done}");
    assert!(!findings(&app, &[EMAIL, PHONE, FIRST, LAST]).is_empty(), "the person is stored before");

    // In the trash first: erasure works there too.
    assert_eq!(app.delete(&format!("/api/v1/contacts/{id}"), Some(&owner.token)).await.status, 204);
    let head_before = app.events(&owner.tenant_id).await.len();
    let r = app.post(&format!("/api/v1/contacts/{id}/erase"), &json!({}), Some(&owner.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], id.as_str());
    assert_eq!(r.body["suppressed"], true);
    assert!(r.body["events_tombstoned"].as_u64().unwrap() >= 5, "{}", r.text);
    assert!(r.body["stored_answers_removed"].as_u64().unwrap() >= 1, "{}", r.text);

    let left = findings(&app, &[EMAIL, PHONE, FIRST, LAST, "quixote"]);
    assert!(left.is_empty(), "still findable after erasure: {left:?}");

    // The outbox: gap-free, the record's events tombstoned, and one contact.erased.
    let events = app.events(&owner.tenant_id).await;
    assert_eq!(events.len(), head_before + 1);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as i64 + 1);
        if e.record_id == id {
            assert_eq!(serde_json::from_str::<serde_json::Value>(&e.data).unwrap(), json!({"id": id, "erased": true}));
            assert!(e.diff.is_none());
        }
    }
    assert_eq!(events.last().unwrap().event_type, "contact.erased");

    // A websocket resuming from the start sees tombstones only, although the tenant actor
    // had every frame in memory.
    live.until("event", Some("contact.erased")).await;
    let mut ws = app.ws(&owner.token).await;
    let frames = ws.subscribe("crm", Some(0)).await;
    let text = serde_json::to_string(&frames).unwrap().to_lowercase();
    assert!(frames.len() as i64 >= head_before as i64, "{} frames", frames.len());
    for needle in [EMAIL, FIRST, LAST, "9876"] {
        assert!(!text.contains(&needle.to_lowercase()), "{needle} in the resumed frames");
    }
    ws.close().await;
    live.close().await;

    // Gone for every reader; erasing again is a 404; other records stay.
    assert_eq!(app.get(&format!("/api/v1/contacts/{id}"), Some(&owner.token)).await.status, 404);
    app.post(&format!("/api/v1/contacts/{id}/erase"), &json!({}), Some(&owner.token)).await.problem(404, "not_found");
    let list = app.get("/api/v1/contacts", Some(&owner.token)).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 2, "the other contact and the imported one stay");
    let audit = app.get("/api/v1/audit-log?action=contact.erased", Some(&owner.token)).await;
    assert_eq!(audit.body["data"][0]["target"]["id"], id.as_str(), "{}", audit.text);

    // Suppressed by hash, in this portal only.
    let db = organizeo::db::Db::connect(&app.db.url(), 1).unwrap();
    let ring = organizeo::startup::keyring(app.settings()).unwrap();
    let tenant = organizeo::domain::TenantId::from_db(owner.tenant_id.clone());
    use organizeo::erasure::suppression::is_suppressed;
    assert!(is_suppressed(&db, &ring, &tenant, &EMAIL.to_uppercase()).await.unwrap());
    assert!(!is_suppressed(&db, &ring, &tenant, "keep@acme.example").await.unwrap());
    let other_portal = app.signup("Bolt", "bob@bolt.example").await;
    let bolt = organizeo::domain::TenantId::from_db(other_portal.tenant_id.clone());
    assert!(!is_suppressed(&db, &ring, &bolt, EMAIL).await.unwrap());
    let report = organizeo::db::system::verify_audit(&app.db.url()).unwrap();
    assert!(report.first_break.is_none());
}

async fn erasure_is_for_owners_admins_and_erase_keys_within_one_portal(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let other = app.signup("Bolt", "bob@bolt.example").await;
    let member = app.member(&owner, "mem@acme.example", "member").await;
    let admin = app.member(&owner, "adm@acme.example", "admin").await;
    let contact = |email: &'static str| {
        let app = &app;
        let token = owner.token.clone();
        async move {
            let r = app.post("/api/v1/contacts", &json!({"email": email}), Some(&token)).await;
            r.body["id"].as_str().unwrap().to_string()
        }
    };
    let a = contact("a@x.example").await;
    let erase = |id: &str| format!("/api/v1/contacts/{id}/erase");

    app.post(&erase(&a), &json!({}), Some(&member.token)).await.problem(403, "forbidden");
    app.post(&erase(&a), &json!({}), Some(&other.token)).await.problem(404, "not_found");
    app.post(&erase("not-a-uuid"), &json!({}), Some(&owner.token)).await.problem(404, "not_found");
    app.post(&erase(&uuid::Uuid::now_v7().to_string()), &json!({}), Some(&owner.token)).await.problem(404, "not_found");
    let key = |scope: &str| {
        let app = &app;
        let (token, scope) = (owner.token.clone(), scope.to_string());
        async move {
            let r = app.post("/api/v1/api-keys", &json!({"name": scope, "scopes": [scope]}), Some(&token)).await;
            assert_eq!(r.status, 201, "{}", r.text);
            r.body["key"].as_str().unwrap().to_string()
        }
    };
    let writer = key("contacts:write").await;
    app.post(&erase(&a), &json!({}), Some(&writer)).await.problem(403, "insufficient_scope");
    let eraser = key("contacts:erase").await;
    assert_eq!(app.get(&format!("/api/v1/contacts/{a}"), Some(&eraser)).await.status, 403, "erase does not read");
    let r = app.post(&erase(&a), &json!({}), Some(&eraser)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let b = contact("b@x.example").await;
    assert_eq!(app.post(&erase(&b), &json!({}), Some(&admin.token)).await.status, 200);
    // A company id is not a contact.
    let company = app.post("/api/v1/companies", &json!({"name": "Co"}), Some(&owner.token)).await;
    let company = company.body["id"].as_str().unwrap().to_string();
    app.post(&erase(&company), &json!({}), Some(&owner.token)).await.problem(404, "not_found");
    assert_eq!(app.get(&format!("/api/v1/companies/{company}"), Some(&owner.token)).await.status, 200);
    // An unknown scope name is still refused.
    let r =
        app.post("/api/v1/api-keys", &json!({"name": "x", "scopes": ["companies:erase"]}), Some(&owner.token)).await;
    r.problem(422, "validation_failed");
}

async fn a_queued_import_cannot_bring_an_erased_person_back(app: TestApp) {
    let owner = app.signup("Acme", "ada@acme.example").await;
    let app = app.restart_with(|s| s.run_jobs = false).await;
    let r = app
        .post("/api/v1/contacts", &json!({"email": EMAIL, "first_name": FIRST, "last_name": LAST}), Some(&owner.token))
        .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let csv = format!(
        "email,first_name,last_name\n{EMAIL},{FIRST},{LAST}\nother@acme.example,Other,Person\n,{FIRST},{LAST}\n"
    );
    let up = crate::imports::upload(&app, &owner.token, &[("object", "contact"), ("mode", "upsert")], Some(&csv)).await;
    assert_eq!(up.status, 202, "{}", up.text);
    let r = app.post(&format!("/api/v1/contacts/{id}/erase"), &json!({}), Some(&owner.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["import_rows_removed"], 2, "the row with the address and the row with both names: {}", r.text);
    assert!(findings(&app, &[EMAIL, FIRST, LAST]).is_empty());
    let app = app.restart_with(|s| s.run_jobs = true).await;
    let done = crate::imports::finished(&app, &owner, up.body["id"].as_str().unwrap()).await;
    assert_eq!(done["rows_imported"], 1, "{done}");
    let list = app.get("/api/v1/contacts", Some(&owner.token)).await;
    let emails: Vec<&str> =
        list.body["data"].as_array().unwrap().iter().map(|c| c["email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["other@acme.example"]);
}

crate::both_backends!(
    a_queued_import_cannot_bring_an_erased_person_back,
    erasure_leaves_nothing_findable_by_the_persons_details,
    erasure_is_for_owners_admins_and_erase_keys_within_one_portal,
);
