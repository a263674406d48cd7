//! What a responder can ask keyleak to clean up, parsed from `/keyleak cleanup <incident> …`.
//! A target names a thing; AWS is asked what it holds before it becomes a proposal, so the
//! proposal states exactly what will be done.

use serde::{Deserialize, Serialize};

use super::action::{Grantor, Shared, UserCredential};
use super::ids::{AccessKeyId, KeyIdError, KeyKind, is_region_name};

mod words;
use words::*;

/// The most instances one proposal terminates: each is named in the message, which must stay
/// readable and within Slack's section limit.
pub const MAX_INSTANCES: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "target", rename_all = "snake_case")]
pub enum Target {
    /// The incident's own key (the default when no target is named).
    LeakedKey,
    AccessKey {
        key: String,
    },
    LoginProfile {
        user: String,
    },
    User {
        user: String,
    },
    Role {
        role: String,
    },
    Policy {
        arn: String,
    },
    Instances {
        region: String,
        ids: Vec<String>,
        /// `--snapshot`: their EBS volumes are snapshotted, as evidence, first.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        snapshot: bool,
    },
    Function {
        region: String,
        name: String,
    },
    /// An inbound rule of a security group, by its rule id.
    IngressRule {
        region: String,
        group: String,
        rule: String,
    },
    /// A statement of a Lambda function's resource policy, by its id.
    FunctionPermission {
        region: String,
        function: String,
        statement: String,
    },
    /// A snapshot or an image the attacker shared out: every account it is shared with now.
    Unshare {
        region: String,
        shared: Shared,
    },
    /// Principals a role's trust policy or a bucket's policy lets in.
    Grant {
        on: Grantor,
        principals: Vec<String>,
    },
    /// A bucket whose public access block was lifted or whose ACL was opened to everyone.
    BlockPublicAccess {
        bucket: String,
    },
    /// An SSH key, signing certificate, service-specific credential or MFA device of a user.
    Credential {
        user: String,
        credential: UserCredential,
    },
    /// Rollback: the leaked key back to Active, and the incident's deny-all removed.
    Rollback,
    /// Restore: the incident's deny-all removed; the session fence stays.
    LiftDenyAll,
}

impl Target {
    /// Whether the target makes sense for an incident of this kind of key: a temporary key
    /// has no key of its own to delete or reactivate (it expires by itself).
    pub fn applies_to(&self, key: KeyKind) -> bool {
        match self {
            Target::LeakedKey | Target::Rollback => key == KeyKind::LongTerm,
            Target::AccessKey { .. }
            | Target::LoginProfile { .. }
            | Target::User { .. }
            | Target::Role { .. }
            | Target::Policy { .. }
            | Target::Instances { .. }
            | Target::Function { .. }
            | Target::Credential { .. }
            | Target::Unshare { .. }
            | Target::FunctionPermission { .. }
            | Target::IngressRule { .. }
            | Target::Grant { .. }
            | Target::BlockPublicAccess { .. }
            | Target::LiftDenyAll => true,
        }
    }
}

/// Every way a cleanup target can be wrong. Rendered in `slack::messages`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("unknown cleanup `{0}`")]
    UnknownKind(String),
    #[error("`{kind}` needs {needs}")]
    Missing {
        kind: &'static str,
        needs: &'static str,
    },
    #[error("`{kind}` takes {takes}")]
    TooMany {
        kind: &'static str,
        takes: &'static str,
    },
    #[error("bad key id: {0}")]
    BadKey(KeyIdError),
    #[error("`{0}` is a temporary key: it expires by itself and cannot be deleted")]
    TemporaryKey(String),
    #[error("`{0}` is not a valid IAM name")]
    BadName(String),
    #[error("`{0}` is not an IAM customer-managed policy ARN")]
    BadPolicyArn(String),
    #[error("`{0}` is not an AWS region")]
    BadRegion(String),
    #[error("`{0}` is not an EC2 instance id")]
    BadInstance(String),
    #[error("at most {MAX_INSTANCES} instances per proposal")]
    TooManyInstances,
    #[error("`{0}` is not a Lambda function name")]
    BadFunction(String),
    #[error("`{0}` is not an IAM credential id")]
    BadCredentialId(String),
    #[error("`{0}` is not a snapshot or image id")]
    BadShared(String),
    #[error("`{0}` is not an account id, an ARN or `*`")]
    BadPrincipal(String),
    #[error("at most {MAX_PRINCIPALS} principals per proposal")]
    TooManyPrincipals,
    #[error("`{0}` is not an S3 bucket name")]
    BadBucket(String),
    #[error("`{0}` is not a policy statement id")]
    BadStatement(String),
    #[error("`{0}` is not a security group or rule id")]
    BadRule(String),
}

/// The cleanup kinds a responder can type, for help text and errors.
pub const KINDS: &[&str] = &[
    "delete-key",
    "delete-login-profile",
    "delete-user",
    "delete-role",
    "delete-policy",
    "terminate",
    "delete-function",
    "delete-ssh-key",
    "delete-signing-certificate",
    "delete-service-credential",
    "remove-mfa",
    "unshare-snapshot",
    "unshare-image",
    "remove-permission",
    "revoke-rule",
    "unshare-db-snapshot",
    "unshare-db-cluster-snapshot",
    "remove-trust",
    "remove-bucket-grant",
    "block-public-access",
];

/// The most principals one proposal takes out of a policy.
pub const MAX_PRINCIPALS: usize = 10;

/// Parses the words after the incident id. Nothing means the default: the leaked key.
pub fn parse_target(args: &[&str]) -> Result<Target, TargetError> {
    let Some((kind, rest)) = args.split_first() else {
        return Ok(Target::LeakedKey);
    };
    match kind.to_ascii_lowercase().as_str() {
        "delete-key" => {
            let raw = one(rest, "delete-key", "an access key id")?;
            let key = AccessKeyId::parse(raw).map_err(TargetError::BadKey)?;
            if key.kind() == KeyKind::Temporary {
                return Err(TargetError::TemporaryKey(key.to_string()));
            }
            Ok(Target::AccessKey {
                key: key.to_string(),
            })
        }
        "delete-login-profile" => Ok(Target::LoginProfile {
            user: iam_name(one(rest, "delete-login-profile", "a user name")?)?,
        }),
        "delete-user" => Ok(Target::User {
            user: iam_name(one(rest, "delete-user", "a user name")?)?,
        }),
        "delete-role" => Ok(Target::Role {
            role: iam_name(one(rest, "delete-role", "a role name")?)?,
        }),
        "delete-policy" => Ok(Target::Policy {
            arn: policy_arn(one(rest, "delete-policy", "a policy ARN")?)?,
        }),
        "terminate" => instances(rest),
        "delete-function" => function(rest),
        "delete-ssh-key" => credential(rest, "delete-ssh-key", |id| UserCredential::SshKey { id }),
        "delete-signing-certificate" => credential(rest, "delete-signing-certificate", |id| {
            UserCredential::SigningCertificate { id }
        }),
        "delete-service-credential" => credential(rest, "delete-service-credential", |id| {
            UserCredential::ServiceSpecific { id }
        }),
        "remove-mfa" => credential(rest, "remove-mfa", |serial| UserCredential::MfaDevice {
            serial,
        }),
        "unshare-snapshot" => unshare(rest, "unshare-snapshot", "snap-", |id| Shared::Snapshot {
            id,
        }),
        "unshare-image" => unshare(rest, "unshare-image", "ami-", |id| Shared::Image { id }),
        "unshare-db-snapshot" => unshare(rest, "unshare-db-snapshot", "", |id| {
            Shared::DbSnapshot { id }
        }),
        "unshare-db-cluster-snapshot" => unshare(rest, "unshare-db-cluster-snapshot", "", |id| {
            Shared::DbClusterSnapshot { id }
        }),
        "remove-trust" => grant(rest, "remove-trust", "a role name", |role| {
            Ok(Grantor::RoleTrust {
                role: iam_name(role)?,
            })
        }),
        "remove-bucket-grant" => grant(rest, "remove-bucket-grant", "a bucket name", |b| {
            Ok(Grantor::BucketPolicy { bucket: bucket(b)? })
        }),
        "block-public-access" => Ok(Target::BlockPublicAccess {
            bucket: bucket(one(rest, "block-public-access", "a bucket name")?)?,
        }),
        "remove-permission" => permission(rest),
        "revoke-rule" => rule(rest),
        _ => Err(TargetError::UnknownKind(clip(kind))),
    }
}

#[cfg(test)]
mod tests;
