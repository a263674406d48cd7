//! Evidence kept before deletion, as JSON beside its proposal.

use async_trait::async_trait;

use super::SqlStore;
use super::rows::*;
use crate::domain::evidence::Evidence;
use crate::domain::ids::{IncidentId, ProposalId};
use crate::store::{EvidenceLog, StoreError};

fn parsed(text: &str) -> Result<Evidence, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt("evidence", &e.to_string()))
}

#[async_trait]
impl EvidenceLog for SqlStore {
    async fn keep_evidence(
        &self,
        incident: &IncidentId,
        evidence: &Evidence,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO evidence (proposal_id, incident_id, taken_at, evidence) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (proposal_id) DO UPDATE SET \
             evidence = excluded.evidence",
        )
        .bind(evidence.proposal.as_str())
        .bind(incident.as_str())
        .bind(ms(evidence.taken_at))
        .bind(to_json(evidence)?)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn evidence_of(&self, proposal: &ProposalId) -> Result<Option<Evidence>, StoreError> {
        let text: Option<String> =
            sqlx::query_scalar("SELECT evidence FROM evidence WHERE proposal_id = $1")
                .bind(proposal.as_str())
                .fetch_optional(&self.read)
                .await?;
        text.as_deref().map(parsed).transpose()
    }

    async fn evidence(&self, incident: &IncidentId) -> Result<Vec<Evidence>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT evidence FROM evidence WHERE incident_id = $1 ORDER BY taken_at, proposal_id",
        )
        .bind(incident.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(|t| parsed(t)).collect()
    }
}
