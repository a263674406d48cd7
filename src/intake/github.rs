//! `POST /github/webhook`: GitHub's `secret_scanning_alert` deliveries, verified by their
//! `X-Hub-Signature-256` over the raw body. The webhook does not carry the secret: the alert
//! is read through GitHub's REST API for the key id, and only that and its page are kept.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;
use tracing::{error, info, warn};

use super::{IntakeState, answer, recorded_signals};
use crate::config::GitHubConfig;
use crate::engine::{AlertOutcome, GitHubAlert};
use crate::github::{AlertRef, KEY_ID_TYPES};

/// GitHub caps a delivery at 25 MB; an alert is a few kilobytes.
pub(super) const BODY_LIMIT: usize = 1024 * 1024;

/// The alert actions that say a secret is exposed now.
const EXPOSED: [&str; 3] = ["created", "reopened", "publicly_leaked"];

#[derive(Deserialize)]
struct Delivery {
    action: String,
    alert: Alert,
    repository: Repository,
}

#[derive(Deserialize)]
struct Alert {
    number: u64,
    secret_type: String,
    created_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct Repository {
    name: String,
    full_name: String,
    #[serde(default)]
    private: bool,
    owner: Owner,
}

#[derive(Deserialize)]
struct Owner {
    login: String,
}

/// Whether `X-Hub-Signature-256` is the HMAC of the body under one of the secrets; every
/// secret is tried, each in constant time.
fn signed(headers: &HeaderMap, body: &[u8], cfg: &GitHubConfig) -> bool {
    let Some(given) = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(|hex| hex::decode(hex).ok())
    else {
        return false;
    };
    cfg.webhook_secrets.iter().fold(false, |hit, s| {
        let ok = Hmac::<Sha256>::new_from_slice(s.expose().as_bytes())
            .map(|mut mac| {
                mac.update(body);
                mac.verify_slice(&given).is_ok()
            })
            .unwrap_or(false);
        ok | hit
    })
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub(super) async fn webhook(
    State(state): State<IntakeState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(cfg) = &state.config.github else {
        return answer(
            StatusCode::NOT_FOUND,
            json!({"error": "GitHub webhooks are not enabled (KEYLEAK_GITHUB_WEBHOOK_SECRET)"}),
        );
    };
    if !signed(&headers, &body, cfg) {
        warn!("refused a GitHub delivery: missing or wrong X-Hub-Signature-256");
        crate::metrics::signal("github", "refused");
        return answer(
            StatusCode::UNAUTHORIZED,
            json!({"error": "missing or wrong X-Hub-Signature-256"}),
        );
    }
    let Some(delivery) = header(&headers, "x-github-delivery").filter(|d| !d.is_empty()) else {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "no X-GitHub-Delivery"}),
        );
    };
    match header(&headers, "x-github-event") {
        Some("ping") => return answer(StatusCode::OK, json!({"pong": true})),
        Some("secret_scanning_alert") => {}
        other => {
            let event = other.unwrap_or("(none)");
            info!(
                event,
                "ignored a GitHub delivery: not a secret scanning alert"
            );
            return answer(StatusCode::ACCEPTED, json!({ "ignored": event }));
        }
    }
    let Ok(d) = serde_json::from_slice::<Delivery>(&body) else {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "not a secret_scanning_alert payload"}),
        );
    };
    if !EXPOSED.contains(&d.action.as_str())
        || !KEY_ID_TYPES.contains(&d.alert.secret_type.as_str())
    {
        let what = format!("{} {}", d.action, d.alert.secret_type);
        info!(
            what,
            "ignored a secret scanning alert: not an exposed AWS key id"
        );
        return answer(StatusCode::ACCEPTED, json!({ "ignored": what }));
    }
    let alert = GitHubAlert {
        alert: AlertRef {
            owner: d.repository.owner.login,
            repo: d.repository.name,
            number: d.alert.number,
        },
        delivery: delivery.to_string(),
        secret_type: d.alert.secret_type,
        repository: d.repository.full_name,
        private: d.repository.private,
        created_at: d.alert.created_at,
    };
    let origin = format!("github delivery {delivery}");
    let shown = alert.alert.to_string();
    match state.engine.submit_github_alert(alert, origin).await {
        Ok(AlertOutcome::Recorded(o)) => recorded_signals(&[("github", *o)]),
        Ok(AlertOutcome::NoKey) => {
            info!(
                alert = shown,
                "ignored a secret scanning alert: its secret is not a key id"
            );
            answer(
                StatusCode::ACCEPTED,
                json!({"ignored": "the alert's secret is not an access key id"}),
            )
        }
        // GitHub does not send a failed delivery again by itself: the log says what to fix,
        // and the delivery can be redelivered from the webhook's page.
        Ok(AlertOutcome::Unreadable(e)) => {
            error!(error = %e, alert = shown, "could not read a GitHub alert through its REST API");
            crate::metrics::signal("github", "failed");
            answer(
                StatusCode::BAD_GATEWAY,
                json!({ "error": format!("could not read {shown}: {e}") }),
            )
        }
        Err(e) => {
            error!(error = %e, "could not record a GitHub signal");
            crate::metrics::signal("github", "failed");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "the signal could not be recorded; redeliver it"}),
            )
        }
    }
}
