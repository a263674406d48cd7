//! What each cleanup action will do, in words an approver can check.

use super::*;
use crate::domain::approval::{
    Action, Grantor, PolicyHoldings, RoleHoldings, UserCredential, UserHoldings,
};

/// Whom something is shared with or a policy lets in, `all` and `*` said as what they mean.
fn shared_with(with: &[String]) -> String {
    with.iter()
        .map(|w| {
            if w == "all" || w == "*" {
                format!("`{w}` (everyone)")
            } else {
                format!("`{}`", sanitize(w))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// "the trust policy of role `x`".
pub(super) fn grantor(on: &Grantor) -> String {
    match on {
        Grantor::RoleTrust { role } => format!("the trust policy of role `{}`", sanitize(role)),
        Grantor::BucketPolicy { bucket } => format!("the policy of bucket `{}`", sanitize(bucket)),
    }
}

/// What is left of the policy once the principals are out.
fn grant_left(after: Option<&str>) -> String {
    let Some(doc) = after.and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok()) else {
        return "the policy is deleted: no statement is left".into();
    };
    if doc == crate::domain::grant::trusts_no_one() {
        return "no one else was trusted, so the role will trust no one (assuming it is denied \
                to all)"
            .into();
    }
    let statements = doc
        .get("Statement")
        .and_then(|s| s.as_array())
        .map_or(0, Vec::len);
    format!(
        "{} kept unchanged",
        count(statements, "statement", "statements")
    )
}

pub(super) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// "detach 2 policies", or nothing when there are none.
fn part(n: usize, verb: &str, one: &str, many: &str) -> Option<String> {
    (n > 0).then(|| format!("{verb} {}", count(n, one, many)))
}

/// Joins the parts of a teardown that apply: ": detach 2 policies, remove from 1 group".
fn parts<const N: usize>(items: [Option<String>; N]) -> String {
    let kept: Vec<String> = items.into_iter().flatten().collect();
    if kept.is_empty() {
        String::new()
    } else {
        format!(": {}", kept.join(", "))
    }
}

fn user_parts(h: &UserHoldings) -> String {
    parts([
        part(h.managed_policies.len(), "detach", "policy", "policies"),
        part(
            h.inline_policies.len(),
            "delete",
            "inline policy",
            "inline policies",
        ),
        part(h.groups.len(), "remove from", "group", "groups"),
        h.login_profile
            .then(|| "delete its login profile".to_string()),
        part(h.access_keys.len(), "delete", "access key", "access keys"),
        part(h.mfa_devices.len(), "remove", "MFA device", "MFA devices"),
        part(
            h.ssh_keys.len(),
            "delete",
            "SSH public key",
            "SSH public keys",
        ),
        part(
            h.certificates.len(),
            "delete",
            "signing certificate",
            "signing certificates",
        ),
        part(
            h.service_credentials.len(),
            "delete",
            "service-specific credential",
            "service-specific credentials",
        ),
    ])
}

fn role_parts(h: &RoleHoldings) -> String {
    parts([
        part(h.managed_policies.len(), "detach", "policy", "policies"),
        part(
            h.inline_policies.len(),
            "delete",
            "inline policy",
            "inline policies",
        ),
        part(
            h.instance_profiles.len(),
            "remove it from",
            "instance profile",
            "instance profiles",
        ),
    ])
}

fn policy_parts(h: &PolicyHoldings) -> String {
    let attached = h.users.len() + h.roles.len() + h.groups.len();
    parts([
        part(
            attached,
            "detach it from",
            "user, role or group",
            "users, roles and groups",
        ),
        part(
            h.other_versions.len(),
            "delete",
            "older version",
            "older versions",
        ),
    ])
}

pub(super) fn code_list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{}`", sanitize(i)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Exactly what an action will do, in one line.
pub fn describe(a: &Action) -> String {
    match a {
        Action::DeleteAccessKey { account, user, key } => format!(
            "Delete access key `{key}` of user `{}` in account `{account}`",
            sanitize(user)
        ),
        Action::DeleteLoginProfile { account, user } => format!(
            "Delete the console password (login profile) of user `{}` in account `{account}`",
            sanitize(user)
        ),
        Action::DeleteUser {
            account,
            user,
            holds,
        } => format!(
            "Delete IAM user `{}` in account `{account}`{}",
            sanitize(user),
            user_parts(holds)
        ),
        Action::DeleteRole {
            account,
            role,
            holds,
        } => format!(
            "Delete IAM role `{}` in account `{account}`{}",
            sanitize(role),
            role_parts(holds)
        ),
        Action::DeletePolicy { arn, holds, .. } => format!(
            "Delete customer-managed policy `{}`{}",
            sanitize(arn),
            policy_parts(holds)
        ),
        Action::TerminateInstances {
            account,
            region,
            instance_ids,
            snapshot,
        } => format!(
            "Terminate {} in {region} of account `{account}`{}: {}",
            count(instance_ids.len(), "instance", "instances"),
            if *snapshot {
                ", each once a snapshot of its EBS volumes is taken"
            } else {
                ""
            },
            code_list(instance_ids)
        ),
        Action::DeleteFunction {
            account,
            region,
            name,
        } => format!(
            "Delete Lambda function `{}` in {region} of account `{account}`",
            sanitize(name)
        ),
        Action::RevokeIngress {
            account,
            region,
            group,
            rule,
        } => format!(
            "Revoke inbound rule `{}` of security group `{}` in {region} of account `{account}`",
            sanitize(rule),
            sanitize(group)
        ),
        Action::RemoveFunctionPermission {
            account,
            region,
            function,
            statement,
        } => format!(
            "Remove statement `{}` from the resource policy of Lambda function `{}` in {region} \
             of account `{account}`",
            sanitize(statement),
            sanitize(function)
        ),
        Action::Unshare {
            account,
            region,
            shared,
            with,
        } => format!(
            "Stop sharing {} `{}` in {region} of account `{account}` with {}",
            shared.kind_name(),
            sanitize(shared.id()),
            shared_with(with)
        ),
        Action::RemoveGrant {
            account,
            on,
            principals,
            after,
            ..
        } => format!(
            "Take {} out of {} in account `{account}`; {}",
            shared_with(principals),
            grantor(on),
            grant_left(after.as_deref())
        ),
        Action::BlockPublicAccess { account, bucket } => format!(
            "Block all public access to bucket `{}` in account `{account}` (all four settings \
             of its public access block on: public ACLs and policies refused and ignored)",
            sanitize(bucket)
        ),
        Action::DeleteUserCredential {
            account,
            user,
            credential,
        } => {
            let verb = match credential {
                UserCredential::MfaDevice { .. } => "Deactivate (and delete, if virtual)",
                UserCredential::SshKey { .. }
                | UserCredential::SigningCertificate { .. }
                | UserCredential::ServiceSpecific { .. } => "Delete",
            };
            format!(
                "{verb} {} `{}` of user `{}` in account `{account}`",
                credential.kind_name(),
                sanitize(credential.id()),
                sanitize(user)
            )
        }
        Action::ReactivateKey { account, user, key } => format!(
            "*Rollback:* reactivate access key `{key}` of user `{}` in account `{account}` — \
             the leaked key will work again",
            sanitize(user)
        ),
        Action::RemoveDenyAll {
            account,
            user,
            policy_name,
        } => format!(
            "*Rollback:* remove the deny-all `{}` from user `{}` in account `{account}` \
             (the session fence stays)",
            sanitize(policy_name),
            sanitize(user)
        ),
    }
}

/// The names behind the counts, so approvers see exactly what goes.
pub(super) fn details(a: &Action) -> String {
    let lines: Vec<(&str, &Vec<String>)> = match a {
        Action::DeleteUser { holds, .. } => vec![
            ("Policies", &holds.managed_policies),
            ("Inline policies", &holds.inline_policies),
            ("Groups", &holds.groups),
            ("Access keys", &holds.access_keys),
            ("MFA devices", &holds.mfa_devices),
            ("SSH public keys", &holds.ssh_keys),
            ("Signing certificates", &holds.certificates),
            ("Service-specific credentials", &holds.service_credentials),
        ],
        Action::DeleteRole { holds, .. } => vec![
            ("Policies", &holds.managed_policies),
            ("Inline policies", &holds.inline_policies),
            ("Instance profiles", &holds.instance_profiles),
        ],
        Action::DeletePolicy { holds, .. } => vec![
            ("Users", &holds.users),
            ("Roles", &holds.roles),
            ("Groups", &holds.groups),
            ("Older versions", &holds.other_versions),
        ],
        Action::DeleteAccessKey { .. }
        | Action::DeleteLoginProfile { .. }
        | Action::TerminateInstances { .. }
        | Action::DeleteFunction { .. }
        | Action::DeleteUserCredential { .. }
        | Action::Unshare { .. }
        | Action::RemoveFunctionPermission { .. }
        | Action::RevokeIngress { .. }
        | Action::RemoveGrant { .. }
        | Action::BlockPublicAccess { .. }
        | Action::ReactivateKey { .. }
        | Action::RemoveDenyAll { .. } => vec![],
    };
    let mut text: Vec<String> = lines
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(label, v)| format!("*{label}:* {}", code_list(v)))
        .collect();
    let calls: Vec<String> = a.calls().into_iter().map(str::to_string).collect();
    text.push(format!("*AWS calls:* {}", code_list(&calls)));
    text.join("\n")
}
