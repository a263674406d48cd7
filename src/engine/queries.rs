//! What the edges (Slack, the CLI) may ask of the engine besides submitting work: where
//! incidents stand, whether someone is on a roster, and the one way an outsider is refused.
//! The edges never reach the store themselves.

use chrono::{DateTime, Utc};

use super::{Engine, on_roster};
use crate::aws::AwsError;
use crate::domain::audit::{AuditAction, AuditEntry};
use crate::domain::ids::{AccessKeyId, IncidentId, RosterEntry, SlackUserId};
use crate::domain::incident::{Actor, Incident, IncidentState, StepRecord};
use crate::domain::job::JobKind;
use crate::notify::NotifyError;
use crate::store::StoreError;

/// How often readiness asks Slack and AWS again.
const PEER_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// The last answer of Slack and AWS, and when it came.
#[derive(Default)]
pub(super) struct PeerChecks {
    last: tokio::sync::Mutex<Option<(std::time::Instant, Result<(), String>)>>,
}

/// Slack or AWS refused the bot, or could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum PeerProblem {
    #[error("Slack: {0}")]
    Slack(#[source] NotifyError),
    #[error("AWS: {0}")]
    Aws(#[source] AwsError),
}

#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error("the database is unreachable")]
    Database(#[source] StoreError),
    #[error("{0}")]
    Peer(String),
}

/// What `status` finds.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// The newest open incidents, and how many are open in all.
    Open {
        newest: Vec<Incident>,
        total: i64,
    },
    One {
        incident: Box<Incident>,
        steps: Vec<StepRecord>,
    },
    NoIncidentFor(AccessKeyId),
    NoSuchIncident(IncidentId),
}

/// What `status` is asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusOf {
    /// The open incidents, at most this many listed.
    Open(u32),
    Key(AccessKeyId),
    Incident(IncidentId),
}

impl Engine {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub async fn status(&self, of: StatusOf) -> Result<Status, StoreError> {
        let incident = match of {
            StatusOf::Open(max) => {
                return Ok(Status::Open {
                    newest: self.store.open_incidents(max).await?,
                    total: self.store.count_open().await?,
                });
            }
            StatusOf::Key(k) => match self.store.open_incident_for_key(&k).await? {
                Some(i) => i,
                None => return Ok(Status::NoIncidentFor(k)),
            },
            StatusOf::Incident(id) => match self.find_incident(&id).await? {
                Some(i) => i,
                None => return Ok(Status::NoSuchIncident(id)),
            },
        };
        let steps = self.store.steps(&incident.id).await?;
        Ok(Status::One {
            incident: Box::new(incident),
            steps,
        })
    }

    /// The open incident of a key, if there is one.
    pub async fn open_incident_for_key(
        &self,
        key: &AccessKeyId,
    ) -> Result<Option<Incident>, StoreError> {
        self.store.open_incident_for_key(key).await
    }

    /// Jobs of the incident not yet finished.
    pub async fn pending_jobs(&self, incident: &IncidentId) -> Result<i64, StoreError> {
        self.store.pending_jobs(Some(incident)).await
    }

    /// Sets the metrics' gauges from the store: open incidents by state, jobs queued and
    /// running by kind, for the whole bot whichever replica is scraped.
    pub async fn publish_gauges(&self) -> Result<(), StoreError> {
        let open = self.store.open_by_state().await?;
        for state in IncidentState::ALL.into_iter().filter(|s| s.is_open()) {
            let n = open
                .iter()
                .find(|(s, _)| *s == state)
                .map_or(0, |(_, n)| *n);
            crate::metrics::incidents_open(state.as_str(), n);
        }
        let jobs = self.store.pending_by_kind().await?;
        for kind in JobKind::ALL {
            for (running, label) in [(false, "queued"), (true, "running")] {
                let n = jobs
                    .iter()
                    .find(|(k, r, _)| *k == kind && *r == running)
                    .map_or(0, |(_, _, n)| *n);
                crate::metrics::jobs(kind.as_str(), label, n);
            }
        }
        Ok(())
    }

    /// Whether requests can be served: the database answers and, once `with_peer_checks`,
    /// Slack takes the bot token and AWS the bot's credentials (checked at most every
    /// `PEER_CHECK_EVERY`, so a probe every few seconds costs Slack and AWS nothing much).
    pub async fn ready(&self) -> Result<(), NotReady> {
        self.store.ping().await.map_err(NotReady::Database)?;
        let Some(peers) = &self.peers else {
            return Ok(());
        };
        let recent = match &*peers.last.lock().await {
            Some((at, outcome)) if at.elapsed() < PEER_CHECK_EVERY => Some(outcome.clone()),
            _ => None,
        };
        match recent {
            Some(outcome) => outcome,
            None => self.check_peers().await.map_err(|p| p.to_string()),
        }
        .map_err(NotReady::Peer)
    }

    /// What `serve` depends on besides the database: Slack's `auth.test` with the bot token
    /// and AWS's `GetCallerIdentity`, both at once. Readiness reuses the answer, so the probe
    /// that follows start-up does not ask again.
    pub async fn check_peers(&self) -> Result<(), PeerProblem> {
        let (slack, aws) = tokio::join!(self.notifier.verify(), self.aws.identity());
        let outcome = slack
            .map_err(PeerProblem::Slack)
            .and_then(|()| aws.map(|_| ()).map_err(PeerProblem::Aws));
        if let Some(peers) = &self.peers {
            let kept = outcome.as_ref().map(|_| ()).map_err(ToString::to_string);
            *peers.last.lock().await = Some((std::time::Instant::now(), kept));
        }
        outcome
    }

    /// Whether `user` is on `roster`, asking Slack for user groups' members.
    pub async fn on_roster(
        &self,
        user: &SlackUserId,
        roster: &[RosterEntry],
    ) -> Result<bool, NotifyError> {
        on_roster(user, roster, self.notifier.as_ref(), false).await
    }

    /// Records that someone not on the responders roster asked for `what`: the one refusal
    /// path, for commands and card buttons alike. A failure to record is logged, not raised:
    /// the person is refused either way.
    pub async fn refuse_outsider(&self, user: &SlackUserId, what: &str, origin: String) {
        let entry = AuditEntry {
            at: self.clock.now(),
            actor: Actor::Slack(user.clone()).to_stored(),
            action: AuditAction::CommandRefused,
            incident_id: None,
            detail: format!("not a responder; {what}"),
            origin,
        };
        if let Err(e) = self.store.audit(entry).await {
            tracing::error!(error = %e, "could not record a refusal");
        }
    }
}
