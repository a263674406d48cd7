//! Workers claim jobs from the store under a lease; a job whose worker died is taken over
//! when its lease runs out, and the playbook skips the steps already recorded. Several jobs
//! run at once, so one incident's Slack reporting never delays another's containment.

use std::time::Duration;

use tokio::task::JoinSet;
use tracing::{Instrument, error, info, info_span, warn};

use super::Engine;
use crate::domain::ids::IncidentId;
use crate::store::{ClaimedJob, JobKind, StoreError};

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// How long a claimed job is held before another worker may take it over.
    pub lease: chrono::Duration,
    /// How often to look for work queued by other processes.
    pub poll: Duration,
    /// How many jobs this process runs at once.
    pub concurrency: usize,
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
            drain: Duration::from_secs(10),
        }
    }
}

pub struct Worker {
    engine: Engine,
    settings: WorkerSettings,
}

impl Worker {
    pub fn new(engine: Engine, settings: WorkerSettings) -> Self {
        Self { engine, settings }
    }

    /// Runs jobs until `shutdown` resolves, then lets the jobs in progress finish for up to
    /// `drain`. Jobs are owned by this future: dropping it (a crash, in tests) stops them
    /// where they are.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut running = JoinSet::new();
        loop {
            while running.try_join_next().is_some() {}
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
                "stopping with jobs unfinished; they resume when their lease runs out"
            );
            running.shutdown().await;
        }
    }

    /// Claims jobs while there are free slots and jobs to claim, each on its own task.
    async fn start_claimable(&self, running: &mut JoinSet<()>) {
        while running.len() < self.settings.concurrency {
            let now = self.engine.clock.now();
            let job = match self
                .engine
                .store
                .claim_job(now, self.settings.lease, None)
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
            running.spawn(async move {
                if let Err(e) = execute(&engine, job, lease).await {
                    error!(error = %e, "could not record a job's end");
                }
            });
        }
    }

    /// Claims and runs one job on this task, of any incident or only of `only`. Returns
    /// whether there was one.
    pub async fn run_one(&self, only: Option<&IncidentId>) -> Result<bool, StoreError> {
        let now = self.engine.clock.now();
        let Some(job) = self
            .engine
            .store
            .claim_job(now, self.settings.lease, only)
            .await?
        else {
            return Ok(false);
        };
        execute(&self.engine, job, self.settings.lease).await?;
        Ok(true)
    }
}

async fn execute(
    engine: &Engine,
    job: ClaimedJob,
    lease: chrono::Duration,
) -> Result<(), StoreError> {
    let span =
        info_span!("job", id = job.id, kind = job.kind.as_str(), incident = %job.incident_id);
    async {
        info!(attempt = job.attempts, "running");
        let outcome = match job.kind {
            JobKind::Contain => super::run_contain(engine, &job, lease).await,
            JobKind::Propose => super::cleanup::run_propose(engine, &job).await,
            JobKind::Execute => super::cleanup::run_execute(engine, &job, lease).await,
            JobKind::Investigate => super::investigate::run_investigate(engine, &job, lease).await,
            JobKind::Report => super::report::run_report(engine, &job).await,
            JobKind::Close => super::close::run_close(engine, &job).await,
            JobKind::Restore => super::restore::run_restore(engine, &job).await,
            JobKind::Monitor => super::monitor::run_monitor(engine, &job).await,
        };
        let now = engine.clock.now();
        match outcome {
            Ok(()) => engine.store.finish_job(job.id, now, None).await,
            Err(e) => {
                let why = format!("{e:#}");
                error!(error = %why, "job failed");
                engine.store.finish_job(job.id, now, Some(&why)).await
            }
        }
    }
    .instrument(span)
    .await
}
