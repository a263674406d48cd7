//! Closing incidents, the files of their latest report, and restore's handover.

use chrono::{DateTime, Utc};

use super::rows::*;
use super::{SqliteStore, begin_write, insert_audit, insert_job};
use crate::domain::ids::IncidentId;
use crate::domain::restore::Handover;
use crate::store::{AuditEntry, NewJob, RestoreClaim, StoreError};

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl SqliteStore {
    pub(super) async fn close_open(
        &self,
        id: &IncidentId,
        audit: &AuditEntry,
        job: &NewJob,
    ) -> Result<bool, StoreError> {
        let mut tx = begin_write(&self.write).await?;
        let changed =
            sqlx::query("UPDATE incidents SET state = 'closed' WHERE id = ? AND state <> 'closed'")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        insert_audit(&mut *tx, audit).await?;
        insert_job(&mut tx, job, audit.at).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(super) async fn report_files_of(&self, id: &IncidentId) -> Result<Vec<String>, StoreError> {
        let files: Option<String> =
            sqlx::query_scalar("SELECT files FROM reports WHERE incident_id = ?")
                .bind(id.as_str())
                .fetch_optional(&self.read)
                .await?;
        files
            .map(|f| serde_json::from_str(&f).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    pub(super) async fn record_report_files(
        &self,
        id: &IncidentId,
        files: &[String],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let files = serde_json::to_string(files).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO reports (incident_id, files, made_at) VALUES (?, ?, ?) \
             ON CONFLICT (incident_id) DO UPDATE SET files = excluded.files, made_at = excluded.made_at",
        )
        .bind(id.as_str())
        .bind(files)
        .bind(ms(at))
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub(super) async fn take_restore(
        &self,
        id: &IncidentId,
        job: i64,
        at: DateTime<Utc>,
    ) -> Result<RestoreClaim, StoreError> {
        let mut tx = begin_write(&self.write).await?;
        let row: Option<(i64, String, Option<String>)> =
            sqlx::query_as("SELECT job_id, state, handover FROM restores WHERE incident_id = ?")
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let claim = match row {
            None => {
                sqlx::query(
                    "INSERT INTO restores (incident_id, job_id, state, updated_at) \
                     VALUES (?, ?, 'issuing', ?)",
                )
                .bind(id.as_str())
                .bind(job)
                .bind(ms(at))
                .execute(&mut *tx)
                .await?;
                RestoreClaim::Mine
            }
            Some((_, state, Some(h))) if state == "issued" => {
                RestoreClaim::Issued(serde_json::from_str(&h).map_err(corrupt)?)
            }
            Some((holder, _, _)) if holder == job => RestoreClaim::Mine,
            Some(_) => RestoreClaim::Busy,
        };
        tx.commit().await?;
        Ok(claim)
    }

    pub(super) async fn write_handover(
        &self,
        id: &IncidentId,
        h: &Handover,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(h).map_err(corrupt)?;
        let mut tx = begin_write(&self.write).await?;
        sqlx::query(
            "UPDATE restores SET state = 'issued', handover = ?, updated_at = ? WHERE incident_id = ?",
        )
        .bind(json)
        .bind(ms(audit.at))
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut *tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives up a claim that issued nothing (the user had no free key slot).
    pub(super) async fn drop_restore_claim(
        &self,
        id: &IncidentId,
        job: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM restores WHERE incident_id = ? AND job_id = ? AND state = 'issuing'",
        )
        .bind(id.as_str())
        .bind(job)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub(super) async fn handover_of(
        &self,
        id: &IncidentId,
    ) -> Result<Option<Handover>, StoreError> {
        let h: Option<Option<String>> = sqlx::query_scalar(
            "SELECT handover FROM restores WHERE incident_id = ? AND state = 'issued'",
        )
        .bind(id.as_str())
        .fetch_optional(&self.read)
        .await?;
        h.flatten()
            .map(|h| serde_json::from_str(&h).map_err(corrupt))
            .transpose()
    }
}
