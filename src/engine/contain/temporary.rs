//! The ASIA playbook (docs/design.md §3, a temporary key). A temporary key cannot be deactivated
//! and lives until it expires, so: find the event that minted it, deny the issuer's sessions issued
//! before the incident (a role's fence, or the user's for GetSessionToken/GetFederationToken
//! sessions), and contain the key that minted it in an incident of its own, which follows the chain
//! further if that key is temporary too.

use chrono::Duration;

use super::{Run, StepResult};
use crate::aws::{AwsError, DenyPlacement, TrailAttribute, TrailQuery};
use crate::domain::ids::{AccessKeyId, AccountId};
use crate::domain::incident::{Escalation, Issuer, KeyOrigin, StepFact, StepKind};
use crate::domain::policy;
use crate::domain::trail::TrailEvent;
use crate::domain::trail::origin::{self, MAX_SESSION_HOURS};
use crate::domain::trail::pivot::{RoleKind, role_kind, role_name};

impl Run<'_> {
    pub(super) async fn temporary(
        &mut self,
        account: &AccountId,
        job: i64,
        lease: Duration,
    ) -> anyhow::Result<()> {
        let key = self.incident.key.clone();
        let Some(StepFact::Origin(found)) = self
            .step(StepKind::FindOrigin, || self.find_origin(account, &key))
            .await?
        else {
            return Ok(());
        };
        self.renew_lease(job, lease).await?;
        if !self.decided().await? {
            return Ok(());
        }
        let Some(StepFact::SessionsFenced { .. }) = self
            .step(StepKind::FenceSessions, || self.fence(&found.issuer))
            .await?
        else {
            return Ok(());
        };
        self.step(StepKind::ContainParent, || self.contain_parent(&found))
            .await?;
        Ok(())
    }

    /// The key's own calls say who issued it and roughly when; the STS events around that
    /// moment hold the minting event, which also names the key that asked for it.
    async fn find_origin(&self, account: &AccountId, key: &AccessKeyId) -> StepResult {
        let regions = self.engine.search_regions(account).await?;
        let now = self.engine.clock.now();
        let queries = regions.iter().map(|region| TrailQuery {
            account: account.clone(),
            region: region.clone(),
            key: key.clone(),
            since: now - Duration::hours(MAX_SESSION_HOURS),
            until: now,
        });
        let used = futures_util::future::join_all(
            queries.map(|q| async move { self.engine.aws.lookup_events(&q, &|_| {}).await }),
        )
        .await;
        let (used, mut errors) = split(used);
        let (since, until) = origin::search_window(now, key, &used);
        let sts = futures_util::future::join_all(regions.iter().map(|region| {
            // The minting event's response names the key; no lookup attribute does.
            let sts = TrailAttribute::EventSource("sts.amazonaws.com");
            self.engine
                .aws
                .events_with(account, region, sts, since, until)
        }))
        .await;
        let (sts, sts_errors) = split(sts);
        errors.extend(sts_errors);
        let found = origin::from_minting(key, &sts).or_else(|| origin::from_use(key, &used));
        match (found, errors.into_iter().next()) {
            (Some(o), _) => Ok((StepFact::Origin(o), None)),
            // Some region could not be read: the answer may be there, so this is a failure
            // to retry, not a conclusion.
            (None, Some(e)) => Err(e),
            (None, None) => Ok((StepFact::Escalated(Escalation::TemporaryKey), None)),
        }
    }

    /// Denies the issuer's sessions issued before the incident opened, this key's among them.
    async fn fence(&self, issuer: &Issuer) -> StepResult {
        let fence = policy::session_fence(&self.incident.id, self.incident.fence_time);
        let (account, placement, request_id) = match issuer {
            Issuer::Role { arn, account } => {
                match role_kind(arn) {
                    RoleKind::ServiceLinked => {
                        return Ok((StepFact::Escalated(Escalation::ServiceLinkedRole), None));
                    }
                    RoleKind::IdentityCenter => {
                        return Ok((StepFact::Escalated(Escalation::IdentityCenterRole), None));
                    }
                    RoleKind::Ordinary => {}
                }
                let account = parse_account(account)?;
                let c = self
                    .engine
                    .aws
                    .put_role_fence(&account, role_name(arn), &fence)
                    .await?;
                (account, DenyPlacement::Inline, c.request_id)
            }
            Issuer::User { name, account } => {
                let account = parse_account(account)?;
                let c = self
                    .engine
                    .aws
                    .put_user_deny(&account, name, &fence)
                    .await?;
                (account, c.value, c.request_id)
            }
        };
        let fact = StepFact::SessionsFenced {
            issuer: issuer.clone(),
            policy_name: fence.name,
            managed_policy_arn: match placement {
                DenyPlacement::Inline => None,
                DenyPlacement::Managed { arn } => Some(arn),
            },
        };
        tracing::info!(account = %account, "sessions of the issuer fenced");
        Ok((fact, request_id))
    }

    /// The key that minted this one gets its own incident (or the open one it has).
    async fn contain_parent(&self, found: &KeyOrigin) -> StepResult {
        let parent = found
            .event
            .as_ref()
            .and_then(|e| e.parent_key.as_deref())
            .and_then(|k| AccessKeyId::parse(k).ok())
            .filter(|k| *k != self.incident.key);
        let Some(parent) = parent else {
            return Ok((StepFact::NoParent, None));
        };
        let opened = self
            .engine
            .submit_contain(
                parent.clone(),
                Some(format!(
                    "minted {} ({})",
                    self.incident.key, self.incident.id
                )),
                self.incident.requested_by.clone(),
                format!("parent of {}", self.incident.id),
                None,
            )
            .await
            .map_err(|e| AwsError::Other(format!("queueing the parent's containment: {e}")))?;
        let fact = StepFact::ParentQueued {
            key: parent.to_string(),
            incident: opened.incident.id.to_string(),
        };
        Ok((fact, None))
    }
}

fn parse_account(a: &str) -> Result<AccountId, AwsError> {
    AccountId::parse(a).map_err(|_| AwsError::Other(format!("`{a}` is not an account id")))
}

/// Every region's events together, and the errors apart.
fn split(
    results: Vec<Result<crate::aws::RegionLog, AwsError>>,
) -> (Vec<TrailEvent>, Vec<AwsError>) {
    let mut events = vec![];
    let mut errors = vec![];
    for r in results {
        match r {
            Ok(log) => events.extend(log.events),
            Err(e) => errors.push(e),
        }
    }
    (events, errors)
}
