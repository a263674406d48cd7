//! `POST /aws/events`: AWS Health and GuardDuty events from an EventBridge API destination,
//! from the published examples in `tests/fixtures/eventbridge`, against moto. Each opens or
//! joins the key's incident, and the containment policy decides what it starts.

use crate::support;

use std::time::Duration;

use aws_sdk_iam::types::StatusType;
use keyleak::domain::audit::AuditAction;
use keyleak::domain::incident::IncidentState;
use keyleak::domain::signal::{AutoContain, ContainPolicy, Exception, Hold};
use serde_json::{Value, json};
use support::moto::OWN_ACCOUNT;
use support::trail::start_with_trail;
use support::*;

fn eventbridge(name: &str) -> Value {
    fixture(&format!("eventbridge/{name}"))
}

/// The published Health event, made this test's own: a fresh event id, the key and account.
fn health(key: &str) -> Value {
    let mut v = eventbridge("health_exposed_metadata");
    v["id"] = json!(uuid::Uuid::new_v4().to_string());
    v["account"] = json!(OWN_ACCOUNT);
    v["detail"]["eventMetadata"]["publicKey"] = json!(key);
    v["detail"]["eventMetadata"]["accountId"] = json!(OWN_ACCOUNT);
    v["detail"]["eventMetadata"]["userName"] = json!(null);
    v["detail"]["affectedEntities"][0]["entityValue"] = json!(key);
    v["detail"]["affectedAccount"] = json!(OWN_ACCOUNT);
    v["resources"] = json!([key]);
    v
}

fn finding(key: &str, severity: f64) -> Value {
    let mut v = eventbridge("guardduty_tor_finding");
    let id = uuid::Uuid::new_v4().simple().to_string();
    v["id"] = json!(uuid::Uuid::new_v4().to_string());
    v["account"] = json!(OWN_ACCOUNT);
    v["detail"]["accountId"] = json!(OWN_ACCOUNT);
    v["detail"]["id"] = json!(id);
    v["detail"]["arn"] = json!(format!(
        "arn:aws:guardduty:us-west-2:{OWN_ACCOUNT}:detector/d/finding/{id}"
    ));
    v["detail"]["severity"] = json!(severity);
    v["detail"]["resource"]["accessKeyDetails"]["accessKeyId"] = json!(key);
    v
}

impl App {
    async fn aws_event_with(&self, headers: &[(&str, &str)], body: String) -> reqwest::Response {
        let mut r = self
            .http
            .post(format!("{}/aws/events", self.url))
            .header("content-type", "application/json");
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.body(body).send().await.unwrap()
    }

    /// An event as the API destination sends it; its JSON answer.
    async fn aws_event(&self, event: &Value) -> (u16, Value) {
        let r = self
            .aws_event_with(&[(AWS_EVENTS_HEADER, AWS_EVENTS_SECRET)], event.to_string())
            .await;
        (r.status().as_u16(), r.json().await.unwrap())
    }
}

fn policy(mode: AutoContain, except: &[&str]) -> Options {
    let mut opts = Options::default();
    opts.intake.policy = ContainPolicy {
        mode,
        min_severity: 7.0,
        except: except.iter().filter_map(|e| Exception::parse(e)).collect(),
    };
    opts
}

#[tokio::test]
async fn a_health_event_opens_a_triage_incident_once_when_the_policy_is_off() {
    let (moto, _trail, app) = start_with_trail(Options::default()).await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let key = seeded.leaked.id.as_str();
    let event = health(key);

    let (status, answer) = app.aws_event(&event).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["recorded"][0]["outcome"], "opened");
    assert_eq!(answer["recorded"][0]["state"], "triage");
    let id = app.incident_for(key).await;
    let triaged = app.wait_for_state(&id, IncidentState::Triage).await;
    assert_eq!(
        seed::key_status(&iam, "ci-deploy", key).await,
        StatusType::Active
    );
    assert_eq!(triaged.hold, Some(Hold::PolicyOff));
    assert_eq!(triaged.signals.len(), 1);
    assert_eq!(
        triaged.requested_by.to_stored(),
        format!(
            "signal:aws-health:{}",
            event["detail"]["eventArn"].as_str().unwrap()
        )
    );
    let card = app
        .slack
        .message(triaged.slack_ts.as_ref().unwrap())
        .unwrap();
    let shown = card.blocks.to_string();
    assert!(shown.contains("AWS_RISK_CREDENTIALS_EXPOSED"), "{shown}");
    assert!(shown.contains("KEYLEAK_AUTO_CONTAIN"), "{shown}");
    assert!(shown.contains("incident.contain"), "{shown}");

    // EventBridge retries the same event: answered as before, nothing written.
    let (status, again) = app.aws_event(&event).await;
    assert_eq!(status, 200);
    assert_eq!(again["recorded"][0]["outcome"], "duplicate");
    assert_eq!(again["recorded"][0]["incident"], id.as_str());
    let after = app.store.incident(&id).await.unwrap();
    assert_eq!(after.signals.len(), 1, "the retry is not evidence twice");
    let audit = app.store.audit_log(Some(&id)).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|a| matches!(
                a.action,
                AuditAction::TriageOpen | AuditAction::SignalJoined
            ))
            .count(),
        1
    );
}

#[tokio::test]
async fn confirmed_contains_at_once_and_later_signals_only_join() {
    let (moto, _trail, app) = start_with_trail(policy(AutoContain::Confirmed, &[])).await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let key = seeded.leaked.id.as_str();

    let (status, answer) = app.aws_event(&health(key)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["recorded"][0]["state"], "containing");
    let id = app.incident_for(key).await;
    let contained = app.wait_for_state(&id, IncidentState::Contained).await;
    assert_eq!(
        seed::key_status(&iam, "ci-deploy", key).await,
        StatusType::Inactive
    );
    assert_eq!(contained.hold, None, "the owner is not excepted");

    // A GuardDuty finding and a person's command about the same key: one incident.
    let (_, joined) = app.aws_event(&finding(key, 8.0)).await;
    assert_eq!(joined["recorded"][0]["outcome"], "joined");
    assert_eq!(joined["recorded"][0]["incident"], id.as_str());
    let r = app.command(&format!("contain {key}")).await;
    let ack: Value = r.json().await.unwrap();
    assert!(
        ack["text"]
            .as_str()
            .unwrap()
            .contains("already has an open incident")
    );
    let after = app.wait_for_state(&id, IncidentState::Contained).await;
    assert_eq!(after.signals.len(), 2);
    let audit = app.store.audit_log(Some(&id)).await.unwrap();
    let opened = audit
        .iter()
        .find(|a| a.action == AuditAction::ContainOpen)
        .unwrap();
    assert!(
        opened
            .actor
            .starts_with("signal:aws-health:arn:aws:health:"),
        "{}",
        opened.actor
    );
    let deactivations = audit
        .iter()
        .filter(|a| a.action.name() == "contain.deactivate_key.done")
        .count();
    assert_eq!(deactivations, 1, "no signal contains twice");
    // The card lists both sources.
    let card = app.slack.message(after.slack_ts.as_ref().unwrap()).unwrap();
    let card = wait_until(Duration::from_secs(10), || {
        let m = app.slack.message(&card.ts);
        async move { m.filter(|m| m.blocks.to_string().contains("TorIPCaller")) }
    })
    .await
    .expect("the card shows the finding");
    assert!(card.blocks.to_string().contains("AWS Health"));
    // Each signal has its own reply in the thread, as evidence, once.
    let said = wait_until(Duration::from_secs(10), || {
        let said: Vec<String> = app
            .slack
            .replies_to(&card.ts)
            .into_iter()
            .map(|r| r.text)
            .filter(|t| t.starts_with("AWS Health `") || t.starts_with("GuardDuty `"))
            .collect();
        async move { (said.len() == 2).then_some(said) }
    })
    .await
    .expect("a reply per signal");
    assert!(
        said[0].starts_with("AWS Health `AWS_RISK_CREDENTIALS_EXPOSED`"),
        "{said:?}"
    );
    assert!(said[1].contains("TorIPCaller"), "{said:?}");
    let card_replies = app.slack.replies_to(&card.ts);
    let finding = card_replies
        .iter()
        .find(|r| r.text.starts_with("GuardDuty `"))
        .unwrap();
    assert!(finding.blocks.to_string().contains("also reported"));
}

#[tokio::test]
async fn suspected_contains_only_at_the_minimum_severity() {
    let (moto, _trail, app) = start_with_trail(policy(AutoContain::Suspected, &[])).await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let key = seeded.leaked.id.as_str();

    let (_, low) = app.aws_event(&finding(key, 5.0)).await;
    assert_eq!(low["recorded"][0]["state"], "triage", "{low}");
    let id = app.incident_for(key).await;
    let triaged = app.wait_for_state(&id, IncidentState::Triage).await;
    assert_eq!(
        triaged.hold,
        Some(Hold::BelowSeverity {
            severity: 5.0,
            minimum: 7.0
        })
    );
    assert_eq!(
        seed::key_status(&iam, "ci-deploy", key).await,
        StatusType::Active
    );

    let (_, high) = app.aws_event(&finding(key, 8.0)).await;
    assert_eq!(high["recorded"][0]["outcome"], "joined");
    app.wait_for_state(&id, IncidentState::Contained).await;
    assert_eq!(
        seed::key_status(&iam, "ci-deploy", key).await,
        StatusType::Inactive
    );
}

#[tokio::test]
async fn an_excepted_owner_is_not_contained_automatically_and_the_card_says_why() {
    let opts = policy(AutoContain::Confirmed, &["ci-deploy"]);
    let (moto, _trail, app) = start_with_trail(opts).await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let key = seeded.leaked.id.as_str();

    // The Health event does not name the user: IAM does, before any change.
    let (_, answer) = app.aws_event(&health(key)).await;
    assert_eq!(answer["recorded"][0]["state"], "containing");
    let id = app.incident_for(key).await;
    let held = app.wait_for_state(&id, IncidentState::Triage).await;
    assert_eq!(
        seed::key_status(&iam, "ci-deploy", key).await,
        StatusType::Active
    );
    assert!(
        matches!(held.hold, Some(Hold::Excepted { .. })),
        "{:?}",
        held.hold
    );
    let audit = app.store.audit_log(Some(&id)).await.unwrap();
    assert!(audit.iter().any(|a| a.action == AuditAction::SignalHeld));
    let card = app.slack.message(held.slack_ts.as_ref().unwrap()).unwrap();
    assert!(
        card.blocks
            .to_string()
            .contains("KEYLEAK_AUTO_CONTAIN_EXCEPT"),
        "{}",
        card.blocks
    );

    // A person may still contain it.
    let card = app.slack.message(&card.ts).unwrap();
    app.click(RESPONDER, &card, "incident.contain").await;
    app.wait_for_state(&id, IncidentState::Contained).await;
    assert_eq!(
        seed::key_status(&iam, "ci-deploy", key).await,
        StatusType::Inactive
    );
}

#[tokio::test]
async fn bad_requests_are_refused_and_other_events_ignored_with_nothing_stored() {
    let (moto, _trail, app) = start_with_trail(Options::default()).await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let event = health(&seeded.leaked.id).to_string();
    let good = (AWS_EVENTS_HEADER, AWS_EVENTS_SECRET);
    let mut seen = vec![];
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, String);
    let cases: Vec<Case> = vec![
        ("no credentials", vec![], event.clone()),
        (
            "a wrong key",
            vec![(AWS_EVENTS_HEADER, "eventbridge-api-key-for-test")],
            event.clone(),
        ),
        ("not JSON", vec![good], "{\"id\":".into()),
        ("not an event", vec![good], "[1, 2]".into()),
        (
            "too large",
            vec![good],
            format!("\"{}\"", "x".repeat(300 * 1024)),
        ),
        (
            "a sample finding",
            vec![good],
            eventbridge("guardduty_sample_finding").to_string(),
        ),
        (
            "another service's event",
            vec![good],
            json!({"version": "0", "id": "e1", "source": "aws.ec2",
                   "detail-type": "EC2 Instance State-change Notification",
                   "account": OWN_ACCOUNT, "detail": {"state": "running"}})
            .to_string(),
        ),
    ];
    for (what, headers, body) in cases {
        let r = app.aws_event_with(&headers, body).await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        seen.push(format!("{what}: {status} {text}"));
    }
    insta::assert_snapshot!(seen.join("\n"));
    assert!(app.store.open_incidents(10).await.unwrap().is_empty());
    assert!(app.store.audit_log(None).await.unwrap().is_empty());
    assert!(
        !app.stored_text().await.contains(AWS_EVENTS_SECRET),
        "the key is never stored"
    );
}

/// The published CloudTrail attachment of the quarantine policy, to `user` in moto's account.
fn quarantine(user: &str) -> Value {
    let mut v = eventbridge("cloudtrail_quarantine");
    v["id"] = json!(uuid::Uuid::new_v4().to_string());
    v["account"] = json!(OWN_ACCOUNT);
    v["detail"]["recipientAccountId"] = json!(OWN_ACCOUNT);
    v["detail"]["requestParameters"]["userName"] = json!(user);
    v
}

#[tokio::test]
async fn the_quarantine_policy_joins_the_users_incident_or_finds_its_keys() {
    let (moto, _trail, app) = start_with_trail(policy(AutoContain::Confirmed, &[])).await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let (leaked, other) = (seeded.leaked.id.as_str(), seeded.other.id.as_str());

    // Two active keys and no incident: which one AWS found is not known, so each is triaged.
    let (status, answer) = app.aws_event(&quarantine("ci-deploy")).await;
    assert_eq!(status, 200, "{answer}");
    let states: Vec<&str> = answer["recorded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["triage", "triage"]);
    for key in [leaked, other] {
        let id = app.incident_for(key).await;
        let i = app.wait_for_state(&id, IncidentState::Triage).await;
        assert_eq!(i.hold, Some(Hold::WhichKey { active_keys: 2 }));
        assert_eq!(
            seed::key_status(&iam, "ci-deploy", key).await,
            StatusType::Active
        );
    }

    // Once a key is known, a second attachment joins the user's open incidents.
    let (_, again) = app.aws_event(&quarantine("ci-deploy")).await;
    let outcomes: Vec<&str> = again["recorded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["joined", "joined"]);
}

/// A signal about a key in an account keyleak has no way into: the incident opens, its thread
/// gives the escalation, nothing changes and Contain stays offered; AWS quarantining a user
/// there is said in the announcement channel.
#[tokio::test]
async fn a_signal_from_an_account_keyleak_cannot_reach_is_escalated() {
    let (moto, _trail, app) = start_with_trail(policy(AutoContain::Confirmed, &[])).await;
    let stranger = "333333333333";
    let iam_c = aws_sdk_iam::Client::new(&moto.config_in(stranger).await.unwrap());
    let seeded = seed::ci_user(&iam_c, "stranger").await;
    let key = seeded.leaked.id.as_str();
    let mut event = health(key);
    event["account"] = json!(stranger);
    event["detail"]["affectedAccount"] = json!(stranger);
    event["detail"]["eventMetadata"]["accountId"] = json!(stranger);

    let (status, answer) = app.aws_event(&event).await;
    assert_eq!(status, 200, "{answer}");
    let id = app.incident_for(key).await;
    let failed = app.wait_for_state(&id, IncidentState::Failed).await;
    assert_eq!(
        seed::key_status(&iam_c, "stranger", key).await,
        StatusType::Active
    );
    let card = failed.slack_ts.unwrap();
    let escalation = wait_until(Duration::from_secs(10), || {
        let found = app
            .slack
            .replies_to(&card)
            .into_iter()
            .find(|r| r.text.contains("cannot act there"));
        async move { found }
    })
    .await
    .expect("the escalation in the thread");
    assert!(escalation.text.contains(stranger), "{}", escalation.text);
    assert!(
        escalation.text.contains("update-access-key"),
        "{}",
        escalation.text
    );
    let replies = app.slack.replies_to(&card);
    assert!(
        replies[0]
            .text
            .starts_with("AWS Health `AWS_RISK_CREDENTIALS_EXPOSED`"),
        "the signal's evidence comes first: {}",
        replies[0].text
    );
    let shown = app.slack.message(&card).unwrap().blocks.to_string();
    assert!(
        shown.contains("incident.contain"),
        "Contain is still offered: {shown}"
    );

    let mut q = quarantine("stranger");
    q["account"] = json!(stranger);
    q["detail"]["recipientAccountId"] = json!(stranger);
    let (status, _) = app.aws_event(&q).await;
    assert_eq!(status, 202);
    let said = wait_until(Duration::from_secs(10), || {
        let m = app
            .slack
            .top_level()
            .into_iter()
            .find(|m| m.text.contains("could not act on it"));
        async move { m }
    })
    .await
    .expect("the channel hears of the quarantine");
    assert!(said.text.contains("IAM user stranger"), "{}", said.text);
    assert!(
        said.text.contains("KEYLEAK_ROLE_ARN_TEMPLATE"),
        "{}",
        said.text
    );
    assert!(said.text.contains(stranger), "{}", said.text);
}

#[tokio::test]
async fn the_quarantine_of_a_user_with_one_active_key_contains_it() {
    let (moto, _trail, app) = start_with_trail(policy(AutoContain::Confirmed, &[])).await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    iam.update_access_key()
        .user_name("ci-deploy")
        .access_key_id(&seeded.other.id)
        .status(StatusType::Inactive)
        .send()
        .await
        .unwrap();
    let (_, answer) = app.aws_event(&quarantine("ci-deploy")).await;
    assert_eq!(answer["recorded"][0]["state"], "containing", "{answer}");
    let id = app.incident_for(&seeded.leaked.id).await;
    app.wait_for_state(&id, IncidentState::Contained).await;
    assert_eq!(
        seed::key_status(&iam, "ci-deploy", &seeded.leaked.id).await,
        StatusType::Inactive
    );

    // A user IAM does not have: nothing to contain, said, nothing stored.
    let (status, gone) = app.aws_event(&quarantine("nobody")).await;
    assert_eq!(status, 202, "{gone}");
}
