//! Cleanup behind the two-person rule, end to end: `/keyleak cleanup` → a proposal in the
//! incident thread → signed button clicks → the resource really gone in moto → the message
//! updated, with every decision in the audit log.

mod support;

use std::time::Duration;

use keyleak::domain::approval::{Outcome, Proposal, ProposalState};
use keyleak::domain::ids::IncidentId;
use keyleak::domain::incident::IncidentState;
use serde_json::Value;
use support::fake_slack::Posted;
use support::*;

/// A contained incident for the seeded CI user's leaked key.
async fn contained(app: &App, iam: &aws_sdk_iam::Client) -> (IncidentId, seed::Seeded) {
    let seeded = seed::ci_user(iam, "ci-deploy").await;
    let id = app.contain(&seeded.leaked.id, "").await;
    app.wait_for_state(&id, IncidentState::Contained).await;
    (id, seeded)
}

async fn ask(app: &App, user: &str, text: &str) -> String {
    let r = app.command_as(user, text).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["text"].as_str().unwrap().to_string()
}

/// Waits for the incident to have `n` proposals, each posted; returns them oldest first.
async fn proposals(app: &App, id: &IncidentId, n: usize) -> Vec<Proposal> {
    let store = app.engine.store.clone();
    let id = id.clone();
    wait_until(Duration::from_secs(30), move || {
        let (store, id) = (store.clone(), id.clone());
        async move {
            let ps = store.proposals(&id).await.ok()?;
            (ps.len() == n && ps.iter().all(|p| p.message.is_some())).then_some(ps)
        }
    })
    .await
    .unwrap_or_else(|| panic!("{n} proposal(s) never posted"))
}

fn message_of(app: &App, p: &Proposal) -> Posted {
    app.slack.message(&p.message.as_ref().unwrap().ts).unwrap()
}

async fn wait_proposal(app: &App, p: &Proposal, want: ProposalState) -> Proposal {
    let store = app.engine.store.clone();
    let id = p.id.clone();
    wait_until(Duration::from_secs(30), move || {
        let (store, id) = (store.clone(), id.clone());
        async move {
            let p = store.proposal(&id).await.ok()??;
            let idle = store.pending_jobs(None).await.ok()? == 0;
            (p.state == want && idle).then_some(p)
        }
    })
    .await
    .unwrap_or_else(|| panic!("proposal {} never became {want:?}", p.id))
}

/// Waits for the private answer to a click, and returns the latest one.
async fn answer_to(app: &App, user: &str, n: usize) -> String {
    let slack = app.slack.clone();
    let user = user.to_string();
    wait_until(Duration::from_secs(10), move || {
        let got = slack.responses_to(&user);
        async move { (got.len() >= n).then(|| got[n - 1].clone()) }
    })
    .await
    .unwrap_or_else(|| panic!("no answer #{n}"))
}

fn has_buttons(m: &Posted) -> bool {
    m.blocks.to_string().contains("\"actions\"")
}

async fn user_exists(iam: &aws_sdk_iam::Client, user: &str) -> bool {
    iam.get_user().user_name(user).send().await.is_ok()
}

async fn key_ids(iam: &aws_sdk_iam::Client, user: &str) -> Vec<String> {
    iam.list_access_keys()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .access_key_metadata()
        .iter()
        .map(|k| k.access_key_id().unwrap().to_string())
        .collect()
}

/// An attacker's backdoor user: a managed and an inline policy, a group, a console
/// password and an access key.
async fn backdoor(iam: &aws_sdk_iam::Client, user: &str) {
    iam.create_user().user_name(user).send().await.unwrap();
    let arn = iam
        .create_policy()
        .policy_name(format!("{user}-admin"))
        .policy_document(seed::APP_POLICY)
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
        .arn
        .unwrap();
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
        .password("Sup3r-Secret-Passw0rd!")
        .send()
        .await
        .unwrap();
    seed::create_key(iam, user).await;
}

#[tokio::test]
async fn a_backdoor_user_is_deleted_only_after_a_second_person_approves() {
    let moto = Moto::start().await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let app = App::start(moto.own_config().await, Options::default()).await;
    let (id, _) = contained(&app, &iam).await;
    backdoor(&iam, "backdoor-admin").await;

    let ack = ask(
        &app,
        RESPONDER,
        &format!("cleanup {id} delete-user backdoor-admin"),
    )
    .await;
    assert!(ack.contains("Checking AWS"), "{ack}");
    let p = proposals(&app, &id, 1).await.remove(0);
    let m = message_of(&app, &p);
    let incident = app.engine.store.incident(&id).await.unwrap();
    assert_eq!(
        m.thread_ts, incident.slack_ts,
        "the proposal is in the incident thread"
    );
    assert!(
        m.text.contains(
            "Delete IAM user `backdoor-admin` in account `123456789012`: detach 1 policy, \
             delete 1 inline policy, remove from 1 group, delete its login profile, delete 1 access key"
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
        .click_payload(APPROVER, &m, keyleak::slack::messages::APPROVE);
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
        app.engine.store.pending_jobs(None).await.unwrap(),
        0,
        "nothing was queued by refused clicks"
    );

    // A second person from the roster approves: it runs once, and the message says so.
    app.click(APPROVER, &m, "proposal.approve").await;
    let said = answer_to(&app, APPROVER, 1).await;
    assert!(said.contains("You approved"), "{said}");
    let done = wait_proposal(&app, &p, ProposalState::Done).await;
    assert!(!user_exists(&iam, "backdoor-admin").await, "gone in AWS");
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
    let log = app.engine.store.audit_log(Some(&id)).await.unwrap();
    let actions: Vec<&str> = log
        .iter()
        .filter(|a| a.action.starts_with("proposal."))
        .map(|a| a.action.as_str())
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
        .find(|a| a.action == "proposal.approved")
        .unwrap();
    assert_eq!(approved.actor, format!("slack:{APPROVER}"));
    assert!(
        approved
            .detail
            .contains(&format!("requested by {RESPONDER}"))
    );
    assert!(approved.origin.starts_with("slack interaction"));
    let done_row = log.iter().find(|a| a.action == "proposal.done").unwrap();
    assert!(done_row.detail.contains(&request_ids[0]));
}

#[tokio::test]
async fn twenty_simultaneous_approvals_delete_the_leaked_key_once_and_only_that_key() {
    let moto = Moto::start().await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let app = App::start(moto.own_config().await, Options::default()).await;
    let (id, seeded) = contained(&app, &iam).await;
    let approvers: Vec<String> = (0..20).map(|n| format!("U0APPR{n:04}")).collect();
    let names: Vec<&str> = approvers.iter().map(String::as_str).collect();
    app.slack.add_group(APPROVERS_GROUP, &names);

    ask(&app, RESPONDER, &format!("cleanup {id}")).await;
    let p = proposals(&app, &id, 1).await.remove(0);
    let m = message_of(&app, &p);
    assert!(
        m.text
            .contains(&format!("Delete access key `{}`", seeded.leaked.id))
    );

    let clicks: Vec<_> = names
        .iter()
        .map(|who| app.click(who, &m, "proposal.approve"))
        .collect();
    for r in futures::future::join_all(clicks).await {
        assert_eq!(r.status(), 200);
    }
    let done = wait_proposal(&app, &p, ProposalState::Done).await;
    assert!(matches!(done.outcome, Some(Outcome::Done { .. })));
    assert_eq!(
        key_ids(&iam, "ci-deploy").await,
        vec![seeded.other.id.clone()],
        "the leaked key is deleted; the user's other key is not"
    );
    let log = app.engine.store.audit_log(Some(&id)).await.unwrap();
    let count = |a: &str| log.iter().filter(|e| e.action == a).count();
    assert_eq!(count("proposal.approved"), 1);
    assert_eq!(count("proposal.executing"), 1);
    assert_eq!(count("proposal.done"), 1);
    assert_eq!(count("proposal.refused"), 19);
    let mut already = 0;
    for who in &names {
        let said = answer_to(&app, who, 1).await;
        already += usize::from(said.contains("already approved by"));
    }
    assert_eq!(already, 19, "the others are told who approved");
}
