//! Button clicks (`POST /slack/interactions`): verified, parsed into a typed click, judged
//! and recorded before answering. The clicker is answered privately through `response_url`;
//! slow work is queued for the workers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tracing::{error, warn};

use super::messages::{self, Reply};
use super::routes::{
    AppState, Malformed, SignedBySlack, Via, bad_request, is_slack_response_url, run_command,
};
use crate::domain::answer::ClickResult;
use crate::domain::approval::MessageRef;
use crate::domain::command;
use crate::domain::ids::{ProposalId, SlackUserId};
use crate::engine::ProposalClick;

#[derive(Deserialize)]
struct InteractionForm {
    payload: String,
}

/// The parts of a `block_actions` payload keyleak reads (docs/slack.md). Over HTTP it is
/// the form's `payload` field, over Socket Mode the envelope's payload.
#[derive(Deserialize)]
pub(super) struct BlockActions {
    #[serde(rename = "type")]
    kind: String,
    user: IdOnly,
    #[serde(default)]
    actions: Vec<ActionItem>,
    container: Option<Container>,
    channel: Option<IdOnly>,
    message: Option<MessageTs>,
    response_url: Option<String>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

#[derive(Deserialize)]
struct ActionItem {
    action_id: String,
    value: Option<String>,
    /// A menu's choice (`static_select`), in place of a button's value.
    selected_option: Option<SelectedOption>,
}

#[derive(Deserialize)]
struct SelectedOption {
    value: String,
}

#[derive(Deserialize)]
struct Container {
    message_ts: Option<String>,
    channel_id: Option<String>,
}

#[derive(Deserialize)]
struct MessageTs {
    ts: String,
}

impl BlockActions {
    /// The message the button sat on.
    fn message(&self) -> Option<MessageRef> {
        let channel = self
            .channel
            .as_ref()
            .map(|c| c.id.clone())
            .or_else(|| self.container.as_ref().and_then(|c| c.channel_id.clone()))?;
        let ts = self
            .message
            .as_ref()
            .map(|m| m.ts.clone())
            .or_else(|| self.container.as_ref().and_then(|c| c.message_ts.clone()))?;
        Some(MessageRef { channel, ts })
    }
}

pub async fn interactions(
    State(state): State<AppState>,
    SignedBySlack { body, signed_at }: SignedBySlack,
) -> Response {
    let Ok(form) = serde_urlencoded::from_bytes::<InteractionForm>(&body) else {
        return bad_request("malformed interaction form");
    };
    let Ok(payload) = serde_json::from_str::<BlockActions>(&form.payload) else {
        return bad_request("interaction payload is not a block_actions JSON object");
    };
    match interaction(&state, payload, &Via::Http { signed_at }).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(Malformed(what)) => bad_request(what),
    }
}

/// A button click, however it came. Slack wants no answer to it beyond the acknowledgement:
/// the clicker is answered privately, once the click is judged.
pub(super) async fn interaction(
    state: &AppState,
    payload: BlockActions,
    via: &Via,
) -> Result<(), Malformed> {
    if payload.kind != "block_actions" {
        return Err(Malformed("unsupported interaction type"));
    }
    let Ok(user) = SlackUserId::parse(&payload.user.id) else {
        return Err(Malformed("malformed user id"));
    };
    let [action] = payload.actions.as_slice() else {
        return Err(Malformed("expected exactly one action"));
    };
    let Some(message) = payload.message() else {
        return Err(Malformed("interaction names no message"));
    };
    let url = payload
        .response_url
        .clone()
        .filter(|u| is_slack_response_url(u, &state.slack.api_url));
    let click = Clicked {
        origin: format!(
            "slack interaction channel={} message={} {via}",
            message.channel, message.ts
        ),
        user,
        message,
        url,
    };
    let value = action
        .value
        .as_deref()
        .or(action.selected_option.as_ref().map(|o| o.value.as_str()))
        .unwrap_or_default();
    match action.action_id.as_str() {
        messages::APPROVE => proposal_click(state, click, value, true),
        messages::REJECT => proposal_click(state, click, value, false),
        id => card_click(state, click, id, value).await,
    }
}

/// A verified click, before its action is looked at.
struct Clicked {
    user: SlackUserId,
    message: MessageRef,
    origin: String,
    /// Where to answer the clicker, when Slack gave a URL keyleak trusts.
    url: Option<String>,
}

/// Approve and Reject are acknowledged at once and decided off the request: the approvers
/// roster is looked up afresh for every decision, and when many approvers click together
/// those look-ups wait their turn at Slack (a Tier 2 method) for longer than Slack waits for
/// an acknowledgement. The clicker hears the decision privately, as always.
fn proposal_click(
    state: &AppState,
    c: Clicked,
    value: &str,
    approve: bool,
) -> Result<(), Malformed> {
    let Ok(proposal) = ProposalId::parse(value) else {
        return Err(Malformed("malformed proposal id"));
    };
    let state = state.clone();
    tokio::spawn(async move {
        let click = ProposalClick {
            proposal: &proposal,
            by: &c.user,
            message: &c.message,
            origin: c.origin.clone(),
        };
        let approvers = &state.slack.approvers;
        let result = if approve {
            state.engine.approve_click(click, approvers).await
        } else {
            state.engine.reject_click(click, approvers, None).await
        };
        let reply = match result {
            Ok(r) => {
                if approve {
                    crate::metrics::approval(approval_outcome(&r));
                }
                messages::click_result(&r)
            }
            Err(e) => {
                error!(error = %e, "interaction failed");
                messages::internal_error()
            }
        };
        answer_privately(&state, c.url, reply);
    });
    Ok(())
}

fn approval_outcome(r: &ClickResult) -> &'static str {
    match r {
        ClickResult::Approved { more_needed: 0, .. } => "approved",
        ClickResult::Approved { .. } => "counted",
        ClickResult::Rejected { .. } => "rejected",
        ClickResult::Refused { .. } => "refused",
        ClickResult::UnknownProposal(_) => "unknown_proposal",
        ClickResult::RosterUnavailable => "roster_unavailable",
    }
}

/// A button on the incident card: the same as the command it stands for, for responders.
async fn card_click(
    state: &AppState,
    c: Clicked,
    action_id: &str,
    value: &str,
) -> Result<(), Malformed> {
    let Some(command) = messages::card_command(action_id, value) else {
        return Err(Malformed("unknown action or malformed value"));
    };
    let reply = match state
        .engine
        .on_roster(&c.user, &state.slack.responders)
        .await
    {
        Ok(true) => {
            let parsed = command::Parsed {
                command: Ok(command),
                secret_pasted: false,
            };
            match run_command(state, c.user, parsed, c.origin, c.url.clone()).await {
                Ok(reply) => reply,
                Err(e) => {
                    error!(error = %e, "card click failed");
                    messages::internal_error()
                }
            }
        }
        Ok(false) => {
            let what = format!("pressed {action_id}");
            state.engine.refuse_outsider(&c.user, &what, c.origin).await;
            messages::not_a_responder()
        }
        Err(e) => {
            warn!(error = %e, "responder roster lookup failed; denying");
            messages::roster_unavailable()
        }
    };
    answer_privately(state, c.url, reply);
    Ok(())
}

/// Slack expects the HTTP answer within 3 seconds and ignores its body for buttons; the
/// clicker is told through `response_url`, off the request path.
fn answer_privately(state: &AppState, url: Option<String>, reply: Reply) {
    let Some(url) = url else { return };
    let client = state.client.clone();
    tokio::spawn(async move {
        if let Err(e) = client.respond_reply(&url, reply).await {
            warn!(error = %e, "could not answer a click");
        }
    });
}
