//! A real websocket client for the tests (awc): gets a ticket, connects, sends JSON frames
//! and reads frames with deadlines. It answers server pings unless told not to.

use std::time::Duration;

use awc::ws::{self, Frame, Message};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

use crate::helpers::TestApp;

pub const WAIT: Duration = Duration::from_secs(10);

pub struct Ws {
    conn: actix_codec::Framed<awc::BoxedSocket, ws::Codec>,
    pub answer_pings: bool,
    /// The description of the last close frame received.
    pub close_reason: Option<String>,
}

/// What the server sent next.
#[derive(Debug)]
pub enum Got {
    Json(Value),
    Close(Option<u16>),
    Ping,
    Ended,
}

impl TestApp {
    /// A websocket ticket for `token`.
    pub async fn ticket(&self, token: &str) -> String {
        let r = self.post("/api/v1/realtime/ticket", &json!({}), Some(token)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["ticket"].as_str().expect("ticket").to_string()
    }

    /// Opens a websocket with a fresh ticket for `token`.
    pub async fn ws(&self, token: &str) -> Ws {
        let ticket = self.ticket(token).await;
        self.ws_with_ticket(&ticket).await.expect("websocket upgrade")
    }

    /// Upgrades with `ticket`; on refusal, the HTTP status.
    pub async fn ws_with_ticket(&self, ticket: &str) -> Result<Ws, u16> {
        Ws::connect(self.port, ticket).await
    }
}

impl Ws {
    /// Upgrades on `path` (with its query) at `port`, sending `origin` if given; on
    /// refusal, the HTTP status.
    pub async fn connect_path(port: u16, path: &str, origin: Option<&str>) -> Result<Ws, u16> {
        let url = format!("ws://127.0.0.1:{port}{path}");
        let mut req = awc::Client::new().ws(url).max_frame_size(64 * 1024 * 1024);
        if let Some(o) = origin {
            req = req.origin(o);
        }
        match req.connect().await {
            Ok((_, conn)) => Ok(Ws { conn, answer_pings: true, close_reason: None }),
            Err(awc::error::WsClientError::InvalidResponseStatus(s)) => Err(s.as_u16()),
            Err(e) => panic!("websocket connect failed: {e}"),
        }
    }

    /// Upgrades on the server at `port` with `ticket`; on refusal, the HTTP status.
    pub async fn connect(port: u16, ticket: &str) -> Result<Ws, u16> {
        let url = format!("ws://127.0.0.1:{port}/api/v1/realtime?ticket={ticket}");
        match awc::Client::new().ws(url).max_frame_size(64 * 1024 * 1024).connect().await {
            Ok((_, conn)) => Ok(Ws { conn, answer_pings: true, close_reason: None }),
            Err(awc::error::WsClientError::InvalidResponseStatus(s)) => Err(s.as_u16()),
            Err(e) => panic!("websocket connect failed: {e}"),
        }
    }
}

impl Ws {
    pub async fn send(&mut self, frame: Value) {
        self.conn.send(Message::Text(frame.to_string().into())).await.expect("send");
    }

    pub async fn send_raw(&mut self, msg: Message) {
        self.conn.send(msg).await.expect("send");
    }

    /// The next frame (pings answered and skipped unless `answer_pings` is off).
    pub async fn next(&mut self, deadline: Duration) -> Got {
        loop {
            let item = actix_web::rt::time::timeout(deadline, self.conn.next())
                .await
                .unwrap_or_else(|_| panic!("no frame within {deadline:?}"));
            match item {
                None => return Got::Ended,
                Some(Err(_)) => return Got::Ended,
                Some(Ok(Frame::Text(t))) => return Got::Json(serde_json::from_slice(&t).expect("JSON frame")),
                Some(Ok(Frame::Ping(p))) => {
                    if self.answer_pings {
                        let _ = self.conn.send(Message::Pong(p)).await;
                    } else {
                        return Got::Ping;
                    }
                }
                Some(Ok(Frame::Close(reason))) => {
                    self.close_reason = reason.as_ref().and_then(|r| r.description.clone());
                    return Got::Close(reason.map(|r| u16::from(r.code)));
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next JSON frame; panics on anything else.
    pub async fn json(&mut self) -> Value {
        match self.next(WAIT).await {
            Got::Json(v) => v,
            other => panic!("expected a JSON frame, got {other:?}"),
        }
    }

    /// Skips frames until one has `type` (and, for events, `event`) as given.
    pub async fn until(&mut self, kind: &str, event: Option<&str>) -> Value {
        loop {
            let v = self.json().await;
            if v["type"] == kind && event.is_none_or(|e| v["event"] == e) {
                return v;
            }
        }
    }

    /// Subscribes and returns the frames up to and including `subscribed`.
    pub async fn subscribe(&mut self, topic: &str, since: Option<i64>) -> Vec<Value> {
        let mut frame = json!({"type": "subscribe", "topic": topic});
        if let Some(s) = since {
            frame["since"] = json!(s);
        }
        self.send(frame).await;
        let mut got = Vec::new();
        loop {
            let v = self.json().await;
            let done = v["type"] == "subscribed" && v["topic"] == topic;
            let failed = v["type"] == "error";
            got.push(v);
            if done || failed {
                return got;
            }
        }
    }

    /// Proves nothing else was queued: a ping's pong must be the very next frame.
    pub async fn expect_quiet(&mut self) {
        self.send(json!({"type": "ping"})).await;
        let v = self.json().await;
        assert_eq!(v, json!({"type": "pong"}), "an unexpected frame arrived first");
    }

    /// Reads until the server closes; returns the close code.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            match self.next(WAIT).await {
                Got::Close(code) => return code,
                Got::Ended => return None,
                _ => {}
            }
        }
    }

    /// Reads until the server closes; returns the close code and its reason.
    pub async fn closed(&mut self) -> (Option<u16>, Option<String>) {
        let code = self.close_code().await;
        (code, self.close_reason.clone())
    }

    pub async fn close(mut self) {
        let _ = self.conn.send(Message::Close(None)).await;
    }
}
