//! Cleanup behind the two-person rule, end to end: `/keyleak cleanup` → a proposal in the
//! incident thread → signed button clicks → the resource really gone in moto → the message
//! updated, with every decision in the audit log.

use crate::support;

use keyleak::domain::approval::{Outcome, ProposalState};
use support::proposals::*;
use support::*;

/// An attacker's backdoor user: a managed and an inline policy, a group, a console
/// password, a virtual MFA device and an access key.
async fn backdoor(iam: &aws_sdk_iam::Client, user: &str) -> seed::Key {
    iam.create_user().user_name(user).send().await.unwrap();
    let arn = seed::managed_policy(iam, &format!("{user}-admin")).await;
    iam.attach_user_policy()
        .user_name(user)
        .policy_arn(arn)
        .send()
        .await
        .unwrap();
    iam.put_user_policy()
        .user_name(user)
        .policy_name("extra")
        .policy_document(seed::APP_POLICY)
        .send()
        .await
        .unwrap();
    iam.create_group()
        .group_name("admins")
        .send()
        .await
        .unwrap();
    iam.add_user_to_group()
        .group_name("admins")
        .user_name(user)
        .send()
        .await
        .unwrap();
    iam.create_login_profile()
        .user_name(user)
        .password(PASSWORD)
        .send()
        .await
        .unwrap();
    let serial = iam
        .create_virtual_mfa_device()
        .virtual_mfa_device_name(format!("{user}-mfa"))
        .send()
        .await
        .unwrap()
        .virtual_mfa_device
        .unwrap()
        .serial_number;
    iam.enable_mfa_device()
        .user_name(user)
        .serial_number(serial)
        .authentication_code1("123456")
        .authentication_code2("654321")
        .send()
        .await
        .unwrap();
    seed::create_key(iam, user).await
}

const PASSWORD: &str = "Sup3r-Secret-Passw0rd!";

#[tokio::test]
async fn a_backdoor_user_is_deleted_only_after_a_second_person_approves() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let app = App::start(moto.own_config().await, Options::default()).await;
    let (id, seeded) = contained(&app, &iam, "ci-deploy").await;
    let planted = backdoor(&iam, "backdoor-admin").await;

    let ack = ask(
        &app,
        RESPONDER,
        &format!("cleanup {id} delete-user backdoor-admin"),
    )
    .await;
    assert!(ack.contains("Checking AWS"), "{ack}");
    let p = proposals(&app, &id, 1).await.remove(0);
    let m = message_of(&app, &p);
    let incident = app.store.incident(&id).await.unwrap();
    assert_eq!(
        m.thread_ts, incident.slack_ts,
        "the proposal is in the incident thread"
    );
    assert!(
        m.text.contains(
            "Delete IAM user `backdoor-admin` in account `123456789012`: detach 1 policy, \
             delete 1 inline policy, remove from 1 group, delete its login profile, delete 1 access key, \
             remove 1 MFA device"
        ),
        "{}",
        m.text
    );
    let blocks = m.blocks.to_string();
    assert!(
        blocks.contains(&format!("<@{RESPONDER}>")),
        "names who asked"
    );
    assert!(blocks.contains("Expires"), "says when it expires");
    let approve = app
        .slack
        .click_payload(APPROVER, &m, keyleak::slack::messages::APPROVE)
        .unwrap();
    assert_eq!(
        approve["actions"][0]["value"],
        p.id.as_str(),
        "the button carries the proposal id and nothing else"
    );
    assert!(
        blocks.contains("\"confirm\""),
        "Approve asks for confirmation"
    );

    // The requester cannot approve their own proposal.
    let r = app.click(RESPONDER, &m, "proposal.approve").await;
    assert_eq!(r.status(), 200);
    let said = answer_to(&app, RESPONDER, 1).await;
    assert!(said.contains("You proposed"), "{said}");
    // Someone off the approvers roster cannot approve either.
    app.click(OUTSIDER, &m, "proposal.approve").await;
    let said = answer_to(&app, OUTSIDER, 1).await;
    assert!(said.contains("approvers roster"), "{said}");
    assert!(user_exists(&iam, "backdoor-admin").await);
    assert_eq!(
        app.store.pending_jobs(None).await.unwrap(),
        0,
        "nothing was queued by refused clicks"
    );

    // A second person from the roster approves: it runs once, and the message says so.
    app.click(APPROVER, &m, "proposal.approve").await;
    let said = answer_to(&app, APPROVER, 1).await;
    assert!(said.contains("You approved"), "{said}");
    let done = wait_proposal(&app, &p, ProposalState::Done).await;
    assert!(!user_exists(&iam, "backdoor-admin").await, "gone in AWS");
    let devices = iam.list_virtual_mfa_devices().send().await.unwrap();
    assert!(
        devices.virtual_mfa_devices().is_empty(),
        "its virtual MFA device is deleted too"
    );
    let Some(Outcome::Done { request_ids }) = &done.outcome else {
        panic!("{:?}", done.outcome)
    };
    assert!(
        request_ids.len() >= 6,
        "one request id per call: {request_ids:?}"
    );
    assert_eq!(
        done.approvals,
        vec![keyleak::domain::ids::SlackUserId::parse(APPROVER).unwrap()]
    );
    let shown = message_of(&app, &done);
    assert!(!has_buttons(&shown), "no buttons once decided");
    let text = shown.blocks.to_string();
    assert!(
        text.contains(&format!("Approved by <@{APPROVER}>")),
        "{text}"
    );
    assert!(
        text.contains("*Done.*") && text.contains(&request_ids[0]),
        "{text}"
    );

    // The audit log holds every decision with both people and the request it came from.
    let log = app.store.audit_log(Some(&id)).await.unwrap();
    let actions: Vec<String> = log
        .iter()
        .filter(|a| a.action.name().starts_with("proposal."))
        .map(|a| a.action.name())
        .collect();
    assert_eq!(
        actions,
        [
            "proposal.created",
            "proposal.refused",
            "proposal.refused",
            "proposal.approved",
            "proposal.executing",
            "proposal.done"
        ]
    );
    let approved = log
        .iter()
        .find(|a| a.action.name() == "proposal.approved")
        .unwrap();
    assert_eq!(approved.actor, format!("slack:{APPROVER}"));
    assert!(
        approved
            .detail
            .contains(&format!("requested by {RESPONDER}"))
    );
    assert!(approved.origin.starts_with("slack interaction"));
    let done_row = log
        .iter()
        .find(|a| a.action.name() == "proposal.done")
        .unwrap();
    assert!(done_row.detail.contains(&request_ids[0]));

    // No secret reached the database or Slack.
    let stored = app.stored_text().await;
    let said: String = app.slack.calls().into_iter().map(|(_, b)| b).collect();
    for secret in [seeded.leaked.secret.as_str(), &planted.secret, PASSWORD] {
        assert!(!stored.contains(secret), "a secret reached the database");
        assert!(!said.contains(secret), "a secret reached Slack");
    }
}

#[tokio::test]
async fn twenty_simultaneous_approvals_delete_the_leaked_key_once_and_only_that_key() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let app = App::start(moto.own_config().await, Options::default()).await;
    let (id, seeded) = contained(&app, &iam, "ci-deploy").await;
    let approvers: Vec<String> = (0..20).map(|n| format!("U0APPR{n:04}")).collect();
    let names: Vec<&str> = approvers.iter().map(String::as_str).collect();
    app.slack.add_group(APPROVERS_GROUP, &names);

    // "Propose cleanup" on the incident message: responders only.
    let incident = app.store.incident(&id).await.unwrap();
    let card = app
        .slack
        .message(incident.slack_ts.as_deref().unwrap())
        .unwrap();
    assert_eq!(
        app.click(OUTSIDER, &card, "incident.cleanup")
            .await
            .status(),
        200
    );
    assert!(
        answer_to(&app, OUTSIDER, 1)
            .await
            .contains("only responders")
    );
    assert_eq!(
        app.click(ONCALLER, &card, "incident.cleanup")
            .await
            .status(),
        200
    );
    assert!(answer_to(&app, ONCALLER, 1).await.contains("Checking AWS"));
    let p = proposals(&app, &id, 1).await.remove(0);
    assert_eq!(p.requested_by.as_str(), ONCALLER);
    let m = message_of(&app, &p);
    assert!(
        m.text
            .contains(&format!("Delete access key `{}`", seeded.leaked.id))
    );

    approve_together(&app, &names, &m).await;
    let done = wait_proposal(&app, &p, ProposalState::Done).await;
    assert!(matches!(done.outcome, Some(Outcome::Done { .. })));
    assert_eq!(
        key_ids(&iam, "ci-deploy").await,
        vec![seeded.other.id.clone()],
        "the leaked key is deleted; the user's other key is not"
    );
    // Each click is decided off its request, and its audit row written before its answer.
    let mut already = 0;
    for who in &names {
        let said = answer_to(&app, who, 1).await;
        already += usize::from(said.contains("already approved by"));
    }
    assert_eq!(already, 19, "the others are told who approved");
    let log = app.store.audit_log(Some(&id)).await.unwrap();
    let count = |a: &str| log.iter().filter(|e| e.action.name() == a).count();
    assert_eq!(count("proposal.approved"), 1);
    assert_eq!(count("proposal.executing"), 1);
    assert_eq!(count("proposal.done"), 1);
    assert_eq!(count("proposal.refused"), 19);
}

fn two_approvals() -> Options {
    Options {
        approvals: keyleak::engine::ApprovalSettings {
            required: 2,
            ..Default::default()
        },
        ..Options::default()
    }
}

#[tokio::test]
async fn with_two_approvals_required_one_is_not_enough() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let app = App::start(moto.own_config().await, two_approvals()).await;
    app.slack.add_group(APPROVERS_GROUP, &["U0SECOND01"]);
    let (id, seeded) = contained(&app, &iam, "ci-deploy").await;
    let p = propose(&app, &id, "").await;
    let m = message_of(&app, &p);

    app.click(APPROVER, &m, "proposal.approve").await;
    let said = answer_to(&app, APPROVER, 1).await;
    assert!(said.contains("still needs 1 more approver"), "{said}");
    app.click(APPROVER, &m, "proposal.approve").await;
    assert!(
        answer_to(&app, APPROVER, 2)
            .await
            .contains("already approved")
    );
    wait_message(&app, &p, "(1 of 2)").await;
    assert_eq!(key_ids(&iam, "ci-deploy").await.len(), 2, "nothing ran yet");

    app.click("U0SECOND01", &m, "proposal.approve").await;
    let done = wait_proposal(&app, &p, ProposalState::Done).await;
    assert_eq!(done.approvals.len(), 2);
    assert_eq!(key_ids(&iam, "ci-deploy").await, vec![seeded.other.id]);
}

/// Approvers of two-approval proposals click at once, with Slack's user-group lookup taking
/// 0.3 s and without: each proposal is approved by exactly two, runs once, and its message
/// ends showing that it ran, with no buttons left.
#[tokio::test]
async fn simultaneous_approvals_of_a_two_approval_proposal_run_it_once() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let app = App::start(moto.own_config().await, two_approvals()).await;
    let approvers: Vec<String> = (0..8).map(|n| format!("U0APPR{n:04}")).collect();
    let names: Vec<&str> = approvers.iter().map(String::as_str).collect();
    app.slack.add_group(APPROVERS_GROUP, &names);
    for (round, delay) in [300, 0, 300].into_iter().enumerate() {
        app.slack.slow_method(
            "usergroups.users.list",
            std::time::Duration::from_millis(delay),
        );
        let (id, _) = contained(&app, &iam, &format!("ci-deploy-{round}")).await;
        let p = propose(&app, &id, "").await;
        let m = message_of(&app, &p);
        approve_together(&app, &names, &m).await;
        let done = wait_proposal(&app, &p, ProposalState::Done).await;
        assert_eq!(done.approvals.len(), 2, "round {round}");
        let log = app.store.audit_log(Some(&id)).await.unwrap();
        let count = |a: &str| log.iter().filter(|e| e.action.name() == a).count();
        assert_eq!(count("proposal.approved"), 1, "round {round}");
        assert_eq!(count("proposal.approval_counted"), 1, "round {round}");
        assert_eq!(count("proposal.done"), 1, "round {round}");
        let shown = wait_message(&app, &done, "*Done.*").await;
        assert!(!has_buttons(&shown), "round {round}");
    }
}
