//! Monitoring after containment, against moto and the CloudTrail emulator: a call made after
//! containment is caught, said once in the thread and raises the card and the topic; calls
//! from before containment are not news; closing ends the polls.

use crate::support;

use std::time::Duration;

use chrono::Utc;
use keyleak::domain::incident::IncidentState;
use keyleak::engine::MonitorSettings;
use support::fake_slack::Posted;
use support::moto::OWN_ACCOUNT;
use support::proposals::ask;
use support::trail::{Record, start_with_trail};
use support::*;

fn notes(app: &App, thread: &str) -> Vec<Posted> {
    app.slack
        .replies_to(thread)
        .into_iter()
        .filter(|r| r.text.contains("Activity after containment"))
        .collect()
}

#[tokio::test]
async fn a_call_after_containment_is_caught_once_and_raises_the_card() {
    let (moto, emulator, app) = start_with_trail(Options {
        rooms: true,
        monitoring: MonitorSettings {
            window: chrono::Duration::hours(48),
            every: chrono::Duration::seconds(1),
        },
        ..Options::default()
    })
    .await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let key = seeded.leaked.id.clone();
    let by_key = |f: &str, at| {
        Record::from(f)
            .by_user(OWN_ACCOUNT, "ci-deploy", &key)
            .at(at)
    };
    emulator.log(&by_key("list_users", Utc::now() - chrono::Duration::hours(2)).value());
    let id = app.contain(&key, "").await;
    let incident = app.wait_for_state(&id, IncidentState::Contained).await;
    let thread = incident.slack_ts.clone().unwrap();
    let room = incident.slack_channel.clone().unwrap();

    // The attacker tries again: one call gets through (say, through a session), one is denied
    // to the user's other key.
    emulator.log(&by_key("list_users", Utc::now()).value());
    let denied = Record::from("list_roles_denied")
        .by_user(OWN_ACCOUNT, "ci-deploy", &seeded.other.id)
        .at(Utc::now());
    emulator.log(&denied.value());

    let note = wait_until(Duration::from_secs(30), || {
        let found = notes(&app, &thread);
        async move { found.into_iter().next() }
    })
    .await
    .expect("the late calls were reported");
    assert!(note.text.contains("not denied"), "{}", note.text);
    // Only the two calls after containment: the one from two hours before is not news.
    assert!(note.text.contains("2 new call(s)"), "{}", note.text);
    assert!(note.text.contains("`ListUsers`"), "{}", note.text);
    assert!(
        note.text.contains(&seeded.other.id),
        "the user's other key is watched too"
    );
    assert!(
        note.text.contains("refused: `AccessDenied`"),
        "{}",
        note.text
    );
    assert!(!note.text.contains(&seeded.leaked.secret));

    let raised = app.store.incident(&id).await.unwrap();
    assert!(raised.late_activity.unwrap() >= incident.contained_at.unwrap());
    let card = wait_until(Duration::from_secs(10), || {
        let card = app.slack.message(&thread);
        async move { card.filter(|c| c.text.contains("Activity after containment")) }
    })
    .await;
    assert!(card.is_some(), "the card is raised");
    let topic = wait_until(Duration::from_secs(10), || {
        let c = app.slack.channel(&room);
        async move { c.filter(|c| c.topic.starts_with("ACTIVITY AFTER CONTAINMENT")) }
    })
    .await;
    assert!(topic.is_some(), "the topic is raised");

    // Two more polls: the same calls are not news, and the old one never was.
    let read_to = app.store.checked_to(&id).await.unwrap().unwrap();
    let store = app.store.clone();
    let polled = wait_until(Duration::from_secs(30), || {
        let (store, id) = (store.clone(), id.clone());
        async move {
            let now = store.checked_to(&id).await.ok()??;
            (now >= read_to + chrono::Duration::seconds(2)).then_some(())
        }
    })
    .await;
    assert!(polled.is_some(), "the polls went on");
    assert_eq!(notes(&app, &thread).len(), 1);

    // Closed: the polls stop.
    ask(&app, RESPONDER, &format!("close {id}")).await;
    app.wait_for_state(&id, IncidentState::Closed).await;
    emulator.log(&by_key("list_users", Utc::now()).value());
    let later = Utc::now() + chrono::Duration::hours(1);
    let queued = app
        .store
        .queue_due_monitors(
            later,
            chrono::Duration::seconds(1),
            chrono::Duration::hours(48),
        )
        .await
        .unwrap();
    assert_eq!(queued, 0, "no poll is ever due for a closed incident");
    assert_eq!(notes(&app, &thread).len(), 1);
}
