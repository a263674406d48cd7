//! Socket Mode: keyleak opens its connections to Slack itself, so it needs no inbound port.
//! Each connection carries the same payloads as the HTTP routes, in envelopes that the same
//! edge functions answer (`envelope.rs`).
//!
//! Several connections are held open at once (Slack allows an app ten), each kept by its own
//! slot: when Slack asks for a refresh the slot opens the replacement at once while the old
//! connection drains, and a lost connection is opened again after a bounded, jittered
//! backoff, each time on a fresh URL from `apps.connections.open`.
//!
//! slack-morphism's Socket Mode client is not used, for concrete reasons: it reports no
//! connection state (so `/readyz` could not say whether any connection is open), it reconnects
//! on a fixed interval with no jitter (replicas dropped together retry in lockstep), it closes
//! a connection Slack asked to refresh before opening the next, and it logs the connection
//! URL, ticket included. The WebSocket protocol itself is tokio-tungstenite's.

mod envelope;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use tracing::{debug, error, info, warn};

use super::client::SlackNotifier;
use super::routes::AppState;
use crate::config::SocketModeConfig;
use crate::notify::NotifyError;

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Slack's pings come every few seconds; keyleak pings too, and a connection that has said
/// nothing for `SILENT_FOR` is taken for dead (a half-open TCP connection never closes).
const PING_EVERY: Duration = Duration::from_secs(10);
const SILENT_FOR: Duration = Duration::from_secs(30);
/// How long a connection Slack asked to refresh may keep delivering once its replacement is
/// being opened (Slack closes it itself, about ten seconds after a `warning`).
const DRAIN_FOR: Duration = Duration::from_secs(30);
/// A connection that lasted this long was healthy: its loss starts the backoff afresh.
const STABLE_AFTER: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Slack's envelopes carry a message's blocks; this is far above any of keyleak's.
const MAX_MESSAGE: usize = 1 << 20;

/// How many Socket Mode connections are open (said `hello` and not yet gone): what `/readyz`
/// reads.
#[derive(Clone, Default)]
pub struct SocketStatus(Arc<AtomicUsize>);

impl SocketStatus {
    pub fn open(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    fn change(&self, up: bool) {
        let n = if up {
            self.0.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            self.0.fetch_sub(1, Ordering::Relaxed) - 1
        };
        crate::metrics::socket_connections(n);
    }
}

pub struct SocketMode {
    config: SocketModeConfig,
    status: SocketStatus,
    tls: Arc<rustls::ClientConfig>,
}

/// Why a connection's slot opens another.
enum Ended {
    /// Slack asked for a refresh: the replacement is opened at once, the old one drains.
    Refresh,
    /// The connection is gone; `healthy` when it had lasted.
    Lost { healthy: bool },
}

impl SocketMode {
    pub fn new(config: SocketModeConfig) -> std::io::Result<Self> {
        Ok(Self {
            config,
            status: SocketStatus::default(),
            tls: crate::tls::client_config()?,
        })
    }

    pub fn status(&self) -> SocketStatus {
        self.status.clone()
    }

    /// Proves the app token, as `auth.test` cannot (it refuses `xapp-` tokens): Slack gives a
    /// connection URL only for a token it accepts. The URL opens the first connection.
    pub async fn check(&self, slack: &SlackNotifier) -> Result<url::Url, NotifyError> {
        slack.socket_url(&self.config.app_token).await
    }

    /// Holds the connections open until `stop` turns true. `first` is a URL not used yet.
    pub async fn run(self, state: AppState, first: Option<url::Url>, stop: watch::Receiver<bool>) {
        let shared = Arc::new(Shared {
            state,
            app_token: self.config.app_token.clone(),
            status: self.status,
            tls: self.tls,
            edge: envelope::Edge::default(),
        });
        let mut first = first;
        let slots: Vec<_> = (0..self.config.connections)
            .map(|slot| tokio::spawn(shared.clone().keep(slot, first.take(), stop.clone())))
            .collect();
        for s in slots {
            let _ = s.await;
        }
    }
}

struct Shared {
    state: AppState,
    app_token: crate::config::Secret,
    status: SocketStatus,
    tls: Arc<rustls::ClientConfig>,
    edge: envelope::Edge,
}

impl Shared {
    /// One slot: a connection open, and another opened whenever it ends or must be replaced.
    async fn keep(
        self: Arc<Self>,
        slot: usize,
        first: Option<url::Url>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut first = first;
        let mut failures = 0;
        while !*stop.borrow() {
            match self.connect(first.take()).await {
                Ok(socket) => {
                    let (ended_tx, ended) = oneshot::channel();
                    tokio::spawn(self.clone().serve(slot, socket, ended_tx, stop.clone()));
                    match ended.await {
                        Ok(Ended::Refresh) => {
                            failures = 0;
                            continue;
                        }
                        Ok(Ended::Lost { healthy: true }) => failures = 0,
                        Ok(Ended::Lost { healthy: false }) | Err(_) => {}
                    }
                }
                Err(e) => warn!(slot, error = %e, "could not open a Socket Mode connection"),
            }
            if *stop.borrow() {
                break;
            }
            failures += 1;
            let wait = backoff(failures, rand::random());
            debug!(
                slot,
                wait_ms = wait.as_millis(),
                "opening a Socket Mode connection again"
            );
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                // Stopped, or nobody left to say stop.
                changed = stop.changed() => if changed.is_err() { break },
            }
        }
    }

    /// A fresh URL (unless `url` is one not used yet), then the WebSocket on it. The URL is
    /// never logged: its ticket admits whoever holds it.
    async fn connect(&self, url: Option<url::Url>) -> Result<Socket, ConnectError> {
        let url = match url {
            Some(u) => u,
            None => self
                .state
                .client
                .socket_url(&self.app_token)
                .await
                .map_err(ConnectError::Url)?,
        };
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        let connecting = tokio_tungstenite::connect_async_tls_with_config(
            url.as_str(),
            Some(config),
            true,
            Some(Connector::Rustls(self.tls.clone())),
        );
        match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(Ok((socket, _))) => Ok(socket),
            Ok(Err(e)) => Err(ConnectError::Socket(e.to_string())),
            Err(_) => Err(ConnectError::Socket("no answer in time".into())),
        }
    }

    /// Reads one connection until it ends, answering its envelopes; tells its slot once when
    /// it must be replaced.
    async fn serve(
        self: Arc<Self>,
        slot: usize,
        socket: Socket,
        ended: oneshot::Sender<Ended>,
        mut stop: watch::Receiver<bool>,
    ) {
        let (mut sink, mut frames) = socket.split();
        let (out, mut outgoing) = mpsc::unbounded_channel::<Message>();
        // Acknowledgements come from the envelopes' own tasks, in any order.
        let writer = tokio::spawn(async move {
            while let Some(m) = outgoing.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let opened = Instant::now();
        let mut ended = Some(ended);
        let mut said_hello = false;
        let mut last_heard = Instant::now();
        let mut draining_until: Option<tokio::time::Instant> = None;
        let mut ping = tokio::time::interval(PING_EVERY);
        loop {
            let drained = async {
                match draining_until {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                frame = frames.next() => {
                    last_heard = Instant::now();
                    let text = match frame {
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                        Some(Ok(_)) => continue,
                    };
                    match self.edge.frame(&self.state, text.as_str(), &out) {
                        envelope::Control::Hello => {
                            if !said_hello {
                                said_hello = true;
                                self.status.change(true);
                                info!(slot, "Socket Mode connection open");
                            }
                        }
                        // Socket Mode turned off for the app: no new connection will be
                        // good until it is on again, so none is opened before the backoff.
                        envelope::Control::Disconnect(reason) if reason == "link_disabled" => {
                            error!(slot, "Slack turned Socket Mode off for this app; turn it on in the app's settings");
                            break;
                        }
                        envelope::Control::Disconnect(reason) => {
                            info!(slot, reason, "Slack asked for a new Socket Mode connection");
                            if let Some(e) = ended.take() {
                                let _ = e.send(Ended::Refresh);
                            }
                            draining_until.get_or_insert(tokio::time::Instant::now() + DRAIN_FOR);
                        }
                        envelope::Control::None => {}
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > SILENT_FOR {
                        warn!(slot, "Socket Mode connection silent; opening another");
                        break;
                    }
                    let _ = out.send(Message::Ping(Default::default()));
                }
                () = drained => break,
                _ = stop.changed() => break,
            }
        }
        if said_hello {
            self.status.change(false);
        }
        if let Some(e) = ended.take() {
            let healthy = said_hello && opened.elapsed() >= STABLE_AFTER;
            info!(slot, "Socket Mode connection lost");
            let _ = e.send(Ended::Lost { healthy });
        }
        // The writer ends once every envelope still being answered has sent its ack.
        drop(out);
        let _ = writer.await;
    }
}

#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("Slack gave no connection URL: {0}")]
    Url(NotifyError),
    #[error("the WebSocket did not open: {0}")]
    Socket(String),
}

/// The wait before the `failures`th attempt in a row: doubling from half a second to 30 s,
/// and a random part of it (`jitter` in 0..1) so replicas dropped together do not return
/// together.
fn backoff(failures: u32, jitter: f64) -> Duration {
    let ceiling = Duration::from_millis(500)
        .saturating_mul(1 << failures.min(16))
        .min(Duration::from_secs(30));
    ceiling.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_ceiling_and_jitters_within_half_of_it() {
        let ceilings: Vec<u128> = (1..=8).map(|n| backoff(n, 1.0).as_millis()).collect();
        assert_eq!(
            ceilings,
            [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(backoff(1, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(u32::MAX, 0.0), Duration::from_secs(15));
        assert!(backoff(3, 0.5) > backoff(3, 0.0) && backoff(3, 0.5) < backoff(3, 1.0));
    }
}
