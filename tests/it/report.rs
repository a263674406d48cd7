//! The post-incident report and closing, end to end against moto, the CloudTrail emulator and
//! the fake Slack: every action and approval is in the report, the chart is a real PNG, a
//! second report replaces the first, and closing links the final one.

use crate::support;

use std::time::Duration;

use chrono::Utc;
use keyleak::domain::approval::ProposalState;
use keyleak::domain::ids::IncidentId;
use keyleak::domain::incident::{IncidentState, StepKind};
use support::fake_slack::{CHANNEL, SharedFile, WORKSPACE};
use support::proposals::*;
use support::trail::{Record, start_with_trail};
use support::*;

async fn files_in(app: &App, channel: &str, n: usize) -> Vec<SharedFile> {
    let slack = app.slack.clone();
    let channel = channel.to_string();
    wait_until(Duration::from_secs(30), move || {
        let files: Vec<SharedFile> = slack
            .files()
            .into_iter()
            .filter(|f| f.channel == channel && is_report(f))
            .collect();
        async move { (files.len() == n).then_some(files) }
    })
    .await
    .unwrap_or_else(|| panic!("never {n} report files"))
}

/// The report's two files (forensics shares its timeline files in the same thread).
fn is_report(f: &SharedFile) -> bool {
    f.filename.ends_with("-report.md") || f.filename.ends_with("-activity.png")
}

fn png_size(bytes: &[u8]) -> (u32, u32) {
    let reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .expect("a valid PNG");
    let info = reader.info();
    (info.width, info.height)
}

async fn findings_stored(app: &App, id: &IncidentId) {
    let store = app.store.clone();
    let id = id.clone();
    wait_until(Duration::from_secs(30), move || {
        let (store, id) = (store.clone(), id.clone());
        async move { store.findings(&id).await.ok()?.map(|_| ()) }
    })
    .await
    .expect("forensics finished");
}

#[tokio::test]
async fn the_report_holds_every_action_and_approval_and_closing_links_it() {
    let (moto, emulator, app) = start_with_trail(Options {
        rooms: true,
        ..Options::default()
    })
    .await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    iam.create_user()
        .user_name("not-ours")
        .send()
        .await
        .unwrap();
    let key = seeded.leaked.id.clone();
    let t0 = Utc::now() - chrono::Duration::hours(2);
    let by = |f: &str, m: i64| {
        Record::from(f)
            .by_user(support::moto::OWN_ACCOUNT, "ci-deploy", &key)
            .at(t0 + chrono::Duration::minutes(m))
    };
    for (f, m) in [
        ("list_users", 0),
        ("list_roles_denied", 1),
        ("create_user", 70),
    ] {
        emulator.log(&by(f, m).value()).unwrap();
    }

    let id = app.contain(&key, "pushed to a public repo").await;
    let incident = app.wait_for_state(&id, IncidentState::Contained).await;
    let room = incident.slack_channel.clone().unwrap();
    findings_stored(&app, &id).await;

    // One proposal approved and run, one rejected with a reason.
    let approved = approve(&app, &propose(&app, &id, "").await).await;
    assert_eq!(approved.state, ProposalState::Done);
    // The on-call engineer is a responder and an approver: they reject by command.
    app.slack.add_group(APPROVERS_GROUP, &[ONCALLER]);
    let rejected = propose(&app, &id, "delete-user not-ours").await;
    let said = ask(
        &app,
        ONCALLER,
        &format!("reject {} it belongs to the data team", rejected.id),
    )
    .await;
    assert!(said.contains("ejected"), "{said}");

    let said = ask(&app, RESPONDER, &format!("report {id}")).await;
    assert!(said.contains("Writing the post-incident report"), "{said}");
    let first = files_in(&app, &room, 2).await;
    let md = first
        .iter()
        .find(|f| f.filename == format!("{id}-report.md"))
        .unwrap();
    let chart = first
        .iter()
        .find(|f| f.filename == format!("{id}-activity.png"))
        .unwrap();
    assert_eq!(md.thread_ts, incident.slack_ts, "in the incident's thread");
    assert_eq!(png_size(&chart.bytes), (1200, 600));

    let text = String::from_utf8(md.bytes.clone()).unwrap();
    for kind in StepKind::ALL {
        let title = keyleak::slack::messages::step_title(kind);
        assert!(text.contains(title), "step {title} missing:\n{text}");
    }
    for needle in [
        format!("Slack user {RESPONDER}"),
        format!("Slack user {APPROVER}"),
        format!("rejected by Slack user {ONCALLER}"),
        approved.id.to_string(),
        rejected.id.to_string(),
        "it belongs to the data team".to_string(),
        "time to contain".to_string(),
        "time to eradicate".to_string(),
        "iam.amazonaws.com:CreateUser".to_string(),
        "access-keys-rotated".to_string(),
        format!("{WORKSPACE}/archives/{room}/p"),
        "proposal.approved".to_string(),
        "pushed to a public repo".to_string(),
    ] {
        assert!(text.contains(&needle), "{needle:?} missing:\n{text}");
    }
    assert!(
        !text.contains(&seeded.leaked.secret),
        "a secret in the report"
    );

    // Again: the new files replace the old ones, which are deleted from Slack.
    ask(&app, RESPONDER, &format!("report {id}")).await;
    let slack = app.slack.clone();
    let old: Vec<String> = first.iter().map(|f| f.id.clone()).collect();
    let second =
        wait_until(Duration::from_secs(30), move || {
            let files: Vec<SharedFile> = slack.files().into_iter().filter(is_report).collect();
            let old = old.clone();
            async move {
                (files.len() == 2 && files.iter().all(|f| !old.contains(&f.id))).then_some(files)
            }
        })
        .await
        .expect("the second report replaced the first");
    assert!(
        second[0]
            .comment
            .as_deref()
            .unwrap_or_default()
            .contains("replaces")
    );
    let md_id = second
        .iter()
        .find(|f| f.filename.ends_with(".md"))
        .unwrap()
        .id
        .clone();

    // Close from the card: an outsider cannot; a responder can, once.
    let card = app
        .slack
        .message(incident.slack_ts.as_ref().unwrap())
        .unwrap();
    app.click(OUTSIDER, &card, "incident.close").await;
    assert!(
        answer_to(&app, OUTSIDER, 1)
            .await
            .contains("only responders")
    );
    assert_eq!(
        app.store.incident(&id).await.unwrap().state,
        IncidentState::Contained
    );
    app.click(RESPONDER, &card, "incident.close").await;
    assert!(answer_to(&app, RESPONDER, 1).await.contains("is closed"));
    app.wait_for_state(&id, IncidentState::Closed).await;
    let note = wait_until(Duration::from_secs(10), || {
        let replies = app.slack.replies_to(incident.slack_ts.as_ref().unwrap());
        async move { replies.into_iter().find(|r| r.text.contains("closed by")) }
    })
    .await
    .expect("the thread says who closed it");
    assert!(note.text.contains(&format!("<@{RESPONDER}>")));
    assert!(
        note.text.contains(&format!("{md_id}/{id}-report.md")),
        "{}",
        note.text
    );
    let card = app
        .slack
        .message(incident.slack_ts.as_ref().unwrap())
        .unwrap();
    assert!(
        !card.blocks.to_string().contains("incident.close"),
        "no Close on a closed card"
    );
    let topic = wait_until(Duration::from_secs(10), || {
        let c = app.slack.channel(&room);
        async move { c.filter(|c| c.topic.starts_with("CLOSED")) }
    })
    .await;
    assert!(topic.is_some(), "the topic says closed");
    assert!(
        ask(&app, RESPONDER, &format!("close {id}"))
            .await
            .contains("already closed")
    );
    assert!(
        ask(&app, RESPONDER, "status")
            .await
            .contains("No open incidents")
    );
    let audit = app.store.audit_log(Some(&id)).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action.name() == "incident.close")
            .count(),
        1
    );
    // Nothing was deleted by closing: the room and the key's record stay.
    assert!(app.slack.channel(&room).is_some());
    assert_eq!(app.slack.files().iter().filter(|f| is_report(f)).count(), 2);
}

#[tokio::test]
async fn report_and_close_answer_bad_requests_clearly() {
    let app = App::start(no_aws().await, Options::default()).await;
    assert!(
        ask(&app, RESPONDER, "report KL-DEADBEEF")
            .await
            .contains("no incident")
    );
    assert!(
        ask(&app, RESPONDER, "close KL-DEADBEEF")
            .await
            .contains("no incident")
    );
    assert!(
        ask(&app, RESPONDER, "report")
            .await
            .contains("Which incident?")
    );
    assert!(
        ask(&app, RESPONDER, "close AKIAIOSFODNN7EXAMPLE")
            .await
            .contains("is not an incident id")
    );
    assert!(
        ask(&app, OUTSIDER, "close KL-DEADBEEF")
            .await
            .contains("only responders")
    );

    // Slack refused the incident message: there is no thread to put a report in.
    app.slack.refuse_posts(Some("channel_not_found"));
    let id = app.contain("AKIAZZZZZZZZZZZZWXYZ", "no slack").await;
    app.wait_for_state(&id, IncidentState::Failed).await;
    assert!(
        ask(&app, RESPONDER, &format!("report {id}"))
            .await
            .contains("no thread")
    );
    assert!(app.slack.files().is_empty());
    assert!(app.slack.channels().iter().all(|c| c.id == CHANNEL));
}
