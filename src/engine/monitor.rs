//! Monitoring after containment (DESIGN.md §3): for a while after containment, CloudTrail is
//! polled for the key, the keys it minted and its user. Anything new is said in the thread,
//! and the first call marks the incident "activity after containment".

use std::collections::HashSet;

use chrono::Duration;
use tracing::warn;

use super::{Engine, thread_of};
use crate::aws::{RegionLog, TrailAttribute, TrailQuery};
use crate::domain::answer::Notice;
use crate::domain::ids::{AccessKeyId, AccountId};
use crate::domain::incident::{Incident, IncidentState};
use crate::domain::trail::TrailEvent;
use crate::store::{ClaimedJob, StoreError};

#[derive(Debug, Clone, Copy)]
pub struct MonitorSettings {
    /// How long after containment; zero turns monitoring off.
    pub window: Duration,
    pub every: Duration,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        Self {
            window: Duration::hours(48),
            every: Duration::minutes(5),
        }
    }
}

/// CloudTrail delivers events minutes after they happen: each poll reads again this far
/// before where the last one stopped, and events already kept are not reported twice.
const DELIVERY_LAG: Duration = Duration::minutes(20);

impl Engine {
    pub fn with_monitoring(mut self, monitoring: MonitorSettings) -> Self {
        self.monitoring = monitoring;
        self
    }

    /// Queues the polls that are due; the worker calls this on every turn.
    pub async fn queue_monitoring(&self) -> Result<(), StoreError> {
        let m = self.monitoring;
        if m.window <= Duration::zero() {
            return Ok(());
        }
        if self
            .store
            .queue_due_monitors(self.clock.now(), m.every, m.window)
            .await?
            > 0
        {
            self.wake.notify_one();
        }
        Ok(())
    }
}

pub async fn run_monitor(engine: &Engine, job: &ClaimedJob) -> anyhow::Result<()> {
    let store = &engine.store;
    let incident = store.incident(&job.incident_id).await?;
    let (Some(account), Some(contained_at)) = (incident.account.clone(), incident.contained_at)
    else {
        return Ok(());
    };
    if incident.state == IncidentState::Closed {
        return Ok(());
    }
    let now = engine.clock.now();
    let since = store
        .checked_to(&incident.id)
        .await?
        .map_or(contained_at, |t| (t - DELIVERY_LAG).max(contained_at));
    let (events, failures) = poll(engine, &incident, &account, since, now).await?;
    let new_key = store.handover(&incident.id).await?.map(|h| h.key_id);
    // Restore's new key belongs to the user now: its calls are the workload, not the attacker.
    let late: Vec<TrailEvent> = events
        .into_iter()
        .filter(|e| e.time >= contained_at)
        .filter(|e| new_key.is_none() || e.identity.access_key_id != new_key)
        .collect();
    let checked_to = if failures.is_empty() { now } else { since };
    let fresh = store.record_watch(&incident.id, checked_to, &late).await?;
    for f in &failures {
        warn!(incident = %incident.id, failure = %f, "a monitoring poll could not read CloudTrail");
    }
    if fresh.is_empty() {
        return Ok(());
    }
    let incident = store.incident(&incident.id).await?;
    let Some(thread) = thread_of(&incident) else {
        return Ok(());
    };
    let note = Notice::LateActivity {
        incident: incident.clone(),
        events: fresh,
    };
    if let Err(e) = engine.notifier.post_in_thread(&thread, &note).await {
        warn!(error = %e, "could not report activity after containment");
    }
    let steps = store.steps(&incident.id).await?;
    if let Err(e) = engine.notifier.refresh(&thread, &incident, &steps).await {
        warn!(error = %e, "could not raise the incident card");
    }
    Ok(())
}

/// The key's, its offspring's and its user's calls in every searched region, deduplicated;
/// and the lookups that failed, named.
async fn poll(
    engine: &Engine,
    incident: &Incident,
    account: &AccountId,
    since: chrono::DateTime<chrono::Utc>,
    until: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<(Vec<TrailEvent>, Vec<String>)> {
    let mut keys: Vec<(AccountId, AccessKeyId)> = vec![(account.clone(), incident.key.clone())];
    if let Some(f) = engine.store.findings(&incident.id).await? {
        keys.extend(
            f.minted
                .into_iter()
                .map(|m| (m.account.unwrap_or_else(|| account.clone()), m.key)),
        );
    }
    let regions = engine.search_regions(account).await?;
    let mut events = vec![];
    let mut failures = vec![];
    let mut seen = HashSet::new();
    for region in &regions {
        let mut logs: Vec<Result<RegionLog, String>> = vec![];
        for (acct, key) in &keys {
            let q = TrailQuery {
                account: acct.clone(),
                region: region.clone(),
                key: key.clone(),
                since,
                until,
            };
            logs.push(
                engine
                    .aws
                    .lookup_events(&q, &|_| {})
                    .await
                    .map_err(|e| format!("{key} in {region}: {e}")),
            );
        }
        if let Some(user) = &incident.user_name {
            let by_user = TrailAttribute::Username(user.clone());
            logs.push(
                engine
                    .aws
                    .events_with(account, region, by_user, since, until)
                    .await
                    .map_err(|e| format!("user {user} in {region}: {e}")),
            );
        }
        for log in logs {
            match log {
                Ok(l) => events.extend(
                    l.events
                        .into_iter()
                        .filter(|e| seen.insert(e.event_id.clone())),
                ),
                Err(f) => failures.push(f),
            }
        }
    }
    events.sort_by_key(|e| e.time);
    Ok((events, failures))
}
