//! Websocket load client: Organizeo against Socket.IO 4.8 doing the same job, in one run.
//!
//!     cargo build --release && (cd bench/socketio && npm install)
//!     cargo run --release --example ws_bench -- [sizes, default 1000,5000,10000]
//!         [--writes W] [--rate R] [--only organizeo|socket.io] [--bin PATH] [--idle]
//!         [--external PORT:PID] [--tls] [--preload LIB]
//!
//! For each server (a separate `target/release/organizeo serve` process on SQLite, or the
//! binary `--bin` names, and `node bench/socketio/server.js`) and each size N: connect N
//! websockets of one tenant and subscribe them, read the server's RSS (idle memory per
//! connection), then make W contact writes (default 50) at R per second (default 10)
//! through the HTTP API and measure, for every delivered copy, the time from the write
//! being sent to the copy being received (p50/p99), delivered messages per second, and
//! delivered messages per second of server CPU (user + system time of the server process
//! over the write phase, from /proc). Every client checks that the `seq`s it receives
//! rise strictly (`order` counts the violations: a duplicate or a reordering). `--idle`
//! holds the connections after the memory reading until Enter is pressed, then goes on
//! with the writes (for a heap profile with `--writes 0`, or to attach `perf`); `--external PORT:PID` measures a server started by hand (e.g. under
//! heaptrack) instead of starting one. `--tls` serves both over TLS (a self-signed P-256
//! certificate made with `openssl` for 127.0.0.1; Organizeo through rustls, Node's https)
//! and the client speaks wss:// and https:// (tokio-rustls). `--preload LIB` starts
//! Organizeo with `LD_PRELOAD=LIB` (another malloc, e.g. Debian's libjemalloc.so.2 or
//! libmimalloc.so.2, to compare allocators on one binary). Client and server share the machine's two cores,
//! so figures are a floor for both. No assertions: it measures.

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

const CONNECT_CONCURRENCY: usize = 100;

/// What to run (command-line options).
#[derive(Clone)]
struct Opts {
    sizes: Vec<usize>,
    writes: usize,
    rate: f64,
    only: Option<String>,
    bin: Option<String>,
    idle: bool,
    external: Option<(u16, u32)>,
    tls: bool,
    preload: Option<String>,
}

impl Opts {
    fn parse() -> Self {
        let mut o = Opts {
            sizes: vec![1000, 5000, 10000],
            writes: 50,
            rate: 10.0,
            only: None,
            bin: None,
            idle: false,
            external: None,
            tls: false,
            preload: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--writes" => o.writes = args.next().and_then(|v| v.parse().ok()).expect("--writes N"),
                "--rate" => o.rate = args.next().and_then(|v| v.parse().ok()).expect("--rate R"),
                "--only" => o.only = args.next(),
                // Absolute: the server runs in a temporary directory.
                "--bin" => {
                    o.bin = args.next().map(|b| std::fs::canonicalize(b).expect("--bin PATH").display().to_string())
                }
                "--idle" => o.idle = true,
                "--tls" => o.tls = true,
                "--preload" => o.preload = args.next(),
                "--external" => {
                    let v = args.next().expect("--external PORT:PID");
                    let (port, pid) = v.split_once(':').expect("--external PORT:PID");
                    o.external = Some((port.parse().expect("port"), pid.parse().expect("pid")));
                }
                sizes => o.sizes = sizes.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
            }
        }
        o
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Organizeo,
    SocketIo,
}

struct Server {
    child: Option<Child>,
    pid: u32,
    port: u16,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start(kind: Kind, o: &Opts, tls: Option<&Tls>) -> Server {
    let root = env!("CARGO_MANIFEST_DIR");
    let (mut child, dir) = match kind {
        Kind::Organizeo => {
            let dir = tempfile::tempdir().expect("temp dir");
            let bin = o.bin.clone().unwrap_or_else(|| format!("{root}/target/release/organizeo"));
            let mut cmd = Command::new(bin);
            if let Some(lib) = &o.preload {
                cmd.env("LD_PRELOAD", lib);
            }
            if let Some(tls) = tls {
                cmd.env("ORGANIZEO_TLS_CERT", &tls.cert).env("ORGANIZEO_TLS_KEY", &tls.key);
            }
            let child = cmd
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
            let mut cmd = Command::new("node");
            if let Some(tls) = tls {
                cmd.env("TLS_CERT", &tls.cert).env("TLS_KEY", &tls.key);
            }
            let child = cmd
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
            .or_else(|| line.split("address=https://127.0.0.1:").nth(1))
            .or_else(|| line.strip_prefix("listening "))
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok());
        if let Some(p) = found {
            break p;
        }
    };
    Server { pid: child.id(), child: Some(child), port, _dir: dir }
}

/// The server's CPU time so far (user + system), in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    // SAFETY: sysconf only reads a constant of the system.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) as f64 / hz
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// The certificate both servers present under `--tls`, and the client's trust in it.
struct Tls {
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    connector: tokio_rustls::TlsConnector,
    _dir: tempfile::TempDir,
}

impl Tls {
    fn make() -> Tls {
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        use tokio_rustls::rustls::pki_types::CertificateDer;
        let dir = tempfile::tempdir().expect("temp dir");
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let ok = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            // An end-entity certificate: webpki refuses a CA certificate as a server's.
            .args(["-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth"])
            .stderr(Stdio::null())
            .status()
            .expect("openssl");
        assert!(ok.success(), "openssl req failed");
        let mut roots = tokio_rustls::rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(&cert).expect("cert")).expect("root");
        let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Tls { cert, key, connector: tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)), _dir: dir }
    }
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// A connection to the server, through TLS when `tls` is given.
async fn dial(port: u16, tls: Option<&Tls>) -> Box<dyn Io> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    match tls {
        Some(t) => {
            let name = tokio_rustls::rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
            Box::new(t.connector.connect(name, tcp).await.expect("TLS handshake"))
        }
        None => Box::new(tcp),
    }
}

/// One HTTP/1.1 POST on its own connection (`Connection: close`); the JSON answer.
async fn post(port: u16, tls: Option<&Tls>, path: &str, token: Option<&str>, body: Value) -> Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut io = dial(port, tls).await;
    let body = body.to_string();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    io.write_all(req.as_bytes()).await.expect("POST");
    // TLS buffers what is written until flushed (else the server answers 408).
    io.flush().await.expect("POST");
    // Read the head, then exactly Content-Length bytes: a TLS peer that closes without
    // close_notify makes a read to the end fail, and the answer is complete before that.
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&answer).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                .and_then(|v| v.parse::<usize>().ok());
            if length.is_some_and(|n| body.len() >= n) {
                return serde_json::from_str(body).unwrap_or(Value::Null);
            }
        }
        match io.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    text.split_once("\r\n\r\n").and_then(|(_, b)| serde_json::from_str(b).ok()).unwrap_or(Value::Null)
}

type Ws = tokio_tungstenite::WebSocketStream<Box<dyn Io>>;

/// Connects one client and waits until it is subscribed (Organizeo) or joined (Socket.IO).
async fn connect(kind: Kind, port: u16, tls: Option<&Tls>, token: &str) -> Ws {
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    let url = match kind {
        Kind::Organizeo => {
            let t = post(port, tls, "/api/v1/realtime/ticket", Some(token), json!({})).await;
            let Some(path) = t["url"].as_str() else { panic!("no ticket: {t}") };
            format!("{scheme}://127.0.0.1:{port}{path}")
        }
        Kind::SocketIo => format!("{scheme}://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"),
    };
    let io = dial(port, tls).await;
    let (mut ws, _) = tokio_tungstenite::client_async(url, io).await.expect("websocket connect");
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
async fn receive(
    kind: Kind,
    mut ws: Ws,
    sent: Rc<RefCell<HashMap<usize, Instant>>>,
    got: Rc<RefCell<Vec<Duration>>>,
    disorder: Rc<RefCell<usize>>,
) {
    let mut last_seq = 0u64;
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
        if let Some(seq) = text
            .split("\"seq\":")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next()?.parse::<u64>().ok())
        {
            if seq <= last_seq {
                *disorder.borrow_mut() += 1;
            }
            last_seq = seq;
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
    per_cpu_s: f64,
    p50: f64,
    p99: f64,
    missing: usize,
    disorder: usize,
}

async fn run(kind: Kind, n: usize, o: &Opts, tls: Option<Rc<Tls>>) -> Figures {
    let server = match o.external {
        Some((port, pid)) => Server { child: None, pid, port, _dir: None },
        None => start(kind, o, tls.as_deref()),
    };
    let (port, pid) = (server.port, server.pid);
    let token = match kind {
        Kind::Organizeo => {
            let r = post(
                port,
                tls.as_deref(),
                "/api/v1/signup",
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
    let disorder: Rc<RefCell<usize>> = Rc::default();
    let first = connect(kind, port, tls.as_deref(), &token).await;
    actix_web::rt::spawn(receive(kind, first, sent.clone(), got.clone(), disorder.clone()));
    let base = rss_kib(pid);
    let mut connected = 1;
    while connected < n {
        let batch = CONNECT_CONCURRENCY.min(n - connected);
        let conns =
            futures_util::future::join_all((0..batch).map(|_| connect(kind, port, tls.as_deref(), &token))).await;
        for ws in conns {
            actix_web::rt::spawn(receive(kind, ws, sent.clone(), got.clone(), disorder.clone()));
        }
        connected += batch;
    }
    actix_web::rt::time::sleep(Duration::from_secs(2)).await; // let allocations settle
    let loaded = rss_kib(pid);
    let idle_kib_per_conn = (loaded.saturating_sub(base)) as f64 / (n - 1) as f64;
    if o.idle {
        println!("{n} idle connections, {idle_kib_per_conn:.1} KiB/conn (RSS {base} -> {loaded} KiB); Enter ends");
        let _ = actix_web::rt::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await;
    }
    let writes = o.writes;

    let cpu_before = cpu_seconds(pid);
    let start_at = Instant::now();
    for i in 0..writes {
        let due = start_at + Duration::from_secs_f64(i as f64 / o.rate);
        actix_web::rt::time::sleep_until(due.into()).await;
        sent.borrow_mut().insert(i, Instant::now());
        let (tls, token) = (tls.clone(), token.clone());
        actix_web::rt::spawn(async move {
            let t = (!token.is_empty()).then_some(token.as_str());
            post(port, tls.as_deref(), "/api/v1/contacts", t, json!({"email": format!("w{i}x@bench.example")})).await;
        });
    }
    let expected = n * writes;
    let deadline = Instant::now() + Duration::from_secs(120);
    while got.borrow().len() < expected && Instant::now() < deadline {
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = start_at.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu_before;
    let mut lat = got.borrow().clone();
    lat.sort();
    let disorder = *disorder.borrow();
    Figures {
        idle_kib_per_conn,
        delivered_per_s: lat.len() as f64 / elapsed,
        per_cpu_s: lat.len() as f64 / cpu.max(0.01),
        p50: pct(&lat, 0.5),
        p99: pct(&lat, 0.99),
        missing: expected.saturating_sub(lat.len()),
        disorder,
    }
}

fn main() {
    let o = Opts::parse();
    let tls = o.tls.then(|| Rc::new(Tls::make()));
    actix_web::rt::System::new().block_on(async move {
        let over = if o.tls { "TLS (rustls / node https)" } else { "plain TCP" };
        println!(
            "# websocket fan-out: one tenant, {} writes at {}/s, every client subscribed, {over}",
            o.writes, o.rate
        );
        println!(
            "{:<10} {:>7} {:>14} {:>12} {:>12} {:>9} {:>9} {:>8} {:>6}",
            "server", "clients", "idle KiB/conn", "delivered/s", "per CPU-s", "p50 ms", "p99 ms", "missing", "order"
        );
        for &n in &o.sizes {
            for (kind, name) in [(Kind::Organizeo, "organizeo"), (Kind::SocketIo, "socket.io")] {
                if o.only.as_deref().is_some_and(|only| only != name) {
                    continue;
                }
                let f = run(kind, n, &o, tls.clone()).await;
                println!(
                    "{name:<10} {n:>7} {:>14.1} {:>12.0} {:>12.0} {:>9.1} {:>9.1} {:>8} {:>6}",
                    f.idle_kib_per_conn, f.delivered_per_s, f.per_cpu_s, f.p50, f.p99, f.missing, f.disorder
                );
            }
        }
    });
}
