//! The incident message and its threaded step replies, and the CLI's dry-run plan.

use super::temporary;
use super::*;
use crate::domain::cleanup::Target;
use crate::domain::command::{Command, StatusTarget};
use crate::domain::credentials::OtherKind;
use crate::domain::ids::{AccountId, IncidentId, KeyKind};
use crate::domain::incident::{KeyUsage, UserSnapshot, milestones};
use crate::domain::signal::Hold;
use crate::domain::verbs::{Verb, allowed};

/// The incident message: posted once, then edited in place as steps complete.
pub fn incident_card(i: &Incident, steps: &[StepRecord]) -> Reply {
    let header = format!(
        "{} *Leaked key incident {}* — {}",
        state_emoji(i.state),
        i.id,
        state_label(i.state)
    );
    let mut facts = vec![format!("*Key:* `{}`", i.key)];
    let secs = seconds_to_contain(i);
    if let Some(a) = &i.account {
        facts.push(format!("*Account:* `{a}`"));
    }
    if let Some(u) = &i.user_name {
        facts.push(format!("*User:* `{u}`"));
    }
    facts.push(format!("*Requested by:* {}", requester(i)));
    if let Some(r) = &i.reason {
        facts.push(format!("*Reason:* {}", sanitize(r)));
    }
    facts.push(format!("*Opened:* {}", when(i.opened_at)));
    if let Some(previous) = &i.follows {
        facts.push(format!("*Follows:* {previous} (closed)"));
    }
    if let Some(t) = i.contained_at {
        facts.push(format!(
            "*Contained:* {} ({secs:.1} s after the request)",
            when(t)
        ));
    }
    if let Some(times) = times_line(i, steps) {
        facts.push(times);
    }
    if let Some(t) = i.late_activity {
        facts.push(format!(
            ":rotating_light: *Activity after containment* since {} — see the thread",
            when(t)
        ));
    }
    let checklist: Vec<String> = StepKind::playbook(i.key.kind())
        .iter()
        .map(|k| {
            let rec = steps.iter().find(|s| s.kind == *k);
            let mark = match rec.map(|r| (r.status, &r.fact)) {
                None => ":white_medium_square:",
                Some((_, StepFact::Escalated(_))) => ":sos:",
                Some((StepStatus::Done, _)) => ":white_check_mark:",
                Some((StepStatus::Failed, _)) => ":x:",
            };
            format!("{mark} {}", step_title(*k))
        })
        .collect();
    let text = format!("{header}\n{}", facts.join(" · "));
    let mut blocks = vec![section(&header), section(&facts.join("\n"))];
    if !i.signals.is_empty() {
        blocks.push(section(&super::signal::evidence(&i.signals)));
    }
    if let Some(why) = hold_line(i) {
        blocks.push(section(&why));
    }
    blocks.push(section(&checklist.join("\n")));
    let snapshot = steps.iter().find_map(|s| match &s.fact {
        StepFact::Snapshot(snap) => Some(snap),
        _ => None,
    });
    if let Some(snap) = snapshot {
        let deny_all_on = steps
            .iter()
            .any(|s| s.kind == StepKind::DenyAll && s.status == StepStatus::Done);
        blocks.push(section(&super::credentials::section(i, snap, deny_all_on)));
    }
    if let Some(r) = &i.reach {
        blocks.push(section(&super::reach::card_line(r)));
    }
    blocks.push(context(if i.state == IncidentState::Triage {
        "Triage: the owner, last use and forensics are gathered, and nothing is changed until \
         someone presses Contain. Each step is detailed in this thread."
    } else {
        "Each step is detailed in this thread with its AWS request id."
    }));
    let buttons = card_buttons(i);
    if !buttons.is_empty() {
        blocks.push(SlackActionsBlock::new(buttons).into());
    }
    Reply { blocks, text }
}

/// When a signal opened the incident: what came first, and each milestone since.
fn times_line(i: &Incident, steps: &[StepRecord]) -> Option<String> {
    let m = milestones(i, steps);
    let (first, source) = m.first_signal?;
    let mut parts = vec![format!(
        "first signal {} ({})",
        when(first),
        super::signal::source_name(source)
    )];
    let after = |t: DateTime<Utc>| {
        let s = (t - first).num_milliseconds() as f64 / 1000.0;
        format!("{} (+{s:.1} s)", when(t))
    };
    if let Some(t) = m.exposed {
        parts.push(format!("exposed {}", when(t)));
    }
    for (name, at) in [
        ("containment started", m.containment_started),
        ("key inactive", m.key_inactive),
        ("sessions fenced", m.sessions_fenced),
    ] {
        if let Some(t) = at {
            parts.push(format!("{name} {}", after(t)));
        }
    }
    Some(format!("*Times:* {}", parts.join(" · ")))
}

/// Why the signals did not contain the key on their own, while the incident is in triage.
fn hold_line(i: &Incident) -> Option<String> {
    if i.state != IncidentState::Triage {
        return None;
    }
    let why = match i.hold.as_ref()? {
        Hold::Pending => return None,
        Hold::PolicyOff => "`KEYLEAK_AUTO_CONTAIN` is `off`: a person decides".to_string(),
        Hold::OnlyConfirmed => {
            "only confirmed exposures contain on their own (`KEYLEAK_AUTO_CONTAIN=confirmed`), \
             and this is a suspicion"
                .to_string()
        }
        Hold::BelowSeverity { severity, minimum } => format!(
            "its severity {severity:.1} is below `KEYLEAK_AUTO_CONTAIN_MIN_SEVERITY` ({minimum:.1})"
        ),
        Hold::Excepted { exception } => format!(
            "{} is on `KEYLEAK_AUTO_CONTAIN_EXCEPT` (a break-glass or honeytoken identity)",
            sanitize(&exception.to_string())
        ),
        Hold::WhichKey { active_keys } => format!(
            "AWS quarantined the user, not a key, and {} has {active_keys} active keys: which \
             one is exposed is not known, so each has an incident of its own to contain or dismiss",
            i.user_name
                .as_deref()
                .map_or("it".to_string(), |u| format!("`{u}`"))
        ),
    };
    Some(format!(
        ":pause_button: *Not contained automatically:* {why}."
    ))
}

/// The card's buttons, each the same as a command on the incident.
pub const CONTAIN: &str = "incident.contain";
pub const DISMISS: &str = "incident.dismiss";
pub const INVESTIGATE: &str = "incident.investigate";
pub const PROPOSE_CLEANUP: &str = "incident.cleanup";
pub const REPORT: &str = "incident.report";
pub const RESTORE: &str = "incident.restore";
pub const CLOSE: &str = "incident.close";

/// What the card's cleanup button proposes.
const CARD_CLEANUP: Target = Target::LeakedKey;

/// What the card's Dismiss menu offers: the value it sends, and the reason kept.
const DISMISS_REASONS: [(&str, &str); 3] = [
    (
        "false_positive",
        "A false positive: the key was never exposed",
    ),
    (
        "honeytoken",
        "A honeytoken: a decoy key, expected to be used",
    ),
    ("owner", "Its owner's own use, confirmed with them"),
];

/// The command a card button (or menu) stands for, from its action id and value: an
/// incident id, a key id for Contain, `KL-…|reason` for Dismiss.
pub fn card_command(action_id: &str, value: &str) -> Option<Command> {
    match action_id {
        CONTAIN => {
            let key = AccessKeyId::parse(value).ok()?;
            return Some(Command::Contain { key, reason: None });
        }
        DISMISS => {
            let (id, code) = value.split_once('|')?;
            let (_, reason) = DISMISS_REASONS.iter().find(|(c, _)| *c == code)?;
            return Some(Command::Dismiss {
                incident: IncidentId::parse(id).ok()?,
                reason: (*reason).to_string(),
            });
        }
        _ => {}
    }
    let incident = IncidentId::parse(value).ok()?;
    Some(match action_id {
        INVESTIGATE => Command::Investigate {
            target: StatusTarget::Incident(incident),
            days: None,
        },
        PROPOSE_CLEANUP => Command::Cleanup {
            incident,
            target: CARD_CLEANUP,
        },
        REPORT => Command::Report { incident },
        RESTORE => Command::Restore {
            incident,
            new_key: false,
        },
        CLOSE => Command::Close { incident },
        _ => return None,
    })
}

/// The card's button for each verb: its label and action id.
pub(super) fn button_of(verb: Verb) -> (&'static str, &'static str) {
    match verb {
        Verb::Contain => ("Contain", CONTAIN),
        Verb::Dismiss => ("Dismiss…", DISMISS),
        Verb::Investigate => ("Investigate", INVESTIGATE),
        Verb::Cleanup => ("Propose cleanup", PROPOSE_CLEANUP),
        Verb::Restore => ("Restore", RESTORE),
        Verb::Report => ("Report", REPORT),
        Verb::Close => ("Close", CLOSE),
    }
}

/// A button for each verb the table allows in the incident's state. The cleanup button
/// proposes deleting the leaked key, so it is offered only where that target applies and
/// containment found the key's IAM user (a root key has none).
pub(super) fn card_buttons(i: &Incident) -> Vec<SlackActionBlockElement> {
    let kind = i.key.kind();
    Verb::ALL
        .into_iter()
        .filter(|v| allowed(*v, i.state, kind).is_ok())
        .filter(|v| *v != Verb::Cleanup || card_cleans_up(i))
        .map(|v| {
            let (label, action) = button_of(v);
            let button = SlackBlockButtonElement::new(pt!(label)).with_action_id(action.into());
            match v {
                Verb::Dismiss => dismiss_menu(i),
                Verb::Close => button
                    .with_value(i.id.to_string())
                    .with_confirm(close_confirm())
                    .into(),
                Verb::Contain => button
                    .with_value(i.key.to_string())
                    .with_style(SlackBlockButtonStyle::Danger)
                    .with_confirm(contain_confirm(i))
                    .into(),
                Verb::Investigate | Verb::Cleanup | Verb::Restore | Verb::Report => {
                    button.with_value(i.id.to_string()).into()
                }
            }
        })
        .collect()
}

/// Dismissing needs a reason: a menu of the usual ones (any other through
/// `/keyleak dismiss`), confirmed before it is sent.
fn dismiss_menu(i: &Incident) -> SlackActionBlockElement {
    let options = DISMISS_REASONS
        .iter()
        .map(|(code, label)| SlackBlockChoiceItem::new(pt!(*label), format!("{}|{code}", i.id)))
        .collect();
    SlackBlockStaticSelectElement::new()
        .with_action_id(DISMISS.into())
        .with_placeholder(pt!("Dismiss…"))
        .with_options(options)
        .with_confirm(SlackBlockConfirmItem::new(
            pt!("Dismiss this incident?"),
            SlackBlockText::MarkDown(SlackBlockMarkDownText::new(format!(
                "`{}` stays as it is, and the incident is closed with the reason you picked. \
                 Another signal about the key opens a new incident.",
                i.key
            ))),
            pt!("Dismiss it"),
            pt!("Keep it open"),
        ))
        .into()
}

fn contain_confirm(i: &Incident) -> SlackBlockConfirmItem {
    let user = i
        .user_name
        .as_deref()
        .map(|u| format!("`{u}`"))
        .unwrap_or_else(|| "its user".into());
    SlackBlockConfirmItem::new(
        pt!("Contain this key?"),
        SlackBlockText::MarkDown(SlackBlockMarkDownText::new(format!(
            "`{}` is set Inactive and {user} gets the deny-all and the session fence: whatever \
             uses the key stops working. Rollback and restore undo it, with approval.",
            i.key
        ))),
        pt!("Contain it"),
        pt!("Not yet"),
    )
}

pub(super) fn card_cleans_up(i: &Incident) -> bool {
    CARD_CLEANUP.applies_to(i.key.kind()) && i.user_name.is_some()
}

fn close_confirm() -> SlackBlockConfirmItem {
    SlackBlockConfirmItem::new(
        pt!("Close this incident?"),
        SlackBlockText::MarkDown(SlackBlockMarkDownText::new(
            "Monitoring ends. Nothing in AWS or Slack is deleted or archived; the record stays."
                .into(),
        )),
        pt!("Close it"),
        pt!("Keep it open"),
    )
}

pub(super) fn requester(i: &Incident) -> String {
    actor(&i.requested_by)
}

pub fn step_title(k: StepKind) -> &'static str {
    match k {
        StepKind::LocateAccount => "Owning account found",
        StepKind::LastUsed => "Owner and last use",
        StepKind::Snapshot => "Pre-incident snapshot",
        StepKind::DeactivateKey => "Key deactivated",
        StepKind::DenyAll => "Deny-all policy on the user",
        StepKind::SessionFence => "Session fence on the user",
        StepKind::QuarantineCheck => "AWS quarantine policy",
        StepKind::FindOrigin => "Issuer found in CloudTrail",
        StepKind::FenceSessions => "Issuer's older sessions denied",
        StepKind::ContainParent => "Key that minted it",
    }
}

/// One threaded reply per step: what was done, to what, when, with the AWS request id.
pub fn step_reply(i: &Incident, s: &StepRecord) -> Reply {
    let body = step_body(i, s);
    let title = match s.fact {
        StepFact::Escalated(_) | StepFact::Unreachable { .. } => "Needs a person",
        _ => step_title(s.kind),
    };
    let mut meta = format!("{title} · {}", when(s.finished_at));
    if let Some(r) = &s.request_id {
        meta.push_str(&format!(" · AWS request id `{r}`"));
    }
    Reply {
        text: format!("{title}: {body}"),
        blocks: vec![section(&body), context(&meta)],
    }
}

fn step_body(i: &Incident, s: &StepRecord) -> String {
    let key = &i.key;
    match &s.fact {
        StepFact::Located {
            account,
            own_account,
        } => {
            let how = if *own_account {
                "keyleak's own account"
            } else {
                "reached through the responder role"
            };
            format!(":mag: `{key}` belongs to account `{account}` ({how}).")
        }
        StepFact::LastUsed(u) => {
            let user = u.user_name.as_deref().unwrap_or("the root user");
            match u.last_used {
                Some(t) => format!(
                    ":bust_in_silhouette: Owner: IAM user `{user}`. Last used {} with {} in {}.",
                    when(t),
                    u.service.as_deref().unwrap_or("an unknown service"),
                    u.region.as_deref().unwrap_or("an unknown region")
                ),
                None => format!(
                    ":bust_in_silhouette: Owner: IAM user `{user}`. AWS has no record of the key being used."
                ),
            }
        }
        StepFact::Snapshot(snap) => {
            let keys: Vec<String> = snap
                .access_keys
                .iter()
                .map(|k| format!("`{}` {}", k.id, if k.active { "active" } else { "inactive" }))
                .collect();
            let o = &snap.other;
            format!(
                ":camera: Recorded `{}` before any change — keys: {} · inline policies: {} · \
                 attached policies: {} · groups: {} · console password: {} · MFA devices: {} · \
                 SSH keys: {} · service-specific credentials: {} · signing certificates: {}. \
                 Restore and rollback use this record; the card lists every credential.",
                snap.user_name,
                keys.join(", "),
                snap.inline_policies.len(),
                snap.attached_policies.len(),
                if snap.groups.is_empty() { "none".to_string() } else { snap.groups.join(", ") },
                if snap.has_login_profile { "yes" } else { "no" },
                snap.mfa_devices.len(),
                super::credentials::how_many(o, OtherKind::SshKeys, o.ssh_keys.len()),
                super::credentials::how_many(o, OtherKind::Service, o.service.len()),
                super::credentials::how_many(o, OtherKind::Certificates, o.certificates.len())
            )
        }
        StepFact::KeyDeactivated {
            user_name,
            other_keys_untouched,
        } => {
            let others = if other_keys_untouched.is_empty() {
                "The user has no other key.".to_string()
            } else {
                format!(
                    "Left untouched: {}.",
                    other_keys_untouched
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            format!(
                ":no_entry: Set `{key}` of `{user_name}` to *Inactive* (reversible; nothing deleted). {others} \
                 IAM takes a few seconds to apply this everywhere; the deny policies cover that gap."
            )
        }
        StepFact::DenyAttached {
            user_name,
            policy_name,
            managed_policy_arn,
        } => {
            let placement = match managed_policy_arn {
                None => "as an inline policy".to_string(),
                Some(arn) => format!(
                    "as managed policy `{arn}` (the user's inline policy budget was full)"
                ),
            };
            let what = match s.kind {
                StepKind::SessionFence => format!(
                    "Denies every request signed with temporary credentials issued before {} — the sessions \
                     this key minted with GetSessionToken/GetFederationToken. It stays after restore.",
                    when(i.fence_time)
                ),
                _ => "Denies every action to the user, its key and its sessions. Removed on restore, \
                      with approval."
                    .to_string(),
            };
            format!(":shield: Put `{policy_name}` on `{user_name}` {placement}. {what}")
        }
        StepFact::Quarantine { policies } if policies.is_empty() => {
            ":information_source: AWS has not attached an `AWSCompromisedKeyQuarantine` policy to this user."
                .to_string()
        }
        StepFact::Quarantine { policies } => format!(
            ":information_source: AWS already attached {} — AWS found this key exposed. \
             keyleak leaves it in place; it is a targeted deny list, not a deny-all.",
            policies
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        StepFact::Escalated(e) => escalation(i, *e),
        StepFact::Origin(o) => temporary::origin(i, o),
        StepFact::SessionsFenced {
            issuer,
            policy_name,
            managed_policy_arn,
        } => temporary::fenced(i, issuer, policy_name, managed_policy_arn.as_deref()),
        StepFact::ParentQueued { key, incident } => temporary::parent_queued(i, key, incident),
        StepFact::NoParent => temporary::no_parent(i),
        StepFact::UnknownKey => unknown_key(i),
        StepFact::Unreachable {
            account,
            role_refused,
        } => unreachable_account(i, account, role_refused.as_deref()),
        StepFact::Failed { error } => format!(
            ":x: Failed: {}\nRun `/keyleak contain {key}` again to retry the steps that did not complete.",
            sanitize(error)
        ),
    }
}

fn escalation(i: &Incident, e: Escalation) -> String {
    let account = i
        .account
        .as_ref()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "the owning account".into());
    match e {
        Escalation::RootKey => format!(
            ":sos: `{}` is an access key of the *root user* of account `{account}`. IAM policies never \
             restrict root, so keyleak *cannot* contain it and did not pretend to.\n*Do now:*\n\
             1. Sign in as root → Security credentials → deactivate, then delete, this key.\n\
             2. If the account is an Organizations member with centralized root access: from the management \
             account, `aws sts assume-root --target-principal {account} --task-policy-arn \
             arn=arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials`, then delete the root access key.\n\
             3. Meanwhile, for a member account, an SCP denying `*` to `arn:aws:iam::*:root` stops the key.",
            i.key
        ),
        Escalation::TemporaryKey => format!(
            ":sos: `{}` is a *temporary* (STS) key: it cannot be deactivated, and it keeps working until it \
             expires (up to 36 h for GetSessionToken/GetFederationToken, up to the role's maximum session \
             duration for AssumeRole). keyleak searched CloudTrail in every region of account `{account}` \
             and found neither the call that minted it nor any call made with it.\n*Do now:* look for the \
             GetSessionToken, GetFederationToken or AssumeRole event whose response holds this key id (in \
             the other accounts you own, or in your CloudTrail archive) and fence that principal — for a \
             role, IAM console → Roles → the role → *Revoke active sessions*; for a user, contain the \
             user's long-term key with `/keyleak contain AKIA…`.",
            i.key
        ),
        Escalation::ServiceLinkedRole => temporary::service_linked(i),
        Escalation::IdentityCenterRole => temporary::identity_center(i),
    }
}

/// `keyleak contain --dry-run`: what containment would do, changing nothing.
pub fn plan(
    key: &AccessKeyId,
    account: &AccountId,
    usage: &KeyUsage,
    snapshot: Option<&UserSnapshot>,
) -> String {
    let Some(snap) = snapshot else {
        return format!(
            "Dry run for {key}: it belongs to the root user of account {account}. keyleak cannot contain a \
             root key with IAM policy; it would escalate. Nothing was changed."
        );
    };
    let others: Vec<&str> = snap
        .access_keys
        .iter()
        .map(|k| k.id.as_str())
        .filter(|k| *k != key.as_str())
        .collect();
    let last = usage.last_used.map(when).unwrap_or_else(|| "never".into());
    format!(
        "Dry run for {key} (nothing was changed):\n\
         - account {account}, IAM user {user}, last used {last}\n\
         - would set {key} Inactive; other keys left as they are: {others}\n\
         - would put inline deny-all policy keyleak-deny-all-<incident> on {user}\n\
         - would put inline session fence keyleak-session-fence-<incident> on {user} \
         (denies sessions issued before containment)\n\
         - AWS quarantine policy attached: {quarantine}",
        user = snap.user_name,
        others = if others.is_empty() {
            "none".to_string()
        } else {
            others.join(", ")
        },
        quarantine = {
            let q = snap.quarantine_policies();
            if q.is_empty() {
                "no".to_string()
            } else {
                q.join(", ")
            }
        }
    )
}

pub fn plan_temporary(key: &AccessKeyId, account: &AccountId) -> String {
    format!(
        "Dry run for {key} (nothing was changed): a temporary key of account {account}. It cannot be \
         deactivated; containment would find its issuer in CloudTrail, put the session fence \
         keyleak-session-fence-<incident> on that role or user (denying its sessions issued before \
         containment), and contain the key that minted it."
    )
}

pub fn plan_blocked(key: &AccessKeyId, error: &str) -> String {
    format!("Dry run for {key} stopped: {error}. Nothing was changed.")
}

/// The escalation for a key in an account keyleak cannot act in: what a person with access
/// there does now, and how keyleak finishes the job once it has a way in.
fn unreachable_account(i: &Incident, account: &str, role_refused: Option<&str>) -> String {
    let why = match role_refused {
        None => "it has no responder role for accounts other than its own \
                 (`KEYLEAK_ROLE_ARN_TEMPLATE` is not set)"
            .to_string(),
        Some(m) => format!("assuming its responder role there failed: {}", sanitize(m)),
    };
    let key = &i.key;
    let stop = match key.kind() {
        KeyKind::LongTerm => format!(
            "1. `aws iam get-access-key-last-used --access-key-id {key}` names the key's user.\n\
             2. `aws iam update-access-key --user-name <user> --access-key-id {key} --status Inactive` \
             turns it off (reversible; nothing deleted)."
        ),
        KeyKind::Temporary => format!(
            "1. Find the role or user that issued `{key}` (CloudTrail in `{account}`) and revoke its \
             older sessions: IAM console → the role → *Revoke active sessions*."
        ),
    };
    format!(
        ":sos: `{key}` belongs to account `{account}`, and keyleak *cannot act there*: {why}. \
         Nothing was changed; the key still works.\n*Do now*, as someone who can sign in to \
         `{account}`:\n{stop}\n*Then let keyleak finish* (deny policies, session fence, \
         forensics): deploy the responder role in `{account}` (the CloudFormation template \
         `manifests/responder-role.cfn.json`, as a StackSet) and press *Contain* again, or run \
         `/keyleak contain {key}`."
    )
}

/// IAM's answer for a key it does not have, and what that leaves to check.
fn unknown_key(i: &Incident) -> String {
    let account = i
        .account
        .as_ref()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "its account".into());
    format!(
        ":grey_question: IAM in account `{account}` has no access key `{}`: there is nothing to \
         contain, and *{}* is closed. If the key was already deleted, check CloudTrail for what it \
         did with `/keyleak investigate {}`; if you mistyped it, run `/keyleak contain` with the \
         right id.",
        i.key, i.id, i.key
    )
}

/// The private follow-up to the person who asked: how containment ended, in one line.
pub fn contain_outcome(i: &Incident, steps: &[StepRecord]) -> Reply {
    if steps.iter().any(|s| s.fact == StepFact::UnknownKey) {
        return Reply::plain(unknown_key(i));
    }
    let unreachable = steps.iter().find_map(|s| match &s.fact {
        StepFact::Unreachable {
            account,
            role_refused,
        } => Some(unreachable_account(i, account, role_refused.as_deref())),
        _ => None,
    });
    if let Some(text) = unreachable {
        return Reply::plain(text);
    }
    let text = match i.state {
        IncidentState::Contained if i.key.kind() == KeyKind::Temporary => {
            temporary::contained(i, seconds_to_contain(i))
        }
        IncidentState::Contained => {
            let secs = seconds_to_contain(i);
            format!(
                ":lock: *{}* contained in {secs:.1} s: `{}` is Inactive, and `{}` has the deny-all \
                 and the session fence. Details in the incident thread.",
                i.id,
                i.key,
                i.user_name.as_deref().unwrap_or("its user")
            )
        }
        IncidentState::Failed => {
            let failed: Vec<&str> = steps
                .iter()
                .filter(|s| s.status == StepStatus::Failed)
                .map(|s| step_title(s.kind))
                .collect();
            format!(
                ":x: *{}*: containment of `{}` is incomplete — failed: {}. Run `/keyleak contain {}` \
                 again to retry; details in the incident thread.",
                i.id,
                i.key,
                failed.join(", "),
                i.key
            )
        }
        other => format!(
            "{} *{}* for `{}`: {}. Details in the incident thread.",
            state_emoji(other),
            i.id,
            i.key,
            state_label(other)
        ),
    };
    Reply::plain(text)
}

fn seconds_to_contain(i: &Incident) -> f64 {
    i.contained_at
        .map(|t| (t - i.fence_time).num_milliseconds() as f64 / 1000.0)
        .unwrap_or_default()
}
