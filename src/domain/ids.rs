//! Typed identifiers, parsed once at the edge and never passed around as bare strings.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of credential an access key id names (docs/aws.md, "Access key ids").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `AKIA…`: a long-term key of an IAM user or of the root user.
    LongTerm,
    /// `ASIA…`: temporary STS credentials.
    Temporary,
}

/// Why a piece of text is not an access key id. Rendered to people in `slack::messages`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyIdError {
    #[error("no key id given")]
    Missing,
    #[error("looks like a secret access key")]
    LooksLikeSecret,
    #[error("`{prefix}…` is an IAM {what} id, not an access key id")]
    NotAnAccessKey { prefix: String, what: &'static str },
    #[error("access key ids are upper case")]
    Lowercase,
    #[error("access key ids start with AKIA or ASIA")]
    WrongPrefix,
    #[error("access key ids are 20 characters, this is {0}")]
    WrongLength(usize),
    #[error("access key ids contain only A–Z and 0–9")]
    BadCharacters,
}

/// Unique-id prefixes of IAM entities that people confuse with access key ids.
const OTHER_IAM_PREFIXES: &[(&str, &str)] = &[
    ("AIDA", "user"),
    ("AROA", "role"),
    ("AGPA", "group"),
    ("ANPA", "managed policy"),
    ("ANVA", "policy version"),
    ("APKA", "CloudFront public key"),
    ("ABIA", "STS bearer token"),
    ("ACCA", "context-specific credential"),
    ("AIPA", "EC2 instance profile"),
    ("ASCA", "certificate"),
];

/// An AWS access key id: `^(AKIA|ASIA)[A-Z0-9]{16}$` after trimming.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccessKeyId(String);

impl TryFrom<String> for AccessKeyId {
    type Error = KeyIdError;
    fn try_from(s: String) -> Result<Self, KeyIdError> {
        Self::parse(&s)
    }
}

impl From<AccessKeyId> for String {
    fn from(k: AccessKeyId) -> String {
        k.0
    }
}

impl AccessKeyId {
    pub fn parse(raw: &str) -> Result<Self, KeyIdError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(KeyIdError::Missing);
        }
        if looks_like_secret(s) {
            return Err(KeyIdError::LooksLikeSecret);
        }
        if !s.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(KeyIdError::BadCharacters);
        }
        let upper = s.to_ascii_uppercase();
        if let Some((prefix, what)) = OTHER_IAM_PREFIXES
            .iter()
            .find(|(p, _)| upper.starts_with(p))
        {
            return Err(KeyIdError::NotAnAccessKey {
                prefix: (*prefix).to_string(),
                what,
            });
        }
        if upper != s {
            return Err(KeyIdError::Lowercase);
        }
        if !(s.starts_with("AKIA") || s.starts_with("ASIA")) {
            return Err(KeyIdError::WrongPrefix);
        }
        if s.len() != 20 {
            return Err(KeyIdError::WrongLength(s.len()));
        }
        Ok(Self(s.to_string()))
    }

    pub fn kind(&self) -> KeyKind {
        if self.0.starts_with("ASIA") {
            KeyKind::Temporary
        } else {
            KeyKind::LongTerm
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `AKIA…WXYZ`: enough to tell keys apart in logs and file names.
    pub fn short(&self) -> String {
        format!("{}…{}", &self.0[..4], &self.0[16..])
    }
}

impl fmt::Display for AccessKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A secret access key is 40 characters of base64 alphabet. Anything of that shape in a
/// command is treated as a pasted secret: never stored, logged or echoed.
pub fn looks_like_secret(token: &str) -> bool {
    let t = token.trim();
    t.len() == 40
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '/' || c == '+' || c == '=')
        && t.chars()
            .any(|c| c.is_ascii_lowercase() || c == '/' || c == '+')
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an AWS account id is 12 digits")]
pub struct AccountIdError;

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

impl TryFrom<String> for AccountId {
    type Error = AccountIdError;
    fn try_from(s: String) -> Result<Self, AccountIdError> {
        Self::parse(&s)
    }
}

impl From<AccountId> for String {
    fn from(a: AccountId) -> String {
        a.0
    }
}

impl AccountId {
    pub fn parse(raw: &str) -> Result<Self, AccountIdError> {
        let s = raw.trim();
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_string()))
        } else {
            Err(AccountIdError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("incident ids look like KL-1A2B3C4D")]
pub struct IncidentIdError;

/// `KL-` followed by 8 upper-case hex digits: short enough to type in Slack.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IncidentId(String);

impl IncidentId {
    /// Builds an id from random bits supplied by the caller, so the domain stays pure.
    pub fn from_random(bits: u32) -> Self {
        Self(format!("KL-{bits:08X}"))
    }

    pub fn parse(raw: &str) -> Result<Self, IncidentIdError> {
        let s = raw.trim().to_ascii_uppercase();
        let hex = s.strip_prefix("KL-").ok_or(IncidentIdError)?;
        if hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(s))
        } else {
            Err(IncidentIdError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("proposal ids look like PR-1A2B3C4D5E")]
pub struct ProposalIdError;

/// `PR-` followed by 10 upper-case hex digits; carried by the Approve and Reject buttons.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProposalId(String);

impl TryFrom<String> for ProposalId {
    type Error = ProposalIdError;
    fn try_from(s: String) -> Result<Self, ProposalIdError> {
        Self::parse(&s)
    }
}

impl From<ProposalId> for String {
    fn from(id: ProposalId) -> String {
        id.0
    }
}

impl ProposalId {
    /// Builds an id from random bits supplied by the caller (40 of them are used).
    pub fn from_random(bits: u64) -> Self {
        Self(format!("PR-{:010X}", bits & 0xFF_FFFF_FFFF))
    }

    pub fn parse(raw: &str) -> Result<Self, ProposalIdError> {
        let s = raw.trim().to_ascii_uppercase();
        let hex = s.strip_prefix("PR-").ok_or(ProposalIdError)?;
        if hex.len() == 10 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(s))
        } else {
            Err(ProposalIdError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProposalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a Slack user or user-group id (U…, W… or S…)")]
pub struct SlackIdError(pub String);

/// A Slack user id (`U…` or, on Enterprise Grid, `W…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SlackUserId(String);

impl SlackUserId {
    pub fn parse(raw: &str) -> Result<Self, SlackIdError> {
        let s = raw.trim();
        if is_slack_id(s, &['U', 'W']) {
            Ok(Self(s.to_string()))
        } else {
            Err(SlackIdError(s.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SlackUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An entry of a roster: a single person or a Slack user group (`S…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RosterEntry {
    User(SlackUserId),
    Group(String),
}

impl RosterEntry {
    pub fn parse(raw: &str) -> Result<Self, SlackIdError> {
        let s = raw.trim();
        if is_slack_id(s, &['S']) {
            Ok(Self::Group(s.to_string()))
        } else {
            SlackUserId::parse(s).map(Self::User)
        }
    }
}

fn is_slack_id(s: &str, first: &[char]) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if first.contains(&c))
        && s.len() >= 3
        && s.len() <= 24
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// An AWS region name such as `us-east-1` or `us-gov-west-1`.
pub fn is_region_name(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty())
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_long_term_and_temporary_keys() {
        let k = AccessKeyId::parse("  AKIAIOSFODNN7EXAMPLE ").unwrap();
        assert_eq!(k.kind(), KeyKind::LongTerm);
        assert_eq!(k.as_str(), "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(k.short(), "AKIA…MPLE");
        let t = AccessKeyId::parse("ASIAIOSFODNN7EXAMPLE").unwrap();
        assert_eq!(t.kind(), KeyKind::Temporary);
    }

    #[test]
    fn rejects_what_is_not_an_access_key_id_with_the_reason() {
        use KeyIdError::*;
        let cases: &[(&str, KeyIdError)] = &[
            ("", Missing),
            ("akiaiosfodnn7example", Lowercase),
            ("AKIAIOSFODNN7EXAMPL", WrongLength(19)),
            ("AKIAIOSFODNN7EXAMPLEX", WrongLength(21)),
            ("AKIAIOSFODNN7EXAMP-E", BadCharacters),
            ("ABCDIOSFODNN7EXAMPLE", WrongPrefix),
            (
                "AIDAJQABLZS4A3QDU576Q",
                NotAnAccessKey {
                    prefix: "AIDA".into(),
                    what: "user",
                },
            ),
            (
                "AROAJQABLZS4A3QDU576Q",
                NotAnAccessKey {
                    prefix: "AROA".into(),
                    what: "role",
                },
            ),
            ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", LooksLikeSecret),
        ];
        for (raw, want) in cases {
            assert_eq!(AccessKeyId::parse(raw).as_ref(), Err(want), "{raw}");
        }
    }

    #[test]
    fn secret_detection_needs_the_exact_shape() {
        assert!(looks_like_secret(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        ));
        assert!(!looks_like_secret("AKIAIOSFODNN7EXAMPLE"));
        // 40 upper-case letters is not the shape of a secret key (no lower case or symbols).
        assert!(!looks_like_secret(&"A".repeat(40)));
        assert!(!looks_like_secret(&"a".repeat(41)));
    }

    #[test]
    fn account_and_incident_ids() {
        assert!(AccountId::parse("123456789012").is_ok());
        assert!(AccountId::parse("12345678901").is_err());
        assert!(AccountId::parse("12345678901a").is_err());
        let id = IncidentId::from_random(0x1a2b3c4d);
        assert_eq!(id.as_str(), "KL-1A2B3C4D");
        assert_eq!(IncidentId::parse("kl-1a2b3c4d"), Ok(id));
        assert!(IncidentId::parse("KL-XYZ").is_err());
    }

    #[test]
    fn roster_entries() {
        assert_eq!(
            RosterEntry::parse("U024BE7LH"),
            Ok(RosterEntry::User(SlackUserId("U024BE7LH".into())))
        );
        assert_eq!(
            RosterEntry::parse("S0614TZR7"),
            Ok(RosterEntry::Group("S0614TZR7".into()))
        );
        assert!(RosterEntry::parse("alice").is_err());
    }
}
