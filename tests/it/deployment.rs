//! The deployment files hold together: the responder role's CloudFormation template carries the
//! bot's policy less what only the bot's own account needs, trusts only the bot's role with an
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
    // Cargo.toml names the benches; the migrations and the chart's fonts are compiled in.
    for dir in ["src", "benches", "migrations", "assets"] {
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
