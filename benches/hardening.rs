//! Benchmarks of containment under abuse, run with `cargo bench --bench hardening`. Each figure
//! is printed beside its baseline measured in the same run: these machines are shared.
//!
//! (a) Junk flood: the time from a signed `contain` to the key's cut-off steps done, alone and
//!     right after 150 contains of keys IAM does not have, from the same responder.
//! (b) Idle connections: ack latency of signed commands on fresh connections, with no other
//!     connections, and while 1,000 connections are held open idle (each reopened as soon as
//!     the server closes it).

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use keyleak::domain::ids::{AccessKeyId, IncidentId};
use keyleak::domain::incident::IncidentState;
use support::*;

const RUNS: usize = 7;
const JUNK: usize = 150;
const IDLE: usize = 1000;
const ACKS: usize = 200;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn line(name: &str, v: &mut [Duration]) {
    v.sort();
    println!(
        "{name:<44} p50 {:>8.1} ms  p90 {:>8.1} ms  max {:>8.1} ms",
        ms(percentile(v, 0.5)),
        ms(percentile(v, 0.9)),
        ms(*v.last().unwrap())
    );
}

/// Waits until the incident for `key` is contained (other work may still be queued) and
/// returns the time from `sent` to its last cut-off step.
async fn contained_after(app: &App, key: &str, sent: chrono::DateTime<chrono::Utc>) -> Duration {
    let key = AccessKeyId::parse(key).unwrap();
    let store = app.engine.store.clone();
    let id: IncidentId = wait_until(Duration::from_secs(300), move || {
        let (store, key) = (store.clone(), key.clone());
        async move {
            let i = store.open_incident_for_key(&key).await.ok()??;
            (i.state == IncidentState::Contained).then_some(i.id)
        }
    })
    .await
    .expect("contained");
    (app.cut_off_at(&id).await - sent).to_std().unwrap()
}

/// Waits until no job is left, so one run's work does not spill into the next.
async fn idle(app: &App) {
    let store = app.engine.store.clone();
    wait_until(Duration::from_secs(600), move || {
        let store = store.clone();
        async move { (store.pending_jobs(None).await.ok()? == 0).then_some(()) }
    })
    .await
    .expect("every job ends");
}

async fn junk_flood() {
    println!("(a) {JUNK} junk contains, then a real one: time to the key cut off, {RUNS} runs");
    let moto = Moto::start().await;
    let cfg = moto.own_config().await;
    let iam = aws_sdk_iam::Client::new(&cfg);
    let app = Arc::new(
        App::start(
            cfg,
            Options {
                rooms: true,
                commands_per_minute: 100_000,
                ..Options::default()
            },
        )
        .await,
    );
    let (mut alone, mut flooded) = (vec![], vec![]);
    for run in 0..RUNS {
        let s = seed::ci_user(&iam, &format!("alone-{run}")).await;
        let sent = chrono::Utc::now();
        app.command(&format!("contain {}", s.leaked.id)).await;
        alone.push(contained_after(&app, &s.leaked.id, sent).await);
        idle(&app).await;

        let s = seed::ci_user(&iam, &format!("flooded-{run}")).await;
        let junk: Vec<_> = (0..JUNK)
            .map(|n| {
                let app = app.clone();
                tokio::spawn(async move {
                    app.command(&format!("contain AKIAJUNK{run:02}{n:010}"))
                        .await
                        .status()
                })
            })
            .collect();
        for j in junk {
            assert_eq!(j.await.unwrap(), 200);
        }
        let sent = chrono::Utc::now();
        app.command(&format!("contain {}", s.leaked.id)).await;
        flooded.push(contained_after(&app, &s.leaked.id, sent).await);
        idle(&app).await;
    }
    let ratio = {
        alone.sort();
        flooded.sort();
        percentile(&flooded, 0.5).as_secs_f64() / percentile(&alone, 0.5).as_secs_f64()
    };
    line("real contain alone (baseline)", &mut alone);
    line("real contain after 150 junk contains", &mut flooded);
    println!("flooded / alone (median)                     {ratio:.2}x");
}

/// One signed `status` on a connection of its own; its latency.
async fn signed_ack(app: &App, fresh: &reqwest::Client) -> Duration {
    let body = serde_urlencoded::to_string([("user_id", RESPONDER), ("text", "status")]).unwrap();
    let t = Instant::now();
    let r = app.post_signed_with(fresh, "/slack/commands", body).await;
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap();
    t.elapsed()
}

async fn acks(app: &App, fresh: &reqwest::Client) -> Vec<Duration> {
    let mut lat = vec![];
    for _ in 0..ACKS {
        lat.push(signed_ack(app, fresh).await);
    }
    lat
}

/// Holds a connection open without sending anything, and opens another whenever the server
/// closes it, until `stop`.
async fn hold_idle(addr: String, stop: Arc<AtomicBool>) {
    use tokio::io::AsyncReadExt;
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut c) = tokio::net::TcpStream::connect(&addr).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let mut buf = [0u8; 64];
        let _ = tokio::time::timeout(Duration::from_secs(1), c.read(&mut buf)).await;
    }
}

async fn idle_connections() {
    println!("(b) ack latency of {ACKS} signed commands, each on a new connection");
    let app = App::start(
        no_aws().await,
        Options {
            start_worker: false,
            commands_per_minute: 100_000,
            ..Options::default()
        },
    )
    .await;
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut quiet = acks(&app, &fresh).await;
    let stop = Arc::new(AtomicBool::new(false));
    let addr = app.url.trim_start_matches("http://").to_string();
    let holders: Vec<_> = (0..IDLE)
        .map(|_| tokio::spawn(hold_idle(addr.clone(), stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut crowded = acks(&app, &fresh).await;
    stop.store(true, Ordering::Relaxed);
    for h in holders {
        let _ = h.await;
    }
    line("no other connections (baseline)", &mut quiet);
    line("1,000 idle connections held open", &mut crowded);
}

#[tokio::main]
async fn main() {
    let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    if only.as_deref().is_none_or(|o| o == "junk") {
        junk_flood().await;
    }
    if only.as_deref().is_none_or(|o| o == "idle") {
        idle_connections().await;
    }
}
