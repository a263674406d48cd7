//! Every credential of the key's user, on the card and in the report, and what containment's
//! deny-all does and does not stop.

use super::*;
use crate::domain::credentials::{
    Credential, OtherCredentials, OtherKind, ServiceCredential, is_bedrock_key,
};
use crate::domain::incident::{KeySnapshot, UserSnapshot};

/// At most this many of one kind are named; the rest are counted.
const NAMED: usize = 5;

/// The card's section: each kind of credential with its state, as the snapshot before any
/// change recorded it, and what the deny-all covers in the incident's state.
pub(super) fn section(i: &Incident, snap: &UserSnapshot, deny_all_on: bool) -> String {
    let o = &snap.other;
    let mut lines = vec![format!(
        "*Every credential of `{}`* (before any change):",
        sanitize(&snap.user_name)
    )];
    lines.push(format!(
        "• Access keys: {}",
        named(&snap.access_keys, |k| access_key(i, k))
    ));
    lines.push(format!("• Console password: {}", password(snap, o)));
    lines.push(format!(
        "• MFA devices: {}",
        match snap.mfa_devices.len() {
            0 => "none".to_string(),
            n => n.to_string(),
        }
    ));
    let listed = |kind: OtherKind, shown: String| match o.unlisted(kind) {
        Some(why) => format!(":warning: not listed by IAM ({})", sanitize(why)),
        None => shown,
    };
    lines.push(format!(
        "• SSH public keys: {}",
        listed(OtherKind::SshKeys, named(&o.ssh_keys, credential))
    ));
    lines.push(format!(
        "• Service-specific credentials: {}",
        listed(OtherKind::Service, named(&o.service, service))
    ));
    lines.push(format!(
        "• Signing certificates: {}",
        listed(OtherKind::Certificates, named(&o.certificates, credential))
    ));
    let removable = !snap.mfa_devices.is_empty()
        || !o.ssh_keys.is_empty()
        || !o.certificates.is_empty()
        || !o.service.is_empty();
    if removable {
        lines.push(format!(
            "Remove one with `/keyleak cleanup {} delete-ssh-key | delete-signing-certificate | \
             delete-service-credential | remove-mfa {} <id>` (the report gives each command).",
            i.id,
            sanitize(&snap.user_name)
        ));
    }
    lines.push(coverage(i, snap, deny_all_on));
    lines.join("\n")
}

/// A count for the snapshot's reply, or "not listed" where IAM would not say.
pub(super) fn how_many(o: &OtherCredentials, kind: OtherKind, n: usize) -> String {
    match o.unlisted(kind) {
        Some(_) => "not listed".into(),
        None => n.to_string(),
    }
}

fn named<T>(items: &[T], show: impl Fn(&T) -> String) -> String {
    if items.is_empty() {
        return "none".into();
    }
    let mut shown: Vec<String> = items.iter().take(NAMED).map(show).collect();
    if items.len() > NAMED {
        shown.push(format!("and {} more", items.len() - NAMED));
    }
    shown.join(", ")
}

fn state(active: bool) -> &'static str {
    if active { "active" } else { "inactive" }
}

fn access_key(i: &Incident, k: &KeySnapshot) -> String {
    let leaked = if k.id == i.key.as_str() {
        " (the leaked key)"
    } else {
        ""
    };
    format!("`{}` {}{leaked}", k.id, state(k.active))
}

fn password(snap: &UserSnapshot, o: &OtherCredentials) -> String {
    match (snap.has_login_profile, o.password_last_used) {
        (false, _) => "none".into(),
        (true, Some(t)) => format!("yes, last used {}", when(t)),
        (true, None) => "yes, never used".into(),
    }
}

fn credential(c: &Credential) -> String {
    let since = c
        .uploaded
        .map(|t| format!(", uploaded {}", when(t)))
        .unwrap_or_default();
    format!("`{}` {}{since}", sanitize(&c.id), state(c.active))
}

fn service(c: &ServiceCredential) -> String {
    let what = if is_bedrock_key(c) {
        "Bedrock API key".to_string()
    } else {
        format!("for {}", sanitize(&c.service))
    };
    let expires = c
        .expires
        .map(|t| format!(", expires {}", when(t)))
        .unwrap_or_default();
    format!(
        "`{}` {what} as `{}`, {}{expires}",
        sanitize(&c.id),
        sanitize(&c.name),
        state(c.active)
    )
}

/// Every credential above is checked against the user's policies at each use, so the
/// deny-all stops them all; sessions of roles the key assumed act as the role instead.
fn coverage(i: &Incident, snap: &UserSnapshot, deny_all_on: bool) -> String {
    let user = sanitize(&snap.user_name);
    if deny_all_on {
        format!(
            ":shield: The deny-all on `{user}` stops every one of them: IAM checks the user's \
             policies at each use, a console session already open and Git included. It does \
             not stop sessions of roles the key assumed (they act as the role: forensics fences \
             each) nor what the key created (cleanup removes it)."
        )
    } else if i.state == IncidentState::Triage {
        format!(
            "Containing puts a deny-all on `{user}`, which stops every one of them: IAM checks \
             the user's policies at each use."
        )
    } else {
        format!("Until the deny-all is on `{user}`, each of them still works.")
    }
}

/// One row per credential for the report: kind, id, state, what else is known, and the
/// command that proposes removing it. Plain text: the report escapes it for its table.
pub(super) fn rows(i: &Incident, snap: &UserSnapshot) -> Vec<[String; 5]> {
    let o = &snap.other;
    let user = &snap.user_name;
    let remove = |how: &str, id: &str| format!("/keyleak cleanup {} {how} {user} {id}", i.id);
    let mut rows: Vec<[String; 5]> = snap
        .access_keys
        .iter()
        .map(|k| {
            let (detail, command) = if k.id == i.key.as_str() {
                ("the leaked key", format!("/keyleak cleanup {}", i.id))
            } else {
                ("", format!("/keyleak cleanup {} delete-key {}", i.id, k.id))
            };
            row("access key", &k.id, k.active, detail.to_string(), command)
        })
        .collect();
    if snap.has_login_profile {
        let last = o.password_last_used.map_or("never used".to_string(), |t| {
            format!("last used {}", when(t))
        });
        let command = format!("/keyleak cleanup {} delete-login-profile {user}", i.id);
        rows.push(row("console password", "", true, last, command));
    }
    for m in &snap.mfa_devices {
        rows.push(row(
            "MFA device",
            m,
            true,
            String::new(),
            remove("remove-mfa", m),
        ));
    }
    for c in &o.ssh_keys {
        let command = remove("delete-ssh-key", &c.id);
        rows.push(row("SSH public key", &c.id, c.active, uploaded(c), command));
    }
    for c in &o.service {
        let mut detail = format!("{} as {}", c.service, c.name);
        if let Some(t) = c.expires {
            detail.push_str(&format!(", expires {}", when(t)));
        }
        let kind = if is_bedrock_key(c) {
            "Bedrock API key"
        } else {
            "service-specific credential"
        };
        let command = remove("delete-service-credential", &c.id);
        rows.push(row(kind, &c.id, c.active, detail, command));
    }
    for c in &o.certificates {
        let command = remove("delete-signing-certificate", &c.id);
        rows.push(row(
            "signing certificate",
            &c.id,
            c.active,
            uploaded(c),
            command,
        ));
    }
    for u in &o.unlisted {
        let kind = match u.kind {
            OtherKind::SshKeys => "SSH public keys",
            OtherKind::Certificates => "signing certificates",
            OtherKind::Service => "service-specific credentials",
        };
        rows.push([
            kind.into(),
            String::new(),
            "not listed".into(),
            u.why.clone(),
            String::new(),
        ]);
    }
    rows
}

fn row(kind: &str, id: &str, active: bool, detail: String, command: String) -> [String; 5] {
    [
        kind.into(),
        id.into(),
        state(active).into(),
        detail,
        command,
    ]
}

fn uploaded(c: &Credential) -> String {
    c.uploaded
        .map(|t| format!("uploaded {}", when(t)))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::super::tests::{incident, snapshot, t};
    use super::*;
    use crate::domain::credentials::Unlisted;

    /// A user with one of each kind, and a kind IAM would not list: the card in triage, while
    /// containing (before the deny-all), and contained.
    #[test]
    fn every_credential_and_what_the_deny_all_covers() {
        let mut snap = snapshot();
        snap.has_login_profile = true;
        snap.mfa_devices = vec!["arn:aws:iam::111111111111:mfa/ci-deploy".into()];
        snap.other = OtherCredentials {
            password_last_used: Some(t(0, 0) - chrono::Duration::days(2)),
            ssh_keys: vec![Credential {
                id: "APKAEIBAERJR2EXAMPLE".into(),
                active: true,
                uploaded: Some(t(0, 0) - chrono::Duration::days(300)),
            }],
            certificates: vec![],
            service: vec![ServiceCredential {
                id: "ACCAQFODXMPL4YFHP7DZE".into(),
                service: "bedrock.amazonaws.com".into(),
                name: "BedrockAPIKey-ci-deploy+1-at-111111111111".into(),
                active: true,
                created: None,
                expires: Some(t(0, 0) + chrono::Duration::days(30)),
            }],
            unlisted: vec![Unlisted {
                kind: OtherKind::Certificates,
                why: "access denied: not authorized to perform iam:ListSigningCertificates".into(),
            }],
        };
        let shown: Vec<String> = [
            (IncidentState::Triage, false),
            (IncidentState::Containing, false),
            (IncidentState::Contained, true),
        ]
        .into_iter()
        .map(|(state, deny_all_on)| section(&incident(state), &snap, deny_all_on))
        .collect();
        insta::assert_snapshot!(shown.join("\n---\n"));
    }
}
