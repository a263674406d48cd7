//! What containment says in Slack, as work of its own: the incident's room or thread, a reply
//! for every recorded step not yet said, the card, and at the end the requester's private
//! answer. The playbook only queues it, so a Slack that hangs or refuses never holds a key
//! active nor leaves an incident "containing"; a failed announcement is tried again later.

use anyhow::Context as _;
use chrono::Duration;

use super::{Engine, thread_of};
use crate::domain::incident::{Incident, StepFact, StepRecord};
use crate::notify::{NotifyError, ThreadRef};
use crate::store::{ClaimedJob, JobKind};

/// How often an announcement is tried before it is given up, and the waits between tries:
/// doubling from 5 s to at most a minute, about ten minutes in all.
const ANNOUNCE_TRIES: i64 = 14;
const FIRST_BACKOFF_SECONDS: i64 = 5;
const MAX_BACKOFF_SECONDS: i64 = 60;

/// When a failed job is tried again: an announcement that Slack did not take for a passing
/// reason (unreachable, slow, rate limiting), until it has had its tries. `None` for any other
/// job or failure: Slack refusing the call for what it is will refuse it again.
pub(super) fn retry_after(job: &ClaimedJob, e: &anyhow::Error) -> Option<Duration> {
    let transient = e
        .downcast_ref::<NotifyError>()
        .is_some_and(NotifyError::is_transient);
    (job.kind() == JobKind::Announce && transient)
        .then(|| backoff(job.attempts))
        .flatten()
}

fn backoff(attempts: i64) -> Option<Duration> {
    let doubled = FIRST_BACKOFF_SECONDS << (attempts.clamp(1, 8) - 1);
    (attempts < ANNOUNCE_TRIES).then(|| Duration::seconds(doubled.min(MAX_BACKOFF_SECONDS)))
}

pub(super) async fn run_announce(
    engine: &Engine,
    job: &ClaimedJob,
    last: bool,
) -> anyhow::Result<()> {
    let id = &job.incident_id;
    let incident = engine
        .store
        .incident(id)
        .await
        .context("loading the incident")?;
    let steps = engine.store.steps(id).await.context("loading the steps")?;
    // A key IAM does not have is no incident to work on: no room, only the requester's answer.
    if !steps.iter().any(|s| s.fact == StepFact::UnknownKey) {
        // The card first: it is what people watch, and the replies only detail it.
        let (thread, fresh) = thread(engine, &incident, &steps).await?;
        if !fresh {
            engine.notifier.refresh(&thread, &incident, &steps).await?;
        }
        post_missing_replies(engine, &thread, &incident, &steps).await?;
    }
    if last && let Some(url) = &job.response_url {
        engine
            .notifier
            .tell_requester(url, &incident, &steps)
            .await?;
    }
    Ok(())
}

/// The incident's thread: the one it has, or a new room (or shared thread) recorded at once,
/// whose card is then fresh (`true`).
async fn thread(
    engine: &Engine,
    incident: &Incident,
    steps: &[StepRecord],
) -> anyhow::Result<(ThreadRef, bool)> {
    if let Some(t) = thread_of(incident) {
        return Ok((t, false));
    }
    let t = super::room::open(engine, incident, steps).await?;
    engine
        .store
        .set_slack_message(&incident.id, &t.channel, &t.ts)
        .await?;
    Ok((t, true))
}

/// Threaded replies for every signal not yet said, in arrival order, then for every recorded
/// step not yet said, in playbook order, then what the key could do once it is assessed.
async fn post_missing_replies(
    engine: &Engine,
    thread: &ThreadRef,
    incident: &Incident,
    steps: &[StepRecord],
) -> anyhow::Result<()> {
    for (n, s) in incident
        .signals
        .iter()
        .enumerate()
        .skip(incident.signals_said)
    {
        engine
            .notifier
            .post_signal(thread, incident, s, n + 1)
            .await?;
        engine.store.set_signals_said(&incident.id, n + 1).await?;
    }
    for s in steps.iter().filter(|s| s.reply_ts.is_none()) {
        let ts = engine.notifier.post_step(thread, incident, s).await?;
        engine
            .store
            .set_step_reply(&incident.id, s.kind, &ts)
            .await?;
    }
    if let (Some(reach), None) = (&incident.reach, &incident.reach_ts) {
        let ts = engine.notifier.post_reach(thread, incident, reach).await?;
        engine.store.set_reach_ts(&incident.id, &ts).await?;
    }
    Ok(())
}

impl Engine {
    /// The incident's thread for work that follows containment: when its announcement is
    /// still under way, waits for it (at most `wait`) rather than post nowhere.
    pub(super) async fn thread_when_announced(
        &self,
        incident: &Incident,
        wait: std::time::Duration,
    ) -> Option<ThreadRef> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut current = incident.clone();
        loop {
            if let Some(t) = thread_of(&current) {
                return Some(t);
            }
            let pending = self
                .store
                .announcement_pending(&incident.id)
                .await
                .unwrap_or(false);
            if !pending || tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            current = self.store.incident(&incident.id).await.ok()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_back_off_and_then_stop() {
        let waits: Vec<i64> = (1..=ANNOUNCE_TRIES)
            .map(|a| backoff(a).map_or(0, |d| d.num_seconds()))
            .collect();
        assert_eq!(
            waits,
            [5, 10, 20, 40, 60, 60, 60, 60, 60, 60, 60, 60, 60, 0]
        );
        assert_eq!(waits.iter().sum::<i64>(), 615);
    }
}
