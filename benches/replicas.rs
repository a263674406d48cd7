//! Benchmarks of the ways keyleak is deployed, run with `cargo bench --bench replicas`. Each
//! figure is printed beside a baseline measured in the same run: these machines are shared.
//!
//! (a) Socket Mode: bursts of 200 `contain` envelopes sent at once over one of the bot's
//!     connections, from each envelope sent to its acknowledgement (the answer inside it)
//!     received by the fake Slack; beside the same bursts as signed HTTP commands to the same
//!     bot. No worker: the front door only.
//! (b) Takeover: a replica dies (its worker stops, heartbeats and all) while its containment
//!     waits on AWS; from its death to the incident contained by the other replica on the same
//!     PostgreSQL database, beside the silence after which a replica counts as dead (the floor).

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use keyleak::domain::incident::IncidentState;
use keyleak::engine::WorkerSettings;
use support::fake_socket::command_envelope;
use support::*;

const BURST: usize = 200;
const TAKEOVERS: usize = 3;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn key_for(n: usize) -> String {
    format!("AKIASOCKET{n:010}")
}

async fn http_burst(app: &Arc<App>, offset: usize) -> Vec<Duration> {
    let gate = Arc::new(tokio::sync::Barrier::new(BURST));
    let tasks: Vec<_> = (0..BURST)
        .map(|n| {
            let (app, gate) = (app.clone(), gate.clone());
            tokio::spawn(async move {
                gate.wait().await;
                let t = Instant::now();
                let r = app
                    .command(&format!("contain {}", key_for(offset + n)))
                    .await;
                assert_eq!(r.status(), 200);
                t.elapsed()
            })
        })
        .collect();
    let mut lat = vec![];
    for t in tasks {
        lat.push(t.await.unwrap());
    }
    lat.sort();
    lat
}

async fn socket_burst(app: &App, offset: usize) -> Vec<Duration> {
    let url = app.slack.response_url();
    let envelopes: Vec<(String, String)> = (0..BURST)
        .map(|n| {
            let id = format!("bench-{}", offset + n);
            let text = format!("contain {}", key_for(offset + n));
            let frame = command_envelope(&id, RESPONDER, &text, &url).to_string();
            (id, frame)
        })
        .collect();
    let mut sent = vec![];
    for (id, frame) in &envelopes {
        sent.push((id.clone(), Instant::now()));
        app.slack.socket.send_first(frame);
    }
    let acked = wait_until(Duration::from_secs(60), || {
        let at = app.slack.socket.acked_at();
        let all = sent.iter().all(|(id, _)| at.contains_key(id));
        async move { all.then_some(at) }
    })
    .await
    .expect("every envelope acknowledged");
    let mut lat: Vec<Duration> = sent.iter().map(|(id, t)| acked[id] - *t).collect();
    lat.sort();
    lat
}

async fn socket_acks() {
    println!("(a) Socket Mode acks, bursts of {BURST} contain commands, beside HTTP");
    let opts = Options {
        start_worker: false,
        commands_per_minute: 1_000_000,
        socket_mode: true,
        ..Options::default()
    };
    let app = Arc::new(App::start(no_aws().await, opts).await);
    app.slack.socket.wait_connections(2).await.unwrap();
    http_burst(&app, 1_000_000).await;
    socket_burst(&app, 1_100_000).await;
    let (mut http, mut socket) = (vec![], vec![]);
    for round in 0..5 {
        let lat = http_burst(&app, 2_000_000 + round * BURST).await;
        http.push((percentile(&lat, 0.5), percentile(&lat, 0.99)));
        let lat = socket_burst(&app, 3_000_000 + round * BURST).await;
        socket.push((percentile(&lat, 0.5), percentile(&lat, 0.99)));
    }
    for (name, mut rounds) in [("HTTP, signed (baseline)", http), ("Socket Mode", socket)] {
        rounds.sort();
        println!(
            "{name:<26} p50 {:>7.2} ms  p99 {:>7.2} ms  (median of 5 bursts)",
            ms(rounds[2].0),
            ms(rounds[2].1)
        );
    }
}

/// One replica's death mid-containment; the time from it to the incident contained.
async fn takeover(settings: &WorkerSettings) -> Duration {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let proxy = support::proxy::AwsProxy::start(&moto.url).await;
    proxy.hold(Some("PutUserPolicy"));
    let db = support::db::TestDb::postgres().await;
    let replica = |start_worker: bool| {
        let (db, proxy_url) = (db.shared(), proxy.url.clone());
        async move {
            let opts = Options {
                database: Some(db),
                start_worker,
                ..Options::default()
            };
            App::start(aws_through(&proxy_url).await, opts).await
        }
    };
    let mut first = replica(true).await;
    let id = first.contain(&seeded.leaked.id, "").await;
    let held = proxy.clone();
    wait_until(Duration::from_secs(30), move || {
        let n = held.count("PutUserPolicy");
        async move { (n == 2).then_some(()) }
    })
    .await
    .expect("the first replica waits on AWS");
    let mut survivor = replica(false).await;
    survivor.start_worker(settings.clone());
    let died = Instant::now();
    first.kill_worker();
    proxy.hold(None);
    let store = survivor.store.clone();
    wait_until(Duration::from_secs(120), move || {
        let (store, id) = (store.clone(), id.clone());
        async move {
            let i = store.incident(&id).await.ok()?;
            (i.state == IncidentState::Contained).then_some(())
        }
    })
    .await
    .expect("the survivor contained the key");
    died.elapsed()
}

async fn takeovers() {
    let settings = WorkerSettings::default();
    println!(
        "(b) takeover of a dead replica's containment, {TAKEOVERS} runs; a replica silent for {} s counts as dead",
        settings.silent_after.num_seconds()
    );
    let mut runs = vec![];
    for _ in 0..TAKEOVERS {
        runs.push(takeover(&settings).await);
    }
    runs.sort();
    let floor = settings.silent_after.to_std().unwrap_or_default();
    println!(
        "death → contained          median {:>6.2} s  worst {:>6.2} s  (floor: {:.2} s of silence)",
        runs[TAKEOVERS / 2].as_secs_f64(),
        runs[TAKEOVERS - 1].as_secs_f64(),
        floor.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    if only.as_deref().is_none_or(|o| o == "socket") {
        socket_acks().await;
    }
    if only.as_deref().is_none_or(|o| o == "takeover") {
        takeovers().await;
    }
}
