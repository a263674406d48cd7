//! The console adapter of the notification port: the CLI's view when Slack is unavailable,
//! each notice printed in the words Slack would show.

use async_trait::async_trait;

use crate::domain::answer::Notice;
use crate::domain::approval::{MessageRef, Proposal};
use crate::domain::ids::SlackUserId;
use crate::domain::incident::{Incident, IncidentState, StepRecord};
use crate::domain::reach::Reach;
use crate::domain::report::ReportInput;
use crate::domain::signal::Signal;
use crate::notify::{Attachment, Notifier, NotifyError, ThreadRef};
use crate::slack::messages;

/// Reports to standard output.
pub struct Console;

/// One message on standard output, its control characters escaped: records carry text an
/// attacker chose.
fn say(text: &str) {
    println!("{}", messages::for_terminal(text));
}

#[async_trait]
impl Notifier for Console {
    async fn verify(&self) -> Result<(), NotifyError> {
        Ok(())
    }

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

    async fn post_in_channel(&self, notice: &Notice) -> Result<(), NotifyError> {
        say(&messages::notice(notice).text);
        Ok(())
    }

    async fn post_reach(
        &self,
        _thread: &ThreadRef,
        incident: &Incident,
        reach: &Reach,
    ) -> Result<String, NotifyError> {
        say(&messages::reach_reply(incident, reach).terminal_text());
        Ok("console".into())
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

    async fn post_signal(
        &self,
        _thread: &ThreadRef,
        incident: &Incident,
        signal: &Signal,
        number: usize,
    ) -> Result<String, NotifyError> {
        say(&format!(
            "- {}",
            messages::signal_reply(incident, signal, number).text
        ));
        Ok("console".into())
    }

    async fn refresh(
        &self,
        _thread: &ThreadRef,
        incident: &Incident,
        steps: &[StepRecord],
    ) -> Result<(), NotifyError> {
        if incident.state != IncidentState::Containing {
            say(&messages::incident_card(incident, steps).text);
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

    async fn respond(&self, _response_url: &str, notice: &Notice) -> Result<(), NotifyError> {
        say(&messages::notice(notice).text);
        Ok(())
    }

    async fn post_in_thread(
        &self,
        _thread: &ThreadRef,
        notice: &Notice,
    ) -> Result<MessageRef, NotifyError> {
        // Progress is not drawn on a terminal; the final text is printed by `edit`.
        if !matches!(notice, Notice::InvestigationProgress { .. }) {
            say(&messages::notice(notice).text);
        }
        Ok(MessageRef {
            channel: "console".into(),
            ts: "0".into(),
        })
    }

    async fn edit(&self, _message: &MessageRef, notice: &Notice) -> Result<(), NotifyError> {
        if !matches!(notice, Notice::InvestigationProgress { .. }) {
            println!("{}", messages::notice(notice).terminal_text());
        }
        Ok(())
    }

    /// A terminal has no thread to share files in; the timeline stays in the database.
    async fn upload(
        &self,
        _thread: &ThreadRef,
        _files: &[Attachment],
        _comment: &Notice,
    ) -> Result<Vec<String>, NotifyError> {
        Ok(vec![])
    }

    async fn share_report(
        &self,
        _thread: &ThreadRef,
        _report: &ReportInput<'_>,
        _replacing: bool,
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
