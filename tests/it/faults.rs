//! Failures the peers do not produce on their own, injected at the wire: AWS's errors as AWS
//! sends them, a database restarting or answering a write that was abandoned.

use crate::support;

use keyleak::domain::incident::{IncidentState, StepKind};
use keyleak::domain::policy;
use keyleak::engine::WorkerSettings;
use support::*;

#[tokio::test]
async fn a_full_inline_policy_budget_falls_back_to_managed_deny_policies() {
    let mut s = Proxied::start().await;
    s.proxy.fail("PutUserPolicy", "LimitExceeded");
    s.app.start_worker(WorkerSettings::default());
    s.app
        .command(&format!("contain {}", s.seeded.leaked.id))
        .await;
    let id = s.app.only_incident().await;
    let incident = s.app.wait_for_state(&id, IncidentState::Contained).await;

    let attached: Vec<String> = s
        .iam
        .list_attached_user_policies()
        .user_name("ci-deploy")
        .send()
        .await
        .unwrap()
        .attached_policies
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| p.policy_name)
        .collect();
    let deny = policy::deny_all(&id);
    let fence = policy::session_fence(&id, incident.fence_time);
    assert!(attached.contains(&deny.name), "{attached:?}");
    assert!(attached.contains(&fence.name), "{attached:?}");
    let arn = format!("arn:aws:iam::123456789012:policy/{}", fence.name);
    let version = s
        .iam
        .get_policy_version()
        .policy_arn(&arn)
        .version_id("v1")
        .send()
        .await
        .unwrap()
        .policy_version
        .unwrap()
        .document
        .unwrap();
    let decoded = percent_encoding::percent_decode_str(&version).decode_utf8_lossy();
    let doc: serde_json::Value = serde_json::from_str(&decoded).unwrap();
    assert_eq!(
        doc,
        serde_json::from_str::<serde_json::Value>(&fence.document).unwrap()
    );
    let top = &s.app.slack.top_level()[0];
    let replies: String = s
        .app
        .slack
        .replies_to(&top.ts)
        .iter()
        .map(|r| r.text.clone())
        .collect();
    assert!(
        replies.contains("inline policy budget was full"),
        "{replies}"
    );
}

#[tokio::test]
async fn access_denied_fails_the_step_and_says_why() {
    let mut s = Proxied::start().await;
    s.proxy.fail("UpdateAccessKey", "AccessDenied");
    s.app.start_worker(WorkerSettings::default());
    s.app
        .command(&format!("contain {}", s.seeded.leaked.id))
        .await;
    let id = s.app.only_incident().await;
    s.app.wait_for_state(&id, IncidentState::Failed).await;
    let top = &s.app.slack.top_level()[0];
    assert!(top.text.contains("containment incomplete"), "{}", top.text);
    let failed: Vec<_> = s
        .app
        .slack
        .replies_to(&top.ts)
        .into_iter()
        .filter(|r| r.text.contains("Failed"))
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].text.contains("access denied"),
        "{}",
        failed[0].text
    );
    // The deny policies, which did not fail, are in place all the same.
    let names = seed::inline_policies(&s.iam, "ci-deploy").await;
    assert_eq!(names.len(), 3, "{names:?}");
}

/// `GetAccessKeyLastUsed` for a root user's key names no IAM user.
const ROOT_KEY_LAST_USED: &str = r#"<GetAccessKeyLastUsedResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <GetAccessKeyLastUsedResult>
    <AccessKeyLastUsed>
      <Region>us-east-1</Region>
      <LastUsedDate>2026-11-22T21:04:00Z</LastUsedDate>
      <ServiceName>ec2</ServiceName>
    </AccessKeyLastUsed>
  </GetAccessKeyLastUsedResult>
  <ResponseMetadata><RequestId>injected-root-0001</RequestId></ResponseMetadata>
</GetAccessKeyLastUsedResponse>"#;

#[tokio::test]
async fn a_root_key_is_escalated_and_nothing_is_changed() {
    let mut s = Proxied::start().await;
    s.proxy.answer("GetAccessKeyLastUsed", ROOT_KEY_LAST_USED);
    s.app.start_worker(WorkerSettings::default());
    s.app
        .command(&format!("contain {}", s.seeded.leaked.id))
        .await;
    let id = s.app.only_incident().await;
    s.app.wait_for_state(&id, IncidentState::Escalated).await;
    assert_eq!(s.proxy.count("UpdateAccessKey"), 0);
    assert_eq!(s.proxy.count("PutUserPolicy"), 0);
    let top = &s.app.slack.top_level()[0];
    let last = s.app.slack.replies_to(&top.ts).pop().unwrap();
    assert!(last.text.contains("root user"), "{}", last.text);
    assert!(last.text.contains("assume-root"), "{}", last.text);
}

/// PostgreSQL restarted in the middle of a containment: every connection cut, and none taken
/// for a few seconds while AWS answers the deny policies. The playbook finishes once the
/// database is back, without repeating a recorded step, and `/readyz` tells the truth meanwhile.
#[tokio::test]
async fn a_database_restart_mid_containment_delays_it_and_repeats_nothing() {
    let db = support::db::TestDb::postgres().await;
    let server = support::tcp_proxy::TcpProxy::start(&db.server()).await;
    let mut s = Proxied::on(Some(db.through(&server))).await;
    s.proxy
        .delay("PutUserPolicy", std::time::Duration::from_secs(3));
    s.app.start_worker(WorkerSettings::default());
    let id = s.app.contain(&s.seeded.leaked.id, "").await;
    // The key's deactivation recorded, the deny policies (put beside it) still on their way.
    let (proxy, store, incident) = (s.proxy.clone(), s.app.store.clone(), id.clone());
    wait_until(std::time::Duration::from_secs(30), move || {
        let n = proxy.count("PutUserPolicy");
        let (store, incident) = (store.clone(), incident.clone());
        async move {
            let steps = store.steps(&incident).await.ok()?;
            let deactivated = steps.iter().any(|x| x.kind == StepKind::DeactivateKey);
            (n == 2 && deactivated).then_some(())
        }
    })
    .await
    .expect("the deny policies are on their way");

    server.down();
    assert_eq!(s.app.readyz().await, (503, "database unreachable".into()));
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    server.up();

    s.app.wait_for_state(&id, IncidentState::Contained).await;
    for (action, calls) in [("UpdateAccessKey", 1), ("GetUser", 1)] {
        assert_eq!(s.proxy.count(action), calls, "{action} ran once");
    }
    let log = s.app.store.audit_log(Some(&id)).await.unwrap();
    for k in StepKind::ALL {
        let action = format!("contain.{}.done", k.as_str());
        let n = log.iter().filter(|a| a.action.name() == action).count();
        assert_eq!(n, 1, "{action}");
    }
    assert_eq!(s.app.readyz().await.0, 200);
    assert_eq!(s.app.slack.top_level().len(), 1);
}

/// A write abandoned while PostgreSQL answers (a killed worker, a drain that ran out) leaves
/// no transaction open on its pooled connection, wherever it stopped. One left open swallows
/// the next borrower's statements: they hold their row locks and never commit, and the
/// containment that takes over waits on them. sqlx 0.9.0 left one when the abort fell in
/// `BEGIN`'s round trip (transact-rs/sqlx#4393); a CI run caught it as a stalled takeover.
#[tokio::test]
async fn a_write_abandoned_at_any_point_leaves_no_transaction_open() {
    use keyleak::domain::incident::{StepFact, StepRecord, StepStatus};
    use sqlx::Row as _;

    let db = support::db::TestDb::postgres().await;
    let store = db.store().await;
    let incident = support::db::new_incident(1);
    let id = incident.id.clone();
    store.open_incident(incident).await.unwrap();
    let watcher = db.pool().await;
    // A failed step is recorded again each time, so every try writes and commits.
    let record = StepRecord {
        kind: StepKind::DeactivateKey,
        status: StepStatus::Failed,
        fact: StepFact::Quarantine { policies: vec![] },
        request_id: None,
        finished_at: chrono::Utc::now(),
        reply_ts: None,
    };
    for turns in 0..120 {
        let audit = keyleak::store::AuditEntry {
            at: chrono::Utc::now(),
            actor: "keyleak".into(),
            action: keyleak::domain::audit::AuditAction::from_name("contain.deactivate_key.failed"),
            incident_id: Some(id.clone()),
            detail: String::new(),
            origin: "test".into(),
        };
        // Abandoned after `turns` passes of the scheduler: early ones fall in acquiring the
        // connection and in BEGIN, later ones in the lock, the inserts and COMMIT.
        tokio::select! {
            biased;
            _ = store.record_step(&id, &record, audit) => {}
            _ = async { for _ in 0..turns { tokio::task::yield_now().await } } => {}
        }
        // The connection goes back to the pool, its rollback sent, on a task of its own.
        let open = wait_until(std::time::Duration::from_secs(5), || {
            let watcher = watcher.clone();
            async move {
                let row = sqlx::query(
                    "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = \
                     current_database() AND state LIKE 'idle in transaction%'",
                )
                .fetch_one(&watcher)
                .await
                .ok()?;
                (row.try_get::<i64, _>("n").ok()? == 0).then_some(())
            }
        })
        .await;
        assert!(
            open.is_some(),
            "a write abandoned after {turns} turns left a transaction open"
        );
    }
}
