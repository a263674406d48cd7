//! Signals from AWS and GitHub: each opens the key's incident or joins the open one, and the
//! containment policy decides whether it contains the key at once.

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::Engine;
use crate::aws::AwsError;
use crate::domain::answer::Notice;
use crate::domain::audit::AuditAction;
use crate::domain::ids::{AccessKeyId, IncidentId};
use crate::domain::incident::Incident;
use crate::domain::signal::{Decision, Hold, Quarantined, Signal, Source, Strength};
use crate::github::{AlertRef, GitHubError};
use crate::store::{AuditEntry, NewIncident, Opened, Opening, StoreError};

/// A secret scanning alert as its webhook names it.
#[derive(Debug, Clone)]
pub struct GitHubAlert {
    pub alert: AlertRef,
    /// `X-GitHub-Delivery`: the same on a redelivery.
    pub delivery: String,
    pub secret_type: String,
    pub repository: String,
    pub private: bool,
    pub created_at: Option<DateTime<Utc>>,
}

/// What became of an alert.
#[derive(Debug)]
pub enum AlertOutcome {
    Recorded(Box<Opened>),
    /// The alert's secret is not an access key id keyleak can act on.
    NoKey,
    Unreadable(GitHubError),
}

impl Engine {
    /// Records the signal durably (once per delivery) and queues what it starts; returns
    /// without touching AWS.
    pub async fn submit_signal(
        &self,
        signal: Signal,
        origin: String,
    ) -> Result<Opened, StoreError> {
        let (opening, hold) = match self.policy.decide(&signal) {
            // Contained unless IAM names an owner on the exception list: the playbook
            // decides that before its first change.
            Decision::Contain => (Opening::Contain, Hold::Pending),
            Decision::Triage(hold) => (Opening::Triage, hold),
        };
        let opened = self
            .open_with(NewIncident {
                investigate_days: None,
                opening,
                hold: Some(hold),
                id: IncidentId::from_random(rand::random()),
                key: signal.key.clone(),
                reason: None,
                requested_by: signal.actor(),
                now: self.clock.now(),
                origin,
                response_url: None,
                signal: Some(signal),
            })
            .await?;
        if !opened.duplicate && super::thread_of(&opened.incident).is_some() {
            // The card lists every signal: redraw it with this one. A card not yet posted
            // will show it when it is.
            self.store
                .queue_announcement(&opened.incident.id, false, None, self.clock.now())
                .await?;
            self.wake.notify_one();
        }
        info!(
            incident = %opened.incident.id,
            key = %opened.incident.key.short(),
            state = opened.incident.state.as_str(),
            created = opened.created,
            duplicate = opened.duplicate,
            "signal recorded"
        );
        Ok(opened)
    }
}

/// Why a quarantine attachment could not be acted on.
#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Listing the user's keys failed for a passing reason: worth sending again.
    #[error("listing the user's keys: {0}")]
    Transient(AwsError),
    /// keyleak cannot list the user's keys in that account at all.
    #[error("listing the user's keys: {0}")]
    Unreachable(AwsError),
}

impl Engine {
    /// AWS quarantined a user: the signal joins the open incidents of the user's keys; with
    /// none open, the user's active keys are read from IAM. One key gets the signal as any
    /// other; several each get a triage incident, since which one is exposed is not known.
    pub async fn submit_quarantine(
        &self,
        q: Quarantined,
        origin: String,
    ) -> Result<Vec<Opened>, QuarantineError> {
        let signal = |key: AccessKeyId| Signal {
            source: Source::Quarantine,
            delivery: format!("{}/{key}", q.delivery),
            reference: q.event_id.clone(),
            key,
            account: Some(q.account.clone()),
            user: Some(q.user.clone()),
            strength: Strength::Confirmed,
            kind: q.policy.clone(),
            severity: None,
            evidence: vec![],
            exposed_at: q.at,
            received_at: q.received_at,
        };
        let open = self
            .store
            .open_incidents_of_user(&q.account, &q.user)
            .await?;
        let keys: Vec<AccessKeyId> = if open.is_empty() {
            match self.active_keys(&q).await {
                Err(QuarantineError::Unreachable(e)) => {
                    self.say_not_acted_on(Notice::SignalNotActedOn {
                        source: Source::Quarantine,
                        about: format!("IAM user {} quarantined with {}", q.user, q.policy),
                        account: Some(q.account.clone()),
                        cause: e.to_string(),
                    });
                    return Err(QuarantineError::Unreachable(e));
                }
                keys => keys?,
            }
        } else {
            open.into_iter().map(|i| i.key).collect()
        };
        let mut out = vec![];
        if keys.len() <= 1 {
            for key in keys {
                out.push(self.submit_signal(signal(key), origin.clone()).await?);
            }
            return Ok(out);
        }
        let hold = Hold::WhichKey {
            active_keys: keys.len(),
        };
        for key in keys {
            let s = signal(key);
            out.push(
                self.open_with(NewIncident {
                    investigate_days: None,
                    opening: Opening::Triage,
                    hold: Some(hold.clone()),
                    id: IncidentId::from_random(rand::random()),
                    key: s.key.clone(),
                    reason: None,
                    requested_by: s.actor(),
                    now: self.clock.now(),
                    origin: origin.clone(),
                    response_url: None,
                    signal: Some(s),
                })
                .await?,
            );
        }
        Ok(out)
    }

    async fn active_keys(&self, q: &Quarantined) -> Result<Vec<AccessKeyId>, QuarantineError> {
        let snapshot = match self.aws.snapshot_user(&q.account, &q.user).await {
            Ok(s) => s,
            // The user is gone already: there is nothing left to contain.
            Err(AwsError::NoSuchEntity(_)) => return Ok(vec![]),
            Err(e @ (AwsError::Throttled(_) | AwsError::Other(_))) => {
                return Err(QuarantineError::Transient(e));
            }
            Err(e) => return Err(QuarantineError::Unreachable(e)),
        };
        Ok(snapshot
            .access_keys
            .iter()
            .filter(|k| k.active)
            .filter_map(|k| AccessKeyId::parse(&k.id).ok())
            .collect())
    }

    /// Reads the alert's key id from GitHub (never keeping the rest), then records it as a
    /// signal like any other.
    pub async fn submit_github_alert(
        &self,
        a: GitHubAlert,
        origin: String,
    ) -> Result<AlertOutcome, StoreError> {
        let Some(alerts) = &self.alerts else {
            return Ok(AlertOutcome::Unreadable(GitHubError::Unauthorized));
        };
        let facts = match alerts.read_alert(&a.alert).await {
            Ok(f) => f,
            Err(e) => {
                self.say_not_acted_on(Notice::SignalNotActedOn {
                    source: Source::GitHub,
                    about: format!(
                        "{}/{} alert #{}",
                        a.alert.owner, a.alert.repo, a.alert.number
                    ),
                    account: None,
                    cause: e.to_string(),
                });
                return Ok(AlertOutcome::Unreadable(e));
            }
        };
        let Some(key) = facts.key else {
            return Ok(AlertOutcome::NoKey);
        };
        let visibility = if a.private { "private" } else { "public" };
        let signal = Signal {
            source: Source::GitHub,
            delivery: a.delivery,
            reference: facts.page,
            key,
            account: None,
            user: None,
            strength: Strength::Confirmed,
            kind: a.secret_type,
            severity: None,
            evidence: vec![(
                "repository".into(),
                format!("{} ({visibility})", a.repository),
            )],
            exposed_at: a.created_at,
            received_at: self.clock.now(),
        };
        self.submit_signal(signal, origin)
            .await
            .map(|o| AlertOutcome::Recorded(Box::new(o)))
    }

    /// Says in the announcement channel what a signal reported that no incident holds, beside
    /// the answer to its sender, which does not wait for Slack.
    fn say_not_acted_on(&self, notice: Notice) {
        let notifier = self.notifier.clone();
        tokio::spawn(async move {
            if let Err(e) = notifier.post_in_channel(&notice).await {
                warn!(error = %e, "could not say in Slack that a signal was not acted on");
            }
        });
    }

    /// Once the key is contained, its GitHub alerts are resolved as `revoked`, each audited;
    /// a token that may not do so is said in the audit log, never fatal.
    pub(super) async fn resolve_alerts(&self, incident: &Incident) {
        let Some(alerts) = &self.alerts else { return };
        let pages = incident
            .signals
            .iter()
            .filter(|s| s.source == Source::GitHub)
            .filter_map(|s| AlertRef::from_page(&s.reference));
        for alert in pages {
            let comment = format!(
                "Contained by keyleak in incident {}: the key is Inactive and its user is denied \
                 everything.",
                incident.id
            );
            let (action, detail) = match alerts.resolve_alert(&alert, &comment).await {
                Ok(()) => (AuditAction::AlertResolved, alert.to_string()),
                Err(e) => {
                    warn!(error = %e, %alert, "could not resolve the GitHub alert");
                    (AuditAction::AlertNotResolved, format!("{alert}: {e}"))
                }
            };
            let audit = AuditEntry {
                at: self.clock.now(),
                actor: "keyleak".into(),
                action,
                incident_id: Some(incident.id.clone()),
                detail,
                origin: format!("job for {}", incident.id),
            };
            if let Err(e) = self.store.audit(audit).await {
                warn!(error = %e, "could not audit a GitHub alert's resolution");
            }
        }
    }
}
