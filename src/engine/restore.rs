//! Restore (docs/design.md §3): a new key only when asked, handed over through Secrets Manager and
//! tried; the deny-all lifted behind approval; the session fence kept; and the list of places
//! that used the old key, which need the new one.

use tracing::{info, warn};

use super::jobs::tell;
use super::{Engine, JobRequest, thread_of};
use crate::domain::answer::{Notice, RestoreOutcome, RestoreRefusal};
use crate::domain::approval::{Action, ProposalState};
use crate::domain::audit::AuditAction;
use crate::domain::cleanup::Target;
use crate::domain::ids::{AccountId, IncidentId, SlackUserId};
use crate::domain::incident::{Actor, Incident};
use crate::domain::job::RestoreRequest;
use crate::domain::restore::{Handover, KEYS_PER_USER, secret_name};
use crate::domain::verbs::{Verb, allowed};
use crate::store::{AuditEntry, ClaimedJob, RestoreClaim, StoreError, Work};

impl Engine {
    pub async fn submit_restore(
        &self,
        incident: &IncidentId,
        new_key: bool,
        by: &SlackUserId,
        origin: String,
        response_url: Option<String>,
    ) -> Result<Result<Incident, RestoreRefusal>, StoreError> {
        let Some(inc) = self.find_incident(incident).await? else {
            return Ok(Err(RestoreRefusal::NoSuchIncident));
        };
        if let Err(d) = allowed(Verb::Restore, inc.state, inc.key.kind()) {
            return Ok(Err(RestoreRefusal::NotNow(d)));
        }
        if inc.account.is_none() || inc.user_name.is_none() {
            return Ok(Err(RestoreRefusal::NoUser));
        }
        let request = RestoreRequest {
            new_key,
            requested_by: by.to_string(),
        };
        let job = JobRequest {
            work: Work::Restore(request),
            incident,
            actor: Actor::Slack(by.clone()),
            action: AuditAction::RestoreRequested,
            origin,
            response_url,
        };
        self.queue_job(job).await?;
        Ok(Ok(inc))
    }
}

/// Runs the restore; a failure is told to the requester in AWS's words, not only logged.
pub async fn run_restore(
    engine: &Engine,
    job: &ClaimedJob,
    request: &RestoreRequest,
) -> anyhow::Result<()> {
    let outcome = restore(engine, job, request).await;
    if let Err(e) = &outcome {
        let notice = Notice::RestoreFailed {
            incident: job.incident_id.clone(),
            cause: super::cause_of(e),
        };
        tell(engine, job, notice).await;
    }
    outcome
}

async fn restore(
    engine: &Engine,
    job: &ClaimedJob,
    request: &RestoreRequest,
) -> anyhow::Result<()> {
    let by = SlackUserId::parse(&request.requested_by).map_err(|e| anyhow::anyhow!("{e}"))?;
    let incident = engine.store.incident(&job.incident_id).await?;
    let (Some(account), Some(user)) = (incident.account.clone(), incident.user_name.clone()) else {
        anyhow::bail!("the incident names no account or user");
    };
    let key = if request.new_key {
        let issue = KeyIssue {
            engine,
            job,
            incident: &incident,
            account: &account,
            user: &user,
            by: &by,
        };
        match issue.run().await? {
            Some(h) => Some(h),
            None => return Ok(()),
        }
    } else {
        None
    };
    let lifting = propose_lift(engine, &incident, &by).await?;
    let places = engine
        .store
        .findings(&incident.id)
        .await?
        .map(|f| f.summary)
        .unwrap_or_default();
    let outcome = RestoreOutcome {
        handover: key,
        lift_proposed: lifting,
        places,
    };
    let summary = Notice::RestoreSummary {
        incident: incident.clone(),
        outcome: outcome.clone(),
    };
    if let Some(thread) = thread_of(&incident)
        && let Err(e) = engine.notifier.post_in_thread(&thread, &summary).await
    {
        warn!(error = %e, "could not post the restore summary");
    }
    tell(engine, job, Notice::RestoreDone { incident, outcome }).await;
    Ok(())
}

/// One restore's new key: who it is for, and the job that makes it.
struct KeyIssue<'a> {
    engine: &'a Engine,
    job: &'a ClaimedJob,
    incident: &'a Incident,
    account: &'a AccountId,
    user: &'a str,
    by: &'a SlackUserId,
}

impl KeyIssue<'_> {
    /// Issues the incident's one new key, or returns the one already issued. Returns `None`
    /// when this job must stop: at the two-key limit (the leaked key's deletion is proposed
    /// instead), or while another job is issuing the key.
    async fn run(&self) -> anyhow::Result<Option<Handover>> {
        let (engine, job, incident) = (self.engine, self.job, self.incident);
        let store = &engine.store;
        match store
            .claim_restore(&incident.id, job.id, engine.clock.now())
            .await?
        {
            RestoreClaim::Issued(h) => return Ok(Some(h)),
            // That job finishes the whole restore; this one only says so.
            RestoreClaim::Busy => {
                let notice = Notice::RestoreBusy {
                    incident: incident.clone(),
                };
                tell(engine, job, notice).await;
                return Ok(None);
            }
            RestoreClaim::Mine => {}
        }
        let issued = self.issue_once().await;
        if issued.is_err() {
            // Nothing was issued (a key whose secret failed is deleted again): the next press
            // may try afresh.
            store.release_restore(&incident.id, job.id).await?;
        }
        issued
    }

    /// With the right to issue held: the key a dead run of this job made, or a new one.
    async fn issue_once(&self) -> anyhow::Result<Option<Handover>> {
        let (engine, job, incident) = (self.engine, self.job, self.incident);
        let (account, user) = (self.account, self.user);
        let (store, id) = (&engine.store, &incident.id);
        let name = secret_name(id, user);
        // A run of this job that died after making the key left its secret behind.
        if let Some(h) = engine.aws.find_handover(account, &name, user).await? {
            record(engine, incident, &h).await?;
            return Ok(Some(h));
        }
        let live = engine.aws.snapshot_user(account, user).await?;
        if live.access_keys.len() >= KEYS_PER_USER {
            store.release_restore(id, job.id).await?;
            let leaked_there = live
                .access_keys
                .iter()
                .any(|k| k.id == incident.key.as_str());
            if leaked_there {
                engine
                    .queue_proposal(
                        id,
                        Target::LeakedKey,
                        self.by,
                        format!("restore of {id}"),
                        None,
                    )
                    .await?;
            }
            let notice = Notice::RestoreAtKeyLimit {
                incident: (*incident).clone(),
                leaked_key_there: leaked_there,
            };
            tell(engine, job, notice).await;
            info!(incident = %id, "restore stopped at the key limit");
            return Ok(None);
        }
        let h = engine
            .aws
            .issue_key(account, user, &live.user_arn, &name, id)
            .await?;
        record(engine, incident, &h).await?;
        Ok(Some(h))
    }
}

async fn record(engine: &Engine, incident: &Incident, h: &Handover) -> Result<(), StoreError> {
    let audit = AuditEntry {
        at: engine.clock.now(),
        actor: "keyleak".into(),
        action: AuditAction::RestoreKeyIssued,
        incident_id: Some(incident.id.clone()),
        detail: format!("new key {} in {}", h.key_id, h.secret_arn),
        origin: format!("job for {}", incident.id),
    };
    engine.store.record_handover(&incident.id, h, audit).await
}

/// Proposes lifting the deny-all unless a proposal to do so is already pending or done.
async fn propose_lift(
    engine: &Engine,
    incident: &Incident,
    by: &SlackUserId,
) -> Result<bool, StoreError> {
    let open = engine
        .store
        .proposals(&incident.id)
        .await?
        .into_iter()
        .any(|p| {
            matches!(p.action, Action::RemoveDenyAll { .. })
                && !matches!(
                    p.state,
                    ProposalState::Rejected | ProposalState::Expired | ProposalState::Failed
                )
        });
    if open {
        return Ok(false);
    }
    let origin = format!("restore of {}", incident.id);
    engine
        .queue_proposal(&incident.id, Target::LiftDenyAll, by, origin, None)
        .await?;
    Ok(true)
}
