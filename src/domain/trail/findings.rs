//! What an investigation found, as stored with the incident and shown in its thread.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::guardduty::GuardDutyReport;
use super::inventory::Created;
use super::pivot::{AssumedRole, Minted, RoleKind};
use super::summary::Summary;
use crate::domain::cleanup::Target;

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
}

/// How much of the CloudTrail archive was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveScanned {
    pub location: String,
    pub files: usize,
    /// Decompressed bytes.
    pub bytes: usize,
}

impl Findings {
    /// Whether every region of every key was read in full.
    pub fn complete(&self) -> bool {
        self.failures.is_empty() && self.skipped == 0
    }
}
