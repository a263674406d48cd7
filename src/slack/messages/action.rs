//! What each cleanup action will do, in words an approver can check.

use super::*;
use crate::domain::approval::{Action, PolicyHoldings, RoleHoldings, UserHoldings};

pub(super) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Joins the non-empty parts of a teardown: "detach 2 policies, remove from 1 group".
fn parts(items: Vec<(usize, String)>) -> String {
    let kept: Vec<String> = items
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(_, s)| s)
        .collect();
    if kept.is_empty() {
        String::new()
    } else {
        format!(": {}", kept.join(", "))
    }
}

fn user_parts(h: &UserHoldings) -> String {
    parts(vec![
        (
            h.managed_policies.len(),
            format!(
                "detach {}",
                count(h.managed_policies.len(), "policy", "policies")
            ),
        ),
        (
            h.inline_policies.len(),
            format!(
                "delete {}",
                count(h.inline_policies.len(), "inline policy", "inline policies")
            ),
        ),
        (
            h.groups.len(),
            format!("remove from {}", count(h.groups.len(), "group", "groups")),
        ),
        (
            usize::from(h.login_profile),
            "delete its login profile".into(),
        ),
        (
            h.access_keys.len(),
            format!(
                "delete {}",
                count(h.access_keys.len(), "access key", "access keys")
            ),
        ),
        (
            h.mfa_devices.len(),
            format!(
                "remove {}",
                count(h.mfa_devices.len(), "MFA device", "MFA devices")
            ),
        ),
    ])
}

fn role_parts(h: &RoleHoldings) -> String {
    parts(vec![
        (
            h.managed_policies.len(),
            format!(
                "detach {}",
                count(h.managed_policies.len(), "policy", "policies")
            ),
        ),
        (
            h.inline_policies.len(),
            format!(
                "delete {}",
                count(h.inline_policies.len(), "inline policy", "inline policies")
            ),
        ),
        (
            h.instance_profiles.len(),
            format!(
                "remove it from {}",
                count(
                    h.instance_profiles.len(),
                    "instance profile",
                    "instance profiles"
                )
            ),
        ),
    ])
}

fn policy_parts(h: &PolicyHoldings) -> String {
    let attached = h.users.len() + h.roles.len() + h.groups.len();
    parts(vec![
        (
            attached,
            format!(
                "detach it from {}",
                count(attached, "user, role or group", "users, roles and groups")
            ),
        ),
        (
            h.other_versions.len(),
            format!(
                "delete {}",
                count(h.other_versions.len(), "older version", "older versions")
            ),
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
        } => format!(
            "Terminate {} in {region} of account `{account}`: {}",
            count(instance_ids.len(), "instance", "instances"),
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
pub(super) fn details(a: &Action) -> Option<String> {
    let lines: Vec<(&str, &Vec<String>)> = match a {
        Action::DeleteUser { holds, .. } => vec![
            ("Policies", &holds.managed_policies),
            ("Inline policies", &holds.inline_policies),
            ("Groups", &holds.groups),
            ("Access keys", &holds.access_keys),
            ("MFA devices", &holds.mfa_devices),
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
        _ => vec![],
    };
    let text: Vec<String> = lines
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(label, v)| format!("*{label}:* {}", code_list(v)))
        .collect();
    (!text.is_empty()).then(|| text.join("\n"))
}
