//! The store port: incidents, their steps, the job queue and the append-only audit log.
//! State lives here, not in memory, so a restart or a second replica resumes the work.

mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::approval::{Decision, MessageRef, Outcome, Proposal, ProposalState};
use crate::domain::ids::{AccessKeyId, AccountId, IncidentId, ProposalId, SlackUserId};
use crate::domain::incident::{Actor, Incident, IncidentState, StepRecord, UserSnapshot};
use crate::domain::restore::Handover;
use crate::domain::trail::TrailEvent;
use crate::domain::trail::findings::Findings;

pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no incident {0}")]
    NoSuchIncident(IncidentId),
    #[error("{0}")]
    Unsupported(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// What to record when a responder asks to contain a key.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub id: IncidentId,
    pub key: AccessKeyId,
    pub reason: Option<String>,
    pub requested_by: Actor,
    pub now: DateTime<Utc>,
    /// Which verified request this came from, for the audit log.
    pub origin: String,
    /// Where to tell the requester privately how containment ended (Slack's `response_url`).
    pub response_url: Option<String>,
}

/// The answer to a contain request: the incident, and whether this request opened it.
#[derive(Debug, Clone)]
pub struct Opened {
    pub incident: Incident,
    pub created: bool,
    /// True when a containment job was queued by this request (new, or a retry of a failure).
    pub queued: bool,
}

pub use crate::domain::job::JobKind;

/// Who may issue an incident's new key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreClaim {
    /// This job: go ahead (first check AWS for a key a crashed run of this job made).
    Mine,
    Issued(Handover),
    /// Another job is issuing it now.
    Busy,
}

/// A job to queue besides containment, with what it acts on.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: JobKind,
    pub incident: IncidentId,
    /// JSON the job's runner understands (cleanup targets, a proposal id).
    pub payload: String,
    pub response_url: Option<String>,
}

/// A job given up because its workers kept dying while running it.
#[derive(Debug, Clone)]
pub struct AbandonedJob {
    pub id: i64,
    pub kind: JobKind,
    pub incident_id: IncidentId,
    pub attempts: i64,
}

/// Which jobs a worker may claim.
#[derive(Debug, Clone, Copy, Default)]
pub struct Claim<'a> {
    /// Only this incident's jobs.
    pub only: Option<&'a IncidentId>,
    /// Only containment: the other kinds have used their share of the worker's slots.
    pub contain_only: bool,
    /// The claiming worker, when it says it is alive (`beat`): its jobs are then taken over
    /// as soon as it falls silent, not only when their lease runs out.
    pub by: Option<&'a str>,
    /// A worker whose last beat is older than this is dead: its running jobs are claimable.
    pub silent_since: Option<DateTime<Utc>>,
}

/// A job a worker holds until `locked_until`; past that, another worker may take it over.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: JobKind,
    pub incident_id: IncidentId,
    pub attempts: i64,
    pub response_url: Option<String>,
    pub payload: Option<String>,
}

pub use crate::domain::audit::AuditEntry;

/// Incident facts learnt by the playbook.
#[derive(Debug, Clone, Default)]
pub struct IncidentFacts {
    pub account: Option<AccountId>,
    pub user_name: Option<String>,
}

/// Proof that the holder won the move of a proposal from approved to executing. Only the
/// store mints it, so a destructive action can only be reached through a won transition.
#[derive(Debug)]
pub struct ExecutionRight {
    proposal: ProposalId,
}

impl ExecutionRight {
    pub(in crate::store) fn new(proposal: ProposalId) -> Self {
        Self { proposal }
    }

    pub fn proposal(&self) -> &ProposalId {
        &self.proposal
    }
}

#[async_trait]
pub trait Store: Send + Sync {
    async fn ping(&self) -> Result<(), StoreError>;

    /// Opens an incident for the key and queues its containment, or returns the open one.
    /// A failed incident gets a new containment job unless one is already pending.
    /// One transaction with the audit row.
    async fn open_incident(&self, new: NewIncident) -> Result<Opened, StoreError>;

    async fn incident(&self, id: &IncidentId) -> Result<Incident, StoreError>;
    async fn open_incident_for_key(
        &self,
        key: &AccessKeyId,
    ) -> Result<Option<Incident>, StoreError>;
    /// The most recently opened `limit` open incidents, newest first.
    async fn open_incidents(&self, limit: u32) -> Result<Vec<Incident>, StoreError>;
    async fn count_open(&self) -> Result<i64, StoreError>;

    async fn set_facts(&self, id: &IncidentId, facts: &IncidentFacts) -> Result<(), StoreError>;
    async fn set_slack_message(
        &self,
        id: &IncidentId,
        channel: &str,
        ts: &str,
    ) -> Result<(), StoreError>;
    /// Records the incident's room as soon as Slack made it, before its card is posted, so
    /// that an announcement tried again uses it instead of making another.
    async fn set_room(&self, id: &IncidentId, channel: &str) -> Result<(), StoreError>;
    async fn set_state(
        &self,
        id: &IncidentId,
        state: IncidentState,
        contained_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;

    async fn save_snapshot(
        &self,
        id: &IncidentId,
        snapshot: &UserSnapshot,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn snapshot(&self, id: &IncidentId) -> Result<Option<UserSnapshot>, StoreError>;

    /// Records a step's outcome and its audit row together. Recording a step that is already
    /// done is refused (returns false) so a step's effect is recorded once.
    async fn record_step(
        &self,
        id: &IncidentId,
        step: &StepRecord,
        audit: AuditEntry,
    ) -> Result<bool, StoreError>;
    async fn set_step_reply(
        &self,
        id: &IncidentId,
        kind: crate::domain::incident::StepKind,
        ts: &str,
    ) -> Result<(), StoreError>;
    async fn steps(&self, id: &IncidentId) -> Result<Vec<StepRecord>, StoreError>;

    /// Claims a claimable job: containment before any other kind, then the oldest. An
    /// incident's announcements are claimed one at a time, so a room is opened once.
    async fn claim_job(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        which: Claim<'_>,
    ) -> Result<Option<ClaimedJob>, StoreError>;
    /// Ends, as failed, every job whose worker died (its lease ran out) `max_attempts` times:
    /// a job that kills its worker must not be taken over for ever. Returns them.
    async fn abandon_dead_jobs(
        &self,
        now: DateTime<Utc>,
        max_attempts: i64,
    ) -> Result<Vec<AbandonedJob>, StoreError>;
    /// Forgets the response URLs of jobs created before `before`: Slack takes a response URL
    /// for 30 minutes, and it is a credential to post to the requester until then.
    async fn forget_response_urls(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Says the worker `owner` is alive at `at`; `None` says it has stopped.
    async fn beat(&self, owner: &str, at: Option<DateTime<Utc>>) -> Result<(), StoreError>;
    /// Puts a running job back in the queue, to be claimed again from `not_before`.
    async fn retry_job(
        &self,
        job: i64,
        not_before: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError>;
    /// Queues an announcement of the incident, or folds it into one already queued (the
    /// final one keeps its `response_url`).
    async fn queue_announcement(
        &self,
        incident: &IncidentId,
        last: bool,
        response_url: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Whether an announcement of the incident is queued or running.
    async fn announcement_pending(&self, incident: &IncidentId) -> Result<bool, StoreError>;
    async fn extend_lease(&self, job: i64, until: DateTime<Utc>) -> Result<(), StoreError>;
    async fn finish_job(
        &self,
        job: i64,
        now: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Jobs queued or running, of every incident or only of `only`.
    async fn pending_jobs(&self, only: Option<&IncidentId>) -> Result<i64, StoreError>;

    /// Queues a job with its audit row; returns the job's id.
    async fn enqueue_job(&self, job: NewJob, audit: AuditEntry) -> Result<i64, StoreError>;

    /// Records a new proposal with its audit row; when the same action (by its parameters'
    /// hash) is already pending on the incident, records nothing and returns that one's id.
    async fn create_proposal(
        &self,
        p: &Proposal,
        audit: AuditEntry,
    ) -> Result<Option<ProposalId>, StoreError>;
    async fn proposal(&self, id: &ProposalId) -> Result<Option<Proposal>, StoreError>;
    /// The incident's proposals, oldest first.
    async fn proposals(&self, incident: &IncidentId) -> Result<Vec<Proposal>, StoreError>;
    async fn set_proposal_message(
        &self,
        id: &ProposalId,
        message: &MessageRef,
    ) -> Result<(), StoreError>;
    /// Records an approval and decides on the approvals counted in the same transaction:
    /// the one that makes enough moves the proposal to approved and queues its execution.
    /// The audit row's action says which (`proposal.approved`, `proposal.approval_counted`).
    /// `None` when it was no longer pending or this person already approved; nothing is
    /// written then.
    async fn record_approval(
        &self,
        id: &ProposalId,
        approver: &SlackUserId,
        audit: AuditEntry,
    ) -> Result<Option<Decision>, StoreError>;
    /// approved → executing, on behalf of `job`; `Some` only for the one job that wins. The
    /// same job, re-claimed after its worker died, gets the right again.
    async fn claim_execution(
        &self,
        id: &ProposalId,
        job: i64,
        audit: AuditEntry,
    ) -> Result<Option<ExecutionRight>, StoreError>;
    /// Any other allowed move (pending → rejected/expired, executing → done/failed).
    async fn move_proposal(
        &self,
        id: &ProposalId,
        from: ProposalState,
        to: ProposalState,
        outcome: Option<&Outcome>,
        audit: AuditEntry,
    ) -> Result<bool, StoreError>;
    /// Pending proposals whose time ran out, oldest first.
    async fn expired_pending(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Proposal>, StoreError>;

    /// The message an investigate job draws its progress and summary in.
    async fn investigation_message(&self, job: i64) -> Result<Option<MessageRef>, StoreError>;
    async fn set_investigation_message(
        &self,
        incident: &IncidentId,
        job: i64,
        message: &MessageRef,
    ) -> Result<(), StoreError>;
    /// Records an investigation's findings and adds its events to the incident's timeline
    /// (an event already there is kept once), together.
    async fn save_findings(
        &self,
        incident: &IncidentId,
        job: i64,
        findings: &Findings,
        events: &[TrailEvent],
    ) -> Result<(), StoreError>;
    /// The most recent investigation's findings.
    async fn findings(&self, incident: &IncidentId) -> Result<Option<Findings>, StoreError>;
    /// Every event recorded for the incident, oldest first.
    async fn trail_events(&self, incident: &IncidentId) -> Result<Vec<TrailEvent>, StoreError>;

    async fn audit(&self, entry: AuditEntry) -> Result<(), StoreError>;

    /// Closes an open incident with its audit row and the job that says so, in one
    /// transaction; false when it was closed already (nothing is written).
    async fn close_incident(
        &self,
        id: &IncidentId,
        audit: AuditEntry,
        job: NewJob,
    ) -> Result<bool, StoreError>;
    /// The Slack file ids of the incident's latest report, to be replaced by the next.
    async fn report_files(&self, id: &IncidentId) -> Result<Vec<String>, StoreError>;
    async fn set_report_files(
        &self,
        id: &IncidentId,
        files: &[String],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Takes the right to issue the incident's new key for `job` (again, when that job is
    /// retried), or says it is issued or held by another job.
    async fn claim_restore(
        &self,
        id: &IncidentId,
        job: i64,
        at: DateTime<Utc>,
    ) -> Result<RestoreClaim, StoreError>;
    /// Records the handover and its audit row together.
    async fn record_handover(
        &self,
        id: &IncidentId,
        handover: &Handover,
        audit: AuditEntry,
    ) -> Result<(), StoreError>;
    async fn release_restore(&self, id: &IncidentId, job: i64) -> Result<(), StoreError>;
    async fn handover(&self, id: &IncidentId) -> Result<Option<Handover>, StoreError>;

    /// Queues a monitor poll for every open incident contained within `window` whose next
    /// poll is due, and sets its next one `every` later; one transaction, so replicas queue
    /// each poll once.
    async fn queue_due_monitors(
        &self,
        now: DateTime<Utc>,
        every: chrono::Duration,
        window: chrono::Duration,
    ) -> Result<usize, StoreError>;
    /// Up to when CloudTrail has been read for the incident.
    async fn checked_to(&self, id: &IncidentId) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Keeps a poll's events and returns those not seen before; marks the incident's late
    /// activity at the first.
    async fn record_watch(
        &self,
        id: &IncidentId,
        checked_to: DateTime<Utc>,
        events: &[TrailEvent],
    ) -> Result<Vec<TrailEvent>, StoreError>;
    async fn audit_log(&self, id: Option<&IncidentId>) -> Result<Vec<AuditEntry>, StoreError>;
}

/// Opens the store named by `KEYLEAK_DATABASE_URL` and brings its schema up to date.
pub async fn connect(url: &str) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres") {
        return Err(StoreError::Unsupported(
            "the PostgreSQL store is not available in this version; use sqlite://".into(),
        ));
    }
    Ok(std::sync::Arc::new(SqliteStore::connect(url).await?))
}
