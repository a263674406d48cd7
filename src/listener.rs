//! The HTTP listener: hyper's HTTP/1 server held to limits that anyone who can reach the port
//! cannot exhaust. Headers must arrive within a deadline (hyper's own timeout, which needs a
//! timer to take effect); a request, body included, must be read and answered within another;
//! open connections are capped, and at the cap the oldest connection that has sent nothing
//! (else the oldest with no request under way) is closed to make room, so a flood of idle or
//! slow connections never keeps a signed command out; shutdown waits for requests under way only up to a deadline.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use crate::inflight::InFlight;
use tracing::{info, warn};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// From a connection's opening (or its previous answer) to a request's last header line
    /// (`KEYLEAK_HEADER_TIMEOUT_SECONDS`).
    pub header_timeout: Duration,
    /// From a request's headers to its answer, its body included
    /// (`KEYLEAK_REQUEST_TIMEOUT_SECONDS`).
    pub request_timeout: Duration,
    /// Connections open at once (`KEYLEAK_MAX_CONNECTIONS`); keep it well below `ulimit -n`,
    /// which the store, AWS and Slack need too.
    pub max_connections: usize,
    /// How long a stopping server waits for requests under way (`KEYLEAK_SHUTDOWN_SECONDS`).
    pub shutdown_deadline: Duration,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_connections: 256,
            shutdown_deadline: Duration::from_secs(10),
        }
    }
}

/// Serves `app` until `shutdown` resolves, then lets requests under way finish within the
/// deadline and closes every connection.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ListenerLimits,
    shutdown: impl Future<Output = ()>,
) {
    let open = Arc::new(Connections::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            a = listener.accept() => a,
        };
        while tasks.try_join_next().is_some() {}
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, most likely: wait for connections to close rather
                // than spin.
                warn!(error = %e, "could not accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = Connections::admit(&open) else {
            warn!(
                open = limits.max_connections,
                "every connection has a request under way; closing a new one"
            );
            continue;
        };
        let stopping = stopping.clone();
        tasks.spawn(connection(stream, app.clone(), limits, slot, stopping));
    }
    let _ = stop.send(true);
    let drained = tokio::time::timeout(limits.shutdown_deadline, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            connections = tasks.len(),
            "closing connections still open at the shutdown deadline"
        );
        tasks.shutdown().await;
    }
    info!("listener stopped");
}

async fn connection(
    stream: TcpStream,
    app: Router,
    limits: ListenerLimits,
    slot: Slot,
    mut stopping: watch::Receiver<bool>,
) {
    let busy = slot.busy.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let app = app.clone();
        let under_way = InFlight::start(&busy);
        async move {
            let answer = tokio::time::timeout(limits.request_timeout, app.oneshot(req)).await;
            drop(under_way);
            Ok::<_, Infallible>(match answer {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(_) => {
                    warn!("a request was not read and answered in time");
                    (StatusCode::REQUEST_TIMEOUT, "request not completed in time").into_response()
                }
            })
        }
    });
    let watched = Watched {
        stream,
        heard: slot.heard.clone(),
    };
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(TokioIo::new(watched), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        // Dropping the connection closes its socket.
        _ = slot.evicted.notified() => {}
        _ = stopping.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// A connection's socket, noting when the client first sends anything: a connection that has
/// sent nothing is the first to go at the cap, so a flood of silent connections cannot push
/// out a client that has just connected and sent its request.
struct Watched {
    stream: TcpStream,
    heard: Arc<AtomicBool>,
}

impl tokio::io::AsyncRead for Watched {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.heard.store(true, Ordering::Release);
        }
        polled
    }
}

impl tokio::io::AsyncWrite for Watched {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The open connections, oldest first, each with its count of requests under way.
struct Connections {
    max: usize,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    next: u64,
    by_age: BTreeMap<u64, Conn>,
}

/// What the cap needs to know of an open connection.
struct Conn {
    busy: Arc<AtomicUsize>,
    heard: Arc<AtomicBool>,
    evicted: Arc<Notify>,
}

impl Conn {
    fn idle(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0
    }

    fn silent(&self) -> bool {
        self.idle() && !self.heard.load(Ordering::Acquire)
    }
}

/// A connection's place among the open ones, given up when it is dropped.
struct Slot {
    id: u64,
    busy: Arc<AtomicUsize>,
    heard: Arc<AtomicBool>,
    evicted: Arc<Notify>,
    of: Arc<Connections>,
}

impl Connections {
    fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            open: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        // A panic while holding the lock leaves the map as it was between two statements.
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A place for a new connection. At the cap one is closed for it: the oldest that has
    /// sent nothing at all, else the oldest with no request under way. `None` when every open
    /// connection has a request under way.
    fn admit(this: &Arc<Self>) -> Option<Slot> {
        let mut open = this.lock();
        if open.by_age.len() >= this.max {
            let victim = open
                .by_age
                .iter()
                .find(|(_, c)| c.silent())
                .or_else(|| open.by_age.iter().find(|(_, c)| c.idle()))
                .map(|(id, _)| *id)?;
            if let Some(c) = open.by_age.remove(&victim) {
                c.evicted.notify_one();
            }
        }
        let id = open.next;
        open.next += 1;
        let conn = Conn {
            busy: Arc::new(AtomicUsize::new(0)),
            heard: Arc::new(AtomicBool::new(false)),
            evicted: Arc::new(Notify::new()),
        };
        let slot = Slot {
            id,
            busy: conn.busy.clone(),
            heard: conn.heard.clone(),
            evicted: conn.evicted.clone(),
            of: this.clone(),
        };
        open.by_age.insert(id, conn);
        Some(slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.of.lock().by_age.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_cap_a_silent_connection_goes_first_then_the_oldest_idle_one() {
        let open = Arc::new(Connections::new(3));
        let a = Connections::admit(&open).unwrap();
        let b = Connections::admit(&open).unwrap();
        let c = Connections::admit(&open).unwrap();
        // a has a request under way, b spoke and is idle between requests, c never spoke.
        let _working = InFlight::start(&a.busy);
        b.heard.store(true, Ordering::Release);
        let d = Connections::admit(&open).expect("c is silent");
        let ids = |open: &Arc<Connections>| open.lock().by_age.keys().copied().collect::<Vec<_>>();
        assert_eq!(ids(&open), [0, 1, 3]);
        d.heard.store(true, Ordering::Release);
        let _e = Connections::admit(&open).expect("b is idle");
        assert_eq!(ids(&open), [0, 3, 4]);
        let _d_works = InFlight::start(&d.busy);
        let _e_works = InFlight::start(&_e.busy);
        assert!(
            Connections::admit(&open).is_none(),
            "all busy: the newcomer waits"
        );
        drop((b, c));
        assert_eq!(open.lock().by_age.len(), 3);
    }
}
