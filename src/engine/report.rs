//! The post-incident report: Markdown and an activity chart from stored state, shared in the
//! incident's thread. Writing it again deletes the previous files, so the thread holds one.

use std::collections::HashMap;

use anyhow::Context as _;
use tracing::{info, warn};

use super::jobs::tell;
use super::{Engine, JobRequest, thread_of};
use crate::domain::answer::{Notice, ReportRefusal};
use crate::domain::approval::MessageRef;
use crate::domain::approval::Proposal;
use crate::domain::audit::AuditAction;
use crate::domain::ids::IncidentId;
use crate::domain::incident::{Actor, Incident, StepRecord};
use crate::domain::report::ReportInput;
use crate::domain::verbs::{Verb, allowed};
use crate::store::{ClaimedJob, StoreError, Work};

/// Permalinks asked for at most: Slack answers each in a call of its own.
const LINKS_MAX: usize = 60;

impl Engine {
    /// Queues the report for an incident that has a thread to put it in.
    pub async fn submit_report(
        &self,
        incident: &IncidentId,
        by: &Actor,
        origin: String,
        response_url: Option<String>,
    ) -> Result<Result<Incident, ReportRefusal>, StoreError> {
        let Some(inc) = self.find_incident(incident).await? else {
            return Ok(Err(ReportRefusal::NoSuchIncident));
        };
        if let Err(d) = allowed(Verb::Report, inc.state, inc.key.kind()) {
            return Ok(Err(ReportRefusal::NotNow(d)));
        }
        if thread_of(&inc).is_none() {
            return Ok(Err(ReportRefusal::NoThread));
        }
        let job = JobRequest {
            work: Work::Report,
            incident,
            actor: by.clone(),
            action: AuditAction::ReportRequested,
            origin,
            response_url,
        };
        self.queue_job(job).await?;
        Ok(Ok(inc))
    }
}

/// Writes and shares the report; a failure is told to the requester, not only logged.
pub async fn run_report(engine: &Engine, job: &ClaimedJob) -> anyhow::Result<()> {
    let outcome = report(engine, job).await;
    if let Err(e) = &outcome {
        let notice = Notice::ReportFailed {
            incident: job.incident_id.clone(),
            cause: super::cause_of(e),
        };
        tell(engine, job, notice).await;
    }
    outcome
}

async fn report(engine: &Engine, job: &ClaimedJob) -> anyhow::Result<()> {
    let store = &engine.store;
    let id = &job.incident_id;
    let incident = store.incident(id).await?;
    let thread = thread_of(&incident).context("the incident has no thread")?;
    let steps = store.steps(id).await?;
    let proposals = store.proposals(id).await?;
    let findings = store.findings(id).await?;
    let events = store.trail_events(id).await?;
    let audit = store.audit_log(Some(id)).await?;
    let snapshot = store.snapshot(id).await?;
    let evidence = store.evidence(id).await?;
    let links = permalinks(engine, &incident, &steps, &proposals).await;
    let report = ReportInput {
        incident: &incident,
        steps: &steps,
        proposals: &proposals,
        evidence: &evidence,
        findings: findings.as_ref(),
        events: &events,
        audit: &audit,
        snapshot: snapshot.as_ref(),
        links: &links,
        now: engine.clock.now(),
    };
    let previous = store.report_files(id).await?;
    let shared = engine
        .notifier
        .share_report(&thread, &report, !previous.is_empty())
        .await
        .context("sharing the report")?;
    store
        .set_report_files(id, &shared, engine.clock.now())
        .await?;
    for file in previous {
        if let Err(e) = engine.notifier.delete_file(&file).await {
            warn!(error = %e, "could not delete the previous report");
        }
    }
    info!(incident = %id, "report shared");
    tell(engine, job, Notice::ReportShared { incident }).await;
    Ok(())
}

/// Links to the card, each step's reply and each proposal, by `ts`. A link Slack will not
/// give is left out; the report says "message" only where it has one.
async fn permalinks(
    engine: &Engine,
    incident: &Incident,
    steps: &[StepRecord],
    proposals: &[Proposal],
) -> HashMap<String, String> {
    let Some(channel) = incident.slack_channel.clone() else {
        return HashMap::new();
    };
    let in_channel = |ts: &String| MessageRef {
        channel: channel.clone(),
        ts: ts.clone(),
    };
    let messages: Vec<MessageRef> = incident
        .slack_ts
        .iter()
        .chain(steps.iter().filter_map(|s| s.reply_ts.as_ref()))
        .map(in_channel)
        .chain(proposals.iter().filter_map(|p| p.message.clone()))
        .take(LINKS_MAX)
        .collect();
    let mut links = HashMap::new();
    for m in messages {
        match engine.notifier.permalink(&m).await {
            Ok(link) => {
                links.insert(m.ts, link);
            }
            Err(e) => {
                warn!(error = %e, "no permalink; the report goes without the rest");
                break;
            }
        }
    }
    links
}
