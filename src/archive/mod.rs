//! CloudTrail archives: the organization trail's files in S3 (through the AWS port) or a
//! local copy of them (`keyleak investigate --archive DIR`), scanned in parallel for the
//! calls of the keys under investigation. Beyond LookupEvents' 90 days, and with data events.

pub mod digest;
pub mod layout;
mod local;
pub mod scan;

use crate::domain::trail::findings::ArchiveIntegrity;
use crate::domain::trail::{Provenance, TrailEvent};
pub use local::{ScanProgress, scan_dir};
use scan::{FileError, FileScan};

/// The largest compressed file fetched or read; CloudTrail's are far smaller.
pub const MAX_OBJECT_BYTES: u64 = 32 << 20;

/// What one archive file may cost to scan, and all scans at once: a planted file that
/// decompresses to hundreds of megabytes, times every worker, must not exhaust memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// The largest file accepted, decompressed (`KEYLEAK_ARCHIVE_MAX_FILE_MB`). CloudTrail
    /// delivers a file per account and region about every five minutes: tens of megabytes
    /// at most.
    pub max_file_bytes: usize,
    /// Decompressed bytes held by all scans in this process at once
    /// (`KEYLEAK_ARCHIVE_MEMORY_MB`); a file waits for room before it is decompressed.
    pub memory_bytes: usize,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        Self {
            max_file_bytes: 100 << 20,
            memory_bytes: 512 << 20,
        }
    }
}
/// Reasons kept for unreadable files and records; the count is always complete.
const MAX_REASONS: usize = 20;

/// What scanning an archive gave.
#[derive(Debug, Default, PartialEq)]
pub struct ArchiveLog {
    /// Oldest first, each event once (CloudTrail may deliver a record twice).
    pub events: Vec<TrailEvent>,
    pub files: usize,
    /// Decompressed bytes scanned.
    pub bytes: usize,
    /// Files and records that could not be read.
    pub skipped: usize,
    /// The first few of them, with where and why.
    pub reasons: Vec<String>,
    /// What the digests said of the files.
    pub integrity: ArchiveIntegrity,
    /// Aggregated data-event records met (see `FileScan::aggregated`).
    pub aggregated: usize,
}

impl ArchiveLog {
    /// Takes one file's outcome.
    pub fn add(&mut self, name: &str, scanned: Result<FileScan, FileError>) {
        self.files += 1;
        match scanned {
            Ok(f) => {
                self.bytes += f.bytes;
                self.aggregated += f.aggregated;
                let provenance = match f.vouched {
                    Some(true) => {
                        self.integrity.verified += 1;
                        Provenance::ArchiveVerified
                    }
                    Some(false) => {
                        self.integrity.altered += 1;
                        self.integrity.note(
                            Some(name),
                            "its content is not what CloudTrail delivered (the signed digest \
                             gives another SHA-256): its events are not used",
                        );
                        return;
                    }
                    None => Provenance::ArchiveUnverified,
                };
                // A record for another account in an account's folder was put there by
                // someone other than CloudTrail: flagged, never used.
                let folder = layout::account_of(name);
                for mut e in f.events {
                    match (folder, e.recipient_account.as_deref()) {
                        (Some(want), Some(got)) if want != got => self.skip(format!(
                            "a record in {name} is for account {got}, not the folder's {want}: \
                             not used"
                        )),
                        _ => {
                            e.provenance = provenance;
                            self.events.push(e);
                        }
                    }
                }
                for why in f.skipped {
                    self.skip(format!("a record in {name}: {why}"));
                }
            }
            Err(e) => self.skip(format!("{name}: {e}")),
        }
    }

    /// A file that could not be fetched or read at all.
    pub fn unreadable(&mut self, name: &str, why: impl std::fmt::Display) {
        self.files += 1;
        self.skip(format!("{name}: {why}"));
    }

    pub fn skip(&mut self, reason: String) {
        self.skipped += 1;
        if self.reasons.len() < MAX_REASONS {
            self.reasons.push(reason);
        }
    }

    pub fn merge(&mut self, other: ArchiveLog) {
        self.files += other.files;
        self.bytes += other.bytes;
        self.events.extend(other.events);
        self.skipped += other.skipped;
        let room = MAX_REASONS.saturating_sub(self.reasons.len());
        self.reasons.extend(other.reasons.into_iter().take(room));
        self.integrity.merge(other.integrity);
        self.aggregated += other.aggregated;
    }

    /// Oldest first, duplicates dropped.
    pub fn settle(&mut self) {
        self.events.sort_by(|a, b| {
            a.time
                .cmp(&b.time)
                .then_with(|| a.event_id.cmp(&b.event_id))
        });
        self.events.dedup_by(|a, b| a.event_id == b.event_id);
    }
}
