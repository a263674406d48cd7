//! Evidence kept before a cleanup destroys anything: what AWS said the target was, read just
//! before the approved action runs, so that nothing the attacker left is gone without a
//! record of what it was (its configuration, policies, trust documents, tags).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::action::Action;
use super::ids::{IncidentId, ProposalId};

/// What one approved action was about to destroy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub proposal: ProposalId,
    pub taken_at: DateTime<Utc>,
    /// The action it was taken for, exactly as approved.
    pub action: Action,
    /// AWS's description of the target (`{"found": false}` where it was already gone).
    pub described: Value,
    /// SHA-256 of `described` as stored, in hex: the copy elsewhere can be checked against it.
    pub sha256: String,
    /// The copy in `KEYLEAK_EVIDENCE_BUCKET`, when one is set.
    pub copy: Option<EvidenceCopy>,
}

/// Where the copy in S3 is, and how long the bucket's object lock keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceCopy {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
    /// `GOVERNANCE` or `COMPLIANCE`, when the bucket locks its objects.
    pub lock_mode: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
}

impl Evidence {
    pub fn new(
        proposal: ProposalId,
        taken_at: DateTime<Utc>,
        action: Action,
        described: Value,
    ) -> Self {
        let sha256 = hex::encode(Sha256::digest(document_bytes(&described)));
        Self {
            proposal,
            taken_at,
            action,
            described,
            sha256,
            copy: None,
        }
    }

    /// The bytes written to the bucket: `described`, as hashed.
    pub fn document(&self) -> Vec<u8> {
        document_bytes(&self.described)
    }

    /// Where the copy goes in the bucket: one object per proposal, under its incident.
    pub fn object_key(&self, incident: &IncidentId) -> String {
        format!("keyleak/{incident}/{}.json", self.proposal)
    }
}

fn document_bytes(described: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(described).unwrap_or_default()
}

impl Action {
    /// Whether the action destroys something the attacker left, so that evidence of it is
    /// kept first. Rollback and restore only undo keyleak's own containment.
    pub fn destroys(&self) -> bool {
        match self {
            Action::DeleteAccessKey { .. }
            | Action::DeleteLoginProfile { .. }
            | Action::DeleteUser { .. }
            | Action::DeleteRole { .. }
            | Action::DeletePolicy { .. }
            | Action::TerminateInstances { .. }
            | Action::DeleteFunction { .. }
            | Action::DeleteUserCredential { .. }
            | Action::Unshare { .. }
            | Action::RemoveFunctionPermission { .. }
            | Action::RevokeIngress { .. }
            | Action::RemoveGrant { .. }
            | Action::BlockPublicAccess { .. } => true,
            Action::ReactivateKey { .. } | Action::RemoveDenyAll { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_of_the_bytes_kept() {
        let e = Evidence::new(
            ProposalId::parse("PR-0123456789").unwrap(),
            Utc::now(),
            Action::DeleteLoginProfile {
                account: "111122223333".into(),
                user: "backdoor-admin".into(),
            },
            serde_json::json!({"user": "backdoor-admin", "createDate": "2026-11-20T15:10:00Z"}),
        );
        assert_eq!(e.sha256, hex::encode(Sha256::digest(e.document())));
        let incident = IncidentId::parse("KL-00C0FFEE").unwrap();
        assert_eq!(
            e.object_key(&incident),
            "keyleak/KL-00C0FFEE/PR-0123456789.json"
        );
        assert!(e.action.destroys());
    }
}
