//! `keyleak investigate --archive DIR KEY`: forensics over a local copy of a CloudTrail
//! archive, with no AWS and no Slack: the key's calls, then breadth first the calls of the
//! keys it minted, summarised as in Slack, and the timeline written as files.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::archive::scan::Needles;
use crate::archive::{ArchiveLog, scan_dir};
use crate::domain::ids::AccessKeyId;
use crate::domain::trail::TrailEvent;
use crate::domain::trail::findings::{ArchiveScanned, Findings, KeySearched};
use crate::domain::trail::inventory::created;
use crate::domain::trail::pivot::{Frontier, Pushed, minted};
use crate::domain::trail::summary::{Tally, summarize};

pub struct Offline {
    pub findings: Findings,
    pub events: Vec<TrailEvent>,
}

/// Scans `dir` for `key` and what it minted, keeping events in `[since, until]`.
pub fn investigate(
    dir: &Path,
    key: &AccessKeyId,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    workers: usize,
) -> std::io::Result<Offline> {
    let mut frontier = Frontier::new(key.clone(), None);
    let mut all = ArchiveLog::default();
    let mut minted_keys = vec![];
    let mut searched = vec![];
    loop {
        // A scan reads every file, so each round looks for all the keys the last one found.
        let round: Vec<AccessKeyId> = std::iter::from_fn(|| frontier.pop())
            .map(|(k, _)| k)
            .collect();
        if round.is_empty() {
            break;
        }
        let mut log = scan_dir(
            dir,
            &Needles::new(round.iter().map(|k| k.to_string())),
            workers,
        )?;
        log.events.retain(|e| e.time >= since && e.time <= until);
        for k in &round {
            let mine: Vec<&TrailEvent> = log
                .events
                .iter()
                .filter(|e| e.identity.access_key_id.as_deref() == Some(k.as_str()))
                .collect();
            let events = mine.len();
            let account = mine
                .iter()
                .find_map(|e| e.account().map(str::to_string))
                .unwrap_or_default();
            searched.push(KeySearched {
                key: k.to_string(),
                account,
                events,
            });
        }
        for m in log.events.iter().filter_map(minted) {
            if frontier.push(m.key.clone(), m.account.clone()) == Pushed::New {
                minted_keys.push(m);
            }
        }
        all.merge(log);
    }
    all.settle();
    let summary = summarize(&all.events);
    let regions = summary
        .regions
        .iter()
        .map(|t: &Tally| t.value.clone())
        .collect();
    let findings = Findings {
        key: key.to_string(),
        since,
        until,
        finished_at: Utc::now(),
        regions,
        searched,
        summary,
        minted: minted_keys,
        roles: vec![],
        created: all.events.iter().flat_map(created).collect(),
        proposed: vec![],
        manual: 0,
        failures: vec![],
        skipped: all.skipped,
        skipped_reasons: all.reasons.clone(),
        pages: 0,
        throttled: 0,
        quarantine: vec![],
        guardduty: Default::default(),
        quarantined: vec![],
        archive: Some(ArchiveScanned {
            location: dir.display().to_string(),
            files: all.files,
            bytes: all.bytes,
            integrity: all.integrity,
        }),
    };
    Ok(Offline {
        findings,
        events: all.events,
    })
}
