//! CloudTrail `LookupEvents` by access key, held to AWS's budget of 2 requests a second per
//! account and region (docs/aws.md). Every region is paced on its own, so the regions run
//! side by side at full budget; a throttled request backs off and is retried, and what could
//! not be read is reported, never dropped.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use chrono::{DateTime, Utc};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::sdk::{Clients, classify};
use super::{AwsError, RegionLog, TrailAttribute, TrailQuery};
use crate::domain::ids::AccountId;
use crate::domain::trail::parse_record;

/// AWS's limit, per account and region.
pub const LOOKUPS_PER_SECOND: u32 = 2;
/// The most events LookupEvents returns per page.
const PAGE_SIZE: i32 = 50;
/// Throttled attempts tolerated per page before the region is reported as failed.
const MAX_THROTTLED: u32 = 8;

/// Hands out request slots per account and region at the budgeted rate.
#[derive(Default)]
pub struct Pacer {
    next: Mutex<HashMap<(AccountId, String), Instant>>,
}

impl Pacer {
    fn interval() -> Duration {
        Duration::from_secs(1) / LOOKUPS_PER_SECOND
    }

    /// Waits for this account and region's next slot.
    pub async fn slot(&self, account: &AccountId, region: &str) {
        let at = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = next
                .get(&(account.clone(), region.to_string()))
                .map_or(now, |t| (*t).max(now));
            next.insert(
                (account.clone(), region.to_string()),
                slot + Self::interval(),
            );
            slot
        };
        tokio::time::sleep_until(at).await;
    }

    /// After a throttle: nothing more goes to this region until `pause` has passed.
    async fn hold(&self, account: &AccountId, region: &str, pause: Duration) {
        let mut next = self.next.lock().await;
        let until = Instant::now() + pause;
        let entry = next
            .entry((account.clone(), region.to_string()))
            .or_insert(until);
        *entry = (*entry).max(until);
    }
}

pub(super) fn smithy_time(t: DateTime<Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_millis(t.timestamp_millis())
}

/// Every page of one key's events in one region.
pub async fn lookup(
    clients: &Clients,
    pacer: &Pacer,
    q: &TrailQuery,
    progress: &(dyn Fn(usize) + Send + Sync),
) -> Result<RegionLog, AwsError> {
    let attribute = attribute(LookupAttributeKey::AccessKeyId, q.key.as_str())?;
    let scope = Scope {
        account: &q.account,
        region: &q.region,
        since: q.since,
        until: q.until,
    };
    lookup_by(clients, pacer, &scope, attribute, progress).await
}

/// Every event in one region within the window that has the attribute.
pub async fn events_with(
    clients: &Clients,
    pacer: &Pacer,
    scope: &Scope<'_>,
    with: TrailAttribute,
) -> Result<RegionLog, AwsError> {
    let attribute = match with {
        TrailAttribute::EventSource(s) => attribute(LookupAttributeKey::EventSource, s)?,
        TrailAttribute::EventName(n) => attribute(LookupAttributeKey::EventName, n)?,
        TrailAttribute::Username(u) => attribute(LookupAttributeKey::Username, &u)?,
    };
    lookup_by(clients, pacer, scope, attribute, &|_| {}).await
}

/// Where and when a lookup searches.
pub struct Scope<'a> {
    pub account: &'a AccountId,
    pub region: &'a str,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

fn attribute(key: LookupAttributeKey, value: &str) -> Result<LookupAttribute, AwsError> {
    LookupAttribute::builder()
        .attribute_key(key)
        .attribute_value(value)
        .build()
        .map_err(|e| AwsError::Other(e.to_string()))
}

async fn lookup_by(
    clients: &Clients,
    pacer: &Pacer,
    q: &Scope<'_>,
    attribute: LookupAttribute,
    progress: &(dyn Fn(usize) + Send + Sync),
) -> Result<RegionLog, AwsError> {
    let client = clients.cloudtrail(q.region);
    let mut log = RegionLog {
        region: q.region.to_string(),
        ..RegionLog::default()
    };
    let mut token: Option<String> = None;
    loop {
        let mut throttled = 0;
        let page = loop {
            pacer.slot(q.account, q.region).await;
            let sent = client
                .lookup_events()
                .lookup_attributes(attribute.clone())
                .start_time(smithy_time(q.since))
                .end_time(smithy_time(q.until))
                .max_results(PAGE_SIZE)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(classify);
            match sent {
                Err(AwsError::Throttled(m)) => {
                    throttled += 1;
                    log.throttled += 1;
                    if throttled >= MAX_THROTTLED {
                        return Err(AwsError::Throttled(m));
                    }
                    let pause = backoff(throttled);
                    pacer.hold(q.account, q.region, pause).await;
                }
                other => break other?,
            }
        };
        log.pages += 1;
        for e in page.events() {
            match e.cloud_trail_event().map(parse_record) {
                Some(Ok(event)) => log.events.push(event),
                Some(Err(err)) => log.skipped.push(err.to_string()),
                None => log
                    .skipped
                    .push("an event without its CloudTrail record".into()),
            }
        }
        progress(log.events.len());
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(log);
        }
    }
}

/// 0.5 s, 1 s, 2 s … up to 8 s, with up to a quarter more at random so that regions
/// throttled together do not retry together.
fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(500) * 2u32.pow(attempt.saturating_sub(1).min(4));
    let jitter = base.mul_f64(rand::random::<f64>() / 4.0);
    base + jitter
}

/// The regions enabled for the account, by `ec2:DescribeRegions`.
pub async fn enabled_regions(clients: &Clients) -> Result<Vec<String>, AwsError> {
    let out = clients
        .ec2("us-east-1")
        .describe_regions()
        .send()
        .await
        .map_err(classify)?;
    let mut regions: Vec<String> = out
        .regions()
        .iter()
        .filter_map(|r| r.region_name().map(str::to_string))
        .collect();
    regions.sort();
    Ok(regions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn slots_in_one_region_are_half_a_second_apart_and_regions_do_not_wait_on_each_other() {
        let pacer = Pacer::default();
        let a = AccountId::parse("111122223333").unwrap();
        let start = Instant::now();
        for _ in 0..5 {
            pacer.slot(&a, "eu-west-1").await;
        }
        assert_eq!(start.elapsed(), Duration::from_millis(2000));
        let other = Instant::now();
        pacer.slot(&a, "us-east-1").await;
        assert_eq!(other.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_pushes_the_next_slot_back() {
        let pacer = Pacer::default();
        let a = AccountId::parse("111122223333").unwrap();
        pacer.slot(&a, "eu-west-1").await;
        pacer.hold(&a, "eu-west-1", Duration::from_secs(2)).await;
        let start = Instant::now();
        pacer.slot(&a, "eu-west-1").await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[test]
    fn backoff_doubles_up_to_eight_seconds() {
        assert!(
            backoff(1) >= Duration::from_millis(500) && backoff(1) <= Duration::from_millis(625)
        );
        assert!(backoff(3) >= Duration::from_secs(2));
        assert!(backoff(20) <= Duration::from_secs(10));
    }
}
