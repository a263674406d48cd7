//! One Socket Mode frame: `hello` and `disconnect` for the connection, or an envelope that
//! the HTTP routes' own edge functions answer, acknowledged within Slack's 3 seconds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::mpsc::UnboundedSender;
use tokio_tungstenite::tungstenite::Message;
use tracing::{error, info, warn};

use crate::slack::interactions::{BlockActions, interaction};
use crate::slack::messages::{self, Reply};
use crate::slack::routes::{AppState, Malformed, SlashCommand, Via, slash_command};

/// Slack waits 3 s for an acknowledgement; a command not answered within 2 s is acknowledged
/// bare (a second to spare for the network) and answered through its `response_url` when it is.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// How long an envelope is remembered, so one delivered again runs once.
const REMEMBER_FOR: Duration = Duration::from_secs(15 * 60);

/// What the connection must do about a frame; envelopes are answered on their own.
pub(super) enum Control {
    Hello,
    Disconnect(String),
    None,
}

/// The fields of a Socket Mode frame keyleak reads.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    envelope_id: Option<String>,
    #[serde(borrow)]
    payload: Option<&'a RawValue>,
    #[serde(default)]
    accepts_response_payload: bool,
    reason: Option<String>,
    #[serde(default)]
    retry_attempt: u32,
}

/// The payload field that names one person's action: the same however often it is sent.
#[derive(Deserialize)]
struct Trigger {
    trigger_id: Option<String>,
}

/// Envelopes seen lately: Slack delivers again an envelope whose acknowledgement it did not
/// get, and a command or click must still run once.
#[derive(Default)]
pub(super) struct Edge {
    seen: Arc<Mutex<Seen>>,
}

#[derive(Default)]
struct Seen(HashMap<String, (Instant, Option<Option<serde_json::Value>>)>);

/// An envelope's fate when it arrives.
enum First {
    Yes,
    /// Still being answered: acknowledged bare, it runs once.
    Running,
    /// Answered already: the same acknowledgement again.
    Answered(Option<serde_json::Value>),
}

impl Seen {
    fn begin(&mut self, keys: &[String], now: Instant) -> First {
        self.0
            .retain(|_, (at, _)| now.duration_since(*at) < REMEMBER_FOR);
        if let Some((_, earlier)) = keys.iter().find_map(|k| self.0.get(k)) {
            return match earlier {
                None => First::Running,
                Some(ack) => First::Answered(ack.clone()),
            };
        }
        for k in keys {
            self.0.insert(k.clone(), (now, None));
        }
        First::Yes
    }

    fn finish(&mut self, keys: &[String], payload: &Option<serde_json::Value>) {
        for k in keys {
            if let Some((_, done)) = self.0.get_mut(k) {
                *done = Some(payload.clone());
            }
        }
    }
}

impl Edge {
    /// Reads one text frame. An envelope is answered in a task of its own, so a slow one
    /// never holds back the connection's others.
    pub(super) fn frame(
        &self,
        state: &AppState,
        text: &str,
        out: &UnboundedSender<Message>,
    ) -> Control {
        let Ok(frame) = serde_json::from_str::<Frame>(text) else {
            // Never the frame itself: a pasted secret may be in it.
            warn!("ignored a Socket Mode frame that is not a JSON envelope");
            return Control::None;
        };
        match (frame.kind, frame.envelope_id) {
            ("hello", _) => Control::Hello,
            ("disconnect", _) => Control::Disconnect(frame.reason.unwrap_or_default()),
            (kind, None) => {
                warn!(kind, "ignored a Socket Mode frame without an envelope id");
                Control::None
            }
            (kind, Some(id)) => {
                let envelope = Envelope {
                    kind: kind.to_string(),
                    id,
                    payload: frame
                        .payload
                        .map(|p| p.get().to_string())
                        .unwrap_or_default(),
                    accepts_payload: frame.accepts_response_payload,
                    retry: frame.retry_attempt,
                };
                tokio::spawn(answer(
                    self.seen.clone(),
                    state.clone(),
                    envelope,
                    out.clone(),
                ));
                Control::None
            }
        }
    }
}

struct Envelope {
    kind: String,
    id: String,
    payload: String,
    accepts_payload: bool,
    retry: u32,
}

impl Envelope {
    /// What identifies it when delivered again: its id, and the person's action it carries.
    fn keys(&self) -> Vec<String> {
        let trigger = serde_json::from_str::<Trigger>(&self.payload)
            .ok()
            .and_then(|t| t.trigger_id)
            .map(|t| format!("trigger:{t}"));
        std::iter::once(format!("envelope:{}", self.id))
            .chain(trigger)
            .collect()
    }
}

async fn answer(
    seen: Arc<Mutex<Seen>>,
    state: AppState,
    e: Envelope,
    out: UnboundedSender<Message>,
) {
    let started = Instant::now();
    let keys = e.keys();
    let first = seen
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .begin(&keys, started);
    let (payload, outcome) = match first {
        First::Yes => {
            let payload = run(&state, &e).await;
            seen.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .finish(&keys, &payload.0);
            payload
        }
        First::Running => (None, "redelivered"),
        First::Answered(p) => (p, "redelivered"),
    };
    if outcome == "redelivered" {
        info!(envelope = %e.id, retry = e.retry, "an envelope delivered again was not run again");
    }
    let payload = payload.filter(|_| e.accepts_payload);
    let ack = match payload {
        Some(p) => serde_json::json!({"envelope_id": e.id, "payload": p}),
        None => serde_json::json!({"envelope_id": e.id}),
    };
    if out.send(Message::text(ack.to_string())).is_err() {
        warn!(envelope = %e.id, "the connection closed before an envelope was acknowledged");
    }
    crate::metrics::socket_envelope(kind_label(&e.kind), outcome);
    crate::metrics::ack("socket_mode", started.elapsed().as_secs_f64());
}

/// The envelope's type as the metrics name it: one of Slack's, never a made-up one.
fn kind_label(kind: &str) -> &'static str {
    match kind {
        "slash_commands" => "slash_commands",
        "interactive" => "interactive",
        "events_api" => "events_api",
        _ => "other",
    }
}

/// Runs the envelope through the edge: the acknowledgement's payload, and the outcome.
async fn run(state: &AppState, e: &Envelope) -> (Option<serde_json::Value>, &'static str) {
    let via = Via::Socket {
        envelope: e.id.clone(),
    };
    match e.kind.as_str() {
        "slash_commands" => match serde_json::from_str::<SlashCommand>(&e.payload) {
            Ok(form) => command(state, form, via).await,
            Err(_) => malformed(Malformed("malformed slash command payload")),
        },
        "interactive" => match serde_json::from_str::<BlockActions>(&e.payload) {
            Ok(actions) => match interaction(state, actions, &via).await {
                Ok(()) => (None, "answered"),
                Err(m) => malformed(m),
            },
            Err(_) => malformed(Malformed("interaction payload is not block_actions")),
        },
        kind => {
            info!(
                kind,
                "acknowledged a Socket Mode envelope keyleak does not handle"
            );
            (None, "ignored")
        }
    }
}

fn malformed(Malformed(what): Malformed) -> (Option<serde_json::Value>, &'static str) {
    warn!(problem = what, "rejected a malformed Socket Mode envelope");
    (None, "malformed")
}

/// A slash command's answer goes in the acknowledgement when it comes in time; otherwise the
/// acknowledgement goes bare and the answer follows through the command's `response_url`.
async fn command(
    state: &AppState,
    form: SlashCommand,
    via: Via,
) -> (Option<serde_json::Value>, &'static str) {
    let late_url = form.response_url.clone();
    let task_state = state.clone();
    let mut work = tokio::spawn(async move { slash_command(&task_state, form, &via).await });
    let done = match tokio::time::timeout(ANSWER_WITHIN, &mut work).await {
        Ok(done) => done,
        Err(_) => {
            let state = state.clone();
            tokio::spawn(async move {
                if let (Ok(Ok(reply)), Some(url)) = (work.await, late_url) {
                    answer_late(&state, &url, reply).await;
                }
            });
            return (None, "answered_late");
        }
    };
    match done {
        Ok(Ok(reply)) => (Some(reply.to_slash_response()), "answered"),
        Ok(Err(m)) => malformed(m),
        Err(e) => {
            error!(error = %e, "a command's task failed");
            (
                Some(messages::internal_error().to_slash_response()),
                "failed",
            )
        }
    }
}

async fn answer_late(state: &AppState, url: &str, reply: Reply) {
    if !crate::slack::routes::is_slack_response_url(url, &state.slack.api_url) {
        return;
    }
    if let Err(e) = state.client.respond_reply(url, reply).await {
        warn!(error = %e, "could not answer a slow command");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_envelope_delivered_again_runs_once_and_gets_the_same_answer() {
        let mut seen = Seen::default();
        let t0 = Instant::now();
        let first = keys(&["envelope:1", "trigger:a"]);
        assert!(matches!(seen.begin(&first, t0), First::Yes));
        // Delivered again under a new envelope id while the first still runs.
        let again = keys(&["envelope:2", "trigger:a"]);
        assert!(matches!(seen.begin(&again, t0), First::Running));
        seen.finish(&first, &Some(serde_json::json!({"text": "done"})));
        match seen.begin(&keys(&["envelope:1"]), t0) {
            First::Answered(Some(p)) => assert_eq!(p["text"], "done"),
            _ => panic!("the first answer is given again"),
        }
        let later = t0 + REMEMBER_FOR + Duration::from_secs(1);
        assert!(matches!(seen.begin(&first, later), First::Yes));
        assert_eq!(seen.0.len(), 2, "what is forgotten is dropped");
    }
}
