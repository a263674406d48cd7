//! What a leaked key could do: IAM's policy simulator run over the user's policies as the
//! snapshot found them (before any change, so the deny-all does not hide it), for a curated
//! list of high-risk actions, and IAM Access Advisor's record of the services the user called.
//! The playbooks' first question is how bad it can be: the answer is a verdict a person reads
//! at a glance, with every action behind it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What an allowed high-risk action lets the key do, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// It can grant itself (or a role it can use) any permission: admin in all but name.
    Escalate,
    /// It can make credentials that outlive the key: keys, passwords, users, sessions.
    Credentials,
    /// It can blind the account's logging and detection.
    Logging,
    /// It can read secrets and stored data.
    ReadData,
    /// It can share resources with other accounts or open them to the internet.
    Expose,
    /// It can run code and spend money: instances, functions, models, email.
    Compute,
    /// It can delete data.
    Destroy,
}

impl Capability {
    pub const ALL: [Capability; 7] = [
        Self::Escalate,
        Self::Credentials,
        Self::Logging,
        Self::ReadData,
        Self::Expose,
        Self::Compute,
        Self::Destroy,
    ];
}

/// The high-risk actions simulated, each under what it lets the key do. Chosen from the
/// privilege-escalation paths IAM allows and the actions AWS's compromised-credentials playbook
/// and Stratus Red Team's techniques start with.
pub const RISKY_ACTIONS: [(&str, Capability); 52] = [
    ("iam:AttachUserPolicy", Capability::Escalate),
    ("iam:PutUserPolicy", Capability::Escalate),
    ("iam:AttachGroupPolicy", Capability::Escalate),
    ("iam:PutGroupPolicy", Capability::Escalate),
    ("iam:AddUserToGroup", Capability::Escalate),
    ("iam:AttachRolePolicy", Capability::Escalate),
    ("iam:PutRolePolicy", Capability::Escalate),
    ("iam:CreatePolicyVersion", Capability::Escalate),
    ("iam:SetDefaultPolicyVersion", Capability::Escalate),
    ("iam:UpdateAssumeRolePolicy", Capability::Escalate),
    ("iam:CreateAccessKey", Capability::Credentials),
    ("iam:UpdateAccessKey", Capability::Credentials),
    ("iam:CreateUser", Capability::Credentials),
    ("iam:CreateLoginProfile", Capability::Credentials),
    ("iam:UpdateLoginProfile", Capability::Credentials),
    (
        "iam:CreateServiceSpecificCredential",
        Capability::Credentials,
    ),
    ("iam:UploadSSHPublicKey", Capability::Credentials),
    ("iam:CreateRole", Capability::Credentials),
    ("iam:PassRole", Capability::Credentials),
    ("sts:AssumeRole", Capability::Credentials),
    ("sts:GetFederationToken", Capability::Credentials),
    ("cloudtrail:StopLogging", Capability::Logging),
    ("cloudtrail:DeleteTrail", Capability::Logging),
    ("cloudtrail:PutEventSelectors", Capability::Logging),
    ("cloudtrail:UpdateTrail", Capability::Logging),
    ("guardduty:DeleteDetector", Capability::Logging),
    ("config:StopConfigurationRecorder", Capability::Logging),
    ("ec2:DeleteFlowLogs", Capability::Logging),
    ("organizations:LeaveOrganization", Capability::Logging),
    ("s3:GetObject", Capability::ReadData),
    ("secretsmanager:GetSecretValue", Capability::ReadData),
    ("ssm:GetParameter", Capability::ReadData),
    ("ssm:GetParameters", Capability::ReadData),
    ("kms:Decrypt", Capability::ReadData),
    ("dynamodb:Scan", Capability::ReadData),
    ("ec2:GetPasswordData", Capability::ReadData),
    ("s3:PutBucketPolicy", Capability::Expose),
    ("s3:PutBucketAcl", Capability::Expose),
    ("s3:PutBucketPublicAccessBlock", Capability::Expose),
    ("ec2:ModifySnapshotAttribute", Capability::Expose),
    ("ec2:AuthorizeSecurityGroupIngress", Capability::Expose),
    ("lambda:AddPermission", Capability::Expose),
    ("rds:ModifyDBSnapshotAttribute", Capability::Expose),
    ("ec2:RunInstances", Capability::Compute),
    ("lambda:CreateFunction", Capability::Compute),
    ("lambda:UpdateFunctionCode", Capability::Compute),
    ("ssm:SendCommand", Capability::Compute),
    ("bedrock:InvokeModel", Capability::Compute),
    ("ses:SendEmail", Capability::Compute),
    ("s3:DeleteObject", Capability::Destroy),
    ("ec2:TerminateInstances", Capability::Destroy),
    ("kms:ScheduleKeyDeletion", Capability::Destroy),
];

/// The simulated actions' names, in the list's order.
pub fn risky_action_names() -> Vec<&'static str> {
    RISKY_ACTIONS.iter().map(|(a, _)| *a).collect()
}

/// What the capability of a simulated action is (IAM compares action names ignoring case).
pub fn capability_of(action: &str) -> Option<Capability> {
    RISKY_ACTIONS
        .iter()
        .find(|(a, _)| a.eq_ignore_ascii_case(action))
        .map(|(_, c)| *c)
}

/// The simulator's decision on one action, as IAM gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum Decision {
    Allowed,
    /// A statement denies it, whatever allows it.
    ExplicitDeny,
    /// Nothing allows it.
    ImplicitDeny,
    /// Nothing allows it unconditionally, and statements with conditions on these context keys
    /// might: the simulator cannot tell without them (an MFA or source-IP condition, say).
    Conditional {
        keys: Vec<String>,
    },
}

/// One simulated action, and the policies whose statements decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionVerdict {
    pub action: String,
    pub decision: Decision,
    /// The labels of the policies (`PolicySource::label`) whose statements decided it.
    pub decided_by: Vec<String>,
}

/// Where a simulated policy document came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PolicySource {
    Inline {
        name: String,
    },
    Managed {
        name: String,
        arn: String,
    },
    GroupInline {
        group: String,
        name: String,
    },
    GroupManaged {
        group: String,
        name: String,
        arn: String,
    },
}

impl PolicySource {
    /// How a person reads it: `AdministratorAccess`, `group admins: ops-inline`.
    pub fn label(&self) -> String {
        match self {
            Self::Inline { name } | Self::Managed { name, .. } => name.clone(),
            Self::GroupInline { group, name } | Self::GroupManaged { group, name, .. } => {
                format!("group {group}: {name}")
            }
        }
    }
}

/// An IAM answer keyleak may not get: the simulator or Access Advisor refused, or failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "value")]
pub enum Known<T> {
    Known(T),
    Unknown { why: String },
}

/// One service in IAM Access Advisor's report for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceUse {
    pub namespace: String,
    pub name: String,
    /// When the user last tried to call it; `None` when never in the tracking period.
    pub last_authenticated: Option<DateTime<Utc>>,
    pub region: Option<String>,
}

/// What the key could do, as assessed once after the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reach {
    pub assessed_at: DateTime<Utc>,
    /// The policies simulated, as the snapshot found them.
    pub policies: Vec<PolicySource>,
    /// The user's permissions boundary, when it has one: it caps what the policies grant.
    pub boundary: Option<String>,
    /// Policies the snapshot lists that are left out of the simulation, with why.
    pub left_out: Vec<LeftOut>,
    pub actions: Known<Vec<ActionVerdict>>,
    pub services: Known<Vec<ServiceUse>>,
}

/// A policy the snapshot lists that the simulation does not count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftOut {
    pub policy: String,
    pub why: Omission,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Omission {
    /// AWS's own quarantine of the exposed key: it came after the leak, and what the key could
    /// do before it is the question.
    AwsQuarantine,
    /// IAM no longer has it.
    Gone,
}

/// The verdict a person reads first: the most severe thing the key could do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// One of `Capability`, by severity.
    Can(Capability),
    /// None of the high-risk actions is allowed.
    ReadOnly,
}

impl Reach {
    /// The allowed actions, in the list's order.
    pub fn allowed(&self) -> Vec<&ActionVerdict> {
        self.with(|d| *d == Decision::Allowed)
    }

    /// The actions only conditions stand between the key and.
    pub fn conditional(&self) -> Vec<&ActionVerdict> {
        self.with(|d| matches!(d, Decision::Conditional { .. }))
    }

    fn with(&self, f: impl Fn(&Decision) -> bool) -> Vec<&ActionVerdict> {
        match &self.actions {
            Known::Known(v) => v.iter().filter(|a| f(&a.decision)).collect(),
            Known::Unknown { .. } => Vec::new(),
        }
    }

    /// What the allowed actions let the key do, most severe first.
    pub fn capabilities(&self) -> Vec<Capability> {
        let mut caps: Vec<Capability> = self
            .allowed()
            .iter()
            .filter_map(|a| capability_of(&a.action))
            .collect();
        caps.sort();
        caps.dedup();
        caps
    }

    /// `None` when the simulator could not be asked.
    pub fn verdict(&self) -> Option<Verdict> {
        match &self.actions {
            Known::Unknown { .. } => None,
            Known::Known(_) => Some(
                self.capabilities()
                    .first()
                    .map_or(Verdict::ReadOnly, |c| Verdict::Can(*c)),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(decisions: &[(&str, Decision)]) -> Reach {
        Reach {
            assessed_at: DateTime::<Utc>::UNIX_EPOCH,
            policies: Vec::new(),
            boundary: None,
            left_out: Vec::new(),
            actions: Known::Known(
                decisions
                    .iter()
                    .map(|(a, d)| ActionVerdict {
                        action: (*a).into(),
                        decision: d.clone(),
                        decided_by: Vec::new(),
                    })
                    .collect(),
            ),
            services: Known::Known(Vec::new()),
        }
    }

    #[test]
    fn every_risky_action_is_listed_once_and_every_capability_has_one() {
        let mut names = risky_action_names();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), RISKY_ACTIONS.len());
        for c in Capability::ALL {
            assert!(RISKY_ACTIONS.iter().any(|(_, k)| *k == c), "{c:?}");
        }
        // IAM's action names are `service:Action`, 3 to 128 characters.
        assert!(
            names
                .iter()
                .all(|n| n.contains(':') && (3..=128).contains(&n.len()))
        );
    }

    #[test]
    fn the_verdict_is_the_most_severe_allowed_capability() {
        let r = reach(&[
            ("s3:GetObject", Decision::Allowed),
            ("iam:CreateAccessKey", Decision::Allowed),
            ("iam:AttachUserPolicy", Decision::ExplicitDeny),
            (
                "cloudtrail:StopLogging",
                Decision::Conditional {
                    keys: vec!["aws:MultiFactorAuthPresent".into()],
                },
            ),
        ]);
        assert_eq!(r.verdict(), Some(Verdict::Can(Capability::Credentials)));
        assert_eq!(
            r.capabilities(),
            [Capability::Credentials, Capability::ReadData]
        );
        assert_eq!(r.conditional().len(), 1);
    }

    #[test]
    fn nothing_allowed_is_read_only_and_no_answer_is_no_verdict() {
        let r = reach(&[("iam:AttachUserPolicy", Decision::ImplicitDeny)]);
        assert_eq!(r.verdict(), Some(Verdict::ReadOnly));
        let unknown = Reach {
            actions: Known::Unknown {
                why: "access denied".into(),
            },
            ..r
        };
        assert_eq!(unknown.verdict(), None);
        assert!(unknown.allowed().is_empty());
    }

    #[test]
    fn action_names_compare_ignoring_case() {
        assert_eq!(
            capability_of("IAM:attachuserpolicy"),
            Some(Capability::Escalate)
        );
        assert_eq!(capability_of("s3:ListBucket"), None);
    }
}
