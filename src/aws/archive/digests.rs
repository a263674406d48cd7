//! The digest files of the folders in question, read before any log file: listed, fetched
//! with their signature metadata, verified against the public keys CloudTrail publishes for
//! each trail's home region, and what they vouch for gathered into a ledger.

use std::collections::{HashMap, HashSet};

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt, stream};

use super::super::sdk::classify;
use super::super::trail::smithy_time;
use super::{FETCHES_AT_ONCE, LISTS_AT_ONCE, fetch, list};
use crate::archive::digest::{Found, PublicKey, Vouched, home_region, verify};
use crate::archive::layout::is_digest_file;
use crate::aws::AwsError;
use crate::domain::trail::findings::ArchiveIntegrity;

/// What the verified digests vouch for.
#[derive(Default)]
pub(super) struct Ledger {
    /// Log files by key, with the SHA-256 of the content CloudTrail delivered.
    pub hashes: HashMap<String, [u8; 32]>,
    pub integrity: ArchiveIntegrity,
}

/// The digests under `prefixes`, for log files of `since..until`.
pub(super) async fn read(
    s3: &aws_sdk_s3::Client,
    base: &SdkConfig,
    bucket: &str,
    prefixes: &[String],
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Ledger, AwsError> {
    let listed: Vec<Vec<(String, u64)>> = stream::iter(prefixes.to_vec())
        .map(|p| list(s3, bucket, p, is_digest_file))
        .buffer_unordered(LISTS_AT_ONCE)
        .try_collect()
        .await?;
    let present: HashSet<String> = listed.into_iter().flatten().map(|(k, _)| k).collect();
    let folders: HashSet<&str> = prefixes.iter().map(String::as_str).collect();
    let mut ledger = Ledger::default();
    if present.is_empty() {
        return Ok(ledger);
    }
    let keys = match public_keys(base, &present, since, until).await {
        Ok(k) => k,
        Err(e) => {
            ledger.integrity.note(
                None,
                format!(
                    "the digests could not be checked: CloudTrail's public keys could not be \
                     read ({e})"
                ),
            );
            return Ok(ledger);
        }
    };
    let mut fetched = stream::iter(present.iter().cloned().collect::<Vec<_>>())
        .map(|key| async move {
            let got = fetch(s3, bucket, &key).await;
            (key, got)
        })
        .buffer_unordered(FETCHES_AT_ONCE);
    while let Some((key, got)) = fetched.next().await {
        // A digest S3 would not give (throttling, a network fault) proves nothing either way:
        // the files it lists stay unverified. Only one that fails its checks is tampering.
        let o = match got {
            Ok(o) => o,
            Err(why) => {
                let why =
                    format!("a digest that could not be read ({why}); its files stay unverified");
                ledger.integrity.note(Some(&key), why);
                continue;
            }
        };
        let found = Found {
            bucket,
            key: &key,
            gz: &o.bytes,
            signature: o.metadata.get("signature").map(String::as_str),
            algorithm: o.metadata.get("signature-algorithm").map(String::as_str),
        };
        let region = home_region(&key).unwrap_or_default();
        let keys = keys.get(region).map(Vec::as_slice).unwrap_or_default();
        match verify(&found, keys) {
            Ok(v) => ledger.take(v, &folders, &present),
            Err(why) => {
                ledger.integrity.bad_digests += 1;
                ledger
                    .integrity
                    .note(Some(&key), format!("a digest, and {why}"));
            }
        }
    }
    Ok(ledger)
}

impl Ledger {
    fn take(&mut self, v: Vouched, folders: &HashSet<&str>, present: &HashSet<String>) {
        self.integrity.digests += 1;
        // A digest names the one before it; one missing from a folder that was listed was
        // deleted, and with it the only word on the files it listed.
        if let Some(previous) = v.previous
            && folders.contains(folder_of(&previous))
            && !present.contains(&previous)
        {
            self.integrity.bad_digests += 1;
            self.integrity.note(
                Some(&previous),
                "a digest: the one after it names it, and it is gone from the bucket",
            );
        }
        self.hashes.extend(v.files);
    }

    /// Counts the files a verified digest lists in the day folders `prefixes` that the
    /// listing did not find: deleted after delivery, or expired by a lifecycle rule.
    pub fn missing(&mut self, prefixes: &[String], listed: &HashSet<&str>) {
        let folders: HashSet<&str> = prefixes.iter().map(String::as_str).collect();
        let mut gone: Vec<&String> = self
            .hashes
            .keys()
            .filter(|k| folders.contains(folder_of(k)))
            .filter(|k| !listed.contains(k.as_str()))
            .collect();
        gone.sort();
        self.integrity.deleted += gone.len();
        for k in gone {
            self.integrity.note(
                Some(k),
                "a signed digest lists it, and it is gone from the bucket (deleted, or expired \
                 by a lifecycle rule)",
            );
        }
    }
}

/// The day folder an object sits in, with its trailing `/`, as the listed prefixes are:
/// looked up, not searched, since a long window lists hundreds of thousands of files.
fn folder_of(key: &str) -> &str {
    key.rfind('/').map_or("", |i| &key[..=i])
}

/// CloudTrail's signing keys of the window, for each home region the digests name.
async fn public_keys(
    base: &SdkConfig,
    digests: &HashSet<String>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<HashMap<String, Vec<PublicKey>>, AwsError> {
    let mut regions: Vec<&str> = digests.iter().filter_map(|d| home_region(d)).collect();
    regions.sort_unstable();
    regions.dedup();
    let mut out = HashMap::new();
    for region in regions {
        let conf = aws_sdk_cloudtrail::config::Builder::from(base)
            .region(aws_config::Region::new(region.to_string()))
            .interceptor(crate::aws::calls::CountCalls)
            .build();
        let mut pages = aws_sdk_cloudtrail::Client::from_conf(conf)
            .list_public_keys()
            .start_time(smithy_time(since))
            .end_time(smithy_time(until))
            .into_paginator()
            .send();
        let mut keys = vec![];
        while let Some(page) = pages.next().await {
            for k in page.map_err(classify)?.public_key_list() {
                if let (Some(fingerprint), Some(value)) = (k.fingerprint(), k.value()) {
                    keys.push(PublicKey {
                        fingerprint: fingerprint.to_string(),
                        der: value.as_ref().to_vec(),
                    });
                }
            }
        }
        out.insert(region.to_string(), keys);
    }
    Ok(out)
}
