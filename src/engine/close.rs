//! Closing an incident: the record is kept, monitoring ends, nothing in AWS or Slack is
//! archived or deleted. The thread says who closed it and links the final report.

use tracing::{info, warn};

use super::{Engine, thread_of};
use crate::domain::answer::{CloseRefusal, Notice};
use crate::domain::audit::AuditAction;
use crate::domain::ids::IncidentId;
use crate::domain::incident::{Actor, Incident, IncidentState};
use crate::domain::verbs::{Disallowed, NotNow, Verb, allowed};
use crate::store::{AuditEntry, ClaimedJob, NewJob, StoreError, Work};

impl Engine {
    /// Closes the incident; with a reason given (`dismissed`), ends one in triage without
    /// containment.
    pub async fn close(
        &self,
        incident: &IncidentId,
        by: &Actor,
        dismissed: Option<String>,
        origin: String,
    ) -> Result<Result<Incident, CloseRefusal>, StoreError> {
        let Some(inc) = self.find_incident(incident).await? else {
            return Ok(Err(CloseRefusal::NoSuchIncident));
        };
        let (verb, action, detail) = match &dismissed {
            Some(reason) => (
                Verb::Dismiss,
                AuditAction::IncidentDismiss,
                format!("dismissed: {reason}"),
            ),
            None => (
                Verb::Close,
                AuditAction::IncidentClose,
                format!("closed from {}", inc.state.as_str()),
            ),
        };
        if let Err(d) = allowed(verb, inc.state, inc.key.kind()) {
            return Ok(Err(CloseRefusal::NotNow(d)));
        }
        let audit = AuditEntry {
            at: self.clock.now(),
            actor: by.to_stored(),
            action,
            incident_id: Some(inc.id.clone()),
            detail,
            origin,
        };
        let job = NewJob {
            work: Work::Close {
                by: Some(by.to_stored()),
                dismissed,
            },
            incident: inc.id.clone(),
            response_url: None,
        };
        if !self.store.close_incident(&inc.id, audit, job).await? {
            let d = Disallowed {
                verb,
                state: IncidentState::Closed,
                why: NotNow::Closed,
            };
            return Ok(Err(CloseRefusal::NotNow(d)));
        }
        self.wake.notify_one();
        info!(incident = %inc.id, "incident closed");
        Ok(Ok(Incident {
            state: IncidentState::Closed,
            ..inc
        }))
    }
}

/// Says in the thread that the incident is closed, with the report's link, and redraws the card.
pub async fn run_close(
    engine: &Engine,
    job: &ClaimedJob,
    by: Option<&str>,
    dismissed: Option<&str>,
) -> anyhow::Result<()> {
    let id = &job.incident_id;
    let incident = engine.store.incident(id).await?;
    let Some(thread) = thread_of(&incident) else {
        return Ok(());
    };
    let by = by.and_then(Actor::from_stored);
    let report = match engine.store.report_files(id).await?.first() {
        Some(file) => engine.notifier.file_link(file).await.ok(),
        None => None,
    };
    let note = Notice::Closed {
        incident: incident.clone(),
        by,
        report,
        dismissed: dismissed.map(str::to_string),
    };
    if let Err(e) = engine.notifier.post_in_thread(&thread, &note).await {
        warn!(error = %e, "could not say the incident is closed");
    }
    let steps = engine.store.steps(id).await?;
    engine.notifier.refresh(&thread, &incident, &steps).await?;
    Ok(())
}
