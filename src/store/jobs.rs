//! The job queue: durable work claimed under a lease, so that a worker that dies leaves its
//! job to another.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{AuditEntry, JobKind, StoreError, Work};
use crate::domain::ids::IncidentId;

/// A job to queue besides containment, with what it acts on.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub work: Work,
    pub incident: IncidentId,
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
    pub work: Work,
    pub incident_id: IncidentId,
    pub attempts: i64,
    pub response_url: Option<String>,
}

impl ClaimedJob {
    pub fn kind(&self) -> JobKind {
        self.work.kind()
    }
}

#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Queues a job with its audit row; returns the job's id.
    async fn enqueue_job(&self, job: NewJob, audit: AuditEntry) -> Result<i64, StoreError>;
    /// Claims a claimable job: containment before any other kind, then the oldest. An
    /// incident's announcements are claimed one at a time, so a room is opened once.
    async fn claim_job(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        which: Claim<'_>,
    ) -> Result<Option<ClaimedJob>, StoreError>;
    /// Resolves when another process may have queued a job (PostgreSQL's LISTEN/NOTIFY). A
    /// store that cannot tell never resolves: the worker polls.
    async fn queued_elsewhere(&self);
    async fn extend_lease(&self, job: i64, until: DateTime<Utc>) -> Result<(), StoreError>;
    /// Puts a running job back in the queue, to be claimed again from `not_before`. `attempt`
    /// is the claim's (`ClaimedJob::attempts`): a run whose job was taken over since (its
    /// worker stalled past the lease, then woke) changes nothing, so it cannot requeue or end
    /// the run that took over.
    async fn retry_job(
        &self,
        job: i64,
        attempt: i64,
        not_before: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError>;
    /// Ends the job, under the same condition as `retry_job`.
    async fn finish_job(
        &self,
        job: i64,
        attempt: i64,
        now: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Ends, as failed, every job whose worker died (its lease ran out) `max_attempts` times:
    /// a job that kills its worker must not be taken over for ever. Returns them.
    async fn abandon_dead_jobs(
        &self,
        now: DateTime<Utc>,
        max_attempts: i64,
    ) -> Result<Vec<AbandonedJob>, StoreError>;
    /// Says the worker `owner` is alive at `at`; `None` says it has stopped.
    async fn beat(&self, owner: &str, at: Option<DateTime<Utc>>) -> Result<(), StoreError>;
    /// Forgets the response URLs of jobs created before `before`: Slack takes a response URL
    /// for 30 minutes, and it is a credential to post to the requester until then.
    async fn forget_response_urls(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Jobs queued or running, of every incident or only of `only`.
    async fn pending_jobs(&self, only: Option<&IncidentId>) -> Result<i64, StoreError>;
    /// Jobs queued or running by kind: `(kind, running, count)`, kinds with none left out.
    async fn pending_by_kind(&self) -> Result<Vec<(JobKind, bool, i64)>, StoreError>;

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
}
