//! The attacker's footprint for people: each technique the records show with what it was done
//! to, the secrets and parameters it read (to rotate), and what it blinded, from when (what
//! can no longer be trusted).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::TrailEvent;
use super::technique::{Technique, accelerated, techniques};

/// At most this many targets are kept per technique; the count is always complete.
const TARGETS_KEPT: usize = 8;

/// A technique seen: how often, first when, and what it was done to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub technique: Technique,
    pub count: usize,
    pub first: DateTime<Utc>,
    pub targets: Vec<String>,
}

/// What a read exposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exposed {
    Secret,
    Parameter,
    /// Every parameter under a path, read with decryption.
    ParameterPath,
    WindowsPassword,
    /// An instance's user data: scripts often carry credentials.
    UserData,
}

/// A secret the attacker read: rotate it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToRotate {
    pub kind: Exposed,
    pub name: String,
    pub account: String,
    pub region: String,
    pub first_read: DateTime<Utc>,
}

/// Something the attacker blinded: what it hides from then on cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blinded {
    pub technique: Technique,
    pub what: String,
    pub account: String,
    pub region: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Footprint {
    pub techniques: Vec<Seen>,
    pub rotate: Vec<ToRotate>,
    pub blinded: Vec<Blinded>,
}

/// The strings at a JSON pointer: one, or each of an array's.
fn at(v: &Value, pointer: &str) -> Vec<String> {
    match v.pointer(pointer) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

fn first(v: &Value, pointers: &[&str]) -> Vec<String> {
    pointers
        .iter()
        .map(|p| at(v, p))
        .find(|found| !found.is_empty())
        .unwrap_or_default()
}

/// Who a share opened to: accounts, or everyone.
fn shared_with(items: &Value) -> String {
    let mut who: Vec<String> = Vec::new();
    for item in items.as_array().into_iter().flatten() {
        if let Some(a) = item.get("userId").and_then(Value::as_str) {
            who.push(format!("account {a}"));
        }
        if item.get("group").and_then(Value::as_str) == Some("all") {
            who.push("everyone".into());
        }
        if let Some(s) = item.as_str() {
            who.push(if s == "all" {
                "everyone".into()
            } else {
                format!("account {s}")
            });
        }
    }
    who.join(", ")
}

/// What the event did it to, in a few words per target.
fn targets(e: &TrailEvent, t: Technique) -> Vec<String> {
    use Technique::*;
    let r = &e.request;
    let with = |what: Vec<String>, to: String| -> Vec<String> {
        what.into_iter()
            .map(|w| {
                if to.is_empty() {
                    w
                } else {
                    format!("{w} with {to}")
                }
            })
            .collect()
    };
    match t {
        NewUser | ConsolePassword | AccessKeyForAnotherUser | OtherCredential => at(r, "/userName"),
        AdminPolicyAttached | PolicyAttached => {
            let who = first(r, &["/userName", "/groupName", "/roleName", "/policyArn"]);
            let what = first(r, &["/policyArn", "/policyName"]);
            who.into_iter()
                .map(|w| match what.first() {
                    Some(p) if *p != w => format!("{w} ← {p}"),
                    _ => w,
                })
                .collect()
        }
        RoleTrustOpenedOutside | RoleTrustChanged | RoleTrustingOutside => at(r, "/roleName"),
        FunctionSharedOutside => with(at(r, "/functionName"), first(r, &["/principal"]).join("")),
        FunctionChanged => first(r, &["/functionName", "/layerName"]),
        RolesAnywhere => first(r, &["/name", "/trustAnchorId", "/profileId"]),
        IdentityProvider => first(
            r,
            &[
                "/name",
                "/url",
                "/openIDConnectProviderArn",
                "/sAMLProviderArn",
            ],
        ),
        FederationToken => at(r, "/name"),
        ConsoleSigninToken | ConsoleLogin => e
            .identity
            .user_name
            .clone()
            .or_else(|| e.identity.arn.clone())
            .into_iter()
            .collect(),
        KeyReactivated => at(r, "/accessKeyId"),
        SnapshotShared => with(
            at(r, "/snapshotId"),
            shared_with(
                r.pointer("/createVolumePermission/add/items")
                    .unwrap_or(&Value::Null),
            ),
        ),
        ImageShared => with(
            at(r, "/imageId"),
            shared_with(
                r.pointer("/launchPermission/add/items")
                    .unwrap_or(&Value::Null),
            ),
        ),
        DbSnapshotShared => with(
            first(
                r,
                &["/dBSnapshotIdentifier", "/dBClusterSnapshotIdentifier"],
            ),
            shared_with(r.get("valuesToAdd").unwrap_or(&Value::Null)),
        ),
        BucketOpened | LogBucketLifecycle | MassDeletion | ReEncryption => {
            let b = at(r, "/bucketName");
            if b.is_empty() {
                vec![format!("account-wide, {}", e.region)]
            } else {
                b
            }
        }
        FirewallOpened => at(r, "/groupId"),
        SecretRead => first(r, &["/secretId", "/secretIdList"]),
        ParameterDecrypted => first(r, &["/name", "/names", "/path"]),
        WindowsPasswordRead | UserDataRead | UserDataChanged | SshKeyPushed => at(r, "/instanceId"),
        TrailStopped | TrailDeleted | TrailChanged => first(r, &["/name", "/trailName"]),
        GuardDutyDisabled => at(r, "/detectorId"),
        FlowLogsDeleted => first(
            r,
            &["/DeleteFlowLogsRequest/FlowLogId/content", "/flowLogIds"],
        ),
        DnsLogsDeleted => at(r, "/resolverQueryLogConfigId"),
        ConfigStopped => first(r, &["/configurationRecorderName", "/deliveryChannelName"]),
        ModelAccessEnabled | ModelInvoked => first(r, &["/modelId"]),
        EmailAbuse => first(r, &["/emailIdentity", "/emailAddress", "/domain"]),
        ComputeLaunched => compute(e),
        RunCommand => at(r, "/instanceIds"),
        ShellSession => at(r, "/target"),
        InstanceStarted => e
            .request
            .pointer("/instancesSet/items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|i| i.get("instanceId").and_then(Value::as_str))
            .map(str::to_string)
            .collect(),
        LeftOrganization | SerialConsoleEnabled => {
            vec![e.account().unwrap_or(e.region.as_str()).to_string()]
        }
    }
}

/// `20 × p4d.24xlarge in eu-west-1 (GPU or accelerator family)`.
fn compute(e: &TrailEvent) -> Vec<String> {
    let kind = first(
        &e.request,
        &["/instanceType", "/launchSpecification/instanceType"],
    );
    let count = e
        .request
        .pointer("/instancesSet/items/0/maxCount")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    kind.into_iter()
        .map(|k| {
            let hint = if accelerated(&k) {
                " (GPU or accelerator family: what crypto-mining launches, often tens of \
                 dollars an hour each)"
            } else {
                ""
            };
            format!("{count} × {k} in {}{hint}", e.region)
        })
        .collect()
}

fn exposed(t: Technique, e: &TrailEvent) -> Option<Exposed> {
    Some(match t {
        Technique::SecretRead => Exposed::Secret,
        Technique::ParameterDecrypted if e.name == "GetParametersByPath" => Exposed::ParameterPath,
        Technique::ParameterDecrypted => Exposed::Parameter,
        Technique::WindowsPasswordRead => Exposed::WindowsPassword,
        Technique::UserDataRead => Exposed::UserData,
        _ => return None,
    })
}

/// The footprint of a timeline (oldest first or not): techniques in catalogue order, reads
/// to rotate and blinding in time order, each once.
pub fn footprint(events: &[TrailEvent]) -> Footprint {
    let mut seen: BTreeMap<Technique, Seen> = BTreeMap::new();
    let mut rotate: BTreeMap<(Exposed, String, String, String), DateTime<Utc>> = BTreeMap::new();
    let mut blinded: Vec<Blinded> = Vec::new();
    for e in events {
        for t in techniques(e) {
            let found = targets(e, t);
            let s = seen.entry(t).or_insert_with(|| Seen {
                technique: t,
                count: 0,
                first: e.time,
                targets: Vec::new(),
            });
            s.count += 1;
            s.first = s.first.min(e.time);
            for target in &found {
                if s.targets.len() < TARGETS_KEPT && !s.targets.contains(target) {
                    s.targets.push(target.clone());
                }
            }
            let account = e.account().unwrap_or_default().to_string();
            if let Some(kind) = exposed(t, e) {
                for name in &found {
                    let key = (kind, name.clone(), account.clone(), e.region.clone());
                    let when = rotate.entry(key).or_insert(e.time);
                    *when = (*when).min(e.time);
                }
            }
            if t.blinds() {
                blinded.push(Blinded {
                    technique: t,
                    what: if found.is_empty() {
                        e.region.clone()
                    } else {
                        found.join(", ")
                    },
                    account,
                    region: e.region.clone(),
                    at: e.time,
                });
            }
        }
    }
    let mut rotate: Vec<ToRotate> = rotate
        .into_iter()
        .map(|((kind, name, account, region), first_read)| ToRotate {
            kind,
            name,
            account,
            region,
            first_read,
        })
        .collect();
    rotate.sort_by_key(|r| r.first_read);
    blinded.sort_by_key(|b| b.at);
    Footprint {
        techniques: seen.into_values().collect(),
        rotate,
        blinded,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{self, log};
    use super::*;

    #[test]
    fn every_read_secret_is_on_the_rotate_list_once() {
        let mut events = log(fixtures::CREDENTIAL_ACCESS);
        // Read again later: still one entry, with the first read's time.
        let again = TrailEvent {
            time: events[0].time + chrono::Duration::hours(1),
            ..events[0].clone()
        };
        events.push(again);
        let f = footprint(&events);
        let names: Vec<(Exposed, &str)> =
            f.rotate.iter().map(|r| (r.kind, r.name.as_str())).collect();
        assert_eq!(
            names,
            [
                (Exposed::Secret, "prod/db/password"),
                (Exposed::Secret, "prod/github/token"),
                (Exposed::Secret, "prod/stripe/key"),
                (Exposed::Parameter, "/prod/api/signing-key"),
                (Exposed::Parameter, "/prod/db/pass"),
                (Exposed::Parameter, "/prod/db/user"),
                (Exposed::WindowsPassword, "i-0a1b2c3d4e5f6a7b8"),
                (Exposed::UserData, "i-0a1b2c3d4e5f6a7b8"),
            ]
        );
        assert_eq!(f.rotate[0].first_read, events[0].time);
        assert_eq!(f.rotate[0].account, "111122223333");
    }

    #[test]
    fn blinding_is_named_with_what_and_when() {
        let f = footprint(&log(fixtures::DEFENSE_EVASION));
        assert_eq!(f.blinded.len(), 10);
        let first = &f.blinded[0];
        assert_eq!(first.technique, Technique::TrailStopped);
        assert_eq!(
            first.what,
            "arn:aws:cloudtrail:us-east-1:111122223333:trail/org-trail"
        );
        assert!(f.blinded.windows(2).all(|w| w[0].at <= w[1].at));
        let whats: Vec<&str> = f.blinded.iter().map(|b| b.what.as_str()).collect();
        for want in [
            "acme-cloudtrail-logs",
            "12abc34d567e8fa901bc2d34eexample",
            "fl-0a1b2c3d4e5f6a7b8",
            "rqlc-0a1b2c3d4e5f6a7b",
            "default",
            "111122223333",
        ] {
            assert!(whats.contains(&want), "{want} in {whats:?}");
        }
    }

    #[test]
    fn targets_say_who_a_share_opened_to_and_what_was_launched() {
        let f = footprint(&log(fixtures::EXFILTRATION));
        let snapshots = f
            .techniques
            .iter()
            .find(|s| s.technique == Technique::SnapshotShared)
            .unwrap();
        assert_eq!(snapshots.count, 2);
        assert_eq!(
            snapshots.targets,
            [
                "snap-0a1b2c3d4e5f6a7b8 with account 444455556666",
                "snap-0b2c3d4e5f6a7b8c9 with everyone"
            ]
        );
        let impact = footprint(&log(fixtures::IMPACT));
        let compute = impact
            .techniques
            .iter()
            .find(|s| s.technique == Technique::ComputeLaunched)
            .unwrap();
        assert!(
            compute.targets[0].starts_with("20 × p4d.24xlarge in eu-west-1 (GPU"),
            "{:?}",
            compute.targets
        );
        let persistence = footprint(&log(fixtures::PERSISTENCE));
        let admin = persistence
            .techniques
            .iter()
            .find(|s| s.technique == Technique::AdminPolicyAttached)
            .unwrap();
        assert_eq!(
            admin.targets,
            ["backdoor-admin ← arn:aws:iam::aws:policy/AdministratorAccess"]
        );
    }
}
