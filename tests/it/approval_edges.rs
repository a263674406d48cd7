//! The two-person rule at its edges: expiry (on an injected clock), rejection with and
//! without a reason, parameters changed after proposing, approvers removed from their group,
//! and clicks that are malformed, unknown or forged. None of them runs anything.

use crate::support;

use std::sync::Arc;

use chrono::{Duration, Utc};
use keyleak::domain::approval::{Action, Outcome, ProposalState};
use keyleak::engine::clock::ManualClock;
use serde_json::json;
use support::proposals::*;
use support::*;

#[tokio::test]
async fn expired_rejected_and_changed_proposals_never_run() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let opts = Options {
        clock: clock.clone(),
        ..Options::default()
    };
    let app = App::start(moto.own_config().await, opts).await;
    let (id, seeded) = contained(&app, &iam, "ci-deploy").await;

    // Expiry: thirty minutes pass with no approval.
    let expired = propose(&app, &id, "").await;
    let stale = message_of(&app, &expired);
    clock.advance(Duration::minutes(31));
    let after = wait_proposal(&app, &expired, ProposalState::Expired).await;
    assert_eq!(after.outcome, Some(Outcome::Expired));
    let shown = wait_message(&app, &after, "Expired at").await;
    assert!(!has_buttons(&shown));
    app.click(APPROVER, &stale, "proposal.approve").await;
    let said = answer_to(&app, APPROVER, 1).await;
    assert!(said.contains("expired"), "{said}");

    // Rejection by button, then an approval of the rejected proposal.
    let rejected = propose(&app, &id, "").await;
    let m = message_of(&app, &rejected);
    app.click(APPROVER, &m, "proposal.reject").await;
    assert!(answer_to(&app, APPROVER, 2).await.contains("You rejected"));
    let after = wait_proposal(&app, &rejected, ProposalState::Rejected).await;
    let shown = wait_message(&app, &after, &format!("Rejected by <@{APPROVER}>")).await;
    assert!(!has_buttons(&shown));
    app.click(APPROVER, &m, "proposal.approve").await;
    let said = answer_to(&app, APPROVER, 3).await;
    assert!(said.contains("already rejected"), "{said}");

    // The requester withdraws one by command, with a reason.
    let withdrawn = propose(&app, &id, "").await;
    let said = ask(
        &app,
        RESPONDER,
        &format!("reject {} breaks the deploy", withdrawn.id),
    )
    .await;
    assert!(said.contains("You rejected"), "{said}");
    let after = wait_proposal(&app, &withdrawn, ProposalState::Rejected).await;
    assert_eq!(
        after.outcome,
        Some(Outcome::Rejected {
            reason: Some("breaks the deploy".into())
        })
    );
    wait_message(&app, &after, "Reason: breaks the deploy").await;
    let said = ask(&app, OUTSIDER, &format!("reject {}", withdrawn.id)).await;
    assert!(said.contains("only responders"), "{said}");

    // Parameters changed under the proposal: the approval does not count.
    let changed = propose(&app, &id, "").await;
    let other = Action::DeleteAccessKey {
        account: "123456789012".into(),
        user: "ci-deploy".into(),
        key: seeded.other.id.clone(),
    };
    let db = app.db.pool().await;
    sqlx::query("UPDATE proposals SET action = $1 WHERE id = $2")
        .bind(serde_json::to_string(&other).unwrap())
        .bind(changed.id.as_str())
        .execute(&db)
        .await
        .unwrap();
    app.click(APPROVER, &message_of(&app, &changed), "proposal.approve")
        .await;
    let said = answer_to(&app, APPROVER, 4).await;
    assert!(said.contains("parameters changed"), "{said}");
    let p = app.store.proposal(&changed.id).await.unwrap().unwrap();
    assert_eq!(p.state, ProposalState::Pending);

    assert_eq!(
        key_ids(&iam, "ci-deploy").await.len(),
        2,
        "no key was deleted by any of this"
    );
    assert_eq!(app.store.pending_jobs(None).await.unwrap(), 0);
}

#[tokio::test]
async fn bad_unknown_and_forged_clicks_are_refused_and_change_nothing() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let app = App::start(moto.own_config().await, Options::default()).await;
    let (a, _) = contained(&app, &iam, "ci-a").await;
    let (b, _) = contained(&app, &iam, "ci-b").await;
    let pa = propose(&app, &a, "").await;
    let pb = propose(&app, &b, "").await;
    let ma = message_of(&app, &pa);
    let good = app
        .slack
        .click_payload(APPROVER, &ma, "proposal.approve")
        .unwrap();

    // Unsigned, not a form, not JSON, not block_actions: refused before anything is read.
    let unsigned = app
        .http
        .post(format!("{}/slack/interactions", app.url))
        .body(serde_urlencoded::to_string([("payload", good.to_string())]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    assert_eq!(app.interaction("{not json").await.status(), 400);
    let no_payload = app.post_signed("/slack/interactions", "x=1".into()).await;
    assert_eq!(no_payload.status(), 400);
    let mut other_type = good.clone();
    other_type["type"] = json!("view_submission");
    assert_eq!(app.interaction(&other_type.to_string()).await.status(), 400);
    let mut unknown_action = good.clone();
    unknown_action["actions"][0]["action_id"] = json!("proposal.nuke");
    assert_eq!(
        app.interaction(&unknown_action.to_string()).await.status(),
        400
    );
    let mut bad_id = good.clone();
    bad_id["actions"][0]["value"] = json!("'; DROP TABLE proposals; --");
    assert_eq!(app.interaction(&bad_id.to_string()).await.status(), 400);

    // A well-formed id keyleak never issued.
    let mut unknown = good.clone();
    unknown["actions"][0]["value"] = json!("PR-00000000FF");
    assert_eq!(app.interaction(&unknown.to_string()).await.status(), 200);
    let said = answer_to(&app, APPROVER, 1).await;
    assert!(said.contains("no proposal"), "{said}");

    // A button on incident A's proposal whose value names incident B's proposal.
    let mut forged = good.clone();
    forged["actions"][0]["value"] = json!(pb.id.as_str());
    assert_eq!(app.interaction(&forged.to_string()).await.status(), 200);
    let said = answer_to(&app, APPROVER, 2).await;
    assert!(said.contains("does not belong"), "{said}");

    // Removed from the approvers group a moment ago: not an approver any more.
    app.slack.add_group(APPROVERS_GROUP, &["U0FORMER01"]);
    app.slack.remove_from_group(APPROVERS_GROUP, "U0FORMER01");
    app.click("U0FORMER01", &ma, "proposal.approve").await;
    let said = answer_to(&app, "U0FORMER01", 1).await;
    assert!(said.contains("approvers roster"), "{said}");

    for p in [&pa, &pb] {
        let now = app.store.proposal(&p.id).await.unwrap().unwrap();
        assert_eq!(now.state, ProposalState::Pending, "{} untouched", p.id);
        assert!(now.approvals.is_empty());
    }
    assert_eq!(app.store.pending_jobs(None).await.unwrap(), 0);
    assert_eq!(key_ids(&iam, "ci-a").await.len(), 2);
    assert_eq!(key_ids(&iam, "ci-b").await.len(), 2);
    let log = app.store.audit_log(Some(&b)).await.unwrap();
    let forged_row = log
        .iter()
        .find(|e| e.action.name() == "proposal.refused")
        .expect("the forged click is in incident B's audit log");
    assert!(forged_row.detail.contains("not on that proposal's message"));

    // Bad cleanup requests get a specific answer and queue nothing.
    let said = ask(&app, RESPONDER, "cleanup KL-00000000").await;
    assert!(said.contains("no incident"), "{said}");
    let said = ask(&app, RESPONDER, &format!("cleanup {a} delete-user")).await;
    assert!(said.contains("needs a user name"), "{said}");
    let said = ask(
        &app,
        RESPONDER,
        &format!("cleanup {a} terminate us-east-1 i-00000000"),
    )
    .await;
    assert!(said.contains("Checking AWS"), "{said}");
    let told = requester_told(&app, "No proposal was made").await;
    assert!(told.contains("none of those instances"), "{told}");
    assert_eq!(app.store.proposals(&a).await.unwrap().len(), 1);
}
