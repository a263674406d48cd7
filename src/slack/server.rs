//! The HTTP server: Slack's routes and the health probes (DESIGN.md §6).

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use tracing::warn;

use super::client::SlackNotifier;
use super::interactions;
use super::routes::{self, AppState};
use crate::config::SlackConfig;
use crate::engine::Engine;

/// Slack's own payloads are a few kilobytes; anything far larger is not from Slack.
pub const BODY_LIMIT: usize = 64 * 1024;

/// `client` is the engine's notifier too: the edge answers people through it directly.
pub fn router(engine: Engine, slack: Arc<SlackConfig>, client: Arc<SlackNotifier>) -> Router {
    let state = AppState::new(engine, slack, client);
    Router::new()
        .route("/slack/commands", post(routes::commands))
        .route("/slack/interactions", post(interactions::interactions))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

async fn ready(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state.engine.ready().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            warn!(error = %e, "database not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}
