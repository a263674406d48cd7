//! Triage: an incident open without containment. `/keyleak investigate KEY` opens one for a
//! key with no incident; it finds the owner, last use and what the key did, changes nothing
//! in AWS, and its card offers Contain and Dismiss.

use crate::support;

use keyleak::domain::audit::AuditAction;
use keyleak::domain::incident::{IncidentState, StepKind};
use support::trail::start_with_trail;
use support::*;

use aws_sdk_iam::types::StatusType;

/// Opens a triage incident for the seeded key (`args` after it) and waits for its run, card
/// and forensics.
async fn triage(app: &App, key: &str, args: &str) -> keyleak::domain::incident::Incident {
    let r = app.command(&format!("investigate {key} {args}")).await;
    assert_eq!(r.status(), 200);
    let ack: serde_json::Value = r.json().await.unwrap();
    let text = ack["text"].as_str().unwrap();
    assert!(text.contains("in triage"), "{text}");
    let id = app.incident_for(key).await;
    app.wait_for_state(&id, IncidentState::Triage).await
}

#[tokio::test]
async fn investigate_opens_a_triage_incident_that_changes_nothing_until_contain_is_pressed() {
    let (moto, _trail, app) = start_with_trail(Options::default()).await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let key = seeded.leaked.id.as_str();

    let incident = triage(&app, key, "--since 3d").await;
    assert_eq!(incident.user_name.as_deref(), Some("ci-deploy"));
    assert_eq!(
        seed::key_status(&iam, "ci-deploy", key).await,
        StatusType::Active,
        "triage changes nothing"
    );
    let steps = app.store.steps(&incident.id).await.unwrap();
    let ran: Vec<StepKind> = steps.iter().map(|s| s.kind).collect();
    assert_eq!(
        ran,
        [
            StepKind::LocateAccount,
            StepKind::LastUsed,
            StepKind::Snapshot
        ],
        "only the read-only steps"
    );
    let findings = app.findings(&incident.id).await;
    assert!(findings.searched.len() == 1);
    let window = chrono::Utc::now() - findings.since;
    assert!(
        (window - chrono::Duration::days(3)).num_minutes().abs() < 5,
        "the first look keeps the window asked for: {window}"
    );
    let card = app
        .slack
        .message(incident.slack_ts.as_ref().unwrap())
        .unwrap();
    assert!(card.text.contains("in triage"), "{}", card.text);

    // The verbs a triage incident refuses say what to do instead.
    let r = app.command(&format!("cleanup {}", incident.id)).await;
    let refused: serde_json::Value = r.json().await.unwrap();
    assert!(
        refused["text"].as_str().unwrap().contains("is in triage"),
        "{refused}"
    );

    // Contain on the card: the same containment as the command, timed from the press.
    let r = app.click(ONCALLER, &card, "incident.contain").await;
    assert_eq!(r.status(), 200);
    let contained = app
        .wait_for_state(&incident.id, IncidentState::Contained)
        .await;
    assert_eq!(
        seed::key_status(&iam, "ci-deploy", key).await,
        StatusType::Inactive
    );
    assert!(
        contained.fence_time > incident.opened_at,
        "sessions minted during triage are fenced too"
    );
    let audit = app.store.audit_log(Some(&incident.id)).await.unwrap();
    let start = audit
        .iter()
        .find(|a| a.action == AuditAction::ContainStart)
        .expect("the decision to contain is audited");
    assert_eq!(start.actor, format!("slack:{ONCALLER}"));
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action == AuditAction::TriageOpen)
            .count(),
        1
    );
}

#[tokio::test]
async fn a_dismissed_triage_incident_is_closed_with_its_reason_and_a_new_one_links_it() {
    let (moto, _trail, app) = start_with_trail(Options::default()).await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let key = seeded.leaked.id.as_str();

    let incident = triage(&app, key, "").await;
    let card = app
        .slack
        .message(incident.slack_ts.as_ref().unwrap())
        .unwrap();
    // Only responders may dismiss: anyone else is refused and audited.
    let payload = app
        .slack
        .choose_payload("U0STRANGER", &card, "incident.dismiss", "|honeytoken")
        .unwrap();
    assert_eq!(app.interaction(&payload.to_string()).await.status(), 200);
    let payload = app
        .slack
        .choose_payload(RESPONDER, &card, "incident.dismiss", "|honeytoken")
        .unwrap();
    assert_eq!(app.interaction(&payload.to_string()).await.status(), 200);
    app.wait_for_state(&incident.id, IncidentState::Closed)
        .await;
    assert_eq!(
        seed::key_status(&iam, "ci-deploy", key).await,
        StatusType::Active,
        "dismissing changes nothing in AWS"
    );
    let audit = app.store.audit_log(Some(&incident.id)).await.unwrap();
    let dismissed = audit
        .iter()
        .find(|a| a.action == AuditAction::IncidentDismiss)
        .expect("the dismissal is audited");
    assert_eq!(dismissed.actor, format!("slack:{RESPONDER}"));
    assert!(
        dismissed.detail.contains("honeytoken"),
        "{}",
        dismissed.detail
    );
    let said = app.slack.replies_to(&card.ts);
    assert!(
        said.iter()
            .any(|m| m.text.contains("dismissed by <@U0RESPONDER>")),
        "the thread says who dismissed it and why"
    );

    // A contain after the dismissal opens a new incident that names the old one.
    let again = app.contain(key, "it was not a honeytoken after all").await;
    let next = app.store.incident(&again).await.unwrap();
    assert_ne!(next.id, incident.id);
    assert_eq!(next.follows.as_ref(), Some(&incident.id));
}

#[tokio::test]
async fn dismiss_needs_a_reason_and_a_triage_incident() {
    let (moto, _trail, app) = start_with_trail(Options::default()).await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let id = app.contain(&seeded.leaked.id, "pushed").await;
    app.wait_for_state(&id, IncidentState::Contained).await;
    let mut answers = vec![];
    for text in [
        format!("dismiss {id}"),
        format!("dismiss {id} a false positive"),
    ] {
        let r = app.command(&text).await;
        let v: serde_json::Value = r.json().await.unwrap();
        answers.push(v["text"].as_str().unwrap().replace(id.as_str(), "KL-…"));
    }
    let state = app.store.incident(&id).await.unwrap().state;
    assert_eq!(state, IncidentState::Contained, "nothing changed");
    // The command form takes any reason, for a triage incident.
    let triaged = triage(&app, &seeded.other.id, "").await;
    let r = app
        .command(&format!("dismiss {} a test key, never used", triaged.id))
        .await;
    let v: serde_json::Value = r.json().await.unwrap();
    answers.push(
        v["text"]
            .as_str()
            .unwrap()
            .replace(triaged.id.as_str(), "KL-…"),
    );
    insta::assert_snapshot!(answers.join("\n---\n"));
}
