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

/// Waits until monitoring has read CloudTrail two seconds further than it had.
async fn polls_go_on(app: &App, id: &keyleak::domain::ids::IncidentId) {
    let read_to = app.store.checked_to(id).await.unwrap().unwrap();
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
}

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
            // A poll takes three LookupEvents slots, half a second apart: polls must leave
            // the queue idle between them for the harness to see the incident settled.
            every: chrono::Duration::seconds(3),
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
    emulator
        .log(&by_key("list_users", Utc::now() - chrono::Duration::hours(2)).value())
        .unwrap();
    let id = app.contain(&key, "").await;
    let incident = app.wait_for_state(&id, IncidentState::Contained).await;
    let thread = incident.slack_ts.clone().unwrap();
    let room = incident.slack_channel.clone().unwrap();

    // The attacker tries again: one call gets through (say, through a session), one is denied
    // to the user's other key.
    emulator
        .log(&by_key("list_users", Utc::now()).value())
        .unwrap();
    let denied = Record::from("list_roles_denied")
        .by_user(OWN_ACCOUNT, "ci-deploy", &seeded.other.id)
        .at(Utc::now());
    emulator.log(&denied.value()).unwrap();

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
    polls_go_on(&app, &id).await;
    assert_eq!(notes(&app, &thread).len(), 1);

    // Closed: the polls stop.
    ask(&app, RESPONDER, &format!("close {id}")).await;
    app.wait_for_state(&id, IncidentState::Closed).await;
    emulator
        .log(&by_key("list_users", Utc::now()).value())
        .unwrap();
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

/// A way back in after containment calls the responders by name: the user the attacker made
/// signs in to the console (no access key: followed by its name), and someone sets the key
/// back to Active. keyleak's own rollback of the same key is not news.
#[tokio::test]
async fn a_way_back_in_calls_the_responders_and_keyleaks_own_calls_are_not_news() {
    let (moto, emulator, app) = start_with_trail(Options {
        monitoring: MonitorSettings {
            window: chrono::Duration::hours(48),
            // A poll takes three LookupEvents slots, half a second apart: polls must leave
            // the queue idle between them for the harness to see the incident settled.
            every: chrono::Duration::seconds(3),
        },
        ..Options::default()
    })
    .await;
    let config = moto.own_config().await;
    let iam = aws_sdk_iam::Client::new(&config);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let key = seeded.leaked.id.clone();
    let before = Utc::now() - chrono::Duration::hours(1);
    emulator
        .log(
            &Record::from("create_user")
                .by_user(OWN_ACCOUNT, "ci-deploy", &key)
                .at(before)
                .value(),
        )
        .unwrap();
    let id = app.contain(&key, "").await;
    let incident = app.wait_for_state(&id, IncidentState::Contained).await;
    let thread = incident.slack_ts.clone().unwrap();
    let made = app.findings(&id).await;
    assert!(made.created.iter().any(|c| c.id == "backdoor-admin"));

    let signed_in = Record::console_login(OWN_ACCOUNT, "backdoor-admin").at(Utc::now());
    emulator.log(&signed_in.value()).unwrap();
    let reactivate = || {
        Record::of_family("persistence", "UpdateAccessKey")
            .set("/requestParameters/accessKeyId", key.clone().into())
    };
    emulator
        .log(
            &reactivate()
                .by_user(OWN_ACCOUNT, "admin-jane", "AKIAJANEEXAMPLE00001")
                .at(Utc::now())
                .value(),
        )
        .unwrap();
    let keyleak = aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    let own = reactivate()
        .by_user(OWN_ACCOUNT, "keyleak", "AKIAKEYLEAKEXAMPLE01")
        .set("/userIdentity/arn", keyleak.arn().unwrap().into())
        .at(Utc::now());
    emulator.log(&own.value()).unwrap();

    let note = wait_until(Duration::from_secs(30), || {
        let found = notes(&app, &thread);
        async move { found.into_iter().find(|n| n.text.contains("Act now")) }
    })
    .await
    .expect("the way back in was reported");
    assert!(
        note.text.contains(&format!("<@{RESPONDER}>")),
        "{}",
        note.text
    );
    assert!(
        note.text.contains("*access key set back to Active*"),
        "{}",
        note.text
    );
    assert!(note.text.contains("*console sign-in*"), "{}", note.text);
    assert!(note.text.contains("2 new call(s)"), "{}", note.text);
    assert!(note.text.contains("AKIAJANEEXAMPLE00001"), "{}", note.text);
    // Later polls read the same minutes again: keyleak's own call never becomes news.
    polls_go_on(&app, &id).await;
    let all = notes(&app, &thread);
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(
        !all[0].text.contains("AKIAKEYLEAKEXAMPLE01"),
        "{}",
        all[0].text
    );
}
