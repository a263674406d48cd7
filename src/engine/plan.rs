//! From a cleanup target to the exact actions to propose, using what AWS holds now; or why
//! nothing can be proposed.

use super::Engine;
use crate::aws::AwsError;
use crate::domain::approval::Action;
use crate::domain::cleanup::Target;
use crate::domain::ids::{AccessKeyId, AccountId, KeyKind};
use crate::domain::incident::Incident;
use crate::domain::policy;

/// Why a target cannot become a proposal, in words for the requester.
#[derive(Debug, thiserror::Error)]
pub enum PlanProblem {
    #[error("{0}")]
    Refused(String),
    #[error("AWS answered: {0}")]
    Aws(#[from] AwsError),
}

fn refused<T>(why: impl Into<String>) -> Result<T, PlanProblem> {
    Err(PlanProblem::Refused(why.into()))
}

/// Turns a target into the exact actions to propose, from what AWS holds now.
pub(super) async fn plan(
    engine: &Engine,
    incident: &Incident,
    target: &Target,
) -> Result<Vec<Action>, PlanProblem> {
    let (Some(account), Some(user)) = (&incident.account, &incident.user_name) else {
        return refused("containment has not found the key's account and user yet");
    };
    let acct = account.to_string();
    let aws = &engine.aws;
    let leaked_key = || {
        if incident.key.kind() == KeyKind::Temporary {
            return refused("the incident's key is temporary: it expires by itself");
        }
        Ok(incident.key.to_string())
    };
    Ok(match target {
        Target::LeakedKey => {
            leaked_key()?;
            vec![Action::delete_access_key(account, user, &incident.key)]
        }
        Target::AccessKey { key } => vec![key_action(engine, account, key).await?],
        Target::LoginProfile { user } => {
            if !aws.snapshot_user(account, user).await?.has_login_profile {
                return refused(format!("user `{user}` has no console password"));
            }
            vec![Action::DeleteLoginProfile {
                account: acct,
                user: user.clone(),
            }]
        }
        Target::User { user } => {
            let snapshot = aws.snapshot_user(account, user).await?;
            vec![Action::DeleteUser {
                account: acct,
                user: user.clone(),
                holds: (&snapshot).into(),
            }]
        }
        Target::Role { role } => {
            if role.starts_with("AWSServiceRoleFor") {
                return refused(format!(
                    "`{role}` is a service-linked role; it is removed through its service"
                ));
            }
            vec![Action::DeleteRole {
                account: acct,
                role: role.clone(),
                holds: aws.role_holdings(account, role).await?,
            }]
        }
        Target::Policy { arn } => {
            if !arn.contains(&format!(":{account}:")) {
                return refused(format!(
                    "the policy is not in the incident's account {account}"
                ));
            }
            vec![Action::DeletePolicy {
                account: acct,
                arn: arn.clone(),
                holds: aws.policy_holdings(account, arn).await?,
            }]
        }
        Target::Instances { region, ids } => {
            let live: Vec<String> = aws
                .instances(account, region, ids)
                .await?
                .into_iter()
                .filter(|i| i.state != "terminated" && i.state != "shutting-down")
                .map(|i| i.id)
                .collect();
            if live.is_empty() {
                return refused(format!(
                    "none of those instances is running or stopped in {region} of account {account}"
                ));
            }
            vec![Action::TerminateInstances {
                account: acct,
                region: region.clone(),
                instance_ids: live,
            }]
        }
        Target::Function { region, name } => {
            if !aws.function_exists(account, region, name).await? {
                return refused(format!(
                    "there is no Lambda function `{name}` in {region} of account {account}"
                ));
            }
            vec![Action::DeleteFunction {
                account: acct,
                region: region.clone(),
                name: name.clone(),
            }]
        }
        Target::LiftDenyAll => vec![Action::RemoveDenyAll {
            account: acct,
            user: user.clone(),
            policy_name: policy::deny_all(&incident.id).name,
        }],
        Target::Rollback => {
            let key = leaked_key()?;
            vec![
                Action::ReactivateKey {
                    account: acct.clone(),
                    user: user.clone(),
                    key,
                },
                Action::RemoveDenyAll {
                    account: acct,
                    user: user.clone(),
                    policy_name: policy::deny_all(&incident.id).name,
                },
            ]
        }
    })
}

/// Another access key to delete: its owner comes from IAM, in the incident's account.
async fn key_action(
    engine: &Engine,
    account: &AccountId,
    raw: &str,
) -> Result<Action, PlanProblem> {
    let Ok(key) = AccessKeyId::parse(raw) else {
        return refused(format!("`{raw}` is not an access key id"));
    };
    let usage = engine.aws.key_usage(account, &key).await?;
    let Some(owner) = usage.value.user_name else {
        return refused(format!(
            "`{key}` belongs to no IAM user of account {account} (a root key cannot be deleted by keyleak)"
        ));
    };
    Ok(Action::delete_access_key(account, &owner, &key))
}
