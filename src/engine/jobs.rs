//! What every job runner shares: keeping the lease while it works, and telling the person
//! who asked.

use chrono::Duration;
use tracing::warn;

use super::Engine;
use crate::domain::answer::Notice;
use crate::store::{ClaimedJob, StoreError};

/// Renews the job's lease while a long action runs (a user with many keys and policies), so
/// no other worker takes the job over and runs it beside this one. Returns only on failure.
pub(super) async fn keep_lease(engine: &Engine, job: i64, lease: Duration) -> StoreError {
    let every = (lease / 3)
        .to_std()
        .unwrap_or(std::time::Duration::from_secs(10));
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = engine
            .store
            .extend_lease(job, engine.clock.now() + lease)
            .await
        {
            return e;
        }
    }
}

/// Tells the requester privately when the request came with a `response_url`; logs otherwise.
pub(super) async fn tell(engine: &Engine, job: &ClaimedJob, notice: Notice) {
    if let Some(url) = &job.response_url
        && let Err(e) = engine.notifier.respond(url, &notice).await
    {
        warn!(error = %e, "could not answer the requester");
    }
}
