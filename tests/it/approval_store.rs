//! The two-person rule's state changes in the store: however many clicks arrive together,
//! a proposal is approved once and executed once, and every decision is audited.

use std::sync::Arc;

use chrono::{Duration, Utc};
use keyleak::domain::approval::{
    self, Action, Click, Decision, MessageRef, Outcome, Proposal, ProposalState,
};
use keyleak::domain::audit::AuditAction;
use keyleak::domain::ids::{AccountId, ProposalId, SlackUserId};
use keyleak::store::{AuditEntry, NewIncident, Store};

use crate::support::db::{TestDb, new_incident};

async fn store_with_proposal(required: usize) -> (Arc<dyn Store>, Proposal, TestDb) {
    let db = TestDb::new().await;
    let store = db.store().await;
    let opened = new_incident(0xC0FFEE);
    let (incident, key) = (opened.id.clone(), opened.key.clone());
    store.open_incident(opened).await.unwrap();
    let action = Action::delete_access_key(&AccountId::parse("111111111111").unwrap(), "ci", &key);
    let now = Utc::now();
    let p = Proposal {
        id: pid(),
        incident,
        hash: action.params_hash(),
        action,
        requested_by: SlackUserId::parse("U0REQUESTER").unwrap(),
        created_at: now,
        expires_at: now + Duration::minutes(30),
        state: ProposalState::Pending,
        approvals: vec![],
        required,
        message: None,
        decided_by: None,
        decided_at: None,
        outcome: None,
    };
    store
        .create_proposal(&p, audit("U0REQUESTER", "proposal.create"))
        .await
        .unwrap();
    store.set_proposal_message(&p.id, &message()).await.unwrap();
    (store, p, db)
}

fn pid() -> ProposalId {
    ProposalId::parse("PR-0000000001").unwrap()
}

fn message() -> MessageRef {
    MessageRef {
        channel: "C0KEYLEAK01".into(),
        ts: "1700000000.000100".into(),
    }
}

fn audit(actor: &str, action: &str) -> AuditEntry {
    AuditEntry {
        at: Utc::now(),
        actor: format!("slack:{actor}"),
        action: AuditAction::from_name(action),
        incident_id: None,
        detail: "P-1".into(),
        origin: "test".into(),
    }
}

/// What a click handler does: judge with the domain rule against fresh state, record, and
/// try to take the right to execute.
async fn click(store: Arc<dyn Store>, who: String, job: i64) -> bool {
    let by = SlackUserId::parse(&who).unwrap();
    let p = store.proposal(&pid()).await.unwrap().unwrap();
    let decision = approval::approve(
        &p,
        &Click {
            by: &by,
            on_roster: true,
            message: &message(),
            now: Utc::now(),
        },
    );
    if decision.is_err() {
        return false;
    }
    let recorded = store
        .record_approval(&pid(), &by, audit(&who, "proposal.approve"))
        .await
        .unwrap();
    if recorded != Some(Decision::Approved) {
        return false;
    }
    store
        .claim_execution(&pid(), job, audit(&who, "proposal.execute"))
        .await
        .unwrap()
        .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_simultaneous_approvals_execute_once() {
    let (store, _p, _db) = store_with_proposal(1).await;
    let clicks: Vec<_> = (0..20)
        .map(|n| tokio::spawn(click(store.clone(), format!("U0APPROVER{n:02}"), n)))
        .collect();
    let mut executions = 0;
    for c in clicks {
        executions += usize::from(c.await.unwrap());
    }
    assert_eq!(executions, 1);
    assert_eq!(
        store.pending_jobs(None).await.unwrap(),
        2,
        "the containment job and one execution job"
    );
    let p = store.proposal(&pid()).await.unwrap().unwrap();
    assert_eq!(p.state, ProposalState::Executing);
    assert_eq!(
        p.approvals.len(),
        1,
        "only the winning approval is recorded"
    );
    let log = store.audit_log(None).await.unwrap();
    assert_eq!(
        log.iter()
            .filter(|a| a.action.name().starts_with("proposal.approv"))
            .count(),
        1
    );
    assert_eq!(
        log.iter()
            .filter(|a| a.action.name() == "proposal.execute")
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_execution_right_is_won_once_even_by_racing_claims() {
    let (store, p, _db) = store_with_proposal(1).await;
    let approver = SlackUserId::parse("U0APPROVER").unwrap();
    assert!(
        store
            .record_approval(&p.id, &approver, audit("U0APPROVER", "proposal.approve"))
            .await
            .unwrap()
            .is_some()
    );
    let claims: Vec<_> = (0..20)
        .map(|job| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .claim_execution(&pid(), job, audit("U0APPROVER", "proposal.execute"))
                    .await
                    .unwrap()
                    .map(|_| job)
            })
        })
        .collect();
    let mut winners = vec![];
    for c in claims {
        winners.extend(c.await.unwrap());
    }
    assert_eq!(winners.len(), 1);
    let (winner, loser) = (winners[0], (winners[0] + 1) % 20);
    let again = |job| {
        let store = store.clone();
        async move {
            store
                .claim_execution(&pid(), job, audit("U0APPROVER", "proposal.execute"))
                .await
                .unwrap()
                .is_some()
        }
    };
    assert!(
        again(winner).await,
        "the winning job, re-claimed after a crash, continues"
    );
    assert!(!again(loser).await, "no other job ever does");
    assert!(
        store
            .move_proposal(
                &pid(),
                ProposalState::Executing,
                ProposalState::Done,
                Some(&Outcome::Done {
                    request_ids: vec!["r-1".into()]
                }),
                audit("U0APPROVER", "proposal.done")
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .move_proposal(
                &pid(),
                ProposalState::Executing,
                ProposalState::Done,
                None,
                audit("U0APPROVER", "proposal.done")
            )
            .await
            .unwrap(),
        "done once"
    );
}

#[tokio::test]
async fn a_rejected_proposal_cannot_be_approved_and_two_approvers_need_two() {
    let (store, p, _db) = store_with_proposal(2).await;
    let a = SlackUserId::parse("U0APPROVERA").unwrap();
    assert!(
        store
            .record_approval(&p.id, &a, audit("U0APPROVERA", "proposal.approve"))
            .await
            .unwrap()
            == Some(Decision::NeedsMore(1))
    );
    assert!(
        store
            .record_approval(&p.id, &a, audit("U0APPROVERA", "proposal.approve"))
            .await
            .unwrap()
            .is_none(),
        "the same person counts once"
    );
    assert!(
        store
            .claim_execution(&p.id, 1, audit("U0APPROVERA", "proposal.execute"))
            .await
            .unwrap()
            .is_none(),
        "one approval of two is not enough"
    );
    assert!(
        store
            .move_proposal(
                &p.id,
                ProposalState::Pending,
                ProposalState::Rejected,
                Some(&Outcome::Rejected {
                    reason: Some("not now".into())
                }),
                audit("U0APPROVERB", "proposal.reject")
            )
            .await
            .unwrap()
    );
    let b = SlackUserId::parse("U0APPROVERB").unwrap();
    assert!(
        store
            .record_approval(&p.id, &b, audit("U0APPROVERB", "proposal.approve"))
            .await
            .unwrap()
            .is_none()
    );
    let p = store.proposal(&p.id).await.unwrap().unwrap();
    assert_eq!(p.state, ProposalState::Rejected);
    assert_eq!(p.approvals, vec![a]);
    assert_eq!(p.decided_by.as_deref(), Some("slack:U0APPROVERB"));
    assert_eq!(
        p.outcome,
        Some(Outcome::Rejected {
            reason: Some("not now".into())
        })
    );
}

/// Approvers of a two-approval proposal click at the same moment, through a barrier, on two
/// replicas sharing the database; every one judged the proposal before anyone recorded. Many
/// rounds: exactly two approvals count, the proposal is approved, and it is queued to run once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_approvals_on_two_replicas_complete_the_proposal_once() {
    for round in 0..20 {
        let (first, _p, db) = store_with_proposal(2).await;
        let second = db.store().await;
        let barrier = Arc::new(tokio::sync::Barrier::new(12));
        let clicks: Vec<_> = (0..12)
            .map(|n| {
                let store = if n % 2 == 0 {
                    first.clone()
                } else {
                    second.clone()
                };
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    let by = SlackUserId::parse(&format!("U0APPROVER{n:02}")).unwrap();
                    let seen = store.proposal(&pid()).await.unwrap().unwrap();
                    let judged = approval::approve(
                        &seen,
                        &Click {
                            by: &by,
                            on_roster: true,
                            message: &message(),
                            now: Utc::now(),
                        },
                    );
                    barrier.wait().await;
                    assert_eq!(
                        judged,
                        Ok(Decision::NeedsMore(1)),
                        "judged before anyone counted"
                    );
                    store
                        .record_approval(&pid(), &by, audit(by.as_str(), "proposal.approve"))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut decisions = vec![];
        for c in clicks {
            decisions.extend(c.await.unwrap());
        }
        decisions.sort_by_key(|d| matches!(d, Decision::Approved));
        assert_eq!(
            decisions,
            [Decision::NeedsMore(1), Decision::Approved],
            "round {round}: two counted, the second completes"
        );
        let p = first.proposal(&pid()).await.unwrap().unwrap();
        assert_eq!(p.state, ProposalState::Approved, "round {round}");
        assert_eq!(p.approvals.len(), 2, "round {round}");
        assert_eq!(
            first.pending_jobs(None).await.unwrap(),
            2,
            "round {round}: containment and one execution"
        );
    }
}

/// A response URL is a credential to post to its requester for 30 minutes: past that it is
/// not kept, in a finished job or a queued one.
#[tokio::test]
async fn response_urls_are_not_kept_past_their_thirty_minutes() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let now = Utc::now();
    let url = |n: u32| format!("https://hooks.slack.com/commands/T0/{n}/secretpart{n}");
    for (n, at) in [(1, now - Duration::minutes(31)), (2, now)] {
        store
            .open_incident(NewIncident {
                now: at,
                response_url: Some(url(n)),
                ..new_incident(n)
            })
            .await
            .unwrap();
    }
    let forgotten = store
        .forget_response_urls(now - Duration::minutes(30))
        .await
        .unwrap();
    assert_eq!(forgotten, 1);
    let mut kept = vec![];
    while let Some(job) = store
        .claim_job(now, Duration::seconds(60), keyleak::store::Claim::default())
        .await
        .unwrap()
    {
        kept.push(job.response_url);
    }
    assert_eq!(kept, [None, Some(url(2))]);
}
