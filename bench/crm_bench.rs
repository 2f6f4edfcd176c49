//! CRM API load client: seeds contacts through the batch API, then measures create, get,
//! list and search throughput and p50/p99 latency over real HTTP, beside the same inserts
//! and selects done with raw SQL on the same database as the limit. Prints figures and the
//! query plans of a search at the seeded size. No assertions: it measures.
//!
//!     cargo run --release --example crm_bench -- sqlite [contacts]
//!     cargo run --release --example crm_bench -- postgres://postgres@127.0.0.1/postgres [contacts]
//!
//! The server runs in this process on its own worker threads; the client shares the
//! machine, as a load balancer's client would not, so figures are a floor.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl};
use organizeo::clock::Clock;
use organizeo::config::{DatabaseUrl, Secret, Settings};
use organizeo::startup::Application;
use serde_json::{json, Value};

#[path = "web_pages.rs"]
mod web_pages;

const CONCURRENCY: usize = 16;

struct Client {
    http: awc::Client,
    base: String,
    token: String,
}

impl Client {
    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let req = self
            .http
            .request(
                awc::http::Method::from_bytes(method.as_bytes()).expect("method"),
                format!("{}{}", self.base, path),
            )
            .insert_header(("Authorization", format!("Bearer {}", self.token)));
        let mut res = match body {
            Some(b) => req.send_json(b).await.expect("send"),
            None => req.send().await.expect("send"),
        };
        let bytes = res.body().limit(64 << 20).await.expect("body");
        (res.status().as_u16(), serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

/// CPU seconds (user + system) this process has used: server and load client together,
/// so a figure per operation is less disturbed by other work on the machine than ops/s.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// CPU seconds the whole machine was busy (every core's user, nice, system, irq and
/// softirq time from `/proc/stat`; 0 where it cannot be read): this process *and* the
/// database server's processes, which `cpu_seconds` does not see. Time stolen by a
/// virtual machine's host is not in it, so on a noisy VM it is steadier than ops/s.
fn machine_busy_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else { return 0.0 };
    let Some(line) = stat.lines().next() else { return 0.0 };
    let ticks: Vec<f64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal …
    let busy: f64 = [0, 1, 2, 5, 6].iter().filter_map(|&i| ticks.get(i)).sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    busy / hz
}

/// Runs `n` operations with `CONCURRENCY` in flight; prints ops/s, p50, p99, the
/// process's CPU microseconds per operation (server + client) and the whole machine's
/// (with the database server).
async fn measure<F, Fut>(name: &str, n: usize, op: F) -> f64
where
    F: Fn(usize) -> Fut + Clone + 'static,
    Fut: std::future::Future<Output = bool> + 'static,
{
    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let busy_before = machine_busy_seconds();
    let mut handles = Vec::new();
    for w in 0..CONCURRENCY {
        let op = op.clone();
        handles.push(actix_web::rt::spawn(async move {
            let mut lat = Vec::new();
            let mut failures = 0;
            let mut i = w;
            while i < n {
                let t = Instant::now();
                if !op(i).await {
                    failures += 1;
                }
                lat.push(t.elapsed());
                i += CONCURRENCY;
            }
            (lat, failures)
        }));
    }
    let mut all = Vec::new();
    let mut failures = 0;
    for h in handles {
        let (lat, f) = h.await.expect("worker");
        all.extend(lat);
        failures += f;
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu_us = (cpu_seconds() - cpu_before) * 1e6 / n.max(1) as f64;
    let busy_us = (machine_busy_seconds() - busy_before) * 1e6 / n.max(1) as f64;
    all.sort();
    let rate = n as f64 / secs;
    println!(
        "{name:<28} {n:>7} ops  {rate:>9.0} ops/s  p50 {:>7.2} ms  p99 {:>7.2} ms  cpu {cpu_us:>6.0} µs/op  machine {busy_us:>6.0} µs/op  failures {failures}",
        percentile(&all, 0.50),
        percentile(&all, 0.99)
    );
    rate
}

fn main() -> std::process::ExitCode {
    // No OpenSSL exit handler racing the pool's threads (see organizeo::db::libpq).
    organizeo::db::libpq::prepare();
    let mut args = std::env::args().skip(1);
    let target = args.next().unwrap_or_else(|| "sqlite".into());
    let contacts: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let (url, admin) = if target == "sqlite" {
        (DatabaseUrl::Sqlite(dir.path().join("bench.db")), None)
    } else {
        let name = format!("oz_bench_{}", uuid::Uuid::new_v4().simple());
        let mut admin = diesel::PgConnection::establish(&target).expect("PostgreSQL");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create database");
        let base = target.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(target.clone());
        (DatabaseUrl::Postgres(format!("{base}/{name}")), Some((target.clone(), name)))
    };
    println!("# organizeo CRM bench: {} with {contacts} contacts, {CONCURRENCY} in flight", url.backend_name());
    let settings = Settings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        database_url: url.clone(),
        // CRM_BENCH_POOL=n: the database pool's size (default 8), to see whether requests
        // queue for connections.
        db_pool_size: std::env::var("CRM_BENCH_POOL").ok().and_then(|v| v.parse().ok()).unwrap_or(8),
        log_level: "warn".into(),
        encryption_key: Some(Secret::new(organizeo::security::crypto::generate_key("bench").expect("key"))),
        ..Settings::default()
    };
    organizeo::telemetry::init(&settings);
    let system = actix_web::rt::System::new();
    let bench_url = url.clone();
    system.block_on(async move {
        let app = Application::build(settings, Clock::system()).expect("server");
        let base = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        actix_web::rt::spawn(app.run_until_stopped());
        let http = awc::Client::builder().timeout(Duration::from_secs(60)).finish();
        let mut signup = http
            .post(format!("{base}/api/v1/signup"))
            .send_json(&json!({"tenant_name": "Bench", "email": "bench@x.example", "password": "Bench-Pa55word!", "name": "B"}))
            .await
            .expect("signup");
        let body: Value = signup.json().await.expect("json");
        let client = std::rc::Rc::new(Client { http, base, token: body["token"].as_str().expect("token").to_string() });
        let tier = client
            .call("POST", "/api/v1/custom-fields", Some(&json!({"object": "contact", "key": "score", "label": "Score", "type": "number"})))
            .await;
        assert_eq!(tier.0, 201);

        // Seed through the batch API, 100 per call.
        let c = client.clone();
        let batches = contacts / 100;
        let rate = measure("seed (batch of 100)", batches, move |b| {
            let c = c.clone();
            async move {
                let items: Vec<Value> = (0..100)
                    .map(|i| {
                        let n = b * 100 + i;
                        json!({"email": format!("seed{n}@x.example"), "first_name": format!("First{n}"), "last_name": format!("Last{}", n % 1000),
                               "custom_fields": {"score": n % 100}, "tags": [format!("t{}", n % 50)]})
                    })
                    .collect();
                let (s, b) = c.call("POST", "/api/v1/contacts/batch", Some(&json!({"action": "create", "items": items}))).await;
                if s != 200 {
                    eprintln!("seed batch {b}: {s} {}", b.to_string().chars().take(300).collect::<String>());
                }
                s == 200
            }
        })
        .await;
        println!("{:<28} {:>9.0} records/s", "  = seeded", rate * 100.0);
        if let DatabaseUrl::Postgres(u) = bench_url.clone() {
            // As after an import (which runs it) or autovacuum's next pass: fresh statistics.
            actix_web::rt::task::spawn_blocking(move || {
                let mut c = diesel::PgConnection::establish(&u).expect("db");
                c.batch_execute("ANALYZE records, record_values, record_tags, tags").expect("analyze");
            })
            .await
            .expect("analyze");
        }

        let c = client.clone();
        let created = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let ids = created.clone();
        measure("create (POST /contacts)", 2000, move |i| {
            let (c, ids) = (c.clone(), ids.clone());
            async move {
                let (s, b) = c.call("POST", "/api/v1/contacts", Some(&json!({"email": format!("new{i}@x.example"), "first_name": "New"}))).await;
                if let Some(id) = b["id"].as_str() {
                    ids.borrow_mut().push(id.to_string());
                }
                s == 201
            }
        })
        .await;
        let ids: std::rc::Rc<Vec<String>> = std::rc::Rc::new(created.borrow().clone());
        let c = client.clone();
        let ids2 = ids.clone();
        // CRM_BENCH_GETS=n: only n gets after the seed and the creates (to profile the
        // cheapest request alone), then stop.
        let only_gets: Option<usize> = std::env::var("CRM_BENCH_GETS").ok().and_then(|v| v.parse().ok());
        measure("get (GET /contacts/{id})", only_gets.unwrap_or(5000), move |i| {
            let (c, ids) = (c.clone(), ids2.clone());
            async move { c.call("GET", &format!("/api/v1/contacts/{}", ids[i % ids.len()]), None).await.0 == 200 }
        })
        .await;
        if only_gets.is_some() {
            handle.stop(true).await;
            return;
        }
        // CRM_BENCH_WEB=only: the web pages alone after the seed; CRM_BENCH_WEB=0: no pages.
        let web = std::env::var("CRM_BENCH_WEB").unwrap_or_default();
        if web != "0" {
            let samples = if web == "only" { 50 } else { 20 };
            web_pages::run(&client.base, &client.token, "bench@x.example", "Bench-Pa55word!", &ids[0], samples).await;
        }
        if web == "only" {
            handle.stop(true).await;
            return;
        }
        let c = client.clone();
        measure("list (25, keyset page)", 2000, move |i| {
            let c = c.clone();
            async move {
                let path = if i % 2 == 0 { "/api/v1/contacts?limit=25".to_string() } else { "/api/v1/contacts?limit=25&sort=-created_at".to_string() };
                c.call("GET", &path, None).await.0 == 200
            }
        })
        .await;
        let c = client.clone();
        let n = contacts;
        measure("search (email eq)", 2000, move |i| {
            let c = c.clone();
            async move {
                let f = json!({"filter_groups": [{"filters": [{"field": "email", "op": "eq", "value": format!("seed{}@x.example", (i * 7919) % n)}]}]});
                let (s, b) = c.call("POST", "/api/v1/contacts/search", Some(&f)).await;
                s == 200 && b["data"].as_array().is_some_and(|d| d.len() == 1)
            }
        })
        .await;
        let c = client.clone();
        measure("search (custom number gte)", 500, move |i| {
            let c = c.clone();
            async move {
                let f = json!({"limit": 25, "filter_groups": [{"filters": [{"field": "custom_fields.score", "op": "gte", "value": i % 100}]}]});
                c.call("POST", "/api/v1/contacts/search", Some(&f)).await.0 == 200
            }
        })
        .await;
        let c = client.clone();
        measure("list sorted (last_name, -custom score)", 1000, move |i| {
            let c = c.clone();
            async move {
                let path = if i % 2 == 0 { "/api/v1/contacts?limit=25&sort=last_name" } else { "/api/v1/contacts?limit=25&sort=-custom_fields.score" };
                let (s, b) = c.call("GET", path, None).await;
                s == 200 && b["data"].as_array().is_some_and(|d| d.len() == 25)
            }
        })
        .await;
        let c = client.clone();
        measure("sorted search + its next page", 500, move |i| {
            let c = c.clone();
            async move {
                // score <= k sorted by -score, then the page after it: two requests per op.
                let (s, first) = c.call("POST", "/api/v1/contacts/search", Some(&json!({"limit": 25, "sort": "-custom_fields.score",
                    "filter_groups": [{"filters": [{"field": "custom_fields.score", "op": "lte", "value": i % 100}]}]}))).await;
                let Some(cursor) = first["next_cursor"].as_str() else { return false };
                let (s3, b) = c.call("POST", "/api/v1/contacts/search", Some(&json!({"limit": 25, "sort": "-custom_fields.score", "after": cursor,
                    "filter_groups": [{"filters": [{"field": "custom_fields.score", "op": "lte", "value": i % 100}]}]}))).await;
                s == 200 && s3 == 200 && b["data"].as_array().is_some_and(|d| !d.is_empty())
            }
        })
        .await;
        let c = client.clone();
        measure("search (tags eq)", 1000, move |i| {
            let c = c.clone();
            async move {
                let f = json!({"limit": 25, "filter_groups": [{"filters": [{"field": "tags", "op": "eq", "value": format!("t{}", i % 50)}]}]});
                let (s, b) = c.call("POST", "/api/v1/contacts/search", Some(&f)).await;
                s == 200 && b["data"].as_array().is_some_and(|d| d.len() == 25)
            }
        })
        .await;
        let c = client.clone();
        let n = contacts;
        measure("search (email eq, sorted by last_name)", 1000, move |i| {
            let c = c.clone();
            async move {
                let f = json!({"sort": "last_name", "filter_groups": [{"filters": [{"field": "email", "op": "eq", "value": format!("seed{}@x.example", (i * 7919) % n)}]}]});
                let (s, b) = c.call("POST", "/api/v1/contacts/search", Some(&f)).await;
                s == 200 && b["data"].as_array().is_some_and(|d| d.len() == 1)
            }
        })
        .await;
        handle.stop(true).await;
    });
    if std::env::var_os("CRM_BENCH_GETS").is_some() || std::env::var("CRM_BENCH_WEB").is_ok_and(|w| w == "only") {
        drop_database(admin);
        return std::process::ExitCode::SUCCESS;
    }

    // The limit: the same inserts and selects in raw SQL on the same database.
    let mut conn = organizeo::db::ConnectionFactory::new(url.clone()).open().expect("db");
    conn.batch_execute("CREATE TABLE bench_raw (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, email TEXT NOT NULL, props TEXT NOT NULL)")
        .expect("table");
    let n = 20_000;
    let t = Instant::now();
    for chunk in 0..(n / 100) {
        let values: Vec<String> = (0..100)
            .map(|i| {
                let k = chunk * 100 + i;
                format!("('{}', 't', 'raw{k}@x.example', '{{\"first_name\":\"F{k}\"}}')", uuid::Uuid::now_v7())
            })
            .collect();
        conn.batch_execute(&format!("INSERT INTO bench_raw VALUES {}", values.join(","))).expect("insert");
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{:<28} {:>7} rows {:>9.0} rows/s (raw SQL, 100 per statement, one connection)",
        "raw insert",
        n,
        n as f64 / secs
    );
    conn.batch_execute("CREATE INDEX bench_raw_email ON bench_raw (email)").expect("index");
    let t = Instant::now();
    for k in 0..5000 {
        conn.batch_execute(&format!("SELECT * FROM bench_raw WHERE email = 'raw{}@x.example'", (k * 7919) % n))
            .expect("select");
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{:<28} {:>7} ops  {:>9.0} ops/s (raw SQL, indexed email, one connection)",
        "raw select",
        5000,
        5000.0 / secs
    );

    // Query plans at this size, of the SQL the server runs (the shapes `db::records` builds,
    // written out with this portal's ids as literals).
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
    }
    let tenant = diesel::sql_query("SELECT id FROM tenants LIMIT 1").get_result::<Id>(&mut conn).expect("tenant").id;
    let score = diesel::sql_query("SELECT id FROM custom_fields WHERE field_key = 'score'")
        .get_result::<Id>(&mut conn)
        .expect("field")
        .id;
    let live = format!("records.tenant_id = '{tenant}' AND records.object = 'contact' AND records.deleted_at IS NULL");
    let values = format!("record_values.tenant_id = '{tenant}' AND record_values.object = 'contact'");
    let sort_key = |column: &str, field: &str| {
        format!("(SELECT sv.{column} FROM record_values sv WHERE sv.record_id = records.id AND sv.ord = 0 AND sv.field = '{field}')")
    };
    let plans = [
        ("search email eq", format!(
            "SELECT records.id FROM records WHERE {live} AND records.id IN (SELECT record_values.record_id FROM record_values \
             WHERE {values} AND record_values.field = 'email' AND record_values.text_value = 'seed42@x.example') ORDER BY records.id LIMIT 26")),
        ("search custom number gte 50 (unselective)", format!(
            "SELECT records.id FROM records WHERE {live} AND EXISTS (SELECT record_values.record_id FROM record_values \
             WHERE record_values.record_id = records.id AND record_values.field = 'cf:{score}' AND record_values.num_value >= 50) \
             ORDER BY records.id LIMIT 26")),
        ("search tags eq", format!(
            "SELECT records.id FROM records WHERE {live} AND records.id IN (SELECT record_tags.record_id FROM record_tags \
             INNER JOIN tags ON record_tags.tag_id = tags.id WHERE record_tags.tenant_id = '{tenant}' AND tags.tenant_id = '{tenant}' AND tags.name_lower IN ('t7') \
             AND tags.deleted_at IS NULL) ORDER BY records.id LIMIT 26")),
        ("sort=last_name, first page (window pass)", format!(
            "SELECT records.id, {k} FROM records WHERE {live} AND records.id IN (SELECT record_values.record_id FROM record_values \
             WHERE {values} AND record_values.field = 'last_name' AND record_values.ord = 0 AND record_values.text_value IS NOT NULL \
             ORDER BY record_values.text_value ASC, record_values.record_id ASC LIMIT 104) ORDER BY {k} ASC, records.id ASC LIMIT 26",
            k = sort_key("text_value", "last_name"))),
        ("sort=-custom score, page from a cursor (window pass)", format!(
            "SELECT records.id, {k} FROM records WHERE {live} AND records.id IN (SELECT record_values.record_id FROM record_values \
             WHERE {values} AND record_values.field = 'cf:{score}' AND record_values.ord = 0 AND record_values.num_value <= 50 \
             AND (record_values.num_value < 50 OR record_values.record_id < 'ffffffff') \
             ORDER BY record_values.num_value DESC, record_values.record_id DESC LIMIT 104) ORDER BY {k} DESC, records.id DESC LIMIT 26",
            k = sort_key("num_value", &format!("cf:{score}")))),
        ("email eq sorted by last_name (second pass, every value)", format!(
            "SELECT records.id, {k} FROM records WHERE {live} AND records.id IN (SELECT record_values.record_id FROM record_values \
             WHERE {values} AND record_values.field = 'email' AND record_values.text_value = 'seed42@x.example') \
             AND EXISTS (SELECT record_values.record_id FROM record_values WHERE record_values.record_id = records.id \
             AND record_values.field = 'last_name' AND record_values.ord = 0 AND record_values.text_value IS NOT NULL) \
             ORDER BY {k} ASC, records.id ASC LIMIT 26",
            k = sort_key("text_value", "last_name"))),
        ("a record's tags (every record view)", format!(
            "SELECT tags.name FROM tags INNER JOIN record_tags ON record_tags.tag_id = tags.id WHERE record_tags.tenant_id = '{tenant}' \
             AND record_tags.record_id = (SELECT id FROM records WHERE tenant_id = '{tenant}' LIMIT 1) AND tags.deleted_at IS NULL \
             ORDER BY tags.name_lower")),
        ("sort=updated_at, first page", format!(
            "SELECT records.id FROM records WHERE {live} ORDER BY records.updated_at ASC, records.id ASC LIMIT 26")),
    ];
    let explain = match url {
        DatabaseUrl::Sqlite(_) => "EXPLAIN QUERY PLAN",
        DatabaseUrl::Postgres(_) => "EXPLAIN (ANALYZE, COSTS OFF)",
    };
    if let organizeo::db::DbConnection::Postgresql(c) = &mut conn {
        c.batch_execute("ANALYZE").expect("analyze");
    }
    for (name, q) in plans {
        println!("\n# plan: {name} ({explain})");
        match &mut conn {
            organizeo::db::DbConnection::Sqlite(c) => {
                #[derive(QueryableByName)]
                struct SqlitePlan {
                    #[diesel(sql_type = diesel::sql_types::Text)]
                    detail: String,
                }
                let rows: Vec<SqlitePlan> = diesel::sql_query(format!("{explain} {q}")).load(c).expect("plan");
                for r in rows {
                    println!("  {}", r.detail);
                }
            }
            organizeo::db::DbConnection::Postgresql(c) => {
                #[derive(QueryableByName)]
                struct PgPlan {
                    #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
                    line: String,
                }
                let rows: Vec<PgPlan> = diesel::sql_query(format!("{explain} {q}")).load(c).expect("plan");
                for r in rows {
                    println!("  {}", r.line);
                }
            }
        }
    }
    drop(conn);
    drop_database(admin);
    std::process::ExitCode::SUCCESS
}

/// Drops the bench's own PostgreSQL database (`admin` is the server URL and its name).
fn drop_database(admin: Option<(String, String)>) {
    if let Some((admin_url, name)) = admin {
        if let Ok(mut a) = diesel::PgConnection::establish(&admin_url) {
            let _ = a.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}
