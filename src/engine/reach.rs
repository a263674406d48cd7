//! What the key could do: once the user's snapshot is recorded, IAM's policy simulator runs
//! over the documents of the policies the snapshot lists, and Access Advisor reports the
//! services the user called. Its own job, after the playbook: it never delays the cut-off, and
//! it reads the snapshot's list, so the deny-all that follows does not hide what the key could
//! do before.

use anyhow::Context as _;
use tracing::{info, warn};

use super::{Engine, JobRequest};
use crate::aws::AwsError;
use crate::domain::audit::AuditAction;
use crate::domain::ids::{AccountId, IncidentId};
use crate::domain::incident::{Actor, UserSnapshot};
use crate::domain::reach::{Known, LeftOut, Omission, Reach, risky_action_names};
use crate::store::{ClaimedJob, StoreError, Work};

impl Engine {
    /// Queues the assessment of an incident whose snapshot is recorded and that has none.
    pub(super) async fn queue_reach(
        &self,
        incident: &IncidentId,
        by: &Actor,
    ) -> Result<(), StoreError> {
        self.queue_job(JobRequest {
            work: Work::Assess,
            incident,
            actor: by.clone(),
            action: AuditAction::ReachRequested,
            origin: "snapshot".into(),
            response_url: None,
        })
        .await
    }
}

pub(super) async fn run_assess(engine: &Engine, job: &ClaimedJob) -> anyhow::Result<()> {
    let id = &job.incident_id;
    let incident = engine
        .store
        .incident(id)
        .await
        .context("loading the incident")?;
    let snapshot = engine
        .store
        .snapshot(id)
        .await
        .context("loading the snapshot")?;
    let (Some(account), Some(snapshot), None) = (&incident.account, snapshot, &incident.reach)
    else {
        return Ok(());
    };
    let reach = assess(engine, account, &snapshot).await;
    engine.store.save_reach(id, &reach).await?;
    info!(
        incident = %id,
        verdict = ?reach.verdict(),
        allowed = reach.allowed().len(),
        "reach assessed"
    );
    engine
        .store
        .queue_announcement(id, false, None, engine.clock.now())
        .await?;
    engine.wake.notify_one();
    Ok(())
}

/// Asks IAM; what it will not answer is recorded as unknown, with why, never a failed job:
/// the card says what is not known.
async fn assess(engine: &Engine, account: &AccountId, snap: &UserSnapshot) -> Reach {
    let aws = &engine.aws;
    let quarantine = snap.quarantine_policies();
    let simulated = async {
        let docs = aws.policy_documents(account, snap, &quarantine).await?;
        let verdicts = aws.simulate(account, &docs, &risky_action_names()).await?;
        Ok::<_, AwsError>((docs, verdicts))
    };
    let (simulated, services) = tokio::join!(simulated, aws.services_used(account, &snap.user_arn));
    let mut left_out: Vec<LeftOut> = quarantine
        .into_iter()
        .map(|policy| LeftOut {
            policy,
            why: Omission::AwsQuarantine,
        })
        .collect();
    fn unknown<T>(e: AwsError) -> Known<T> {
        warn!(error = %e, "IAM did not answer what the key could do");
        Known::Unknown { why: e.to_string() }
    }
    let (policies, boundary, actions) = match simulated {
        Ok((docs, verdicts)) => {
            left_out.extend(docs.gone.into_iter().map(|policy| LeftOut {
                policy,
                why: Omission::Gone,
            }));
            let policies = docs.policies.into_iter().map(|(s, _)| s).collect();
            (
                policies,
                docs.boundary.map(|(arn, _)| arn),
                Known::Known(verdicts),
            )
        }
        Err(e) => (Vec::new(), None, unknown(e)),
    };
    Reach {
        assessed_at: engine.clock.now(),
        policies,
        boundary,
        left_out,
        actions,
        services: services.map_or_else(unknown, Known::Known),
    }
}
