//! Credentials an event minted: the temporary keys to look up next, and the roles whose
//! sessions must be fenced (docs/aws.md: deactivating a key ends none of its sessions).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::TrailEvent;
use crate::domain::ids::{AccessKeyId, AccountId, KeyKind};

/// How a temporary key came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MintedBy {
    SessionToken,
    FederationToken,
    AssumeRole,
    AssumeRoleWithSaml,
    AssumeRoleWithWebIdentity,
}

impl MintedBy {
    fn from_event_name(name: &str) -> Option<Self> {
        Some(match name {
            "GetSessionToken" => Self::SessionToken,
            "GetFederationToken" => Self::FederationToken,
            "AssumeRole" => Self::AssumeRole,
            "AssumeRoleWithSAML" => Self::AssumeRoleWithSaml,
            "AssumeRoleWithWebIdentity" => Self::AssumeRoleWithWebIdentity,
            _ => return None,
        })
    }

    pub fn event_name(self) -> &'static str {
        match self {
            Self::SessionToken => "GetSessionToken",
            Self::FederationToken => "GetFederationToken",
            Self::AssumeRole => "AssumeRole",
            Self::AssumeRoleWithSaml => "AssumeRoleWithSAML",
            Self::AssumeRoleWithWebIdentity => "AssumeRoleWithWebIdentity",
        }
    }
}

/// The most keys an investigation follows, the leaked one included: a bound on a runaway
/// chain of sessions.
pub const MAX_KEYS: usize = 100;

/// A temporary key minted by a call the investigated keys made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Minted {
    pub key: AccessKeyId,
    /// The key that made the call.
    pub parent: Option<String>,
    pub by: MintedBy,
    /// For role sessions: the role assumed.
    pub role_arn: Option<String>,
    /// Where the new key's calls are logged: the role's account, or the caller's.
    pub account: Option<AccountId>,
    pub event_id: String,
}

/// The temporary key a successful credential-minting event returned.
pub fn minted(e: &TrailEvent) -> Option<Minted> {
    let by = MintedBy::from_event_name(&e.name)?;
    if e.error_code.is_some() {
        return None;
    }
    let key = e
        .response
        .pointer("/credentials/accessKeyId")
        .and_then(Value::as_str)
        .and_then(|k| AccessKeyId::parse(k).ok())
        .filter(|k| k.kind() == KeyKind::Temporary)?;
    let role_arn = e
        .request
        .get("roleArn")
        .and_then(Value::as_str)
        .map(str::to_string);
    let account = role_arn
        .as_deref()
        .and_then(arn_account)
        .or(e.identity.account_id.as_deref())
        .and_then(|a| AccountId::parse(a).ok());
    Some(Minted {
        key,
        parent: e.identity.access_key_id.clone().filter(|k| !k.is_empty()),
        by,
        role_arn,
        account,
        event_id: e.event_id.clone(),
    })
}

/// The account field of an ARN (`arn:partition:service:region:account:resource`).
pub fn arn_account(arn: &str) -> Option<&str> {
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

/// A role whose sessions the investigated keys obtained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssumedRole {
    pub arn: String,
    pub account: Option<AccountId>,
    pub name: String,
    pub sessions: usize,
    pub kind: RoleKind,
}

/// Whether an inline fence can be put on the role (docs/aws.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleKind {
    Ordinary,
    /// Its policies belong to the service; its sessions cannot be fenced.
    ServiceLinked,
    /// Managed by IAM Identity Center: sessions are revoked there.
    IdentityCenter,
}

pub fn role_kind(arn: &str) -> RoleKind {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or_default();
    if resource.starts_with("role/aws-service-role/") {
        RoleKind::ServiceLinked
    } else if resource.starts_with("role/aws-reserved/sso.amazonaws.com/")
        || role_name(arn).starts_with("AWSReservedSSO_")
    {
        RoleKind::IdentityCenter
    } else {
        RoleKind::Ordinary
    }
}

/// The role's name: the last part of its path.
pub fn role_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The roles the minted keys came from, with how many sessions each gave.
pub fn assumed_roles<'a>(minted: impl IntoIterator<Item = &'a Minted>) -> Vec<AssumedRole> {
    let mut by_arn: BTreeMap<&str, (Option<AccountId>, usize)> = BTreeMap::new();
    for m in minted {
        if let Some(arn) = m.role_arn.as_deref() {
            let entry = by_arn.entry(arn).or_insert((m.account.clone(), 0));
            entry.1 += 1;
        }
    }
    by_arn
        .into_iter()
        .map(|(arn, (account, sessions))| AssumedRole {
            arn: arn.to_string(),
            account,
            name: role_name(arn).to_string(),
            sessions,
            kind: role_kind(arn),
        })
        .collect()
}

/// What became of a key offered to the frontier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    New,
    Seen,
    /// Not followed: `MAX_KEYS` keys are followed already.
    Full,
}

/// Which keys are left to look up: breadth first from the leaked key, each key once, so a
/// role chain that loops (A assumes B assumes A) ends.
#[derive(Debug, Default)]
pub struct Frontier {
    seen: BTreeSet<String>,
    queue: VecDeque<(AccessKeyId, Option<AccountId>)>,
}

impl Frontier {
    pub fn new(root: AccessKeyId, account: Option<AccountId>) -> Self {
        let mut f = Self::default();
        f.push(root, account);
        f
    }

    /// Adds a key unless it was seen, or `MAX_KEYS` were followed already.
    pub fn push(&mut self, key: AccessKeyId, account: Option<AccountId>) -> Pushed {
        if self.seen.contains(key.as_str()) {
            return Pushed::Seen;
        }
        if self.seen.len() >= MAX_KEYS {
            return Pushed::Full;
        }
        self.seen.insert(key.as_str().to_string());
        self.queue.push_back((key, account));
        Pushed::New
    }

    pub fn pop(&mut self) -> Option<(AccessKeyId, Option<AccountId>)> {
        self.queue.pop_front()
    }

    pub fn seen(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{self, event};
    use super::*;

    #[test]
    fn assume_role_mints_a_key_in_the_roles_account() {
        let m = minted(&event(fixtures::ASSUME_ROLE)).unwrap();
        assert_eq!(m.key.as_str(), "ASIAI44QH8DHBEXAMPLE");
        assert_eq!(m.parent.as_deref(), Some("AKIAIOSFODNN7EXAMPLE"));
        assert_eq!(m.by, MintedBy::AssumeRole);
        assert_eq!(
            m.role_arn.as_deref(),
            Some("arn:aws:iam::444455556666:role/ops-admin")
        );
        assert_eq!(m.account.unwrap().as_str(), "444455556666");
    }

    #[test]
    fn get_session_token_mints_a_key_in_the_callers_account() {
        let m = minted(&event(fixtures::GET_SESSION_TOKEN)).unwrap();
        assert_eq!(m.by, MintedBy::SessionToken);
        assert_eq!(m.role_arn, None);
        assert_eq!(m.account.unwrap().as_str(), "111122223333");
    }

    #[test]
    fn failed_or_unrelated_events_mint_nothing() {
        let mut e = event(fixtures::ASSUME_ROLE);
        e.error_code = Some("AccessDenied".into());
        assert_eq!(minted(&e), None);
        assert_eq!(minted(&event(fixtures::CREATE_ACCESS_KEY)), None);
        let mut e = event(fixtures::ASSUME_ROLE);
        e.response["credentials"]["accessKeyId"] = "AKIAIOSFODNN7EXAMPLE".into();
        assert_eq!(minted(&e), None, "a long-term key is not a session");
    }

    #[test]
    fn service_linked_and_identity_center_roles_are_told_apart() {
        let arn = "arn:aws:iam::111122223333:role/aws-service-role/elasticbeanstalk.amazonaws.com/AWSServiceRoleForElasticBeanstalk";
        assert_eq!(role_kind(arn), RoleKind::ServiceLinked);
        let sso = "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0123456789abcdef";
        assert_eq!(role_kind(sso), RoleKind::IdentityCenter);
        assert_eq!(role_name(sso), "AWSReservedSSO_Admin_0123456789abcdef");
        assert_eq!(
            role_kind("arn:aws:iam::111122223333:role/team/ops-admin"),
            RoleKind::Ordinary
        );
    }

    #[test]
    fn roles_are_counted_once_each() {
        let m = minted(&event(fixtures::ASSUME_ROLE)).unwrap();
        let again = Minted {
            key: AccessKeyId::parse("ASIAJ7VT3PZVEXAMPLE1").unwrap(),
            ..m.clone()
        };
        let roles = assumed_roles([&m, &again]);
        assert_eq!(roles.len(), 1);
        assert_eq!(roles[0].sessions, 2);
        assert_eq!(roles[0].name, "ops-admin");
    }

    #[test]
    fn the_frontier_visits_each_key_once_even_in_a_cycle() {
        let a = AccessKeyId::parse("AKIAIOSFODNN7EXAMPLE").unwrap();
        let b = AccessKeyId::parse("ASIAI44QH8DHBEXAMPLE").unwrap();
        let mut f = Frontier::new(a.clone(), None);
        assert_eq!(f.pop().unwrap().0, a);
        assert_eq!(f.push(b.clone(), None), Pushed::New);
        assert_eq!(
            f.push(a, None),
            Pushed::Seen,
            "the root comes back through a cycle"
        );
        assert_eq!(f.push(b.clone(), None), Pushed::Seen);
        assert_eq!(f.pop().unwrap().0, b);
        assert!(f.pop().is_none());
        assert_eq!(f.seen(), 2);
    }

    #[test]
    fn the_frontier_follows_at_most_max_keys() {
        let key = |n: usize| AccessKeyId::parse(&format!("ASIA{n:016}")).unwrap();
        let mut f = Frontier::new(key(0), None);
        for n in 1..MAX_KEYS {
            assert_eq!(f.push(key(n), None), Pushed::New);
        }
        assert_eq!(f.push(key(MAX_KEYS), None), Pushed::Full);
        assert_eq!(f.push(key(1), None), Pushed::Seen);
        assert_eq!(f.seen(), MAX_KEYS);
    }
}
