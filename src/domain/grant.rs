//! Taking principals out of a policy that lets others in (a role's trust policy, a bucket's
//! policy) while leaving every other statement as it was: an attacker usually adds a statement
//! beside the owner's, and the owner's must keep working.

use serde_json::{Value, json};

/// What a role trusts once nothing else does: assuming it is denied to everyone. IAM wants a
/// trust policy on every role, so the attacker's statements cannot leave an empty one.
pub fn trusts_no_one() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "KeyleakTrustsNoOne",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "sts:AssumeRole"
        }]
    })
}

/// An account named by its id or by its root ARN is the same principal: IAM stores the id a
/// policy was written with as the root ARN.
fn canonical(p: &str) -> &str {
    let account = |a: &str| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = p.strip_prefix("arn:")
        && let [_, "iam", "", id, "root"] = rest.split(':').collect::<Vec<_>>()[..]
        && account(id)
    {
        return id;
    }
    p
}

pub fn same_principal(a: &str, b: &str) -> bool {
    canonical(a) == canonical(b)
}

fn statements(doc: &Value) -> Vec<Value> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(s @ Value::Object(_)) => vec![s.clone()],
        _ => vec![],
    }
}

fn allows(s: &Value) -> bool {
    s.get("Effect").and_then(Value::as_str) == Some("Allow")
}

/// Every principal string of a statement's `Principal`.
fn principals_of(s: &Value) -> Vec<&str> {
    match s.get("Principal") {
        Some(Value::String(p)) => vec![p.as_str()],
        Some(Value::Object(by)) => by
            .values()
            .flat_map(|v| match v {
                Value::String(p) => vec![p.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            })
            .collect(),
        _ => vec![],
    }
}

/// Those of `principals` that an Allow statement of the document names.
pub fn granted<'a>(doc: &Value, principals: &'a [String]) -> Vec<&'a String> {
    let named: Vec<String> = statements(doc)
        .iter()
        .filter(|s| allows(s))
        .flat_map(|s| principals_of(s).into_iter().map(str::to_string))
        .collect();
    principals
        .iter()
        .filter(|p| named.iter().any(|n| same_principal(n, p)))
        .collect()
}

/// The statement without `principals`; `None` when it names no one else.
fn statement_without(s: &Value, principals: &[String]) -> Option<Value> {
    let gone = |p: &str| principals.iter().any(|x| same_principal(x, p));
    let mut s = s.clone();
    let keep = match s.get_mut("Principal") {
        Some(Value::String(p)) => !gone(p),
        Some(Value::Object(by)) => {
            by.retain(|_, v| match v {
                Value::String(p) => !gone(p),
                Value::Array(a) => {
                    a.retain(|p| !p.as_str().is_some_and(gone));
                    !a.is_empty()
                }
                _ => true,
            });
            !by.is_empty()
        }
        _ => true,
    };
    keep.then_some(s)
}

/// The document with `principals` taken out of its Allow statements; a statement left naming
/// no one goes. Deny statements stay as they are: they only ever keep people out. `None` when
/// no statement is left.
pub fn without(doc: &Value, principals: &[String]) -> Option<Value> {
    let kept: Vec<Value> = statements(doc)
        .iter()
        .filter_map(|s| {
            if allows(s) {
                statement_without(s, principals)
            } else {
                Some(s.clone())
            }
        })
        .collect();
    if kept.is_empty() {
        return None;
    }
    let mut out = doc.clone();
    out["Statement"] = Value::Array(kept);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trust policy the owner wrote (its CI account) with the attacker's account added
    /// beside it, as `UpdateAssumeRolePolicy` leaves it.
    fn backdoored() -> Value {
        json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
                {"Effect": "Allow",
                 "Principal": {"AWS": ["arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:root"]},
                 "Action": "sts:AssumeRole"},
                {"Effect": "Allow", "Principal": {"AWS": "444455556666"}, "Action": "sts:AssumeRole"},
                {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "sts:TagSession"}
            ]
        })
    }

    #[test]
    fn the_attackers_account_goes_and_everything_else_stays() {
        let attacker = vec!["444455556666".to_string()];
        assert_eq!(granted(&backdoored(), &attacker), vec![&attacker[0]]);
        let after = without(&backdoored(), &attacker).unwrap();
        assert_eq!(
            after["Statement"],
            json!([
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
                {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::111122223333:root"]}, "Action": "sts:AssumeRole"},
                {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "sts:TagSession"}
            ])
        );
        assert!(granted(&after, &attacker).is_empty());
        assert_eq!(after["Version"], "2012-10-17");
    }

    #[test]
    fn a_public_statement_goes_whole_and_an_empty_policy_is_none() {
        // The bucket policy of the exfiltration fixture: `Principal: "*"`, one statement.
        let public = json!({"Version": "2012-10-17", "Statement": {
            "Sid": "Public", "Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::acme-exports/*"}});
        let everyone = vec!["*".to_string()];
        assert_eq!(granted(&public, &everyone).len(), 1);
        assert_eq!(without(&public, &everyone), None);
        // `{"AWS": "*"}` is everyone too.
        let mut aws_star = public.clone();
        aws_star["Statement"]["Principal"] = json!({"AWS": "*"});
        assert_eq!(without(&aws_star, &everyone), None);
    }

    #[test]
    fn principals_not_granted_are_not_claimed() {
        let other = vec!["999988887777".to_string(), "*".to_string()];
        assert!(granted(&backdoored(), &other).is_empty());
        assert_eq!(without(&backdoored(), &other).unwrap(), backdoored());
    }

    #[test]
    fn an_account_and_its_root_arn_are_one_principal_in_any_partition() {
        assert!(same_principal(
            "444455556666",
            "arn:aws:iam::444455556666:root"
        ));
        assert!(same_principal(
            "arn:aws-us-gov:iam::444455556666:root",
            "444455556666"
        ));
        assert!(!same_principal(
            "444455556666",
            "arn:aws:iam::444455556666:user/x"
        ));
    }
}
