//! Incident state and the containment steps, with the rules that move between them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{AccessKeyId, AccountId, IncidentId, KeyKind, SlackUserId};
use super::signal::{Hold, Signal};

/// Who asked for something: a verified Slack user, a person at the CLI, or a machine-made
/// signal (`aws-health:<event arn>`, `github:<alert url>`) that started it on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Slack(SlackUserId),
    Cli(String),
    Signal(String),
}

impl Actor {
    pub fn to_stored(&self) -> String {
        match self {
            Actor::Slack(u) => format!("slack:{u}"),
            Actor::Cli(name) => format!("cli:{name}"),
            Actor::Signal(what) => format!("signal:{what}"),
        }
    }

    pub fn from_stored(s: &str) -> Option<Self> {
        if let Some(u) = s.strip_prefix("slack:") {
            SlackUserId::parse(u).ok().map(Actor::Slack)
        } else if let Some(what) = s.strip_prefix("signal:") {
            Some(Actor::Signal(what.to_string()))
        } else {
            s.strip_prefix("cli:").map(|n| Actor::Cli(n.to_string()))
        }
    }

    /// The Slack user, when a person in Slack asked.
    pub fn slack_user(&self) -> Option<&SlackUserId> {
        match self {
            Actor::Slack(u) => Some(u),
            Actor::Cli(_) | Actor::Signal(_) => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentState {
    /// Open without containment: the owner, last use and forensics are gathered, nothing is
    /// changed, and a person decides to contain or dismiss.
    Triage,
    /// The containment playbook is running or waiting for a worker.
    Containing,
    /// Every containment step succeeded.
    Contained,
    /// The key cannot be contained by IAM policy on its owner (root or temporary key):
    /// a person must act, and the bot said exactly what to do.
    Escalated,
    /// A containment step failed; running `contain` again retries the missing steps.
    Failed,
    Closed,
}

impl IncidentState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Triage => "triage",
            Self::Containing => "containing",
            Self::Contained => "contained",
            Self::Escalated => "escalated",
            Self::Failed => "failed",
            Self::Closed => "closed",
        }
    }

    pub const ALL: [IncidentState; 6] = [
        Self::Triage,
        Self::Containing,
        Self::Contained,
        Self::Escalated,
        Self::Failed,
        Self::Closed,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn is_open(self) -> bool {
        !matches!(self, Self::Closed)
    }
}

/// One step of a containment playbook (docs/design.md §3), in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    LocateAccount,
    LastUsed,
    Snapshot,
    DeactivateKey,
    DenyAll,
    SessionFence,
    QuarantineCheck,
    /// ASIA: the CloudTrail event that minted the key.
    FindOrigin,
    /// ASIA: the issuing role's or user's older sessions denied.
    FenceSessions,
    /// ASIA: the key that minted it, contained in an incident of its own.
    ContainParent,
}

impl StepKind {
    /// The playbook for a long-term (AKIA) key.
    pub const ALL: [StepKind; 7] = [
        Self::LocateAccount,
        Self::LastUsed,
        Self::Snapshot,
        Self::DeactivateKey,
        Self::DenyAll,
        Self::SessionFence,
        Self::QuarantineCheck,
    ];

    /// The steps that cut the attacker off; they run concurrently because IAM is eventually
    /// consistent and each second between them is a second the attacker keeps.
    pub const CUT_OFF: [StepKind; 4] = [
        Self::DeactivateKey,
        Self::DenyAll,
        Self::SessionFence,
        Self::FenceSessions,
    ];

    /// The playbook for a temporary (ASIA) key: it cannot be deactivated, so the principal
    /// that issued it has its older sessions denied, and the key behind that is contained.
    pub const TEMPORARY: [StepKind; 4] = [
        Self::LocateAccount,
        Self::FindOrigin,
        Self::FenceSessions,
        Self::ContainParent,
    ];

    /// Every step of every playbook, in the order replies are shown.
    pub const EVERY: [StepKind; 10] = [
        Self::LocateAccount,
        Self::LastUsed,
        Self::FindOrigin,
        Self::Snapshot,
        Self::DeactivateKey,
        Self::DenyAll,
        Self::SessionFence,
        Self::FenceSessions,
        Self::QuarantineCheck,
        Self::ContainParent,
    ];

    pub fn playbook(kind: KeyKind) -> &'static [StepKind] {
        match kind {
            KeyKind::LongTerm => &Self::ALL,
            KeyKind::Temporary => &Self::TEMPORARY,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LocateAccount => "locate_account",
            Self::LastUsed => "last_used",
            Self::Snapshot => "snapshot",
            Self::DeactivateKey => "deactivate_key",
            Self::DenyAll => "deny_all",
            Self::SessionFence => "session_fence",
            Self::QuarantineCheck => "quarantine_check",
            Self::FindOrigin => "find_origin",
            Self::FenceSessions => "fence_sessions",
            Self::ContainParent => "contain_parent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::EVERY.into_iter().find(|k| k.as_str() == s)
    }
}

/// A user's access key as it was before the incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySnapshot {
    pub id: String,
    pub active: bool,
    pub created: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachedPolicy {
    pub name: String,
    pub arn: String,
}

/// The owner's pre-incident state; restore and rollback are computed from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSnapshot {
    pub user_name: String,
    pub user_arn: String,
    pub access_keys: Vec<KeySnapshot>,
    pub inline_policies: Vec<String>,
    pub attached_policies: Vec<AttachedPolicy>,
    pub groups: Vec<String>,
    pub has_login_profile: bool,
    pub mfa_devices: Vec<String>,
    /// Absent from snapshots stored before they were listed.
    #[serde(default)]
    pub other: super::credentials::OtherCredentials,
}

impl UserSnapshot {
    /// Managed policies whose name marks AWS's own quarantine of an exposed key
    /// (`AWSCompromisedKeyQuarantine`, `…V2`, `…V3`, and whatever comes next).
    pub fn quarantine_policies(&self) -> Vec<String> {
        self.attached_policies
            .iter()
            .filter(|p| p.name.starts_with(super::policy::AWS_QUARANTINE_PREFIX))
            .map(|p| p.name.clone())
            .collect()
    }
}

/// When and how a key was last used, from `iam:GetAccessKeyLastUsed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyUsage {
    /// `None` when the key belongs to the root user.
    pub user_name: Option<String>,
    pub last_used: Option<DateTime<Utc>>,
    pub service: Option<String>,
    pub region: Option<String>,
}

/// Why the bot hands the incident to a person instead of containing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Escalation {
    RootKey,
    /// A temporary key whose issuer CloudTrail does not show.
    TemporaryKey,
    /// Issued by a service-linked role: no policy of ours can be put on it.
    ServiceLinkedRole,
    /// Issued by an IAM Identity Center role: its sessions are revoked in Identity Center.
    IdentityCenterRole,
}

/// Who issued a temporary key, and how, as CloudTrail shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyOrigin {
    pub issuer: Issuer,
    /// The minting event, when CloudTrail still has it; else the issuer was read from the
    /// key's own calls.
    pub event: Option<MintingEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "issuer", rename_all = "snake_case")]
pub enum Issuer {
    Role {
        arn: String,
        account: String,
    },
    /// GetSessionToken or GetFederationToken of an IAM user.
    User {
        name: String,
        account: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MintingEvent {
    pub name: String,
    pub event_id: String,
    pub at: DateTime<Utc>,
    pub region: String,
    /// The key that made the call, when one did (not for SAML or web identity).
    pub parent_key: Option<String>,
    /// The caller's account (a cross-account AssumeRole is logged in both).
    pub caller_account: Option<String>,
    pub source_ip: Option<String>,
}

/// What a step found or changed. Rendered to people by `slack::messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fact", rename_all = "snake_case")]
pub enum StepFact {
    Located {
        account: String,
        own_account: bool,
    },
    LastUsed(KeyUsage),
    Snapshot(UserSnapshot),
    KeyDeactivated {
        user_name: String,
        other_keys_untouched: Vec<String>,
    },
    DenyAttached {
        user_name: String,
        policy_name: String,
        /// Set when the inline budget was full and a managed policy was used instead.
        managed_policy_arn: Option<String>,
    },
    Quarantine {
        policies: Vec<String>,
    },
    Escalated(Escalation),
    Origin(KeyOrigin),
    /// The issuer's sessions from before the fence time are denied.
    SessionsFenced {
        issuer: Issuer,
        policy_name: String,
        managed_policy_arn: Option<String>,
    },
    /// The parent key's own containment, queued (or already open) as `incident`.
    ParentQueued {
        key: String,
        incident: String,
    },
    /// No key made the minting call, or it is not known.
    NoParent,
    /// IAM in the key's account has no such key: the incident ends at once.
    UnknownKey,
    /// keyleak has no way into the key's account: no responder role is configured
    /// (`role_refused: None`), or the role could not be assumed. A person must act there,
    /// or give keyleak the role and contain again. Recorded as a failed step.
    Unreachable {
        account: String,
        role_refused: Option<String>,
    },
    Failed {
        error: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    Done,
    Failed,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "done" => Some(Self::Done),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// A step's recorded outcome. A step with no record has not run (or was interrupted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    pub kind: StepKind,
    pub status: StepStatus,
    pub fact: StepFact,
    pub request_id: Option<String>,
    pub finished_at: DateTime<Utc>,
    /// The Slack `ts` of the threaded reply, once posted.
    pub reply_ts: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub id: IncidentId,
    pub key: AccessKeyId,
    pub state: IncidentState,
    pub reason: Option<String>,
    pub requested_by: Actor,
    pub opened_at: DateTime<Utc>,
    /// The instant the session fence refers to: sessions issued before it are denied.
    /// Fixed when the incident opens so that a retried step writes the same document.
    pub fence_time: DateTime<Utc>,
    pub contained_at: Option<DateTime<Utc>>,
    pub account: Option<AccountId>,
    pub user_name: Option<String>,
    /// Where the incident message lives in Slack, once posted.
    pub slack_channel: Option<String>,
    pub slack_ts: Option<String>,
    /// When monitoring first saw the key, its offspring or its user act after containment.
    pub late_activity: Option<DateTime<Utc>>,
    /// Why a signal did not contain the key on its own, once that was decided.
    pub hold: Option<Hold>,
    /// Every signal about the key, in the order they arrived.
    pub signals: Vec<Signal>,
    /// How many of `signals` (the first ones) have their own reply in the thread.
    pub signals_said: usize,
    /// The key's previous incident, closed before this one opened.
    pub follows: Option<IncidentId>,
    /// What the key could do, once assessed.
    pub reach: Option<super::reach::Reach>,
    /// The thread reply that lists `reach` in full, once posted.
    pub reach_ts: Option<String>,
}

/// The times that matter to a responder, read from the record: what told keyleak first, when
/// the key was exposed if a signal says so, and when containment started, turned the key
/// inactive and fenced its sessions.
#[derive(Debug, Clone, PartialEq)]
pub struct Milestones {
    pub first_signal: Option<(DateTime<Utc>, super::signal::Source)>,
    pub exposed: Option<DateTime<Utc>>,
    pub containment_started: Option<DateTime<Utc>>,
    pub key_inactive: Option<DateTime<Utc>>,
    pub sessions_fenced: Option<DateTime<Utc>>,
}

pub fn milestones(i: &Incident, steps: &[StepRecord]) -> Milestones {
    let done = |kinds: &[StepKind]| {
        steps
            .iter()
            .filter(|s| kinds.contains(&s.kind) && s.status == StepStatus::Done)
            .map(|s| s.finished_at)
            .min()
    };
    let cut_off_recorded = steps.iter().any(|s| StepKind::CUT_OFF.contains(&s.kind));
    let containing = match i.state {
        IncidentState::Triage => false,
        IncidentState::Closed => cut_off_recorded,
        IncidentState::Containing
        | IncidentState::Contained
        | IncidentState::Escalated
        | IncidentState::Failed => true,
    };
    Milestones {
        first_signal: i
            .signals
            .iter()
            .min_by_key(|s| s.received_at)
            .map(|s| (s.received_at, s.source)),
        exposed: i.signals.iter().filter_map(|s| s.exposed_at).min(),
        containment_started: containing.then_some(i.fence_time),
        key_inactive: done(&[StepKind::DeactivateKey]),
        sessions_fenced: done(&[StepKind::SessionFence, StepKind::FenceSessions]),
    }
}

/// The incident's state once the key's playbook has run as far as it could.
pub fn settle(kind: KeyKind, steps: &[StepRecord]) -> IncidentState {
    if steps.iter().any(|s| s.fact == StepFact::UnknownKey) {
        return IncidentState::Closed;
    }
    let escalated = steps
        .iter()
        .any(|s| matches!(s.fact, StepFact::Escalated(_)));
    if escalated {
        return IncidentState::Escalated;
    }
    if steps.iter().any(|s| s.status == StepStatus::Failed) {
        return IncidentState::Failed;
    }
    let all_done = StepKind::playbook(kind).iter().all(|k| {
        steps
            .iter()
            .any(|s| s.kind == *k && s.status == StepStatus::Done)
    });
    if all_done {
        IncidentState::Contained
    } else {
        IncidentState::Containing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(kind: StepKind, status: StepStatus, fact: StepFact) -> StepRecord {
        StepRecord {
            kind,
            status,
            fact,
            request_id: None,
            finished_at: DateTime::<Utc>::UNIX_EPOCH,
            reply_ts: None,
        }
    }

    fn done(kind: StepKind) -> StepRecord {
        rec(
            kind,
            StepStatus::Done,
            StepFact::Quarantine { policies: vec![] },
        )
    }

    #[test]
    fn contained_only_when_every_step_is_done() {
        let mut steps: Vec<_> = StepKind::ALL[..6].iter().map(|k| done(*k)).collect();
        assert_eq!(settle(KeyKind::LongTerm, &steps), IncidentState::Containing);
        steps.push(done(StepKind::QuarantineCheck));
        assert_eq!(settle(KeyKind::LongTerm, &steps), IncidentState::Contained);
    }

    #[test]
    fn a_temporary_key_is_contained_by_its_own_playbook() {
        let mut steps: Vec<_> = StepKind::TEMPORARY[..3].iter().map(|k| done(*k)).collect();
        assert_eq!(
            settle(KeyKind::Temporary, &steps),
            IncidentState::Containing
        );
        steps.push(done(StepKind::ContainParent));
        assert_eq!(settle(KeyKind::Temporary, &steps), IncidentState::Contained);
        assert_eq!(
            settle(KeyKind::LongTerm, &steps),
            IncidentState::Containing,
            "the AKIA playbook needs its own steps"
        );
    }

    #[test]
    fn a_failed_step_fails_and_an_escalation_wins() {
        let failed = rec(
            StepKind::DenyAll,
            StepStatus::Failed,
            StepFact::Failed {
                error: "AccessDenied".into(),
            },
        );
        assert_eq!(
            settle(KeyKind::LongTerm, std::slice::from_ref(&failed)),
            IncidentState::Failed
        );
        let esc = rec(
            StepKind::LastUsed,
            StepStatus::Done,
            StepFact::Escalated(Escalation::RootKey),
        );
        assert_eq!(
            settle(KeyKind::LongTerm, &[esc, failed]),
            IncidentState::Escalated
        );
    }

    #[test]
    fn names_round_trip() {
        for k in StepKind::EVERY {
            assert_eq!(StepKind::parse(k.as_str()), Some(k));
        }
        for s in ["containing", "contained", "escalated", "failed", "closed"] {
            assert_eq!(IncidentState::parse(s).map(|x| x.as_str()), Some(s));
        }
        let a = Actor::Slack(SlackUserId::parse("U123ABC").unwrap());
        assert_eq!(Actor::from_stored(&a.to_stored()), Some(a));
    }

    #[test]
    fn quarantine_matched_by_prefix_so_new_versions_count() {
        let snap = UserSnapshot {
            user_name: "ci".into(),
            user_arn: "arn:aws:iam::111111111111:user/ci".into(),
            access_keys: vec![],
            inline_policies: vec![],
            attached_policies: [
                "AWSCompromisedKeyQuarantineV3",
                "ReadOnlyAccess",
                "AWSCompromisedKeyQuarantineV9",
            ]
            .iter()
            .map(|n| AttachedPolicy {
                name: (*n).into(),
                arn: format!("arn:aws:iam::aws:policy/{n}"),
            })
            .collect(),
            groups: vec![],
            has_login_profile: false,
            mfa_devices: vec![],
            other: Default::default(),
        };
        assert_eq!(
            snap.quarantine_policies(),
            vec![
                "AWSCompromisedKeyQuarantineV3",
                "AWSCompromisedKeyQuarantineV9"
            ]
        );
    }
}
