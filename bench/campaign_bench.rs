//! Campaign sending load client: how fast `organizeo serve` sends a campaign into Postfix's
//! `smtp-sink`, against Postfix's own `smtp-source` pushing the same number of ~2 KB
//! messages over the same number of connections into the same sink, in one run. Beside it,
//! the TCP_NODELAY effect: lettre on its own socket (no TCP_NODELAY) and on ours.
//!
//!     apt-get install postfix   # for /usr/sbin/smtp-sink and /usr/sbin/smtp-source only
//!     cargo build --release --bin organizeo --examples
//!     target/release/examples/campaign_bench sqlite [messages] [connections]
//!     target/release/examples/campaign_bench postgres://postgres@127.0.0.1:5432/postgres [messages] [connections]
//!
//! Defaults: 50,000 messages, 4 connections. The server is a separate process (the
//! release binary beside this one) on a fresh SQLite file or a fresh PostgreSQL database
//! (created and dropped here); its RSS is sampled every 100 ms and its CPU time read from
//! /proc before and after the send. Everything shares the machine's cores (server, sink,
//! database, this client), so the figures are a floor. No assertions beyond "every
//! recipient was sent": it measures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::Connection;
use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use serde_json::{json, Value};

const SINK: &str = "/usr/sbin/smtp-sink";
const SOURCE: &str = "/usr/sbin/smtp-source";
/// Messages for each side of the TCP_NODELAY comparison (one connection).
const NODELAY_MESSAGES: usize = 500;
/// Contacts created per `POST /contacts/batch` (the API's maximum) and calls in flight.
const BATCH: usize = 100;
const SEED_IN_FLIGHT: usize = 4;

/// A child process killed (by its own PID) when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_listening(port: u16, what: &str) {
    let until = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "{what} does not listen on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// utime + stime of `pid`, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) end with ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 =
        f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0) + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1);
    ticks as f64 / hz as f64
}

/// Bytes `pid` has read (sockets included): what the sink received.
fn read_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("rchar:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Samples a process's RSS every 100 ms until stopped; returns the peak.
struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let (stop, peak) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(rss_kib(pid))));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        RssSampler { stop, peak, thread: Some(thread) }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

/// Postfix's client: `messages` messages of `len` payload bytes over `sessions` parallel
/// sessions; `reuse` keeps each session's connection for its next message (`-d`), else
/// every message has a connection of its own. Returns (messages/s, sink bytes/message).
fn smtp_source(port: u16, sink_pid: u32, messages: usize, sessions: usize, reuse: bool, len: usize) -> (f64, f64) {
    let mut cmd = Command::new(SOURCE);
    if reuse {
        cmd.arg("-d");
    }
    cmd.args(["-s", &sessions.to_string(), "-m", &messages.to_string(), "-l", &len.to_string()]).args([
        "-f",
        "from@x.example",
        "-t",
        "to@y.example",
        &format!("127.0.0.1:{port}"),
    ]);
    let bytes = read_bytes(sink_pid);
    let started = Instant::now();
    let out = cmd.output().expect("run smtp-source");
    let secs = started.elapsed().as_secs_f64();
    assert!(out.status.success(), "smtp-source failed: {}", String::from_utf8_lossy(&out.stderr));
    (messages as f64 / secs, (read_bytes(sink_pid) - bytes) as f64 / messages as f64)
}

/// lettre over one connection: its own socket (`connect_tokio1`, no TCP_NODELAY) or a
/// tokio socket with TCP_NODELAY handed to `connect_with_transport` (what
/// `src/email/smtp.rs` does). Returns messages/s.
async fn lettre_rate(port: u16, messages: usize, nodelay: bool) -> f64 {
    let hello = ClientId::Domain("bench.example".into());
    let mut conn = if nodelay {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
        tcp.set_nodelay(true).expect("TCP_NODELAY");
        AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &hello).await.expect("SMTP greeting")
    } else {
        AsyncSmtpConnection::connect_tokio1(("127.0.0.1", port), Some(Duration::from_secs(10)), &hello, None, None)
            .await
            .expect("SMTP greeting")
    };
    let envelope =
        Envelope::new(Some("from@x.example".parse().unwrap()), vec!["to@y.example".parse().unwrap()]).unwrap();
    let mut message = b"From: <from@x.example>\r\nTo: <to@y.example>\r\nSubject: bench\r\n\r\n".to_vec();
    for _ in 0..32 {
        message.extend_from_slice(&[b'x'; 62]);
        message.extend_from_slice(b"\r\n");
    }
    let started = Instant::now();
    for _ in 0..messages {
        conn.send(&envelope, &message).await.expect("send");
    }
    let rate = messages as f64 / started.elapsed().as_secs_f64();
    let _ = conn.quit().await;
    rate
}

struct Api {
    http: awc::Client,
    base: String,
    token: String,
}

impl Api {
    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut tries = 0;
        let mut res = loop {
            let req = self
                .http
                .request(awc::http::Method::from_bytes(method.as_bytes()).unwrap(), format!("{}{}", self.base, path))
                .insert_header(("Authorization", format!("Bearer {}", self.token)));
            let sent = match body {
                Some(b) => req.send_json(b).await,
                None => req.send().await,
            };
            match sent {
                Ok(res) => break res,
                // A pooled keep-alive connection the server closed: the request never left.
                Err(awc::error::SendRequestError::Connect(e)) if tries < 3 => {
                    tries += 1;
                    eprintln!("  {method} {path}: {e}; retrying");
                }
                Err(e) => panic!("{method} {path}: {e}"),
            }
        };
        let bytes = res.body().limit(16 << 20).await.expect("body");
        (res.status().as_u16(), serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn ok(&self, method: &str, path: &str, body: &Value, want: u16) -> Value {
        let (s, b) = self.call(method, path, Some(body)).await;
        assert_eq!(s, want, "{method} {path}: {b}");
        b
    }
}

/// The two campaigns sent, one after the other, to the same 50,000 contacts.
#[derive(Clone, Copy)]
enum Kind {
    /// A short announcement: about 2.2 KB on the wire, the size of smtp-source's default
    /// 2 KB message (the comparison the goal is stated in).
    Announcement,
    /// A newsletter: 1.8 KB of HTML with three links, about 4.4 KB on the wire.
    Newsletter,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Announcement => "announcement",
            Kind::Newsletter => "newsletter",
        }
    }

    /// The email: merge tags, tracked links and the unsubscribe link in both.
    fn email(self) -> Value {
        match self {
            Kind::Announcement => {
                let html = "<html><body>\n<p>Hello {{ contact.first_name | default('there') }},</p>\n\
                    <p>Saved segments and live campaign progress are in your portal today.</p>\n\
                    <p><a href=\"https://example.com/news\">What is new</a></p>\n\
                    <p style=\"font-size:12px\">{{ tenant.name }} · <a href=\"{{ unsubscribe_url }}\">Unsubscribe</a></p>\n\
                    </body></html>\n";
                let text = "Hello {{ contact.first_name }},\n\nSaved segments and live campaign progress are in \
                    your portal today: https://example.com/news\n\nUnsubscribe: {{ unsubscribe_url }}\n";
                json!({"name": "Announcement", "subject": "New for {{ contact.first_name }}", "html": html, "text": text})
            }
            Kind::Newsletter => {
                let para = "<p style=\"margin:0 0 12px 0;font-family:Arial,sans-serif;font-size:15px;line-height:22px;color:#333\">\
                    This month we shipped faster imports, saved segments and campaigns with live progress. \
                    Everything is in your portal already; nothing to install.</p>\n";
                let mut html = String::from(
                    "<html><body><table width=\"100%\" cellpadding=\"0\" cellspacing=\"0\"><tr><td>\n\
                     <h1 style=\"font-family:Arial,sans-serif\">Hello {{ contact.first_name | default('there') }} {{ contact.last_name }},</h1>\n",
                );
                for _ in 0..5 {
                    html.push_str(para);
                }
                html.push_str(
                    "<p><a href=\"https://example.com/news/2026/november?utm_source=newsletter&amp;utm_medium=email\">Read the news</a></p>\n\
                     <p><a href=\"https://example.com/pricing\">See the plans</a> or <a href=\"https://example.com/help\">ask us anything</a>.</p>\n\
                     <p style=\"font-size:12px;color:#999\">Sent by {{ tenant.name }}. <a href=\"{{ unsubscribe_url }}\">Unsubscribe</a></p>\n\
                     </td></tr></table></body></html>\n",
                );
                let text = "Hello {{ contact.first_name }},\n\nThis month we shipped faster imports, saved segments and campaigns.\n\
                    Read the news: https://example.com/news/2026/november\n\nUnsubscribe: {{ unsubscribe_url }}\n";
                json!({"name": "Newsletter", "subject": "News for {{ contact.first_name }}", "preheader": "From {{ tenant.name }}",
                       "html": html, "text": text})
            }
        }
    }
}

struct ServerRun {
    seed_secs: f64,
    campaigns: Vec<CampaignRun>,
}

struct CampaignRun {
    kind: Kind,
    startup_secs: f64,
    steady_rate: f64,
    end_to_end_rate: f64,
    rss_before: u64,
    rss_peak: u64,
    rss_after: u64,
    cpu_per_message_us: f64,
    bytes_per_message: f64,
    html_bytes: usize,
}

#[allow(clippy::too_many_arguments)]
async fn server_run(db_url: &str, sink_port: u16, sink_pid: u32, messages: usize, connections: usize) -> ServerRun {
    let dir = tempfile::tempdir().expect("temp dir");
    let bin = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("organizeo");
    assert!(bin.exists(), "{} is missing: cargo build --release --bin organizeo --examples", bin.display());
    let port = free_port();
    // CAMPAIGN_BENCH_SERVER_LOG=path keeps the server's log (ORGANIZEO_LOG, default warn).
    let log_path = std::env::var("CAMPAIGN_BENCH_SERVER_LOG")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| dir.path().join("server.log"));
    let log = std::fs::File::create(log_path).unwrap();
    let child = Command::new(&bin)
        .arg("serve")
        .current_dir(dir.path())
        .env("ORGANIZEO_DATABASE_URL", db_url.replace("{dir}", &dir.path().display().to_string()))
        .env("ORGANIZEO_LISTEN", format!("127.0.0.1:{port}"))
        .env("ORGANIZEO_ENCRYPTION_KEY", organizeo::security::crypto::generate_key("bench").unwrap())
        .env("ORGANIZEO_SMTP_URL", format!("smtp://127.0.0.1:{sink_port}"))
        .env("ORGANIZEO_SMTP_POOL_SIZE", connections.to_string())
        .env("ORGANIZEO_PUBLIC_URL", "https://mail.bench.example")
        .env("ORGANIZEO_BACKUP_INTERVAL_HOURS", "0")
        .env("ORGANIZEO_LOG", std::env::var("ORGANIZEO_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start organizeo serve");
    let server = Proc(child);
    let pid = server.0.id();
    wait_listening(port, "organizeo serve");

    let http = awc::Client::builder().timeout(Duration::from_secs(120)).finish();
    let base = format!("http://127.0.0.1:{port}");
    let mut signup = http
        .post(format!("{base}/api/v1/signup"))
        .send_json(
            &json!({"tenant_name": "Bench", "email": "bench@x.example", "password": "Bench-Pa55word!", "name": "B"}),
        )
        .await
        .expect("signup");
    let body: Value = signup.json().await.expect("json");
    let api = std::rc::Rc::new(Api { http, base, token: body["token"].as_str().expect("token").to_string() });

    // Contacts: `messages` of them, all tagged `news`, through the batch API.
    let started = Instant::now();
    let batches = messages.div_ceil(BATCH);
    let mut workers = Vec::new();
    for w in 0..SEED_IN_FLIGHT {
        let api = api.clone();
        workers.push(actix_web::rt::spawn(async move {
            let mut b = w;
            while b < batches {
                let items: Vec<Value> = (b * BATCH..((b + 1) * BATCH).min(messages))
                    .map(|n| {
                        json!({"email": format!("r{n}@y.example"), "first_name": format!("First{n}"),
                                    "last_name": format!("Last{}", n % 1000), "tags": ["news"]})
                    })
                    .collect();
                api.ok("POST", "/api/v1/contacts/batch", &json!({"action": "create", "items": items}), 200).await;
                b += SEED_IN_FLIGHT;
            }
        }));
    }
    for w in workers {
        w.await.expect("seed worker");
    }
    let seed_secs = started.elapsed().as_secs_f64();
    if db_url.starts_with("postgres") {
        // As crm_bench does: the statistics an import's ANALYZE or autovacuum's next pass
        // would give. Without them the campaign's contact lookup (200 ids by primary key)
        // is planned as a walk over every contact of the portal.
        let url = db_url.to_string();
        actix_web::rt::task::spawn_blocking(move || {
            let mut c = diesel::PgConnection::establish(&url).expect("db");
            c.batch_execute("ANALYZE records, record_values, record_tags, tags").expect("analyze");
        })
        .await
        .expect("analyze");
    }
    println!("  seeded {messages} contacts in {seed_secs:.1} s");

    let segment = api
        .ok(
            "POST",
            "/api/v1/segments",
            &json!({"name": "All", "filter_groups": [{"filters": [{"field": "tags", "op": "eq", "value": "news"}]}]}),
            201,
        )
        .await;
    api.ok("PATCH", "/api/v1/tenant", &json!({"sending_rate_per_second": 100_000}), 200).await;
    let mut campaigns = Vec::new();
    for kind in [Kind::Announcement, Kind::Newsletter] {
        println!("  organizeo sends the {}…", kind.label());
        campaigns.push(send_campaign(&api, kind, &segment, pid, sink_pid, messages).await);
    }
    ServerRun { seed_secs, campaigns }
}

/// Sends one campaign to the segment and measures it.
async fn send_campaign(
    api: &Api,
    kind: Kind,
    segment: &Value,
    pid: u32,
    sink_pid: u32,
    messages: usize,
) -> CampaignRun {
    let email_json = kind.email();
    let html_bytes = email_json["html"].as_str().unwrap().len();
    let email = api.ok("POST", "/api/v1/emails", &email_json, 201).await;
    let campaign = api
        .ok(
            "POST",
            "/api/v1/campaigns",
            &json!({"name": kind.label(), "email_id": email["id"], "segment_id": segment["id"],
              "from_name": "Bench", "from_email": "news@bench.example"}),
            201,
        )
        .await;
    let id = campaign["id"].as_str().unwrap().to_string();

    // Let the server settle (after seeding, or the campaign before), then measure the send.
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    let rss_before = rss_kib(pid);
    let cpu_before = cpu_secs(pid);
    let sink_bytes = read_bytes(sink_pid);
    let sampler = RssSampler::start(pid);
    let send_at = chrono::Utc::now();
    let t0 = Instant::now();
    api.ok("POST", &format!("/api/v1/campaigns/{id}/send"), &json!({}), 202).await;
    // Polls once a second (each poll counts the recipients by status on the server);
    // the end is the server's completed_at, so the poll interval does not blur it.
    let mut first_sent: Option<(f64, i64)> = None;
    let done = loop {
        actix_web::rt::time::sleep(Duration::from_secs(1)).await;
        let (s, c) = api.call("GET", &format!("/api/v1/campaigns/{id}"), None).await;
        assert_eq!(s, 200, "{c}");
        let sent = c["stats"]["sent"].as_i64().unwrap_or(0);
        if first_sent.is_none() && sent > 0 {
            first_sent = Some((t0.elapsed().as_secs_f64(), sent));
        }
        match c["status"].as_str() {
            Some("completed") => break c,
            Some("sending") => {}
            other => panic!("campaign ended {other:?}: {c}"),
        }
        assert!(t0.elapsed() < Duration::from_secs(3600), "the campaign did not finish within an hour");
    };
    let cpu_after = cpu_secs(pid);
    let completed_at: chrono::DateTime<chrono::Utc> = done["completed_at"].as_str().unwrap().parse().unwrap();
    let total_secs = (completed_at - send_at).to_std().unwrap_or_default().as_secs_f64();
    assert_eq!(done["stats"]["sent"].as_i64(), Some(messages as i64), "every recipient sent: {done}");
    let bytes_per_message = (read_bytes(sink_pid) - sink_bytes) as f64 / messages as f64;
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    let rss_peak = sampler.finish();
    let rss_after = rss_kib(pid);
    let (first_at, first_count) = first_sent.unwrap_or((0.0, 0));
    CampaignRun {
        kind,
        startup_secs: first_at,
        steady_rate: (messages as i64 - first_count) as f64 / (total_secs - first_at).max(1e-3),
        end_to_end_rate: messages as f64 / total_secs,
        rss_before,
        rss_peak,
        rss_after,
        cpu_per_message_us: (cpu_after - cpu_before) / messages as f64 * 1e6,
        bytes_per_message,
        html_bytes,
    }
}

fn main() -> std::process::ExitCode {
    // No OpenSSL exit handler racing the pool's threads (see organizeo::db::libpq).
    organizeo::db::libpq::prepare();
    let mut args = std::env::args().skip(1);
    let target = args.next().unwrap_or_else(|| "sqlite".into());
    let messages: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(50_000);
    let connections: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(4);
    for tool in [SINK, SOURCE] {
        assert!(std::path::Path::new(tool).exists(), "{tool} is missing: apt-get install postfix");
    }
    let (db_url, admin) = if target == "sqlite" {
        ("sqlite://{dir}/bench.db".to_string(), None)
    } else {
        let name = format!("oz_campaign_bench_{}", uuid::Uuid::new_v4().simple());
        let mut admin = diesel::PgConnection::establish(&target).expect("PostgreSQL");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create database");
        let base = target.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(target.clone());
        (format!("{base}/{name}"), Some((target.clone(), name)))
    };
    let backend = if admin.is_some() { "PostgreSQL" } else { "SQLite" };
    println!("# organizeo campaign bench: {messages} messages, {connections} connections, {backend}");

    // -u: it must drop root after binding; 1000 is the listen backlog.
    let sink_port = free_port();
    let sink = Proc(
        Command::new(SINK)
            .args(["-u", "nobody", &format!("127.0.0.1:{sink_port}"), "1000"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start smtp-sink"),
    );
    let sink_pid = sink.0.id();
    wait_listening(sink_port, "smtp-sink");

    println!("  smtp-source -d (a persistent connection per session)…");
    let (source_reuse, source_reuse_bytes) = smtp_source(sink_port, sink_pid, messages, connections, true, 2048);
    println!("  smtp-source (a new connection per message)…");
    let (source_fresh, _) = smtp_source(sink_port, sink_pid, messages, connections, false, 2048);

    let system = actix_web::rt::System::new();
    let (nagle, nodelay, run) = system.block_on(async move {
        println!("  lettre, one connection, without and with TCP_NODELAY…");
        let nagle = lettre_rate(sink_port, NODELAY_MESSAGES, false).await;
        let nodelay = lettre_rate(sink_port, NODELAY_MESSAGES, true).await;
        println!("  organizeo serve…");
        let run = server_run(&db_url, sink_port, sink_pid, messages, connections).await;
        (nagle, nodelay, run)
    });
    // smtp-source again for each campaign, its messages as large on the wire as the
    // campaign's were.
    let mut matched = Vec::new();
    for c in &run.campaigns {
        let len = (c.bytes_per_message - (source_reuse_bytes - 2048.0)).max(2048.0) as usize;
        println!("  smtp-source -d with {len}-byte messages (the {}'s size on the wire)…", c.kind.label());
        let (rate, bytes) = smtp_source(sink_port, sink_pid, messages, connections, true, len);
        matched.push((len, rate, bytes));
    }
    drop(sink);
    if let Some((admin_url, name)) = admin {
        if let Ok(mut a) = diesel::PgConnection::establish(&admin_url) {
            let _ = a.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }

    let out = std::io::stdout();
    let mut o = out.lock();
    let _ = writeln!(o, "\n| {backend}, {messages} messages, {connections} connections | figure |");
    let _ = writeln!(o, "| --- | ---: |");
    let _ = writeln!(
        o,
        "| smtp-source -d ({connections} persistent connections, 2 KB messages), msgs/s | {source_reuse:.0} |"
    );
    let _ =
        writeln!(o, "| smtp-source (a connection per message, {connections} at once), msgs/s | {source_fresh:.0} |");
    let _ = writeln!(o, "| lettre, 1 connection, own socket (no TCP_NODELAY), msgs/s | {nagle:.0} |");
    let _ = writeln!(o, "| lettre, 1 connection, TCP_NODELAY socket (ours), msgs/s | {nodelay:.0} |");
    let _ = writeln!(o, "| seeding {messages} contacts (batch API), s | {:.1} |", run.seed_secs);
    for (c, (len, source_matched, source_matched_bytes)) in run.campaigns.iter().zip(&matched) {
        let k = c.kind.label();
        let _ = writeln!(o, "| **{k}**: email HTML template, bytes | {} |", c.html_bytes);
        let _ = writeln!(
            o,
            "| {k}: bytes the sink read per message: organizeo / smtp-source 2 KB / smtp-source {len} B | {:.0} / {source_reuse_bytes:.0} / {source_matched_bytes:.0} |",
            c.bytes_per_message
        );
        let _ = writeln!(o, "| {k}: organizeo, send → completed, msgs/s | {:.0} |", c.end_to_end_rate);
        let _ = writeln!(o, "| {k}: organizeo, first sent → completed, msgs/s | {:.0} |", c.steady_rate);
        let _ = writeln!(o, "| {k}: send → first sent (seen by a 1 s poll), s | {:.1} |", c.startup_secs);
        let _ = writeln!(
            o,
            "| {k}: ratio to smtp-source -d, 2 KB (end to end / steady) | {:.0}% / {:.0}% |",
            c.end_to_end_rate / source_reuse * 100.0,
            c.steady_rate / source_reuse * 100.0
        );
        let _ = writeln!(
            o,
            "| {k}: smtp-source -d, {len}-byte payload (the campaign's size), msgs/s | {source_matched:.0} |"
        );
        let _ = writeln!(
            o,
            "| {k}: ratio to same-size smtp-source -d (end to end / steady) | {:.0}% / {:.0}% |",
            c.end_to_end_rate / source_matched * 100.0,
            c.steady_rate / source_matched * 100.0
        );
        let _ = writeln!(
            o,
            "| {k}: ratio to smtp-source without -d (end to end) | {:.0}% |",
            c.end_to_end_rate / source_fresh * 100.0
        );
        let _ = writeln!(
            o,
            "| {k}: server RSS before / peak / after, MiB | {:.1} / {:.1} / {:.1} |",
            c.rss_before as f64 / 1024.0,
            c.rss_peak as f64 / 1024.0,
            c.rss_after as f64 / 1024.0
        );
        let _ = writeln!(o, "| {k}: server CPU per message (user+sys), µs | {:.0} |", c.cpu_per_message_us);
    }
    std::process::ExitCode::SUCCESS
}
