//! Gathering: every region's LookupEvents for each round of keys, and the archive beside it.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
/// Breadth first from the leaked key: each round looks up every queued key in every region
/// at once (the pacer holds each region to its budget), then queues the keys they minted.
pub(super) async fn gather(engine: &Engine, w: &Window, progress: &Progress) -> Gathered {
    let mut out = Gathered::default();
    let mut frontier = Frontier::new(w.root.clone(), Some(w.account.clone()));
    let mut seen_events = std::collections::HashSet::new();
    loop {
        let mut round = vec![];
        while let Some((key, account)) = frontier.pop() {
            round.push((key, account.unwrap_or_else(|| w.account.clone())));
        }
        if round.is_empty() {
            return out;
        }
        progress.keys.fetch_add(round.len(), Ordering::Relaxed);
        progress
            .lookups
            .fetch_add(round.len() * w.regions.len(), Ordering::Relaxed);
        let lookups = round.iter().flat_map(|(key, account)| {
            w.regions.iter().map(move |region| {
                let q = TrailQuery {
                    account: account.clone(),
                    region: region.clone(),
                    key: key.clone(),
                    // Older than the event history is the archive's part of the window.
                    since: w
                        .since
                        .max(w.until - Duration::days(i64::from(HISTORY_DAYS))),
                    until: w.until,
                };
                lookup_one(engine, q, progress)
            })
        });
        let results = futures_util::future::join_all(lookups).await;
        // Region errors of each key of the round, in the round's order.
        let mut errors_by_key = Vec::with_capacity(round.len());
        for (key, account) in &round {
            let mine = results
                .iter()
                .filter(|(q, _)| &q.key == key && &q.account == account);
            let mut errors = vec![];
            for (q, r) in mine {
                match r {
                    Ok(log) => {
                        out.pages += log.pages;
                        out.throttled += log.throttled;
                        out.skipped.extend(log.skipped.iter().cloned());
                        for e in &log.events {
                            if seen_events.insert(e.event_id.clone()) {
                                out.events.push(e.clone());
                            }
                        }
                    }
                    Err(e) => errors.push((q.region.clone(), e.to_string())),
                }
            }
            errors_by_key.push(errors);
        }
        if let Some(at) = &engine.forensics.archive {
            scan_archive(engine, at, w, &round, &mut out, &mut seen_events).await;
        }
        for ((key, account), errors) in round.iter().zip(errors_by_key) {
            let count = out
                .events
                .iter()
                .filter(|e| e.identity.access_key_id.as_deref() == Some(key.as_str()))
                .count();
            out.failures
                .extend(fold_failures(key, account, errors, w.regions.len()));
            out.searched.push(KeySearched {
                key: key.to_string(),
                account: account.to_string(),
                events: count,
            });
        }
        out.events.sort_by(|a, b| {
            a.time
                .cmp(&b.time)
                .then_with(|| a.event_id.cmp(&b.event_id))
        });
        for m in out.events.iter().filter_map(minted) {
            if out.minted.iter().any(|x| x.key == m.key) {
                continue;
            }
            if frontier.push(m.key.clone(), m.account.clone()) == Pushed::Full {
                out.capped = true;
            }
            out.minted.push(m);
        }
    }
}

/// The round's keys in the archive, account by account, merged with what LookupEvents gave
/// by `eventID`.
async fn scan_archive(
    engine: &Engine,
    at: &ArchiveLocation,
    w: &Window,
    round: &[(AccessKeyId, AccountId)],
    out: &mut Gathered,
    seen_events: &mut std::collections::HashSet<String>,
) {
    let mut accounts: Vec<&AccountId> = round.iter().map(|(_, a)| a).collect();
    accounts.sort();
    accounts.dedup();
    for account in accounts {
        let query = ArchiveQuery {
            accounts: vec![account.clone()],
            regions: w.regions.clone(),
            keys: round
                .iter()
                .filter(|(_, a)| a == account)
                .map(|(k, _)| k.clone())
                .collect(),
            since: w.since,
            until: w.until,
        };
        let location = format!("s3://{}/{}", at.bucket, at.prefix);
        match engine.aws.archive_events(at, &query).await {
            Ok(log) => {
                let stats = out.archive.get_or_insert_with(|| ArchiveScanned {
                    location,
                    files: 0,
                    bytes: 0,
                    integrity: Default::default(),
                });
                // A later round reads the account's files again for its new keys: the files,
                // and what the digests say of them, count once.
                if out.archive_accounts.insert(account.clone()) {
                    stats.files += log.files;
                    stats.bytes += log.bytes;
                    stats.integrity.merge(log.integrity);
                }
                out.skipped_more += log.skipped - log.reasons.len();
                out.skipped.extend(log.reasons);
                for e in log.events {
                    if seen_events.insert(e.event_id.clone()) {
                        out.events.push(e);
                    }
                }
            }
            Err(e) => out.failures.push(LookupFailure {
                key: query
                    .keys
                    .iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                account: location,
                region: "the archive".into(),
                error: e.to_string(),
            }),
        }
    }
}

async fn lookup_one(
    engine: &Engine,
    q: TrailQuery,
    progress: &Progress,
) -> (TrailQuery, Result<RegionLog, crate::aws::AwsError>) {
    let seen = AtomicUsize::new(0);
    let count = |n: usize| {
        let before = seen.swap(n, Ordering::Relaxed);
        progress
            .events
            .fetch_add(n.saturating_sub(before), Ordering::Relaxed);
    };
    let r = engine.aws.lookup_events(&q, &count).await;
    progress.lookups_done.fetch_add(1, Ordering::Relaxed);
    (q, r)
}

/// One line when every region failed alike (no route to the account, say), else one per region.
fn fold_failures(
    key: &AccessKeyId,
    account: &AccountId,
    errors: Vec<(String, String)>,
    regions: usize,
) -> Vec<LookupFailure> {
    let failure = |region: String, error: String| LookupFailure {
        key: key.to_string(),
        account: account.to_string(),
        region,
        error,
    };
    let alike = errors.windows(2).all(|w| w[0].1 == w[1].1);
    if regions > 1 && errors.len() == regions && alike {
        let error = errors.into_iter().next().map(|e| e.1).unwrap_or_default();
        return vec![failure("every region".into(), error)];
    }
    errors.into_iter().map(|(r, e)| failure(r, e)).collect()
}
