//! Each cleanup action against moto once approved: users, keys, console passwords, roles,
//! policies, instances, functions, and the rollback of containment. Targets that vanished or
//! grew after they were proposed end in a clear outcome, run once, never retried.

use crate::support;

use aws_sdk_iam::types::StatusType;
use keyleak::domain::approval::{Outcome, ProposalState};
use keyleak::domain::policy;
use support::proposals::*;
use support::*;

use support::seed::TRUST;

/// What was kept of the proposal's target before it was destroyed.
async fn described(app: &App, p: &keyleak::domain::approval::Proposal) -> serde_json::Value {
    app.store
        .evidence_of(&p.id)
        .await
        .unwrap()
        .expect("evidence kept before the action ran")
        .described
}

#[tokio::test]
async fn a_target_already_gone_or_grown_since_proposed_ends_cleanly_and_runs_once() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let app = App::start(moto.own_config().await, Options::default()).await;
    let (id, _) = contained(&app, &iam, "ci-deploy").await;

    // Deleted by hand between proposal and approval.
    iam.create_user().user_name("gone").send().await.unwrap();
    let p = propose(&app, &id, "delete-user gone").await;
    iam.delete_user().user_name("gone").send().await.unwrap();
    let done = approve(&app, &p).await;
    assert_eq!(done.state, ProposalState::Done);
    assert!(matches!(done.outcome, Some(Outcome::AlreadyGone { .. })));
    assert_eq!(
        described(&app, &p).await,
        serde_json::json!({"found": false})
    );
    wait_message(&app, &done, "already gone").await;

    // Given a new access key after the approvers saw it: nothing is deleted.
    iam.create_user().user_name("grower").send().await.unwrap();
    let p = propose(&app, &id, "delete-user grower").await;
    let added = seed::create_key(&iam, "grower").await;
    let failed = approve(&app, &p).await;
    assert_eq!(failed.state, ProposalState::Failed);
    let Some(Outcome::Changed { found }) = &failed.outcome else {
        panic!("{:?}", failed.outcome)
    };
    assert_eq!(found, &vec![format!("access key {}", added.id)]);
    assert!(user_exists(&iam, "grower").await);
    assert_eq!(key_ids(&iam, "grower").await, vec![added.id.clone()]);
    wait_message(&app, &failed, "Not run").await;

    // Each approval ran exactly once: no retry storm after an unhappy outcome.
    let log = app.store.audit_log(Some(&id)).await.unwrap();
    assert_eq!(
        log.iter()
            .filter(|e| e.action.name() == "proposal.executing")
            .count(),
        2
    );
}

#[tokio::test]
async fn rollback_reactivates_the_key_and_lifts_the_deny_all_but_keeps_the_fence() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let app = App::start(moto.own_config().await, Options::default()).await;
    let (id, seeded) = contained(&app, &iam, "ci-deploy").await;

    let said = ask(&app, RESPONDER, &format!("rollback {id}")).await;
    assert!(said.contains("rollback proposals"), "{said}");
    let ps = proposals(&app, &id, 2).await;
    assert!(
        message_of(&app, &ps[0])
            .text
            .contains("reactivate access key")
    );
    assert!(
        message_of(&app, &ps[1])
            .text
            .contains("remove the deny-all")
    );
    for p in &ps {
        let done = approve(&app, p).await;
        assert_eq!(done.state, ProposalState::Done, "{:?}", done.outcome);
    }
    assert_eq!(
        seed::key_status(&iam, "ci-deploy", &seeded.leaked.id).await,
        StatusType::Active
    );
    let deny = policy::deny_all(&id).name;
    let policies = seed::inline_policies(&iam, "ci-deploy").await;
    assert!(!policies.contains(&deny), "{policies:?}");
    assert!(
        policies
            .iter()
            .any(|p| p.starts_with("keyleak-session-fence-")),
        "sessions minted before containment stay cut off: {policies:?}"
    );
    let log = app.store.audit_log(Some(&id)).await.unwrap();
    let done: Vec<_> = log
        .iter()
        .filter(|e| e.action.name() == "proposal.done")
        .collect();
    assert_eq!(done.len(), 2);
    assert!(
        done.iter()
            .all(|e| e.detail.contains(RESPONDER) && e.detail.contains(APPROVER)),
        "both people are on record"
    );
}

#[tokio::test]
async fn keys_passwords_roles_and_policies_are_deleted_as_proposed() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let app = App::start(moto.own_config().await, Options::default()).await;
    let (id, seeded) = contained(&app, &iam, "ci-deploy").await;

    // Another key of the user: only that one goes.
    let p = propose(&app, &id, &format!("delete-key {}", seeded.other.id)).await;
    assert!(message_of(&app, &p).text.contains("of user `ci-deploy`"));
    approve(&app, &p).await;
    assert_eq!(
        key_ids(&iam, "ci-deploy").await,
        vec![seeded.leaked.id.clone()]
    );

    // A console password the attacker set.
    iam.create_login_profile()
        .user_name("ci-deploy")
        .password("Attacker-Set-Passw0rd!")
        .send()
        .await
        .unwrap();
    let p = propose(&app, &id, "delete-login-profile ci-deploy").await;
    approve(&app, &p).await;
    assert!(
        iam.get_login_profile()
            .user_name("ci-deploy")
            .send()
            .await
            .is_err()
    );

    // A role with a policy, an inline policy and an instance profile.
    let policy_arn = seed::managed_policy(&iam, "persist").await;
    iam.create_role()
        .role_name("backdoor-role")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap();
    iam.attach_role_policy()
        .role_name("backdoor-role")
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    iam.put_role_policy()
        .role_name("backdoor-role")
        .policy_name("inline")
        .policy_document(seed::APP_POLICY)
        .send()
        .await
        .unwrap();
    iam.create_instance_profile()
        .instance_profile_name("backdoor-profile")
        .send()
        .await
        .unwrap();
    iam.add_role_to_instance_profile()
        .instance_profile_name("backdoor-profile")
        .role_name("backdoor-role")
        .send()
        .await
        .unwrap();
    let p = propose(&app, &id, "delete-role backdoor-role").await;
    assert!(
        message_of(&app, &p)
            .text
            .contains("detach 1 policy, delete 1 inline policy, remove it from 1 instance profile"),
        "{}",
        message_of(&app, &p).text
    );
    let done = approve(&app, &p).await;
    assert_eq!(done.state, ProposalState::Done, "{:?}", done.outcome);
    let role = described(&app, &p).await;
    let json = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
    assert_eq!(role["AssumeRolePolicyDocument"], json(TRUST));
    assert_eq!(role["InlinePolicies"]["inline"], json(seed::APP_POLICY));
    assert_eq!(role["Holdings"]["instance_profiles"][0], "backdoor-profile");
    assert!(
        iam.get_role()
            .role_name("backdoor-role")
            .send()
            .await
            .is_err()
    );

    // The customer-managed policy, attached to a user, with an older version.
    iam.attach_user_policy()
        .user_name("ci-deploy")
        .policy_arn(&policy_arn)
        .send()
        .await
        .unwrap();
    iam.create_policy_version()
        .policy_arn(&policy_arn)
        .policy_document(seed::APP_POLICY)
        .set_as_default(true)
        .send()
        .await
        .unwrap();
    let p = propose(&app, &id, &format!("delete-policy {policy_arn}")).await;
    assert!(
        message_of(&app, &p)
            .text
            .contains("detach it from 1 user, role or group, delete 1 older version")
    );
    let done = approve(&app, &p).await;
    assert_eq!(done.state, ProposalState::Done, "{:?}", done.outcome);
    let policy = described(&app, &p).await;
    let versions = policy["Versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "every version's document: {policy}");
    assert!(
        versions
            .iter()
            .any(|v| v["Document"] == json(seed::APP_POLICY))
    );
    assert_eq!(policy["AttachedTo"]["users"][0], "ci-deploy");
    assert!(
        iam.get_policy()
            .policy_arn(&policy_arn)
            .send()
            .await
            .is_err()
    );

    // A policy in another account is refused before anything is proposed.
    let said = ask(
        &app,
        RESPONDER,
        &format!("cleanup {id} delete-policy arn:aws:iam::999999999999:policy/x"),
    )
    .await;
    assert!(said.contains("Checking AWS"));
    requester_told(&app, "not in the incident's account 123456789012").await;
}

#[tokio::test]
async fn instances_and_functions_are_removed_in_their_region() {
    let moto = Moto::start().await.unwrap();
    let config = moto.own_config().await;
    let iam = aws_sdk_iam::Client::new(&config);
    let app = App::start(config.clone(), Options::default()).await;
    let (id, _) = contained(&app, &iam, "ci-deploy").await;

    let ec2 = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(&config)
            .region(aws_config::Region::new("eu-west-1"))
            .build(),
    );
    let ids = seed::instances(&ec2, 3).await;
    let p = propose(
        &app,
        &id,
        &format!("terminate eu-west-1 {} i-0000000000000dead", ids.join(" ")),
    )
    .await;
    let text = message_of(&app, &p).text;
    assert!(
        text.contains("Terminate 3 instances in eu-west-1"),
        "{text}"
    );
    assert!(
        !text.contains("i-0000000000000dead"),
        "unknown ids are not proposed"
    );
    let done = approve(&app, &p).await;
    assert_eq!(done.state, ProposalState::Done, "{:?}", done.outcome);
    let kept = described(&app, &p).await;
    let described_ids: Vec<&str> = kept["Instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["InstanceId"].as_str().unwrap())
        .collect();
    assert_eq!(described_ids.len(), 3, "{kept}");
    assert!(ids.iter().all(|i| described_ids.contains(&i.as_str())));
    assert_eq!(kept["Instances"][0]["State"], "running");
    seed::assert_terminated(&ec2, &ids).await;

    let lambda = aws_sdk_lambda::Client::from_conf(
        aws_sdk_lambda::config::Builder::from(&config)
            .region(aws_config::Region::new("ap-southeast-2"))
            .build(),
    );
    seed::function(&iam, &lambda, "miner").await;
    let p = propose(&app, &id, "delete-function ap-southeast-2 miner").await;
    let done = approve(&app, &p).await;
    assert_eq!(done.state, ProposalState::Done, "{:?}", done.outcome);
    let function = described(&app, &p).await;
    assert_eq!(function["Runtime"], "python3.12");
    assert_eq!(function["Handler"], "index.handler");
    assert!(
        lambda
            .get_function()
            .function_name("miner")
            .send()
            .await
            .is_err()
    );
}

/// A contained incident and a backdoor user, with the bot running under `policy` and moto
/// enforcing identity policies.
async fn enforced(policy: &str) -> (Moto, App, keyleak::domain::ids::IncidentId) {
    let moto = Moto::start().await.unwrap();
    let setup = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&setup, "ci-deploy").await;
    setup
        .create_user()
        .user_name("backdoor")
        .send()
        .await
        .unwrap();
    setup
        .put_user_policy()
        .user_name("backdoor")
        .policy_name("extra")
        .policy_document(seed::APP_POLICY)
        .send()
        .await
        .unwrap();
    seed::create_key(&setup, "backdoor").await;
    setup
        .create_user()
        .user_name("keyleak-bot")
        .send()
        .await
        .unwrap();
    setup
        .put_user_policy()
        .user_name("keyleak-bot")
        .policy_name("keyleak")
        .policy_document(policy)
        .send()
        .await
        .unwrap();
    let bot = seed::create_key(&setup, "keyleak-bot").await;
    let app = App::start(
        moto.config(&bot.id, &bot.secret, None).await,
        Options::default(),
    )
    .await;
    moto.enforce_auth().await.unwrap();
    let id = app.contain(&seeded.leaked.id, "").await;
    app.wait_for_state(&id, keyleak::domain::incident::IncidentState::Contained)
        .await;
    (moto, app, id)
}

const PUBLISHED_POLICY: &str = include_str!("../../manifests/iam-policy.json");

/// The IAM policy published in `manifests/` is all the bot needs: with moto enforcing
/// identity policies, containment, cleanup and rollback all succeed under it.
#[tokio::test]
async fn the_published_iam_policy_is_enough_to_contain_clean_up_and_roll_back() {
    let (_moto, app, id) = enforced(PUBLISHED_POLICY).await;
    let p = propose(&app, &id, "delete-user backdoor").await;
    let done = approve(&app, &p).await;
    assert_eq!(done.state, ProposalState::Done, "{:?}", done.outcome);
    let said = ask(&app, RESPONDER, &format!("rollback {id}")).await;
    assert!(said.contains("rollback"));
    for p in proposals(&app, &id, 3).await.iter().skip(1) {
        let done = approve(&app, p).await;
        assert_eq!(done.state, ProposalState::Done, "{:?}", done.outcome);
    }
}

/// AWS refusing the call ends the proposal as failed, with AWS's words and how far it got,
/// once: no retry.
#[tokio::test]
async fn an_access_denied_is_a_clear_failed_outcome() {
    let without = PUBLISHED_POLICY.replace("\"iam:DeleteUser\",", "");
    assert_ne!(without, PUBLISHED_POLICY);
    let (_moto, app, id) = enforced(&without).await;
    let p = propose(&app, &id, "delete-user backdoor").await;
    let failed = approve(&app, &p).await;
    let Some(Outcome::Failed { error, request_ids }) = &failed.outcome else {
        panic!("{:?}", failed.outcome)
    };
    assert!(
        error.contains("not authorized to perform: iam:DeleteUser"),
        "{error}"
    );
    assert!(error.len() < 300, "AWS's words, not a dump: {error}");
    assert!(!request_ids.is_empty(), "the calls that did run are named");
    wait_message(&app, &failed, "*Failed:*").await;
}

/// The same signed `cleanup` and `rollback`, each sent twice: one pending proposal per
/// action, and the second request is told which proposal already waits.
#[tokio::test]
async fn cleanup_and_rollback_asked_twice_propose_each_action_once() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let app = App::start(moto.own_config().await, Options::default()).await;
    let (id, _) = contained(&app, &iam, "ci-deploy").await;

    for verb in ["cleanup", "rollback", "cleanup", "rollback"] {
        let said = ask(&app, RESPONDER, &format!("{verb} {id}")).await;
        assert!(!said.contains("couldn't"), "{said}");
        let store = app.store.clone();
        wait_until(std::time::Duration::from_secs(20), move || {
            let store = store.clone();
            async move { (store.pending_jobs(None).await.ok()? == 0).then_some(()) }
        })
        .await
        .expect("the request is handled");
    }
    let ps = app.store.proposals(&id).await.unwrap();
    let pending = ps
        .iter()
        .filter(|p| p.state == ProposalState::Pending)
        .count();
    assert_eq!(
        pending, 3,
        "delete the key, reactivate it, lift the deny-all: once each"
    );
    let told = app
        .slack
        .responses_to("T0TEAM0001-1")
        .into_iter()
        .filter(|t| t.contains("already proposes this"))
        .count();
    assert_eq!(told, 3, "each repeated action is named to the requester");
    let posted = app
        .slack
        .messages()
        .into_iter()
        .filter(|m| m.blocks.to_string().contains("proposal.approve"))
        .count();
    assert_eq!(posted, 3, "each proposal is posted once");
}
