//! Forensics against moto (IAM, STS) and the CloudTrail emulator: the attacker's whole path
//! is found, classified and followed through the keys it minted, the role it assumed in
//! another account is fenced, and what it created becomes a cleanup proposal.

use crate::support;

use std::time::Duration;

use chrono::Utc;
use keyleak::domain::ids::IncidentId;
use keyleak::domain::incident::{Escalation, IncidentState, StepFact, StepKind};
use keyleak::domain::trail::Category;
use keyleak::domain::trail::findings::FenceOutcome;
use keyleak::domain::trail::inventory::ResourceKind;
use keyleak::engine::ForensicsSettings;
use serde_json::json;
use support::moto::OWN_ACCOUNT;
use support::trail::{Record, bot_config};
use support::trail_emu::TrailEmulator;
use support::{App, Moto, Options, seed, wait_until};

const ROLE_ACCOUNT: &str = "444455556666";
const SESSION_KEY: &str = "ASIAJ7VT3PZVSESSION1";
const ROLE_KEY: &str = "ASIAI44QH8DHBROLE001";
const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "eu-central-1"];

fn trust(account: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"sts:AssumeRole"}}]}}"#
    )
}

struct Scene {
    moto: Moto,
    emulator: TrailEmulator,
    iam: aws_sdk_iam::Client,
    iam_b: aws_sdk_iam::Client,
    leaked: String,
    backdoor_key: String,
    app: App,
}

async fn start(regions: &[&str]) -> (Moto, TrailEmulator, App, aws_sdk_iam::Client) {
    let moto = Moto::start().await.unwrap();
    let emulator = crate::support::trail::emulator(&moto.url).await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let app = App::start(
        bot_config(&moto, &emulator).await,
        Options {
            role_arn_template: Some("arn:aws:iam::{account}:role/KeyleakResponder".into()),
            forensics: ForensicsSettings {
                regions: Some(regions.iter().map(|r| r.to_string()).collect()),
                ..ForensicsSettings::default()
            },
            ..Options::default()
        },
    )
    .await;
    (moto, emulator, app, iam)
}

/// The attacker's day: enumerates (some of it denied), makes a backdoor user with a key and
/// a password, takes a session token and uses it, assumes a role in a second account from
/// that session, launches instances there and stops a trail.
async fn attacked() -> Scene {
    let (moto, emulator, app, iam) = start(&REGIONS).await;
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    iam.create_user()
        .user_name("backdoor-admin")
        .send()
        .await
        .unwrap();
    let backdoor = seed::create_key(&iam, "backdoor-admin").await;
    iam.create_login_profile()
        .user_name("backdoor-admin")
        .password("Backdoor-Passw0rd!")
        .send()
        .await
        .unwrap();
    let iam_b = aws_sdk_iam::Client::new(&moto.config_in(ROLE_ACCOUNT).await.unwrap());
    for role in ["KeyleakResponder", "ops-admin"] {
        iam_b
            .create_role()
            .role_name(role)
            .assume_role_policy_document(trust(OWN_ACCOUNT))
            .send()
            .await
            .unwrap();
    }

    let a = OWN_ACCOUNT;
    let key = seeded.leaked.id.clone();
    let t0 = Utc::now() - chrono::Duration::hours(3);
    let min = |m: i64| t0 + chrono::Duration::minutes(m);
    let user = |f: &str, m: i64| Record::from(f).by_user(a, "ci-deploy", &key).at(min(m));
    let log = |r: Record| emulator.log(&r.value()).unwrap();
    log(user("get_caller_identity", 0).region("eu-central-1"));
    log(user("list_users", 1));
    for m in 2..5 {
        log(user("list_roles_denied", m));
    }
    log(user("create_user", 5));
    log(user("create_access_key", 6).set(
        "/responseElements/accessKey/accessKeyId",
        json!(backdoor.id),
    ));
    log(user("create_login_profile", 7));
    log(user("get_session_token", 8).set(
        "/responseElements/credentials/accessKeyId",
        json!(SESSION_KEY),
    ));
    // The session in use: a regional call, and the pivot into the other account.
    log(Record::from("list_users")
        .named("DescribeInstances")
        .by_user(a, "ci-deploy", SESSION_KEY)
        .region("eu-west-1")
        .at(min(9)));
    log(Record::from("assume_role")
        .by_user(a, "ci-deploy", SESSION_KEY)
        .at(min(10))
        .set(
            "/requestParameters/roleArn",
            json!(format!("arn:aws:iam::{ROLE_ACCOUNT}:role/ops-admin")),
        )
        .set("/responseElements/credentials/accessKeyId", json!(ROLE_KEY)));
    log(Record::from("run_instances")
        .by_role(ROLE_ACCOUNT, "ops-admin", ROLE_KEY)
        .at(min(12)));
    log(Record::from("stop_logging")
        .by_role(ROLE_ACCOUNT, "ops-admin", ROLE_KEY)
        .at(min(14)));
    // Noise that must not be attributed to the attacker: the user's other key.
    log(Record::from("list_users")
        .by_user(a, "ci-deploy", &seeded.other.id)
        .at(min(15)));
    // AWS saw the key in public and quarantined the user: an IAM call AWS made, not the key.
    log(Record::from("list_users")
        .named("AttachUserPolicy")
        .set(
            "/userIdentity",
            json!({"type": "AWSService", "invokedBy": "iam.amazonaws.com"}),
        )
        .set(
            "/requestParameters",
            json!({
                "userName": "ci-deploy",
                "policyArn": "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3"
            }),
        )
        .set("/recipientAccountId", json!(a))
        .at(min(16)));
    // GuardDuty watches every region but eu-west-1 of the first account.
    emulator.guardduty(|g| {
        for region in REGIONS {
            if region != "eu-west-1" {
                g.enable(a, region);
            }
            g.enable(ROLE_ACCOUNT, region);
        }
        g.find(
            a,
            "us-east-1",
            "Discovery:IAMUser/AnomalousBehavior",
            5.0,
            &key,
        );
        g.find(
            a,
            "us-east-1",
            "UnauthorizedAccess:IAMUser/TorIPCaller",
            5.0,
            &seeded.other.id,
        );
        g.find(
            ROLE_ACCOUNT,
            "eu-central-1",
            "Stealth:IAMUser/CloudTrailLoggingDisabled",
            2.0,
            ROLE_KEY,
        );
        g.find(
            ROLE_ACCOUNT,
            "us-east-1",
            "Impact:IAMUser/AnomalousBehavior",
            7.5,
            ROLE_KEY,
        );
    });
    Scene {
        moto,
        emulator,
        iam,
        iam_b,
        leaked: key,
        backdoor_key: backdoor.id,
        app,
    }
}

/// The incident's session fence on `ops-admin`, in the role's own account.
async fn ops_admin_fence(s: &Scene, id: &IncidentId) -> String {
    let fence = s
        .iam_b
        .get_role_policy()
        .role_name("ops-admin")
        .policy_name(format!("keyleak-session-fence-{id}"))
        .send()
        .await
        .expect("the role's fence is in the role's account");
    percent_encoding::percent_decode_str(fence.policy_document())
        .decode_utf8()
        .unwrap()
        .into_owned()
}

#[tokio::test]
async fn containment_is_followed_by_forensics_that_finds_the_whole_path() {
    let s = attacked().await;
    let id = s.app.contain(&s.leaked, "found in a public repo").await;
    s.app.wait_for_state(&id, IncidentState::Contained).await;
    let f = s.app.findings(&id).await;

    assert!(f.complete(), "{:?} {:?}", f.failures, f.skipped_reasons);
    assert_eq!(
        f.summary.events, 13,
        "the attacker's calls, and not the other key's"
    );
    let searched: Vec<(&str, &str, usize)> = f
        .searched
        .iter()
        .map(|k| (k.key.as_str(), k.account.as_str(), k.events))
        .collect();
    assert_eq!(
        searched,
        [
            (s.leaked.as_str(), OWN_ACCOUNT, 9),
            (SESSION_KEY, OWN_ACCOUNT, 2),
            (ROLE_KEY, ROLE_ACCOUNT, 2),
        ]
    );
    let cat = |c| {
        f.summary
            .categories
            .iter()
            .find(|(k, _)| *k == c)
            .map_or(0, |(_, n)| *n)
    };
    assert_eq!(cat(Category::DeniedProbing), 3);
    assert_eq!(cat(Category::Discovery), 3);
    assert_eq!(cat(Category::Persistence), 3);
    assert_eq!(
        cat(Category::CredentialAccess),
        3,
        "key, session token, role"
    );
    assert_eq!(cat(Category::Impact), 1);
    assert_eq!(cat(Category::DefenseEvasion), 1);
    assert_eq!(f.summary.regions.len(), 3);

    // GuardDuty: the findings about the followed keys, in both accounts, and not the one
    // about the user's other key; the region it does not watch is named.
    let found: Vec<(&str, &str)> = f
        .guardduty
        .findings
        .iter()
        .map(|g| (g.kind.as_str(), g.account.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("Impact:IAMUser/AnomalousBehavior", ROLE_ACCOUNT),
            ("Discovery:IAMUser/AnomalousBehavior", OWN_ACCOUNT),
            ("Stealth:IAMUser/CloudTrailLoggingDisabled", ROLE_ACCOUNT),
        ]
    );
    assert_eq!(
        f.guardduty.without_detector,
        [format!("{OWN_ACCOUNT}/eu-west-1")]
    );
    assert!(
        f.guardduty.failures.is_empty(),
        "{:?}",
        f.guardduty.failures
    );

    // The role in the other account got its fence, there.
    assert_eq!(f.roles.len(), 1);
    assert!(matches!(f.roles[0].outcome, FenceOutcome::Fenced { .. }));
    let doc = ops_admin_fence(&s, &id).await;
    assert!(doc.contains("aws:TokenIssueTime"), "{doc}");

    // The inventory, and the one proposal it supports in the incident's account.
    let kinds: Vec<(ResourceKind, &str)> =
        f.created.iter().map(|c| (c.kind, c.id.as_str())).collect();
    assert_eq!(
        kinds,
        [
            (ResourceKind::User, "backdoor-admin"),
            (ResourceKind::AccessKey, s.backdoor_key.as_str()),
            (ResourceKind::LoginProfile, "backdoor-admin"),
            (ResourceKind::Instance, "i-0a1b2c3d4e5f60001"),
            (ResourceKind::Instance, "i-0a1b2c3d4e5f60002"),
        ]
    );
    let proposals = s.app.store.proposals(&id).await.unwrap();
    assert_eq!(proposals.len(), 1);
    let described = serde_json::to_string(&proposals[0].action).unwrap();
    assert!(described.contains("backdoor-admin"), "{described}");
    assert!(
        support::proposals::user_exists(&s.iam, "backdoor-admin").await,
        "nothing is deleted without approval"
    );

    // The thread: the summary, in one message that was first the progress.
    let top = s.app.slack.top_level();
    let replies = s.app.slack.replies_to(&top[0].ts);
    let summary = replies
        .iter()
        .find(|r| r.text.starts_with("Forensics for"))
        .expect("a forensics message in the thread");
    let text = summary.blocks.to_string();
    for needle in [
        "13 calls",
        "3 keys",
        "denied probing: 3",
        "defense evasion: 1",
        "ops-admin",
        "fenced with inline policy",
        "backdoor-admin",
        "1 cleanup proposal",
        "Every region was read in full",
        "GuardDuty — 3 findings (1 high, 1 medium, 1 low)",
        "attached `AWSCompromisedKeyQuarantineV3` at",
        "Impact:IAMUser/",
    ] {
        assert!(text.contains(needle), "{needle} not in {text}");
    }
    assert_eq!(s.app.store.trail_events(&id).await.unwrap().len(), 13);

    // The timeline, as two files in the thread: every event, oldest first.
    let files = s.app.slack.files();
    let names: Vec<&str> = files.iter().map(|f| f.filename.as_str()).collect();
    assert_eq!(
        names,
        [format!("{id}-timeline.csv"), format!("{id}-timeline.json")]
    );
    assert!(
        files
            .iter()
            .all(|f| f.thread_ts.as_deref() == Some(top[0].ts.as_str()))
    );
    let csv = String::from_utf8(files[0].bytes.clone()).unwrap();
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let names: Vec<String> = rows.records().map(|r| r.unwrap()[5].to_string()).collect();
    assert_eq!(names.len(), 13);
    assert_eq!(names[0], "GetCallerIdentity");
    assert_eq!(names[12], "StopLogging");
    let json: serde_json::Value = serde_json::from_slice(&files[1].bytes).unwrap();
    assert_eq!(json["events"].as_array().unwrap().len(), 13);
    assert!(files[0].comment.as_deref().unwrap().contains("13 events"));

    // The session tokens CloudTrail logged never reach the store, Slack or the files.
    let db = s.app.stored_text().await;
    for token in ["AQoDYXdzEPT", "IQoJb3JpZ2luX2VjEXAMPLE"] {
        assert!(!db.contains(token), "{token} stored");
        for (_, body) in s.app.slack.calls() {
            assert!(!body.contains(token), "{token} posted");
        }
        for f in &files {
            assert!(
                !String::from_utf8_lossy(&f.bytes).contains(token),
                "{token} in a file"
            );
        }
    }
    assert_eq!(s.emulator.counters(|c| c.throttled), 0);
    drop(s.moto);
}

/// Waits until no job is left and returns every incident, oldest first.
async fn settled_incidents(app: &App) -> Vec<keyleak::domain::incident::Incident> {
    let store = app.store.clone();
    wait_until(Duration::from_secs(90), move || {
        let store = store.clone();
        async move {
            let idle = store.pending_jobs(None).await.ok()? == 0;
            let mut all = store.open_incidents(50).await.ok()?;
            let done = all.iter().all(|i| i.state != IncidentState::Containing);
            all.sort_by_key(|i| i.opened_at);
            (idle && done).then_some(all)
        }
    })
    .await
    .expect("every containment finished")
}

#[tokio::test]
async fn a_role_session_key_is_contained_through_its_whole_chain() {
    let s = attacked().await;
    // The key the attacker got last: a session of ops-admin in the second account, minted by
    // a GetSessionToken session of ci-deploy, itself minted by the leaked key.
    let id = s.app.contain(ROLE_KEY, "seen in a paste").await;
    let incidents = settled_incidents(&s.app).await;
    let chain: Vec<(&str, IncidentState)> = incidents
        .iter()
        .map(|i| (i.key.as_str(), i.state))
        .collect();
    assert_eq!(
        chain,
        [
            (ROLE_KEY, IncidentState::Contained),
            (SESSION_KEY, IncidentState::Contained),
            (s.leaked.as_str(), IncidentState::Contained),
        ]
    );
    assert_eq!(incidents[0].id, id);

    // The role's older sessions are fenced in the role's account ...
    assert!(
        ops_admin_fence(&s, &id)
            .await
            .contains("aws:TokenIssueTime")
    );
    // ... the user's sessions by the second incident, and the leaked key is inactive.
    let names = seed::inline_policies(&s.iam, "ci-deploy").await;
    assert!(names.contains(&format!("keyleak-session-fence-{}", incidents[1].id)));
    assert!(names.contains(&format!("keyleak-deny-all-{}", incidents[2].id)));
    let keys = s
        .iam
        .list_access_keys()
        .user_name("ci-deploy")
        .send()
        .await
        .unwrap();
    let leaked = keys
        .access_key_metadata()
        .iter()
        .find(|k| k.access_key_id() == Some(s.leaked.as_str()))
        .unwrap();
    assert_eq!(leaked.status().map(|s| s.as_str()), Some("Inactive"));

    // The first incident's thread says who issued the key and where the chain went.
    let steps = s.app.store.steps(&id).await.unwrap();
    let kinds: Vec<StepKind> = steps.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, StepKind::TEMPORARY);
    let top = s.app.slack.top_level();
    let thread = top
        .iter()
        .find(|m| m.text.contains(id.as_str()))
        .expect("the first incident's message");
    let replies: Vec<String> = s
        .app
        .slack
        .replies_to(&thread.ts)
        .iter()
        .map(|r| r.blocks.to_string())
        .collect();
    let all = replies.join("\n");
    for needle in [
        "minted by `AssumeRole`",
        &format!("called with `{SESSION_KEY}`"),
        "arn:aws:iam::444455556666:role/ops-admin",
        &format!("its containment runs as *{}*", incidents[1].id),
    ] {
        assert!(all.contains(needle), "{needle} not in {all}");
    }
    drop(s.moto);
}

#[tokio::test]
async fn a_temporary_key_without_a_trace_is_escalated_and_nothing_changes() {
    let (moto, _emulator, app, iam) = start(&REGIONS).await;
    seed::ci_user(&iam, "ci-deploy").await;
    let policies = |iam: aws_sdk_iam::Client| async move {
        let out = iam.list_user_policies().user_name("ci-deploy").send().await;
        out.unwrap().policy_names().to_vec()
    };
    let before = policies(iam.clone()).await;
    let id = app.contain("ASIAZZZZZZZZNOTRACE1", "").await;
    let i = app.wait_for_state(&id, IncidentState::Escalated).await;
    assert_eq!(i.key.as_str(), "ASIAZZZZZZZZNOTRACE1");
    assert_eq!(policies(iam).await, before, "nothing was fenced");
    let text = app.slack.all_text();
    assert!(
        text.contains("found neither the call that minted it"),
        "{text}"
    );
    drop(moto);
}

#[tokio::test]
async fn a_service_linked_roles_session_is_handed_to_a_person() {
    let (moto, emulator, app, _iam) = start(&["us-east-1"]).await;
    let key = "ASIAZZZZZZZSERVICE01";
    emulator
        .log(
            &Record::from("list_users")
                .by_role(
                    OWN_ACCOUNT,
                    "aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS",
                    key,
                )
                .at(Utc::now() - chrono::Duration::minutes(5))
                .value(),
        )
        .unwrap();
    let id = app.contain(key, "").await;
    app.wait_for_state(&id, IncidentState::Escalated).await;
    let steps = app.store.steps(&id).await.unwrap();
    assert!(matches!(
        steps.last().map(|s| &s.fact),
        Some(StepFact::Escalated(Escalation::ServiceLinkedRole))
    ));
    let text = app.slack.all_text();
    assert!(text.contains("service-linked role"), "{text}");
    drop(moto);
}
