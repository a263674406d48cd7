//! Several `keyleak serve` processes on one database, as one bot.

use crate::support;

use std::process::{Command, Stdio};
use std::time::Duration;

use aws_sdk_iam::types::StatusType;
use support::*;

use super::{
    Killed, command, free_port, incident_in, post_signed, serve, wait_contained, wait_ready,
};

/// `keyleak serve` as a replica here: the shared channel mode, one region, the bot's own AWS
/// credentials, its output dropped.
fn replica(slack: &FakeSlack, moto: &Moto, db_url: &str, port: u16, approvers: &str) -> Command {
    let mut c = serve(slack, moto, db_url, port);
    c.env("SLACK_BOT_TOKEN", support::fake_slack::TOKEN)
        .env("KEYLEAK_INCIDENT_CHANNEL_MODE", "shared")
        .env("KEYLEAK_APPROVERS", approvers)
        .env("KEYLEAK_REGIONS", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIAKEYLEAKTESTADMIN")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// Two real `keyleak serve` processes on one PostgreSQL database behave as one bot: started
/// together on an empty database, they migrate it once; twenty approvers press Approve at
/// once, their clicks spread over both processes, and the key is deleted once, by one
/// execution.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_serve_processes_on_one_database_execute_an_approval_once() {
    let slack = FakeSlack::start().await.unwrap();
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let db = support::db::TestDb::postgres().await;
    let approvers: Vec<String> = (0..20).map(|n| format!("U0APPR{n:04}")).collect();
    let ports = [free_port(), free_port()];
    let _replicas: Killed = Killed(
        ports
            .iter()
            .map(|port| {
                replica(&slack, &moto, &db.url, *port, &approvers.join(","))
                    .spawn()
                    .unwrap()
            })
            .collect(),
    );
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let http = reqwest::Client::new();
    for url in &urls {
        wait_ready(&http, url).await;
    }
    // Both started together on an empty database: the schema was made once, not fought over.
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
        .fetch_all(&db.pool().await)
        .await
        .unwrap();
    assert_eq!(applied, vec![1, 2, 3, 4, 5], "each migration, applied once");
    let store = db.store().await;
    let ack = command(&http, &urls[0], &format!("contain {}", seeded.leaked.id)).await;
    let id = incident_in(&ack);
    wait_contained(&store, &id).await;
    let cleanup = format!("cleanup {id} delete-key {}", seeded.leaked.id);
    let said = command(&http, &urls[1], &cleanup).await;
    assert!(said.contains("Checking AWS"), "{said}");
    let proposal = wait_until(Duration::from_secs(60), || {
        let (store, id) = (store.clone(), id.clone());
        async move {
            let p = store.proposals(&id).await.ok()?.pop()?;
            p.message.is_some().then_some(p)
        }
    })
    .await
    .expect("the proposal was posted");
    let message = slack
        .message(&proposal.message.as_ref().unwrap().ts)
        .unwrap();
    let clicks: Vec<_> = approvers
        .iter()
        .enumerate()
        .map(|(n, who)| {
            let payload = slack
                .click_payload(who, &message, "proposal.approve")
                .unwrap();
            let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
            post_signed(&http, &urls[n % 2], "/slack/interactions", body)
        })
        .collect();
    for r in futures::future::join_all(clicks).await {
        assert_eq!(r.status(), 200);
    }
    let done = wait_until(Duration::from_secs(60), || {
        let (store, id) = (store.clone(), proposal.id.clone());
        async move {
            let p = store.proposal(&id).await.ok()??;
            (p.state == keyleak::domain::approval::ProposalState::Done).then_some(p)
        }
    })
    .await
    .expect("the proposal ran");
    assert!(done.outcome.is_some());
    let keys = iam
        .list_access_keys()
        .user_name("ci-deploy")
        .send()
        .await
        .unwrap();
    let ids: Vec<&str> = keys
        .access_key_metadata()
        .iter()
        .filter_map(|k| k.access_key_id())
        .collect();
    assert_eq!(
        ids,
        vec![seeded.other.id.as_str()],
        "only the leaked key is gone"
    );
    // Every click answered; one approval, one execution, whichever replica each reached.
    wait_until(Duration::from_secs(30), || {
        let n = approvers
            .iter()
            .filter(|a| !slack.responses_to(a).is_empty())
            .count();
        async move { (n == 20).then_some(()) }
    })
    .await
    .expect("every approver was answered");
    let log = store.audit_log(Some(&id)).await.unwrap();
    let count = |a: &str| log.iter().filter(|e| e.action.name() == a).count();
    assert_eq!(count("proposal.approved"), 1);
    assert_eq!(count("proposal.executing"), 1);
    assert_eq!(count("proposal.done"), 1);
    assert_eq!(count("proposal.refused"), 19);
}

/// A replica killed (SIGKILL) while its containment waits on AWS: another replica on the same
/// database takes the job over once the dead one has gone silent, and finishes it without
/// doing again any step that was recorded (the AWS calls are counted at a proxy).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_mid_containment_is_finished_by_another() {
    let slack = FakeSlack::start().await.unwrap();
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let proxy = support::proxy::AwsProxy::start(&moto.url).await;
    // The deny policies (put together) never get an answer: the playbook stops there.
    proxy.hold(Some("PutUserPolicy"));
    let db = support::db::TestDb::postgres().await;
    // AWS through the proxy, where the calls are counted.
    let through_proxy = |port: u16| {
        replica(&slack, &moto, &db.url, port, "U0APPROVER")
            .env("AWS_ENDPOINT_URL", &proxy.url)
            .spawn()
            .unwrap()
    };
    let http = reqwest::Client::new();
    let first_port = free_port();
    let mut first = Killed(vec![through_proxy(first_port)]);
    let first_url = format!("http://127.0.0.1:{first_port}");
    wait_ready(&http, &first_url).await;
    let ack = command(&http, &first_url, &format!("contain {}", seeded.leaked.id)).await;
    let id = incident_in(&ack);
    wait_until(Duration::from_secs(30), || {
        let held = proxy.count("PutUserPolicy") == 2;
        async move { held.then_some(()) }
    })
    .await
    .expect("the first replica is waiting on AWS");

    let second_port = free_port();
    let _second = Killed(vec![through_proxy(second_port)]);
    wait_ready(&http, &format!("http://127.0.0.1:{second_port}")).await;
    first.0[0].kill().unwrap();
    first.0[0].wait().unwrap();
    proxy.hold(None);

    let store = db.store().await;
    wait_contained(&store, &id).await;
    for (action, calls) in [
        ("GetAccessKeyInfo", 1),
        ("GetAccessKeyLastUsed", 1),
        ("UpdateAccessKey", 1),
        ("GetUser", 1),
        // The two in flight when the first replica died, then the second's.
        ("PutUserPolicy", 4),
    ] {
        assert_eq!(proxy.count(action), calls, "{action}");
    }
    let log = store.audit_log(Some(&id)).await.unwrap();
    for k in keyleak::domain::incident::StepKind::ALL {
        let action = format!("contain.{}.done", k.as_str());
        let n = log.iter().filter(|a| a.action.name() == action).count();
        assert_eq!(n, 1, "{action}");
    }
    assert_eq!(
        seed::key_status(&iam, "ci-deploy", &seeded.leaked.id).await,
        StatusType::Inactive
    );
    assert_eq!(slack.top_level().len(), 1, "the incident announced once");
}
