//! Evidence kept before deletion, one record per proposal.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::evidence::Evidence;
use crate::domain::ids::{IncidentId, ProposalId};

#[async_trait]
pub trait EvidenceLog: Send + Sync {
    /// Records the evidence of a proposal's targets, replacing what was kept for it before
    /// (the same document, once its copy is made).
    async fn keep_evidence(
        &self,
        incident: &IncidentId,
        evidence: &Evidence,
    ) -> Result<(), StoreError>;
    /// The evidence kept for a proposal, if any.
    async fn evidence_of(&self, proposal: &ProposalId) -> Result<Option<Evidence>, StoreError>;
    /// Everything kept for the incident, oldest first.
    async fn evidence(&self, incident: &IncidentId) -> Result<Vec<Evidence>, StoreError>;
}
