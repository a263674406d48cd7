//! Several replicas on one database behave as one bot: each job is claimed once, a job queued
//! on one wakes the others at once, and replicas started together migrate the schema once.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use keyleak::domain::audit::AuditAction;
use keyleak::store::{AuditEntry, Claim, NewJob, Work};

use crate::support::db::{TestDb, new_incident};

/// Forty containment jobs, eight workers on two replicas claiming at once until none is
/// left: every job is claimed, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_job_is_claimed_by_one_replica() {
    let db = TestDb::new().await;
    let replicas = [db.store().await, db.store().await];
    for n in 0..40 {
        replicas[0].open_incident(new_incident(n)).await.unwrap();
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let store = replicas[w % 2].clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let by = format!("worker-{w}");
                barrier.wait().await;
                let mut claimed = vec![];
                loop {
                    let which = Claim {
                        by: Some(&by),
                        ..Claim::default()
                    };
                    match store
                        .claim_job(Utc::now(), Duration::seconds(60), which)
                        .await
                    {
                        Ok(Some(job)) => claimed.push(job.id),
                        Ok(None) => return claimed,
                        Err(e) => panic!("claim failed: {e:#}"),
                    }
                }
            })
        })
        .collect();
    let mut all = vec![];
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let distinct: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 40, "every job claimed once: {all:?}");
    assert_eq!(distinct.len(), 40);
}

/// A worker that stalled past its lease and woke after another took its job over can neither
/// end nor requeue that job: its claim's attempt number no longer matches, so the run that took
/// over is the only one (two runs of an announcement would post its replies twice).
#[tokio::test]
async fn a_job_taken_over_is_not_ended_by_the_stalled_run() {
    let db = TestDb::new().await;
    let store = db.store().await;
    store.open_incident(new_incident(1)).await.unwrap();
    let now = Utc::now();
    let claim = |by: &'static str| Claim {
        by: Some(by),
        ..Claim::default()
    };
    let stalled = store
        .claim_job(now, Duration::seconds(60), claim("stalled"))
        .await
        .unwrap()
        .expect("the job is claimed");
    let later = now + Duration::seconds(61);
    let taken = store
        .claim_job(later, Duration::seconds(60), claim("taker"))
        .await
        .unwrap()
        .expect("its lease ran out: taken over");
    assert_eq!(taken.id, stalled.id);
    assert_eq!(taken.attempts, stalled.attempts + 1);

    store
        .retry_job(stalled.id, stalled.attempts, later, "woke late")
        .await
        .unwrap();
    store
        .finish_job(stalled.id, stalled.attempts, later, None)
        .await
        .unwrap();
    assert_eq!(store.pending_jobs(None).await.unwrap(), 1, "still running");
    assert!(
        store
            .claim_job(later, Duration::seconds(60), claim("third"))
            .await
            .unwrap()
            .is_none(),
        "not queued again behind the taker's back"
    );
    store
        .finish_job(taken.id, taken.attempts, later, None)
        .await
        .unwrap();
    assert_eq!(store.pending_jobs(None).await.unwrap(), 0);
}

/// LISTEN/NOTIFY: a replica waiting for work hears of a job another queued, without polling.
/// Its listener connects in the background, so jobs are queued until it hears one.
#[tokio::test]
async fn a_job_queued_on_one_replica_wakes_the_others() {
    let db = TestDb::postgres().await;
    let (queuer, waiter) = (db.store().await, db.store().await);
    let opened = queuer.open_incident(new_incident(1)).await.unwrap();
    let mut heard = tokio::spawn(async move { waiter.queued_elsewhere().await });
    for _ in 0..20 {
        let job = NewJob {
            work: Work::Report,
            incident: opened.incident.id.clone(),
            response_url: None,
        };
        let audit = AuditEntry {
            at: Utc::now(),
            actor: "test".into(),
            action: AuditAction::ReportRequested,
            incident_id: Some(opened.incident.id.clone()),
            detail: String::new(),
            origin: "test".into(),
        };
        queuer.enqueue_job(job, audit).await.unwrap();
        if tokio::time::timeout(StdDuration::from_millis(500), &mut heard)
            .await
            .is_ok()
        {
            return;
        }
    }
    panic!("the other replica never heard of the jobs queued");
}

/// Replicas start together on an empty database: the schema is made once, and all of them
/// work on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_started_together_migrate_once() {
    let db = TestDb::postgres().await;
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move { keyleak::store::SqlStore::connect(&url).await })
        })
        .collect();
    for s in starts {
        let store = s.await.unwrap().expect("every replica starts");
        keyleak::store::Store::ping(&store).await.unwrap();
    }
    let pool = db.pool().await;
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&pool)
            .await
            .unwrap();
    // The version is the table's key: what can go wrong is a start that fails, or a
    // migration missing.
    assert_eq!(applied, vec![1, 2, 3, 4, 5], "each migration, applied once");
}
