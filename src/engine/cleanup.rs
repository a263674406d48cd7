//! Cleanup (docs/design.md §3): a request names targets; a worker asks AWS what each holds and
//! posts one proposal per action; an approved proposal is executed by a worker holding the
//! execution right the store handed out once.

use anyhow::Context as _;
use chrono::Duration;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::Engine;
use super::JobRequest;
use super::jobs::{keep_lease, tell};
use crate::domain::answer::{CleanupRefusal, Notice};
use crate::domain::approval::{Outcome, Proposal, ProposalState};
use crate::domain::audit::AuditAction;
use crate::domain::cleanup::Target;
use crate::domain::ids::{IncidentId, ProposalId, SlackUserId};
use crate::domain::incident::{Actor, Incident};
use crate::domain::job::ProposeRequest;
use crate::domain::verbs::{Verb, allowed};
use crate::notify::ThreadRef;
use crate::store::{AuditEntry, ClaimedJob, StoreError, Work};

/// How long a proposal waits for approval, and how many approvers it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovalSettings {
    pub ttl: Duration,
    /// Distinct approvers needed besides the requester.
    pub required: usize,
}

impl Default for ApprovalSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::minutes(30),
            required: 1,
        }
    }
}

impl Engine {
    /// Checks the incident and queues the lookup of the target; AWS is not called here.
    pub async fn submit_cleanup(
        &self,
        incident: &IncidentId,
        target: Target,
        by: &SlackUserId,
        origin: String,
        response_url: Option<String>,
    ) -> Result<Result<Incident, CleanupRefusal>, StoreError> {
        let Some(inc) = self.find_incident(incident).await? else {
            return Ok(Err(CleanupRefusal::NoSuchIncident(incident.clone())));
        };
        if let Err(d) = allowed(Verb::Cleanup, inc.state, inc.key.kind()) {
            return Ok(Err(CleanupRefusal::NotNow(inc.id, d)));
        }
        if inc.account.is_none() || inc.user_name.is_none() {
            return Ok(Err(CleanupRefusal::NotLocated(inc.id)));
        }
        self.queue_proposal(&inc.id, target, by, origin, response_url)
            .await?;
        Ok(Ok(inc))
    }

    /// Queues the lookup of one cleanup target, proposed by `by`.
    pub(super) async fn queue_proposal(
        &self,
        incident: &IncidentId,
        target: Target,
        by: &SlackUserId,
        origin: String,
        response_url: Option<String>,
    ) -> Result<(), StoreError> {
        let request = ProposeRequest {
            target,
            requested_by: by.to_string(),
            origin: origin.clone(),
        };
        let job = JobRequest {
            work: Work::Propose(request),
            incident,
            actor: Actor::Slack(by.clone()),
            action: AuditAction::CleanupRequested,
            origin,
            response_url,
        };
        self.queue_job(job).await
    }

    /// Moves pending proposals whose time ran out to expired and updates their messages.
    pub async fn expire_due(&self) -> Result<(), StoreError> {
        let now = self.clock.now();
        for p in self.store.expired_pending(now, 50).await? {
            self.expire(&p).await?;
        }
        Ok(())
    }

    pub(super) async fn expire(&self, p: &Proposal) -> Result<(), StoreError> {
        let audit = self.proposal_audit(p, "keyleak", AuditAction::ProposalExpired, String::new());
        let moved = self
            .store
            .move_proposal(
                &p.id,
                ProposalState::Pending,
                ProposalState::Expired,
                Some(&Outcome::Expired),
                audit,
            )
            .await?;
        if moved {
            info!(proposal = %p.id, "proposal expired");
            self.redraw_proposal(&p.id).await;
        }
        Ok(())
    }

    /// An audit row about a proposal: who, what, and both people involved.
    pub(super) fn proposal_audit(
        &self,
        p: &Proposal,
        actor: &str,
        action: AuditAction,
        extra: String,
    ) -> AuditEntry {
        let approvers: Vec<&str> = p.approvals.iter().map(|a| a.as_str()).collect();
        let mut detail = format!(
            "{} {}; requested by {}; approved by [{}]",
            p.id,
            serde_json::to_string(&p.action).unwrap_or_default(),
            p.requested_by,
            approvers.join(", ")
        );
        if !extra.is_empty() {
            detail.push_str("; ");
            detail.push_str(&extra);
        }
        AuditEntry {
            at: self.clock.now(),
            actor: actor.to_string(),
            action,
            incident_id: Some(p.incident.clone()),
            detail,
            origin: "keyleak".into(),
        }
    }

    /// Redraws a proposal's message from the store. Failures are logged: the store, not
    /// the message, is the record.
    pub(super) async fn refresh_proposal(&self, id: &ProposalId) {
        let loaded = async {
            let p = self.store.proposal(id).await?;
            let Some(p) = p else { return Ok(None) };
            let inc = self.store.incident(&p.incident).await?;
            Ok::<_, StoreError>(Some((p, inc)))
        };
        match loaded.await {
            Ok(Some((p, inc))) => {
                if let Some(m) = &p.message
                    && let Err(e) = self.notifier.update_proposal(m, &inc, &p).await
                {
                    warn!(proposal = %id, error = %e, "could not update a proposal message");
                }
            }
            Ok(None) => {}
            Err(e) => warn!(proposal = %id, error = %e, "could not load a proposal"),
        }
    }
}

/// The propose job: looks up each target in AWS and posts one proposal per action. Proposal
/// ids derive from the job, so a job taken over after a crash posts nothing twice.
pub async fn run_propose(
    engine: &Engine,
    job: &ClaimedJob,
    request: &ProposeRequest,
) -> anyhow::Result<()> {
    let requester = SlackUserId::parse(&request.requested_by).context("reading the requester")?;
    let incident = engine.store.incident(&job.incident_id).await?;
    let actions = match super::plan::plan(engine, &incident, &request.target).await {
        Ok(a) => a,
        Err(problem) => {
            info!(problem = %problem, "cleanup target refused");
            let notice = Notice::CleanupNotProposed {
                incident: incident.clone(),
                problem,
            };
            tell(engine, job, notice).await;
            return Ok(());
        }
    };
    let thread = super::thread_of(&incident);
    let settings = engine.approvals;
    let now = engine.clock.now();
    for (n, action) in actions.into_iter().enumerate() {
        let p = Proposal {
            id: proposal_id(job.id, n),
            incident: incident.id.clone(),
            hash: action.params_hash(),
            action,
            requested_by: requester.clone(),
            created_at: now,
            expires_at: now + settings.ttl,
            state: ProposalState::Pending,
            approvals: vec![],
            required: settings.required,
            message: None,
            decided_by: None,
            decided_at: None,
            outcome: None,
        };
        let action = p.action.clone();
        if let Some(pending) =
            post_proposal(engine, &incident, thread.as_ref(), p, &request.origin).await?
        {
            let notice = Notice::CleanupAlreadyPending {
                incident: incident.clone(),
                action,
                pending,
            };
            tell(engine, job, notice).await;
        }
    }
    Ok(())
}

async fn post_proposal(
    engine: &Engine,
    incident: &Incident,
    thread: Option<&ThreadRef>,
    p: Proposal,
    origin: &str,
) -> anyhow::Result<Option<ProposalId>> {
    let stored = match engine.store.proposal(&p.id).await? {
        Some(existing) => existing,
        None => {
            let mut audit = engine.proposal_audit(
                &p,
                &Actor::Slack(p.requested_by.clone()).to_stored(),
                AuditAction::ProposalCreated,
                String::new(),
            );
            audit.origin = origin.to_string();
            if let Some(pending) = engine.store.create_proposal(&p, audit).await? {
                info!(proposal = %pending, "the same action is pending already");
                return Ok(Some(pending));
            }
            p
        }
    };
    if stored.message.is_some() {
        return Ok(None);
    }
    let posted = engine
        .notifier
        .post_proposal(thread, incident, &stored)
        .await
        .context("posting the proposal")?;
    engine
        .store
        .set_proposal_message(&stored.id, &posted)
        .await?;
    info!(proposal = %stored.id, "proposal posted");
    Ok(None)
}

/// A proposal id from the job and the action's place in it: stable across retries.
fn proposal_id(job: i64, n: usize) -> ProposalId {
    let digest = Sha256::digest(format!("keyleak proposal {job} {n}").as_bytes());
    let mut bits = [0u8; 8];
    bits.copy_from_slice(&digest[..8]);
    ProposalId::from_random(u64::from_be_bytes(bits))
}

/// The execute job: runs an approved proposal once, records the outcome with both people,
/// and shows it on the proposal's message.
pub async fn run_execute(
    engine: &Engine,
    job: &ClaimedJob,
    id: &ProposalId,
    lease: Duration,
) -> anyhow::Result<()> {
    let p = engine
        .store
        .proposal(id)
        .await?
        .with_context(|| format!("no proposal {id}"))?;
    let audit = engine.proposal_audit(&p, "keyleak", AuditAction::ProposalExecuting, String::new());
    let Some(right) = engine.store.claim_execution(id, job.id, audit).await? else {
        info!(proposal = %id, "not executed: another job holds it or it is not approved");
        return Ok(());
    };
    engine.redraw_proposal(id).await;
    let run = async {
        if let Err(why) = super::evidence::keep(engine, &p).await {
            return Outcome::Failed {
                error: format!("nothing was deleted: the evidence could not be kept: {why}"),
                request_ids: vec![],
            };
        }
        engine.aws.execute(&right, &p.action).await
    };
    let outcome = if p.action.params_hash() == p.hash {
        tokio::select! {
            outcome = run => outcome,
            error = keep_lease(engine, job.id, lease) => Outcome::Failed {
                error: format!("stopped: the job's lease could not be kept ({error})"),
                request_ids: vec![],
            },
        }
    } else {
        Outcome::Failed {
            error: "the stored parameters no longer match the approved ones".into(),
            request_ids: vec![],
        }
    };
    let to = outcome.final_state();
    let extra = serde_json::to_string(&outcome).unwrap_or_default();
    let audit = engine.proposal_audit(&p, "keyleak", AuditAction::ProposalFinished(to), extra);
    engine
        .store
        .move_proposal(id, ProposalState::Executing, to, Some(&outcome), audit)
        .await?;
    info!(proposal = %id, state = to.as_str(), "proposal executed");
    engine.redraw_proposal(id).await;
    Ok(())
}
