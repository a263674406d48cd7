//! Machine-made signals over HTTP: events from an EventBridge API destination
//! (`POST /aws/events`) and GitHub's secret scanning webhooks (`POST /github/webhook`). A
//! signal is answered 2xx only once it is durable, so the sender's retries never lose one; a
//! retried delivery is recognised and changes nothing.

mod auth;
pub mod aws;
pub mod github;

use axum::body::Bytes;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tracing::{error, info, warn};

use crate::config::IntakeConfig;
use crate::domain::signal::{Quarantined, Source};
use crate::engine::Engine;
use crate::engine::QuarantineError;
use crate::store::Opened;
use aws::Recognised;

/// EventBridge events are at most 256 KB.
const AWS_BODY_LIMIT: usize = 256 * 1024;

/// What the intake routes need: the engine to submit to, and their secrets and policy.
#[derive(Clone)]
pub struct IntakeState {
    pub engine: Engine,
    pub config: Arc<IntakeConfig>,
}

/// `POST /aws/events` and `POST /github/webhook`, each with its own body limit; the server
/// merges them beside Slack's routes.
pub fn router(state: IntakeState) -> Router {
    Router::new()
        .route(
            "/aws/events",
            post(aws_events).layer(DefaultBodyLimit::max(AWS_BODY_LIMIT)),
        )
        .route(
            "/github/webhook",
            post(github::webhook).layer(DefaultBodyLimit::max(github::BODY_LIMIT)),
        )
        .with_state(state)
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn aws_events(State(state): State<IntakeState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(cfg) = &state.config.aws_events else {
        return answer(
            StatusCode::NOT_FOUND,
            json!({"error": "AWS events are not enabled (KEYLEAK_AWS_EVENTS_SECRET)"}),
        );
    };
    if !auth::authorized(&headers, cfg) {
        warn!(header = %cfg.header, "refused an AWS event: no valid API key or Basic credentials");
        crate::metrics::signal("aws", "refused");
        return answer(
            StatusCode::UNAUTHORIZED,
            json!({"error": "missing or wrong credentials"}),
        );
    }
    let event = match serde_json::from_slice::<Value>(&body) {
        Ok(v) => aws::read_event(&v, state.engine.now()).map_err(|e| e.to_string()),
        Err(_) => Err("the body is not JSON".to_string()),
    };
    let signals = match event {
        Err(why) => {
            warn!(why, "refused an AWS event");
            return answer(StatusCode::BAD_REQUEST, json!({ "error": why }));
        }
        Ok(Recognised::Ignored(what)) => {
            info!(
                event = what,
                "ignored an AWS event: not about an access key"
            );
            return answer(StatusCode::ACCEPTED, json!({ "ignored": what }));
        }
        Ok(Recognised::Sample { finding }) => {
            info!(finding, "ignored a GuardDuty sample finding");
            crate::metrics::signal(Source::GuardDuty.as_str(), "sample");
            return answer(
                StatusCode::ACCEPTED,
                json!({ "ignored": "a GuardDuty sample finding" }),
            );
        }
        Ok(Recognised::Quarantine(q)) => return quarantine(&state, q).await,
        Ok(Recognised::Signals(s)) => s,
    };
    let mut opened = vec![];
    for s in signals {
        let source = s.source.as_str();
        let origin = format!("aws event {}", s.delivery);
        match state.engine.submit_signal(s, origin).await {
            Ok(o) => opened.push((source, o)),
            // EventBridge retries a 5xx (for up to 24 hours): nothing is lost.
            Err(e) => {
                error!(error = %e, "could not record an AWS signal");
                crate::metrics::signal(source, "failed");
                return answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"error": "the signal could not be recorded; send it again"}),
                );
            }
        }
    }
    recorded_signals(&opened)
}

async fn quarantine(state: &IntakeState, q: Quarantined) -> Response {
    let source = Source::Quarantine.as_str();
    let who = format!("{} of account {}", q.user, q.account);
    let origin = format!("aws event {}", q.delivery);
    match state.engine.submit_quarantine(q, origin).await {
        Ok(opened) if opened.is_empty() => {
            info!(
                user = who,
                "ignored a quarantine attachment: the user has no active key"
            );
            crate::metrics::signal(source, "ignored");
            answer(
                StatusCode::ACCEPTED,
                json!({"ignored": "the quarantined user has no active key"}),
            )
        }
        Ok(opened) => {
            let tagged: Vec<_> = opened.into_iter().map(|o| (source, o)).collect();
            recorded_signals(&tagged)
        }
        // Sending it again will not help: the log and the channel say what keyleak cannot
        // reach.
        Err(e @ QuarantineError::Unreachable(_)) => {
            error!(error = %e, user = who, "a quarantine attachment keyleak cannot act on");
            crate::metrics::signal(source, "failed");
            answer(StatusCode::ACCEPTED, json!({ "ignored": e.to_string() }))
        }
        Err(e) => {
            error!(error = %e, user = who, "could not record a quarantine attachment");
            crate::metrics::signal(source, "failed");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "the signal could not be recorded; send it again"}),
            )
        }
    }
}

/// The 200 for durable signals: each one's incident and what became of it.
fn recorded_signals(opened: &[(&'static str, Opened)]) -> Response {
    let recorded: Vec<Value> = opened
        .iter()
        .map(|(source, o)| {
            let outcome = match (o.duplicate, o.created) {
                (true, _) => "duplicate",
                (false, true) => "opened",
                (false, false) => "joined",
            };
            crate::metrics::signal(source, outcome);
            json!({
                "incident": o.incident.id.as_str(),
                "outcome": outcome,
                "state": o.incident.state.as_str(),
            })
        })
        .collect();
    answer(StatusCode::OK, json!({ "recorded": recorded }))
}
