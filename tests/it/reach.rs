//! What the key could do: IAM's policy simulator (the emulator in front of moto) over the
//! policies the snapshot found, the verdict on the card, the list in the thread, Access
//! Advisor's services, and what happens when IAM will not answer. The policies are real ones
//! in moto: AWS's managed `AdministratorAccess`, a group's, a permissions boundary.

use crate::support;

use chrono::{Duration, Utc};
use keyleak::domain::incident::{Incident, IncidentState};
use keyleak::domain::reach::{Capability, Decision, Known, Omission, Verdict};
use keyleak::engine::WorkerSettings;
use support::iam_emu::Access;
use support::*;

const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

async fn attach(s: &Proxied, arn: &str) {
    s.iam
        .attach_user_policy()
        .user_name("ci-deploy")
        .policy_arn(arn)
        .send()
        .await
        .unwrap();
}

/// The card's verdict line and the thread's list, as Slack holds them.
fn said(s: &Proxied, incident: &Incident) -> (String, String) {
    let ts = incident.slack_ts.as_ref().unwrap();
    let card = s.app.slack.message(ts).unwrap().blocks;
    let line = card
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b.pointer("/text/text").and_then(|t| t.as_str()))
        .find(|t| t.starts_with("*What it could do:*"))
        .unwrap_or_else(|| panic!("no verdict on the card: {card}"))
        .to_string();
    let replies: Vec<_> = s
        .app
        .slack
        .replies_to(ts)
        .into_iter()
        .filter(|m| m.text.starts_with("*What it could do:*"))
        .collect();
    assert_eq!(replies.len(), 1, "the list is said once");
    let list: Vec<String> = replies[0]
        .blocks
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| {
            b.pointer("/text/text")
                .or_else(|| b.pointer("/elements/0/text"))
                .and_then(|t| t.as_str())
                .map(str::to_string)
        })
        .collect();
    (line, list.join("\n"))
}

/// The assessment time and the key id change from run to run.
fn steady(text: &str, s: &Proxied) -> String {
    let t = text.replace(&s.seeded.leaked.id, "AKIALEAKED");
    match t.find("assessed 20") {
        Some(i) => format!("{}assessed [time]", &t[..i]),
        None => t,
    }
}

async fn contained(s: &mut Proxied) -> Incident {
    s.app.start_worker(WorkerSettings::default());
    let id = s.app.contain(&s.seeded.leaked.id, "").await;
    let incident = s.app.wait_for_state(&id, IncidentState::Contained).await;
    assert!(incident.reach.is_some(), "assessed before the jobs ran out");
    incident
}

#[tokio::test]
async fn an_admin_user_is_admin_equivalent_even_after_the_deny_all() {
    let mut s = Proxied::with_aws_policies().await;
    attach(&s, ADMIN).await;
    // AWS's quarantine came after the leak: the question is what the key could do before.
    attach(&s, "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV2").await;
    let arn = "arn:aws:iam::123456789012:user/ci-deploy";
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-30T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    s.moto.iam.record_access(
        arn,
        &[
            Access {
                namespace: "s3",
                name: "Amazon S3",
                at: Some(now - Duration::days(30)),
                region: Some("us-east-1"),
            },
            Access {
                namespace: "ec2",
                name: "Amazon EC2",
                at: Some(now - Duration::hours(1)),
                region: Some("eu-west-1"),
            },
            Access {
                namespace: "iam",
                name: "AWS Identity and Access Management",
                at: None,
                region: None,
            },
        ],
    );
    let incident = contained(&mut s).await;

    let reach = incident.reach.clone().unwrap();
    assert_eq!(reach.verdict(), Some(Verdict::Can(Capability::Escalate)));
    assert_eq!(reach.capabilities(), Capability::ALL, "admin can do it all");
    assert_eq!(reach.left_out.len(), 1);
    assert_eq!(reach.left_out[0].why, Omission::AwsQuarantine);
    let Known::Known(services) = &reach.services else {
        panic!("Access Advisor answered: {:?}", reach.services)
    };
    // IAM's first read of the report is in progress, with no services: three here means the
    // report was waited for.
    assert_eq!(services.len(), 3);
    // The simulator ran over the snapshot's documents, not the user as it is now: moto holds
    // the deny-all, and the verdict is still what the key could do.
    assert!(
        seed::inline_policies(&s.iam, "ci-deploy")
            .await
            .iter()
            .any(|p| p.starts_with("keyleak-deny")),
        "contained"
    );

    let (line, list) = said(&s, &incident);
    assert!(line.contains("admin-equivalent"), "{line}");
    insta::assert_snapshot!("admin_card_line", steady(&line, &s));
    insta::assert_snapshot!("admin_list", steady(&list, &s));
}

#[tokio::test]
async fn a_user_that_can_only_describe_is_read_only_and_a_condition_is_said() {
    let mut s = Proxied::start().await;
    // The seeded user's own read policy is replaced by one that only lists and describes, and
    // one that lets it make keys with MFA only.
    s.iam
        .delete_user_policy()
        .user_name("ci-deploy")
        .policy_name("app-read")
        .send()
        .await
        .unwrap();
    s.iam
        .put_user_policy()
        .user_name("ci-deploy")
        .policy_name("describe-only")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:Describe*","s3:List*"],"Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    s.iam
        .put_user_policy()
        .user_name("ci-deploy")
        .policy_name("keys-with-mfa")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:CreateAccessKey","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}"#,
        )
        .send()
        .await
        .unwrap();
    let incident = contained(&mut s).await;
    let reach = incident.reach.clone().unwrap();
    assert_eq!(reach.verdict(), Some(Verdict::ReadOnly));
    assert_eq!(reach.conditional().len(), 1);
    let (line, list) = said(&s, &incident);
    insta::assert_snapshot!("read_only_card_line", steady(&line, &s));
    assert!(
        list.contains(
            "`iam:CreateAccessKey` if its conditions on `aws:MultiFactorAuthPresent` hold"
        ),
        "{list}"
    );
}

#[tokio::test]
async fn admin_through_a_group_is_admin_and_names_the_group() {
    let mut s = Proxied::with_aws_policies().await;
    s.iam
        .attach_group_policy()
        .group_name("ci-deploy-group")
        .policy_arn(ADMIN)
        .send()
        .await
        .unwrap();
    let incident = contained(&mut s).await;
    let reach = incident.reach.clone().unwrap();
    assert_eq!(reach.verdict(), Some(Verdict::Can(Capability::Escalate)));
    let (line, list) = said(&s, &incident);
    insta::assert_snapshot!("group_admin_card_line", steady(&line, &s));
    assert!(
        list.contains("`iam:UpdateAssumeRolePolicy` — group ci-deploy-group: AdministratorAccess"),
        "{list}"
    );
}

/// A permissions boundary caps what the policies grant, and a Deny with `NotAction` wins over
/// the Allow of `AdministratorAccess`.
#[tokio::test]
async fn a_boundary_and_an_explicit_deny_cut_admin_down_to_reading_objects() {
    let mut s = Proxied::with_aws_policies().await;
    attach(&s, ADMIN).await;
    let boundary = s
        .iam
        .create_policy()
        .policy_name("s3-only-boundary")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
        .arn
        .unwrap();
    s.iam
        .put_user_permissions_boundary()
        .user_name("ci-deploy")
        .permissions_boundary(&boundary)
        .send()
        .await
        .unwrap();
    s.iam
        .put_user_policy()
        .user_name("ci-deploy")
        .policy_name("only-reads")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","NotAction":["s3:GetObject","s3:List*"],"Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let incident = contained(&mut s).await;
    let reach = incident.reach.clone().unwrap();
    assert_eq!(reach.boundary.as_deref(), Some(boundary.as_str()));
    assert_eq!(reach.capabilities(), [Capability::ReadData]);
    let Known::Known(verdicts) = &reach.actions else {
        panic!("simulated")
    };
    let of = |a: &str| {
        verdicts
            .iter()
            .find(|v| v.action == a)
            .map(|v| v.decision.clone())
    };
    assert_eq!(of("s3:GetObject"), Some(Decision::Allowed));
    assert_eq!(of("s3:PutBucketPolicy"), Some(Decision::ExplicitDeny));
    assert_eq!(of("iam:CreateAccessKey"), Some(Decision::ExplicitDeny));
    let (line, _) = said(&s, &incident);
    insta::assert_snapshot!("boundary_card_line", steady(&line, &s));
}

/// IAM refusing the simulator leaves the verdict unknown, said as such; containment is not
/// held back and Access Advisor's answer is kept.
#[tokio::test]
async fn a_simulator_that_refuses_leaves_the_verdict_unknown_and_says_why() {
    let mut s = Proxied::start().await;
    s.proxy.fail("SimulateCustomPolicy", "AccessDenied");
    let incident = contained(&mut s).await;
    let reach = incident.reach.clone().unwrap();
    assert_eq!(reach.verdict(), None);
    assert!(matches!(reach.services, Known::Known(_)));
    let (line, list) = said(&s, &incident);
    assert!(
        line.contains(
            "unknown — IAM's policy simulator did not answer (access denied: AccessDenied"
        ),
        "{line}"
    );
    assert!(
        list.contains("Check the user's policies in the IAM console"),
        "{list}"
    );
}

/// On a triage incident the verdict is there before anyone decides, and nothing changed.
#[tokio::test]
async fn a_triage_incident_shows_what_the_key_could_do_before_contain_is_pressed() {
    let mut s = Proxied::with_aws_policies().await;
    attach(&s, ADMIN).await;
    s.app.start_worker(WorkerSettings::default());
    let key = s.seeded.leaked.id.clone();
    let r = s.app.command(&format!("investigate {key}")).await;
    assert_eq!(r.status(), 200);
    let id = s.app.incident_for(&key).await;
    let incident = s.app.wait_for_state(&id, IncidentState::Triage).await;
    assert_eq!(
        seed::key_status(&s.iam, "ci-deploy", &key).await,
        aws_sdk_iam::types::StatusType::Active,
        "triage changes nothing"
    );
    let (line, _) = said(&s, &incident);
    assert!(line.contains("admin-equivalent"), "{line}");
}
