//! Gathering: every region's LookupEvents for each round of keys, and the archive beside it.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::archive::layout::Delivered;
use crate::archive::scan::Needles;
use crate::archive::{ArchiveLog, ScanProgress, scan_dir};
use crate::aws::{Aws, AwsError};
use crate::domain::trail::inventory::users_made;
/// Where a round's events are read.
pub(super) struct Sources<'a> {
    /// LookupEvents in every region of the window; none offline.
    pub trail: Option<&'a dyn Aws>,
    pub archive: Option<Archive<'a>>,
}

/// The archive port: the S3 archive, read through the AWS port, or a local copy of it.
pub(super) enum Archive<'a> {
    S3(&'a dyn Aws, &'a ArchiveLocation),
    Local {
        dir: &'a Path,
        workers: usize,
        progress: Arc<ScanProgress>,
    },
}

/// Breadth first from the leaked key: each round looks up every queued key in every region
/// at once (the pacer holds each region to its budget) and in the archive, then queues the
/// keys they minted.
pub(super) async fn gather(src: &Sources<'_>, w: &Window, progress: &Progress) -> Gathered {
    let mut out = Gathered::default();
    let mut frontier = Frontier::new(w.root.clone(), w.account.clone());
    let mut seen_events = HashSet::new();
    // When each minted key was minted: its calls can only be in files delivered after.
    let mut born: HashMap<AccessKeyId, DateTime<Utc>> = HashMap::new();
    loop {
        let mut round = vec![];
        while let Some((key, account)) = frontier.pop() {
            round.push((key, account.or_else(|| w.account.clone())));
        }
        if round.is_empty() {
            if let Some(aws) = src.trail {
                follow_users(aws, w, &mut out, &mut seen_events).await;
            }
            return out;
        }
        progress.keys.fetch_add(round.len(), Ordering::Relaxed);
        let results = match src.trail {
            Some(aws) => look_up(aws, w, &round, progress).await,
            None => vec![],
        };
        // Region errors of each key of the round, in the round's order.
        let mut errors_by_key = Vec::with_capacity(round.len());
        for (key, account) in &round {
            let mine = results
                .iter()
                .filter(|(q, _)| &q.key == key && Some(&q.account) == account.as_ref());
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
        if let Some(archive) = &src.archive {
            let files = files_for(&round, &born, w);
            scan_archive(archive, w, &round, &files, &mut out, &mut seen_events).await;
        }
        for ((key, account), errors) in round.iter().zip(errors_by_key) {
            let mine = || {
                out.events
                    .iter()
                    .filter(|e| e.identity.access_key_id.as_deref() == Some(key.as_str()))
            };
            // Offline, a key's account is what its own calls say.
            let account = match account {
                Some(a) => a.to_string(),
                None => mine()
                    .find_map(|e| e.account().map(str::to_string))
                    .unwrap_or_default(),
            };
            out.failures
                .extend(fold_failures(key, &account, errors, w.regions.len()));
            out.searched.push(KeySearched {
                key: key.to_string(),
                account,
                events: mine().count(),
            });
        }
        out.events.sort_by(|a, b| {
            a.time
                .cmp(&b.time)
                .then_with(|| a.event_id.cmp(&b.event_id))
        });
        for (m, at) in out
            .events
            .iter()
            .filter_map(|e| minted(e).map(|m| (m, e.time)))
        {
            if out.minted.iter().any(|x| x.key == m.key) {
                continue;
            }
            born.insert(m.key.clone(), at);
            if frontier.push(m.key.clone(), m.account.clone()) == Pushed::Full {
                out.capped = true;
            }
            out.minted.push(m);
        }
    }
}

/// The calls of the users the key made or gave a console password, by name in every
/// region: a console sign-in and what follows it carry no key of the attacker's.
async fn follow_users(
    aws: &dyn Aws,
    w: &Window,
    out: &mut Gathered,
    seen_events: &mut HashSet<String>,
) {
    let Some(account) = &w.account else { return };
    let made: Vec<_> = out.events.iter().flat_map(created).collect();
    let users = users_made(
        &made,
        account.as_str(),
        crate::engine::monitor::FOLLOWED_USERS,
    );
    let since = w
        .since
        .max(w.until - Duration::days(i64::from(HISTORY_DAYS)));
    let lookups = users.iter().flat_map(|user| {
        w.regions.iter().map(move |region| async move {
            let by_user = crate::aws::TrailAttribute::Username(user.clone());
            let r = aws
                .events_with(account, region, by_user, since, w.until)
                .await;
            (user, region, r)
        })
    });
    for (user, region, r) in futures_util::future::join_all(lookups).await {
        match r {
            Ok(log) => {
                out.pages += log.pages;
                out.throttled += log.throttled;
                out.skipped.extend(log.skipped);
                out.events.extend(
                    log.events
                        .into_iter()
                        .filter(|e| seen_events.insert(e.event_id.clone())),
                );
            }
            Err(e) => out.failures.push(LookupFailure {
                key: format!("user {user}"),
                account: account.to_string(),
                region: region.clone(),
                error: e.to_string(),
            }),
        }
    }
    out.events.sort_by(|a, b| {
        a.time
            .cmp(&b.time)
            .then_with(|| a.event_id.cmp(&b.event_id))
    });
}

/// The longest a temporary key lives: GetSessionToken and GetFederationToken sessions last
/// up to 36 hours (AssumeRole's up to 12).
const LONGEST_SESSION_HOURS: i64 = 36;

/// The log files that can hold the round's calls: from the window's start for the leaked
/// key; for keys it minted, from the first minting to the longest a session lives after the
/// last, so a later round does not read the whole archive again.
fn files_for(
    round: &[(AccessKeyId, Option<AccountId>)],
    born: &HashMap<AccessKeyId, DateTime<Utc>>,
    w: &Window,
) -> Delivered {
    let minted: Option<Vec<DateTime<Utc>>> =
        round.iter().map(|(k, _)| born.get(k).copied()).collect();
    let (Some(first), Some(last)) = (
        minted.as_ref().and_then(|t| t.iter().min()),
        minted.as_ref().and_then(|t| t.iter().max()),
    ) else {
        return Delivered {
            from: w.since,
            until: None,
        };
    };
    Delivered {
        from: (*first).max(w.since),
        until: Some(*last + Duration::hours(LONGEST_SESSION_HOURS)),
    }
}

/// Every key of the round whose account is known, in every region, at once.
async fn look_up(
    aws: &dyn Aws,
    w: &Window,
    round: &[(AccessKeyId, Option<AccountId>)],
    progress: &Progress,
) -> Vec<(TrailQuery, Result<RegionLog, AwsError>)> {
    let lookups: Vec<_> = round
        .iter()
        .filter_map(|(key, account)| Some((key, account.as_ref()?)))
        .flat_map(|(key, account)| {
            w.regions.iter().map(move |region| TrailQuery {
                account: account.clone(),
                region: region.clone(),
                key: key.clone(),
                // Older than the event history is the archive's part of the window.
                since: w
                    .since
                    .max(w.until - Duration::days(i64::from(HISTORY_DAYS))),
                until: w.until,
            })
        })
        .collect();
    progress.lookups.fetch_add(lookups.len(), Ordering::Relaxed);
    futures_util::future::join_all(lookups.into_iter().map(|q| lookup_one(aws, q, progress))).await
}

/// The round's keys in the archive, merged with what LookupEvents gave by `eventID`: the S3
/// archive account by account, a local copy all at once.
async fn scan_archive(
    archive: &Archive<'_>,
    w: &Window,
    round: &[(AccessKeyId, Option<AccountId>)],
    files: &Delivered,
    out: &mut Gathered,
    seen_events: &mut HashSet<String>,
) {
    match archive {
        Archive::S3(aws, at) => {
            let mut accounts: Vec<&AccountId> =
                round.iter().filter_map(|(_, a)| a.as_ref()).collect();
            accounts.sort();
            accounts.dedup();
            for account in accounts {
                let query = s3_query(round, account, w, files);
                let read = aws
                    .archive_events(at, &query)
                    .await
                    .map_err(|e| e.to_string());
                let place = Place {
                    scope: account.to_string(),
                    location: format!("s3://{}/{}", at.bucket, at.prefix),
                };
                record(out, seen_events, place, &query.keys, read);
            }
        }
        Archive::Local {
            dir,
            workers,
            progress,
        } => {
            let keys = keys_in(round, None);
            let read = scan_copy(dir, &keys, w, *files, *workers, progress.clone()).await;
            let place = Place {
                scope: String::new(),
                location: dir.display().to_string(),
            };
            record(out, seen_events, place, &keys, read);
        }
    }
}

/// The S3 archive's part of a round, for one account: a round of minted keys reads only the
/// day folders their sessions could have been used in, not the whole window again.
fn s3_query(
    round: &[(AccessKeyId, Option<AccountId>)],
    account: &AccountId,
    w: &Window,
    files: &Delivered,
) -> ArchiveQuery {
    ArchiveQuery {
        accounts: vec![account.clone()],
        regions: w.regions.clone(),
        keys: keys_in(round, Some(account)),
        since: files.from,
        until: files.last_delivery().map_or(w.until, |u| u.min(w.until)),
    }
}

/// The round's keys of one account, or (`None`) all of them.
fn keys_in(
    round: &[(AccessKeyId, Option<AccountId>)],
    account: Option<&AccountId>,
) -> Vec<AccessKeyId> {
    round
        .iter()
        .filter(|(_, a)| account.is_none_or(|x| a.as_ref() == Some(x)))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Which files one read of the archive covered: a later round reads them again for its new
/// keys.
struct Place {
    /// The account whose folders were read; empty for the whole of a local copy.
    scope: String,
    location: String,
}

fn record(
    out: &mut Gathered,
    seen_events: &mut HashSet<String>,
    place: Place,
    keys: &[AccessKeyId],
    read: Result<ArchiveLog, String>,
) {
    let log = match read {
        Ok(log) => log,
        Err(error) => {
            out.failures.push(LookupFailure {
                key: keys
                    .iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                account: place.location,
                region: "the archive".into(),
                error,
            });
            return;
        }
    };
    let stats = out.archive.get_or_insert_with(|| ArchiveScanned {
        location: place.location,
        files: 0,
        bytes: 0,
        integrity: Default::default(),
        aggregated: 0,
    });
    // The files, what the digests say of them and the unreadable ones count once.
    if out.archive_read.insert(place.scope) {
        stats.files += log.files;
        stats.bytes += log.bytes;
        stats.integrity.merge(log.integrity);
        stats.aggregated += log.aggregated;
        out.skipped_more += log.skipped - log.reasons.len();
        out.skipped.extend(log.reasons);
    }
    for e in log.events {
        if seen_events.insert(e.event_id.clone()) {
            out.events.push(e);
        }
    }
}

/// A local copy, scanned on blocking threads (one per core), kept to the window.
async fn scan_copy(
    dir: &Path,
    keys: &[AccessKeyId],
    w: &Window,
    files: Delivered,
    workers: usize,
    progress: Arc<ScanProgress>,
) -> Result<ArchiveLog, String> {
    let dir = dir.to_path_buf();
    let needles = Needles::new(keys.iter().map(|k| k.to_string()));
    let (since, until) = (w.since, w.until);
    match tokio::task::spawn_blocking(move || scan_dir(&dir, &needles, &files, workers, &progress))
        .await
    {
        Ok(Ok(mut log)) => {
            log.events.retain(|e| e.time >= since && e.time <= until);
            Ok(log)
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("the scan stopped: {e}")),
    }
}

async fn lookup_one(
    aws: &dyn Aws,
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
    let r = aws.lookup_events(&q, &count).await;
    progress.lookups_done.fetch_add(1, Ordering::Relaxed);
    (q, r)
}

/// One line when every region failed alike (no route to the account, say), else one per region.
fn fold_failures(
    key: &AccessKeyId,
    account: &str,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_of_minted_keys_reads_the_archive_only_from_their_minting() {
        let account = AccountId::parse("111122223333").unwrap();
        let until = Utc::now();
        let w = Window {
            root: AccessKeyId::parse("AKIAIOSFODNN7EXAMPLE").unwrap(),
            account: Some(account.clone()),
            regions: vec!["us-east-1".into()],
            since: until - Duration::days(90),
            until,
        };
        let leaked = [(w.root.clone(), Some(account.clone()))];
        let first = s3_query(
            &leaked,
            &account,
            &w,
            &files_for(&leaked, &HashMap::new(), &w),
        );
        assert_eq!((first.since, first.until), (w.since, w.until));

        let session = AccessKeyId::parse("ASIAJ7VT3PZVOFFLINE1").unwrap();
        let minted_at = until - Duration::days(5);
        let born = HashMap::from([(session.clone(), minted_at)]);
        let round = [(session.clone(), Some(account.clone()))];
        let next = s3_query(&round, &account, &w, &files_for(&round, &born, &w));
        assert_eq!(next.keys, [session]);
        assert_eq!(next.since, minted_at);
        assert_eq!(
            next.until,
            minted_at + Duration::hours(LONGEST_SESSION_HOURS) + Duration::days(1),
            "the longest session, and a day for delivery"
        );
        // Minted just now: never past the window's end.
        let born = HashMap::from([(round[0].0.clone(), until - Duration::hours(1))]);
        assert_eq!(
            s3_query(&round, &account, &w, &files_for(&round, &born, &w)).until,
            until
        );
    }
}
