//! A real SMTP server for tests, over TCP on a loopback port: it accepts what lettre sends
//! and keeps every message, and can be told to answer 550 or 451 for chosen addresses, to
//! be slow before accepting a message, or to drop every connection (a server that is down).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

impl Received {
    /// A header's value (first occurrence, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let mut out: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(v) = out.as_mut() {
                if line.starts_with(' ') || line.starts_with('\t') {
                    v.push_str(line.trim_start());
                    continue;
                }
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case(name) {
                    out = Some(v.trim().to_string());
                }
            }
        }
        out
    }
}

#[derive(Default)]
struct Rules {
    /// Addresses answered 550 at RCPT.
    reject: Vec<String>,
    /// Addresses answered 451 this many more times at RCPT.
    defer: HashMap<String, u32>,
    /// A pause before the answer to the end of DATA.
    slow: Duration,
    /// Close every new connection at once.
    down: bool,
    /// Bumped by `close_idle`: connections opened before it close at their next command.
    epoch: u32,
    /// Senders answered 550 at MAIL FROM.
    refuse_from: Vec<String>,
    /// An answer to the end of DATA instead of 250 (e.g. a 554 policy rejection).
    data_answer: Option<String>,
    /// Do not offer PIPELINING (RFC 2920): clients must send one command at a time.
    no_pipelining: bool,
}

#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    rules: Arc<Mutex<Rules>>,
    /// MAIL FROM commands that arrived with more commands behind them in the same read.
    pipelined: Arc<std::sync::atomic::AtomicUsize>,
    /// Ends of message data with the next commands behind them in the same read.
    after_data: Arc<std::sync::atomic::AtomicUsize>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sink");
        let port = listener.local_addr().expect("addr").port();
        let sink = SmtpSink {
            port,
            received: Arc::default(),
            rules: Arc::default(),
            pipelined: Arc::default(),
            after_data: Arc::default(),
        };
        let s = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = s.session(stream).await;
                });
            }
        });
        sink
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn reject(&self, addr: &str) {
        self.rules.lock().unwrap().reject.push(addr.to_lowercase());
    }

    pub fn defer(&self, addr: &str, times: u32) {
        self.rules.lock().unwrap().defer.insert(addr.to_lowercase(), times);
    }

    pub fn slow(&self, d: Duration) {
        self.rules.lock().unwrap().slow = d;
    }

    pub fn refuse_sender(&self, addr: &str) {
        self.rules.lock().unwrap().refuse_from.push(addr.to_lowercase());
    }

    pub fn answer_data_with(&self, answer: Option<&str>) {
        self.rules.lock().unwrap().data_answer = answer.map(str::to_string);
    }

    /// Offer PIPELINING (the default, like Postfix) or not.
    pub fn set_pipelining(&self, on: bool) {
        self.rules.lock().unwrap().no_pipelining = !on;
    }

    pub fn set_down(&self, down: bool) {
        self.rules.lock().unwrap().down = down;
    }

    pub fn messages(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// How many transactions a client pipelined (MAIL FROM with RCPT already behind it).
    pub fn pipelined(&self) -> usize {
        self.pipelined.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many messages' data a client ended with the next transaction's commands
    /// behind it (pipelining from one message to the next).
    pub fn pipelined_after_data(&self) -> usize {
        self.after_data.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Closes every connection open now, as a server's idle timeout does: each one closes,
    /// unanswered, at the next command it gets.
    pub fn close_idle(&self) {
        self.rules.lock().unwrap().epoch += 1;
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// Messages to `addr`.
    pub fn to(&self, addr: &str) -> Vec<Received> {
        let addr = addr.to_lowercase();
        self.messages().into_iter().filter(|m| m.to.iter().any(|t| t.to_lowercase() == addr)).collect()
    }

    async fn session(&self, stream: tokio::net::TcpStream) -> std::io::Result<()> {
        if self.rules.lock().unwrap().down {
            return Ok(());
        }
        let (r, mut w) = stream.into_split();
        let mut r = BufReader::new(r);
        w.write_all(b"220 sink.test ESMTP\r\n").await?;
        let (mut from, mut to) = (String::new(), Vec::new());
        // A transaction is open (MAIL FROM accepted); like Postfix, RCPT needs one and DATA
        // needs an accepted recipient, whatever a pipelining client sent after a refusal.
        let mut open = false;
        let mut line = String::new();
        let born = self.rules.lock().unwrap().epoch;
        loop {
            line.clear();
            if r.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            if self.rules.lock().unwrap().epoch != born {
                // Closed while idle (a server's idle timeout): the client learns it now.
                return Ok(());
            }
            let upper = line.to_ascii_uppercase();
            let reply: String = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                open = false;
                to.clear();
                if self.rules.lock().unwrap().no_pipelining {
                    "250-sink.test\r\n250-8BITMIME\r\n250 SIZE 52428800\r\n".into()
                } else {
                    "250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 52428800\r\n".into()
                }
            } else if upper.starts_with("MAIL FROM:") {
                from = addr_of(&line);
                if !r.buffer().is_empty() {
                    self.pipelined.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                to.clear();
                open = !self.rules.lock().unwrap().refuse_from.contains(&from.to_lowercase());
                if open {
                    "250 2.1.0 OK\r\n".into()
                } else {
                    "550 5.7.1 Sender not authorized\r\n".into()
                }
            } else if upper.starts_with("RCPT TO:") && !open {
                "503 5.5.1 Error: need MAIL command\r\n".into()
            } else if upper.starts_with("RCPT TO:") {
                let a = addr_of(&line);
                let mut rules = self.rules.lock().unwrap();
                if rules.reject.contains(&a.to_lowercase()) {
                    "550 5.1.1 No such user here\r\n".into()
                } else if let Some(n) = rules.defer.get_mut(&a.to_lowercase()).filter(|n| **n > 0) {
                    *n -= 1;
                    "451 4.3.0 Try again later\r\n".into()
                } else {
                    to.push(a);
                    "250 2.1.5 OK\r\n".into()
                }
            } else if upper.starts_with("DATA") && (!open || to.is_empty()) {
                "554 5.5.1 Error: no valid recipients\r\n".into()
            } else if upper.starts_with("DATA") {
                open = false;
                w.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let mut data = String::new();
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l).await? == 0 {
                        return Ok(());
                    }
                    if l == ".\r\n" {
                        if !r.buffer().is_empty() {
                            self.after_data.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        break;
                    }
                    data.push_str(l.strip_prefix('.').filter(|_| l.starts_with("..")).unwrap_or(&l));
                }
                let slow = self.rules.lock().unwrap().slow;
                if !slow.is_zero() {
                    tokio::time::sleep(slow).await;
                }
                let answer = self.rules.lock().unwrap().data_answer.clone();
                match answer {
                    Some(a) => format!("{a}\r\n"),
                    None => {
                        self.received.lock().unwrap().push(Received { from: from.clone(), to: to.clone(), data });
                        "250 2.0.0 Queued\r\n".into()
                    }
                }
            } else if upper.starts_with("RSET") {
                to.clear();
                open = false;
                "250 2.0.0 OK\r\n".into()
            } else if upper.starts_with("NOOP") {
                "250 2.0.0 OK\r\n".into()
            } else if upper.starts_with("QUIT") {
                w.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            } else {
                "502 5.5.2 Command not recognized\r\n".into()
            };
            w.write_all(reply.as_bytes()).await?;
        }
    }
}

fn addr_of(line: &str) -> String {
    let start = line.find('<').map_or(0, |i| i + 1);
    let end = line.get(start..).and_then(|s| s.find('>')).map_or(line.len(), |i| start + i);
    line.get(start..end).unwrap_or_default().trim().to_string()
}
