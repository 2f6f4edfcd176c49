//! The two walls between portals: every query on tenant data goes through the tenant
//! handle (checked here by reading the source tree), and on PostgreSQL row-level security
//! hides other portals' rows from a query that forgot its filter.

use diesel::connection::SimpleConnection;
use diesel::sql_types::BigInt;
use diesel::{QueryableByName, RunQueryDsl};
use serde_json::json;

use crate::helpers::spawn_postgres_app;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(conn: &mut organizeo::db::DbConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).load::<Count>(conn).expect(sql)[0].n
}

/// A serving connection (the pool's kind: it acts as `organizeo_app`), running SQL with no
/// tenant filter at all.
#[actix_web::test]
async fn postgres_row_level_security_hides_other_portals_from_an_unfiltered_query() {
    let Some(app) = spawn_postgres_app().await else { return };
    let a = app.signup("Acme", "ada@acme.example").await;
    let b = app.signup("Bolt", "bob@bolt.example").await;
    for (who, n) in [(&a, 3), (&b, 2)] {
        for i in 0..n {
            let r = app.post("/api/v1/contacts", &json!({"email": format!("p{i}@x.example")}), Some(&who.token)).await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
    }
    let mut conn = organizeo::db::ConnectionFactory::existing(app.db.url()).open().expect("serving connection");

    // No scope: tenant tables look empty, however the query is written.
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM records"), 0);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM events"), 0);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM sessions"), 0);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM memberships"), 0);

    // Scoped to portal A: only A's rows, even with no tenant filter in the SQL.
    conn.batch_execute(&format!("BEGIN; SET LOCAL organizeo.tenant_id = '{}'", a.tenant_id)).unwrap();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM records"), 3);
    assert_eq!(count(&mut conn, &format!("SELECT count(*) AS n FROM records WHERE tenant_id = '{}'", b.tenant_id)), 0);
    // Writing a row for another portal is refused by the policy's WITH CHECK.
    let insert = format!(
        "INSERT INTO tags (id, tenant_id, name, name_lower, created_at) \
         VALUES ('00000000-0000-7000-8000-000000000001', '{}', 'x', 'x', now())",
        b.tenant_id
    );
    let refused = conn.batch_execute(&insert).expect_err("a row of portal B written from portal A's scope");
    assert!(refused.to_string().contains("row-level security"), "{refused}");
    conn.batch_execute("ROLLBACK").unwrap();

    // The scope ends with the transaction: the pooled connection carries nothing over.
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM records"), 0);

    // The explicit cross-portal switch (db::system) sees every portal.
    conn.batch_execute("BEGIN; SET LOCAL organizeo.system = 'on'").unwrap();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM records"), 5);
    conn.batch_execute("ROLLBACK").unwrap();

    // And the application itself still works through its handles.
    let list = app.get("/api/v1/contacts", Some(&b.token)).await;
    assert_eq!(list.body["data"].as_array().map(Vec::len), Some(2), "{}", list.text);
}

/// Emails, their revisions and segments (migration 000021) are behind the same wall.
#[actix_web::test]
async fn postgres_row_level_security_covers_emails_revisions_and_segments() {
    let Some(app) = spawn_postgres_app().await else { return };
    let a = app.signup("Acme", "ada@acme.example").await;
    let b = app.signup("Bolt", "bob@bolt.example").await;
    for who in [&a, &b] {
        let r = app.post("/api/v1/emails", &json!({"name": "News", "subject": "Hi"}), Some(&who.token)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app.post("/api/v1/segments", &json!({"name": "All", "filter_groups": []}), Some(&who.token)).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let mut conn = organizeo::db::ConnectionFactory::existing(app.db.url()).open().expect("serving connection");
    let tables = ["emails", "content_revisions", "segments"];
    for table in tables.into_iter().chain(["inapp_messages", "inapp_items", "inapp_counters"]) {
        assert_eq!(count(&mut conn, &format!("SELECT count(*) AS n FROM {table}")), 0, "{table} unscoped");
        let forced = format!(
            "SELECT count(*) AS n FROM pg_class c JOIN pg_policies p ON p.tablename = c.relname \
             WHERE c.relname = '{table}' AND c.relrowsecurity AND c.relforcerowsecurity AND p.policyname = 'tenant_isolation'"
        );
        assert_eq!(count(&mut conn, &forced), 1, "{table}: ENABLE + FORCE row level security and tenant_isolation");
    }
    conn.batch_execute(&format!("BEGIN; SET LOCAL organizeo.tenant_id = '{}'", a.tenant_id)).unwrap();
    for table in tables {
        assert_eq!(count(&mut conn, &format!("SELECT count(*) AS n FROM {table}")), 1, "{table} scoped to A");
    }
    conn.batch_execute("ROLLBACK").unwrap();
}

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Which source files mention `needle`, relative to `src/`.
fn files_mentioning(needles: &[&str]) -> Vec<String> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found: Vec<String> = files
        .into_iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).expect("read source");
            needles.iter().any(|n| text.contains(n))
        })
        .map(|f| f.strip_prefix(&src).expect("under src").to_string_lossy().replace('\\', "/"))
        .collect();
    found.sort();
    found
}

/// Only the credential resolver and sign-in (`identity/`), the jobs and the CLI may read
/// across portals; HTTP handlers and the CRM never can.
#[test]
fn only_identity_jobs_and_the_cli_use_the_cross_portal_module() {
    let users = files_mentioning(&["db::system", "system::enter", "system::read"]);
    let outside: Vec<&String> = users
        .iter()
        .filter(|f| !(f.starts_with("db/") || f.starts_with("identity/") || f.starts_with("jobs/") || *f == "cli.rs"))
        .collect();
    assert!(outside.is_empty(), "db::system used outside identity/, jobs/ and cli.rs: {outside:?}");
    for layer in ["http/", "crm/", "realtime/", "web/"] {
        assert!(!users.iter().any(|f| f.starts_with(layer)), "{layer} uses db::system: {users:?}");
    }
}

/// Raw connections and hand-built tenant handles stay inside `db/`.
#[test]
fn connections_and_tenant_handles_are_made_only_in_db() {
    let outside = |needles: &[&str]| -> Vec<String> {
        files_mentioning(needles).into_iter().filter(|f| !f.starts_with("db/")).collect()
    };
    assert_eq!(outside(&["TenantDb::new", "TenantTx::new"]), Vec::<String>::new());
    assert_eq!(outside(&["DbConnection"]), Vec::<String>::new());
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    v: Option<String>,
}

fn system_setting(conn: &mut organizeo::db::DbConnection) -> Option<String> {
    diesel::sql_query("SELECT current_setting('organizeo.system', true) AS v").load::<Setting>(conn).unwrap()[0]
        .v
        .clone()
}

/// The one-statement credential lookups (migration 000025) see the credential they are
/// given and nothing else: the policy is off for their own query only, inside or outside
/// a transaction, and a portal-scoped transaction stays scoped after calling them.
#[actix_web::test]
async fn postgres_credential_lookups_lift_the_wall_for_their_own_query_only() {
    let Some(app) = spawn_postgres_app().await else { return };
    let a = app.signup("Acme", "ada@acme.example").await;
    let b = app.signup("Bolt", "bob@bolt.example").await;
    let digest = organizeo::security::tokens::digest;
    let mut conn = organizeo::db::ConnectionFactory::existing(app.db.url()).open().expect("serving connection");
    let found = |conn: &mut organizeo::db::DbConnection, token: &str| {
        count(conn, &format!("SELECT count(*) AS n FROM organizeo_session_by_token('{}')", digest(token)))
    };

    // Outside a transaction: the session is found, and afterwards the wall is back.
    assert_eq!(found(&mut conn, &a.token), 1);
    assert_eq!(found(&mut conn, "ozs_not-a-token"), 0);
    assert_ne!(system_setting(&mut conn).as_deref(), Some("on"));
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM sessions"), 0);

    // Inside portal A's transaction: B's session is found by its digest, and the
    // transaction still sees only A's rows afterwards.
    conn.batch_execute(&format!("BEGIN; SET LOCAL organizeo.tenant_id = '{}'", a.tenant_id)).unwrap();
    assert_eq!(found(&mut conn, &b.token), 1);
    assert_ne!(system_setting(&mut conn).as_deref(), Some("on"));
    assert_eq!(count(&mut conn, &format!("SELECT count(*) AS n FROM sessions WHERE tenant_id = '{}'", b.tenant_id)), 0);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM organizeo_key_by_hash('nothing')"), 0);
    assert_ne!(system_setting(&mut conn).as_deref(), Some("on"));
    conn.batch_execute("ROLLBACK").unwrap();

    // And the server resolves both portals' tokens through them.
    assert_eq!(app.get("/api/v1/contacts", Some(&a.token)).await.status, 200);
    assert_eq!(app.get("/api/v1/contacts", Some(&b.token)).await.status, 200);
}
