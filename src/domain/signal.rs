//! Signals: what tells keyleak a key may be exposed besides a person (an AWS Health event, a
//! GuardDuty finding, AWS's quarantine policy, a GitHub secret-scanning alert), and the
//! containment policy that decides which of them contain the key at once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{AccessKeyId, AccountId};
use super::incident::Actor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    AwsHealth,
    GuardDuty,
    /// AWS attached an `AWSCompromisedKeyQuarantine*` policy (CloudTrail via EventBridge).
    Quarantine,
    GitHub,
}

impl Source {
    /// The name an automatic action's actor carries: `aws-health:<event arn>`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwsHealth => "aws-health",
            Self::GuardDuty => "guardduty",
            Self::Quarantine => "aws-quarantine",
            Self::GitHub => "github",
        }
    }
}

/// How sure the sender is: AWS or GitHub saw the key exposed, or something looks wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    Confirmed,
    Suspected,
}

/// One signal about one key, as it is kept in the incident's evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub source: Source,
    /// The sender's id of this delivery (EventBridge's `id`, GitHub's `X-GitHub-Delivery`):
    /// the same delivery twice is recorded once.
    pub delivery: String,
    /// What it is, for people and the audit log: the Health event's ARN, the finding's ARN,
    /// the alert's URL.
    pub reference: String,
    pub key: AccessKeyId,
    pub account: Option<AccountId>,
    /// The key's IAM user, when the signal names it.
    pub user: Option<String>,
    pub strength: Strength,
    /// What the sender calls it: the Health event type code, the finding type, the secret type.
    pub kind: String,
    /// GuardDuty's severity (0–10).
    pub severity: Option<f64>,
    /// What else it says, as label and value (remote IP, ASN, country, where it was exposed).
    pub evidence: Vec<(String, String)>,
    /// When the key was first exposed, when the signal says so.
    pub exposed_at: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
}

impl Signal {
    /// The actor of whatever the signal starts on its own.
    pub fn actor(&self) -> Actor {
        Actor::Signal(format!("{}:{}", self.source.as_str(), self.reference))
    }

    /// The key used at once for deduplication across senders' retries.
    pub fn delivery_key(&self) -> String {
        format!("{}:{}", self.source.as_str(), self.delivery)
    }
}

/// An `AttachUserPolicy` of an `AWSCompromisedKeyQuarantine*` policy, from CloudTrail.
#[derive(Debug, Clone, PartialEq)]
pub struct Quarantined {
    pub account: AccountId,
    pub user: String,
    pub policy: String,
    /// EventBridge's id of the delivery.
    pub delivery: String,
    /// The CloudTrail event's id.
    pub event_id: String,
    pub at: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
}

/// `KEYLEAK_AUTO_CONTAIN`: which signals contain a key without a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoContain {
    /// Every signal opens a triage incident; a person presses Contain.
    #[default]
    Off,
    /// The exposure and compromise codes, the quarantine attachment and GitHub alerts.
    Confirmed,
    /// Also the `*_SUSPECTED` codes and GuardDuty findings at or above the minimum severity.
    Suspected,
}

impl AutoContain {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" => Some(Self::Off),
            "confirmed" => Some(Self::Confirmed),
            "suspected" => Some(Self::Suspected),
            _ => None,
        }
    }
}

/// What is never contained automatically (break-glass users, honeytokens).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "except", rename_all = "snake_case")]
pub enum Exception {
    User { name: String },
    AccountUser { account: AccountId, name: String },
    Account { account: AccountId },
}

impl Exception {
    /// `name`, `account:name` or a bare 12-digit account id.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        if let Ok(account) = AccountId::parse(s) {
            return Some(Self::Account { account });
        }
        match s.split_once(':') {
            Some((a, name)) => Some(Self::AccountUser {
                account: AccountId::parse(a).ok()?,
                name: user_name(name)?,
            }),
            None => Some(Self::User {
                name: user_name(s)?,
            }),
        }
    }

    fn matches(&self, account: Option<&AccountId>, user: Option<&str>) -> bool {
        match self {
            Self::User { name } => user == Some(name.as_str()),
            Self::AccountUser { account: a, name } => {
                account == Some(a) && user == Some(name.as_str())
            }
            Self::Account { account: a } => account == Some(a),
        }
    }
}

impl std::fmt::Display for Exception {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::User { name } => write!(f, "user {name}"),
            Self::AccountUser { account, name } => write!(f, "user {name} of account {account}"),
            Self::Account { account } => write!(f, "account {account}"),
        }
    }
}

/// IAM user names: 1–64 of `A-Za-z0-9+=,.@_-`.
fn user_name(s: &str) -> Option<String> {
    let ok = (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    ok.then(|| s.to_string())
}

/// Why a signal did not contain its key on its own; the card says it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "hold", rename_all = "snake_case")]
pub enum Hold {
    /// A signal started containment, which stops before any change if the key's owner,
    /// once known, is on the exception list.
    Pending,
    /// `KEYLEAK_AUTO_CONTAIN=off`.
    PolicyOff,
    /// A suspicion, and only confirmed exposures contain on their own.
    OnlyConfirmed,
    BelowSeverity {
        severity: f64,
        minimum: f64,
    },
    Excepted {
        exception: Exception,
    },
    /// AWS quarantined the user, not a key, and the user has several active keys: which one
    /// is exposed is not known.
    WhichKey {
        active_keys: usize,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContainPolicy {
    pub mode: AutoContain,
    pub min_severity: f64,
    pub except: Vec<Exception>,
}

impl Default for ContainPolicy {
    fn default() -> Self {
        Self {
            mode: AutoContain::Off,
            min_severity: 7.0,
            except: vec![],
        }
    }
}

/// What a signal starts. Containment still stops before any change when the key's owner,
/// learnt from IAM, is on the exception list (`Hold::Pending`).
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Contain,
    Triage(Hold),
}

impl ContainPolicy {
    pub fn decide(&self, s: &Signal) -> Decision {
        let wanted = match (self.mode, s.strength) {
            (AutoContain::Off, _) => Err(Hold::PolicyOff),
            (AutoContain::Confirmed, Strength::Confirmed) => Ok(()),
            (AutoContain::Confirmed, Strength::Suspected) => Err(Hold::OnlyConfirmed),
            (AutoContain::Suspected, Strength::Confirmed) => Ok(()),
            (AutoContain::Suspected, Strength::Suspected) => match s.severity {
                Some(severity) if severity < self.min_severity => Err(Hold::BelowSeverity {
                    severity,
                    minimum: self.min_severity,
                }),
                _ => Ok(()),
            },
        };
        if let Err(hold) = wanted {
            return Decision::Triage(hold);
        }
        match self.excepted(s.account.as_ref(), s.user.as_deref()) {
            Some(exception) => Decision::Triage(Hold::Excepted { exception }),
            None => Decision::Contain,
        }
    }

    /// The first exception that covers the key's account and owner.
    pub fn excepted(&self, account: Option<&AccountId>, user: Option<&str>) -> Option<Exception> {
        self.except
            .iter()
            .find(|e| e.matches(account, user))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(strength: Strength, severity: Option<f64>, user: Option<&str>) -> Signal {
        Signal {
            source: Source::GuardDuty,
            delivery: "d".into(),
            reference: "r".into(),
            key: AccessKeyId::parse("AKIAIOSFODNN7EXAMPLE").unwrap(),
            account: AccountId::parse("111122223333").ok(),
            user: user.map(str::to_string),
            strength,
            kind: "k".into(),
            severity,
            evidence: vec![],
            exposed_at: None,
            received_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    fn policy(mode: AutoContain, except: &[&str]) -> ContainPolicy {
        ContainPolicy {
            mode,
            min_severity: 7.0,
            except: except.iter().filter_map(|e| Exception::parse(e)).collect(),
        }
    }

    #[test]
    fn the_policy_in_words() {
        use AutoContain::*;
        let cases = [
            (Off, Strength::Confirmed, None),
            (Confirmed, Strength::Confirmed, None),
            (Confirmed, Strength::Suspected, Some(9.0)),
            (Suspected, Strength::Suspected, Some(8.0)),
            (Suspected, Strength::Suspected, Some(5.0)),
            (Suspected, Strength::Suspected, None),
        ];
        let got: Vec<String> = cases
            .iter()
            .map(|(m, st, sev)| {
                let d = policy(*m, &[]).decide(&signal(*st, *sev, Some("ci")));
                format!("{m:?} {st:?} {sev:?}: {d:?}")
            })
            .collect();
        assert_eq!(
            got,
            [
                "Off Confirmed None: Triage(PolicyOff)",
                "Confirmed Confirmed None: Contain",
                "Confirmed Suspected Some(9.0): Triage(OnlyConfirmed)",
                "Suspected Suspected Some(8.0): Contain",
                "Suspected Suspected Some(5.0): Triage(BelowSeverity { severity: 5.0, minimum: 7.0 })",
                "Suspected Suspected None: Contain",
            ]
        );
    }

    #[test]
    fn exceptions_by_user_account_or_both() {
        let p = policy(
            AutoContain::Confirmed,
            &["break-glass", "444455556666", "111122223333:honey"],
        );
        let d = |user: Option<&str>| p.decide(&signal(Strength::Confirmed, None, user));
        assert_eq!(
            d(Some("break-glass")),
            Decision::Triage(Hold::Excepted {
                exception: Exception::User {
                    name: "break-glass".into()
                }
            })
        );
        assert!(matches!(d(Some("honey")), Decision::Triage(_)));
        assert_eq!(d(Some("ci")), Decision::Contain);
        assert_eq!(
            d(None),
            Decision::Contain,
            "decided again once IAM names the owner"
        );
        let other = AccountId::parse("444455556666").ok();
        assert!(p.excepted(other.as_ref(), None).is_some());
    }

    #[test]
    fn exceptions_parse_strictly() {
        for bad in ["", "1234:ci", "111122223333:", "bad user", "a/b"] {
            assert_eq!(Exception::parse(bad), None, "{bad}");
        }
        assert_eq!(
            Exception::parse(" 111122223333:ci-deploy ").map(|e| e.to_string()),
            Some("user ci-deploy of account 111122223333".into())
        );
    }
}
