//! The deployment files hold together: the bot's IAM policy allows exactly the AWS operations
//! the adapter's source calls; the responder role's CloudFormation template carries that policy
//! less what only the bot's own account needs, trusts only the bot's role with an
//! external id, and both policies fit IAM's size limits; the Dockerfile copies everything the
//! build reads; the Kubernetes base lists every manifest and takes secrets only by reference.
//! (`.ci/deployment` runs the validators: hadolint, cfn-lint, kustomize and kubernetes-validate.)

use serde_json::Value;

const BOT_POLICY: &str = include_str!("../../manifests/iam-policy.json");
const RESPONDER: &str = include_str!("../../manifests/responder-role.cfn.json");
const DOCKERFILE: &str = include_str!("../../Dockerfile");
const DOCKERIGNORE: &str = include_str!("../../.dockerignore");

/// Statements only the bot's own account needs: assuming the responder roles, and the buckets
/// it reads the archive from and copies evidence to.
const BOT_ONLY: [&str; 3] = [
    "ReachOtherAccounts",
    "ReadTheCloudTrailArchive",
    "CopyEvidenceToItsBucket",
];

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// A policy's size as IAM counts it, whitespace left out.
fn iam_size(doc: &Value) -> usize {
    doc.to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .count()
}

#[test]
fn the_responder_role_has_the_bots_policy_less_the_bots_own_and_trusts_only_the_bot() {
    let bot = json(BOT_POLICY);
    let template = json(RESPONDER);
    let role = &template["Resources"]["KeyleakResponder"]["Properties"];
    let policy = &role["Policies"][0]["PolicyDocument"];
    let expected: Vec<&Value> = bot["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| !BOT_ONLY.contains(&s["Sid"].as_str().unwrap()))
        .collect();
    let got: Vec<&Value> = policy["Statement"].as_array().unwrap().iter().collect();
    assert_eq!(
        got, expected,
        "regenerate the template's policy from iam-policy.json"
    );
    assert!(!policy.to_string().contains("sts:AssumeRole"));

    let trust = &role["AssumeRolePolicyDocument"]["Statement"];
    assert_eq!(trust.as_array().unwrap().len(), 1);
    let only = &trust[0];
    assert_eq!(only["Effect"], "Allow");
    assert!(!only["Principal"].to_string().contains("\"*\""), "{only}");
    let condition = &only["Condition"]["StringEquals"];
    assert_eq!(condition["sts:ExternalId"]["Ref"], "ExternalId");
    assert!(
        condition["aws:PrincipalArn"]
            .to_string()
            .contains(":role/${BotRoleName}"),
        "{condition}"
    );

    // A managed policy holds 6,144 characters; a role's inline policies 10,240 in all.
    assert!(iam_size(&bot) <= 6_144, "{}", iam_size(&bot));
    assert!(iam_size(policy) <= 10_240, "{}", iam_size(policy));
}

/// What keyleak creates or attaches is held to its own names: the policies it writes must
/// keep them.
#[test]
fn keyleak_writes_only_policies_its_iam_policy_lets_it_create() {
    let incident = keyleak::domain::ids::IncidentId::parse("KL-00C0FFEE").unwrap();
    let names = [
        keyleak::domain::policy::deny_all(&incident).name,
        keyleak::domain::policy::session_fence(&incident, chrono::Utc::now()).name,
    ];
    for name in names {
        assert!(name.starts_with("keyleak-"), "{name}");
    }
    assert!(BOT_POLICY.contains("\"arn:aws:iam::*:policy/keyleak-*\""));
}

#[test]
fn the_image_is_built_from_everything_the_build_reads_and_runs_as_a_number() {
    // Cargo.toml names the benches; the migrations, the chart's fonts, the sandbox's page and
    // the published examples its story plays are compiled in.
    for dir in ["src", "benches", "migrations", "assets", "tests/fixtures"] {
        assert!(
            DOCKERFILE.contains(&format!("COPY {dir} ./{dir}")),
            "the Dockerfile does not copy {dir}/"
        );
        assert!(
            DOCKERIGNORE.lines().any(|l| l == format!("!{dir}/")),
            ".dockerignore leaves out {dir}/"
        );
    }
    let user = DOCKERFILE
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER line");
    assert!(
        user.split(':')
            .all(|p| p.parse::<u32>().is_ok_and(|n| n > 0)),
        "runAsNonRoot can only verify a numeric user: {user}"
    );
}

#[test]
fn the_kubernetes_base_lists_every_manifest_and_takes_secrets_by_reference() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/kubernetes");
    let kustomization = std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".yaml") && f != "kustomization.yaml")
        .collect();
    files.sort();
    let mut listed: Vec<String> = kustomization
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .filter(|l| l.ends_with(".yaml"))
        .map(str::to_string)
        .collect();
    listed.sort();
    assert_eq!(listed, files);

    let deployment = std::fs::read_to_string(dir.join("deployment.yaml")).unwrap();
    for secret in [
        "SLACK_SIGNING_SECRET",
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "KEYLEAK_DATABASE_URL",
        "KEYLEAK_METRICS_TOKEN",
    ] {
        let at = deployment
            .find(&format!("- name: {secret}\n"))
            .unwrap_or_else(|| panic!("{secret} is not set"));
        let next = deployment[at..].lines().nth(1).unwrap_or_default().trim();
        assert_eq!(next, "valueFrom:", "{secret} must come from the Secret");
    }
    let configmap = std::fs::read_to_string(dir.join("configmap.yaml")).unwrap();
    for never in ["SLACK_", "DATABASE_URL", "TOKEN"] {
        assert!(!configmap.contains(never), "{never} in the ConfigMap");
    }
}

/// The AWS clients the adapter builds, by the name the code calls them by, and the IAM
/// service prefix of their actions.
const CLIENTS: &[(&str, &str)] = &[
    ("iam", "iam"),
    ("sts", "sts"),
    ("ec2", "ec2"),
    ("s3", "s3"),
    ("probe", "s3"),
    ("lambda", "lambda"),
    ("rds", "rds"),
    ("secrets", "secretsmanager"),
    ("cloudtrail", "cloudtrail"),
    ("guardduty", "guardduty"),
];

/// Where an operation's IAM action is not its own name.
const ACTION_OF: &[(&str, &str)] = &[
    ("s3:HeadBucket", "s3:ListBucket"),
    ("s3:ListObjectsV2", "s3:ListBucket"),
    ("s3:HeadObject", "s3:GetObject"),
    ("s3:GetPublicAccessBlock", "s3:GetBucketPublicAccessBlock"),
    ("s3:PutPublicAccessBlock", "s3:PutBucketPublicAccessBlock"),
];

/// Actions the policy grants that no operation call names: AssumeRole is made by the SDK's
/// role provider; a head of an evidence object reads its retention (GetObjectRetention); tags
/// given at creation (an evidence snapshot's, a handover secret's) need the tagging action.
const CALLED_OTHERWISE: &[&str] = &[
    "sts:AssumeRole",
    "s3:GetObjectRetention",
    "ec2:CreateTags",
    "secretsmanager:TagResource",
];

/// `list_ssh_public_keys` → `ListSSHPublicKeys`, with IAM's and RDS's capitals.
fn pascal(op: &str) -> String {
    op.split('_')
        .map(|w| match w {
            "mfa" => "MFA".to_string(),
            "ssh" => "SSH".to_string(),
            "db" => "DB".to_string(),
            "v2" => "V2".to_string(),
            _ => {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            }
        })
        .collect()
}

/// The name before `.op()`: an identifier (`iam.get_role()`), or the method whose call it is
/// (`c.ec2(region).describe_instances()`, `Client::from_conf(conf).list_public_keys()`).
fn receiver(before: &str) -> Option<&str> {
    // `self.iam(account).await?.put_role_policy()`: the client is what was awaited.
    let mut before = before.trim_end();
    while let Some(b) = before
        .strip_suffix('?')
        .or_else(|| before.strip_suffix(".await"))
    {
        before = b.trim_end();
    }
    let before = match before.strip_suffix(')') {
        Some(inner) => {
            let mut depth = 1;
            let mut at = inner.len();
            for (i, ch) in inner.char_indices().rev() {
                match ch {
                    ')' => depth += 1,
                    '(' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    at = i;
                    break;
                }
            }
            &inner[..at]
        }
        None => before,
    };
    let start = before
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    Some(&before[start..]).filter(|s| !s.is_empty())
}

/// Every AWS operation the adapter calls, as `service:Operation`, from its source.
fn operations_called() -> std::collections::BTreeSet<String> {
    let mut ops = std::collections::BTreeSet::new();
    for (path, text) in sources("src/aws") {
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        // GuardDuty's and CloudTrail's clients are `client` in their own files.
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        for (at, _) in code.match_indices("()") {
            let head = &code[..at];
            let Some(dot) = head.rfind('.') else { continue };
            let op = &head[dot + 1..];
            // `config()` is the client's own settings, not a call to AWS.
            if op.is_empty()
                || op == "config"
                || !op
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
            {
                continue;
            }
            let Some(name) = receiver(&head[..dot]) else {
                continue;
            };
            let service = match (name, file.as_str()) {
                ("from_conf", _) if head[..dot].contains("aws_sdk_cloudtrail") => "cloudtrail",
                ("client", "guardduty.rs") => "guardduty",
                ("client", "trail.rs") => "cloudtrail",
                _ => match CLIENTS.iter().find(|(n, _)| *n == name) {
                    Some((_, s)) => s,
                    None => continue,
                },
            };
            ops.insert(format!("{service}:{}", pascal(op)));
        }
    }
    ops
}

/// Every operation the code calls is allowed by the bot's policy, and the policy allows
/// nothing the code does not call.
#[test]
fn the_bots_policy_allows_exactly_the_operations_the_code_calls() {
    let called: std::collections::BTreeSet<String> = operations_called()
        .into_iter()
        .map(|op| {
            ACTION_OF
                .iter()
                .find(|(o, _)| *o == op)
                .map_or(op, |(_, a)| a.to_string())
        })
        .collect();
    assert!(called.len() > 80, "the scan found too little: {called:?}");
    let bot = json(BOT_POLICY);
    let allowed: std::collections::BTreeSet<String> = bot["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| match &s["Action"] {
            Value::String(a) => vec![a.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => vec![],
        })
        .collect();
    let missing: Vec<&String> = called.difference(&allowed).collect();
    assert!(missing.is_empty(), "called but not allowed: {missing:?}");
    let unused: Vec<&String> = allowed
        .difference(&called)
        .filter(|a| !CALLED_OTHERWISE.contains(&a.as_str()))
        .collect();
    assert!(unused.is_empty(), "allowed but never called: {unused:?}");
}

/// Every Rust file under `folder` of the repository, with its text.
fn sources(folder: &str) -> Vec<(std::path::PathBuf, String)> {
    let mut out = vec![];
    let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(folder)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
    }
    out
}

/// `"KEYLEAK_…"` and `"SLACK_…"` as they are written in `text`.
fn variables_named(text: &str) -> std::collections::BTreeSet<String> {
    let mut found = std::collections::BTreeSet::new();
    for prefix in ["\"KEYLEAK_", "\"SLACK_"] {
        for (at, _) in text.match_indices(prefix) {
            let name: String = text[at + 1..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if text[at + 1 + name.len()..].starts_with('"') {
                found.insert(name);
            }
        }
    }
    found
}

#[test]
fn the_readme_table_names_every_variable_the_code_reads_and_no_other() {
    let read: std::collections::BTreeSet<String> = sources("src")
        .iter()
        .flat_map(|(_, text)| variables_named(text.split("#[cfg(test)]").next().unwrap_or("")))
        .collect();
    let readme = include_str!("../../README.md");
    let table: std::collections::BTreeSet<String> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|name| name.starts_with("KEYLEAK_") || name.starts_with("SLACK_"))
        .map(str::to_string)
        .collect();
    assert!(read.len() > 40, "{read:?}");
    let missing: Vec<_> = read.difference(&table).collect();
    let stale: Vec<_> = table.difference(&read).collect();
    assert!(
        missing.is_empty(),
        "read but not in README's table: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "in README's table but read nowhere: {stale:?}"
    );
}
