//! The ASIA playbook's step replies: who issued the key, whose sessions were denied, and
//! where the key that minted it is being contained.

use super::*;
use crate::domain::incident::{Issuer, KeyOrigin};

fn issuer(i: &Issuer) -> String {
    match i {
        Issuer::Role { arn, .. } => format!("role `{}`", sanitize(arn)),
        Issuer::User { name, account } => {
            format!("IAM user `{}` of account `{account}`", sanitize(name))
        }
    }
}

pub(super) fn origin(i: &Incident, o: &KeyOrigin) -> String {
    let session = match &o.issuer {
        Issuer::Role { .. } => format!("a session of {}", issuer(&o.issuer)),
        Issuer::User { .. } => format!("a temporary session of {}", issuer(&o.issuer)),
    };
    let Some(e) = &o.event else {
        return format!(
            ":mag: `{}` is {session}, as its own calls show. CloudTrail no longer holds the call that \
             minted it, so the key behind it is unknown.",
            i.key
        );
    };
    let caller = match (&e.parent_key, &e.caller_account) {
        (Some(k), Some(a)) => format!(", called with `{}` of account `{a}`", sanitize(k)),
        (Some(k), None) => format!(", called with `{}`", sanitize(k)),
        _ => String::new(),
    };
    let from = e
        .source_ip
        .as_deref()
        .map(|ip| format!(" from `{}`", sanitize(ip)))
        .unwrap_or_default();
    format!(
        ":mag: `{}` is {session}: minted by `{}` at {} in {}{from}{caller} (event `{}`).",
        i.key,
        sanitize(&e.name),
        when(e.at),
        e.region,
        sanitize(&e.event_id)
    )
}

pub(super) fn fenced(
    i: &Incident,
    who: &Issuer,
    policy_name: &str,
    managed_policy_arn: Option<&str>,
) -> String {
    let placement = match managed_policy_arn {
        None => "as an inline policy".to_string(),
        Some(arn) => format!("as managed policy `{arn}` (the inline policy budget was full)"),
    };
    let what = match who {
        Issuer::Role { .. } => format!(
            "Every session of the role issued before {} is denied, `{}` among them. Sessions issued \
             later are not affected: whoever can still assume the role can get new ones.",
            when(i.fence_time),
            i.key
        ),
        Issuer::User { .. } => format!(
            "Every GetSessionToken/GetFederationToken session of the user issued before {} is denied, \
             `{}` among them. It stays after restore.",
            when(i.fence_time),
            i.key
        ),
    };
    format!(
        ":shield: Put `{policy_name}` on {} {placement}. {what}",
        issuer(who)
    )
}

pub(super) fn parent_queued(i: &Incident, key: &str, incident: &str) -> String {
    let onward = if key.starts_with("ASIA") {
        " That key is temporary too: its incident follows it to its own issuer."
    } else {
        ""
    };
    format!(
        ":link: `{}` was minted with `{}`; its containment runs as *{incident}*.{onward}",
        i.key,
        sanitize(key)
    )
}

pub(super) fn no_parent(i: &Incident) -> String {
    format!(
        ":information_source: No access key is known to have minted `{}`: it came from SAML or web \
         identity federation, or CloudTrail no longer shows the call. Review who may assume the \
         issuer (its trust policy) and what federates into it.",
        i.key
    )
}

pub(super) fn service_linked(i: &Incident) -> String {
    format!(
        ":sos: `{}` is a session of a *service-linked role*. AWS lets no one put a policy on such a \
         role, so keyleak *cannot* end its sessions.\n*Do now:* stop or delete the resource that uses \
         the role (its service's console names it), or ask AWS Support; then find and contain whatever \
         created that resource.",
        i.key
    )
}

pub(super) fn identity_center(i: &Incident) -> String {
    format!(
        ":sos: `{}` is a session of an *IAM Identity Center* role. Identity Center owns these roles, so \
         keyleak cannot fence them.\n*Do now:* IAM Identity Center → Users → the user → *Active \
         sessions* → revoke; remove the permission set assignment if the user is compromised, and \
         reset their credentials and MFA.",
        i.key
    )
}

/// The private follow-up when a temporary key's issuer was fenced.
pub(super) fn contained(i: &Incident, secs: f64) -> String {
    format!(
        ":lock: *{}* contained in {secs:.1} s: the issuer's sessions from before the incident are \
         denied, `{}` among them. Details in the incident thread.",
        i.id, i.key
    )
}
