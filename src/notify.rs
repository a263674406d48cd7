//! The notification port: where the playbook reports. Slack in service, the console at the CLI.

use async_trait::async_trait;

use crate::domain::approval::{MessageRef, Proposal};
use crate::domain::ids::SlackUserId;
use crate::domain::incident::{Incident, StepRecord};
use crate::slack::messages::{self, Reply};
use crate::store::JobKind;

/// Where an incident's message lives; replies are threaded under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadRef {
    pub channel: String,
    pub ts: String,
}

/// A file for the incident thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub title: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Slack answered `ok:false`; the code is Slack's error name (`channel_not_found`, …).
    #[error("Slack refused the call: {0}")]
    Refused(String),
    #[error("Slack could not be reached: {0}")]
    Transport(String),
}

impl NotifyError {
    /// Whether the same call may work later: Slack unreachable, slow or rate limiting, as
    /// opposed to refusing the call for what it is (`channel_not_found`, `invalid_blocks`).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            // Slack's own names for its passing troubles.
            Self::Refused(code) => matches!(
                code.as_str(),
                "ratelimited" | "service_unavailable" | "internal_error" | "request_timeout"
            ),
        }
    }
}

#[async_trait]
pub trait Notifier: Send + Sync {
    /// Posts the incident message (the thread's parent) in `room`, or in the announcement
    /// channel when there is none.
    async fn open_thread(
        &self,
        room: Option<&str>,
        incident: &Incident,
        steps: &[StepRecord],
    ) -> Result<ThreadRef, NotifyError>;
    /// Creates a private channel; `Refused("name_taken")` when the name is in use.
    async fn create_room(&self, name: &str) -> Result<String, NotifyError>;
    /// Adds people to a channel the bot is in.
    async fn invite(&self, channel: &str, users: &[SlackUserId]) -> Result<(), NotifyError>;
    /// Pins a message in its channel.
    async fn pin(&self, message: &ThreadRef) -> Result<(), NotifyError>;
    /// One line in the announcement channel pointing at the incident's room.
    async fn announce(&self, incident: &Incident, room: &str) -> Result<(), NotifyError>;
    /// Posts one step's outcome in the thread; returns the reply's `ts`.
    async fn post_step(
        &self,
        thread: &ThreadRef,
        incident: &Incident,
        step: &StepRecord,
    ) -> Result<String, NotifyError>;
    /// Edits the incident message in place.
    async fn refresh(
        &self,
        thread: &ThreadRef,
        incident: &Incident,
        steps: &[StepRecord],
    ) -> Result<(), NotifyError>;
    /// Says in the incident's thread that keyleak gave up a job whose worker kept dying.
    async fn job_given_up(
        &self,
        thread: &ThreadRef,
        incident: &Incident,
        kind: JobKind,
        attempts: i64,
    ) -> Result<(), NotifyError>;
    /// Tells the person who asked, privately, how containment ended.
    async fn tell_requester(
        &self,
        response_url: &str,
        incident: &Incident,
        steps: &[StepRecord],
    ) -> Result<(), NotifyError>;
    /// Members of a Slack user group, for roster checks; `fresh` skips any cache.
    async fn group_members(
        &self,
        group: &str,
        fresh: bool,
    ) -> Result<Vec<SlackUserId>, NotifyError>;
    /// Posts a proposal with its buttons, in the incident thread when there is one.
    async fn post_proposal(
        &self,
        thread: Option<&ThreadRef>,
        incident: &Incident,
        proposal: &Proposal,
    ) -> Result<MessageRef, NotifyError>;
    /// Redraws a proposal's message in place.
    async fn update_proposal(
        &self,
        message: &MessageRef,
        incident: &Incident,
        proposal: &Proposal,
    ) -> Result<(), NotifyError>;
    /// Answers one person privately through Slack's `response_url`.
    async fn respond(&self, response_url: &str, reply: Reply) -> Result<(), NotifyError>;
    /// Posts a reply in the incident thread, to be edited later.
    async fn post_in_thread(
        &self,
        thread: &ThreadRef,
        reply: Reply,
    ) -> Result<MessageRef, NotifyError>;
    /// Redraws a message the bot posted.
    async fn edit(&self, message: &MessageRef, reply: Reply) -> Result<(), NotifyError>;
    /// Shares files in the thread, in one message introduced by `comment`; returns their ids.
    async fn upload(
        &self,
        thread: &ThreadRef,
        files: &[Attachment],
        comment: String,
    ) -> Result<Vec<String>, NotifyError>;
    /// Deletes a file the bot shared; one already gone is not an error.
    async fn delete_file(&self, file: &str) -> Result<(), NotifyError>;
    /// A link to a file the bot shared.
    async fn file_link(&self, file: &str) -> Result<String, NotifyError>;
    /// A link to a message, for the report's timeline.
    async fn permalink(&self, message: &MessageRef) -> Result<String, NotifyError>;
}

/// Reports to standard output: the CLI's view when Slack is unavailable.
pub struct Console;

/// One message on standard output, its control characters escaped: records carry text an
/// attacker chose.
fn say(text: &str) {
    println!("{}", messages::escape_controls(text));
}

#[async_trait]
impl Notifier for Console {
    async fn open_thread(
        &self,
        _room: Option<&str>,
        incident: &Incident,
        steps: &[StepRecord],
    ) -> Result<ThreadRef, NotifyError> {
        say(&messages::incident_card(incident, steps).text);
        Ok(ThreadRef {
            channel: "console".into(),
            ts: "0".into(),
        })
    }

    /// The CLI runs in the shared mode: a terminal has no channels to open.
    async fn create_room(&self, _name: &str) -> Result<String, NotifyError> {
        Err(NotifyError::Refused("not_in_slack".into()))
    }

    async fn invite(&self, _channel: &str, _users: &[SlackUserId]) -> Result<(), NotifyError> {
        Ok(())
    }

    async fn pin(&self, _message: &ThreadRef) -> Result<(), NotifyError> {
        Ok(())
    }

    async fn announce(&self, _incident: &Incident, _room: &str) -> Result<(), NotifyError> {
        Ok(())
    }

    async fn post_step(
        &self,
        _thread: &ThreadRef,
        incident: &Incident,
        step: &StepRecord,
    ) -> Result<String, NotifyError> {
        let reply = messages::step_reply(incident, step);
        let request = step
            .request_id
            .as_deref()
            .map(|r| format!(" [request id {r}]"))
            .unwrap_or_default();
        say(&format!("- {}{request}", reply.text));
        Ok("console".into())
    }

    async fn refresh(
        &self,
        _thread: &ThreadRef,
        incident: &Incident,
        steps: &[StepRecord],
    ) -> Result<(), NotifyError> {
        if incident.state != crate::domain::incident::IncidentState::Containing {
            say(&messages::incident_card(incident, steps).text);
        }
        Ok(())
    }

    async fn job_given_up(
        &self,
        _thread: &ThreadRef,
        incident: &Incident,
        kind: JobKind,
        attempts: i64,
    ) -> Result<(), NotifyError> {
        say(&messages::job_abandoned(incident, kind, attempts).text);
        Ok(())
    }

    async fn tell_requester(
        &self,
        _response_url: &str,
        _incident: &Incident,
        _steps: &[StepRecord],
    ) -> Result<(), NotifyError> {
        Ok(())
    }

    async fn group_members(
        &self,
        _group: &str,
        _fresh: bool,
    ) -> Result<Vec<SlackUserId>, NotifyError> {
        Ok(vec![])
    }

    async fn post_proposal(
        &self,
        _thread: Option<&ThreadRef>,
        incident: &Incident,
        proposal: &Proposal,
    ) -> Result<MessageRef, NotifyError> {
        say(&messages::proposal(incident, proposal).text);
        Ok(MessageRef {
            channel: "console".into(),
            ts: proposal.id.to_string(),
        })
    }

    async fn update_proposal(
        &self,
        _message: &MessageRef,
        incident: &Incident,
        proposal: &Proposal,
    ) -> Result<(), NotifyError> {
        say(&messages::proposal(incident, proposal).text);
        Ok(())
    }

    async fn respond(&self, _response_url: &str, reply: Reply) -> Result<(), NotifyError> {
        say(&reply.text);
        Ok(())
    }

    async fn post_in_thread(
        &self,
        _thread: &ThreadRef,
        _reply: Reply,
    ) -> Result<MessageRef, NotifyError> {
        // Progress is not drawn on a terminal; the final text is printed by `edit`.
        Ok(MessageRef {
            channel: "console".into(),
            ts: "0".into(),
        })
    }

    async fn edit(&self, _message: &MessageRef, reply: Reply) -> Result<(), NotifyError> {
        if !reply.text.starts_with(messages::PROGRESS_PREFIX) {
            println!("{}", reply.terminal_text());
        }
        Ok(())
    }

    /// A terminal has no thread to share files in; the timeline stays in the database.
    async fn upload(
        &self,
        _thread: &ThreadRef,
        _files: &[Attachment],
        _comment: String,
    ) -> Result<Vec<String>, NotifyError> {
        Ok(vec![])
    }

    async fn delete_file(&self, _file: &str) -> Result<(), NotifyError> {
        Ok(())
    }

    async fn file_link(&self, file: &str) -> Result<String, NotifyError> {
        Ok(file.to_string())
    }

    async fn permalink(&self, message: &MessageRef) -> Result<String, NotifyError> {
        Ok(format!("{}/{}", message.channel, message.ts))
    }
}
