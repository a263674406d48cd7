//! Containment must not depend on Slack: rate limits are waited out, and an unreachable
//! Slack delays only the messages, never the key's deactivation.

use crate::support;

use aws_sdk_iam::types::StatusType;
use keyleak::domain::incident::{IncidentState, StepKind};
use support::*;

#[tokio::test]
async fn a_429_from_slack_is_waited_out_and_nothing_is_lost() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let app = App::start(moto.own_config().await, Options::default()).await;
    app.slack.throttle_next(2);

    app.command(&format!("contain {}", seeded.leaked.id)).await;
    let id = app.only_incident().await;
    app.wait_for_state(&id, IncidentState::Contained).await;
    let top = app.slack.top_level();
    assert_eq!(top.len(), 1);
    assert_eq!(
        app.slack.replies_to(&top[0].ts).len(),
        StepKind::ALL.len() + 2,
        "each step's reply, what the key could do, and the forensics message"
    );
}

#[tokio::test]
async fn with_slack_unreachable_the_key_is_still_contained() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let app = App::start(moto.own_config().await, Options::default()).await;
    // Every post now fails: the fake answers an error Slack really uses.
    app.slack.refuse_posts(Some("service_unavailable"));

    app.command(&format!("contain {}", seeded.leaked.id)).await;
    let id = app.only_incident().await;
    let store = app.store.clone();
    let probe = id.clone();
    wait_until(std::time::Duration::from_secs(30), move || {
        let (store, id) = (store.clone(), probe.clone());
        async move {
            let i = store.incident(&id).await.ok()?;
            (i.state == IncidentState::Contained).then_some(())
        }
    })
    .await
    .expect("contained without Slack");
    assert_eq!(
        seed::key_status(&iam, "ci-deploy", &seeded.leaked.id).await,
        StatusType::Inactive
    );
    assert!(app.slack.messages().is_empty());
    let incident = app.store.incident(&id).await.unwrap();
    assert!(
        incident.slack_ts.is_none(),
        "no message was recorded as posted"
    );
    assert!(
        app.store.announcement_pending(&id).await.unwrap(),
        "what is to be said waits for Slack"
    );

    // Slack is back: the incident is said, once.
    app.slack.refuse_posts(None);
    let said = app.wait_for_state(&id, IncidentState::Contained).await;
    let card = app
        .slack
        .message(said.slack_ts.as_deref().unwrap())
        .unwrap();
    assert!(card.text.contains(id.as_str()), "{}", card.text);
    assert_eq!(app.slack.top_level().len(), 1);
}
