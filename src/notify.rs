//! The notification port: where the playbook reports. Slack in service, the console at the CLI.

use async_trait::async_trait;

use crate::domain::answer::Notice;
use crate::domain::approval::{MessageRef, Proposal};
use crate::domain::ids::SlackUserId;
use crate::domain::incident::{Incident, StepRecord};
use crate::domain::reach::Reach;
use crate::domain::report::ReportInput;
use crate::domain::signal::Signal;

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
    /// Whether the channel to people works with the credentials given (Slack's `auth.test`
    /// with the bot token).
    async fn verify(&self) -> Result<(), NotifyError>;
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
    /// Posts a notice in the announcement channel: for what has no incident thread.
    async fn post_in_channel(&self, notice: &Notice) -> Result<(), NotifyError>;
    /// Posts one step's outcome in the thread; returns the reply's `ts`.
    async fn post_step(
        &self,
        thread: &ThreadRef,
        incident: &Incident,
        step: &StepRecord,
    ) -> Result<String, NotifyError>;
    /// Posts one signal's evidence in the thread (`number` from 1, in arrival order); returns
    /// the reply's `ts`.
    async fn post_signal(
        &self,
        thread: &ThreadRef,
        incident: &Incident,
        signal: &Signal,
        number: usize,
    ) -> Result<String, NotifyError>;
    /// Posts the list of what the key could do in the thread; returns the reply's `ts`.
    async fn post_reach(
        &self,
        thread: &ThreadRef,
        incident: &Incident,
        reach: &Reach,
    ) -> Result<String, NotifyError>;
    /// Edits the incident message in place.
    async fn refresh(
        &self,
        thread: &ThreadRef,
        incident: &Incident,
        steps: &[StepRecord],
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
    /// Tells one person privately, through Slack's `response_url`.
    async fn respond(&self, response_url: &str, notice: &Notice) -> Result<(), NotifyError>;
    /// Posts a notice in the incident thread, to be edited later.
    async fn post_in_thread(
        &self,
        thread: &ThreadRef,
        notice: &Notice,
    ) -> Result<MessageRef, NotifyError>;
    /// Redraws a message the bot posted.
    async fn edit(&self, message: &MessageRef, notice: &Notice) -> Result<(), NotifyError>;
    /// Shares files in the thread, in one message introduced by `comment`; returns their ids.
    async fn upload(
        &self,
        thread: &ThreadRef,
        files: &[Attachment],
        comment: &Notice,
    ) -> Result<Vec<String>, NotifyError>;
    /// Shares the post-incident report, written and drawn from `report`, in the thread;
    /// `replacing` when it replaces an earlier one. Returns the files' ids.
    async fn share_report(
        &self,
        thread: &ThreadRef,
        report: &ReportInput<'_>,
        replacing: bool,
    ) -> Result<Vec<String>, NotifyError>;
    /// Deletes a file the bot shared; one already gone is not an error.
    async fn delete_file(&self, file: &str) -> Result<(), NotifyError>;
    /// A link to a file the bot shared.
    async fn file_link(&self, file: &str) -> Result<String, NotifyError>;
    /// A link to a message, for the report's timeline.
    async fn permalink(&self, message: &MessageRef) -> Result<String, NotifyError>;
}
