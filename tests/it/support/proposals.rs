//! Helpers for tests of cleanup proposals: asking, waiting for proposals and their
//! outcomes, and reading the private answers to clicks.

use std::time::Duration;

use keyleak::domain::approval::{Proposal, ProposalState};
use keyleak::domain::ids::IncidentId;
use keyleak::domain::incident::IncidentState;
use serde_json::Value;

use super::fake_slack::Posted;
use super::{App, RESPONDER, seed, wait_until};

/// A contained incident for a seeded CI user's leaked key.
pub async fn contained(
    app: &App,
    iam: &aws_sdk_iam::Client,
    user: &str,
) -> (IncidentId, seed::Seeded) {
    let seeded = seed::ci_user(iam, user).await;
    let id = app.contain(&seeded.leaked.id, "").await;
    app.wait_for_state(&id, IncidentState::Contained).await;
    (id, seeded)
}

pub async fn ask(app: &App, user: &str, text: &str) -> String {
    let r = app.command_as(user, text).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["text"].as_str().unwrap().to_string()
}

/// Waits for the incident to have `n` proposals, each posted; returns them oldest first.
pub async fn proposals(app: &App, id: &IncidentId, n: usize) -> Vec<Proposal> {
    let store = app.store.clone();
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

pub fn message_of(app: &App, p: &Proposal) -> Posted {
    app.slack.message(&p.message.as_ref().unwrap().ts).unwrap()
}

pub async fn wait_proposal(app: &App, p: &Proposal, want: ProposalState) -> Proposal {
    wait_state(app, p, move |s| s == want).await
}

/// Waits until the proposal's state passes `done` and no job is left running.
async fn wait_state(
    app: &App,
    p: &Proposal,
    done: impl Fn(ProposalState) -> bool + Clone + Send + 'static,
) -> Proposal {
    let store = app.store.clone();
    let id = p.id.clone();
    wait_until(Duration::from_secs(30), move || {
        let (store, id, done) = (store.clone(), id.clone(), done.clone());
        async move {
            let p = store.proposal(&id).await.ok()??;
            let idle = store.pending_jobs(None).await.ok()? == 0;
            (done(p.state) && idle).then_some(p)
        }
    })
    .await
    .unwrap_or_else(|| panic!("proposal {} never got there", p.id))
}

/// Waits for the private answer to a click, and returns the latest one.
pub async fn answer_to(app: &App, user: &str, n: usize) -> String {
    let slack = app.slack.clone();
    let user = user.to_string();
    wait_until(Duration::from_secs(10), move || {
        let got = slack.responses_to(&user);
        async move { (got.len() >= n).then(|| got[n - 1].clone()) }
    })
    .await
    .unwrap_or_else(|| panic!("no answer #{n}"))
}

pub fn has_buttons(m: &Posted) -> bool {
    m.blocks.to_string().contains("\"actions\"")
}

pub async fn user_exists(iam: &aws_sdk_iam::Client, user: &str) -> bool {
    iam.get_user().user_name(user).send().await.is_ok()
}

pub async fn key_ids(iam: &aws_sdk_iam::Client, user: &str) -> Vec<String> {
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

/// `/keyleak cleanup <incident> <args>` by the responder; waits for the new proposal.
pub async fn propose(app: &App, id: &IncidentId, args: &str) -> Proposal {
    let before = app.store.proposals(id).await.unwrap().len();
    let said = ask(app, RESPONDER, &format!("cleanup {id} {args}")).await;
    assert!(said.contains("Checking AWS"), "{said}");
    proposals(app, id, before + 1).await.pop().unwrap()
}

/// Everyone in `who` presses Approve on the message at once; each click is answered 200.
pub async fn approve_together(app: &App, who: &[&str], m: &Posted) {
    let clicks: Vec<_> = who
        .iter()
        .map(|w| app.click(w, m, "proposal.approve"))
        .collect();
    for r in futures::future::join_all(clicks).await {
        assert_eq!(r.status(), 200);
    }
}

/// Presses Approve as the approver and waits for the proposal to finish running.
pub async fn approve(app: &App, p: &Proposal) -> Proposal {
    let r = app
        .click(super::APPROVER, &message_of(app, p), "proposal.approve")
        .await;
    assert_eq!(r.status(), 200);
    wait_state(app, p, |s| {
        matches!(s, ProposalState::Done | ProposalState::Failed)
    })
    .await
}

/// Waits for the proposal's message to say `needle` (some redraws happen off the request).
pub async fn wait_message(app: &App, p: &Proposal, needle: &str) -> Posted {
    let slack = app.slack.clone();
    let ts = p.message.as_ref().unwrap().ts.clone();
    let want = needle.to_string();
    wait_until(Duration::from_secs(10), move || {
        let m = slack.message(&ts);
        let want = want.clone();
        async move { m.filter(|m| m.blocks.to_string().contains(&want)) }
    })
    .await
    .unwrap_or_else(|| panic!("the message of {} never said {needle:?}", p.id))
}

/// Waits for a private answer to the requester's command (its `response_url`) that says
/// `needle`.
pub async fn requester_told(app: &App, needle: &str) -> String {
    let slack = app.slack.clone();
    let want = needle.to_string();
    wait_until(Duration::from_secs(20), move || {
        let got = slack.responses_to("T0TEAM0001-1");
        let want = want.clone();
        async move { got.into_iter().find(|t| t.contains(&want)) }
    })
    .await
    .unwrap_or_else(|| panic!("the requester was never told {needle:?}"))
}

/// Asks for `cleanup <incident> <args>` and waits to be told privately why nothing can be
/// proposed (`needle`); no proposal is made.
pub async fn refused(app: &App, id: &IncidentId, args: &str, needle: &str) {
    let before = app.store.proposals(id).await.unwrap().len();
    ask(app, RESPONDER, &format!("cleanup {id} {args}")).await;
    requester_told(app, needle).await;
    assert_eq!(app.store.proposals(id).await.unwrap().len(), before);
}
