//! Slack's Socket Mode as a local endpoint: `apps.connections.open` (served by the fake Web
//! API) hands out a `ws://` URL with a single-use ticket; a connection on it gets `hello`, then
//! the envelopes a test sends, and the fake records the acknowledgements. Tests can ask for a
//! refresh (`disconnect`), drop connections without a word, or refuse new URLs.
//!
//! Frames follow Slack's published examples: the envelopes in python-slack-sdk's Socket Mode
//! tests (tests/slack_sdk/socket_mode/mock_socket_mode_server.py), `hello` and `disconnect`
//! as api.slack.com/apis/connections/socket-implement shows them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Json, Response};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response as Hs};

pub const APP_TOKEN: &str = "xapp-1-A0KEYLEAK-1-0123456789abcdef0123456789abcdef";

enum Order {
    Send(String),
    /// Close with a close frame.
    Close,
    /// Go away without a word, as a dead network does.
    Drop,
}

#[derive(Default)]
struct Inner {
    /// Tickets handed out, and whether a connection used each.
    tickets: HashMap<String, bool>,
    next: u64,
    open: HashMap<u64, mpsc::UnboundedSender<Order>>,
    /// Connections that said hello, over the fake's life.
    connects: usize,
    /// Handshakes refused for a ticket unknown or used before.
    refused: usize,
    refuse_open: Option<String>,
    /// Each acknowledgement, with when it arrived.
    acks: Vec<(std::time::Instant, Value)>,
    /// When each envelope was sent, by envelope id: Slack counts an acknowledgement later than
    /// 3 s as none.
    sent: HashMap<String, std::time::Instant>,
    /// Frames go to the open connections in turn, as Slack spreads envelopes over them.
    turn: usize,
}

#[derive(Clone)]
pub struct FakeSocket {
    inner: Arc<Mutex<Inner>>,
    acked: Arc<Notify>,
    base: String,
}

fn lock(f: &FakeSocket) -> std::sync::MutexGuard<'_, Inner> {
    super::lock(&f.inner)
}

impl FakeSocket {
    pub async fn start() -> std::io::Result<Self> {
        let (listener, addr) = super::loopback().await?;
        let fake = Self {
            inner: Arc::default(),
            acked: Arc::default(),
            base: format!("ws://{addr}/link/"),
        };
        let accepting = fake.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(accepting.clone().connection(tcp));
            }
        });
        Ok(fake)
    }

    /// `apps.connections.open`, as Slack answers it: only for an app-level token.
    pub fn open(&self, headers: &HeaderMap) -> Response {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let refused = lock(self).refuse_open.clone();
        let error = if auth.starts_with("Bearer xoxb-") {
            Some("not_allowed_token_type".to_string())
        } else if auth != format!("Bearer {APP_TOKEN}") {
            Some("invalid_auth".to_string())
        } else {
            refused
        };
        if let Some(e) = error {
            return Json(json!({"ok": false, "error": e})).into_response();
        }
        let mut s = lock(self);
        s.next += 1;
        let ticket = format!("ticket-{:04}", s.next);
        s.tickets.insert(ticket.clone(), false);
        let url = format!("{}?ticket={ticket}&app_id=A0KEYLEAK", self.base);
        Json(json!({"ok": true, "url": url})).into_response()
    }

    // The handshake callback's error type is tungstenite's, large or not.
    #[allow(clippy::result_large_err)]
    async fn connection(self, tcp: tokio::net::TcpStream) {
        let fake = self.clone();
        let check = move |req: &Request, resp: Hs| -> Result<Hs, ErrorResponse> {
            let ticket = req
                .uri()
                .query()
                .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("ticket=")))
                .unwrap_or_default()
                .to_string();
            let mut s = lock(&fake);
            match s.tickets.get_mut(&ticket) {
                Some(used) if !*used => {
                    *used = true;
                    Ok(resp)
                }
                _ => {
                    s.refused += 1;
                    let mut no = ErrorResponse::new(Some("invalid ticket".into()));
                    *no.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
                    Err(no)
                }
            }
        };
        let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, check).await else {
            return;
        };
        let (mut sink, mut frames) = ws.split();
        let (tx, mut orders) = mpsc::unbounded_channel();
        let (id, count) = {
            let mut s = lock(&self);
            s.next += 1;
            let id = s.next;
            s.open.insert(id, tx);
            s.connects += 1;
            (id, s.open.len())
        };
        let hello = json!({
            "type": "hello",
            "num_connections": count,
            "debug_info": {"host": "applink-fake", "build_number": 10, "approximate_connection_time": 18060},
            "connection_info": {"app_id": "A0KEYLEAK"}
        });
        if sink.send(Message::text(hello.to_string())).await.is_ok() {
            loop {
                tokio::select! {
                    order = orders.recv() => match order {
                        Some(Order::Send(t)) => {
                            if sink.send(Message::text(t)).await.is_err() {
                                break;
                            }
                        }
                        Some(Order::Close) => {
                            let _ = sink.close().await;
                            break;
                        }
                        Some(Order::Drop) | None => break,
                    },
                    frame = frames.next() => match frame {
                        Some(Ok(Message::Text(t))) => {
                            if let Ok(ack) = serde_json::from_str::<Value>(t.as_str()) {
                                lock(&self).acks.push((std::time::Instant::now(), ack));
                                self.acked.notify_waiters();
                            }
                        }
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                        Some(Ok(_)) => {}
                    },
                }
            }
        }
        lock(&self).open.remove(&id);
    }

    pub fn open_connections(&self) -> usize {
        lock(self).open.len()
    }

    /// Connections that said hello so far, and handshakes refused for a spent ticket.
    pub fn connects(&self) -> (usize, usize) {
        let s = lock(self);
        (s.connects, s.refused)
    }

    pub fn refuse_open(&self, error: Option<&str>) {
        lock(self).refuse_open = error.map(String::from);
    }

    /// Waits up to 15 s for exactly `n` connections to be open.
    pub async fn wait_connections(&self, n: usize) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while self.open_connections() != n {
            if tokio::time::Instant::now() > deadline {
                return Err(format!(
                    "expected {n} Socket Mode connections, have {}",
                    self.open_connections()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Sends a frame, unparsed, on the open connections in turn, as Slack spreads envelopes.
    /// False when no connection is open.
    pub fn send_raw(&self, text: &str) -> bool {
        self.send(text, false)
    }

    /// Sends a frame on the oldest open connection.
    pub fn send_first(&self, text: &str) -> bool {
        self.send(text, true)
    }

    fn send(&self, text: &str, first: bool) -> bool {
        let mut s = lock(self);
        if let Some(id) = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v["envelope_id"].as_str().map(String::from))
        {
            s.sent.insert(id, std::time::Instant::now());
        }
        let mut open: Vec<u64> = s.open.keys().copied().collect();
        open.sort();
        if open.is_empty() {
            return false;
        }
        s.turn += 1;
        let to = if first {
            open[0]
        } else {
            open[s.turn % open.len()]
        };
        s.open
            .get(&to)
            .is_some_and(|c| c.send(Order::Send(text.to_string())).is_ok())
    }

    /// Sends an envelope and waits for its acknowledgement, which must come within Slack's 3 s.
    pub async fn deliver(&self, envelope: &Value) -> Result<Value, String> {
        let id = envelope["envelope_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !self.send_raw(&envelope.to_string()) {
            return Err("no Socket Mode connection is open".into());
        }
        self.ack_for(&id, 1)
            .await
            .ok_or_else(|| format!("envelope {id} was not acknowledged within 3 s"))
    }

    /// The `nth` acknowledgement of an envelope, if it comes within 3 s of the envelope's
    /// last sending, as Slack waits for one.
    pub async fn ack_for(&self, envelope_id: &str, nth: usize) -> Option<Value> {
        let sent = lock(self).sent.get(envelope_id).copied()?;
        let deadline = tokio::time::Instant::from_std(sent) + Duration::from_secs(3);
        loop {
            let waiting = self.acked.notified();
            let found = lock(self)
                .acks
                .iter()
                .map(|(_, a)| a)
                .filter(|a| a["envelope_id"] == envelope_id)
                .nth(nth - 1)
                .cloned();
            if found.is_some() {
                return found;
            }
            if tokio::time::timeout_at(deadline, waiting).await.is_err() {
                return None;
            }
        }
    }

    /// When each envelope was first acknowledged, by envelope id.
    pub fn acked_at(&self) -> HashMap<String, std::time::Instant> {
        let mut at = HashMap::new();
        for (t, a) in &lock(self).acks {
            let id = a["envelope_id"].as_str().unwrap_or_default().to_string();
            at.entry(id).or_insert(*t);
        }
        at
    }

    /// Slack's `disconnect` on every open connection, each closed `after` that. Slack sends
    /// nothing more on a connection it is closing.
    pub fn disconnect_all(&self, reason: &str, after: Duration) {
        let frame =
            json!({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}});
        let open: Vec<u64> = lock(self).open.keys().copied().collect();
        for id in open {
            self.order(id, Order::Send(frame.to_string()), false);
            let fake = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                fake.order(id, Order::Close, true);
            });
        }
    }

    /// Every open connection gone at once, with no close frame.
    pub fn drop_all(&self) {
        let open: Vec<u64> = lock(self).open.keys().copied().collect();
        for id in open {
            self.order(id, Order::Drop, true);
        }
    }

    fn order(&self, id: u64, order: Order, last: bool) {
        let mut s = lock(self);
        let tx = if last {
            s.open.remove(&id)
        } else {
            s.open.get(&id).cloned()
        };
        if let Some(tx) = tx {
            let _ = tx.send(order);
        }
    }
}

/// A slash command's envelope, as python-slack-sdk's Socket Mode tests publish one.
pub fn command_envelope(id: &str, user: &str, text: &str, response_url: &str) -> Value {
    json!({
        "envelope_id": id,
        "payload": {
            "token": "xxx", "team_id": "T111", "team_domain": "xxx",
            "channel_id": "C111", "channel_name": "random",
            "user_id": user, "user_name": "seratch",
            "command": "/keyleak", "text": text, "api_app_id": "A111",
            "response_url": response_url,
            "trigger_id": format!("trigger-{id}")
        },
        "type": "slash_commands",
        "accepts_response_payload": true
    })
}

/// An interactive envelope around a `block_actions` payload: no payload in its ack.
pub fn interactive_envelope(id: &str, payload: &Value) -> Value {
    json!({
        "envelope_id": id,
        "payload": payload,
        "type": "interactive",
        "accepts_response_payload": false
    })
}
