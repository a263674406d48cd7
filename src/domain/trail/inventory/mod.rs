//! What the attacker created, read from the successful events' parameters and responses,
//! and which of it can become a cleanup proposal.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::technique::{Technique, outside_principals, techniques};
use super::{Provenance, TrailEvent};
use crate::domain::approval::{Grantor, Shared};
use crate::domain::cleanup::{MAX_INSTANCES, Target};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    User,
    AccessKey,
    LoginProfile,
    Role,
    Policy,
    Instance,
    Function,
    Bucket,
    SnapshotShared,
    ImageShared,
    FunctionPermission,
    IngressRule,
    TrustOpened,
    BucketPolicyOpened,
    BucketAclOpened,
    PublicAccessBlockLifted,
    DbSnapshotShared,
    DbClusterSnapshotShared,
    KeyPair,
    SecurityGroup,
    Stack,
    MfaDevice,
    IdentityProvider,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "IAM user",
            Self::AccessKey => "access key",
            Self::LoginProfile => "console password",
            Self::Role => "IAM role",
            Self::Policy => "IAM policy",
            Self::Instance => "EC2 instance",
            Self::Function => "Lambda function",
            Self::Bucket => "S3 bucket",
            Self::SnapshotShared => "snapshot shared out",
            Self::ImageShared => "AMI shared out",
            Self::FunctionPermission => "Lambda permission for another account",
            Self::IngressRule => "inbound rule open to the internet",
            Self::TrustOpened => "role trust opened to another account",
            Self::BucketPolicyOpened => "bucket policy opened",
            Self::BucketAclOpened => "bucket ACL opened to everyone",
            Self::PublicAccessBlockLifted => "bucket public access block lifted",
            Self::DbSnapshotShared => "RDS snapshot shared out",
            Self::DbClusterSnapshotShared => "RDS cluster snapshot shared out",
            Self::KeyPair => "EC2 key pair",
            Self::SecurityGroup => "security group",
            Self::Stack => "CloudFormation stack",
            Self::MfaDevice => "MFA device",
            Self::IdentityProvider => "identity provider",
        }
    }
}

/// One thing an event created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    pub kind: ResourceKind,
    /// The name, id or ARN AWS knows it by.
    pub id: String,
    /// The user it belongs to, for keys and passwords.
    pub owner: Option<String>,
    /// More about it (who a snapshot was shared with).
    pub detail: Option<String>,
    pub region: String,
    pub account: Option<String>,
    pub event_id: String,
    /// Where the creating event was read. Absent from findings stored before it was kept.
    #[serde(default)]
    pub provenance: Provenance,
    /// The outside principals a policy was opened to, to take back out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grantees: Vec<String>,
}

fn at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// What one event created; nothing for a failed call.
pub fn created(e: &TrailEvent) -> Vec<Created> {
    if e.error_code.is_some() {
        return vec![];
    }
    let one = |kind, id: Option<&str>, owner: Option<&str>| {
        id.map(|id| Created {
            kind,
            id: id.to_string(),
            owner: owner.map(str::to_string),
            detail: None,
            region: e.region.clone(),
            account: e.account().map(str::to_string),
            event_id: e.event_id.clone(),
            provenance: e.provenance,
            grantees: vec![],
        })
        .into_iter()
        .collect::<Vec<_>>()
    };
    let (req, resp) = (&e.request, &e.response);
    let caller = e.identity.user_name.as_deref();
    match e.name.as_str() {
        "CreateUser" => one(ResourceKind::User, at(req, "/userName"), None),
        "CreateAccessKey" => one(
            ResourceKind::AccessKey,
            at(resp, "/accessKey/accessKeyId"),
            at(resp, "/accessKey/userName")
                .or(at(req, "/userName"))
                .or(caller),
        ),
        "CreateLoginProfile" => {
            let user = at(req, "/userName").or(caller);
            one(ResourceKind::LoginProfile, user, user)
        }
        "CreateRole" => one(ResourceKind::Role, at(req, "/roleName"), None),
        "CreatePolicy" => one(ResourceKind::Policy, at(resp, "/policy/arn"), None),
        "RunInstances" => resp
            .pointer("/instancesSet/items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|i| one(ResourceKind::Instance, at(i, "/instanceId"), None))
            .collect(),
        "CreateFunction" | "CreateFunction20150331" => one(
            ResourceKind::Function,
            at(resp, "/functionName").or(at(req, "/functionName")),
            None,
        ),
        "CreateBucket" => one(ResourceKind::Bucket, at(req, "/bucketName"), None),
        "ModifySnapshotAttribute" => shared_out(
            e,
            ResourceKind::SnapshotShared,
            "/snapshotId",
            "/createVolumePermission/add/items",
            one,
        ),
        "AddPermission" | "AddPermission20150331v2"
            if techniques(e).contains(&Technique::FunctionSharedOutside) =>
        {
            let mut out = one(
                ResourceKind::FunctionPermission,
                at(req, "/statementId"),
                at(req, "/functionName"),
            );
            for c in &mut out {
                c.detail = at(req, "/principal").map(|p| format!("for {p}"));
            }
            out
        }
        "AuthorizeSecurityGroupIngress" => opened_to_internet(e, one),
        "UpdateAssumeRolePolicy" => opened_to_others(
            e,
            one(ResourceKind::TrustOpened, at(req, "/roleName"), None),
            req.get("policyDocument"),
            "trusts",
        ),
        "PutBucketPolicy" => opened_to_others(
            e,
            one(
                ResourceKind::BucketPolicyOpened,
                at(req, "/bucketName"),
                None,
            ),
            req.get("bucketPolicy"),
            "lets in",
        ),
        "PutBucketAcl" | "DeleteBucketPublicAccessBlock" | "PutBucketPublicAccessBlock"
            if techniques(e).contains(&Technique::BucketOpened) =>
        {
            let kind = if e.name == "PutBucketAcl" {
                ResourceKind::BucketAclOpened
            } else {
                ResourceKind::PublicAccessBlockLifted
            };
            one(kind, at(req, "/bucketName"), None)
        }
        "ModifyDBSnapshotAttribute" | "ModifyDBClusterSnapshotAttribute"
            if techniques(e).contains(&Technique::DbSnapshotShared) =>
        {
            let (kind, id) = if e.name == "ModifyDBSnapshotAttribute" {
                (ResourceKind::DbSnapshotShared, "/dBSnapshotIdentifier")
            } else {
                (
                    ResourceKind::DbClusterSnapshotShared,
                    "/dBClusterSnapshotIdentifier",
                )
            };
            let added: Vec<&str> = req
                .pointer("/valuesToAdd")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let mut out = one(kind, at(req, id), None);
            for c in &mut out {
                c.detail = Some(format!("shared with {}", added.join(", ")));
            }
            out
        }
        "ModifyImageAttribute" => shared_out(
            e,
            ResourceKind::ImageShared,
            "/imageId",
            "/launchPermission/add/items",
            one,
        ),
        "CreateKeyPair" | "ImportKeyPair" => one(ResourceKind::KeyPair, at(req, "/keyName"), None),
        "CreateSecurityGroup" => one(ResourceKind::SecurityGroup, at(resp, "/groupId"), None),
        "CreateStack" => one(ResourceKind::Stack, at(resp, "/stackId"), None),
        "CreateVirtualMFADevice" => one(
            ResourceKind::MfaDevice,
            at(resp, "/virtualMFADevice/serialNumber"),
            None,
        ),
        "CreateSAMLProvider" | "CreateOpenIDConnectProvider" => one(
            ResourceKind::IdentityProvider,
            at(resp, "/sAMLProviderArn")
                .or(at(resp, "/openIDConnectProviderArn"))
                .or(at(req, "/name"))
                .or(at(req, "/url")),
            None,
        ),
        _ => vec![],
    }
}

/// The inbound rules an `AuthorizeSecurityGroupIngress` added that anyone on the internet
/// can reach, by the rule ids EC2 answered with.
fn opened_to_internet(
    e: &TrailEvent,
    one: impl Fn(ResourceKind, Option<&str>, Option<&str>) -> Vec<Created>,
) -> Vec<Created> {
    let rules = e
        .response
        .pointer("/securityGroupRuleSet/items")
        .and_then(Value::as_array);
    rules
        .into_iter()
        .flatten()
        .filter(|r| r.get("isEgress") != Some(&Value::Bool(true)))
        .filter(|r| at(r, "/cidrIpv4") == Some("0.0.0.0/0") || at(r, "/cidrIpv6") == Some("::/0"))
        .flat_map(|r| {
            let mut made = one(
                ResourceKind::IngressRule,
                at(r, "/securityGroupRuleId"),
                at(r, "/groupId"),
            );
            for c in &mut made {
                let ports = match (r.get("fromPort"), r.get("toPort")) {
                    (Some(from), Some(to)) if from == to => format!(" port {from}"),
                    (Some(from), Some(to)) => format!(" ports {from}-{to}"),
                    _ => String::new(),
                };
                c.detail = Some(format!(
                    "{}{ports} from {}",
                    at(r, "/ipProtocol").unwrap_or("any"),
                    at(r, "/cidrIpv4").or(at(r, "/cidrIpv6")).unwrap_or("?")
                ));
            }
            made
        })
        .collect()
}

/// A role's trust policy or a bucket's policy written to let in principals from outside the
/// account: those principals, to be taken back out.
fn opened_to_others(
    e: &TrailEvent,
    mut made: Vec<Created>,
    doc: Option<&Value>,
    verb: &str,
) -> Vec<Created> {
    let outside = outside_principals(doc, e.account());
    if outside.is_empty() {
        return vec![];
    }
    for c in &mut made {
        c.detail = Some(format!("{verb} {}", outside.join(", ")));
        c.grantees.clone_from(&outside);
    }
    made
}

/// A snapshot or image whose permission was opened to another account or to everyone.
fn shared_out(
    e: &TrailEvent,
    kind: ResourceKind,
    id: &str,
    items: &str,
    one: impl Fn(ResourceKind, Option<&str>, Option<&str>) -> Vec<Created>,
) -> Vec<Created> {
    let added: Vec<&str> = e
        .request
        .pointer(items)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| at(i, "/userId").or(at(i, "/group")))
        .collect();
    if added.is_empty() {
        return vec![];
    }
    let mut out = one(kind, at(&e.request, id), None);
    for c in &mut out {
        c.detail = Some(format!("shared with {}", added.join(", ")));
    }
    out
}

/// The users made in `account` or given a console password there, first `cap` of them:
/// their console sign-ins carry no access key, so they are followed by name.
pub fn users_made(created: &[Created], account: &str, cap: usize) -> Vec<String> {
    let mut users: Vec<String> = vec![];
    for c in created
        .iter()
        .filter(|c| c.account.as_deref() == Some(account))
    {
        let user = match c.kind {
            ResourceKind::User => Some(&c.id),
            ResourceKind::LoginProfile => c.owner.as_ref(),
            _ => None,
        };
        if let Some(u) = user.filter(|u| !users.contains(u))
            && users.len() < cap
        {
            users.push(u.clone());
        }
    }
    users
}

/// The cleanup proposals the inventory supports in `account` (proposals act in the incident's
/// account); the rest is left for people, listed in the summary. A user's own keys and
/// password go with the user, so they are not proposed twice.
pub fn cleanup_targets<'a>(
    created: &'a [Created],
    account: &str,
) -> (Vec<Target>, Vec<&'a Created>) {
    let users: Vec<&str> = created
        .iter()
        .filter(|c| c.kind == ResourceKind::User && c.account.as_deref() == Some(account))
        .map(|c| c.id.as_str())
        .collect();
    let roles: Vec<&str> = created
        .iter()
        .filter(|c| c.kind == ResourceKind::Role && c.account.as_deref() == Some(account))
        .map(|c| c.id.as_str())
        .collect();
    let mut targets: Vec<Target> = vec![];
    let mut manual = vec![];
    let mut instances: Vec<(String, Vec<String>)> = vec![];
    for c in created {
        if c.account.as_deref() != Some(account) {
            manual.push(c);
            continue;
        }
        let owner_goes = c.owner.as_deref().is_some_and(|o| users.contains(&o));
        let target = match c.kind {
            ResourceKind::User => Target::User { user: c.id.clone() },
            ResourceKind::AccessKey | ResourceKind::LoginProfile if owner_goes => continue,
            ResourceKind::AccessKey => Target::AccessKey { key: c.id.clone() },
            ResourceKind::LoginProfile => Target::LoginProfile { user: c.id.clone() },
            ResourceKind::Role => Target::Role { role: c.id.clone() },
            ResourceKind::Policy => Target::Policy { arn: c.id.clone() },
            ResourceKind::Function => Target::Function {
                region: c.region.clone(),
                name: c.id.clone(),
            },
            ResourceKind::IngressRule => match &c.owner {
                Some(group) => Target::IngressRule {
                    region: c.region.clone(),
                    group: group.clone(),
                    rule: c.id.clone(),
                },
                None => {
                    manual.push(c);
                    continue;
                }
            },
            ResourceKind::FunctionPermission => match &c.owner {
                Some(function) => Target::FunctionPermission {
                    region: c.region.clone(),
                    function: function.clone(),
                    statement: c.id.clone(),
                },
                None => {
                    manual.push(c);
                    continue;
                }
            },
            // A role the attacker made goes whole; its trust needs no edit.
            ResourceKind::TrustOpened if roles.contains(&c.id.as_str()) => continue,
            ResourceKind::TrustOpened if !c.grantees.is_empty() => Target::Grant {
                on: Grantor::RoleTrust { role: c.id.clone() },
                principals: c.grantees.clone(),
            },
            ResourceKind::BucketPolicyOpened if !c.grantees.is_empty() => Target::Grant {
                on: Grantor::BucketPolicy {
                    bucket: c.id.clone(),
                },
                principals: c.grantees.clone(),
            },
            ResourceKind::BucketAclOpened | ResourceKind::PublicAccessBlockLifted => {
                Target::BlockPublicAccess {
                    bucket: c.id.clone(),
                }
            }
            ResourceKind::DbSnapshotShared => Target::Unshare {
                region: c.region.clone(),
                shared: Shared::DbSnapshot { id: c.id.clone() },
            },
            ResourceKind::DbClusterSnapshotShared => Target::Unshare {
                region: c.region.clone(),
                shared: Shared::DbClusterSnapshot { id: c.id.clone() },
            },
            ResourceKind::SnapshotShared => Target::Unshare {
                region: c.region.clone(),
                shared: Shared::Snapshot { id: c.id.clone() },
            },
            ResourceKind::ImageShared => Target::Unshare {
                region: c.region.clone(),
                shared: Shared::Image { id: c.id.clone() },
            },
            ResourceKind::Instance => {
                match instances
                    .iter_mut()
                    .find(|(r, ids)| *r == c.region && ids.len() < MAX_INSTANCES)
                {
                    Some((_, ids)) => ids.push(c.id.clone()),
                    None => instances.push((c.region.clone(), vec![c.id.clone()])),
                }
                continue;
            }
            _ => {
                manual.push(c);
                continue;
            }
        };
        if !targets.contains(&target) {
            targets.push(target);
        }
    }
    targets.extend(
        instances
            .into_iter()
            .map(|(region, ids)| Target::Instances {
                region,
                ids,
                snapshot: false,
            }),
    );
    (targets, manual)
}

#[cfg(test)]
mod tests;
