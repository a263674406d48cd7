//! The words of each cleanup kind, checked as AWS would check them before anything is asked
//! of AWS.

use super::*;

pub(super) fn one<'a>(
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

pub(super) fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// IAM user and role names: up to 64 of `[A-Za-z0-9+=,.@_-]`.
pub(super) fn iam_name(s: &str) -> Result<String, TargetError> {
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
pub(super) fn policy_arn(s: &str) -> Result<String, TargetError> {
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

pub(super) fn region(s: Option<&&str>, kind: &'static str) -> Result<String, TargetError> {
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
pub(super) fn ec2_id(id: &str, prefix: &str) -> bool {
    let hex = id.strip_prefix(prefix).unwrap_or("");
    matches!(hex.len(), 8 | 17) && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A region, then exactly `N` more words.
pub(super) fn after_region<'a, const N: usize>(
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

/// Asks for the instances' volumes to be snapshotted before they are terminated.
const SNAPSHOT_FLAG: &str = "--snapshot";

pub(super) fn instances(rest: &[&str]) -> Result<Target, TargetError> {
    let region = region(rest.first(), "terminate")?;
    let snapshot = rest[1..].contains(&SNAPSHOT_FLAG);
    let ids: Vec<&str> = rest[1..]
        .iter()
        .copied()
        .filter(|w| *w != SNAPSHOT_FLAG)
        .collect();
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
    Ok(Target::Instances {
        region,
        ids: out,
        snapshot,
    })
}

/// A user and one of its credentials: IAM's ids are word characters (an MFA device's serial
/// is its ARN, or a hardware device's serial number).
pub(super) fn credential(
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

/// An RDS snapshot identifier: a letter, then letters, digits and single hyphens, up to 255,
/// not ending in a hyphen.
pub(super) fn db_snapshot_id(id: &str) -> bool {
    id.len() <= 255
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && !id.ends_with('-')
        && !id.contains("--")
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A region and a snapshot or image id: an EC2 id is its prefix then 8 or 17 hex digits; an
/// RDS one (no prefix) its identifier.
pub(super) fn unshare(
    rest: &[&str],
    kind: &'static str,
    prefix: &str,
    make: impl Fn(String) -> Shared,
) -> Result<Target, TargetError> {
    let (region, [id]) = after_region(rest, kind, "a region and one id")?;
    let ok = if prefix.is_empty() {
        db_snapshot_id(id)
    } else {
        ec2_id(id, prefix)
    };
    if !ok {
        return Err(TargetError::BadShared(clip(id)));
    }
    Ok(Target::Unshare {
        region,
        shared: make(id.to_string()),
    })
}

/// S3's rules for a bucket name: 3 to 63 lowercase letters, digits, dots and hyphens, starting
/// and ending with a letter or digit.
pub(super) fn bucket(s: &str) -> Result<String, TargetError> {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok = (3..=63).contains(&s.len())
        && edge(s.chars().next())
        && edge(s.chars().last())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if ok {
        Ok(s.to_string())
    } else {
        Err(TargetError::BadBucket(clip(s)))
    }
}

/// `*`, a 12-digit account or an ARN in an account (`arn:aws:iam::444455556666:root`).
pub(super) fn principal(s: &str) -> Result<String, TargetError> {
    let account = |a: &str| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit());
    let arn_ok = || {
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        matches!(parts[..], ["arn", _, _, "", a, rest] if account(a) && !rest.is_empty())
            && s.len() <= 2048
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_/:-".contains(&b))
    };
    if s == "*" || account(s) || arn_ok() {
        Ok(s.to_string())
    } else {
        Err(TargetError::BadPrincipal(clip(s)))
    }
}

/// A role or a bucket, then the principals to take out of its policy.
pub(super) fn grant(
    rest: &[&str],
    kind: &'static str,
    first: &'static str,
    on: impl Fn(&str) -> Result<Grantor, TargetError>,
) -> Result<Target, TargetError> {
    let Some((name, principals)) = rest.split_first().filter(|(_, p)| !p.is_empty()) else {
        return Err(TargetError::Missing {
            kind,
            needs: if rest.is_empty() {
                first
            } else {
                "the principals to take out"
            },
        });
    };
    let on = on(name)?;
    if principals.len() > MAX_PRINCIPALS {
        return Err(TargetError::TooManyPrincipals);
    }
    let mut out: Vec<String> = vec![];
    for p in principals {
        let p = principal(p)?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(Target::Grant {
        on,
        principals: out,
    })
}

/// A region, a security group (`sg-`) and one of its rules (`sgr-`), each with 8 or 17 hex
/// digits.
pub(super) fn rule(rest: &[&str]) -> Result<Target, TargetError> {
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
pub(super) fn permission(rest: &[&str]) -> Result<Target, TargetError> {
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

pub(super) fn function(rest: &[&str]) -> Result<Target, TargetError> {
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
