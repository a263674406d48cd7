//! From a cleanup target to the exact actions to propose, using what AWS holds now; or why
//! nothing can be proposed.

use super::Engine;
use crate::aws::AwsError;
use serde_json::Value;

use crate::domain::approval::{Action, Grantor, UserCredential};
use crate::domain::cleanup::Target;
use crate::domain::grant;
use crate::domain::ids::{AccessKeyId, AccountId};
use crate::domain::incident::Incident;
use crate::domain::policy;

use crate::domain::answer::PlanProblem;

impl From<AwsError> for PlanProblem {
    fn from(e: AwsError) -> Self {
        PlanProblem::Aws(e.to_string())
    }
}

/// Turns a target into the exact actions to propose, from what AWS holds now.
pub(super) async fn plan(
    engine: &Engine,
    incident: &Incident,
    target: &Target,
) -> Result<Vec<Action>, PlanProblem> {
    let (Some(account), Some(user)) = (&incident.account, &incident.user_name) else {
        return Err(PlanProblem::NotLocated);
    };
    if !target.applies_to(incident.key.kind()) {
        return Err(PlanProblem::TemporaryKey);
    }
    let acct = account.to_string();
    let aws = &engine.aws;
    Ok(match target {
        Target::LeakedKey => vec![Action::delete_access_key(account, user, &incident.key)],
        Target::AccessKey { key } => vec![key_action(engine, account, key).await?],
        Target::LoginProfile { user } => {
            if !aws.snapshot_user(account, user).await?.has_login_profile {
                return Err(PlanProblem::NoConsolePassword { user: user.clone() });
            }
            vec![Action::DeleteLoginProfile {
                account: acct,
                user: user.clone(),
            }]
        }
        Target::IngressRule {
            region,
            group,
            rule,
        } => {
            if aws
                .ingress_rule(account, region, group, rule)
                .await?
                .is_none()
            {
                return Err(PlanProblem::NoSuchRule {
                    group: group.clone(),
                    rule: rule.clone(),
                    region: region.clone(),
                });
            }
            vec![Action::RevokeIngress {
                account: acct,
                region: region.clone(),
                group: group.clone(),
                rule: rule.clone(),
            }]
        }
        Target::FunctionPermission {
            region,
            function,
            statement,
        } => {
            if aws
                .function_statement(account, region, function, statement)
                .await?
                .is_none()
            {
                return Err(PlanProblem::NoSuchStatement {
                    function: function.clone(),
                    statement: statement.clone(),
                    region: region.clone(),
                });
            }
            vec![Action::RemoveFunctionPermission {
                account: acct,
                region: region.clone(),
                function: function.clone(),
                statement: statement.clone(),
            }]
        }
        Target::Unshare { region, shared } => {
            let with = aws.shared_with(account, region, shared).await?;
            if with.is_empty() {
                return Err(PlanProblem::NotShared {
                    what: format!("{} {}", shared.kind_name(), shared.id()),
                    region: region.clone(),
                });
            }
            vec![Action::Unshare {
                account: acct,
                region: region.clone(),
                shared: shared.clone(),
                with,
            }]
        }
        Target::Grant { on, principals } => grant_action(engine, account, on, principals).await?,
        Target::BlockPublicAccess { bucket } => {
            if aws.blocks_public_access(account, bucket).await? {
                return Err(PlanProblem::AlreadyBlocked {
                    bucket: bucket.clone(),
                });
            }
            vec![Action::BlockPublicAccess {
                account: acct,
                bucket: bucket.clone(),
            }]
        }
        Target::Credential { user, credential } => {
            let snapshot = aws.snapshot_user(account, user).await?;
            let held = crate::domain::approval::UserHoldings::from(&snapshot);
            let wanted = credential.id();
            let list = match credential {
                UserCredential::SshKey { .. } => &held.ssh_keys,
                UserCredential::SigningCertificate { .. } => &held.certificates,
                UserCredential::ServiceSpecific { .. } => &held.service_credentials,
                UserCredential::MfaDevice { .. } => &held.mfa_devices,
            };
            if !list.iter().any(|held| held == wanted) {
                return Err(PlanProblem::NoSuchCredential {
                    user: user.clone(),
                    what: format!("{} {wanted}", credential.kind_name()),
                });
            }
            vec![Action::DeleteUserCredential {
                account: acct,
                user: user.clone(),
                credential: credential.clone(),
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
                return Err(PlanProblem::ServiceLinkedRole { role: role.clone() });
            }
            vec![Action::DeleteRole {
                account: acct,
                role: role.clone(),
                holds: aws.role_holdings(account, role).await?,
            }]
        }
        Target::Policy { arn } => {
            if !arn.contains(&format!(":{account}:")) {
                return Err(PlanProblem::PolicyElsewhere { account: acct });
            }
            vec![Action::DeletePolicy {
                account: acct,
                arn: arn.clone(),
                holds: aws.policy_holdings(account, arn).await?,
            }]
        }
        Target::Instances {
            region,
            ids,
            snapshot,
        } => {
            let live: Vec<String> = aws
                .instances(account, region, ids)
                .await?
                .into_iter()
                .filter(|i| i.state != "terminated" && i.state != "shutting-down")
                .map(|i| i.id)
                .collect();
            if live.is_empty() {
                return Err(PlanProblem::NoLiveInstances {
                    region: region.clone(),
                    account: acct,
                });
            }
            vec![Action::TerminateInstances {
                account: acct,
                region: region.clone(),
                instance_ids: live,
                snapshot: *snapshot,
            }]
        }
        Target::Function { region, name } => {
            if !aws.function_exists(account, region, name).await? {
                return Err(PlanProblem::NoSuchFunction {
                    name: name.clone(),
                    region: region.clone(),
                    account: acct,
                });
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
            let key = incident.key.to_string();
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

/// The policy as it is now, less the principals it still lets in of those named: the
/// approvers see both documents, and the action puts the second only over the first.
async fn grant_action(
    engine: &Engine,
    account: &AccountId,
    on: &Grantor,
    principals: &[String],
) -> Result<Vec<Action>, PlanProblem> {
    let not_granted = || PlanProblem::NotGranted {
        on: on.clone(),
        principals: principals.to_vec(),
    };
    let before = engine
        .aws
        .grant_policy(account, on)
        .await?
        .ok_or_else(not_granted)?;
    let doc: Value = serde_json::from_str(&before)
        .map_err(|e| PlanProblem::Aws(format!("the policy is not JSON: {e}")))?;
    let granted: Vec<String> = grant::granted(&doc, principals)
        .into_iter()
        .cloned()
        .collect();
    if granted.is_empty() {
        return Err(not_granted());
    }
    let after = match (grant::without(&doc, &granted), on) {
        (Some(kept), _) => Some(kept),
        (None, Grantor::RoleTrust { .. }) => Some(grant::trusts_no_one()),
        (None, Grantor::BucketPolicy { .. }) => None,
    };
    Ok(vec![Action::RemoveGrant {
        account: account.to_string(),
        on: on.clone(),
        principals: granted,
        before,
        after: after.map(|a| a.to_string()),
    }])
}

/// Another access key to delete: its owner comes from IAM, in the incident's account.
async fn key_action(
    engine: &Engine,
    account: &AccountId,
    raw: &str,
) -> Result<Action, PlanProblem> {
    let Ok(key) = AccessKeyId::parse(raw) else {
        return Err(PlanProblem::NotAKeyId {
            raw: raw.to_string(),
        });
    };
    let usage = engine.aws.key_usage(account, &key).await?;
    let Some(owner) = usage.value.user_name else {
        return Err(PlanProblem::NoOwner {
            key: key.to_string(),
            account: account.to_string(),
        });
    };
    Ok(Action::delete_access_key(account, &owner, &key))
}
