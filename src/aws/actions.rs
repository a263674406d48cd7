//! Cleanup against AWS: reading what a target holds before it is proposed, and carrying out
//! approved actions. Every action is idempotent: what is already gone counts as gone, and a
//! target holding more than the approvers saw is left alone.

use aws_sdk_iam::operation::RequestId;

use super::sdk::{Clients, classify, user_snapshot};
use super::{AwsError, InstanceFacts};
use crate::domain::approval::{
    Action, Outcome, PolicyHoldings, RoleHoldings, UserCredential, UserHoldings,
};

/// The request ids of the calls made so far, kept even when a later call fails so the
/// outcome shows how far it got.
#[derive(Default)]
pub(super) struct Trail(Vec<String>);

impl Trail {
    pub(super) fn note<T: RequestId>(&mut self, out: &T) {
        if let Some(r) = out.request_id() {
            self.0.push(r.to_string());
        }
    }

    /// Notes a call that may find its target already gone; `Ok(false)` when it did.
    fn gone_ok<T: RequestId>(&mut self, r: Result<T, AwsError>) -> Result<bool, AwsError> {
        match r {
            Ok(out) => {
                self.note(&out);
                Ok(true)
            }
            Err(AwsError::NoSuchEntity(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub(super) fn done(&mut self) -> Outcome {
        Outcome::Done {
            request_ids: std::mem::take(&mut self.0),
        }
    }

    pub(super) fn gone(&mut self) -> Outcome {
        Outcome::AlreadyGone {
            request_ids: std::mem::take(&mut self.0),
        }
    }
}

pub(super) async fn run(c: &Clients, action: &Action) -> Outcome {
    let mut t = Trail::default();
    let iam = &c.iam;
    let result = match action {
        Action::DeleteAccessKey { user, key, .. } => {
            let r = iam
                .delete_access_key()
                .user_name(user)
                .access_key_id(key)
                .send()
                .await;
            finish(&mut t, r.map_err(classify))
        }
        Action::DeleteLoginProfile { user, .. } => {
            let r = iam.delete_login_profile().user_name(user).send().await;
            finish(&mut t, r.map_err(classify))
        }
        Action::DeleteUser { user, holds, .. } => delete_user(iam, user, holds, &mut t).await,
        Action::DeleteRole { role, holds, .. } => delete_role(iam, role, holds, &mut t).await,
        Action::DeletePolicy { arn, holds, .. } => delete_policy(iam, arn, holds, &mut t).await,
        Action::TerminateInstances {
            region,
            instance_ids,
            ..
        } => terminate(&c.ec2(region), instance_ids, &mut t).await,
        Action::DeleteFunction { region, name, .. } => {
            let r = c
                .lambda(region)
                .delete_function()
                .function_name(name)
                .send()
                .await;
            finish(&mut t, r.map_err(classify))
        }
        Action::Unshare {
            region,
            shared,
            with,
            ..
        } => super::exposure::unshare(c, region, shared, with, &mut t).await,
        Action::RemoveGrant {
            on, before, after, ..
        } => super::grants::remove(c, on, before, after.as_deref(), &mut t).await,
        Action::BlockPublicAccess { bucket, .. } => {
            super::grants::block_public_access(c, bucket, &mut t).await
        }
        Action::RevokeIngress {
            region,
            group,
            rule,
            ..
        } => super::exposure::revoke_ingress(&c.ec2(region), group, rule, &mut t).await,
        Action::RemoveFunctionPermission {
            region,
            function,
            statement,
            ..
        } => {
            let r = c
                .lambda(region)
                .remove_permission()
                .function_name(function)
                .statement_id(statement)
                .send()
                .await;
            finish(&mut t, r.map_err(classify))
        }
        Action::DeleteUserCredential {
            user, credential, ..
        } => {
            let removed = remove_credential(iam, user, credential, &mut t).await;
            removed.map(|done| if done { t.done() } else { t.gone() })
        }
        Action::ReactivateKey { user, key, .. } => {
            let r = iam
                .update_access_key()
                .user_name(user)
                .access_key_id(key)
                .status(aws_sdk_iam::types::StatusType::Active)
                .send()
                .await
                .map_err(classify);
            // A deleted key cannot come back: that is a failure, not "already gone".
            r.map(|out| {
                t.note(&out);
                t.done()
            })
        }
        Action::RemoveDenyAll {
            account,
            user,
            policy_name,
        } => remove_deny_all(iam, account, user, policy_name, &mut t).await,
    };
    result.unwrap_or_else(|e| Outcome::Failed {
        error: e.to_string(),
        request_ids: std::mem::take(&mut t.0),
    })
}

/// One deleting call: done, or already gone.
fn finish<T: RequestId>(t: &mut Trail, r: Result<T, AwsError>) -> Result<Outcome, AwsError> {
    Ok(if t.gone_ok(r)? { t.done() } else { t.gone() })
}

/// What a target holds now, if it still exists and holds nothing the approvers did not see;
/// otherwise the outcome to report instead of deleting anything.
fn unchanged<H>(
    now: Result<H, AwsError>,
    beyond: impl Fn(&H) -> Vec<String>,
    t: &mut Trail,
) -> Result<Result<H, Outcome>, AwsError> {
    let now = match now {
        Ok(h) => h,
        Err(AwsError::NoSuchEntity(_)) => return Ok(Err(t.gone())),
        Err(e) => return Err(e),
    };
    let found = beyond(&now);
    Ok(if found.is_empty() {
        Ok(now)
    } else {
        Err(Outcome::Changed { found })
    })
}

async fn delete_user(
    iam: &aws_sdk_iam::Client,
    user: &str,
    approved: &UserHoldings,
    t: &mut Trail,
) -> Result<Outcome, AwsError> {
    let found = user_snapshot(iam, user)
        .await
        .map(|s| UserHoldings::from(&s));
    let now = match unchanged(found, |h| h.beyond(approved), t)? {
        Ok(h) => h,
        Err(outcome) => return Ok(outcome),
    };
    if now.login_profile {
        t.gone_ok(
            iam.delete_login_profile()
                .user_name(user)
                .send()
                .await
                .map_err(classify),
        )?;
    }
    for key in &now.access_keys {
        let r = iam.delete_access_key().user_name(user).access_key_id(key);
        t.gone_ok(r.send().await.map_err(classify))?;
    }
    let others = now
        .mfa_devices
        .iter()
        .map(|serial| UserCredential::MfaDevice {
            serial: serial.clone(),
        })
        .chain(
            now.ssh_keys
                .iter()
                .map(|id| UserCredential::SshKey { id: id.clone() }),
        )
        .chain(
            now.certificates
                .iter()
                .map(|id| UserCredential::SigningCertificate { id: id.clone() }),
        )
        .chain(
            now.service_credentials
                .iter()
                .map(|id| UserCredential::ServiceSpecific { id: id.clone() }),
        );
    for credential in others {
        remove_credential(iam, user, &credential, t).await?;
    }
    for arn in &now.managed_policies {
        let r = iam.detach_user_policy().user_name(user).policy_arn(arn);
        t.gone_ok(r.send().await.map_err(classify))?;
    }
    for name in &now.inline_policies {
        let r = iam.delete_user_policy().user_name(user).policy_name(name);
        t.gone_ok(r.send().await.map_err(classify))?;
    }
    for group in &now.groups {
        let r = iam
            .remove_user_from_group()
            .user_name(user)
            .group_name(group);
        t.gone_ok(r.send().await.map_err(classify))?;
    }
    finish(
        t,
        iam.delete_user()
            .user_name(user)
            .send()
            .await
            .map_err(classify),
    )
}

/// Removes one credential of the user; `Ok(false)` when it was already gone.
async fn remove_credential(
    iam: &aws_sdk_iam::Client,
    user: &str,
    credential: &UserCredential,
    t: &mut Trail,
) -> Result<bool, AwsError> {
    match credential {
        UserCredential::SshKey { id } => {
            let r = iam
                .delete_ssh_public_key()
                .user_name(user)
                .ssh_public_key_id(id);
            t.gone_ok(r.send().await.map_err(classify))
        }
        UserCredential::SigningCertificate { id } => {
            let r = iam
                .delete_signing_certificate()
                .user_name(user)
                .certificate_id(id);
            t.gone_ok(r.send().await.map_err(classify))
        }
        UserCredential::ServiceSpecific { id } => {
            let r = iam
                .delete_service_specific_credential()
                .user_name(user)
                .service_specific_credential_id(id);
            t.gone_ok(r.send().await.map_err(classify))
        }
        UserCredential::MfaDevice { serial } => {
            let r = iam
                .deactivate_mfa_device()
                .user_name(user)
                .serial_number(serial);
            let attached = t.gone_ok(r.send().await.map_err(classify))?;
            // A virtual device is an IAM entity of its own; hardware ones are only detached.
            if serial.contains(":mfa/") {
                let r = iam.delete_virtual_mfa_device().serial_number(serial);
                return Ok(t.gone_ok(r.send().await.map_err(classify))? || attached);
            }
            Ok(attached)
        }
    }
}

pub(super) async fn role_holdings(
    iam: &aws_sdk_iam::Client,
    role: &str,
) -> Result<RoleHoldings, AwsError> {
    iam.get_role()
        .role_name(role)
        .send()
        .await
        .map_err(classify)?;
    let (managed, inline, profiles) = tokio::join!(
        iam.list_attached_role_policies()
            .role_name(role)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>(),
        iam.list_role_policies()
            .role_name(role)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>(),
        iam.list_instance_profiles_for_role()
            .role_name(role)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>(),
    );
    Ok(RoleHoldings {
        managed_policies: managed
            .map_err(classify)?
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect(),
        inline_policies: inline.map_err(classify)?,
        instance_profiles: profiles
            .map_err(classify)?
            .iter()
            .map(|p| p.instance_profile_name().to_string())
            .collect(),
    })
}

async fn delete_role(
    iam: &aws_sdk_iam::Client,
    role: &str,
    approved: &RoleHoldings,
    t: &mut Trail,
) -> Result<Outcome, AwsError> {
    let now = match unchanged(role_holdings(iam, role).await, |h| h.beyond(approved), t)? {
        Ok(h) => h,
        Err(outcome) => return Ok(outcome),
    };
    for profile in &now.instance_profiles {
        let r = iam
            .remove_role_from_instance_profile()
            .instance_profile_name(profile)
            .role_name(role);
        t.gone_ok(r.send().await.map_err(classify))?;
    }
    for arn in &now.managed_policies {
        let r = iam.detach_role_policy().role_name(role).policy_arn(arn);
        t.gone_ok(r.send().await.map_err(classify))?;
    }
    for name in &now.inline_policies {
        let r = iam.delete_role_policy().role_name(role).policy_name(name);
        t.gone_ok(r.send().await.map_err(classify))?;
    }
    finish(
        t,
        iam.delete_role()
            .role_name(role)
            .send()
            .await
            .map_err(classify),
    )
}

pub(super) async fn policy_holdings(
    iam: &aws_sdk_iam::Client,
    arn: &str,
) -> Result<PolicyHoldings, AwsError> {
    iam.get_policy()
        .policy_arn(arn)
        .send()
        .await
        .map_err(classify)?;
    let (pages, versions) = tokio::join!(
        iam.list_entities_for_policy()
            .policy_arn(arn)
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>(),
        iam.list_policy_versions()
            .policy_arn(arn)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>(),
    );
    let pages = pages.map_err(classify)?;
    Ok(PolicyHoldings {
        users: pages
            .iter()
            .flat_map(|p| p.policy_users())
            .filter_map(|u| u.user_name().map(str::to_string))
            .collect(),
        roles: pages
            .iter()
            .flat_map(|p| p.policy_roles())
            .filter_map(|r| r.role_name().map(str::to_string))
            .collect(),
        groups: pages
            .iter()
            .flat_map(|p| p.policy_groups())
            .filter_map(|g| g.group_name().map(str::to_string))
            .collect(),
        other_versions: versions
            .map_err(classify)?
            .iter()
            .filter(|v| !v.is_default_version())
            .filter_map(|v| v.version_id().map(str::to_string))
            .collect(),
    })
}

async fn delete_policy(
    iam: &aws_sdk_iam::Client,
    arn: &str,
    approved: &PolicyHoldings,
    t: &mut Trail,
) -> Result<Outcome, AwsError> {
    let now = match unchanged(policy_holdings(iam, arn).await, |h| h.beyond(approved), t)? {
        Ok(h) => h,
        Err(outcome) => return Ok(outcome),
    };
    for user in &now.users {
        let r = iam.detach_user_policy().user_name(user).policy_arn(arn);
        t.gone_ok(r.send().await.map_err(classify))?;
    }
    for role in &now.roles {
        let r = iam.detach_role_policy().role_name(role).policy_arn(arn);
        t.gone_ok(r.send().await.map_err(classify))?;
    }
    for group in &now.groups {
        let r = iam.detach_group_policy().group_name(group).policy_arn(arn);
        t.gone_ok(r.send().await.map_err(classify))?;
    }
    // Old versions go with the policy; they need no approval of their own.
    for v in &now.other_versions {
        let r = iam.delete_policy_version().policy_arn(arn).version_id(v);
        t.gone_ok(r.send().await.map_err(classify))?;
    }
    finish(
        t,
        iam.delete_policy()
            .policy_arn(arn)
            .send()
            .await
            .map_err(classify),
    )
}

pub(super) async fn instances(
    ec2: &aws_sdk_ec2::Client,
    ids: &[String],
) -> Result<Vec<InstanceFacts>, AwsError> {
    // A filter rather than InstanceIds: an unknown id then drops out instead of failing the
    // whole call.
    let filter = aws_sdk_ec2::types::Filter::builder()
        .name("instance-id")
        .set_values(Some(ids.to_vec()))
        .build();
    let out = ec2
        .describe_instances()
        .filters(filter)
        .send()
        .await
        .map_err(classify)?;
    Ok(out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| InstanceFacts {
            id: i.instance_id().unwrap_or_default().to_string(),
            state: i
                .state()
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_string())
                .unwrap_or_default(),
            name: i
                .tags()
                .iter()
                .find(|t| t.key() == Some("Name"))
                .and_then(|t| t.value())
                .map(str::to_string),
        })
        .collect())
}

async fn terminate(
    ec2: &aws_sdk_ec2::Client,
    ids: &[String],
    t: &mut Trail,
) -> Result<Outcome, AwsError> {
    let live: Vec<String> = instances(ec2, ids)
        .await?
        .into_iter()
        .filter(|i| i.state != "terminated")
        .map(|i| i.id)
        .collect();
    if live.is_empty() {
        return Ok(t.gone());
    }
    let out = ec2
        .terminate_instances()
        .set_instance_ids(Some(live))
        .send()
        .await
        .map_err(classify)?;
    t.note(&out);
    Ok(t.done())
}

pub(super) async fn function_exists(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
) -> Result<bool, AwsError> {
    match lambda
        .get_function()
        .function_name(name)
        .send()
        .await
        .map_err(classify)
    {
        Ok(_) => Ok(true),
        Err(AwsError::NoSuchEntity(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Takes off the incident's deny-all, wherever containment put it: inline, or the managed
/// policy of the same name used when the inline budget was full.
async fn remove_deny_all(
    iam: &aws_sdk_iam::Client,
    account: &str,
    user: &str,
    policy_name: &str,
    t: &mut Trail,
) -> Result<Outcome, AwsError> {
    let inline = iam
        .delete_user_policy()
        .user_name(user)
        .policy_name(policy_name)
        .send()
        .await
        .map_err(classify);
    let mut removed = t.gone_ok(inline)?;
    let arn = format!("arn:aws:iam::{account}:policy/{policy_name}");
    let detached = iam
        .detach_user_policy()
        .user_name(user)
        .policy_arn(&arn)
        .send()
        .await
        .map_err(classify);
    if t.gone_ok(detached)? {
        removed = true;
        let deleted = iam.delete_policy().policy_arn(&arn).send().await;
        t.gone_ok(deleted.map_err(classify))?;
    }
    Ok(if removed { t.done() } else { t.gone() })
}
