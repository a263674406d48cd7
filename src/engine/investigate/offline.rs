//! `keyleak investigate --archive DIR KEY`: the same gathering over a local copy of a
//! CloudTrail archive, with no AWS, no store and no Slack: the key's calls, then breadth
//! first the calls of the keys it minted.

use std::path::Path;

use super::*;
use crate::archive::ScanProgress;

/// Reads `dir` for `key` and what it minted, keeping events in `[since, until]`; `progress`
/// counts the files as they are read.
pub async fn investigate_copy(
    dir: &Path,
    key: &AccessKeyId,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    workers: usize,
    progress: Arc<ScanProgress>,
) -> (Findings, Vec<TrailEvent>) {
    let window = Window {
        root: key.clone(),
        account: None,
        regions: vec![],
        since,
        until,
    };
    let sources = Sources {
        trail: None,
        archive: Some(Archive::Local {
            dir,
            workers,
            progress,
        }),
    };
    let gathered = gather(&sources, &window, &Progress::default()).await;
    let (mut findings, events) = gathered.findings(&window, Utc::now());
    findings.scope = Scope::LocalCopy;
    // Nothing was searched region by region: the regions are those the calls came from.
    findings.regions = findings
        .summary
        .regions
        .iter()
        .map(|t| t.value.clone())
        .collect();
    (findings, events)
}
