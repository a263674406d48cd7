//! Signals (issue 13), run with `cargo bench --bench signals [health|latency|burst]`. Each figure is
//! printed beside a baseline measured in the same run.
//!
//! (a) From an AWS Health `AWS_RISK_CREDENTIALS_EXPOSED` event arriving at `POST /aws/events`
//!     (`KEYLEAK_AUTO_CONTAIN=confirmed`) to the key inactive and both deny policies in place,
//!     beside the same for a signed `/keyleak contain`, interleaved, against moto.
//! (b) 1,000 distinct signals in one burst (Health events and GuardDuty findings, one in ten
//!     sent twice), 100 at a time: each answer's latency, how many took over EventBridge's 5 s,
//!     and that every key ended in exactly one incident.
//! (c) (a) again with AWS's round trips: through a proxy that delays every IAM call by 120 ms
//!     and every STS call by 40 ms, beside a plain script making the playbook's calls one
//!     after another and the critical path (the calls that cannot overlap, each group at once).

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyleak::domain::incident::IncidentState;
use keyleak::domain::signal::{AutoContain, ContainPolicy};
use serde_json::{Value, json};
use support::moto::OWN_ACCOUNT;
use support::*;

const RUNS: usize = 15;
const BURST: usize = 1000;
const IN_FLIGHT: usize = 100;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn line(name: &str, v: &mut [Duration]) {
    v.sort();
    println!(
        "{name:<34} median {:>7.1} ms  p90 {:>7.1} ms  max {:>7.1} ms",
        ms(percentile(v, 0.5)),
        ms(percentile(v, 0.9)),
        ms(*v.last().unwrap())
    );
}

/// The published Health event (tests/fixtures/eventbridge), made about `key`.
fn health(key: &str) -> Value {
    let mut v = fixture("eventbridge/health_exposed");
    v["id"] = json!(uuid::Uuid::new_v4().to_string());
    v["account"] = json!(OWN_ACCOUNT);
    v["detail"]["affectedEntities"][0]["entityValue"] = json!(key);
    v
}

/// The published GuardDuty finding, made about `key`.
fn finding(key: &str) -> Value {
    let mut v = fixture("eventbridge/guardduty_tor_finding");
    v["id"] = json!(uuid::Uuid::new_v4().to_string());
    v["detail"]["arn"] = json!(format!(
        "arn:aws:guardduty:us-west-2:{OWN_ACCOUNT}:detector/d/finding/{key}"
    ));
    v["detail"]["resource"]["accessKeyDetails"]["accessKeyId"] = json!(key);
    v
}

async fn post(http: &reqwest::Client, url: &str, event: &Value) -> u16 {
    http.post(format!("{url}/aws/events"))
        .header(AWS_EVENTS_HEADER, AWS_EVENTS_SECRET)
        .header("content-type", "application/json")
        .body(event.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A bot that contains on confirmed signals.
async fn confirmed(aws: aws_config::SdkConfig) -> App {
    let mut opts = Options::default();
    opts.intake.policy = ContainPolicy {
        mode: AutoContain::Confirmed,
        ..ContainPolicy::default()
    };
    App::start(aws, opts).await
}

/// From sending to the key cut off: once for a Health event, once for a signed command, each
/// about a fresh key seeded through `iam`.
async fn event_and_command(app: &App, iam: &aws_sdk_iam::Client, run: usize) -> [Duration; 2] {
    let s = seed::ci_user(iam, &format!("event-{run}")).await;
    let sent = chrono::Utc::now();
    assert_eq!(post(&app.http, &app.url, &health(&s.leaked.id)).await, 200);
    let id = app.incident_for(&s.leaked.id).await;
    app.wait_for_state(&id, IncidentState::Contained).await;
    let by_event = (app.cut_off_at(&id).await - sent).to_std().unwrap();

    let s = seed::ci_user(iam, &format!("command-{run}")).await;
    let sent = chrono::Utc::now();
    let r = app.command(&format!("contain {}", s.leaked.id)).await;
    assert_eq!(r.status(), 200);
    let id = app.incident_for(&s.leaked.id).await;
    app.wait_for_state(&id, IncidentState::Contained).await;
    [
        by_event,
        (app.cut_off_at(&id).await - sent).to_std().unwrap(),
    ]
}

fn ratio(a: &[Duration], b: &[Duration]) -> f64 {
    percentile(a, 0.5).as_secs_f64() / percentile(b, 0.5).as_secs_f64()
}

async fn health_to_contained() {
    println!("(a) signal to contained against moto, {RUNS} runs each, interleaved");
    let moto = Moto::start().await.unwrap();
    let cfg = moto.own_config().await;
    let iam = aws_sdk_iam::Client::new(&cfg);
    let app = confirmed(cfg).await;
    let (mut by_event, mut by_command) = (vec![], vec![]);
    for run in 0..RUNS {
        let [e, c] = event_and_command(&app, &iam, run).await;
        by_event.push(e);
        by_command.push(c);
    }
    line("slash command (baseline)", &mut by_command);
    line("AWS Health event", &mut by_event);
    println!(
        "event / command (median)           {:.2}x",
        ratio(&by_event, &by_command)
    );
}

const IAM_DELAY: Duration = Duration::from_millis(120);
const STS_DELAY: Duration = Duration::from_millis(40);

/// Times `f` once.
async fn timed<F: std::future::Future<Output = ()>>(f: F) -> Duration {
    let t = Instant::now();
    f.await;
    t.elapsed()
}

async fn with_latency() {
    println!(
        "(c) the same through a proxy adding {} ms per IAM call and {} ms per STS call, \
         {RUNS} runs each, interleaved",
        IAM_DELAY.as_millis(),
        STS_DELAY.as_millis()
    );
    let moto = Moto::start().await.unwrap();
    let seeding = aws_sdk_iam::Client::new(&moto.own_config().await);
    let proxy = proxy::AwsProxy::start(&moto.url).await;
    proxy.delay_service("iam", IAM_DELAY);
    proxy.delay_service("sts", STS_DELAY);
    let slow = aws_through(&proxy.url).await;
    let (iam, sts) = (
        aws_sdk_iam::Client::new(&slow),
        aws_sdk_sts::Client::new(&slow),
    );
    let app = confirmed(slow).await;
    let [mut script, mut floor, mut by_event, mut by_command] = [vec![], vec![], vec![], vec![]];
    for run in 0..RUNS {
        let s = seed::ci_user(&seeding, &format!("script-{run}")).await;
        script.push(timed(runbook::plain_script(&iam, &sts, &s.user, &s.leaked.id)).await);
        let s = seed::ci_user(&seeding, &format!("floor-{run}")).await;
        floor.push(timed(runbook::critical_path(&iam, &sts, &s.user, &s.leaked.id)).await);
        let [e, c] = event_and_command(&app, &seeding, run).await;
        by_event.push(e);
        by_command.push(c);
    }
    line("plain SDK script (baseline)", &mut script);
    line("critical path (floor)", &mut floor);
    line("slash command", &mut by_command);
    line("AWS Health event", &mut by_event);
    for (name, v) in [("command", &by_command), ("event", &by_event)] {
        println!(
            "{name:<7} / script {:.2}x, / critical path {:.2}x (median)",
            ratio(v, &script),
            ratio(v, &floor)
        );
    }
}

async fn burst() {
    println!("(b) {BURST} distinct signals, one in ten sent twice, {IN_FLIGHT} in flight");
    // No AWS is reached before the answer; the triage runs that follow find nothing in moto.
    let moto = Moto::start().await.unwrap();
    let app = Arc::new(App::start(moto.own_config().await, Options::default()).await);
    let mut events = vec![];
    for n in 0..BURST {
        let key = format!("AKIASIGNAL{n:010}");
        let e = if n % 2 == 0 {
            health(&key)
        } else {
            finding(&key)
        };
        if n % 10 == 0 {
            events.push((key.clone(), e.clone()));
        }
        events.push((key, e));
    }
    let sent = events.len();
    let queue = Arc::new(std::sync::Mutex::new(events));
    let started = Instant::now();
    let mut tasks = vec![];
    for _ in 0..IN_FLIGHT {
        let (app, queue) = (app.clone(), queue.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = vec![];
            loop {
                let next = queue.lock().unwrap().pop();
                let Some((_, event)) = next else { return lat };
                let t = Instant::now();
                let status = post(&app.http, &app.url, &event).await;
                assert!((200..300).contains(&status), "{status}");
                lat.push(t.elapsed());
            }
        }));
    }
    let mut lat = vec![];
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let wall = started.elapsed();
    let over = lat.iter().filter(|d| **d > Duration::from_secs(5)).count();
    line(&format!("{sent} answers"), &mut lat);
    println!(
        "answered 2xx                       {sent} of {sent} in {:.1} s ({:.0}/s); over 5 s: {over}",
        wall.as_secs_f64(),
        sent as f64 / wall.as_secs_f64()
    );
    let mut per_key: HashMap<String, usize> = HashMap::new();
    for i in app.store.open_incidents(10_000).await.unwrap() {
        *per_key.entry(i.key.to_string()).or_default() += 1;
    }
    let audit = app.store.audit_log(None).await.unwrap();
    let opened = audit
        .iter()
        .filter(|a| a.action.name() == "triage.open")
        .count();
    println!(
        "incidents opened                   {opened} for {BURST} keys; keys with two open: {}",
        per_key.values().filter(|n| **n > 1).count()
    );
    assert_eq!(opened, BURST, "each key in exactly one incident");
}

#[tokio::main]
async fn main() {
    let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    if only.as_deref().is_none_or(|o| o == "health") {
        health_to_contained().await;
    }
    if only.as_deref().is_none_or(|o| o == "latency") {
        with_latency().await;
    }
    if only.as_deref().is_none_or(|o| o == "burst") {
        burst().await;
    }
}
