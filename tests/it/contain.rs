//! `/keyleak contain` against moto and the fake Slack: the key really stops working, only the
//! leaked key is touched, and every step is reported once in the incident thread.

use crate::support;

use std::time::Duration;

use aws_sdk_iam::types::StatusType;
use keyleak::domain::incident::{IncidentState, StepKind, StepStatus};
use keyleak::domain::policy;
use serde_json::Value;
use support::moto::OWN_ACCOUNT;
use support::*;

#[tokio::test]
async fn contain_deactivates_only_the_leaked_key_and_denies_the_user() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let app = App::start(moto.own_config().await, Options::default()).await;

    let id = app
        .contain(&seeded.leaked.id, "pushed to a public repo")
        .await;
    let incident = app.wait_for_state(&id, IncidentState::Contained).await;

    // AWS: the leaked key is inactive, the other untouched, both deny policies in place.
    assert_eq!(
        seed::key_status(&iam, "ci-deploy", &seeded.leaked.id).await,
        StatusType::Inactive
    );
    assert_eq!(
        seed::key_status(&iam, "ci-deploy", &seeded.other.id).await,
        StatusType::Active
    );
    let deny = policy::deny_all(&id);
    let fence = policy::session_fence(&id, incident.fence_time);
    let expect = |p: &policy::DenyPolicy| serde_json::from_str::<Value>(&p.document).unwrap();
    assert_eq!(
        seed::user_policy(&iam, "ci-deploy", &deny.name).await,
        expect(&deny)
    );
    assert_eq!(
        seed::user_policy(&iam, "ci-deploy", &fence.name).await,
        expect(&fence)
    );
    assert_eq!(
        seed::user_policy(&iam, "ci-deploy", "app-read").await,
        serde_json::from_str::<Value>(seed::APP_POLICY).unwrap(),
        "the user's own policies are left alone"
    );

    // Store: facts, every step done once, the pre-incident snapshot, the audit trail.
    assert_eq!(incident.account.as_ref().unwrap().as_str(), OWN_ACCOUNT);
    assert_eq!(incident.user_name.as_deref(), Some("ci-deploy"));
    assert!(incident.contained_at.is_some());
    let steps = app.store.steps(&id).await.unwrap();
    assert_eq!(steps.len(), StepKind::ALL.len());
    assert!(steps.iter().all(|s| s.status == StepStatus::Done));
    for k in [
        StepKind::DeactivateKey,
        StepKind::DenyAll,
        StepKind::SessionFence,
    ] {
        let s = steps.iter().find(|s| s.kind == k).unwrap();
        assert!(s.request_id.is_some(), "{k:?} has an AWS request id");
    }
    let snap = app.store.snapshot(&id).await.unwrap().unwrap();
    assert_eq!(snap.access_keys.len(), 2);
    assert!(
        snap.access_keys.iter().all(|k| k.active),
        "taken before any change"
    );
    assert_eq!(snap.inline_policies, vec!["app-read"]);
    assert_eq!(snap.groups, vec!["ci-deploy-group"]);
    let audit = app.store.audit_log(Some(&id)).await.unwrap();
    assert_eq!(audit[0].action.name(), "contain.open");
    assert_eq!(audit[0].actor, format!("slack:{RESPONDER}"));
    for k in StepKind::ALL {
        let action = format!("contain.{}.done", k.as_str());
        assert_eq!(
            audit.iter().filter(|a| a.action.name() == action).count(),
            1,
            "{action}"
        );
    }

    // Slack: one incident message, one threaded reply per step, the message updated in place.
    let top = app.slack.top_level();
    assert_eq!(top.len(), 1);
    assert!(top[0].updates >= 1);
    assert!(top[0].text.contains("contained"), "{}", top[0].text);
    let replies = app.slack.replies_to(&top[0].ts);
    // One reply per step, what the key could do, and the forensics that follows containment.
    assert_eq!(replies.len(), StepKind::ALL.len() + 2);
    let joined: String = replies.iter().map(|r| r.blocks.to_string()).collect();
    assert!(joined.contains("AWS request id"));
    assert!(joined.contains(&seeded.leaked.id));
    assert!(joined.contains("Left untouched"));
    assert!(joined.contains(&seeded.other.id));
    for (_, body) in app.slack.calls() {
        assert!(
            !body.contains(&seeded.leaked.secret),
            "a secret reached Slack"
        );
    }
    // The requester is told privately how it ended.
    let told = app.slack.responses();
    assert_eq!(told.len(), 1);
    assert!(
        told[0]["text"].as_str().unwrap().contains("contained in"),
        "{told:?}"
    );
    assert!(
        !app.stored_text().await.contains(&seeded.leaked.secret),
        "a secret reached the database"
    );
}

#[tokio::test]
async fn with_iam_policies_enforced_the_leaked_key_is_denied() {
    let moto = Moto::start().await.unwrap();
    let setup = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&setup, "ci-deploy").await;
    let bot = seed::admin(&setup).await;
    let bot_config = moto.config(&bot.id, &bot.secret, None).await;
    let app = App::start(bot_config, Options::default()).await;

    let attacker = aws_sdk_sts::Client::new(
        &moto
            .config(&seeded.leaked.id, &seeded.leaked.secret, None)
            .await,
    );
    moto.enforce_auth().await.unwrap();
    attacker
        .get_caller_identity()
        .send()
        .await
        .expect("the leaked key works before containment");

    let id = app.contain(&seeded.leaked.id, "").await;
    app.wait_for_state(&id, IncidentState::Contained).await;

    let iam_as_attacker = aws_sdk_iam::Client::new(
        &moto
            .config(&seeded.leaked.id, &seeded.leaked.secret, None)
            .await,
    );
    let denied = iam_as_attacker.list_users().send().await.unwrap_err();
    // moto answers in the STS error shape, which the IAM client does not decode: read the
    // raw response.
    let raw = denied.raw_response().expect("an HTTP answer");
    assert_eq!(raw.status().as_u16(), 403);
    let body = String::from_utf8_lossy(raw.body().bytes().unwrap_or_default()).into_owned();
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    let create = iam_as_attacker
        .create_user()
        .user_name("backdoor")
        .send()
        .await;
    assert!(
        create.is_err(),
        "the attacker cannot create a backdoor user"
    );
}

#[tokio::test]
async fn a_key_in_another_account_is_contained_through_the_responder_role() {
    let moto = Moto::start().await.unwrap();
    let other_account = "222222222222";
    let iam_b = aws_sdk_iam::Client::new(&moto.config_in(other_account).await.unwrap());
    iam_b
        .create_role()
        .role_name("KeyleakResponder")
        .assume_role_policy_document(format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{OWN_ACCOUNT}:root"}},"Action":"sts:AssumeRole"}}]}}"#
        ))
        .send()
        .await
        .unwrap();
    let seeded = seed::ci_user(&iam_b, "payments-ci").await;

    let app = App::start(
        moto.own_config().await,
        Options {
            role_arn_template: Some("arn:aws:iam::{account}:role/KeyleakResponder".into()),
            ..Options::default()
        },
    )
    .await;
    let id = app.contain(&seeded.leaked.id, "").await;
    let incident = app.wait_for_state(&id, IncidentState::Contained).await;
    assert_eq!(incident.account.unwrap().as_str(), other_account);
    assert_eq!(
        seed::key_status(&iam_b, "payments-ci", &seeded.leaked.id).await,
        StatusType::Inactive
    );
    assert_eq!(
        seed::key_status(&iam_b, "payments-ci", &seeded.other.id).await,
        StatusType::Active
    );
    let fence = policy::session_fence(&id, incident.fence_time);
    seed::user_policy(&iam_b, "payments-ci", &fence.name).await;
    let replies = app.slack.replies_to(&app.slack.top_level()[0].ts);
    assert!(
        replies[0].text.contains("responder role"),
        "{}",
        replies[0].text
    );
}

#[tokio::test]
async fn another_account_without_a_role_template_fails_clearly_and_changes_nothing() {
    let moto = Moto::start().await.unwrap();
    let iam_c = aws_sdk_iam::Client::new(&moto.config_in("333333333333").await.unwrap());
    let seeded = seed::ci_user(&iam_c, "stranger").await;
    let app = App::start(moto.own_config().await, Options::default()).await;

    let id = app.contain(&seeded.leaked.id, "").await;
    app.wait_for_state(&id, IncidentState::Failed).await;
    assert_eq!(
        seed::key_status(&iam_c, "stranger", &seeded.leaked.id).await,
        StatusType::Active
    );
    let replies = app.slack.replies_to(&app.slack.top_level()[0].ts);
    assert_eq!(replies.len(), 1);
    assert!(
        replies[0].text.contains("333333333333"),
        "{}",
        replies[0].text
    );
    assert!(
        replies[0].text.contains("KEYLEAK_ROLE_ARN_TEMPLATE"),
        "{}",
        replies[0].text
    );
}

#[tokio::test]
async fn double_submit_reuses_the_incident_and_runs_each_step_once() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let app = App::start(moto.own_config().await, Options::default()).await;

    let text = format!("contain {}", seeded.leaked.id);
    let (a, b, c) = tokio::join!(app.command(&text), app.command(&text), app.command(&text));
    for r in [a, b, c] {
        assert_eq!(r.status(), 200);
    }
    let open = app.store.open_incidents(50).await.unwrap();
    assert_eq!(open.len(), 1, "one incident for one key");
    app.wait_for_state(&open[0].id, IncidentState::Contained)
        .await;

    // And once more after containment: nothing runs again.
    let again: Value = app.command(&text).await.json().await.unwrap();
    assert!(
        again["text"]
            .as_str()
            .unwrap()
            .contains("already has an open incident")
    );
    // Settled again, with no job queued by the second command.
    app.wait_for_state(&open[0].id, IncidentState::Contained)
        .await;
    assert_eq!(app.slack.top_level().len(), 1);
    assert_eq!(
        app.slack.replies_to(&app.slack.top_level()[0].ts).len(),
        StepKind::ALL.len() + 2,
        "the steps, what the key could do, and one forensics message"
    );
    let audit = app.store.audit_log(None).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action.name() == "contain.open")
            .count(),
        1
    );
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action.name() == "contain.reuse")
            .count(),
        3
    );
}

#[tokio::test]
async fn a_temporary_key_whose_issuer_cannot_be_looked_up_fails_without_pretending() {
    // moto has no CloudTrail: the issuer of a temporary key cannot be found, and that is a
    // failure to retry, not a containment.
    let moto = Moto::start().await.unwrap();
    let creds = moto
        .assume(&format!("arn:aws:iam::{OWN_ACCOUNT}:role/app"))
        .await
        .unwrap();
    let app = App::start(moto.own_config().await, Options::default()).await;
    let id = app.contain(&creds.access_key_id, "").await;
    app.wait_for_state(&id, IncidentState::Failed).await;
    let steps = app.store.steps(&id).await.unwrap();
    let kinds: Vec<StepKind> = steps.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [StepKind::LocateAccount, StepKind::FindOrigin]);
    assert_eq!(steps[1].status, StepStatus::Failed);
    let top = &app.slack.top_level()[0];
    let replies = app.slack.replies_to(&top.ts);
    let failed = &replies.last().unwrap().text;
    assert!(failed.contains("Failed"), "{failed}");
    assert!(failed.contains("again to retry"), "{failed}");
}

#[tokio::test]
async fn a_response_url_off_slacks_hosts_is_never_called() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let app = App::start(moto.own_config().await, Options::default()).await;
    // A listener on another origin that counts what reaches it.
    let elsewhere = FakeSlack::start().await.unwrap();
    let r = app
        .command_with(
            RESPONDER,
            &format!("contain {}", seeded.leaked.id),
            &elsewhere.response_url(),
        )
        .await;
    assert_eq!(r.status(), 200);
    let id = app.only_incident().await;
    // Contained with no job left: the requester's answer has gone wherever it was going.
    app.wait_for_state(&id, IncidentState::Contained).await;
    assert!(elsewhere.calls().is_empty() && elsewhere.responses().is_empty());
    assert!(app.slack.responses().is_empty());
}

/// Slack accepts connections and never answers: every key is still deactivated, every
/// incident settles, and once Slack answers again each incident gets its card and replies.
#[tokio::test]
async fn a_slack_that_never_answers_holds_no_key_active() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let mut keys = vec![];
    for n in 0..10 {
        keys.push(seed::ci_user(&iam, &format!("svc-{n}")).await);
    }
    let quick = keyleak::config::SlackTimeouts {
        connect: std::time::Duration::from_secs(1),
        total: std::time::Duration::from_secs(10),
    };
    let app = App::start(
        moto.own_config().await,
        Options {
            rooms: true,
            slack_timeouts: quick,
            ..Options::default()
        },
    )
    .await;
    app.slack.hang_all(true);
    for k in &keys {
        app.contain(&k.leaked.id, "found in a build log").await;
    }

    let store = app.store.clone();
    let settled = wait_until(std::time::Duration::from_secs(60), move || {
        let store = store.clone();
        async move {
            let open = store.open_incidents(50).await.ok()?;
            (open.len() == 10 && open.iter().all(|i| i.state == IncidentState::Contained))
                .then_some(())
        }
    })
    .await;
    assert!(settled.is_some(), "every incident settles without Slack");
    for k in &keys {
        assert_eq!(
            seed::key_status(&iam, &k.user, &k.leaked.id).await,
            StatusType::Inactive,
            "{}",
            k.user
        );
    }
    assert!(app.slack.messages().is_empty());

    // Slack is back: the announcements are tried again and each incident is said once.
    app.slack.hang_all(false);
    let store = app.store.clone();
    let said = wait_until(std::time::Duration::from_secs(150), move || {
        let store = store.clone();
        async move {
            for i in store.open_incidents(50).await.ok()? {
                i.slack_ts.as_ref()?;
                if store.announcement_pending(&i.id).await.ok()? {
                    return None;
                }
            }
            Some(())
        }
    })
    .await;
    assert!(
        said.is_some(),
        "every incident is announced once Slack answers"
    );
    let rooms: Vec<_> = app
        .slack
        .channels()
        .into_iter()
        .filter(|c| c.id != fake_slack::CHANNEL)
        .collect();
    assert_eq!(
        rooms.len(),
        10,
        "one room per incident, however often it was tried"
    );
    for i in app.store.open_incidents(50).await.unwrap() {
        let ts = i.slack_ts.clone().unwrap();
        let replies = app.slack.replies_to(&ts);
        for k in StepKind::ALL {
            let title = keyleak::slack::messages::step_title(k);
            let n = replies.iter().filter(|r| r.text.starts_with(title)).count();
            assert_eq!(n, 1, "{title} said once for {}", i.id);
        }
    }
}

/// A flood of contains for keys IAM does not have, queued before a real one from another
/// responder: the real one is taken up next, not after the flood; each junk incident ends at
/// once without a room, and its requester is told why.
#[tokio::test]
async fn junk_contains_end_at_once_and_a_real_one_does_not_queue_behind_them() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let mut app = App::start(
        moto.own_config().await,
        Options {
            rooms: true,
            start_worker: false,
            commands_per_minute: 1000,
            ..Options::default()
        },
    )
    .await;
    for n in 0..150 {
        let junk = format!("AKIAJUNK{n:012}");
        let r = app.command(&format!("contain {junk}")).await;
        assert_eq!(r.status(), 200);
    }
    let r = app
        .command_as(
            ONCALLER,
            &format!("contain {} the real one", seeded.leaked.id),
        )
        .await;
    assert_eq!(r.status(), 200);
    app.start_worker(keyleak::engine::WorkerSettings::default());
    let key = keyleak::domain::ids::AccessKeyId::parse(&seeded.leaked.id).unwrap();
    let id = app
        .store
        .open_incident_for_key(&key)
        .await
        .unwrap()
        .unwrap()
        .id;
    // Every containment ends before any announcement runs; on PostgreSQL the flood's 150
    // private answers then take tens of seconds (the claim's fair ordering is quadratic in
    // the queue), so they are waited for apart, for longer.
    let store = app.store.clone();
    let told = || {
        let store = store.clone();
        let id = id.clone();
        async move {
            let contained = store.incident(&id).await.ok()?.state == IncidentState::Contained;
            let idle = store.pending_jobs(None).await.ok()? == 0;
            (contained && idle).then_some(())
        }
    };
    wait_until(Duration::from_secs(120), told)
        .await
        .expect("the real key is contained and every junk requester answered");
    // The order the keys were located in: the real one among the first, not the 151st.
    let log = app.store.audit_log(None).await.unwrap();
    let located: Vec<_> = log
        .iter()
        .filter(|a| a.action.name() == "contain.locate_account.done")
        .collect();
    assert_eq!(located.len(), 151);
    let real = located
        .iter()
        .find(|a| a.incident_id.as_ref() == Some(&id))
        .unwrap()
        .at;
    let after = located.iter().filter(|a| a.at > real).count();
    assert!(
        after >= 100,
        "only {after} junk keys were located after the real one"
    );
    assert_eq!(
        seed::key_status(&iam, "ci-deploy", &seeded.leaked.id).await,
        StatusType::Inactive
    );

    let open = app.store.open_incidents(500).await.unwrap();
    assert_eq!(open.len(), 1, "only the real incident stays open");
    let created = app
        .slack
        .calls()
        .iter()
        .filter(|(m, _)| m == "conversations.create")
        .count();
    assert_eq!(created, 1, "no room for a key that does not exist");
    let told = app
        .slack
        .responses()
        .iter()
        .filter(|r| {
            r["text"]
                .as_str()
                .is_some_and(|t| t.contains("has no access key"))
        })
        .count();
    assert_eq!(told, 150, "each junk requester is told why");
}

/// Over `KEYLEAK_COMMANDS_PER_MINUTE` a responder is refused plainly, and nothing is recorded.
#[tokio::test]
async fn a_responder_over_the_per_minute_limit_is_refused() {
    let app = App::start(
        no_aws().await,
        Options {
            start_worker: false,
            commands_per_minute: 5,
            ..Options::default()
        },
    )
    .await;
    for n in 0..5 {
        let r = app.command(&format!("contain AKIAJUNK{n:012}")).await;
        let v: Value = r.json().await.unwrap();
        assert!(v["text"].as_str().unwrap().contains("Containing"), "{v}");
    }
    let r = app.command("contain AKIAJUNK999999999999").await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let text = v["text"].as_str().unwrap();
    assert!(
        text.contains("sent 5 keyleak commands in the last minute"),
        "{text}"
    );
    assert_eq!(app.store.open_incidents(50).await.unwrap().len(), 5);
    // Another responder is not held back by the first one's flood.
    let r = app.command_as(ONCALLER, "status").await;
    let v: Value = r.json().await.unwrap();
    assert!(!v["text"].as_str().unwrap().contains("last minute"), "{v}");
}

/// Opens a connection that sends `prefix`, then one more byte every `every` (at most
/// `bytes`), and reports whether the server closed it within `limit`.
async fn slow_client(
    addr: String,
    prefix: &'static [u8],
    every: std::time::Duration,
    bytes: usize,
    limit: std::time::Duration,
) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(stream) = tokio::net::TcpStream::connect(&addr).await else {
        return true;
    };
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        if wr.write_all(prefix).await.is_err() {
            return;
        }
        for _ in 0..bytes {
            tokio::time::sleep(every).await;
            if wr.write_all(b"a").await.is_err() {
                return;
            }
        }
        std::future::pending::<()>().await;
    });
    let closed = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok();
    writer.abort();
    closed
}

/// Idle connections, slow headers and slow bodies, more than the cap: a signed contain is
/// still answered and run, and every one of them is closed.
#[tokio::test]
async fn idle_and_slow_connections_do_not_keep_a_signed_contain_out() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let limits = keyleak::listener::ListenerLimits {
        header_timeout: std::time::Duration::from_secs(1),
        request_timeout: std::time::Duration::from_secs(2),
        max_connections: 32,
        shutdown_deadline: std::time::Duration::from_secs(2),
    };
    let app = App::start(
        moto.own_config().await,
        Options {
            listener: limits,
            ..Options::default()
        },
    )
    .await;
    let addr = app.url.trim_start_matches("http://").to_string();
    let ms = std::time::Duration::from_millis;
    let limit = std::time::Duration::from_secs(20);
    let mut flood = tokio::task::JoinSet::new();
    for _ in 0..200 {
        flood.spawn(slow_client(addr.clone(), b"", ms(1000), 0, limit));
    }
    for _ in 0..30 {
        flood.spawn(slow_client(
            addr.clone(),
            b"POST /slack/commands HTTP/1.1\r\n",
            ms(200),
            40,
            limit,
        ));
    }
    for _ in 0..20 {
        flood.spawn(slow_client(
            addr.clone(),
            b"POST /slack/commands HTTP/1.1\r\nhost: x\r\ncontent-length: 500\r\n\r\n",
            ms(200),
            60,
            limit,
        ));
    }
    tokio::time::sleep(ms(300)).await;

    let id = app.contain(&seeded.leaked.id, "during a flood").await;
    app.wait_for_state(&id, IncidentState::Contained).await;
    assert_eq!(
        seed::key_status(&iam, "ci-deploy", &seeded.leaked.id).await,
        StatusType::Inactive
    );
    let mut closed = 0;
    while let Some(c) = flood.join_next().await {
        closed += usize::from(c.unwrap());
    }
    assert_eq!(closed, 250, "every idle or slow connection is closed");
    let health = app
        .http
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}
