//! IAM's evaluation of identity policies, as its policy simulator applies it to a simulated
//! resource of `*`: an explicit Deny wins over any Allow; `Action` and `NotAction` patterns
//! compare ignoring case, with `*` and `?` wildcards; a permissions boundary must allow an
//! action too; a statement with a `Condition` applies only when its context keys are given,
//! and the simulator gives none here, so such statements decide nothing and their keys are
//! reported as missing. With a resource of `*`, any `Resource` applies, and a `NotResource`
//! applies unless it excludes `*` itself.
//! (IAM User Guide, "Policy evaluation logic" and "Testing IAM policies with the IAM policy
//! simulator"; API reference, `SimulateCustomPolicy` and `EvaluationResult`.)

use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Statement {
    allow: bool,
    actions: Vec<String>,
    /// `NotAction`: the statement covers every action but these.
    not_actions: Option<Vec<String>>,
    not_resources: Option<Vec<String>>,
    condition_keys: Vec<String>,
}

/// A parsed policy: its statements, or IAM's complaint.
pub fn parse(doc: &str) -> Result<Vec<Statement>, String> {
    let v: Value =
        serde_json::from_str(doc).map_err(|e| format!("Syntax errors in policy: {e}"))?;
    let statements = match v.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(o @ Value::Object(_)) => vec![o.clone()],
        _ => return Err("Policy document must contain a Statement".into()),
    };
    statements.iter().map(statement).collect()
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        ),
        _ => None,
    }
}

fn statement(s: &Value) -> Result<Statement, String> {
    let allow = match s.get("Effect").and_then(Value::as_str) {
        Some("Allow") => true,
        Some("Deny") => false,
        _ => return Err("Statement Effect must be Allow or Deny".into()),
    };
    let actions = strings(s.get("Action"));
    let not_actions = strings(s.get("NotAction"));
    if actions.is_some() == not_actions.is_some() {
        return Err("Statement must have exactly one of Action and NotAction".into());
    }
    let condition_keys = s
        .get("Condition")
        .and_then(Value::as_object)
        .map(|ops| {
            ops.values()
                .filter_map(Value::as_object)
                .flat_map(|keys| keys.keys().cloned())
                .collect()
        })
        .unwrap_or_default();
    Ok(Statement {
        allow,
        actions: actions.unwrap_or_default(),
        not_actions,
        not_resources: strings(s.get("NotResource")),
        condition_keys,
    })
}

/// IAM's wildcard match: `*` any run, `?` one character, ignoring case.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let t: Vec<char> = text.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

impl Statement {
    fn covers(&self, action: &str) -> bool {
        let by_action = match &self.not_actions {
            Some(not) => !not.iter().any(|p| glob(p, action)),
            None => self.actions.iter().any(|p| glob(p, action)),
        };
        let resource = self
            .not_resources
            .as_ref()
            .is_none_or(|not| !not.iter().any(|r| r == "*"));
        by_action && resource
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    ExplicitDeny,
    ImplicitDeny,
}

impl Decision {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::ExplicitDeny => "explicitDeny",
            Self::ImplicitDeny => "implicitDeny",
        }
    }
}

/// One action's result: the decision, the ids of the policies whose statements decided it
/// (`PolicyInputList.1`, `PermissionsBoundaryPolicyInputList.1`), and the context keys that
/// statements covering it need.
pub struct Evaluated {
    pub decision: Decision,
    pub matched: Vec<String>,
    pub missing: Vec<String>,
}

/// Statements of one policy that cover the action: (unconditional ones, keys of conditional
/// ones).
fn covering<'a>(
    policies: &'a [(String, Vec<Statement>)],
    action: &str,
    allow: bool,
    missing: &mut Vec<String>,
) -> Vec<&'a str> {
    let mut ids = Vec::new();
    for (id, statements) in policies {
        for s in statements
            .iter()
            .filter(|s| s.allow == allow && s.covers(action))
        {
            if s.condition_keys.is_empty() {
                if !ids.contains(&id.as_str()) {
                    ids.push(id.as_str());
                }
            } else {
                for k in &s.condition_keys {
                    if !missing.contains(k) {
                        missing.push(k.clone());
                    }
                }
            }
        }
    }
    ids
}

pub fn evaluate(
    identity: &[(String, Vec<Statement>)],
    boundary: &[(String, Vec<Statement>)],
    action: &str,
) -> Evaluated {
    let mut missing = Vec::new();
    let denied = covering(identity, action, false, &mut missing);
    let boundary_denied = covering(boundary, action, false, &mut missing);
    let allowed = covering(identity, action, true, &mut missing);
    let boundary_allowed = covering(boundary, action, true, &mut missing);
    let ids = |v: Vec<&str>| v.into_iter().map(str::to_string).collect();
    let (decision, matched) = if !denied.is_empty() || !boundary_denied.is_empty() {
        let mut all: Vec<String> = ids(denied);
        all.extend(ids(boundary_denied));
        (Decision::ExplicitDeny, all)
    } else if !allowed.is_empty() && (boundary.is_empty() || !boundary_allowed.is_empty()) {
        let mut all: Vec<String> = ids(allowed);
        all.extend(ids(boundary_allowed));
        (Decision::Allowed, all)
    } else {
        (Decision::ImplicitDeny, Vec::new())
    };
    Evaluated {
        decision,
        matched,
        missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(id: &str, doc: &str) -> (String, Vec<Statement>) {
        (id.to_string(), parse(doc).unwrap())
    }

    #[test]
    fn wildcards_match_as_iam_does() {
        assert!(glob("*", "iam:CreateUser"));
        assert!(glob("iam:*", "IAM:CreateUser"));
        assert!(glob("s3:Get*", "s3:GetObject"));
        assert!(glob("ssm:GetParameter?", "ssm:GetParameters"));
        assert!(!glob("ssm:GetParameter?", "ssm:GetParameter"));
        assert!(!glob("s3:Get*", "s3:PutObject"));
        assert!(glob("*:Describe*", "ec2:DescribeInstances"));
    }

    #[test]
    fn an_explicit_deny_wins_and_not_action_covers_the_rest() {
        let admin = policy(
            "PolicyInputList.1",
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        );
        let no_iam = policy(
            "PolicyInputList.2",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotAction":["s3:*","ec2:*"],"Resource":"*"}]}"#,
        );
        let both = [admin.clone(), no_iam];
        let e = evaluate(&both, &[], "iam:CreateUser");
        assert_eq!(e.decision, Decision::ExplicitDeny);
        assert_eq!(e.matched, ["PolicyInputList.2"]);
        assert_eq!(
            evaluate(&both, &[], "s3:GetObject").decision,
            Decision::Allowed
        );
        let boundary = [policy(
            "PermissionsBoundaryPolicyInputList.1",
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
        )];
        let capped = [admin];
        assert_eq!(
            evaluate(&capped, &boundary, "iam:CreateUser").decision,
            Decision::ImplicitDeny
        );
        assert_eq!(
            evaluate(&capped, &boundary, "s3:GetObject").decision,
            Decision::Allowed
        );
    }

    #[test]
    fn a_conditional_allow_decides_nothing_and_names_its_keys() {
        let mfa = [policy(
            "PolicyInputList.1",
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}}"#,
        )];
        let e = evaluate(&mfa, &[], "iam:CreateAccessKey");
        assert_eq!(e.decision, Decision::ImplicitDeny);
        assert_eq!(e.missing, ["aws:MultiFactorAuthPresent"]);
    }

    #[test]
    fn malformed_documents_are_refused() {
        assert!(parse("{not json").is_err());
        assert!(parse(r#"{"Statement":[{"Effect":"Maybe","Action":"*"}]}"#).is_err());
        assert!(
            parse(r#"{"Statement":[{"Effect":"Allow","Action":"*","NotAction":"s3:*"}]}"#).is_err()
        );
    }
}
