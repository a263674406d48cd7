//! Restore's claim on issuing a new key, and the handover that records it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::rows::*;
use super::{SqlStore, begin_write, insert_audit};
use crate::domain::ids::IncidentId;
use crate::domain::restore::Handover;
use crate::store::{AuditEntry, RestoreClaim, Restores, StoreError};

#[async_trait]
impl Restores for SqlStore {
    async fn claim_restore(
        &self,
        id: &IncidentId,
        job: i64,
        at: DateTime<Utc>,
    ) -> Result<RestoreClaim, StoreError> {
        let mut tx = begin_write(&self.write, self.dialect).await?;
        let row: Option<(i64, String, Option<String>)> =
            sqlx::query_as("SELECT job_id, state, handover FROM restores WHERE incident_id = $1")
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let claim = match row {
            None => {
                sqlx::query(
                    "INSERT INTO restores (incident_id, job_id, state, updated_at) \
                     VALUES ($1, $2, 'issuing', $3)",
                )
                .bind(id.as_str())
                .bind(job)
                .bind(ms(at))
                .execute(&mut *tx)
                .await?;
                RestoreClaim::Mine
            }
            Some((_, state, Some(h))) if state == "issued" => {
                RestoreClaim::Issued(serde_json::from_str(&h).map_err(StoreError::corrupt)?)
            }
            Some((holder, _, _)) if holder == job => RestoreClaim::Mine,
            Some(_) => RestoreClaim::Busy,
        };
        tx.commit().await?;
        Ok(claim)
    }

    async fn record_handover(
        &self,
        id: &IncidentId,
        h: &Handover,
        audit: AuditEntry,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(h).map_err(StoreError::corrupt)?;
        let mut tx = begin_write(&self.write, self.dialect).await?;
        sqlx::query(
            "UPDATE restores SET state = 'issued', handover = $1, updated_at = $2 WHERE incident_id = $3",
        )
        .bind(json)
        .bind(ms(audit.at))
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives up a claim that issued nothing (the user had no free key slot).
    async fn release_restore(&self, id: &IncidentId, job: i64) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM restores WHERE incident_id = $1 AND job_id = $2 AND state = 'issuing'",
        )
        .bind(id.as_str())
        .bind(job)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn handover(&self, id: &IncidentId) -> Result<Option<Handover>, StoreError> {
        let h: Option<Option<String>> = sqlx::query_scalar(
            "SELECT handover FROM restores WHERE incident_id = $1 AND state = 'issued'",
        )
        .bind(id.as_str())
        .fetch_optional(&self.read)
        .await?;
        h.flatten()
            .map(|h| serde_json::from_str(&h).map_err(StoreError::corrupt))
            .transpose()
    }
}
