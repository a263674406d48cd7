//! The HTTP server: Slack's routes and the health probes (docs/design.md §6).

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use subtle::ConstantTimeEq;
use tracing::warn;

use std::sync::Arc;

use super::interactions;
use super::routes::{self, AppState};
use crate::engine::NotReady;
use crate::intake::IntakeState;

const ROUTES: [&str; 7] = [
    "/slack/commands",
    "/slack/interactions",
    "/aws/events",
    "/github/webhook",
    "/healthz",
    "/readyz",
    "/metrics",
];

/// Slack's own payloads are a few kilobytes; anything far larger is not from Slack.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The routes, on the same state as the Socket Mode connections when there are any.
pub fn router(state: AppState) -> Router {
    // Installed before the first request, so nothing recorded is lost.
    crate::metrics::handle();
    Router::new()
        .route("/slack/commands", post(routes::commands))
        .route("/slack/interactions", post(interactions::interactions))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state.clone())
        .merge(crate::intake::router(IntakeState {
            engine: state.engine,
            config: Arc::new(state.slack.intake.clone()),
        }))
        .route_layer(middleware::from_fn(measure))
}

/// Every answer counted by route and status; Slack's requests timed, since Slack gives up
/// on an answer after 3 s.
async fn measure(path: MatchedPath, request: Request, next: Next) -> Response {
    // The metrics label is one of the routes, never a path a caller made up.
    let route = ROUTES
        .into_iter()
        .find(|r| *r == path.as_str())
        .unwrap_or("other");
    let started = Instant::now();
    let response = next.run(request).await;
    if route.starts_with("/slack/") {
        crate::metrics::ack(route, started.elapsed().as_secs_f64());
    }
    crate::metrics::http_request(route, response.status().as_u16());
    response
}

/// The Prometheus text format (version 0.0.4); behind `KEYLEAK_METRICS_TOKEN` when set.
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.slack.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !bool::from(given.as_bytes().ct_eq(token.expose().as_bytes())) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "a bearer token is needed",
            )
                .into_response();
        }
    }
    if let Err(e) = state.engine.publish_gauges().await {
        warn!(error = %e, "could not read the store's counts for the metrics");
    }
    let Some(handle) = crate::metrics::handle() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "metrics are not recorded").into_response();
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// Anyone who reaches the port may ask: the answer says which dependency, the log why.
async fn ready(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.socket.as_ref().is_some_and(|s| s.open() == 0) {
        warn!("not ready: no Socket Mode connection is open");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "no Socket Mode connection to Slack is open",
        );
    }
    match state.engine.ready().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            warn!(error = %e, "not ready");
            let what = match e {
                NotReady::Database(_) => "database unreachable",
                NotReady::Peer(_) => "Slack or AWS refuses keyleak or cannot be reached",
            };
            (StatusCode::SERVICE_UNAVAILABLE, what)
        }
    }
}
