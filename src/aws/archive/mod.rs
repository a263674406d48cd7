//! The CloudTrail archive in S3: the organization layout listed day by day for the accounts
//! and regions in question, objects fetched side by side, each scanned on the blocking pool
//! by that thread's own scanner. Memory follows the number of objects in flight, not the
//! size of the archive. The digests of the same folders are read first, so that each file is
//! checked against what CloudTrail signed for it.

mod digests;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use aws_config::SdkConfig;
use futures_util::{StreamExt, TryStreamExt, stream};

use super::sdk::classify;
use super::{ArchiveQuery, AwsError};
use crate::archive::layout::{
    ArchiveLocation, day_prefixes, digest_day_prefixes, is_log_file, is_org_folder,
};
use crate::archive::scan::{Needles, Scanner, claimed_size};
use crate::archive::{ArchiveLimits, ArchiveLog, MAX_OBJECT_BYTES};

/// Listings and downloads in flight at once.
const LISTS_AT_ONCE: usize = 32;
const FETCHES_AT_ONCE: usize = 16;

thread_local! {
    static SCANNER: RefCell<Scanner> = RefCell::new(Scanner::default());
}

/// The decompressed bytes all archive scans in this process may hold at once, in MiB: a file
/// waits for its share before it is decompressed, so planted files that each decompress to
/// the cap cannot add up past it, however many are fetched side by side.
pub struct Budget {
    limits: ArchiveLimits,
    total_mib: usize,
    mib: Arc<tokio::sync::Semaphore>,
}

impl Budget {
    pub fn new(limits: ArchiveLimits) -> Self {
        let total_mib = (limits.memory_bytes >> 20).max(1);
        Self {
            limits,
            total_mib,
            mib: Arc::new(tokio::sync::Semaphore::new(total_mib)),
        }
    }

    /// Waits for room for a file of `bytes` decompressed.
    async fn room(&self, bytes: usize) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let need = bytes.div_ceil(1 << 20).clamp(1, self.total_mib);
        let need = u32::try_from(need).unwrap_or(u32::MAX);
        self.mib.clone().acquire_many_owned(need).await.ok()
    }
}

/// A client in the bucket's own region (S3 answers a redirect from any other). Path-style
/// addressing, which S3 still serves, works for dotted bucket names and for endpoints set by
/// `AWS_ENDPOINT_URL_S3`.
pub async fn client(base: &SdkConfig, bucket: &str) -> aws_sdk_s3::Client {
    let build = |region: Option<String>| {
        let mut conf = aws_sdk_s3::config::Builder::from(base)
            .force_path_style(true)
            .interceptor(super::calls::CountCalls);
        if let Some(r) = region {
            conf = conf.region(aws_config::Region::new(r));
        }
        aws_sdk_s3::Client::from_conf(conf.build())
    };
    let probe = build(None);
    // HeadBucket names the bucket's region in a header even when it refuses the request.
    let region = match probe.head_bucket().bucket(bucket).send().await {
        Ok(out) => out.bucket_region().map(str::to_string),
        Err(e) => e
            .raw_response()
            .and_then(|r| r.headers().get("x-amz-bucket-region"))
            .map(str::to_string),
    };
    match region {
        Some(r) => build(Some(r)),
        None => probe,
    }
}

pub async fn scan(
    s3: &aws_sdk_s3::Client,
    base: &SdkConfig,
    at: &ArchiveLocation,
    q: &ArchiveQuery,
    budget: &Budget,
) -> Result<ArchiveLog, AwsError> {
    let needles = Arc::new(Needles::new(q.keys.iter().map(|k| k.to_string())));
    let roots = roots(s3, at).await?;
    let (mut prefixes, mut digest_prefixes) = (vec![], vec![]);
    for root in &roots {
        for account in &q.accounts {
            for region in &q.regions {
                let a = account.as_str();
                prefixes.extend(day_prefixes(root, a, region, q.since, q.until));
                digest_prefixes.extend(digest_day_prefixes(root, a, region, q.since, q.until));
            }
        }
    }
    let (mut ledger, listed) = tokio::try_join!(
        digests::read(s3, base, &at.bucket, &digest_prefixes, q.since, q.until),
        stream::iter(prefixes.clone())
            .map(|p| list(s3, &at.bucket, p, is_log_file))
            .buffer_unordered(LISTS_AT_ONCE)
            .try_collect::<Vec<Vec<(String, u64)>>>()
    )?;
    let listed: Vec<(String, u64)> = listed.into_iter().flatten().collect();
    ledger.missing(
        &prefixes,
        &listed
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<HashSet<_>>(),
    );
    let mut log = ArchiveLog {
        integrity: std::mem::take(&mut ledger.integrity),
        ..ArchiveLog::default()
    };
    let mut objects = vec![];
    for (key, size) in listed {
        if size > MAX_OBJECT_BYTES {
            log.unreadable(&key, too_large(size));
        } else {
            objects.push(key);
        }
    }
    let hashes = &ledger.hashes;
    let mut scanned = stream::iter(objects)
        .map(|key| {
            let sha256 = hashes.get(&key).copied();
            fetch_and_scan(s3, &at.bucket, key, sha256, needles.clone(), budget)
        })
        .buffer_unordered(FETCHES_AT_ONCE);
    while let Some(one) = scanned.next().await {
        log.merge(one);
    }
    log.settle();
    Ok(log)
}

/// `AWSLogs/` itself, and each organization's folder in it.
async fn roots(s3: &aws_sdk_s3::Client, at: &ArchiveLocation) -> Result<Vec<String>, AwsError> {
    let base = at.logs_root();
    let mut roots = vec![base.clone()];
    let mut pages = s3
        .list_objects_v2()
        .bucket(&at.bucket)
        .prefix(&base)
        .delimiter("/")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(classify)?;
        for p in page.common_prefixes() {
            let Some(full) = p.prefix() else { continue };
            let name = full[base.len()..].trim_end_matches('/');
            if is_org_folder(name) {
                roots.push(full.to_string());
            }
        }
    }
    Ok(roots)
}

/// The objects under `prefix` that `keep` accepts, with their sizes.
async fn list(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: String,
    keep: fn(&str) -> bool,
) -> Result<Vec<(String, u64)>, AwsError> {
    let mut out = vec![];
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for o in page.map_err(classify)?.contents() {
            if let Some(key) = o.key().filter(|k| keep(k)) {
                let size = o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
                out.push((key.to_string(), size));
            }
        }
    }
    Ok(out)
}

/// One object's outcome as a log of its own; a failure is a skipped file, not an error.
async fn fetch_and_scan(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: String,
    sha256: Option<[u8; 32]>,
    needles: Arc<Needles>,
    budget: &Budget,
) -> ArchiveLog {
    let mut log = ArchiveLog::default();
    let bytes = match fetch(s3, bucket, &key).await {
        Ok(o) => o.bytes,
        Err(why) => {
            log.unreadable(&key, why);
            return log;
        }
    };
    let max = budget.limits.max_file_bytes;
    // A file refused for its size is refused before it takes any room.
    let claimed = match claimed_size(&bytes) {
        Ok(n) if n <= max => n,
        Ok(n) => {
            log.add(&key, Err(crate::archive::scan::FileError::TooLarge(n)));
            return log;
        }
        Err(e) => {
            log.add(&key, Err(e));
            return log;
        }
    };
    let Some(room) = budget.room(claimed).await else {
        log.unreadable(&key, "scanning stopped");
        return log;
    };
    let scanned = tokio::task::spawn_blocking(move || {
        let out = SCANNER.with(|s| s.borrow_mut().scan(&bytes, &needles, max, sha256.as_ref()));
        drop(room);
        out
    })
    .await;
    match scanned {
        Ok(r) => log.add(&key, r),
        Err(_) => log.unreadable(&key, "scanning stopped unexpectedly"),
    }
    log
}

/// An object as fetched: its bytes and its user metadata (`x-amz-meta-*`, without the prefix).
struct Fetched {
    bytes: Vec<u8>,
    metadata: HashMap<String, String>,
}

/// The object, refused when S3 says (or the body turns out) larger than any CloudTrail
/// file: the listing's size is not trusted on its own.
async fn fetch(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Fetched, String> {
    let mut o = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| classify(e).to_string())?;
    let declared = o.content_length().and_then(|n| u64::try_from(n).ok());
    if let Some(n) = declared.filter(|n| *n > MAX_OBJECT_BYTES) {
        return Err(too_large(n));
    }
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0) as usize);
    while let Some(chunk) = o.body.next().await {
        let chunk = chunk.map_err(|e| format!("the download broke off: {e}"))?;
        if (bytes.len() + chunk.len()) as u64 > MAX_OBJECT_BYTES {
            return Err(too_large((bytes.len() + chunk.len()) as u64));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Fetched {
        bytes,
        metadata: o.metadata.take().unwrap_or_default(),
    })
}

fn too_large(n: u64) -> String {
    format!("{n} bytes, larger than any CloudTrail file")
}
