//! The node's SMTP connections: `ORGANIZEO_SMTP_URL` (`smtp://[user:pass@]host[:port]`,
//! `smtps://…` for implicit TLS, `?tls=starttls` to upgrade a plain connection) and at most
//! `ORGANIZEO_SMTP_POOL_SIZE` of them open at once, shared by every campaign on the node.
//!
//! lettre speaks SMTP, but we open the TCP sockets ourselves: lettre 0.11 does not set
//! `TCP_NODELAY`, and without it every message waits on Nagle's algorithm and delayed ACKs
//! (about 22 messages/s per connection); with it a loopback connection does thousands.
//!
//! Outcomes are classified by the stage that answered: a 5xx to RCPT is
//! [`SendError::Permanent`] (a hard bounce); a 5xx to MAIL FROM is
//! [`SendError::SenderRefused`] and a 5xx to DATA or the message
//! [`SendError::MessageRefused`] (never the recipient's fault, never a bounce); a 4xx or a
//! connection that broke mid-message is [`SendError::Transient`] (retried later); a server
//! that cannot be reached at all is [`SendError::Unavailable`] (the campaign waits; its
//! recipients are not charged an attempt). This module never logs message content or credentials.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Semaphore};

pub use super::transaction::Job;
pub use super::transaction::Wire;
use super::transaction::{self, Conn, Ran, Stale};

/// How a connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain SMTP (a local relay or catcher).
    None,
    /// Plain, then `STARTTLS` before anything else is said.
    StartTls,
    /// TLS from the first byte (`smtps://`, usually port 465).
    Implicit,
}

/// Where and how to send.
#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub user: Option<String>,
    password: Option<String>,
    pub pool_size: usize,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        write!(f, "{}:{} ({:?}, user {:?}, pool {})", self.host, self.port, self.security, self.user, self.pool_size)
    }
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or("a truncated %-escape")?;
            let hex = std::str::from_utf8(hex).map_err(|_| "a bad %-escape")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "a bad %-escape")?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "credentials that are not UTF-8".to_string())
}

/// Parses `ORGANIZEO_SMTP_URL`.
pub fn parse_url(raw: &str, pool_size: usize) -> Result<SmtpConfig, String> {
    let (scheme, rest) = raw.split_once("://").ok_or("must look like smtp://host:port or smtps://host:port")?;
    let mut security = match scheme {
        "smtp" => Security::None,
        "smtps" => Security::Implicit,
        _ => return Err("the scheme must be smtp:// or smtps://".into()),
    };
    let (authority, query) = match rest.split_once('?') {
        Some((a, q)) => (a.trim_end_matches('/'), Some(q)),
        None => (rest.trim_end_matches('/'), None),
    };
    for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        match pair {
            "tls=starttls" if security == Security::None => security = Security::StartTls,
            "tls=starttls" => return Err("?tls=starttls goes with smtp://, not smtps://".into()),
            "tls=none" | "tls=off" => {}
            other => return Err(format!("unknown option {other} (only tls=starttls)")),
        }
    }
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((name, pass)) => (Some(percent_decode(name)?), Some(percent_decode(pass)?)),
            None => (Some(percent_decode(u)?), None),
        },
        None => (None, None),
    };
    let default_port = if security == Security::Implicit { 465 } else { 25 };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("an unclosed [ in the host")?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| "the port must be a number from 1 to 65535")?,
            None => default_port,
        };
        (h.to_string(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().map_err(|_| "the port must be a number from 1 to 65535")?),
            None => (hostport.to_string(), default_port),
        }
    };
    if host.is_empty() || port == 0 {
        return Err("a host and port are required".into());
    }
    Ok(SmtpConfig { host, port, security, user, password, pool_size: pool_size.max(1) })
}

/// Why a message was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// 5xx to RCPT: the server refused this recipient for good (a hard bounce).
    Permanent(String),
    /// 4xx at any stage, or the connection broke mid-message: try again later.
    Transient(String),
    /// 5xx to MAIL FROM: the relay refuses the sender (unverified or unauthorised
    /// `from_email`). Every message of the campaign would get the same answer.
    SenderRefused(String),
    /// 5xx to DATA or after the message: the relay refuses this message (size, content,
    /// policy). Not the recipient's fault, so never a bounce.
    MessageRefused(String),
    /// No connection could be made: the server is down or unreachable.
    Unavailable(String),
}

/// A TLS stream on our own socket, for `smtps://`.
#[derive(Debug)]
struct TlsTcp(tokio_rustls::client::TlsStream<TcpStream>);

impl tokio::io::AsyncRead for TlsTcp {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for TlsTcp {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsTcp {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The node's pool of SMTP connections.
pub struct Pool {
    cfg: SmtpConfig,
    hello: ClientId,
    idle: Mutex<Vec<Conn>>,
    permits: Semaphore,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SMTP pool {:?}", self.cfg)
    }
}

impl Pool {
    pub fn new(cfg: SmtpConfig) -> Arc<Pool> {
        let tls = if cfg.security == Security::Implicit {
            let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .ok()
                .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
        } else {
            None
        };
        let permits = Semaphore::new(cfg.pool_size);
        Arc::new(Pool { cfg, hello: ClientId::default(), idle: Mutex::new(Vec::new()), permits, tls })
    }

    pub fn size(&self) -> usize {
        self.cfg.pool_size
    }

    async fn connect(&self) -> Result<Conn, String> {
        let addr = (self.cfg.host.as_str(), self.cfg.port);
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("connecting to {}:{} timed out", self.cfg.host, self.cfg.port))?
            .map_err(|e| format!("cannot connect to {}:{}: {e}", self.cfg.host, self.cfg.port))?;
        tcp.set_nodelay(true).map_err(|e| format!("TCP_NODELAY: {e}"))?;
        let stream: Box<dyn AsyncTokioStream> = match (&self.cfg.security, &self.tls) {
            (Security::Implicit, None) => return Err("TLS is not available in this build".into()),
            (Security::Implicit, Some(tls)) => {
                let name = rustls::pki_types::ServerName::try_from(self.cfg.host.clone())
                    .map_err(|e| format!("bad TLS server name: {e}"))?;
                let tls = tokio_rustls::TlsConnector::from(tls.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS with {}: {e}", self.cfg.host))?;
                Box::new(TlsTcp(tls))
            }
            _ => Box::new(tcp),
        };
        let mut conn =
            tokio::time::timeout(CONNECT_TIMEOUT, AsyncSmtpConnection::connect_with_transport(stream, &self.hello))
                .await
                .map_err(|_| "the SMTP greeting timed out".to_string())?
                .map_err(|e| format!("SMTP greeting: {e}"))?;
        if self.cfg.security == Security::StartTls {
            let params = TlsParameters::new_rustls(self.cfg.host.clone()).map_err(|e| format!("TLS: {e}"))?;
            conn.starttls(params, &self.hello).await.map_err(|e| format!("STARTTLS: {e}"))?;
        }
        let mut conn = Conn::open(conn, &self.hello).await;
        if let (Some(user), Some(pass)) = (&self.cfg.user, &self.cfg.password) {
            let creds = Credentials::new(user.clone(), pass.clone());
            conn.smtp
                .auth(&[Mechanism::Plain, Mechanism::Login], &creds)
                .await
                .map_err(|e| format!("SMTP AUTH: {e}"))?;
        }
        Ok(conn)
    }

    /// Whether a connection can be had now (an idle one, or a fresh one), without sending.
    pub async fn check(&self) -> Result<(), String> {
        let _permit = self.permits.acquire().await.map_err(|_| "the SMTP pool is closed".to_string())?;
        if !self.idle.lock().await.is_empty() {
            return Ok(());
        }
        let conn = self.connect().await?;
        self.idle.lock().await.push(conn);
        Ok(())
    }

    /// Sends one message. A pooled connection the server closed while idle (it breaks
    /// before answering MAIL FROM) is replaced once without counting against the message.
    pub async fn send(&self, envelope: &Envelope, message: &Wire) -> Result<(), SendError> {
        let _permit =
            self.permits.acquire().await.map_err(|_| SendError::Unavailable("the SMTP pool is closed".into()))?;
        let pooled = self.idle.lock().await.pop();
        let mut conn = match pooled {
            Some(c) => {
                let mut c = c;
                match transaction::send(&mut c, envelope, message).await {
                    Err(Stale) => match self.connect().await {
                        Ok(fresh) => fresh,
                        Err(why) => return Err(SendError::Unavailable(why)),
                    },
                    Ok(out) => return self.keep(c, out).await,
                }
            }
            None => self.connect().await.map_err(SendError::Unavailable)?,
        };
        match transaction::send(&mut conn, envelope, message).await {
            Ok(out) => self.keep(conn, out).await,
            Err(Stale) => Err(SendError::Transient("the connection closed before the server answered".into())),
        }
    }

    /// Sends every message of `jobs` over up to the pool's size of connections at once,
    /// each connection taking the next message as soon as it is free and pipelining from
    /// one message to the next ([`transaction::run`]). The outcomes are in `jobs`' order.
    /// A message whose pooled connection turns out closed (the server's idle timeout) goes
    /// again uncounted on a fresh connection, and the other idle connections, closed by
    /// the same timeout, are dropped; one whose fresh connection breaks before the first
    /// answer goes again once.
    pub async fn send_all(&self, jobs: &[Job<'_>]) -> Vec<Result<(), SendError>> {
        let results: RefCell<Vec<Option<Result<(), SendError>>>> = RefCell::new(vec![None; jobs.len()]);
        let set = |i: usize, out: Result<(), SendError>| {
            if let Some(slot) = results.borrow_mut().get_mut(i) {
                *slot = Some(out);
            }
        };
        let queue: RefCell<std::collections::VecDeque<usize>> = RefCell::new((0..jobs.len()).collect());
        let retried: RefCell<Vec<bool>> = RefCell::new(vec![false; jobs.len()]);
        let workers = (0..self.cfg.pool_size.min(jobs.len())).map(|_| async {
            let Ok(_permit) = self.permits.acquire().await else { return };
            while !queue.borrow().is_empty() {
                let pooled = self.idle.lock().await.pop();
                let fresh = pooled.is_none();
                let mut went_stale = false;
                let mut conn = match pooled {
                    Some(c) => c,
                    None => match self.connect().await {
                        Ok(c) => c,
                        Err(why) => {
                            // Not attempted; the next message tries to connect again.
                            let taken = queue.borrow_mut().pop_front();
                            if let Some(i) = taken {
                                set(i, Err(SendError::Unavailable(why)));
                            }
                            continue;
                        }
                    },
                };
                transaction::run(
                    &mut conn,
                    || {
                        let i = queue.borrow_mut().pop_front()?;
                        jobs.get(i).map(|j| (i, Job { envelope: j.envelope, wire: j.wire }))
                    },
                    |i, ran| match ran {
                        Ran::Done(out) => set(i, out),
                        Ran::Stale => {
                            // From a pooled connection the server closed while it sat idle
                            // (as it likely closed the other idle ones): again, uncounted, on
                            // a fresh connection. From a fresh one: once more, then it counts.
                            went_stale = true;
                            let again =
                                !fresh || retried.borrow_mut().get_mut(i).is_some_and(|r| !std::mem::replace(r, true));
                            if again {
                                queue.borrow_mut().push_front(i);
                            } else {
                                set(
                                    i,
                                    Err(SendError::Transient(
                                        "the connection closed before the server answered".into(),
                                    )),
                                );
                            }
                        }
                    },
                )
                .await;
                if went_stale && !fresh {
                    self.idle.lock().await.clear();
                }
                if !conn.has_broken() {
                    self.idle.lock().await.push(conn);
                }
            }
        });
        futures_util::future::join_all(workers).await;
        results
            .into_inner()
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(SendError::Unavailable("the SMTP pool is closed".into()))))
            .collect()
    }

    /// Returns a connection still in step to the pool; passes the outcome on.
    async fn keep(&self, conn: Conn, out: Result<(), SendError>) -> Result<(), SendError> {
        if !conn.has_broken() {
            self.idle.lock().await.push(conn);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_parse_with_credentials_tls_and_default_ports() {
        let c = parse_url("smtp://127.0.0.1:1025", 4).unwrap();
        assert_eq!((c.host.as_str(), c.port, c.security, c.user.clone()), ("127.0.0.1", 1025, Security::None, None));
        let c = parse_url("smtps://ann%40x.example:p%3Ass@mail.example.com", 2).unwrap();
        assert_eq!((c.port, c.security), (465, Security::Implicit));
        assert_eq!((c.user.as_deref(), c.password.as_deref()), (Some("ann@x.example"), Some("p:ss")));
        assert!(!format!("{c:?}").contains("p:ss"), "the password never prints");
        let c = parse_url("smtp://relay.example:587?tls=starttls", 0).unwrap();
        assert_eq!((c.port, c.security, c.pool_size), (587, Security::StartTls, 1));
        assert_eq!(parse_url("smtp://[::1]:2525", 1).unwrap().host, "::1");
        for bad in ["http://x:25", "smtp://", "smtp://x:notaport", "smtps://x?tls=starttls", "smtp://x?foo=1", "x:25"] {
            assert!(parse_url(bad, 1).is_err(), "{bad}");
        }
    }
}
