//! The notification port: where the playbook reports. Slack in service, the console at the CLI.

use async_trait::async_trait;

use crate::domain::ids::SlackUserId;
use crate::domain::incident::{Incident, StepRecord};
use crate::slack::messages;

/// Where an incident's message lives; replies are threaded under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadRef {
    pub channel: String,
    pub ts: String,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Slack answered `ok:false`; the code is Slack's error name (`channel_not_found`, …).
    #[error("Slack refused the call: {0}")]
    Refused(String),
    #[error("Slack could not be reached: {0}")]
    Transport(String),
}

#[async_trait]
pub trait Notifier: Send + Sync {
    /// Posts the incident message (the thread's parent).
    async fn open_thread(
        &self,
        incident: &Incident,
        steps: &[StepRecord],
    ) -> Result<ThreadRef, NotifyError>;
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
    /// Tells the person who asked, privately, how containment ended.
    async fn tell_requester(
        &self,
        response_url: &str,
        incident: &Incident,
        steps: &[StepRecord],
    ) -> Result<(), NotifyError>;
    /// Members of a Slack user group, for roster checks.
    async fn group_members(&self, group: &str) -> Result<Vec<SlackUserId>, NotifyError>;
}

/// Reports to standard output: the CLI's view when Slack is unavailable.
pub struct Console;

#[async_trait]
impl Notifier for Console {
    async fn open_thread(
        &self,
        incident: &Incident,
        steps: &[StepRecord],
    ) -> Result<ThreadRef, NotifyError> {
        println!("{}", messages::incident_card(incident, steps).text);
        Ok(ThreadRef {
            channel: "console".into(),
            ts: "0".into(),
        })
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
        println!("- {}{request}", reply.text);
        Ok("console".into())
    }

    async fn refresh(
        &self,
        _thread: &ThreadRef,
        incident: &Incident,
        steps: &[StepRecord],
    ) -> Result<(), NotifyError> {
        if incident.state != crate::domain::incident::IncidentState::Containing {
            println!("{}", messages::incident_card(incident, steps).text);
        }
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

    async fn group_members(&self, _group: &str) -> Result<Vec<SlackUserId>, NotifyError> {
        Ok(vec![])
    }
}
