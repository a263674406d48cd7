//! `/keyleak contain` against moto and the fake Slack: the key really stops working, only the
//! leaked key is touched, and every step is reported once in the incident thread.

mod support;

use aws_sdk_iam::types::StatusType;
use keyleak::domain::incident::{IncidentState, StepKind, StepStatus};
use keyleak::domain::policy;
use serde_json::Value;
use support::moto::OWN_ACCOUNT;
use support::*;

#[tokio::test]
async fn contain_deactivates_only_the_leaked_key_and_denies_the_user() {
    let moto = Moto::start().await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let app = App::start(moto.own_config().await, Options::default()).await;

    let id = app
        .contain(&seeded.leaked.id, "pushed to a public repo")
        .await;
    let incident = app.wait_for_state(&id, IncidentState::Contained).await;

    // AWS: the leaked key is inactive, the other untouched, both deny policies in place.
    assert_eq!(
        seed::key_status(&iam, "ci-deploy", &seeded.leaked.id).await,
        StatusType::Inactive
    );
    assert_eq!(
        seed::key_status(&iam, "ci-deploy", &seeded.other.id).await,
        StatusType::Active
    );
    let deny = policy::deny_all(&id);
    let fence = policy::session_fence(&id, incident.fence_time);
    let expect = |p: &policy::DenyPolicy| serde_json::from_str::<Value>(&p.document).unwrap();
    assert_eq!(
        seed::user_policy(&iam, "ci-deploy", &deny.name).await,
        expect(&deny)
    );
    assert_eq!(
        seed::user_policy(&iam, "ci-deploy", &fence.name).await,
        expect(&fence)
    );
    assert_eq!(
        seed::user_policy(&iam, "ci-deploy", "app-read").await,
        serde_json::from_str::<Value>(seed::APP_POLICY).unwrap(),
        "the user's own policies are left alone"
    );

    // Store: facts, every step done once, the pre-incident snapshot, the audit trail.
    assert_eq!(incident.account.as_ref().unwrap().as_str(), OWN_ACCOUNT);
    assert_eq!(incident.user_name.as_deref(), Some("ci-deploy"));
    assert!(incident.contained_at.is_some());
    let steps = app.engine.store.steps(&id).await.unwrap();
    assert_eq!(steps.len(), StepKind::ALL.len());
    assert!(steps.iter().all(|s| s.status == StepStatus::Done));
    for k in [
        StepKind::DeactivateKey,
        StepKind::DenyAll,
        StepKind::SessionFence,
    ] {
        let s = steps.iter().find(|s| s.kind == k).unwrap();
        assert!(s.request_id.is_some(), "{k:?} has an AWS request id");
    }
    let snap = app.engine.store.snapshot(&id).await.unwrap().unwrap();
    assert_eq!(snap.access_keys.len(), 2);
    assert!(
        snap.access_keys.iter().all(|k| k.active),
        "taken before any change"
    );
    assert_eq!(snap.inline_policies, vec!["app-read"]);
    assert_eq!(snap.groups, vec!["ci-deploy-group"]);
    let audit = app.engine.store.audit_log(Some(&id)).await.unwrap();
    assert_eq!(audit[0].action, "contain.open");
    assert_eq!(audit[0].actor, format!("slack:{RESPONDER}"));
    for k in StepKind::ALL {
        let action = format!("contain.{}.done", k.as_str());
        assert_eq!(
            audit.iter().filter(|a| a.action == action).count(),
            1,
            "{action}"
        );
    }

    // Slack: one incident message, one threaded reply per step, the message updated in place.
    let top = app.slack.top_level();
    assert_eq!(top.len(), 1);
    assert!(top[0].updates >= 1);
    assert!(top[0].text.contains("contained"), "{}", top[0].text);
    let replies = app.slack.replies_to(&top[0].ts);
    // One reply per step, and the forensics that follows containment.
    assert_eq!(replies.len(), StepKind::ALL.len() + 1);
    let joined: String = replies.iter().map(|r| r.blocks.to_string()).collect();
    assert!(joined.contains("AWS request id"));
    assert!(joined.contains(&seeded.leaked.id));
    assert!(joined.contains("Left untouched"));
    assert!(joined.contains(&seeded.other.id));
    for (_, body) in app.slack.calls() {
        assert!(
            !body.contains(&seeded.leaked.secret),
            "a secret reached Slack"
        );
    }
    // The requester is told privately how it ended.
    let told = app.slack.responses();
    assert_eq!(told.len(), 1);
    assert!(
        told[0]["text"].as_str().unwrap().contains("contained in"),
        "{told:?}"
    );
    assert!(
        !String::from_utf8_lossy(&app.database_bytes()).contains(&seeded.leaked.secret),
        "a secret reached the database"
    );
}

#[tokio::test]
async fn with_iam_policies_enforced_the_leaked_key_is_denied() {
    let moto = Moto::start().await;
    let setup = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&setup, "ci-deploy").await;
    let bot = seed::admin(&setup).await;
    let bot_config = moto.config(&bot.id, &bot.secret, None).await;
    let app = App::start(bot_config, Options::default()).await;

    let attacker = aws_sdk_sts::Client::new(
        &moto
            .config(&seeded.leaked.id, &seeded.leaked.secret, None)
            .await,
    );
    moto.enforce_auth().await;
    attacker
        .get_caller_identity()
        .send()
        .await
        .expect("the leaked key works before containment");

    let id = app.contain(&seeded.leaked.id, "").await;
    app.wait_for_state(&id, IncidentState::Contained).await;

    let iam_as_attacker = aws_sdk_iam::Client::new(
        &moto
            .config(&seeded.leaked.id, &seeded.leaked.secret, None)
            .await,
    );
    let denied = iam_as_attacker.list_users().send().await.unwrap_err();
    // moto answers in the STS error shape, which the IAM client does not decode: read the
    // raw response.
    let raw = denied.raw_response().expect("an HTTP answer");
    assert_eq!(raw.status().as_u16(), 403);
    let body = String::from_utf8_lossy(raw.body().bytes().unwrap_or_default()).into_owned();
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    let create = iam_as_attacker
        .create_user()
        .user_name("backdoor")
        .send()
        .await;
    assert!(
        create.is_err(),
        "the attacker cannot create a backdoor user"
    );
}

#[tokio::test]
async fn a_key_in_another_account_is_contained_through_the_responder_role() {
    let moto = Moto::start().await;
    let other_account = "222222222222";
    let iam_b = aws_sdk_iam::Client::new(&moto.config_in(other_account).await);
    iam_b
        .create_role()
        .role_name("KeyleakResponder")
        .assume_role_policy_document(format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{OWN_ACCOUNT}:root"}},"Action":"sts:AssumeRole"}}]}}"#
        ))
        .send()
        .await
        .unwrap();
    let seeded = seed::ci_user(&iam_b, "payments-ci").await;

    let app = App::start(
        moto.own_config().await,
        Options {
            role_arn_template: Some("arn:aws:iam::{account}:role/KeyleakResponder".into()),
            ..Options::default()
        },
    )
    .await;
    let id = app.contain(&seeded.leaked.id, "").await;
    let incident = app.wait_for_state(&id, IncidentState::Contained).await;
    assert_eq!(incident.account.unwrap().as_str(), other_account);
    assert_eq!(
        seed::key_status(&iam_b, "payments-ci", &seeded.leaked.id).await,
        StatusType::Inactive
    );
    assert_eq!(
        seed::key_status(&iam_b, "payments-ci", &seeded.other.id).await,
        StatusType::Active
    );
    let fence = policy::session_fence(&id, incident.fence_time);
    seed::user_policy(&iam_b, "payments-ci", &fence.name).await;
    let replies = app.slack.replies_to(&app.slack.top_level()[0].ts);
    assert!(
        replies[0].text.contains("responder role"),
        "{}",
        replies[0].text
    );
}

#[tokio::test]
async fn another_account_without_a_role_template_fails_clearly_and_changes_nothing() {
    let moto = Moto::start().await;
    let iam_c = aws_sdk_iam::Client::new(&moto.config_in("333333333333").await);
    let seeded = seed::ci_user(&iam_c, "stranger").await;
    let app = App::start(moto.own_config().await, Options::default()).await;

    let id = app.contain(&seeded.leaked.id, "").await;
    app.wait_for_state(&id, IncidentState::Failed).await;
    assert_eq!(
        seed::key_status(&iam_c, "stranger", &seeded.leaked.id).await,
        StatusType::Active
    );
    let replies = app.slack.replies_to(&app.slack.top_level()[0].ts);
    assert_eq!(replies.len(), 1);
    assert!(
        replies[0].text.contains("333333333333"),
        "{}",
        replies[0].text
    );
    assert!(
        replies[0].text.contains("KEYLEAK_ROLE_ARN_TEMPLATE"),
        "{}",
        replies[0].text
    );
}

#[tokio::test]
async fn double_submit_reuses_the_incident_and_runs_each_step_once() {
    let moto = Moto::start().await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let app = App::start(moto.own_config().await, Options::default()).await;

    let text = format!("contain {}", seeded.leaked.id);
    let (a, b, c) = tokio::join!(app.command(&text), app.command(&text), app.command(&text));
    for r in [a, b, c] {
        assert_eq!(r.status(), 200);
    }
    let open = app.engine.store.open_incidents(50).await.unwrap();
    assert_eq!(open.len(), 1, "one incident for one key");
    app.wait_for_state(&open[0].id, IncidentState::Contained)
        .await;

    // And once more after containment: nothing runs again.
    let again: Value = app.command(&text).await.json().await.unwrap();
    assert!(
        again["text"]
            .as_str()
            .unwrap()
            .contains("already has an open incident")
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.slack.top_level().len(), 1);
    assert_eq!(
        app.slack.replies_to(&app.slack.top_level()[0].ts).len(),
        StepKind::ALL.len() + 1,
        "the steps and one forensics message"
    );
    let audit = app.engine.store.audit_log(None).await.unwrap();
    assert_eq!(
        audit.iter().filter(|a| a.action == "contain.open").count(),
        1
    );
    assert_eq!(
        audit.iter().filter(|a| a.action == "contain.reuse").count(),
        3
    );
}

#[tokio::test]
async fn a_temporary_key_whose_issuer_cannot_be_looked_up_fails_without_pretending() {
    // moto has no CloudTrail: the issuer of a temporary key cannot be found, and that is a
    // failure to retry, not a containment.
    let moto = Moto::start().await;
    let creds = moto
        .assume(&format!("arn:aws:iam::{OWN_ACCOUNT}:role/app"))
        .await;
    let app = App::start(moto.own_config().await, Options::default()).await;
    let id = app.contain(&creds.access_key_id, "").await;
    app.wait_for_state(&id, IncidentState::Failed).await;
    let steps = app.engine.store.steps(&id).await.unwrap();
    let kinds: Vec<StepKind> = steps.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [StepKind::LocateAccount, StepKind::FindOrigin]);
    assert_eq!(steps[1].status, StepStatus::Failed);
    let top = &app.slack.top_level()[0];
    let replies = app.slack.replies_to(&top.ts);
    let failed = &replies.last().unwrap().text;
    assert!(failed.contains("Failed"), "{failed}");
    assert!(failed.contains("again to retry"), "{failed}");
}

#[tokio::test]
async fn a_response_url_off_slacks_hosts_is_never_called() {
    let moto = Moto::start().await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let app = App::start(moto.own_config().await, Options::default()).await;
    // A listener on another origin that counts what reaches it.
    let elsewhere = FakeSlack::start().await;
    let r = app
        .command_with(
            RESPONDER,
            &format!("contain {}", seeded.leaked.id),
            &elsewhere.response_url(),
        )
        .await;
    assert_eq!(r.status(), 200);
    let id = app.only_incident().await;
    app.wait_for_state(&id, IncidentState::Contained).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(elsewhere.calls().is_empty() && elsewhere.responses().is_empty());
    assert!(app.slack.responses().is_empty());
}
