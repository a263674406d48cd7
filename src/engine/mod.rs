//! The engine runs playbooks over the ports. The HTTP edge and the CLI only submit work here;
//! workers claim it from the store, so a restart or a second replica continues it.

mod announce;
mod approve;
mod cleanup;
pub mod clock;
mod close;
mod contain;
mod evidence;
mod intake;
mod investigate;
mod jobs;
mod monitor;
mod plan;
mod queries;
mod reach;
mod report;
mod restore;
mod room;
mod worker;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::archive::layout::ArchiveLocation;
use crate::aws::Aws;
use crate::domain::answer::Cause;
use crate::domain::audit::AuditAction;
use crate::domain::ids::{AccessKeyId, IncidentId, ProposalId, RosterEntry, SlackUserId};
use crate::domain::incident::{Actor, Incident};
use crate::domain::signal::ContainPolicy;
use crate::notify::{Notifier, NotifyError, ThreadRef};
use crate::store::{AuditEntry, NewIncident, NewJob, Opened, Opening, Store, StoreError, Work};
use clock::Clock;

pub use crate::domain::answer::{
    CleanupRefusal, ClickResult, CloseRefusal, InvestigateRefusal, PlanProblem, ReportRefusal,
    RestoreRefusal,
};
pub use approve::ProposalClick;
pub use cleanup::ApprovalSettings;
pub use contain::run_contain;
pub use intake::{AlertOutcome, GitHubAlert, QuarantineError};
pub use investigate::{ForensicsSettings, Progress, investigate_copy};
pub use monitor::MonitorSettings;
pub use queries::{NotReady, PeerProblem, Status, StatusOf};
pub use room::RoomSettings;
pub use worker::{Worker, WorkerSettings};

/// A failed job's cause as people are told it; the worker logs the whole chain.
pub(crate) fn cause_of(e: &anyhow::Error) -> Cause {
    for c in e.chain() {
        if let Some(a) = c.downcast_ref::<crate::aws::AwsError>() {
            return Cause::Aws(a.to_string());
        }
        if c.downcast_ref::<StoreError>().is_some() {
            return Cause::Store;
        }
        if let Some(n) = c.downcast_ref::<NotifyError>() {
            return Cause::Slack(match n {
                NotifyError::Refused(code) => code.clone(),
                NotifyError::Transport(_) => "no answer".into(),
            });
        }
    }
    Cause::Internal
}

#[derive(Clone)]
pub struct Engine {
    store: Arc<dyn Store>,
    aws: Arc<dyn Aws>,
    notifier: Arc<dyn Notifier>,
    clock: Arc<dyn Clock>,
    /// Wakes this process's workers at once when it queues a job; other replicas poll.
    wake: Arc<Notify>,
    approvals: ApprovalSettings,
    /// Each proposal's message redraws, kept in order.
    redraws: Arc<std::sync::Mutex<std::collections::HashMap<ProposalId, Arc<approve::Redraw>>>>,
    forensics: ForensicsSettings,
    rooms: RoomSettings,
    monitoring: MonitorSettings,
    /// When set (`serve`), readiness includes Slack and AWS, checked at most this often.
    peers: Option<Arc<queries::PeerChecks>>,
    /// Which signals contain a key without a person.
    policy: Arc<ContainPolicy>,
    /// GitHub's secret scanning alerts, read and resolved, when configured.
    alerts: Option<Arc<dyn crate::github::SecretAlerts>>,
    /// `KEYLEAK_EVIDENCE_BUCKET`: where evidence is copied before a deletion.
    evidence_copy: Option<ArchiveLocation>,
}

impl Engine {
    pub fn new(
        store: Arc<dyn Store>,
        aws: Arc<dyn Aws>,
        notifier: Arc<dyn Notifier>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            aws,
            notifier,
            clock,
            wake: Arc::new(Notify::new()),
            approvals: ApprovalSettings::default(),
            redraws: Arc::default(),
            forensics: ForensicsSettings::default(),
            rooms: RoomSettings::default(),
            monitoring: MonitorSettings::default(),
            peers: None,
            policy: Arc::default(),
            alerts: None,
            evidence_copy: None,
        }
    }

    /// Evidence is copied to this bucket too, and a deletion waits for the copy.
    pub fn with_evidence_copy(mut self, at: Option<ArchiveLocation>) -> Self {
        self.evidence_copy = at;
        self
    }

    pub fn with_alerts(mut self, alerts: Arc<dyn crate::github::SecretAlerts>) -> Self {
        self.alerts = Some(alerts);
        self
    }

    pub fn with_contain_policy(mut self, policy: ContainPolicy) -> Self {
        self.policy = Arc::new(policy);
        self
    }

    /// Readiness includes Slack and AWS, not only the database.
    pub fn with_peer_checks(mut self) -> Self {
        self.peers = Some(Arc::default());
        self
    }

    pub fn with_rooms(mut self, rooms: RoomSettings) -> Self {
        self.rooms = rooms;
        self
    }

    pub fn with_approvals(mut self, approvals: ApprovalSettings) -> Self {
        self.approvals = approvals;
        self
    }

    /// Records the request and queues containment; returns without touching AWS.
    pub async fn submit_contain(
        &self,
        key: AccessKeyId,
        reason: Option<String>,
        requested_by: Actor,
        origin: String,
        response_url: Option<String>,
    ) -> Result<Opened, StoreError> {
        self.open(
            Opening::Contain,
            key,
            reason,
            requested_by,
            origin,
            response_url,
        )
        .await
    }

    /// Opens the key's incident in triage (or returns the open one): the owner, last use and
    /// forensics (over `investigate_days`, else the default window) are gathered, and nothing
    /// is changed until a person decides.
    pub async fn submit_triage(
        &self,
        key: AccessKeyId,
        investigate_days: Option<u32>,
        requested_by: Actor,
        origin: String,
        response_url: Option<String>,
    ) -> Result<Opened, StoreError> {
        self.open_with(NewIncident {
            opening: Opening::Triage,
            investigate_days,
            hold: None,
            signal: None,
            id: IncidentId::from_random(rand::random()),
            key,
            reason: None,
            requested_by,
            now: self.clock.now(),
            origin,
            response_url,
        })
        .await
    }

    async fn open(
        &self,
        opening: Opening,
        key: AccessKeyId,
        reason: Option<String>,
        requested_by: Actor,
        origin: String,
        response_url: Option<String>,
    ) -> Result<Opened, StoreError> {
        self.open_with(NewIncident {
            opening,
            investigate_days: None,
            hold: None,
            signal: None,
            id: IncidentId::from_random(rand::random()),
            key,
            reason,
            requested_by,
            now: self.clock.now(),
            origin,
            response_url,
        })
        .await
    }

    async fn open_with(&self, new: NewIncident) -> Result<Opened, StoreError> {
        let opened = self.store.open_incident(new).await?;
        if opened.created || opened.queued {
            self.wake.notify_one();
        }
        Ok(opened)
    }
}

impl Engine {
    /// The incident, or `None` when there is no such incident: a request's mistake, which
    /// callers answer with a refusal rather than an error.
    pub(super) async fn find_incident(
        &self,
        id: &IncidentId,
    ) -> Result<Option<crate::domain::incident::Incident>, StoreError> {
        match self.store.incident(id).await {
            Ok(i) => Ok(Some(i)),
            Err(StoreError::NoSuchIncident(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A job to queue, and who asked for it and how, for its audit row.
pub(super) struct JobRequest<'a> {
    pub work: Work,
    pub incident: &'a IncidentId,
    pub actor: Actor,
    pub action: AuditAction,
    pub origin: String,
    pub response_url: Option<String>,
}

impl Engine {
    /// Queues the job and its audit row (the work is its detail) in one transaction; then
    /// wakes this process's workers.
    pub(super) async fn queue_job(&self, job: JobRequest<'_>) -> Result<(), StoreError> {
        let audit = AuditEntry {
            at: self.clock.now(),
            actor: job.actor.to_stored(),
            action: job.action,
            incident_id: Some(job.incident.clone()),
            detail: serde_json::to_string(&job.work).map_err(StoreError::corrupt)?,
            origin: job.origin,
        };
        let new = NewJob {
            work: job.work,
            incident: job.incident.clone(),
            response_url: job.response_url,
        };
        self.store.enqueue_job(new, audit).await?;
        self.wake.notify_one();
        Ok(())
    }
}

/// The incident's thread, once its card is posted.
pub(super) fn thread_of(incident: &Incident) -> Option<ThreadRef> {
    incident
        .slack_channel
        .clone()
        .zip(incident.slack_ts.clone())
        .map(|(channel, ts)| ThreadRef { channel, ts })
}

/// How long a user-group lookup may take for a command: Slack wants its answer within 3
/// seconds.
const ROSTER_LOOKUP_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);
/// How long a fresh lookup may take for an approval, decided off the request: long enough to
/// wait its turn at Slack's pace when many approvers click together.
const FRESH_LOOKUP_LIMIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Whether a Slack user is on a roster; user groups are resolved now (`fresh`: without any
/// cache), and a failed or slow lookup denies (fails closed).
pub async fn on_roster(
    user: &SlackUserId,
    roster: &[RosterEntry],
    notifier: &dyn Notifier,
    fresh: bool,
) -> Result<bool, NotifyError> {
    if roster
        .iter()
        .any(|e| matches!(e, RosterEntry::User(u) if u == user))
    {
        return Ok(true);
    }
    for entry in roster {
        if let RosterEntry::Group(g) = entry
            && tokio::time::timeout(
                if fresh {
                    FRESH_LOOKUP_LIMIT
                } else {
                    ROSTER_LOOKUP_LIMIT
                },
                notifier.group_members(g, fresh),
            )
            .await
            .map_err(|_| NotifyError::Transport("user-group lookup timed out".into()))??
            .contains(user)
        {
            return Ok(true);
        }
    }
    Ok(false)
}
