//! The containment playbooks (docs/design.md §3): AKIA steps 1–8 here, ASIA in `temporary`.
//! Each step's outcome is recorded before it is reported, and a recorded step is never run
//! again, so a worker that dies midway is taken over without repeating anything.

mod temporary;

use anyhow::Context as _;
use chrono::Duration;
use tracing::{info, warn};

use super::Engine;
use crate::aws::{AwsError, Called, DenyPlacement};
use crate::domain::audit::AuditAction;
use crate::domain::ids::{AccountId, KeyKind};
use crate::domain::incident::{
    Escalation, Incident, IncidentState, StepFact, StepKind, StepRecord, StepStatus, settle,
};
use crate::domain::policy::{self, DenyPolicy};
use crate::domain::signal::Hold;
use crate::store::{AuditEntry, ClaimedJob, IncidentFacts};

struct Run<'a> {
    engine: &'a Engine,
    incident: Incident,
    prior: Vec<StepRecord>,
    /// Whether the incident still needs its card: it is announced as soon as the key's owner
    /// is known (the room is named after the IAM user), beside the remaining steps.
    unannounced: bool,
}

type StepResult = Result<(StepFact, Option<String>), AwsError>;

/// The playbook's job ends when its AWS work ends: what is said in Slack is queued as
/// announcements, so a Slack that does not answer never holds a key active.
pub async fn run_contain(
    engine: &Engine,
    job: &ClaimedJob,
    investigate_days: Option<u32>,
    lease: Duration,
) -> anyhow::Result<()> {
    let id = &job.incident_id;
    let store = &engine.store;
    let incident = store.incident(id).await.context("loading the incident")?;
    let prior = store.steps(id).await.context("loading the steps")?;
    let mut run = Run {
        engine,
        unannounced: super::thread_of(&incident).is_none(),
        incident,
        prior,
    };
    run.playbook(job.id, lease).await?;
    let snapshot_taken = run.prior_fact(StepKind::Snapshot).is_none()
        && store
            .snapshot(id)
            .await
            .context("loading the snapshot")?
            .is_some();
    if run.incident.state == IncidentState::Triage {
        end_triage(engine, job, investigate_days).await?;
    } else {
        end_containment(engine, job, &run.incident).await?;
    }
    // After the announcement is queued: what the key could do never delays the card.
    if snapshot_taken {
        engine.queue_reach(id, &run.incident.requested_by).await?;
    }
    Ok(())
}

/// Settles the incident, queues its announcement and, once it is contained, forensics.
async fn end_containment(
    engine: &Engine,
    job: &ClaimedJob,
    before: &Incident,
) -> anyhow::Result<()> {
    let id = &job.incident_id;
    if before.hold == Some(Hold::Pending) {
        engine.store.set_hold(&job.incident_id, None, None).await?;
    }
    let (incident, _) = settle_incident(engine, job, before.key.kind()).await?;
    engine
        .store
        .queue_announcement(id, true, job.response_url.as_deref(), engine.clock.now())
        .await?;
    engine.wake.notify_one();
    if incident.state == IncidentState::Contained && before.state != IncidentState::Contained {
        engine.resolve_alerts(&incident).await;
        // Forensics follows every containment: the sessions the key minted are only found
        // in CloudTrail, and their roles need fences of their own.
        engine
            .queue_investigation(
                &incident.id,
                None,
                &incident.requested_by,
                "containment".into(),
                None,
            )
            .await?;
    }
    Ok(())
}

/// A triage run has gathered what it may without changing anything: the card shows it, the
/// requester hears, and forensics looks at what the key did. A key IAM does not have ends the
/// incident as containment would.
async fn end_triage(
    engine: &Engine,
    job: &ClaimedJob,
    investigate_days: Option<u32>,
) -> anyhow::Result<()> {
    let id = &job.incident_id;
    let steps = engine.store.steps(id).await?;
    let unknown = steps.iter().any(|s| s.fact == StepFact::UnknownKey);
    // Forensics reads the key's account too: where keyleak has no way in, the card's
    // escalation says what to do instead.
    let unreachable = steps
        .iter()
        .any(|s| matches!(s.fact, StepFact::Unreachable { .. }));
    if unknown {
        engine
            .store
            .set_state(id, IncidentState::Closed, None)
            .await?;
    }
    engine
        .store
        .queue_announcement(id, true, job.response_url.as_deref(), engine.clock.now())
        .await?;
    engine.wake.notify_one();
    if !unknown && !unreachable {
        let incident = engine.store.incident(id).await?;
        engine
            .queue_investigation(
                &incident.id,
                investigate_days,
                &incident.requested_by,
                "triage".into(),
                None,
            )
            .await?;
    }
    info!(incident = %job.incident_id, "triage gathered; nothing changed");
    Ok(())
}

/// Records the state the steps add up to; containment is timed by the last cut-off step.
async fn settle_incident(
    engine: &Engine,
    job: &ClaimedJob,
    kind: KeyKind,
) -> anyhow::Result<(Incident, Vec<StepRecord>)> {
    let id = &job.incident_id;
    let steps = engine.store.steps(id).await?;
    let state = settle(kind, &steps);
    let contained_at = (state == IncidentState::Contained)
        .then(|| {
            steps
                .iter()
                .filter(|s| StepKind::CUT_OFF.contains(&s.kind))
                .map(|s| s.finished_at)
                .max()
        })
        .flatten();
    engine.store.set_state(id, state, contained_at).await?;
    let incident = engine.store.incident(id).await?;
    info!(state = state.as_str(), key = %incident.key.short(), "containment finished");
    Ok((incident, steps))
}

/// A failed step's fact: an account keyleak cannot reach is said as such, with what to do.
fn failure(e: AwsError) -> StepFact {
    match e {
        AwsError::NoRouteToAccount(account) => StepFact::Unreachable {
            account: account.to_string(),
            role_refused: None,
        },
        AwsError::AssumeRoleFailed { account, message } => StepFact::Unreachable {
            account: account.to_string(),
            role_refused: Some(message),
        },
        e => StepFact::Failed {
            error: e.to_string(),
        },
    }
}

impl Run<'_> {
    fn prior_fact(&self, kind: StepKind) -> Option<&StepFact> {
        self.prior
            .iter()
            .find(|s| s.kind == kind && s.status == StepStatus::Done)
            .map(|s| &s.fact)
    }

    async fn playbook(&mut self, job: i64, lease: Duration) -> anyhow::Result<()> {
        let key = self.incident.key.clone();
        let Some(StepFact::Located { account, .. }) = self
            .step(StepKind::LocateAccount, || async {
                let l = self.engine.aws.locate_key(&key).await?;
                let fact = StepFact::Located {
                    account: l.account.to_string(),
                    own_account: l.own_account,
                };
                Ok((fact, l.request_id))
            })
            .await?
        else {
            return Ok(());
        };
        let account = AccountId::parse(&account).context("stored account id")?;
        self.set_facts(Some(account.clone()), None).await?;
        self.renew_lease(job, lease).await?;

        if key.kind() == KeyKind::Temporary {
            self.reveal_owner().await?;
            return self.temporary(&account, job, lease).await;
        }
        let Some(StepFact::LastUsed(usage)) = self
            .step(StepKind::LastUsed, || async {
                match self.engine.aws.key_usage(&account, &key).await {
                    Ok(c) => Ok((StepFact::LastUsed(c.value), c.request_id)),
                    // IAM has no such key: nothing to contain, and no room to open for it.
                    Err(AwsError::NoSuchEntity(_)) => Ok((StepFact::UnknownKey, None)),
                    Err(e) => Err(e),
                }
            })
            .await?
        else {
            return Ok(());
        };
        let Some(user) = usage.user_name else {
            let esc = StepFact::Escalated(Escalation::RootKey);
            self.step(StepKind::Snapshot, || async { Ok((esc, None)) })
                .await?;
            return Ok(());
        };
        self.set_facts(None, Some(user.clone())).await?;
        self.reveal_owner().await?;
        self.renew_lease(job, lease).await?;

        let Some(StepFact::Snapshot(snapshot)) = self
            .step(StepKind::Snapshot, || async {
                let snap = self.engine.aws.snapshot_user(&account, &user).await?;
                self.engine
                    .store
                    .save_snapshot(&self.incident.id, &snap, self.engine.clock.now())
                    .await
                    .map_err(|e| AwsError::Other(format!("saving the snapshot: {e}")))?;
                Ok((StepFact::Snapshot(snap), None))
            })
            .await?
        else {
            return Ok(());
        };
        self.renew_lease(job, lease).await?;
        if !self.decided().await? {
            return Ok(());
        }

        // Steps 4–6 together: IAM is eventually consistent, so every second between them is
        // a second the attacker keeps.
        let others: Vec<String> = snapshot
            .access_keys
            .iter()
            .map(|k| k.id.clone())
            .filter(|k| k != key.as_str())
            .collect();
        let deny_all = policy::deny_all(&self.incident.id);
        let fence = policy::session_fence(&self.incident.id, self.incident.fence_time);
        let (a, b, c) = tokio::join!(
            self.step(StepKind::DeactivateKey, || async {
                let c = self
                    .engine
                    .aws
                    .deactivate_key(&account, &user, &key)
                    .await?;
                let fact = StepFact::KeyDeactivated {
                    user_name: user.clone(),
                    other_keys_untouched: others.clone(),
                };
                Ok((fact, c.request_id))
            }),
            self.step(StepKind::DenyAll, || self
                .put_deny(&account, &user, &deny_all)),
            self.step(StepKind::SessionFence, || self
                .put_deny(&account, &user, &fence)),
        );
        a?;
        b?;
        c?;

        let policies = snapshot.quarantine_policies();
        self.step(StepKind::QuarantineCheck, || async {
            Ok((StepFact::Quarantine { policies }, None))
        })
        .await?;
        Ok(())
    }

    async fn put_deny(&self, account: &AccountId, user: &str, p: &DenyPolicy) -> StepResult {
        let Called { value, request_id } = self.engine.aws.put_user_deny(account, user, p).await?;
        let fact = StepFact::DenyAttached {
            user_name: user.to_string(),
            policy_name: p.name.clone(),
            managed_policy_arn: match value {
                DenyPlacement::Inline => None,
                DenyPlacement::Managed { arn } => Some(arn),
            },
        };
        Ok((fact, request_id))
    }

    /// Runs a step unless it is already done; records its outcome with an audit row.
    /// Returns the step's fact when it is done, `None` when it failed (the playbook stops).
    async fn step<F, Fut>(&self, kind: StepKind, work: F) -> anyhow::Result<Option<StepFact>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = StepResult>,
    {
        if let Some(fact) = self.prior_fact(kind) {
            return Ok(Some(fact.clone()));
        }
        let started = std::time::Instant::now();
        let outcome = work().await;
        crate::metrics::step(
            kind.as_str(),
            started.elapsed().as_secs_f64(),
            outcome.is_err(),
        );
        let (status, fact, request_id) = match outcome {
            Ok((fact, rid)) => (StepStatus::Done, fact, rid),
            Err(e) => {
                warn!(step = kind.as_str(), error = %e, "step failed");
                (StepStatus::Failed, failure(e), None)
            }
        };
        let now = self.engine.clock.now();
        // The key is dead once it is inactive, or, for a temporary key, once its sessions
        // are fenced.
        if status == StepStatus::Done
            && matches!(kind, StepKind::DeactivateKey | StepKind::FenceSessions)
        {
            let taken = (now - self.incident.fence_time)
                .to_std()
                .unwrap_or_default();
            crate::metrics::time_to_contain(taken.as_secs_f64());
        }
        let record = StepRecord {
            kind,
            status,
            fact: fact.clone(),
            request_id: request_id.clone(),
            finished_at: now,
            reply_ts: None,
        };
        let audit = AuditEntry {
            at: now,
            actor: "keyleak".into(),
            action: AuditAction::ContainStep { kind, status },
            incident_id: Some(self.incident.id.clone()),
            detail: request_id
                .map(|r| format!("aws request id {r}"))
                .unwrap_or_default(),
            origin: format!("job for {}", self.incident.id),
        };
        self.engine
            .store
            .record_step(&self.incident.id, &record, audit)
            .await?;
        Ok((status == StepStatus::Done).then_some(fact))
    }

    async fn set_facts(
        &mut self,
        account: Option<AccountId>,
        user_name: Option<String>,
    ) -> anyhow::Result<()> {
        if account.is_some() {
            self.incident.account = account.clone();
        }
        if user_name.is_some() {
            self.incident.user_name = user_name.clone();
        }
        self.engine
            .store
            .set_facts(&self.incident.id, &IncidentFacts { account, user_name })
            .await?;
        Ok(())
    }

    /// Whether the playbook may change anything now that the owner is known: not in triage,
    /// nor when a signal started it and the owner is on the exception list (the incident
    /// goes back to triage, saying why).
    async fn decided(&mut self) -> anyhow::Result<bool> {
        if self.incident.state == IncidentState::Triage {
            return Ok(false);
        }
        if self.incident.hold != Some(Hold::Pending) {
            return Ok(true);
        }
        let i = &self.incident;
        let store = &self.engine.store;
        let Some(exception) = self
            .engine
            .policy
            .excepted(i.account.as_ref(), i.user_name.as_deref())
        else {
            // Cleared once the key is cut off: a write here would delay the cut-off steps.
            return Ok(true);
        };
        let audit = AuditEntry {
            at: self.engine.clock.now(),
            actor: i.requested_by.to_stored(),
            action: AuditAction::SignalHeld,
            incident_id: Some(i.id.clone()),
            detail: format!("{exception} is on KEYLEAK_AUTO_CONTAIN_EXCEPT"),
            origin: format!("job for {}", i.id),
        };
        info!(key = %i.key.short(), %exception, "not contained automatically: excepted");
        let hold = Hold::Excepted { exception };
        store.set_hold(&i.id, Some(&hold), Some(audit)).await?;
        self.incident.hold = Some(hold);
        self.incident.state = IncidentState::Triage;
        Ok(false)
    }

    /// Queues the incident's first announcement, now that its room can be named.
    async fn reveal_owner(&mut self) -> anyhow::Result<()> {
        if std::mem::take(&mut self.unannounced) {
            let now = self.engine.clock.now();
            self.engine
                .store
                .queue_announcement(&self.incident.id, false, None, now)
                .await?;
            self.engine.wake.notify_one();
        }
        Ok(())
    }

    /// Extends the job's lease once, between steps.
    async fn renew_lease(&self, job: i64, lease: Duration) -> anyhow::Result<()> {
        let until = self.engine.clock.now() + lease;
        self.engine.store.extend_lease(job, until).await?;
        Ok(())
    }
}
