//! Benchmarks of containment under abuse, run with `cargo bench --bench hardening`. Each figure
//! is printed beside its baseline measured in the same run: these machines are shared.
//!
//! (a) Junk flood: the time from a signed `contain` to the key's cut-off steps done, alone and
//!     right after 150 contains of keys IAM does not have, from the same responder.
//! (b) Idle connections: ack latency of signed commands on fresh connections, with no other
//!     connections, and while 1,000 connections are held open idle (each reopened a second
//!     after the server closes it).
//! (c) Planted archive files: 48 files in the S3 archive (moto), each a few hundred kilobytes
//!     that decompress to just under the per-file cap, scanned by forensics: the process's
//!     peak resident memory during the scan, beside its resident memory before it.

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::sync::Arc;
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
    let store = app.store.clone();
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
    let store = app.store.clone();
    wait_until(Duration::from_secs(600), move || {
        let store = store.clone();
        async move { (store.pending_jobs(None).await.ok()? == 0).then_some(()) }
    })
    .await
    .expect("every job ends");
}

/// One run: the real key contained alone, then right after `JUNK` junk contains from one
/// responder; the real ones come from another responder.
async fn flood_run(
    app: &Arc<App>,
    iam: &aws_sdk_iam::Client,
    tag: &str,
    run: usize,
) -> (Duration, Duration) {
    let s = seed::ci_user(iam, &format!("alone-{tag}-{run}")).await;
    let sent = chrono::Utc::now();
    app.command_as(ONCALLER, &format!("contain {}", s.leaked.id))
        .await;
    let alone = contained_after(app, &s.leaked.id, sent).await;
    idle(app).await;

    let s = seed::ci_user(iam, &format!("flooded-{tag}-{run}")).await;
    let junk: Vec<_> = (0..JUNK)
        .map(|n| {
            let app = app.clone();
            let key = format!("AKIAJUNK{}{run:02}{n:09}", &tag[..1].to_uppercase());
            tokio::spawn(async move { app.command(&format!("contain {key}")).await.status() })
        })
        .collect();
    for j in junk {
        assert_eq!(j.await.unwrap(), 200);
    }
    let sent = chrono::Utc::now();
    app.command_as(ONCALLER, &format!("contain {}", s.leaked.id))
        .await;
    let flooded = contained_after(app, &s.leaked.id, sent).await;
    idle(app).await;
    (alone, flooded)
}

async fn junk_flood() {
    println!("(a) {JUNK} junk contains from one responder, then a real one from another: time to");
    println!("    the key cut off, {RUNS} runs each");
    let moto = Moto::start().await.unwrap();
    let cfg = moto.own_config().await;
    let iam = aws_sdk_iam::Client::new(&cfg);
    for (tag, limit) in [("limited", 30), ("unlimited", 100_000)] {
        let app = Arc::new(
            App::start(
                cfg.clone(),
                Options {
                    rooms: true,
                    commands_per_minute: limit,
                    ..Options::default()
                },
            )
            .await,
        );
        let (mut alone, mut flooded) = (vec![], vec![]);
        for run in 0..RUNS {
            let (a, f) = flood_run(&app, &iam, tag, run).await;
            alone.push(a);
            flooded.push(f);
        }
        alone.sort();
        flooded.sort();
        let ratio = percentile(&flooded, 0.5).as_secs_f64() / percentile(&alone, 0.5).as_secs_f64();
        println!("KEYLEAK_COMMANDS_PER_MINUTE={limit}");
        line("  real contain alone (baseline)", &mut alone);
        line("  real contain right after the junk", &mut flooded);
        println!("  flooded / alone (median)                   {ratio:.2}x");
    }
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

/// Holds a connection open without sending anything, and opens another a second after the
/// server closes it, until aborted. (A client that reconnects at once after every close, a
/// churning flood, is not modelled: see BENCHMARKS.md.)
async fn hold_idle(addr: String) {
    use tokio::io::AsyncReadExt;
    loop {
        if let Ok(mut c) = tokio::net::TcpStream::connect(&addr).await {
            let mut buf = [0u8; 64];
            let _ = c.read(&mut buf).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
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
    let addr = app.url.trim_start_matches("http://").to_string();
    let holders: Vec<_> = (0..IDLE)
        .map(|_| tokio::spawn(hold_idle(addr.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut crowded = acks(&app, &fresh).await;
    for h in holders {
        h.abort();
    }
    line("no other connections (baseline)", &mut quiet);
    line("1,000 idle connections held open", &mut crowded);
}

/// A line of `/proc/self/status`, in MiB.
fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn planted_archive() {
    use keyleak::archive::ArchiveLimits;
    use keyleak::archive::layout::ArchiveLocation;
    use keyleak::aws::{ArchiveQuery, Aws, SdkAws};
    const FILES: usize = 48;
    let limits = ArchiveLimits::default();
    println!(
        "(c) {FILES} planted archive files, each decompressing to just under the {} MiB cap",
        limits.max_file_bytes >> 20
    );
    let moto = Moto::start().await.unwrap();
    let cfg = moto.own_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&cfg)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket().bucket("planted").send().await.unwrap();
    let mut text = b"{\"Records\":[],\"pad\":\"".to_vec();
    text.resize(limits.max_file_bytes - (1 << 20), b'a');
    text.extend_from_slice(b"\"}");
    let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::best());
    let mut gz = vec![0; c.gzip_compress_bound(text.len())];
    let n = c.gzip_compress(&text, &mut gz).unwrap();
    gz.truncate(n);
    drop(text);
    let day = chrono::Utc::now();
    let dir = format!(
        "AWSLogs/{}/CloudTrail/us-east-1/{}",
        support::moto::OWN_ACCOUNT,
        day.format("%Y/%m/%d")
    );
    for i in 0..FILES {
        s3.put_object()
            .bucket("planted")
            .key(format!("{dir}/planted-{i}.json.gz"))
            .body(gz.clone().into())
            .send()
            .await
            .unwrap();
    }
    let aws = SdkAws::new(cfg, None).with_archive_limits(limits);
    let query = ArchiveQuery {
        accounts: vec![keyleak::domain::ids::AccountId::parse(support::moto::OWN_ACCOUNT).unwrap()],
        regions: vec!["us-east-1".into()],
        keys: vec![AccessKeyId::parse("AKIAIOSFODNN7EXAMPLE").unwrap()],
        since: day - chrono::Duration::hours(1),
        until: day + chrono::Duration::hours(1),
    };
    let at = ArchiveLocation::parse("s3://planted").unwrap();
    let before = status_mib("VmRSS:");
    // Resets the peak (VmHWM) to the resident size now.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let t = Instant::now();
    let log = aws.archive_events(&at, &query).await.unwrap();
    let took = t.elapsed();
    let peak = status_mib("VmHWM:");
    assert_eq!(log.files, FILES);
    println!(
        "compressed {:.0} KiB each; scanned {} files, {:.1} GiB decompressed, in {:.1} s",
        gz.len() as f64 / 1024.0,
        log.files,
        log.bytes as f64 / f64::from(1 << 30),
        took.as_secs_f64()
    );
    println!("resident before the scan (baseline)          {before:>8.0} MiB");
    println!(
        "peak resident during the scan                {peak:>8.0} MiB  (budget {} MiB)",
        limits.memory_bytes >> 20
    );
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
    if only.as_deref().is_none_or(|o| o == "archive") {
        planted_archive().await;
    }
}
