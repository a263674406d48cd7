//! Benchmarks (docs/design.md §8), run with `cargo bench --bench keyleak`. Each figure is printed
//! beside a baseline measured in the same run, because machines here are shared and noisy.
//!
//! (a) Ack latency of signed `/keyleak contain` commands under concurrent load, beside
//!     `GET /healthz` under the same load (the HTTP stack's floor).
//! (b) Time to contain against moto — from sending the signed command to the key inactive and
//!     both deny policies in place — beside a plain script making the same AWS calls one
//!     after another with the SDK; and the same with a private incident room per incident,
//!     which is opened beside containment and must not delay it.
//! (c) Approval: the answer to 20 simultaneous signed Approve clicks on one proposal, beside
//!     `GET /healthz` under the same 20-way burst; and from the clicks to the key deleted in
//!     moto, beside one plain SDK `DeleteAccessKey` call.
//! (d) The card: from the key inactive (the deactivation step's end) to the incident card in
//!     its room saying so, as people in the room see it, while the room's step replies and the
//!     forensics that follows containment go out too; beside the end of containment itself
//!     (the floor the card cannot beat). Once with the fake Slack answering at once, once with
//!     every Slack call taking 150 ms, as Slack's own answers do.

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use keyleak::domain::incident::IncidentState;
use support::*;

const CONCURRENCY: usize = 200;
const REQUESTS: usize = 4000;
const CONTAIN_RUNS: usize = 15;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `AKIA` + 16 characters from a counter, so every request opens its own incident.
fn key_for(n: usize) -> String {
    format!("AKIABENCH{n:011}")
}

async fn load<F, Fut>(make: F) -> (Vec<Duration>, Duration)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = u16> + Send,
{
    let make = Arc::new(make);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = vec![];
    for _ in 0..CONCURRENCY {
        let make = make.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = vec![];
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= REQUESTS {
                    return lat;
                }
                let t = Instant::now();
                let status = make(n).await;
                assert_eq!(status, 200);
                lat.push(t.elapsed());
            }
        }));
    }
    let mut all = vec![];
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let wall = start.elapsed();
    all.sort();
    (all, wall)
}

fn report(name: &str, lat: &[Duration], wall: Duration) {
    println!(
        "{name:<28} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  {:>8.0} req/s",
        ms(percentile(lat, 0.5)),
        ms(percentile(lat, 0.99)),
        ms(*lat.last().unwrap()),
        lat.len() as f64 / wall.as_secs_f64()
    );
}

/// The case: 200 signed commands arriving at the same instant, each timed.
async fn burst(app: &Arc<App>, offset: usize) -> Vec<Duration> {
    burst_over(std::slice::from_ref(app), offset).await
}

/// A burst spread over replicas: request n goes to replica n mod their number.
async fn burst_over(apps: &[Arc<App>], offset: usize) -> Vec<Duration> {
    let mut tasks = vec![];
    let gate = Arc::new(tokio::sync::Barrier::new(CONCURRENCY));
    for n in 0..CONCURRENCY {
        let (app, gate) = (apps[n % apps.len()].clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            gate.wait().await;
            let t = Instant::now();
            let r = app
                .command(&format!("contain {}", key_for(offset + n)))
                .await;
            assert_eq!(r.status(), 200);
            t.elapsed()
        }));
    }
    let mut lat = vec![];
    for t in tasks {
        lat.push(t.await.unwrap());
    }
    lat.sort();
    lat
}

async fn ack_latency() {
    println!("(a) ack latency, {REQUESTS} signed requests, {CONCURRENCY} concurrent clients");
    // No worker: this measures the front door (verify, parse, roster, store the incident and
    // its job, answer), not the playbook.
    let app = Arc::new(
        App::start(
            no_aws().await,
            Options {
                start_worker: false,
                commands_per_minute: 1_000_000,
                ..Options::default()
            },
        )
        .await,
    );
    // Warm the connection pool, then time bursts of 200 simultaneous new-incident commands.
    burst(&app, 1_000_000).await;
    let mut worst = vec![];
    for round in 0..5 {
        let lat = burst(&app, 2_000_000 + round * CONCURRENCY).await;
        worst.push((percentile(&lat, 0.5), percentile(&lat, 0.99)));
    }
    worst.sort();
    println!(
        "burst of {CONCURRENCY} contain commands  p50 {:>7.2} ms  p99 {:>7.2} ms  (median of 5 bursts)",
        ms(worst[2].0),
        ms(worst[2].1)
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    let (url, c) = (app.url.clone(), client.clone());
    let (lat, wall) = load(move |_| {
        let (url, c) = (url.clone(), c.clone());
        async move {
            c.get(format!("{url}/healthz"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    })
    .await;
    report("GET /healthz (baseline)", &lat, wall);
    let a = app.clone();
    let (lat, wall) = load(move |n| {
        let a = a.clone();
        async move {
            a.command(&format!("contain {}", key_for(n)))
                .await
                .status()
                .as_u16()
        }
    })
    .await;
    report("signed contain (new incident)", &lat, wall);
    let a = app.clone();
    let (lat, wall) = load(move |_| {
        let a = a.clone();
        async move { a.command("status").await.status().as_u16() }
    })
    .await;
    report("signed status", &lat, wall);
}

/// (e) The same bursts on each store, one run: the median of 5 bursts of 200 simultaneous
/// signed contain commands on SQLite, on PostgreSQL with one replica and with two sharing the
/// database (the commands alternate between them), beside `GET /healthz` under the same burst.
async fn ack_on_stores() {
    println!("(e) ack latency by store, bursts of {CONCURRENCY} simultaneous signed commands");
    let start = |database: support::db::TestDb| async move {
        let opts = Options {
            start_worker: false,
            commands_per_minute: 1_000_000,
            database: Some(database),
            ..Options::default()
        };
        Arc::new(App::start(no_aws().await, opts).await)
    };
    let sqlite = start(support::db::TestDb::sqlite()).await;
    let postgres = start(support::db::TestDb::postgres().await).await;
    let second = start(postgres.db.shared()).await;
    // The commands' own client, so that its connections are the ones the listener keeps.
    let gate = Arc::new(tokio::sync::Barrier::new(CONCURRENCY));
    let probes: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (c, gate, url) = (sqlite.http.clone(), gate.clone(), sqlite.url.clone());
            tokio::spawn(async move {
                gate.wait().await;
                let t = Instant::now();
                let r = c.get(format!("{url}/healthz")).send().await.unwrap();
                assert_eq!(r.status(), 200);
                t.elapsed()
            })
        })
        .collect();
    let mut health = vec![];
    for p in probes {
        health.push(p.await.unwrap());
    }
    health.sort();
    println!(
        "{:<28} p50 {:>7.2} ms  p99 {:>7.2} ms  (one burst)",
        "GET /healthz (baseline)",
        ms(percentile(&health, 0.5)),
        ms(percentile(&health, 0.99))
    );
    for (name, apps) in [
        ("SQLite, one process", vec![sqlite]),
        ("PostgreSQL, one replica", vec![postgres.clone()]),
        ("PostgreSQL, two replicas", vec![postgres, second]),
    ] {
        burst_over(&apps, 1_000_000).await;
        let mut rounds = vec![];
        for round in 0..5 {
            let lat = burst_over(&apps, 2_000_000 + round * CONCURRENCY).await;
            rounds.push((percentile(&lat, 0.5), percentile(&lat, 0.99)));
        }
        rounds.sort();
        println!(
            "{name:<28} p50 {:>7.2} ms  p99 {:>7.2} ms  (median of 5 bursts)",
            ms(rounds[2].0),
            ms(rounds[2].1)
        );
    }
}

/// Sends `contain` for the key and returns the time from sending to the last cut-off step.
async fn contain_timed(app: &App, key: &str) -> Duration {
    let sent = chrono::Utc::now();
    let r = app.command(&format!("contain {key}")).await;
    assert_eq!(r.status(), 200);
    let id = app.incident_for(key).await;
    app.wait_for_state(&id, IncidentState::Contained).await;
    (app.cut_off_at(&id).await - sent).to_std().unwrap()
}

async fn time_to_contain() {
    println!("(b) time to contain against moto, {CONTAIN_RUNS} runs each, interleaved");
    let moto = Moto::start().await.unwrap();
    let cfg = moto.own_config().await;
    let iam = aws_sdk_iam::Client::new(&cfg);
    let sts = aws_sdk_sts::Client::new(&cfg);
    let app = App::start(cfg.clone(), Options::default()).await;
    // The same bot opening a private room per incident: the room must not delay containment.
    let rooms = App::start(
        cfg.clone(),
        Options {
            rooms: true,
            ..Options::default()
        },
    )
    .await;
    let (mut bot, mut roomed, mut script) = (vec![], vec![], vec![]);
    for run in 0..CONTAIN_RUNS {
        let s = seed::ci_user(&iam, &format!("script-{run}")).await;
        let t = Instant::now();
        runbook::plain_script(&iam, &sts, &s.user, &s.leaked.id).await;
        script.push(t.elapsed());

        let s = seed::ci_user(&iam, &format!("bot-{run}")).await;
        bot.push(contain_timed(&app, &s.leaked.id).await);
        let s = seed::ci_user(&iam, &format!("room-{run}")).await;
        roomed.push(contain_timed(&rooms, &s.leaked.id).await);
    }
    let made = rooms.slack.channels().len() - 1;
    assert_eq!(made, CONTAIN_RUNS, "every incident got its room");
    bot.sort();
    roomed.sort();
    script.sort();
    let line = |name: &str, v: &[Duration]| {
        println!(
            "{name:<28} median {:>7.1} ms  p90 {:>7.1} ms  min {:>7.1} ms",
            ms(percentile(v, 0.5)),
            ms(percentile(v, 0.9)),
            ms(v[0])
        )
    };
    line("plain SDK script (baseline)", &script);
    line("keyleak, signed command", &bot);
    line("keyleak, incident room", &roomed);
    let ratio =
        |v: &[Duration]| percentile(v, 0.5).as_secs_f64() / percentile(&script, 0.5).as_secs_f64();
    println!("keyleak / script (median)    {:.2}x", ratio(&bot));
    println!("room / script (median)       {:.2}x", ratio(&roomed));
}

const CARD_RUNS: usize = 10;
/// Slack's Web API methods keyleak calls while containing, each slowed in the second pass.
const SLACK_METHODS: [&str; 6] = [
    "chat.postMessage",
    "chat.update",
    "conversations.create",
    "conversations.invite",
    "conversations.setTopic",
    "pins.add",
];

/// When the card of `id` first said the key was deactivated, and when that step ended.
async fn card_said(app: &App, id: &keyleak::domain::ids::IncidentId) -> (Duration, Duration) {
    let incident = app.wait_for_state(id, IncidentState::Contained).await;
    let card = incident.slack_ts.expect("the incident has a card");
    let steps = app.store.steps(id).await.unwrap();
    let deactivated = steps
        .iter()
        .find(|s| s.kind == keyleak::domain::incident::StepKind::DeactivateKey)
        .expect("the key was deactivated")
        .finished_at;
    let said = app
        .slack
        .history()
        .into_iter()
        .find(|(_, m)| {
            m.ts == card
                && m.blocks
                    .to_string()
                    .contains(":white_check_mark: Key deactivated")
        })
        .expect("the card said the key is deactivated")
        .0;
    let inactive = std::time::SystemTime::from(deactivated);
    let lag = said.duration_since(inactive).unwrap_or_default();
    let floor = (app.cut_off_at(id).await - deactivated)
        .to_std()
        .unwrap_or_default();
    (lag, floor)
}

async fn card_latency() {
    println!(
        "(d) key inactive -> card says so, {CARD_RUNS} incidents each with a room and forensics"
    );
    let moto = Moto::start().await.unwrap();
    let cfg = moto.own_config().await;
    let iam = aws_sdk_iam::Client::new(&cfg);
    for slack_ms in [0, 150] {
        let app = App::start(
            cfg.clone(),
            Options {
                rooms: true,
                ..Options::default()
            },
        )
        .await;
        for m in SLACK_METHODS {
            app.slack.slow_method(m, Duration::from_millis(slack_ms));
        }
        let (mut lags, mut floors) = (vec![], vec![]);
        for run in 0..CARD_RUNS {
            let s = seed::ci_user(&iam, &format!("card-{slack_ms}-{run}")).await;
            let r = app.command(&format!("contain {}", s.leaked.id)).await;
            assert_eq!(r.status(), 200);
            let id = app.incident_for(&s.leaked.id).await;
            let (lag, floor) = card_said(&app, &id).await;
            lags.push(lag);
            floors.push(floor);
            // Incidents one after another at Slack's pace for opening rooms (Tier 2, about
            // 20 a minute), not a flood of them.
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        lags.sort();
        floors.sort();
        let line = |name: &str, v: &[Duration]| {
            println!(
                "{name:<44} p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms",
                ms(percentile(v, 0.5)),
                ms(percentile(v, 0.99)),
                ms(v[v.len() - 1])
            )
        };
        line(
            &format!("Slack +{slack_ms} ms: inactive -> contained (floor)"),
            &floors,
        );
        line(
            &format!("Slack +{slack_ms} ms: inactive -> card says so"),
            &lags,
        );
    }
}

const APPROVE_RUNS: usize = 10;
const CLICKS: usize = 20;

/// Runs `make` CLICKS times at the same instant; returns each one's latency.
async fn gate_burst<F, Fut>(make: F) -> Vec<Duration>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = u16> + Send + 'static,
{
    let make = Arc::new(make);
    let gate = Arc::new(tokio::sync::Barrier::new(CLICKS));
    let mut tasks = vec![];
    for n in 0..CLICKS {
        let (make, gate) = (make.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            gate.wait().await;
            let t = Instant::now();
            assert_eq!(make(n).await, 200);
            t.elapsed()
        }));
    }
    let mut lat = vec![];
    for t in tasks {
        lat.push(t.await.unwrap());
    }
    lat
}

async fn approval() {
    println!("(c) approval, {APPROVE_RUNS} proposals, {CLICKS} simultaneous Approve clicks each");
    let moto = Moto::start().await.unwrap();
    let cfg = moto.own_config().await;
    let iam = aws_sdk_iam::Client::new(&cfg);
    let app = Arc::new(App::start(cfg.clone(), Options::default()).await);
    let approvers: Vec<String> = (0..CLICKS).map(|n| format!("U0BENCH{n:04}")).collect();
    let names: Vec<&str> = approvers.iter().map(String::as_str).collect();
    app.slack.add_group(APPROVERS_GROUP, &names);
    let approvers = Arc::new(approvers);
    let (mut clicks, mut health, mut to_gone, mut plain) = (vec![], vec![], vec![], vec![]);
    for run in 0..APPROVE_RUNS {
        let user = format!("approve-{run}");
        let (id, _) = proposals::contained(&app, &iam, &user).await;
        let p = proposals::propose(&app, &id, "").await;
        let m = Arc::new(proposals::message_of(&app, &p));

        let url = format!("{}/healthz", app.url);
        let http = app.http.clone();
        health.extend(
            gate_burst(move |_| {
                let (http, url) = (http.clone(), url.clone());
                async move { http.get(url).send().await.unwrap().status().as_u16() }
            })
            .await,
        );
        let sent = chrono::Utc::now();
        let (a, who, msg) = (app.clone(), approvers.clone(), m.clone());
        clicks.extend(
            gate_burst(move |n| {
                let (a, who, msg) = (a.clone(), who.clone(), msg.clone());
                async move {
                    a.click(&who[n], &msg, "proposal.approve")
                        .await
                        .status()
                        .as_u16()
                }
            })
            .await,
        );
        proposals::wait_proposal(&app, &p, keyleak::domain::approval::ProposalState::Done).await;
        let log = app.store.audit_log(Some(&id)).await.unwrap();
        let done = log
            .iter()
            .find(|e| e.action.name() == "proposal.done")
            .unwrap();
        to_gone.push((done.at - sent).to_std().unwrap());

        let spare = seed::create_key(&iam, &user).await;
        let t = Instant::now();
        iam.delete_access_key()
            .user_name(&user)
            .access_key_id(&spare.id)
            .send()
            .await
            .unwrap();
        plain.push(t.elapsed());
    }
    for v in [&mut clicks, &mut health, &mut to_gone, &mut plain] {
        v.sort();
    }
    let line = |name: &str, v: &[Duration]| {
        println!(
            "{name:<34} p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms",
            ms(percentile(v, 0.5)),
            ms(percentile(v, 0.99)),
            ms(*v.last().unwrap())
        )
    };
    line("GET /healthz, 20 at once (baseline)", &health);
    line("signed Approve click, 20 at once", &clicks);
    line("plain SDK DeleteAccessKey (baseline)", &plain);
    line("clicks sent -> key deleted", &to_gone);
}

/// The store's floor: opening incidents one after another, without HTTP.
async fn store_floor() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        keyleak::store::SqlStore::connect(&format!("sqlite://{}/floor.db", dir.path().display()))
            .await
            .unwrap();
    use keyleak::store::{Incidents, Store};
    let n = 2000;
    let t = Instant::now();
    for i in 0..n {
        store
            .open_incident(keyleak::store::NewIncident {
                investigate_days: None,
                id: keyleak::domain::ids::IncidentId::from_random(i as u32),
                key: keyleak::domain::ids::AccessKeyId::parse(&key_for(i)).unwrap(),
                reason: None,
                requested_by: keyleak::domain::incident::Actor::Cli("bench".into()),
                now: chrono::Utc::now(),
                origin: "bench".into(),
                response_url: None,
                opening: keyleak::store::Opening::Contain,
                hold: None,
                signal: None,
            })
            .await
            .unwrap();
    }
    let per = t.elapsed() / n as u32;
    let t2 = Instant::now();
    for _ in 0..n {
        store.ping().await.unwrap();
    }
    println!(
        "store: one query round trip (SELECT 1) {:>7.3} ms",
        ms(t2.elapsed() / n as u32)
    );
    println!(
        "store: open incident (sequential)  {:>7.3} ms each  {:>8.0} /s",
        ms(per),
        1.0 / per.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    if only.as_deref().is_none_or(|o| o == "store") {
        store_floor().await;
    }
    if only.as_deref().is_none_or(|o| o == "ack") {
        ack_latency().await;
    }
    if only.as_deref().is_none_or(|o| o == "contain") {
        time_to_contain().await;
    }
    if only.as_deref().is_none_or(|o| o == "approve") {
        approval().await;
    }
    if only.as_deref().is_none_or(|o| o == "card") {
        card_latency().await;
    }
    if only.as_deref().is_none_or(|o| o == "stores") {
        ack_on_stores().await;
    }
}
