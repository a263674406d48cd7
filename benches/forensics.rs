//! Forensics benchmarks (docs/design.md §8), run with `cargo bench --bench forensics`.
//!
//! LookupEvents: the bot's investigation of a key with `PAGES` full pages in each of
//! `REGIONS` regions, against the CloudTrail emulator (2 requests a second per region,
//! `ThrottlingException` beyond), as a fraction of the ideal `pages / (2 × regions)` seconds.
//! Beside it in the same run, the SDK's own paginator over the same data, all regions at
//! once with the SDK's standard retries: what a script without pacing gets.

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use keyleak::domain::incident::IncidentState;
use keyleak::engine::ForensicsSettings;
use support::moto::OWN_ACCOUNT;
use support::trail::{Record, bot_config};
use support::trail_emu::TrailEmulator;
use support::{App, Moto, Options, seed, wait_until};

const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1"];
const PAGES: usize = 20;
const PER_PAGE: usize = 50;

fn log_pages(emulator: &TrailEmulator, key: &str) {
    let start = chrono::Utc::now() - chrono::Duration::hours(1);
    for region in REGIONS {
        for i in 0..PAGES * PER_PAGE {
            let r = Record::from("list_users")
                .by_user(OWN_ACCOUNT, "ci-deploy", key)
                .region(region)
                .at(start - chrono::Duration::seconds(i as i64));
            emulator.log(&r.value()).unwrap();
        }
    }
}

/// The SDK's paginator in every region at once, with its default retry policy.
async fn unpaced_sdk(config: &aws_config::SdkConfig, key: &str) -> (Duration, usize, usize) {
    let attribute = LookupAttribute::builder()
        .attribute_key(LookupAttributeKey::AccessKeyId)
        .attribute_value(key)
        .build()
        .unwrap();
    let start = Instant::now();
    let runs = REGIONS.iter().map(|region| {
        let conf = aws_sdk_cloudtrail::config::Builder::from(config)
            .region(aws_config::Region::new(region.to_string()))
            .build();
        let client = aws_sdk_cloudtrail::Client::from_conf(conf);
        let attribute = attribute.clone();
        async move {
            let mut pages = client
                .lookup_events()
                .lookup_attributes(attribute)
                .max_results(50)
                .into_paginator()
                .send();
            let (mut events, mut failed) = (0, 0);
            while let Some(page) = pages.next().await {
                match page {
                    Ok(p) => events += p.events().len(),
                    Err(_) => {
                        failed += 1;
                        break;
                    }
                }
            }
            (events, failed)
        }
    });
    let results = futures::future::join_all(runs).await;
    let events = results.iter().map(|r| r.0).sum();
    let failed = results.iter().map(|r| r.1).sum();
    (start.elapsed(), events, failed)
}

#[tokio::main]
async fn main() {
    let moto = Moto::start().await.unwrap();
    let emulator = crate::support::trail::emulator(&moto.url).await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    log_pages(&emulator, &seeded.leaked.id);
    let config = bot_config(&moto, &emulator).await;
    let app = App::start(
        config.clone(),
        Options {
            forensics: ForensicsSettings {
                regions: Some(REGIONS.iter().map(|r| r.to_string()).collect()),
                ..ForensicsSettings::default()
            },
            ..Options::default()
        },
    )
    .await;
    let id = app.contain(&seeded.leaked.id, "bench").await;
    app.wait_for_state(&id, IncidentState::Contained).await;
    let store = app.store.clone();
    let f = wait_until(Duration::from_secs(600), || {
        let store = store.clone();
        let id = id.clone();
        async move { store.findings(&id).await.ok()? }
    })
    .await
    .expect("the investigation finished");
    let took = (f.finished_at - f.until).to_std().unwrap_or_default();
    let pages = PAGES * REGIONS.len();
    let ideal = pages as f64 / (2.0 * REGIONS.len() as f64);
    let throttled_bot = emulator.counters(|c| c.throttled);
    let span = emulator.counters(|c| c.last.zip(c.first).map(|(l, f)| l - f).unwrap_or_default());
    println!(
        "LookupEvents, {pages} pages over {} regions ({} events): keyleak {:.2} s = {:.0}% of the \
         ideal {ideal:.1} s; {} events found, {} regions failed, {throttled_bot} throttled",
        REGIONS.len(),
        pages * PER_PAGE,
        took.as_secs_f64(),
        100.0 * ideal / took.as_secs_f64(),
        f.summary.events,
        f.failures.len(),
    );
    println!(
        "  of which the emulator saw requests for {:.2} s (first to last); the rest is the \
         investigation's own work before and after",
        span.as_secs_f64()
    );

    // Let the emulator's buckets refill before the baseline draws on them.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (wall, events, failed) = unpaced_sdk(&config, &seeded.leaked.id).await;
    let throttled = emulator.counters(|c| c.throttled) - throttled_bot;
    println!(
        "  baseline, the SDK paginator in every region at once with standard retries: {:.2} s, \
         {events} events, {failed} regions failed, {throttled} throttled",
        wall.as_secs_f64()
    );
}
