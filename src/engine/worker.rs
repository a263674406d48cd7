//! Workers claim jobs from the store under a lease; a job whose worker died is taken over
//! when its lease runs out, and the playbook skips the steps already recorded. Several jobs
//! run at once, so one incident's Slack reporting never delays another's containment.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;
use tracing::{Instrument, error, info, info_span, warn};

use super::Engine;
use crate::domain::answer::Notice;
use crate::domain::audit::AuditAction;
use crate::domain::ids::IncidentId;
use crate::domain::incident::IncidentState;
use crate::inflight::InFlight;
use crate::store::{AbandonedJob, AuditEntry, Claim, ClaimedJob, JobKind, StoreError, Work};

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// How long a claimed job is held before another worker may take it over.
    pub lease: chrono::Duration,
    /// How often to look for work queued by other processes.
    pub poll: Duration,
    /// How many jobs this process runs at once.
    pub concurrency: usize,
    /// Of those, how many only containment may take: a flood of other work (or of
    /// announcements to a Slack that does not answer) never leaves a key waiting for a slot.
    pub reserved_for_contain: usize,
    /// How often this worker says it is alive, and how long a silent worker has before its
    /// running jobs are taken over (sooner than their lease: a restarted process resumes its
    /// own containment within seconds).
    pub heartbeat: Duration,
    pub silent_after: chrono::Duration,
    /// How many times a job's worker may die while running it (its lease running out) before
    /// the job is given up as failed and the incident told: a file or record that crashes
    /// the process must not crash every process that takes the job over, for ever.
    pub max_attempts: i64,
    /// How long a stopping worker waits for its jobs. A job still running then is dropped
    /// where it is: its steps are recorded as they happen, so the next worker to claim it
    /// after the lease resumes it, and a hung AWS call cannot keep a deploy from stopping.
    pub drain: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            lease: chrono::Duration::seconds(60),
            poll: Duration::from_millis(500),
            concurrency: 8,
            reserved_for_contain: 2,
            max_attempts: 5,
            heartbeat: Duration::from_secs(2),
            silent_after: chrono::Duration::seconds(10),
            drain: Duration::from_secs(10),
        }
    }
}

/// How often a job's end is written again while the database cannot be reached.
const STORE_RETRY_EVERY: Duration = Duration::from_secs(1);

/// When a failed job is tried again: an announcement Slack did not take, after a backoff; any
/// job that failed because the database could not be reached, as soon as its failure could be
/// written (the database is back by then), resuming from its last recorded step.
fn retry_wait(job: &ClaimedJob, e: &anyhow::Error) -> Option<chrono::Duration> {
    let store_gone = e.chain().any(|c| {
        matches!(
            c.downcast_ref::<StoreError>(),
            Some(StoreError::Unavailable(_))
        )
    });
    super::announce::retry_after(job, e).or(store_gone.then(chrono::Duration::zero))
}

/// Runs `write` until the store takes it or the job's lease runs out: a database that went
/// away for a few seconds must not leave a job claimed, and its incident waiting, for a whole
/// lease.
async fn persist<F, Fut>(lease: chrono::Duration, write: F) -> Result<(), StoreError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), StoreError>>,
{
    let give_up = tokio::time::Instant::now() + lease.to_std().unwrap_or_default();
    loop {
        match write().await {
            Err(StoreError::Unavailable(e)) if tokio::time::Instant::now() < give_up => {
                warn!(error = %e, "the database is unreachable; writing the job's end again shortly");
                tokio::time::sleep(STORE_RETRY_EVERY).await;
            }
            done => return done,
        }
    }
}

/// How long Slack takes a `response_url` (docs/slack.md).
const RESPONSE_URL_MINUTES: i64 = 30;

pub struct Worker {
    engine: Engine,
    settings: WorkerSettings,
    /// This worker's name in the store, fresh for each process: a restarted process is a new
    /// worker, and the old one's silence frees its jobs.
    owner: String,
    /// Jobs of other kinds than containment running now.
    others: Arc<AtomicUsize>,
}

impl Worker {
    pub fn new(engine: Engine, settings: WorkerSettings) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "keyleak".into());
        Self {
            engine,
            settings,
            owner: format!(
                "{host}-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            ),
            others: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Runs jobs until `shutdown` resolves, then lets the jobs in progress finish for up to
    /// `drain`. Jobs are owned by this future: dropping it (a crash, in tests) stops them
    /// where they are.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut running = JoinSet::new();
        let mut beaten: Option<chrono::DateTime<chrono::Utc>> = None;
        loop {
            while running.try_join_next().is_some() {}
            // By the engine's clock, as the silence of others is judged: a worker never looks
            // silent to itself, however the clock moves.
            let now = self.engine.clock.now();
            // Housekeeping that writes to the store runs at the heartbeat's pace, not on every
            // turn of the loop (every wake-up and every finished job).
            if beaten
                .is_none_or(|t| (now - t).to_std().unwrap_or_default() >= self.settings.heartbeat)
            {
                self.beat(Some(now)).await;
                beaten = Some(now);
                self.forget_expired_urls(now).await;
                self.engine
                    .abandon_dead_jobs(self.settings.max_attempts)
                    .await;
            }
            if let Err(e) = self.engine.expire_due().await {
                error!(error = %e, "could not expire proposals");
            }
            if let Err(e) = self.engine.queue_monitoring().await {
                error!(error = %e, "could not queue monitoring");
            }
            self.start_claimable(&mut running).await;
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.engine.wake.notified() => {}
                _ = self.engine.store.queued_elsewhere() => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = tokio::time::sleep(self.settings.poll) => {}
            }
        }
        let drained = tokio::time::timeout(self.settings.drain, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            warn!(
                jobs = running.len(),
                "stopping with jobs unfinished; another worker takes them over"
            );
            running.shutdown().await;
        }
        // Stopped: whatever this worker left running is free at once.
        self.beat(None).await;
    }

    /// Slack accepts a response URL for 30 minutes; past that it is only a secret kept.
    async fn forget_expired_urls(&self, now: chrono::DateTime<chrono::Utc>) {
        let before = now - chrono::Duration::minutes(RESPONSE_URL_MINUTES);
        if let Err(e) = self.engine.store.forget_response_urls(before).await {
            warn!(error = %e, "could not forget expired response URLs");
        }
    }

    async fn beat(&self, at: Option<chrono::DateTime<chrono::Utc>>) {
        if let Err(e) = self.engine.store.beat(&self.owner, at).await {
            warn!(error = %e, "could not record that this worker is alive");
        }
    }

    /// Claims jobs while there are free slots and jobs to claim, each on its own task.
    /// Containment is claimed first, and the last reserved slots are containment's alone.
    async fn start_claimable(&self, running: &mut JoinSet<()>) {
        let general = self
            .settings
            .concurrency
            .saturating_sub(self.settings.reserved_for_contain);
        while running.len() < self.settings.concurrency {
            let now = self.engine.clock.now();
            let which = Claim {
                only: None,
                contain_only: self.others_running() >= general,
                by: Some(&self.owner),
                silent_since: Some(now - self.settings.silent_after),
            };
            let job = match self
                .engine
                .store
                .claim_job(now, self.settings.lease, which)
                .await
            {
                Ok(Some(job)) => job,
                Ok(None) => return,
                Err(e) => {
                    error!(error = %e, "worker could not claim a job");
                    return;
                }
            };
            let engine = self.engine.clone();
            let lease = self.settings.lease;
            let others = (job.kind() != JobKind::Contain).then(|| InFlight::start(&self.others));
            running.spawn(async move {
                if let Err(e) = execute(&engine, job, lease).await {
                    error!(error = %e, "could not record a job's end");
                }
                drop(others);
            });
        }
    }

    fn others_running(&self) -> usize {
        self.others.load(Ordering::Relaxed)
    }

    /// Claims and runs one job on this task, of any incident or only of `only`. Returns
    /// whether there was one.
    pub async fn run_one(&self, only: Option<&IncidentId>) -> Result<bool, StoreError> {
        let now = self.engine.clock.now();
        let Some(job) = self
            .engine
            .store
            .claim_job(
                now,
                self.settings.lease,
                Claim {
                    only,
                    ..Claim::default()
                },
            )
            .await?
        else {
            return Ok(false);
        };
        execute(&self.engine, job, self.settings.lease).await?;
        Ok(true)
    }
}

impl super::Engine {
    /// Gives up jobs whose workers kept dying, and says so: an audit row, a failed
    /// containment marked failed (so `contain` retries it), and a note in the incident thread.
    async fn abandon_dead_jobs(&self, max_attempts: i64) {
        let now = self.clock.now();
        let abandoned = match self.store.abandon_dead_jobs(now, max_attempts).await {
            Ok(a) => a,
            Err(e) => {
                error!(error = %e, "could not look for abandoned jobs");
                return;
            }
        };
        for job in abandoned {
            error!(id = job.id, kind = job.kind.as_str(), incident = %job.incident_id,
                attempts = job.attempts, "job abandoned: its worker kept stopping");
            if let Err(e) = self.say_abandoned(&job).await {
                warn!(error = %e, "could not record an abandoned job");
            }
        }
    }

    async fn say_abandoned(&self, job: &AbandonedJob) -> anyhow::Result<()> {
        let audit = AuditEntry {
            at: self.clock.now(),
            actor: "keyleak".into(),
            action: AuditAction::JobAbandoned,
            incident_id: Some(job.incident_id.clone()),
            detail: format!(
                "{} job {} after {} attempts",
                job.kind.as_str(),
                job.id,
                job.attempts
            ),
            origin: "worker".into(),
        };
        self.store.audit(audit).await?;
        let incident = self.store.incident(&job.incident_id).await?;
        if job.kind == JobKind::Contain && incident.state == IncidentState::Containing {
            self.store
                .set_state(&incident.id, IncidentState::Failed, None)
                .await?;
        }
        if let Some(thread) = super::thread_of(&incident) {
            let note = Notice::JobAbandoned {
                incident,
                kind: job.kind,
                attempts: job.attempts,
            };
            self.notifier.post_in_thread(&thread, &note).await?;
        }
        Ok(())
    }
}

async fn execute(
    engine: &Engine,
    job: ClaimedJob,
    lease: chrono::Duration,
) -> Result<(), StoreError> {
    // Every line of a playbook names its incident and its key as `AKIA…WXYZ`: enough to tell
    // incidents apart in a log without copying whole key ids around.
    let span = info_span!(
        "job",
        id = job.id,
        kind = job.kind().as_str(),
        incident = %job.incident_id,
        key = tracing::field::Empty,
    );
    if let Ok(i) = engine.store.incident(&job.incident_id).await {
        span.record("key", i.key.short());
    }
    async {
        info!(attempt = job.attempts, "running");
        // A job is claimed again only after its worker went silent or its lease ran out
        // (a retried announcement is queued afresh, its attempts kept).
        if job.attempts > 1 && !matches!(job.work, Work::Announce { .. }) {
            crate::metrics::lease_expired(job.kind().as_str());
        }
        let outcome = match &job.work {
            Work::Contain { investigate_days } => {
                super::run_contain(engine, &job, *investigate_days, lease).await
            }
            Work::Propose(r) => super::cleanup::run_propose(engine, &job, r).await,
            Work::Execute { proposal } => {
                super::cleanup::run_execute(engine, &job, proposal, lease).await
            }
            Work::Investigate(r) => {
                super::investigate::run_investigate(engine, &job, r, lease).await
            }
            Work::Report => super::report::run_report(engine, &job).await,
            Work::Close { by, dismissed } => {
                super::close::run_close(engine, &job, by.as_deref(), dismissed.as_deref()).await
            }
            Work::Restore(r) => super::restore::run_restore(engine, &job, r).await,
            Work::Monitor => super::monitor::run_monitor(engine, &job).await,
            Work::Assess => super::reach::run_assess(engine, &job).await,
            Work::Announce { last } => super::announce::run_announce(engine, &job, *last).await,
        };
        let kind = job.kind().as_str();
        let (why, again) = match &outcome {
            Ok(()) => (None, None),
            Err(e) => (Some(format!("{e:#}")), retry_wait(&job, e)),
        };
        match (&why, again) {
            (None, _) => crate::metrics::job_finished(kind, "done"),
            (Some(why), Some(wait)) => {
                warn!(error = %why, retry_in = wait.num_seconds(), "the job will be tried again");
                crate::metrics::job_retried(kind);
            }
            (Some(why), None) => {
                error!(error = %why, "job failed");
                crate::metrics::job_finished(kind, "failed");
            }
        }
        // Written even through a short database outage: the job stays claimed until it is.
        persist(lease, || async {
            let now = engine.clock.now();
            match (again, why.as_deref()) {
                (Some(wait), Some(why)) => {
                    engine
                        .store
                        .retry_job(job.id, job.attempts, now + wait, why)
                        .await
                }
                (_, why) => {
                    engine
                        .store
                        .finish_job(job.id, job.attempts, now, why)
                        .await
                }
            }
        })
        .await
    }
    .instrument(span)
    .await
}
