//! Slack's requests into keyleak: verified over the raw bytes, then parsed, then answered
//! within Slack's 3 seconds. Slow work is queued for the workers, never done here.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use serde::Deserialize;
use tracing::{error, info, warn};

use super::client::SlackNotifier;
use super::messages::{self, Reply};
use super::verify::verify;
use crate::config::SlackConfig;
use crate::domain::cleanup::Target;
use crate::domain::command::{self, Command, StatusTarget};
use crate::domain::ids::{IncidentId, SlackUserId};
use crate::domain::incident::Actor;
use crate::domain::ratelimit::PerMinute;
use crate::engine::{Engine, Status, StatusOf};
use crate::store::StoreError;

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub slack: Arc<SlackConfig>,
    /// Answers people privately through `response_url`, in the edge's own words.
    pub client: Arc<SlackNotifier>,
    /// Each responder's commands in the last minute. Per process: with several replicas
    /// behind one URL a person's limit is shared out among them.
    pub commands: Arc<std::sync::Mutex<PerMinute>>,
    /// In Socket Mode, how many connections are open: no connection, no commands.
    pub socket: Option<super::socket::SocketStatus>,
}

impl AppState {
    pub fn new(engine: Engine, slack: Arc<SlackConfig>, client: Arc<SlackNotifier>) -> Self {
        let commands = Arc::new(std::sync::Mutex::new(PerMinute::new(
            slack.commands_per_minute,
        )));
        Self {
            engine,
            slack,
            client,
            commands,
            socket: None,
        }
    }

    /// Counts a responder's command; the refusal to send when they are over the limit.
    fn over_limit(&self, user: &SlackUserId) -> Option<Reply> {
        let now = self.engine.now();
        // A poisoned lock only means another request panicked mid-count; the counts stand.
        let mut commands = self
            .commands
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let wait = commands.admit(user, now).err()?;
        warn!(user = %user, "refused a command over the per-minute limit");
        Some(messages::rate_limited(
            self.slack.commands_per_minute,
            wait.num_seconds(),
        ))
    }
}

/// The slash-command fields keyleak uses (docs/slack.md); others are ignored. Over HTTP
/// they come as a form, over Socket Mode as the envelope's JSON payload.
#[derive(Deserialize)]
pub(super) struct SlashCommand {
    user_id: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    team_id: String,
    #[serde(default)]
    channel_id: String,
    pub(super) response_url: Option<String>,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// A request body whose Slack signature checked out, and when Slack signed it. The only
/// way a handler gets at a body: the signature is checked before anything in it is looked
/// at, and no handler can forget to. The log line names the reason only: never the
/// signature, the secret or the body.
pub struct SignedBySlack {
    pub body: Bytes,
    pub signed_at: i64,
}

impl axum::extract::FromRequest<AppState> for SignedBySlack {
    type Rejection = Response;

    async fn from_request(
        req: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let ts = header(&headers, "x-slack-request-timestamp");
        let sig = header(&headers, "x-slack-signature");
        let now = state.engine.now().timestamp();
        match verify(&state.slack.signing_secrets, ts, sig, &body, now) {
            Ok(()) => Ok(Self {
                signed_at: ts.and_then(|t| t.parse().ok()).unwrap_or(now),
                body,
            }),
            Err(e) => {
                warn!(reason = %e, "rejected an unverified Slack request");
                Err(Unverified.into_response())
            }
        }
    }
}

/// A request that failed verification; answered 401 and nothing else.
pub(super) struct Unverified;

impl IntoResponse for Unverified {
    fn into_response(self) -> Response {
        (StatusCode::UNAUTHORIZED, "invalid request signature").into_response()
    }
}

pub(super) fn bad_request(what: &'static str) -> Response {
    warn!(problem = what, "rejected a malformed Slack request");
    (StatusCode::BAD_REQUEST, what).into_response()
}

fn reply(r: Reply) -> Response {
    Json(r.to_slash_response()).into_response()
}

/// How a request reached keyleak, for the audit log's origin.
pub(super) enum Via {
    /// Over HTTP, signed by Slack at this Unix time.
    Http { signed_at: i64 },
    /// Over a Socket Mode connection, in this envelope.
    Socket { envelope: String },
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Http { signed_at } => write!(f, "signed_at={signed_at}"),
            Self::Socket { envelope } => write!(f, "socket_mode envelope={envelope}"),
        }
    }
}

/// A request not in the shape Slack sends: the reason, for a 400 or a log line.
#[derive(Debug, Clone, Copy)]
pub(super) struct Malformed(pub &'static str);

pub async fn commands(
    State(state): State<AppState>,
    SignedBySlack { body, signed_at }: SignedBySlack,
) -> Response {
    let Ok(form) = serde_urlencoded::from_bytes::<SlashCommand>(&body) else {
        return bad_request("malformed slash command form");
    };
    match slash_command(&state, form, &Via::Http { signed_at }).await {
        Ok(answer) => reply(answer),
        Err(Malformed(what)) => bad_request(what),
    }
}

/// A slash command, however it came: judged, run or refused, and the person's answer.
pub(super) async fn slash_command(
    state: &AppState,
    form: SlashCommand,
    via: &Via,
) -> Result<Reply, Malformed> {
    let Ok(user) = SlackUserId::parse(&form.user_id) else {
        return Err(Malformed("malformed user_id"));
    };
    let origin = format!(
        "slack command team={} channel={} {via}",
        form.team_id, form.channel_id
    );
    let parsed = command::parse(&form.text);
    let verb = verb_label(&parsed.command);
    match state.engine.on_roster(&user, &state.slack.responders).await {
        Ok(true) => {}
        Ok(false) => {
            crate::metrics::command(verb, "not_a_responder");
            return Ok(refuse(state, &user, &parsed, origin).await);
        }
        Err(e) => {
            warn!(error = %e, "responder roster lookup failed; denying");
            crate::metrics::command(verb, "roster_unavailable");
            return Ok(messages::roster_unavailable());
        }
    }
    let secret_pasted = parsed.secret_pasted;
    let (answer, outcome) = match state.over_limit(&user) {
        Some(refusal) => (refusal, "rate_limited"),
        None => {
            let response_url = form
                .response_url
                .filter(|u| is_slack_response_url(u, &state.slack.api_url));
            match run_command(state, user, parsed, origin, response_url).await {
                Ok(r) => (r, "answered"),
                Err(e) => {
                    error!(error = %e, "command failed");
                    (messages::internal_error(), "failed")
                }
            }
        }
    };
    crate::metrics::command(verb, outcome);
    Ok(messages::with_secret_warning(answer, secret_pasted))
}

async fn refuse(
    state: &AppState,
    user: &SlackUserId,
    parsed: &command::Parsed,
    origin: String,
) -> Reply {
    info!(user = %user, "refused a command from a non-responder");
    let what = match &parsed.command {
        Ok(_) => format!("asked for {}", verb_label(&parsed.command)),
        Err(_) => "asked for an invalid command".to_string(),
    };
    state.engine.refuse_outsider(user, &what, origin).await;
    messages::with_secret_warning(messages::not_a_responder(), parsed.secret_pasted)
}

/// The verb, as the audit log and the metrics name it.
fn verb_label(c: &Result<Command, command::CommandParseError>) -> &'static str {
    match c {
        Ok(Command::Help) => "help",
        Ok(Command::Contain { .. }) => "contain",
        Ok(Command::Status { .. }) => "status",
        Ok(Command::Cleanup { .. }) => "cleanup",
        Ok(Command::Rollback { .. }) => "rollback",
        Ok(Command::Reject { .. }) => "reject",
        Ok(Command::Investigate { .. }) => "investigate",
        Ok(Command::Report { .. }) => "report",
        Ok(Command::Close { .. }) => "close",
        Ok(Command::Dismiss { .. }) => "dismiss",
        Ok(Command::Restore { .. }) => "restore",
        Err(_) => "invalid",
    }
}

pub(super) async fn run_command(
    state: &AppState,
    user: SlackUserId,
    parsed: command::Parsed,
    origin: String,
    response_url: Option<String>,
) -> Result<Reply, StoreError> {
    let cmd = match parsed.command {
        Ok(c) => c,
        Err(e) => return Ok(messages::parse_error(&e)),
    };
    match cmd {
        Command::Help => Ok(messages::help()),
        Command::Contain { key, reason } => {
            let opened = state
                .engine
                .submit_contain(key, reason, Actor::Slack(user), origin, response_url)
                .await?;
            Ok(messages::contain_ack(
                &opened,
                &state.slack.incident_channel,
                state.slack.channel_per_incident,
            ))
        }
        Command::Status { target } => status(state, target).await,
        Command::Cleanup { incident, target } => {
            cleanup(state, &incident, target, &user, origin, response_url).await
        }
        Command::Rollback { incident } => {
            cleanup(
                state,
                &incident,
                Target::Rollback,
                &user,
                origin,
                response_url,
            )
            .await
        }
        Command::Investigate { target, days } => {
            investigate(state, target, days, user, origin, response_url).await
        }
        Command::Reject { proposal, reason } => {
            let r = state
                .engine
                .reject_by_command(&proposal, &user, &state.slack.approvers, reason, origin)
                .await?;
            Ok(messages::click_result(&r))
        }
        Command::Report { incident } => {
            let by = Actor::Slack(user);
            let queued = state
                .engine
                .submit_report(&incident, &by, origin, response_url)
                .await?;
            Ok(match queued {
                Ok(i) => messages::report_queued(&i),
                Err(refusal) => messages::report_refused(&incident, &refusal),
            })
        }
        Command::Restore { incident, new_key } => {
            let queued = state
                .engine
                .submit_restore(&incident, new_key, &user, origin, response_url)
                .await?;
            Ok(match queued {
                Ok(i) => messages::restore_queued(&i, new_key),
                Err(refusal) => messages::restore_refused(&incident, &refusal),
            })
        }
        Command::Close { incident } => close(state, &incident, user, None, origin).await,
        Command::Dismiss { incident, reason } => {
            close(state, &incident, user, Some(reason), origin).await
        }
    }
}

async fn close(
    state: &AppState,
    incident: &IncidentId,
    user: SlackUserId,
    dismissed: Option<String>,
    origin: String,
) -> Result<Reply, StoreError> {
    let closed = state
        .engine
        .close(incident, &Actor::Slack(user), dismissed.clone(), origin)
        .await?;
    Ok(match (closed, dismissed) {
        (Ok(i), Some(reason)) => messages::dismissed(&i, &reason),
        (Ok(i), None) => messages::closed(&i),
        (Err(refusal), _) => messages::close_refused(incident, &refusal),
    })
}

/// Queues a cleanup request and says so, or says why not.
async fn cleanup(
    state: &AppState,
    incident: &IncidentId,
    target: Target,
    user: &SlackUserId,
    origin: String,
    response_url: Option<String>,
) -> Result<Reply, StoreError> {
    let queued = state
        .engine
        .submit_cleanup(incident, target.clone(), user, origin, response_url)
        .await?;
    Ok(match queued {
        Ok(i) => messages::cleanup_queued(&i, &target),
        Err(refusal) => messages::cleanup_refused(&refusal),
    })
}

/// Queues forensics for the incident named, or the open incident of the key named.
async fn investigate(
    state: &AppState,
    target: StatusTarget,
    days: Option<u32>,
    user: SlackUserId,
    origin: String,
    response_url: Option<String>,
) -> Result<Reply, StoreError> {
    let id = match target {
        StatusTarget::Incident(id) => id,
        StatusTarget::Key(k) => match state.engine.open_incident_for_key(&k).await? {
            Some(i) => i.id,
            // docs/design.md §2: forensics without containment. The triage run investigates once
            // it knows the key's account.
            None => {
                let by = Actor::Slack(user);
                let opened = state
                    .engine
                    .submit_triage(k, days, by, origin, response_url)
                    .await?;
                return Ok(messages::triage_ack(&opened, &state.slack.incident_channel));
            }
        },
    };
    let queued = state
        .engine
        .submit_investigation(&id, days, &Actor::Slack(user), origin, response_url)
        .await?;
    Ok(match queued {
        Ok(i) => messages::investigation_queued(&i, days),
        Err(refusal) => messages::investigation_refused(&refusal),
    })
}

async fn status(state: &AppState, target: Option<StatusTarget>) -> Result<Reply, StoreError> {
    let of = match target {
        None => StatusOf::Open(messages::OPEN_LIST_MAX),
        Some(StatusTarget::Key(k)) => StatusOf::Key(k),
        Some(StatusTarget::Incident(id)) => StatusOf::Incident(id),
    };
    Ok(match state.engine.status(of).await? {
        Status::Open { newest, .. } if newest.is_empty() => messages::no_open_incidents(),
        Status::Open { newest, total } => messages::open_incidents(&newest, total),
        Status::One { incident, steps } => messages::incident_card(&incident, &steps),
        Status::NoIncidentFor(k) => messages::no_incident_for(&k),
        Status::NoSuchIncident(id) => messages::no_such_incident(id.as_str()),
    })
}

/// The bot later POSTs to the `response_url` a request names, so only Slack's own hooks
/// host (or the origin of the configured Slack API, for a stand-in Slack) is accepted.
pub(super) fn is_slack_response_url(url: &str, api_url: &str) -> bool {
    let api_origin = url::Url::parse(api_url)
        .ok()
        .map(|u| u.origin().ascii_serialization() + "/");
    url.starts_with("https://hooks.slack.com/") || api_origin.is_some_and(|o| url.starts_with(&o))
}
