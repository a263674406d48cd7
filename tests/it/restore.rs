//! Restore against moto (IAM, STS, Secrets Manager) and the fake Slack: the key limit is
//! respected, the new key is handed over in a secret only its user may read and never shown,
//! two presses make one key, and the deny-all goes only with approval while the fence stays.

use crate::support;

use std::time::Duration;

use chrono::Utc;
use keyleak::domain::approval::ProposalState;
use keyleak::domain::ids::IncidentId;
use keyleak::domain::incident::IncidentState;
use keyleak::domain::policy;
use keyleak::domain::restore::{Handover, handover_policy, secret_name};
use serde_json::Value;
use support::moto::OWN_ACCOUNT;
use support::proposals::*;
use support::trail::{Record, start_with_trail};
use support::*;

async fn handover(app: &App, id: &IncidentId) -> Handover {
    let store = app.store.clone();
    let id = id.clone();
    wait_until(Duration::from_secs(30), move || {
        let (store, id) = (store.clone(), id.clone());
        async move { store.handover(&id).await.ok()? }
    })
    .await
    .expect("a key was handed over")
}

/// The handover's secret as restore must leave it: the policy that lets only `user` read it,
/// and the new key as its value. Returns the value.
async fn assert_handed_over(
    secrets: &aws_sdk_secretsmanager::Client,
    name: &str,
    user: &str,
    key_id: &str,
) -> Value {
    let policy = secrets
        .get_resource_policy()
        .secret_id(name)
        .send()
        .await
        .unwrap();
    let user_arn = format!("arn:aws:iam::{OWN_ACCOUNT}:user/{user}");
    assert_eq!(
        serde_json::from_str::<Value>(policy.resource_policy().unwrap()).unwrap(),
        serde_json::from_str::<Value>(&handover_policy(&user_arn)).unwrap()
    );
    let value = secrets
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .unwrap();
    let value: Value = serde_json::from_str(value.secret_string().unwrap()).unwrap();
    assert_eq!(value["AccessKeyId"], key_id);
    value
}

/// A user `solo` with one key, that key contained; the incident.
async fn solo_contained(app: &App, iam: &aws_sdk_iam::Client) -> (seed::Key, IncidentId) {
    iam.create_user().user_name("solo").send().await.unwrap();
    let leaked = seed::create_key(iam, "solo").await;
    let id = app.contain(&leaked.id, "").await;
    app.wait_for_state(&id, IncidentState::Contained).await;
    (leaked, id)
}

#[tokio::test]
async fn restore_respects_the_key_limit_hands_the_new_key_over_once_and_lifts_only_the_deny_all() {
    let (moto, emulator, app) = start_with_trail(Options::default()).await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let secrets = aws_sdk_secretsmanager::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let key = seeded.leaked.id.clone();
    let used = Record::from("list_users")
        .by_user(OWN_ACCOUNT, "ci-deploy", &key)
        .at(Utc::now() - chrono::Duration::hours(1));
    emulator.log(&used.value()).unwrap();
    let id = app.contain(&key, "").await;
    let incident = app.wait_for_state(&id, IncidentState::Contained).await;

    // Two keys already: nothing is created; deleting the leaked one is proposed instead.
    let said = ask(&app, RESPONDER, &format!("restore {id} new-key")).await;
    assert!(said.contains("Restoring"), "{said}");
    let told = requester_told(&app, "IAM's limit").await;
    assert!(told.contains("no new key"), "{told}");
    let delete = proposals(&app, &id, 1).await.remove(0);
    assert!(message_of(&app, &delete).text.contains(&key));
    assert_eq!(key_ids(&iam, "ci-deploy").await.len(), 2);
    assert!(app.store.handover(&id).await.unwrap().is_none());
    assert_eq!(approve(&app, &delete).await.state, ProposalState::Done);

    // Now there is room. Pressed twice: one key.
    ask(&app, RESPONDER, &format!("restore {id} new-key")).await;
    ask(&app, RESPONDER, &format!("restore {id} new-key")).await;
    let h = handover(&app, &id).await;
    let lift = proposals(&app, &id, 2).await.remove(1);
    let keys = key_ids(&iam, "ci-deploy").await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.contains(&h.key_id) && keys.contains(&seeded.other.id));
    assert!(
        h.verified.as_ref().unwrap().ends_with(":user/ci-deploy"),
        "{:?}",
        h.verified
    );

    // The secret: named for the incident, tagged with the key, readable only by the user.
    let name = secret_name(&id, "ci-deploy");
    let described = secrets
        .describe_secret()
        .secret_id(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(described.arn(), Some(h.secret_arn.as_str()));
    let value = assert_handed_over(&secrets, &name, "ci-deploy", &h.key_id).await;
    let new_secret = value["SecretAccessKey"].as_str().unwrap().to_string();
    assert_eq!(new_secret.len(), 40);

    // The secret key is nowhere but in Secrets Manager: not in Slack, not in the database.
    for (_, body) in app.slack.calls() {
        assert!(!body.contains(&new_secret), "the new secret reached Slack");
    }
    assert!(!app.stored_text().await.contains(&new_secret));

    // The thread has the ARN, the verification, the places to update; the fence stays.
    let summary = wait_until(Duration::from_secs(20), || {
        let replies = app.slack.replies_to(incident.slack_ts.as_ref().unwrap());
        async move { replies.into_iter().find(|r| r.text.contains("Restore of")) }
    })
    .await
    .expect("a restore summary in the thread");
    for needle in [
        h.secret_arn.as_str(),
        "Verified",
        "192.0.2.101",
        "session fence stays",
    ] {
        assert!(summary.text.contains(needle), "{needle}: {}", summary.text);
    }
    // The deny-all goes only when approved; the fence stays.
    let deny = policy::deny_all(&id).name;
    let fence = policy::session_fence(&id, incident.fence_time).name;
    assert!(
        seed::inline_policies(&iam, "ci-deploy")
            .await
            .contains(&deny)
    );
    assert_eq!(approve(&app, &lift).await.state, ProposalState::Done);
    let left = seed::inline_policies(&iam, "ci-deploy").await;
    assert!(!left.contains(&deny), "{left:?}");
    assert!(left.contains(&fence), "{left:?}");
    let audit = app.store.audit_log(Some(&id)).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action.name() == "restore.key_issued")
            .count(),
        1
    );
}

#[tokio::test]
async fn restore_refuses_what_it_cannot_do_and_changes_nothing() {
    let app = App::start(no_aws().await, Options::default()).await;
    assert!(
        ask(&app, RESPONDER, "restore KL-DEADBEEF")
            .await
            .contains("no incident")
    );
    assert!(
        ask(&app, RESPONDER, "restore KL-DEADBEEF all-the-things")
            .await
            .contains("`restore` takes")
    );
    assert!(
        ask(&app, OUTSIDER, "restore KL-DEADBEEF")
            .await
            .contains("only responders")
    );
    let id = app.contain("AKIAZZZZZZZZZZZZWXYZ", "no aws").await;
    app.wait_for_state(&id, IncidentState::Failed).await;
    let said = ask(&app, RESPONDER, &format!("restore {id} new-key")).await;
    assert!(said.contains("not contained"), "{said}");
    assert_eq!(app.store.pending_jobs(Some(&id)).await.unwrap(), 0);
}

#[tokio::test]
async fn a_key_whose_secret_cannot_be_stored_is_deleted_again_and_a_retry_can_work() {
    let (moto, _emulator, app) = start_with_trail(Options::default()).await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let secrets = aws_sdk_secretsmanager::Client::new(&moto.own_config().await);
    let (leaked, id) = solo_contained(&app, &iam).await;
    // Someone else's secret already has the name restore would use.
    let name = secret_name(&id, "solo");
    secrets
        .create_secret()
        .name(&name)
        .secret_string("not ours")
        .send()
        .await
        .unwrap();

    ask(&app, RESPONDER, &format!("restore {id} new-key")).await;
    let told = requester_told(&app, "stopped").await;
    assert!(told.contains("already exists"), "{told}");
    assert!(told.contains("deleted again"), "{told}");
    assert_eq!(
        key_ids(&iam, "solo").await,
        vec![leaked.id.clone()],
        "no key left behind"
    );
    assert!(app.store.handover(&id).await.unwrap().is_none());
    let kept = secrets
        .get_secret_value()
        .secret_id(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        kept.secret_string(),
        Some("not ours"),
        "the other secret is untouched"
    );

    // Once the name is free, the same command works: the failed run left no claim behind.
    secrets
        .delete_secret()
        .secret_id(&name)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    ask(&app, RESPONDER, &format!("restore {id} new-key")).await;
    let h = handover(&app, &id).await;
    assert_eq!(key_ids(&iam, "solo").await.len(), 2);
    assert!(key_ids(&iam, "solo").await.contains(&h.key_id));
}

/// A handover whose secret policy failed leaves nothing behind, and a half-made handover
/// found later (its key deleted, no policy, no value) is taken apart, never handed over: the
/// next restore issues a key that exists, in a secret with the policy and the value.
#[tokio::test]
async fn a_half_made_handover_is_never_handed_over() {
    let moto = Moto::start().await.unwrap();
    let emulator = crate::support::trail::emulator(&moto.url).await;
    let proxy = support::proxy::AwsProxy::start(&moto.url).await;
    let app = App::start(
        support::trail::bot_config_at(&proxy.url, &emulator).await,
        Options::default(),
    )
    .await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let secrets = aws_sdk_secretsmanager::Client::new(&moto.own_config().await);
    let (leaked, id) = solo_contained(&app, &iam).await;
    let name = secret_name(&id, "solo");

    // The policy call fails once: the new key and the secret are both deleted again.
    proxy.fail_once("PutResourcePolicy", "AccessDeniedException");
    ask(&app, RESPONDER, &format!("restore {id} new-key")).await;
    let told = requester_told(&app, "stopped").await;
    assert!(told.contains("deleted again"), "{told}");
    assert_eq!(key_ids(&iam, "solo").await, vec![leaked.id.clone()]);
    assert!(
        secrets
            .describe_secret()
            .secret_id(&name)
            .send()
            .await
            .is_err()
    );
    assert!(app.store.handover(&id).await.unwrap().is_none());

    // A run that died after making the secret and before its policy and value.
    let tag = |k: &str, v: &str| {
        aws_sdk_secretsmanager::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
    };
    secrets
        .create_secret()
        .name(&name)
        .tags(tag("keyleak:incident", id.as_str()))
        .tags(tag("keyleak:access-key-id", "AKIAGONEGONEGONE0000"))
        .send()
        .await
        .unwrap();
    ask(&app, RESPONDER, &format!("restore {id} new-key")).await;
    let h = handover(&app, &id).await;
    assert_ne!(
        h.key_id, "AKIAGONEGONEGONE0000",
        "a dead key is never handed over"
    );
    assert!(key_ids(&iam, "solo").await.contains(&h.key_id));
    assert_handed_over(&secrets, &name, "solo", &h.key_id).await;
}
