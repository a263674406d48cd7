//! What an investigation found, as stored with the incident and shown in its thread.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::TrailEvent;
use super::guardduty::GuardDutyReport;
use super::inventory::Created;
use super::pivot::{AssumedRole, Minted, RoleKind};
use super::summary::Summary;
use crate::domain::cleanup::Target;
use crate::domain::policy::AWS_QUARANTINE_PREFIX;

/// One key looked up, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySearched {
    pub key: String,
    pub account: String,
    pub events: usize,
}

/// A region whose log could not be read in full: the answer is partial there, and says so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupFailure {
    pub key: String,
    pub account: String,
    pub region: String,
    pub error: String,
}

/// What was done about a role's sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fence", rename_all = "snake_case")]
pub enum FenceOutcome {
    Fenced {
        policy_name: String,
        request_id: Option<String>,
    },
    /// Service-linked or Identity Center: a person must act (the message says how).
    Manual {
        kind: RoleKind,
    },
    Failed {
        error: String,
    },
    /// Seen only in archive files no signed digest vouches for, which anyone who can write to
    /// the bucket can plant: no policy is written on that evidence alone; a person decides.
    ArchiveOnly,
    /// The incident is in triage: nothing is changed until someone contains it, which
    /// investigates again and fences the role then.
    Deferred,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleFence {
    pub role: AssumedRole,
    pub outcome: FenceOutcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Findings {
    pub key: String,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub regions: Vec<String>,
    pub searched: Vec<KeySearched>,
    pub summary: Summary,
    pub minted: Vec<Minted>,
    pub roles: Vec<RoleFence>,
    pub created: Vec<Created>,
    /// Cleanup proposals queued from the inventory.
    pub proposed: Vec<Target>,
    /// Created resources no proposal covers (another account, a kind keyleak cannot delete).
    pub manual: usize,
    pub failures: Vec<LookupFailure>,
    /// Records that could not be read: how many, and the first few reasons.
    pub skipped: usize,
    pub skipped_reasons: Vec<String>,
    pub pages: usize,
    pub throttled: usize,
    /// `AWSCompromisedKeyQuarantine*` policies on the user when it was contained.
    pub quarantine: Vec<String>,
    /// Absent from findings stored before GuardDuty was asked.
    #[serde(default)]
    pub guardduty: GuardDutyReport,
    /// Set when a CloudTrail archive was scanned too.
    #[serde(default)]
    pub archive: Option<ArchiveScanned>,
    /// When AWS attached its quarantine policies to the user, as CloudTrail shows it.
    #[serde(default)]
    pub quarantined: Vec<QuarantineAttached>,
    /// What was asked; absent from findings stored before a local copy could be read.
    #[serde(default)]
    pub scope: Scope,
    /// Techniques, secrets to rotate and blinding; absent from findings stored before.
    #[serde(default)]
    pub footprint: super::footprint::Footprint,
}

/// Where the findings come from, and so what they can claim.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// AWS itself: CloudTrail region by region, GuardDuty, the user's policies.
    #[default]
    Aws,
    /// Only a local copy of a CloudTrail archive: no region was searched, GuardDuty was not
    /// asked and nobody's policies were read.
    LocalCopy,
}

/// AWS attaching `AWSCompromisedKeyQuarantine*` to the user: it found the key exposed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineAttached {
    pub policy: String,
    pub at: DateTime<Utc>,
}

/// The `AttachUserPolicy` events among `events` that put a quarantine policy on `user`.
pub fn quarantine_attached(user: &str, events: &[TrailEvent]) -> Vec<QuarantineAttached> {
    let mut out: Vec<QuarantineAttached> = events
        .iter()
        .filter(|e| e.name == "AttachUserPolicy" && e.error_code.is_none())
        .filter(|e| e.request.get("userName").and_then(|u| u.as_str()) == Some(user))
        .filter_map(|e| {
            let arn = e.request.get("policyArn")?.as_str()?;
            let policy = arn.rsplit('/').next()?;
            policy
                .starts_with(AWS_QUARANTINE_PREFIX)
                .then(|| QuarantineAttached {
                    policy: policy.to_string(),
                    at: e.time,
                })
        })
        .collect();
    out.sort_by_key(|q| q.at);
    out
}

/// How much of the CloudTrail archive was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveScanned {
    pub location: String,
    pub files: usize,
    /// Decompressed bytes.
    pub bytes: usize,
    /// Absent from findings stored before digests were checked.
    #[serde(default)]
    pub integrity: ArchiveIntegrity,
    /// Aggregated data-event records: summaries whose calls cannot be attributed.
    #[serde(default)]
    pub aggregated: usize,
}

/// What CloudTrail's signed digest files say of the archive files read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveIntegrity {
    /// Digest files whose signature verified.
    pub digests: usize,
    /// Log files a verified digest vouches for, hash and all.
    pub verified: usize,
    /// Log files whose content is not what a verified digest says CloudTrail delivered:
    /// their events are not used.
    pub altered: usize,
    /// Log files a verified digest lists that are gone from the bucket.
    pub deleted: usize,
    /// Digest files that failed verification, or that a verified one names and are gone.
    pub bad_digests: usize,
    /// The first few of the above, each with its file and why.
    pub notes: Vec<IntegrityNote>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrityNote {
    /// The S3 key in question; `None` for what concerns the whole check.
    pub file: Option<String>,
    pub why: String,
}

impl ArchiveIntegrity {
    /// Whether anything shows the archive changed after CloudTrail wrote it.
    pub fn tampered(&self) -> bool {
        self.altered + self.deleted + self.bad_digests > 0
    }

    pub fn merge(&mut self, other: ArchiveIntegrity) {
        self.digests += other.digests;
        self.verified += other.verified;
        self.altered += other.altered;
        self.deleted += other.deleted;
        self.bad_digests += other.bad_digests;
        let room = MAX_NOTES.saturating_sub(self.notes.len());
        self.notes.extend(other.notes.into_iter().take(room));
    }

    pub fn note(&mut self, file: Option<&str>, why: impl Into<String>) {
        if self.notes.len() < MAX_NOTES {
            self.notes.push(IntegrityNote {
                file: file.map(str::to_string),
                why: why.into(),
            });
        }
    }
}

/// Notes kept on the archive's integrity; the counts are always complete.
const MAX_NOTES: usize = 20;

impl Findings {
    /// Whether every region of every key was read in full, and nothing read was tampered with.
    pub fn complete(&self) -> bool {
        self.failures.is_empty()
            && self.skipped == 0
            && !self
                .archive
                .as_ref()
                .is_some_and(|a| a.integrity.tampered())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::trail::fixtures::{self, event};

    fn attach(user: &str, arn: &str) -> TrailEvent {
        let mut e = event(fixtures::LIST_USERS);
        e.name = "AttachUserPolicy".into();
        e.request = json!({ "userName": user, "policyArn": arn });
        e
    }

    #[test]
    fn aws_quarantining_the_user_is_found_by_its_policy_prefix() {
        let events = [
            attach(
                "ci-deploy",
                "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3",
            ),
            attach("ci-deploy", "arn:aws:iam::aws:policy/ReadOnlyAccess"),
            attach(
                "someone-else",
                "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3",
            ),
            event(fixtures::LIST_USERS),
        ];
        let found = quarantine_attached("ci-deploy", &events);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].policy, "AWSCompromisedKeyQuarantineV3");
        let mut failed = attach(
            "ci-deploy",
            "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV2",
        );
        failed.error_code = Some("AccessDenied".into());
        assert!(quarantine_attached("ci-deploy", &[failed]).is_empty());
    }
}
