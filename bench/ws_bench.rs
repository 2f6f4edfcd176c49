//! Websocket load client: Organizeo against Socket.IO 4.8 doing the same job, in one run.
//!
//!     cargo build --release && (cd bench/socketio && npm install)
//!     cargo run --release --example ws_bench -- [sizes, default 1000,5000,10000]
//!
//! For each server (a separate `target/release/organizeo serve` process on SQLite, and
//! `node bench/socketio/server.js`) and each size N: connect N websockets of one tenant and
//! subscribe them, read the server's RSS (idle memory per connection), then make
//! `WRITES` contact writes at `RATE` per second through the HTTP API and measure, for every
//! delivered copy, the time from the write being sent to the copy being received
//! (p50/p99), and delivered messages per second. Client and server share the machine's
//! two cores, so figures are a floor for both. No assertions: it measures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const WRITES: usize = 50;
const RATE: f64 = 10.0;
const CONNECT_CONCURRENCY: usize = 100;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Organizeo,
    SocketIo,
}

struct Server {
    child: Child,
    port: u16,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(kind: Kind) -> Server {
    let root = env!("CARGO_MANIFEST_DIR");
    let (mut child, dir) = match kind {
        Kind::Organizeo => {
            let dir = tempfile::tempdir().expect("temp dir");
            let child = Command::new(format!("{root}/target/release/organizeo"))
                .current_dir(dir.path())
                .env("ORGANIZEO_LISTEN", "127.0.0.1:0")
                .env("ORGANIZEO_DATABASE_URL", format!("sqlite://{}/bench.db", dir.path().display()))
                .env("ORGANIZEO_REALTIME_MAX_CONNECTIONS_PER_USER", "1000000")
                .env("ORGANIZEO_REALTIME_MAX_CONNECTIONS_PER_TENANT", "1000000")
                .env("ORGANIZEO_LOG", "info")
                .arg("serve")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start target/release/organizeo (cargo build --release first)");
            (child, Some(dir))
        }
        Kind::SocketIo => {
            let child = Command::new("node")
                .arg(format!("{root}/bench/socketio/server.js"))
                .env("PORT", "0")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start node (cd bench/socketio && npm install first)");
            (child, None)
        }
    };
    let out = child.stdout.take().expect("stdout");
    let err = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    for stream in [Box::new(out) as Box<dyn std::io::Read + Send>, Box::new(err)] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let port = loop {
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("the server says where it listens");
        let found = line
            .split("address=http://127.0.0.1:")
            .nth(1)
            .or_else(|| line.strip_prefix("listening "))
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok());
        if let Some(p) = found {
            break p;
        }
    };
    Server { child, port, _dir: dir }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

async fn post(http: &awc::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut req = http.post(url);
    if let Some(t) = token {
        req = req.insert_header(("Authorization", format!("Bearer {t}")));
    }
    let mut res = req.send_json(&body).await.expect("POST");
    res.json::<Value>().limit(1 << 20).await.unwrap_or(Value::Null)
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects one client and waits until it is subscribed (Organizeo) or joined (Socket.IO).
async fn connect(kind: Kind, port: u16, http: &awc::Client, token: &str) -> Ws {
    let url = match kind {
        Kind::Organizeo => {
            let t = post(http, format!("http://127.0.0.1:{port}/api/v1/realtime/ticket"), Some(token), json!({})).await;
            format!("ws://127.0.0.1:{port}{}", t["url"].as_str().expect("ticket"))
        }
        Kind::SocketIo => format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"),
    };
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connect");
    match kind {
        Kind::Organizeo => {
            ws.send(Message::text(r#"{"type":"subscribe","topic":"crm"}"#)).await.expect("subscribe");
            while let Some(Ok(m)) = ws.next().await {
                if m.to_text().is_ok_and(|t| t.contains("\"subscribed\"")) {
                    break;
                }
            }
        }
        Kind::SocketIo => {
            // Engine.IO open ("0{…}"), then the Socket.IO namespace connect ("40" → "40{…}").
            let _open = ws.next().await;
            ws.send(Message::text("40")).await.expect("namespace connect");
            while let Some(Ok(m)) = ws.next().await {
                if m.to_text().is_ok_and(|t| t.starts_with("40")) {
                    break;
                }
            }
        }
    }
    ws
}

/// Reads a client's frames: answers pings, records the latency of each delivered write.
async fn receive(kind: Kind, mut ws: Ws, sent: Rc<RefCell<HashMap<usize, Instant>>>, got: Rc<RefCell<Vec<Duration>>>) {
    while let Some(Ok(m)) = ws.next().await {
        let now = Instant::now();
        let text = match &m {
            Message::Text(t) => t.as_str(),
            Message::Ping(p) => {
                let _ = ws.send(Message::Pong(p.clone())).await;
                continue;
            }
            _ => continue,
        };
        if kind == Kind::SocketIo && text == "2" {
            let _ = ws.send(Message::text("3")).await; // Engine.IO heartbeat
            continue;
        }
        // The write index is in the contact's email: "w<index>x@bench.example".
        if let Some(idx) = text.split("\"email\":\"w").nth(1).and_then(|r| r.split('x').next()?.parse::<usize>().ok()) {
            if let Some(at) = sent.borrow().get(&idx) {
                got.borrow_mut().push(now.duration_since(*at));
            }
        }
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0
}

struct Figures {
    idle_kib_per_conn: f64,
    delivered_per_s: f64,
    p50: f64,
    p99: f64,
    missing: usize,
}

async fn run(kind: Kind, n: usize) -> Figures {
    let server = start(kind);
    let port = server.port;
    let http = awc::Client::builder().timeout(Duration::from_secs(60)).finish();
    let token = match kind {
        Kind::Organizeo => {
            let r = post(
                &http,
                format!("http://127.0.0.1:{port}/api/v1/signup"),
                None,
                json!({"tenant_name": "Bench", "email": "bench@bench.example", "password": "Corr3ct-Horse!Battery", "name": "B"}),
            )
            .await;
            r["token"].as_str().expect("signup token").to_string()
        }
        Kind::SocketIo => String::new(),
    };
    // One client first, so the baseline includes the runtime's first-connection costs.
    let sent: Rc<RefCell<HashMap<usize, Instant>>> = Rc::default();
    let got: Rc<RefCell<Vec<Duration>>> = Rc::default();
    let first = connect(kind, port, &http, &token).await;
    actix_web::rt::spawn(receive(kind, first, sent.clone(), got.clone()));
    let base = rss_kib(server.child.id());
    let mut connected = 1;
    while connected < n {
        let batch = CONNECT_CONCURRENCY.min(n - connected);
        let conns = futures_util::future::join_all((0..batch).map(|_| connect(kind, port, &http, &token))).await;
        for ws in conns {
            actix_web::rt::spawn(receive(kind, ws, sent.clone(), got.clone()));
        }
        connected += batch;
    }
    actix_web::rt::time::sleep(Duration::from_secs(2)).await; // let allocations settle
    let loaded = rss_kib(server.child.id());
    let idle_kib_per_conn = (loaded.saturating_sub(base)) as f64 / (n - 1) as f64;

    let start_at = Instant::now();
    for i in 0..WRITES {
        let due = start_at + Duration::from_secs_f64(i as f64 / RATE);
        actix_web::rt::time::sleep_until(due.into()).await;
        sent.borrow_mut().insert(i, Instant::now());
        let (http, token) = (http.clone(), token.clone());
        actix_web::rt::spawn(async move {
            let t = (!token.is_empty()).then_some(token.as_str());
            post(
                &http,
                format!("http://127.0.0.1:{port}/api/v1/contacts"),
                t,
                json!({"email": format!("w{i}x@bench.example")}),
            )
            .await;
        });
    }
    let expected = n * WRITES;
    let deadline = Instant::now() + Duration::from_secs(120);
    while got.borrow().len() < expected && Instant::now() < deadline {
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = start_at.elapsed().as_secs_f64();
    let mut lat = got.borrow().clone();
    lat.sort();
    Figures {
        idle_kib_per_conn,
        delivered_per_s: lat.len() as f64 / elapsed,
        p50: pct(&lat, 0.5),
        p99: pct(&lat, 0.99),
        missing: expected.saturating_sub(lat.len()),
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .nth(1)
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1000, 5000, 10000]);
    actix_web::rt::System::new().block_on(async move {
        println!("# websocket fan-out: one tenant, {WRITES} writes at {RATE}/s, every client subscribed");
        println!(
            "{:<10} {:>7} {:>14} {:>12} {:>9} {:>9} {:>8}",
            "server", "clients", "idle KiB/conn", "delivered/s", "p50 ms", "p99 ms", "missing"
        );
        for &n in &sizes {
            for (kind, name) in [(Kind::Organizeo, "organizeo"), (Kind::SocketIo, "socket.io")] {
                let f = run(kind, n).await;
                println!(
                    "{name:<10} {n:>7} {:>14.1} {:>12.0} {:>9.1} {:>9.1} {:>8}",
                    f.idle_kib_per_conn, f.delivered_per_s, f.p50, f.p99, f.missing
                );
            }
        }
    });
}
