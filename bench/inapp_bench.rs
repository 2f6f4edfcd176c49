//! In-app fan-out: one message to N end users (default 100,000) on a separate
//! `target/release/organizeo serve` process (SQLite).
//!
//!     cargo build --release && cargo run --release --example inapp_bench -- [users] [widgets]
//!
//! Creates N contacts with an `external_id` (batch API), connects W widget websockets
//! (default 2,000; at most ~9,000 under a 20,000-open-file limit: each socket is two
//! descriptors on one machine), sends `{audience:{all:true}}` and measures: the time until
//! every inbox row is stored (message `sent`), p50/p99 of `GET /inbox/counts` and
//! `GET /inbox` issued back to back while the fan-out runs, the time until the last
//! widget got its `message` frame, and the server's CPU (utime+stime from /proc) per
//! stored row. Then, on the database file, the counter-row read against a plain COUNT(*)
//! over the same items. Client and server share the machine: figures are a floor.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use futures_util::StreamExt;
use serde_json::{json, Value};

struct Server {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Server {
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(format!("{root}/target/release/organizeo"))
        .current_dir(dir.path())
        .env("ORGANIZEO_LISTEN", "127.0.0.1:0")
        .env("ORGANIZEO_DATABASE_URL", format!("sqlite://{}/bench.db", dir.path().display()))
        .env("ORGANIZEO_REALTIME_MAX_CONNECTIONS_PER_USER", "1000000")
        .env("ORGANIZEO_REALTIME_MAX_CONNECTIONS_PER_TENANT", "1000000")
        .env("ORGANIZEO_RATE_LIMIT_PER_IP", "100000:100000")
        .env("ORGANIZEO_RATE_LIMIT_PER_CREDENTIAL", "100000:100000")
        .env("ORGANIZEO_RATE_LIMIT_PER_TENANT", "100000:100000")
        .env("ORGANIZEO_LOG", "info")
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start target/release/organizeo (cargo build --release first)");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let port = loop {
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("the server says where it listens");
        if let Some(p) = line
            .split("address=http://127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        {
            break p;
        }
    };
    Server { child, port, dir }
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 =
        f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0) + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

struct Api {
    http: awc::Client,
    base: String,
}

impl Api {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        user: Option<(&str, &str, &str)>,
    ) -> Value {
        let mut req = self.http.request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        if let Some((app, u, h)) = user {
            req = req
                .insert_header(("X-Organizeo-App", app))
                .insert_header(("X-Organizeo-User", u))
                .insert_header(("X-Organizeo-User-Hash", h));
        }
        let mut res = match body {
            Some(b) => req.send_json(&b).await.expect("request"),
            None => req.send().await.expect("request"),
        };
        res.json::<Value>().limit(16 << 20).await.unwrap_or(Value::Null)
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let users: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let widgets: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(2_000).min(users).min(9_000);
    actix_web::rt::System::new().block_on(async move {
        let server = start();
        let pid = server.child.id();
        let api = Api { http: awc::Client::builder().timeout(Duration::from_secs(120)).finish(), base: format!("http://127.0.0.1:{}", server.port) };
        let s = api
            .call("POST", "/api/v1/signup", None, Some(json!({"tenant_name": "Bench", "email": "bench@bench.example", "password": "Bench-Pass-2026!", "name": "Bench"})), None)
            .await;
        let token = s["token"].as_str().expect("signup").to_string();
        let settings = api.call("GET", "/api/v1/inapp/settings", Some(&token), None, None).await;
        let app_id = settings["app_id"].as_str().unwrap().to_string();
        let secret = api.call("POST", "/api/v1/inapp/settings/rotate-secret", Some(&token), Some(json!({})), None).await;
        let secret = secret["identity_secret"].as_str().unwrap().to_string();
        let hash = |u: &str| organizeo::messages::identity::user_hash(secret.as_bytes(), u);
        let t0 = Instant::now();
        for chunk in (0..users).collect::<Vec<_>>().chunks(100) {
            let items: Vec<Value> = chunk.iter().map(|i| json!({"email": format!("u{i}@bench.example"), "external_id": format!("u{i}")})).collect();
            api.call("POST", "/api/v1/contacts/batch", Some(&token), Some(json!({"action": "create", "items": items})), None).await;
        }
        println!("# in-app fan-out: {users} end users, {widgets} widgets (contacts created in {:.1} s)", t0.elapsed().as_secs_f64());
        // Widgets: one websocket per end user, spread evenly over the audience (so the last
        // batch's recipients are among them).
        let mut sockets = Vec::with_capacity(widgets);
        for i in 0..widgets {
            let u = format!("u{}", i * (users / widgets));
            let t = api.call("POST", "/api/v1/inbox/ticket", None, Some(json!({})), Some((&app_id, &u, &hash(&u)))).await;
            let url = format!("ws://127.0.0.1:{}{}", server.port, t["url"].as_str().expect("ticket"));
            let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket");
            while let Some(Ok(m)) = ws.next().await {
                if m.to_text().is_ok_and(|t| t.contains("\"subscribed\"")) {
                    break;
                }
            }
            sockets.push(ws);
        }
        let cpu0 = cpu_seconds(pid);
        let sent_at = Instant::now();
        let r = api.call("POST", "/api/v1/inapp/messages", Some(&token), Some(json!({"audience": {"all": true}, "title": "Bench", "body": "One for everyone"})), None).await;
        let id = r["id"].as_str().expect("202").to_string();
        // Each widget's first `message` frame, timed.
        let waiters = sockets.into_iter().map(|mut ws| async move {
            while let Some(Ok(m)) = ws.next().await {
                if m.to_text().is_ok_and(|t| t.contains("\"type\":\"message\"")) {
                    return Some(sent_at.elapsed().as_secs_f64());
                }
            }
            None
        });
        let deliveries = actix_web::rt::spawn(futures_util::future::join_all(waiters));
        // Reads while the fan-out runs, back to back.
        let (mut counts_ms, mut list_ms) = (Vec::new(), Vec::new());
        let mut n = 0usize;
        let stored = loop {
            let u = format!("u{}", (n * 7919) % users);
            n += 1;
            let a = Instant::now();
            api.call("GET", "/api/v1/inbox/counts", None, None, Some((&app_id, &u, &hash(&u)))).await;
            counts_ms.push(a.elapsed().as_secs_f64() * 1e3);
            let a = Instant::now();
            api.call("GET", "/api/v1/inbox?limit=25", None, None, Some((&app_id, &u, &hash(&u)))).await;
            list_ms.push(a.elapsed().as_secs_f64() * 1e3);
            if n % 20 == 0 {
                let m = api.call("GET", &format!("/api/v1/inapp/messages/{id}"), Some(&token), None, None).await;
                if m["status"] == "sent" {
                    break (sent_at.elapsed().as_secs_f64(), m["recipients"].as_i64().unwrap_or(0));
                }
            }
        };
        let cpu_store = cpu_seconds(pid) - cpu0;
        let got: Vec<f64> = deliveries.await.unwrap().into_iter().flatten().collect();
        let last = got.iter().cloned().fold(0.0, f64::max);
        println!("rows stored: {} in {:.2} s ({:.0} rows/s)", stored.1, stored.0, stored.1 as f64 / stored.0);
        println!("server CPU during the fan-out: {:.2} s = {:.1} µs per stored row", cpu_store, cpu_store * 1e6 / stored.1.max(1) as f64);
        println!("GET /inbox/counts while it ran: n={} p50 {:.2} ms p99 {:.2} ms", counts_ms.len(), pct(&mut counts_ms, 0.5), pct(&mut counts_ms, 0.99));
        println!("GET /inbox        while it ran: n={} p50 {:.2} ms p99 {:.2} ms", list_ms.len(), pct(&mut list_ms, 0.5), pct(&mut list_ms, 0.99));
        println!("websocket: {}/{} widgets got the message; last after {:.2} s", got.len(), widgets, last);
        // Counter row vs COUNT(*), on the database file.
        let db = format!("{}/bench.db", server.dir.path().display());
        let mut conn = diesel::SqliteConnection::establish(&db).unwrap();
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let time = |conn: &mut diesel::SqliteConnection, sql: &str| {
            let a = Instant::now();
            for _ in 0..200 {
                let rows: Vec<N> = diesel::sql_query(sql).load(conn).unwrap();
                std::hint::black_box(rows.first().map(|r| r.n));
            }
            a.elapsed().as_secs_f64() * 1e6 / 200.0
        };
        let tenant = "(SELECT id FROM tenants LIMIT 1)";
        let per_user_row =
            time(&mut conn, &format!("SELECT unread AS n FROM inapp_counters WHERE tenant_id = {tenant} AND user_id = 'u77'"));
        let per_user_count = time(
            &mut conn,
            &format!("SELECT count(*) AS n FROM inapp_items WHERE tenant_id = {tenant} AND user_id = 'u77' AND archived_at IS NULL AND read_at IS NULL"),
        );
        let whole = time(
            &mut conn,
            &format!("SELECT count(*) AS n FROM inapp_items WHERE tenant_id = {tenant} AND read_at IS NULL AND archived_at IS NULL"),
        );
        println!("counts: counter row {per_user_row:.1} µs; COUNT(*) of one user's items {per_user_count:.1} µs; plain COUNT(*) of the table's {} unread rows {whole:.1} µs", stored.1);
    });
}
