//! Monitoring after containment (docs/design.md §3): for a while after containment, CloudTrail is
//! polled for the key, the keys it minted, its user, the users the attacker made, and anyone
//! setting the key back to Active. Anything new is said in the thread, and the first call
//! marks the incident "activity after containment". A way back in (the key reactivated, a
//! federation token, a console sign-in, a trust policy changed) or a blinding calls the
//! responders by name. keyleak's own calls are never news.

use std::collections::HashSet;

use chrono::Duration;
use tracing::warn;

use super::{Engine, thread_of};
use crate::aws::{RegionLog, TrailAttribute, TrailQuery};
use crate::domain::answer::Notice;
use crate::domain::ids::{AccessKeyId, AccountId, SlackUserId};
use crate::domain::incident::{Actor, Incident, IncidentState};
use crate::domain::trail::findings::Findings;
use crate::domain::trail::inventory::users_made;
use crate::domain::trail::technique::alarming;
use crate::domain::trail::{GLOBAL_EVENTS_REGION, TrailEvent};
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

/// Users the attacker made or gave a password to, followed by name: each costs a lookup per
/// region and poll, so only the first.
pub(super) const FOLLOWED_USERS: usize = 5;

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
    let findings = store.findings(&incident.id).await?;
    let watch = Watch::of(&incident, &account, findings.as_ref());
    let (events, failures) = poll(engine, &watch, since, now).await?;
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
    let mention = if alarming(&fresh).is_empty() {
        vec![]
    } else {
        responders(engine, &incident).await?
    };
    let note = Notice::LateActivity {
        incident: incident.clone(),
        events: fresh,
        mention,
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

/// Who worked the incident: whoever asked for containment, and whoever asked for or
/// approved a cleanup.
async fn responders(engine: &Engine, incident: &Incident) -> Result<Vec<SlackUserId>, StoreError> {
    let mut people: Vec<SlackUserId> = match &incident.requested_by {
        Actor::Slack(u) => vec![u.clone()],
        Actor::Cli(_) | Actor::Signal(_) => vec![],
    };
    for p in engine.store.proposals(&incident.id).await? {
        for u in std::iter::once(p.requested_by).chain(p.approvals) {
            if !people.contains(&u) {
                people.push(u);
            }
        }
    }
    Ok(people)
}

/// What one poll looks for.
struct Watch {
    account: AccountId,
    /// The leaked key first, then the keys it minted, each in its account.
    keys: Vec<(AccountId, AccessKeyId)>,
    /// The key's user, then the users the attacker made or gave a password to.
    users: Vec<String>,
}

impl Watch {
    fn of(incident: &Incident, account: &AccountId, findings: Option<&Findings>) -> Self {
        let mut keys = vec![(account.clone(), incident.key.clone())];
        let mut users: Vec<String> = incident.user_name.iter().cloned().collect();
        if let Some(f) = findings {
            keys.extend(f.minted.iter().map(|m| {
                (
                    m.account.clone().unwrap_or_else(|| account.clone()),
                    m.key.clone(),
                )
            }));
            for made in users_made(&f.created, account.as_str(), FOLLOWED_USERS) {
                if !users.contains(&made) {
                    users.push(made);
                }
            }
        }
        Self {
            account: account.clone(),
            keys,
            users,
        }
    }
}

/// The watched calls in every searched region, deduplicated, keyleak's own left out; and
/// the lookups that failed, named.
async fn poll(
    engine: &Engine,
    watch: &Watch,
    since: chrono::DateTime<chrono::Utc>,
    until: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<(Vec<TrailEvent>, Vec<String>)> {
    let account = &watch.account;
    let regions = engine.search_regions(account).await?;
    let mut logs: Vec<Result<RegionLog, String>> = vec![];
    for region in &regions {
        for (acct, key) in &watch.keys {
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
        for user in &watch.users {
            let by_user = TrailAttribute::Username(user.clone());
            logs.push(
                engine
                    .aws
                    .events_with(account, region, by_user, since, until)
                    .await
                    .map_err(|e| format!("user {user} in {region}: {e}")),
            );
        }
    }
    let mut failures = vec![];
    // Setting the key back to Active is made with some other credential: it is found by
    // the event and the key it names, and told from keyleak's own rollback by who signed.
    let own = match engine.aws.own_principal(account).await {
        Ok(own) => {
            let update = TrailAttribute::EventName("UpdateAccessKey");
            logs.push(
                engine
                    .aws
                    .events_with(account, GLOBAL_EVENTS_REGION, update, since, until)
                    .await
                    .map(|mut log| {
                        log.events.retain(|e| {
                            e.request.get("accessKeyId").and_then(|k| k.as_str())
                                == Some(watch.keys[0].1.as_str())
                        });
                        log
                    })
                    .map_err(|e| format!("UpdateAccessKey in {GLOBAL_EVENTS_REGION}: {e}")),
            );
            Some(own)
        }
        Err(e) => {
            failures.push(format!("who keyleak signs as in {account}: {e}"));
            None
        }
    };
    let mut events = vec![];
    let mut seen = HashSet::new();
    for log in logs {
        match log {
            Ok(l) => events.extend(
                l.events
                    .into_iter()
                    .filter(|e| !own.as_deref().is_some_and(|p| e.signed_as(p)))
                    .filter(|e| seen.insert(e.event_id.clone())),
            ),
            Err(f) => failures.push(f),
        }
    }
    events.sort_by_key(|e| e.time);
    Ok((events, failures))
}
