//! What a responder can ask keyleak to clean up, parsed from `/keyleak cleanup <incident> …`.
//! A target names a thing; AWS is asked what it holds before it becomes a proposal, so the
//! proposal states exactly what will be done.

use serde::{Deserialize, Serialize};

use super::action::{Shared, UserCredential};
use super::ids::{AccessKeyId, KeyIdError, KeyKind, is_region_name};

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
    #[error("`{0}` is not an EBS snapshot or AMI id")]
    BadShared(String),
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
];

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
        "remove-permission" => permission(rest),
        "revoke-rule" => rule(rest),
        _ => Err(TargetError::UnknownKind(clip(kind))),
    }
}

fn one<'a>(
    rest: &[&'a str],
    kind: &'static str,
    needs: &'static str,
) -> Result<&'a str, TargetError> {
    match rest {
        [one] => Ok(one),
        [] => Err(TargetError::Missing { kind, needs }),
        _ => Err(TargetError::TooMany { kind, takes: needs }),
    }
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// IAM user and role names: up to 64 of `[A-Za-z0-9+=,.@_-]`.
fn iam_name(s: &str) -> Result<String, TargetError> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if ok {
        Ok(s.to_string())
    } else {
        Err(TargetError::BadName(clip(s)))
    }
}

/// `arn:aws:iam::<12 digits>:policy/[path/]name`. AWS-managed policies (`iam::aws:`) are
/// not the attacker's and cannot be deleted.
fn policy_arn(s: &str) -> Result<String, TargetError> {
    let bad = || TargetError::BadPolicyArn(clip(s));
    let rest = s
        .strip_prefix("arn:aws:iam::")
        .or_else(|| s.strip_prefix("arn:aws-us-gov:iam::"))
        .or_else(|| s.strip_prefix("arn:aws-cn:iam::"))
        .ok_or_else(bad)?;
    let (account, path) = rest.split_once(':').ok_or_else(bad)?;
    let name = path.strip_prefix("policy/").ok_or_else(bad)?;
    let ok = account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !name.is_empty()
        && name.len() <= 512
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b));
    if ok { Ok(s.to_string()) } else { Err(bad()) }
}

fn region(s: Option<&&str>, kind: &'static str) -> Result<String, TargetError> {
    let Some(r) = s else {
        return Err(TargetError::Missing {
            kind,
            needs: "a region first",
        });
    };
    if is_region_name(r) {
        Ok(r.to_string())
    } else {
        Err(TargetError::BadRegion(clip(r)))
    }
}

/// An EC2 id: its prefix, then 8 or 17 hex digits.
fn ec2_id(id: &str, prefix: &str) -> bool {
    let hex = id.strip_prefix(prefix).unwrap_or("");
    matches!(hex.len(), 8 | 17) && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A region, then exactly `N` more words.
fn after_region<'a, const N: usize>(
    rest: &[&'a str],
    kind: &'static str,
    needs: &'static str,
) -> Result<(String, [&'a str; N]), TargetError> {
    let region = region(rest.first(), kind)?;
    let words: [&str; N] = rest[1..].try_into().map_err(|_| {
        if rest.len() <= N {
            TargetError::Missing { kind, needs }
        } else {
            TargetError::TooMany { kind, takes: needs }
        }
    })?;
    Ok((region, words))
}

fn instances(rest: &[&str]) -> Result<Target, TargetError> {
    let region = region(rest.first(), "terminate")?;
    let ids: Vec<&str> = rest[1..].to_vec();
    if ids.is_empty() {
        return Err(TargetError::Missing {
            kind: "terminate",
            needs: "a region and instance ids",
        });
    }
    if ids.len() > MAX_INSTANCES {
        return Err(TargetError::TooManyInstances);
    }
    let mut out: Vec<String> = vec![];
    for id in ids {
        if !ec2_id(id, "i-") {
            return Err(TargetError::BadInstance(clip(id)));
        }
        if !out.iter().any(|o| o == id) {
            out.push(id.to_string());
        }
    }
    Ok(Target::Instances { region, ids: out })
}

/// A user and one of its credentials: IAM's ids are word characters (an MFA device's serial
/// is its ARN, or a hardware device's serial number).
fn credential(
    rest: &[&str],
    kind: &'static str,
    make: impl Fn(String) -> UserCredential,
) -> Result<Target, TargetError> {
    let [user, id] = rest else {
        let needs = "a user name and the credential's id";
        return Err(if rest.len() < 2 {
            TargetError::Missing { kind, needs }
        } else {
            TargetError::TooMany { kind, takes: needs }
        });
    };
    let user = iam_name(user)?;
    let ok = (9..=256).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=/:,.@-".contains(&b));
    if !ok {
        return Err(TargetError::BadCredentialId(clip(id)));
    }
    Ok(Target::Credential {
        user,
        credential: make(id.to_string()),
    })
}

/// A region and a snapshot or image id: the prefix, then 8 or 17 hex digits.
fn unshare(
    rest: &[&str],
    kind: &'static str,
    prefix: &str,
    make: impl Fn(String) -> Shared,
) -> Result<Target, TargetError> {
    let (region, [id]) = after_region(rest, kind, "a region and one id")?;
    if !ec2_id(id, prefix) {
        return Err(TargetError::BadShared(clip(id)));
    }
    Ok(Target::Unshare {
        region,
        shared: make(id.to_string()),
    })
}

/// A region, a security group (`sg-`) and one of its rules (`sgr-`), each with 8 or 17 hex
/// digits.
fn rule(rest: &[&str]) -> Result<Target, TargetError> {
    let needs = "a region, a security group id and a rule id";
    let (region, [group, rule]) = after_region(rest, "revoke-rule", needs)?;
    for (id, prefix) in [(group, "sg-"), (rule, "sgr-")] {
        if !ec2_id(id, prefix) {
            return Err(TargetError::BadRule(clip(id)));
        }
    }
    Ok(Target::IngressRule {
        region,
        group: group.to_string(),
        rule: rule.to_string(),
    })
}

/// A region, a function and a statement id (Lambda's `StatementId`: `[a-zA-Z0-9-_]{1,100}`).
fn permission(rest: &[&str]) -> Result<Target, TargetError> {
    let needs = "a region, a function name and a statement id";
    let (region, [name, statement]) = after_region(rest, "remove-permission", needs)?;
    let Target::Function { name, .. } = function(&[&region, name])? else {
        return Err(TargetError::BadFunction(clip(name)));
    };
    let ok = (1..=100).contains(&statement.len())
        && statement
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Err(TargetError::BadStatement(clip(statement)));
    }
    Ok(Target::FunctionPermission {
        region,
        function: name,
        statement: statement.to_string(),
    })
}

fn function(rest: &[&str]) -> Result<Target, TargetError> {
    let region = region(rest.first(), "delete-function")?;
    let name = match &rest[1..] {
        [name] => *name,
        [] => {
            return Err(TargetError::Missing {
                kind: "delete-function",
                needs: "a region and a function name",
            });
        }
        _ => {
            return Err(TargetError::TooMany {
                kind: "delete-function",
                takes: "a region and one function name",
            });
        }
    };
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(Target::Function {
            region,
            name: name.to_string(),
        })
    } else {
        Err(TargetError::BadFunction(clip(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_named_means_the_leaked_key() {
        assert_eq!(parse_target(&[]), Ok(Target::LeakedKey));
    }

    #[test]
    fn each_kind_parses() {
        assert_eq!(
            parse_target(&["delete-user", "backdoor-admin"]),
            Ok(Target::User {
                user: "backdoor-admin".into()
            })
        );
        assert_eq!(
            parse_target(&["DELETE-KEY", "AKIAIOSFODNN7EXAMPLE"]),
            Ok(Target::AccessKey {
                key: "AKIAIOSFODNN7EXAMPLE".into()
            })
        );
        assert_eq!(
            parse_target(&[
                "terminate",
                "us-east-1",
                "i-0123456789abcdef0",
                "i-01234567"
            ]),
            Ok(Target::Instances {
                region: "us-east-1".into(),
                ids: vec!["i-0123456789abcdef0".into(), "i-01234567".into()]
            })
        );
        assert_eq!(
            parse_target(&["delete-policy", "arn:aws:iam::111111111111:policy/x/y"]),
            Ok(Target::Policy {
                arn: "arn:aws:iam::111111111111:policy/x/y".into()
            })
        );
        assert_eq!(
            parse_target(&["delete-ssh-key", "backdoor", "APKAEIBAERJR2EXAMPLE"]),
            Ok(Target::Credential {
                user: "backdoor".into(),
                credential: UserCredential::SshKey {
                    id: "APKAEIBAERJR2EXAMPLE".into()
                }
            })
        );
        assert_eq!(
            parse_target(&[
                "remove-mfa",
                "backdoor",
                "arn:aws:iam::111122223333:mfa/backdoor"
            ]),
            Ok(Target::Credential {
                user: "backdoor".into(),
                credential: UserCredential::MfaDevice {
                    serial: "arn:aws:iam::111122223333:mfa/backdoor".into()
                }
            })
        );
        assert_eq!(
            parse_target(&["delete-function", "eu-west-1", "miner_1"]),
            Ok(Target::Function {
                region: "eu-west-1".into(),
                name: "miner_1".into()
            })
        );
    }

    #[test]
    fn bad_targets_say_what_is_wrong() {
        use TargetError::*;
        assert!(matches!(parse_target(&["nuke"]), Err(UnknownKind(_))));
        assert!(matches!(
            parse_target(&["delete-user"]),
            Err(Missing { .. })
        ));
        assert!(matches!(
            parse_target(&["delete-user", "a", "b"]),
            Err(TooMany { .. })
        ));
        assert!(matches!(
            parse_target(&["delete-user", "<@U1>"]),
            Err(BadName(_))
        ));
        assert!(matches!(
            parse_target(&["delete-key", "ASIAIOSFODNN7EXAMPLE"]),
            Err(TemporaryKey(_))
        ));
        assert!(matches!(
            parse_target(&[
                "delete-policy",
                "arn:aws:iam::aws:policy/AdministratorAccess"
            ]),
            Err(BadPolicyArn(_))
        ));
        assert!(matches!(
            parse_target(&["terminate", "mars-1", "i-01234567"]),
            Err(BadRegion(_))
        ));
        assert!(matches!(
            parse_target(&["terminate", "us-east-1", "i-xyz"]),
            Err(BadInstance(_))
        ));
        let many: Vec<String> = (0..51).map(|n| format!("i-{n:08x}")).collect();
        let mut args = vec!["terminate", "us-east-1"];
        args.extend(many.iter().map(String::as_str));
        assert_eq!(parse_target(&args), Err(TooManyInstances));
        assert!(matches!(
            parse_target(&["delete-function", "us-east-1", "a:b"]),
            Err(BadFunction(_))
        ));
        assert!(matches!(
            parse_target(&["delete-ssh-key", "backdoor"]),
            Err(Missing { .. })
        ));
        assert!(matches!(
            parse_target(&["unshare-snapshot", "us-east-1", "ami-0abcdef1234567890"]),
            Err(BadShared(_))
        ));
        assert_eq!(
            parse_target(&[
                "remove-permission",
                "us-east-1",
                "billing-export",
                "x-account"
            ]),
            Ok(Target::FunctionPermission {
                region: "us-east-1".into(),
                function: "billing-export".into(),
                statement: "x-account".into()
            })
        );
        assert!(matches!(
            parse_target(&["remove-permission", "us-east-1", "billing-export", "a b"]),
            Err(BadStatement(_))
        ));
        assert_eq!(
            parse_target(&[
                "revoke-rule",
                "us-east-1",
                "sg-0123456789abcdef0",
                "sgr-0a1b2c3d4e5f6a7b8"
            ]),
            Ok(Target::IngressRule {
                region: "us-east-1".into(),
                group: "sg-0123456789abcdef0".into(),
                rule: "sgr-0a1b2c3d4e5f6a7b8".into()
            })
        );
        assert!(matches!(
            parse_target(&[
                "revoke-rule",
                "us-east-1",
                "sgr-0a1b2c3d4e5f6a7b8",
                "sg-01234567"
            ]),
            Err(BadRule(_))
        ));
        assert_eq!(
            parse_target(&["unshare-image", "eu-west-1", "ami-0abcdef1234567890"]),
            Ok(Target::Unshare {
                region: "eu-west-1".into(),
                shared: Shared::Image {
                    id: "ami-0abcdef1234567890".into()
                }
            })
        );
        assert!(matches!(
            parse_target(&["delete-signing-certificate", "backdoor", "<script>"]),
            Err(BadCredentialId(_))
        ));
        assert!(matches!(
            parse_target(&["delete-service-credential", "backdoor", "ACCA1", "x"]),
            Err(TooMany { .. })
        ));
    }
}
