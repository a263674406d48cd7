//! Who issued a temporary key (docs/aws.md, "What cuts an attacker off"): the
//! event whose response holds the key, or failing that the key's own calls, whose identity
//! names the session's issuer. A cross-account AssumeRole is logged in both accounts with
//! one `sharedEventID`; either copy names the same role and caller.

use chrono::{DateTime, Duration, Utc};

use super::TrailEvent;
use super::pivot::{MintedBy, arn_account, minted};
use crate::domain::ids::AccessKeyId;
use crate::domain::incident::{Issuer, KeyOrigin, MintingEvent};

/// The longest a temporary key lives (GetSessionToken, GetFederationToken): a key that
/// still works was minted within this much of now.
pub const MAX_SESSION_HOURS: i64 = 36;
/// Around a session's `creationDate`, where its minting event must be.
const AROUND_CREATION_MINUTES: i64 = 5;

/// The issuer named by the minting event among `events`, if one minted `key`.
pub fn from_minting(key: &AccessKeyId, events: &[TrailEvent]) -> Option<KeyOrigin> {
    let (e, m) = events
        .iter()
        .filter_map(|e| minted(e).map(|m| (e, m)))
        .find(|(_, m)| &m.key == key)?;
    let issuer = match m.by {
        MintedBy::SessionToken | MintedBy::FederationToken => Issuer::User {
            // Root can mint these too; root takes no policy, so there is no issuer to fence.
            name: e.identity.user_name.clone().filter(|_| is_iam_user(e))?,
            account: e.identity.account_id.clone()?,
        },
        _ => {
            let arn = m.role_arn?;
            Issuer::Role {
                account: arn_account(&arn)?.to_string(),
                arn,
            }
        }
    };
    Some(KeyOrigin {
        issuer,
        event: Some(MintingEvent {
            name: e.name.clone(),
            event_id: e.event_id.clone(),
            at: e.time,
            region: e.region.clone(),
            parent_key: m.parent,
            caller_account: e.identity.account_id.clone(),
            source_ip: e.source_ip.clone(),
        }),
    })
}

fn is_iam_user(e: &TrailEvent) -> bool {
    e.identity.kind.as_deref() == Some("IAMUser")
}

/// The issuer as the key's own calls show it, when the minting event is not to be had.
pub fn from_use(key: &AccessKeyId, used: &[TrailEvent]) -> Option<KeyOrigin> {
    let id = used
        .iter()
        .map(|e| &e.identity)
        .find(|i| i.access_key_id.as_deref() == Some(key.as_str()))?;
    let issuer = match id.kind.as_deref()? {
        "AssumedRole" => {
            let arn = id.session_issuer.clone()?;
            Issuer::Role {
                account: arn_account(&arn)?.to_string(),
                arn,
            }
        }
        "IAMUser" => Issuer::User {
            name: id.user_name.clone()?,
            account: id.account_id.clone()?,
        },
        // GetFederationToken: the session's issuer is the IAM user that called it.
        "FederatedUser" => {
            let arn = id.session_issuer.clone()?;
            let name = arn.strip_prefix(&format!("arn:aws:iam::{}:user/", arn_account(&arn)?))?;
            Issuer::User {
                name: name.rsplit('/').next()?.to_string(),
                account: arn_account(&arn)?.to_string(),
            }
        }
        _ => return None,
    };
    Some(KeyOrigin {
        issuer,
        event: None,
    })
}

/// Where to look for the minting event: around the session's creation when its calls say
/// it, else in the key's longest life before its first call (or before now).
pub fn search_window(
    now: DateTime<Utc>,
    key: &AccessKeyId,
    used: &[TrailEvent],
) -> (DateTime<Utc>, DateTime<Utc>) {
    let mine = used
        .iter()
        .filter(|e| e.identity.access_key_id.as_deref() == Some(key.as_str()));
    if let Some(created) = mine.clone().find_map(|e| e.identity.session_created) {
        let around = Duration::minutes(AROUND_CREATION_MINUTES);
        return (created - around, (created + around).min(now));
    }
    let until = mine.map(|e| e.time).min().unwrap_or(now);
    (until - Duration::hours(MAX_SESSION_HOURS), until)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::trail::fixtures::{self, event};

    fn key(k: &str) -> AccessKeyId {
        AccessKeyId::parse(k).unwrap()
    }

    #[test]
    fn an_assume_role_event_names_the_role_and_the_key_that_called() {
        let events = [
            event(fixtures::LIST_USERS),
            event(fixtures::ASSUME_ROLE),
            event(fixtures::GET_SESSION_TOKEN),
        ];
        let o = from_minting(&key("ASIAI44QH8DHBEXAMPLE"), &events).unwrap();
        assert_eq!(
            o.issuer,
            Issuer::Role {
                arn: "arn:aws:iam::444455556666:role/ops-admin".into(),
                account: "444455556666".into()
            }
        );
        let m = o.event.unwrap();
        assert_eq!(m.name, "AssumeRole");
        assert_eq!(m.parent_key.as_deref(), Some("AKIAIOSFODNN7EXAMPLE"));
        assert_eq!(m.caller_account.as_deref(), Some("111122223333"));
    }

    #[test]
    fn a_session_token_names_the_user() {
        let events = [event(fixtures::GET_SESSION_TOKEN)];
        let o = from_minting(&key("ASIAJ7VT3PZVEXAMPLE0"), &events).unwrap();
        assert_eq!(
            o.issuer,
            Issuer::User {
                name: "ci-deploy".into(),
                account: "111122223333".into()
            }
        );
        assert!(from_minting(&key("ASIAJ7VT3PZVEXAMPLE1"), &events).is_none());
    }

    #[test]
    fn a_root_session_token_has_no_issuer_to_fence() {
        let mut e = event(fixtures::GET_SESSION_TOKEN);
        e.identity.kind = Some("Root".into());
        e.identity.user_name = None;
        assert!(from_minting(&key("ASIAJ7VT3PZVEXAMPLE0"), &[e]).is_none());
    }

    #[test]
    fn the_keys_own_calls_name_its_role_and_narrow_the_search() {
        let used = [event(fixtures::RUN_INSTANCES)];
        let k = key("ASIAI44QH8DHBEXAMPLE");
        let o = from_use(&k, &used).unwrap();
        assert!(o.event.is_none());
        assert!(
            matches!(o.issuer, Issuer::Role { ref arn, .. } if arn == "arn:aws:iam::444455556666:role/ops-admin")
        );
        let now = Utc::now();
        let (since, until) = search_window(now, &k, &used);
        assert_eq!(until - since, Duration::minutes(10));
        assert_eq!(since.to_rfc3339(), "2026-11-20T15:02:39+00:00");
    }

    #[test]
    fn without_a_creation_date_the_search_spans_a_sessions_longest_life() {
        let k = key("ASIAI44QH8DHBEXAMPLE");
        let now = Utc::now();
        assert_eq!(
            search_window(now, &k, &[]),
            (now - Duration::hours(36), now)
        );
        let mut used = event(fixtures::RUN_INSTANCES);
        used.identity.session_created = None;
        let (since, until) = search_window(now, &k, std::slice::from_ref(&used));
        assert_eq!(until, used.time);
        assert_eq!(until - since, Duration::hours(36));
    }

    #[test]
    fn a_federated_users_calls_name_the_iam_user() {
        let mut e = event(fixtures::LIST_USERS);
        e.identity.kind = Some("FederatedUser".into());
        e.identity.access_key_id = Some("ASIAJ7VT3PZVEXAMPLE0".into());
        e.identity.session_issuer = Some("arn:aws:iam::111122223333:user/ops/ci-deploy".into());
        let o = from_use(&key("ASIAJ7VT3PZVEXAMPLE0"), &[e]).unwrap();
        assert_eq!(
            o.issuer,
            Issuer::User {
                name: "ci-deploy".into(),
                account: "111122223333".into()
            }
        );
    }
}
