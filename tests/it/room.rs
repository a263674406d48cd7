//! The incident room: a private channel per incident, against moto and the fake Slack, which
//! enforces Slack's channel-name rules, membership and rate limits.

use crate::support;

use std::time::Duration;

use keyleak::domain::incident::IncidentState;
use support::fake_slack::{BOT_USER, CHANNEL};
use support::*;

fn rooms() -> Options {
    Options {
        rooms: true,
        ..Options::default()
    }
}

#[tokio::test]
async fn an_incident_gets_a_private_room_with_its_people_card_topic_and_announcement() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let app = App::start(moto.own_config().await, rooms()).await;
    app.slack.add_group(APPROVERS_GROUP, &["U0APPROVER2"]);

    let r = app
        .command(&format!("contain {} leaked in a gist", seeded.leaked.id))
        .await;
    let ack: serde_json::Value = r.json().await.unwrap();
    assert!(
        ack["text"].as_str().unwrap().contains("private channel"),
        "{ack}"
    );
    let id = app.only_incident().await;
    let incident = app.wait_for_state(&id, IncidentState::Contained).await;

    // The room: private, named after the user and the day, the people invited.
    let room_id = incident
        .slack_channel
        .clone()
        .expect("the incident has a room");
    assert_ne!(room_id, CHANNEL);
    let room = app.slack.channel(&room_id).unwrap();
    assert!(room.private);
    let day = incident.opened_at.format("%Y%m%d");
    assert!(
        room.name.starts_with(&format!("keyleak-{day}-ci-deploy-")),
        "{}",
        room.name
    );
    assert_eq!(
        room.name.len(),
        format!("keyleak-{day}-ci-deploy-").len() + 3
    );
    for who in [BOT_USER, RESPONDER, ONCALLER, APPROVER, "U0APPROVER2"] {
        assert!(
            room.members.iter().any(|m| m == who),
            "{who} not in {room:?}"
        );
    }

    // The card is the room's pinned first message; the steps are threaded under it.
    let card = app
        .slack
        .message(incident.slack_ts.as_ref().unwrap())
        .unwrap();
    assert_eq!(card.channel, room_id);
    assert_eq!(room.pins, vec![card.ts.clone()]);
    assert!(card.text.contains("contained"), "{}", card.text);
    assert!(app.slack.replies_to(&card.ts).len() >= 7);
    // The topic shows the state, set once per change, not on every edit.
    let room = wait_until(Duration::from_secs(10), || {
        let room = app.slack.channel(&room_id);
        async move { room.filter(|r| r.topic.starts_with("CONTAINED ")) }
    })
    .await
    .expect("the topic shows the incident contained");
    assert!(room.topic.contains("ci-deploy"));
    assert_eq!(
        room.topic_sets, 2,
        "set when opened and when contained, not on every edit"
    );

    // One line in the announcement channel, linking the room.
    let announced: Vec<_> = app
        .slack
        .messages()
        .into_iter()
        .filter(|m| m.channel == CHANNEL)
        .collect();
    assert_eq!(announced.len(), 1, "{announced:?}");
    assert!(announced[0].text.contains(&format!("<#{room_id}>")));
    assert!(announced[0].text.contains(id.as_str()));
}

#[tokio::test]
async fn a_taken_name_gets_a_new_suffix_and_a_refused_channel_falls_back_to_the_shared_one() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let first = seed::ci_user(&iam, "ci-deploy").await;
    let app = App::start(moto.own_config().await, rooms()).await;

    // Every name is taken once: Slack's answer for a collision is `name_taken`.
    app.slack.refuse_create(Some("name_taken"));
    let id = app.contain(&first.leaked.id, "collision").await;
    let incident = app.wait_for_state(&id, IncidentState::Contained).await;
    let creates = app
        .slack
        .calls()
        .iter()
        .filter(|(m, _)| m == "conversations.create")
        .count();
    assert_eq!(creates, 3, "three names tried");
    // Fallback: the incident runs in the shared channel, and says why.
    assert_eq!(incident.slack_channel.as_deref(), Some(CHANNEL));
    let replies = app.slack.replies_to(incident.slack_ts.as_ref().unwrap());
    assert!(
        replies.iter().any(|r| r.text.contains("`name_taken`")),
        "{replies:?}"
    );

    // A workspace that forbids apps to make channels: same fallback, named.
    app.slack.refuse_create(Some("restricted_action"));
    let second = seed::ci_user(&iam, "build-bot").await;
    let id = app.contain(&second.leaked.id, "policy").await;
    let incident = app.wait_for_state(&id, IncidentState::Contained).await;
    assert_eq!(incident.slack_channel.as_deref(), Some(CHANNEL));
    let replies = app.slack.replies_to(incident.slack_ts.as_ref().unwrap());
    assert!(
        replies
            .iter()
            .any(|r| r.text.contains("`restricted_action`"))
    );
    assert_eq!(app.slack.channels().len(), 1, "no room was made");
}

#[tokio::test]
async fn a_collision_with_an_existing_room_is_retried_and_throttling_is_waited_out() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let app = App::start(moto.own_config().await, rooms()).await;
    // Slack answers 429 with Retry-After to the first create; the next try gets through.
    app.slack.throttle_method("conversations.create", 1);

    let id = app.contain(&seeded.leaked.id, "throttled").await;
    let incident = app.wait_for_state(&id, IncidentState::Contained).await;
    let room = app
        .slack
        .channel(incident.slack_channel.as_ref().unwrap())
        .unwrap();
    assert!(room.private);
    assert!(room.name.contains("ci-deploy"));
}

#[tokio::test]
async fn people_slack_cannot_invite_are_named_in_the_room_and_the_rest_are_in() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let app = App::start(moto.own_config().await, rooms()).await;
    // A deactivated approver: Slack refuses the whole batch for that one id.
    app.slack.remove_user(APPROVER);

    let id = app.contain(&seeded.leaked.id, "invites").await;
    let incident = app.wait_for_state(&id, IncidentState::Contained).await;
    let room = app
        .slack
        .channel(incident.slack_channel.as_ref().unwrap())
        .unwrap();
    for who in [RESPONDER, ONCALLER] {
        assert!(room.members.iter().any(|m| m == who), "{who} not invited");
    }
    assert!(!room.members.iter().any(|m| m == APPROVER));
    let replies = app.slack.replies_to(incident.slack_ts.as_ref().unwrap());
    let note = replies
        .iter()
        .find(|r| r.text.contains("could not add"))
        .expect("the room is told who is missing");
    assert!(note.text.contains(&format!("<@{APPROVER}>")));
    assert!(note.text.contains("user_not_found"));
}

#[tokio::test]
async fn a_key_whose_owner_is_unknown_gets_a_room_named_after_the_key() {
    // AWS cannot be reached: the playbook fails at its first step, and the room still opens.
    let app = App::start(no_aws().await, rooms()).await;
    let key = "AKIAZZZZZZZZZZZZWXYZ";
    let id = app.contain(key, "unreachable").await;
    let incident = app.wait_for_state(&id, IncidentState::Failed).await;
    let room_id = incident.slack_channel.unwrap();
    let room = wait_until(Duration::from_secs(10), || {
        let room = app.slack.channel(&room_id);
        async move { room.filter(|r| r.topic.starts_with("CONTAINMENT INCOMPLETE")) }
    })
    .await
    .expect("the topic shows containment incomplete");
    assert!(room.name.contains("-key-wxyz-"), "{}", room.name);
}

/// The card is what people watch: it says the key is deactivated no later than the thread
/// reply that details it, and one busy room's replies hold back no other room's card.
#[tokio::test]
async fn the_card_says_the_key_is_inactive_before_its_reply_does() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let app = App::start(moto.own_config().await, rooms()).await;
    let mut cards = vec![];
    for user in ["ci-deploy", "ci-release"] {
        let seeded = seed::ci_user(&iam, user).await;
        let r = app.command(&format!("contain {}", seeded.leaked.id)).await;
        assert_eq!(r.status(), 200);
        let id = app.incident_for(&seeded.leaked.id).await;
        cards.push(id);
    }
    for id in &cards {
        let incident = app.wait_for_state(id, IncidentState::Contained).await;
        let card = incident.slack_ts.expect("a card");
        let history = app.slack.history();
        let said = |m: &fake_slack::Posted| {
            m.blocks
                .to_string()
                .contains(":white_check_mark: Key deactivated")
        };
        let card_said = history
            .iter()
            .position(|(_, m)| m.ts == card && said(m))
            .expect("the card says the key is deactivated");
        let reply_said = history
            .iter()
            .position(|(_, m)| {
                m.thread_ts.as_deref() == Some(card.as_str())
                    && m.blocks.to_string().contains("to *Inactive*")
            })
            .expect("a reply details the deactivation");
        assert!(card_said < reply_said, "{history:#?}");
    }
}
