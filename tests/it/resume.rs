//! A worker that dies mid-playbook is taken over when its lease runs out; the new worker
//! finishes the work without repeating a completed step or a Slack reply.

use crate::support;

use std::time::Duration;

use aws_sdk_iam::types::StatusType;
use keyleak::domain::incident::{IncidentState, StepKind};
use keyleak::engine::WorkerSettings;
use support::*;

fn settings() -> WorkerSettings {
    WorkerSettings {
        lease: chrono::Duration::seconds(60),
        poll: Duration::from_millis(50),
        ..WorkerSettings::default()
    }
}

async fn audit_count(app: &App, action: &str) -> usize {
    let log = app.store.audit_log(None).await.unwrap();
    log.iter().filter(|a| a.action.name() == action).count()
}

#[tokio::test]
async fn a_worker_killed_between_steps_is_taken_over_without_repeating_any() {
    let mut s = Proxied::start().await;
    s.proxy.hold(Some("PutUserPolicy"));
    s.app.start_worker(settings());
    let id = s.app.contain(&s.seeded.leaked.id, "").await;

    // Wait until the key is deactivated while both deny policies hang, then "crash".
    let store = s.app.store.clone();
    let id2 = id.clone();
    wait_until(Duration::from_secs(30), move || {
        let store = store.clone();
        let id = id2.clone();
        async move {
            let steps = store.steps(&id).await.ok()?;
            steps
                .iter()
                .any(|x| x.kind == StepKind::DeactivateKey)
                .then_some(())
        }
    })
    .await
    .expect("the key deactivation was recorded");
    s.app.kill_worker();
    let recorded = s.app.store.steps(&id).await.unwrap();
    assert_eq!(
        recorded.len(),
        4,
        "steps 1–4 done, the deny policies in flight"
    );
    assert_eq!(s.proxy.count("GetAccessKeyLastUsed"), 1);

    // A new worker finds nothing to claim while the dead one's lease holds…
    s.proxy.hold(None);
    let worker = keyleak::engine::Worker::new(s.app.engine.clone(), settings());
    assert!(!worker.run_one(None).await.unwrap(), "nothing claimable");
    assert_eq!(s.app.store.steps(&id).await.unwrap().len(), 4);
    s.app.start_worker(settings());

    // …and takes over once it has run out.
    s.clock.advance(chrono::Duration::seconds(61));
    s.app.wait_for_state(&id, IncidentState::Contained).await;

    assert_eq!(s.proxy.count("GetAccessKeyInfo"), 1, "locate ran once");
    assert_eq!(
        s.proxy.count("GetAccessKeyLastUsed"),
        1,
        "last-used ran once"
    );
    assert_eq!(s.proxy.count("UpdateAccessKey"), 1, "deactivation ran once");
    assert_eq!(s.proxy.count("GetUser"), 1, "the snapshot was taken once");
    for k in StepKind::ALL {
        let action = format!("contain.{}.done", k.as_str());
        assert_eq!(audit_count(&s.app, &action).await, 1, "{action}");
    }
    assert_eq!(
        seed::key_status(&s.iam, "ci-deploy", &s.seeded.leaked.id).await,
        StatusType::Inactive
    );
    let top = s.app.slack.top_level();
    assert_eq!(top.len(), 1, "the incident message was posted once");
    assert_eq!(
        s.app.slack.replies_to(&top[0].ts).len(),
        StepKind::ALL.len() + 1,
        "each step's reply once, and the forensics message"
    );
}

#[tokio::test]
async fn a_worker_killed_while_reporting_resumes_the_replies_only() {
    let mut s = Proxied::start().await;
    // The incident message and two replies go through; the third reply never answers.
    s.app.slack.hang_after_posts(Some(3));
    s.app.start_worker(settings());
    let id = s.app.contain(&s.seeded.leaked.id, "").await;
    let slack = s.app.slack.clone();
    wait_until(Duration::from_secs(30), move || {
        let (n, held) = (slack.messages().len(), slack.held_posts());
        async move { (n == 3 && held > 0).then_some(()) }
    })
    .await
    .expect("two replies posted, the third held");
    s.app.kill_worker();
    let calls_before = s.proxy.count("UpdateAccessKey") + s.proxy.count("PutUserPolicy");

    s.app.slack.hang_after_posts(None);
    s.clock.advance(chrono::Duration::seconds(61));
    s.app.start_worker(settings());
    s.app.wait_for_state(&id, IncidentState::Contained).await;

    assert_eq!(
        s.proxy.count("UpdateAccessKey") + s.proxy.count("PutUserPolicy"),
        calls_before,
        "no AWS step ran again"
    );
    let top = s.app.slack.top_level();
    assert_eq!(top.len(), 1);
    // A post already on the wire when the worker died may reach Slack and be posted again by
    // the next attempt (chat.postMessage has no idempotency key): at most that one reply is
    // doubled. The investigation's progress message runs beside the announcement and may be
    // that post. What this test pins is that the step replies are not all posted again.
    let replies = s.app.slack.replies_to(&top[0].ts);
    let texts: Vec<&str> = replies
        .iter()
        .map(|r| r.text.as_str())
        .filter(|t| !t.starts_with(":mag: Investigating"))
        .collect();
    let mut distinct = texts.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        StepKind::ALL.len() + 2,
        "each reply, what the key could do, and the forensics message: {texts:#?}"
    );
    assert!(
        texts.len() <= distinct.len() + 1,
        "only the post in flight at the kill may be doubled: {texts:#?}"
    );
}

#[tokio::test]
async fn a_failed_containment_is_retried_by_containing_again() {
    let mut s = Proxied::start().await;
    s.app.start_worker(settings());
    // The key is located, then GetAccessKeyLastUsed is refused, so the incident fails after
    // one done step.
    s.proxy.fail("GetAccessKeyLastUsed", "AccessDenied");
    let bogus = s.seeded.leaked.id.clone();
    s.app.command(&format!("contain {bogus}")).await;
    let id = s.app.only_incident().await;
    s.app.wait_for_state(&id, IncidentState::Failed).await;
    let first = s.app.store.steps(&id).await.unwrap();
    assert_eq!(first.len(), 2, "located, then last-used failed");

    let r: serde_json::Value = s
        .app
        .command(&format!("contain {bogus}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(r["text"].as_str().unwrap().contains("retrying"), "{r}");
    s.app.wait_for_state(&id, IncidentState::Failed).await;
    assert_eq!(audit_count(&s.app, "contain.retry").await, 1);
    assert_eq!(
        s.proxy.count("GetAccessKeyInfo"),
        1,
        "the done step was not repeated"
    );
    assert_eq!(
        s.proxy.count("GetAccessKeyLastUsed"),
        2,
        "the failed step was retried"
    );
}

#[tokio::test]
async fn a_stopping_worker_waits_for_a_hung_job_only_as_long_as_its_drain() {
    let mut s = Proxied::start().await;
    s.proxy.hold(Some("PutUserPolicy"));
    let worker = keyleak::engine::Worker::new(
        s.app.engine.clone(),
        WorkerSettings {
            drain: Duration::from_millis(200),
            ..settings()
        },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    let id = s.app.contain(&s.seeded.leaked.id, "").await;
    let proxy = s.proxy.clone();
    wait_until(Duration::from_secs(30), move || {
        let held = proxy.count("PutUserPolicy") > 0;
        async move { held.then_some(()) }
    })
    .await
    .expect("the deny policies are in flight");

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the worker stopped although its job hung")
        .unwrap();
    let held = s.app.store.incident(&id).await.unwrap();
    assert_eq!(
        held.state,
        IncidentState::Containing,
        "the job is left unfinished"
    );
    assert!(s.app.store.pending_jobs(None).await.unwrap() >= 1);

    // The job was left to its lease: the next worker finishes it.
    s.proxy.hold(None);
    s.app.start_worker(settings());
    s.clock.advance(chrono::Duration::seconds(61));
    s.app.wait_for_state(&id, IncidentState::Contained).await;
}

/// A job whose worker dies every time it runs it (as a crash or an out-of-memory kill would)
/// is given up after `max_attempts`, and said so, instead of killing every next worker.
#[tokio::test]
async fn a_job_whose_worker_keeps_dying_is_given_up_and_said_so() {
    let mut s = Proxied::start().await;
    s.proxy.hold(Some("PutUserPolicy"));
    let limited = WorkerSettings {
        max_attempts: 3,
        ..settings()
    };
    let id = s.app.contain(&s.seeded.leaked.id, "").await;
    for round in 1..=3 {
        s.app.start_worker(limited.clone());
        let proxy = s.proxy.clone();
        let store = s.app.store.clone();
        let probe = id.clone();
        // The incident's card is out before the first death: only containment dies here.
        wait_until(Duration::from_secs(30), move || {
            let held = proxy.count("PutUserPolicy") >= 2 * round;
            let (store, id) = (store.clone(), probe.clone());
            async move {
                let said = store.incident(&id).await.ok()?.slack_ts.is_some()
                    && !store.announcement_pending(&id).await.ok()?;
                (held && said).then_some(())
            }
        })
        .await
        .expect("the job is running again");
        s.app.kill_worker();
        s.clock.advance(chrono::Duration::seconds(61));
    }
    s.app.start_worker(limited);
    let store = s.app.store.clone();
    let probe = id.clone();
    let failed = wait_until(Duration::from_secs(30), move || {
        let (store, id) = (store.clone(), probe.clone());
        async move {
            let i = store.incident(&id).await.ok()?;
            (i.state == IncidentState::Failed).then_some(i)
        }
    })
    .await
    .expect("the incident is marked failed");
    assert_eq!(audit_count(&s.app, "job.abandoned").await, 1);
    assert_eq!(
        s.proxy.count("PutUserPolicy"),
        6,
        "not taken over a fourth time"
    );
    let thread = failed.slack_ts.expect("the incident has its thread");
    let slack = s.app.slack.clone();
    let note = wait_until(Duration::from_secs(10), move || {
        let replies = slack.replies_to(&thread);
        async move {
            replies
                .into_iter()
                .find(|r| r.text.contains("gave up its *contain* work"))
        }
    })
    .await
    .expect("the thread says so");
    assert!(note.text.contains("stopped 3 times"), "{}", note.text);
}

/// A restarted process (a new worker) takes over the containment its dead predecessor was
/// running as soon as that one falls silent, not a whole lease later.
#[tokio::test]
async fn a_restarted_worker_resumes_containment_once_the_old_one_is_silent() {
    let mut s = Proxied::start().await;
    s.proxy.hold(Some("PutUserPolicy"));
    s.app.start_worker(settings());
    let id = s.app.contain(&s.seeded.leaked.id, "").await;
    let proxy = s.proxy.clone();
    wait_until(Duration::from_secs(30), move || {
        let held = proxy.count("PutUserPolicy") >= 2;
        async move { held.then_some(()) }
    })
    .await
    .expect("the deny policies are in flight");
    s.app.kill_worker();
    s.proxy.hold(None);

    // Well within the 60 s lease, but past the silence that marks a worker dead.
    s.clock
        .advance(settings().silent_after + chrono::Duration::seconds(1));
    s.app.start_worker(settings());
    s.app.wait_for_state(&id, IncidentState::Contained).await;
    assert_eq!(
        seed::key_status(&s.iam, "ci-deploy", &s.seeded.leaked.id).await,
        StatusType::Inactive
    );
}
