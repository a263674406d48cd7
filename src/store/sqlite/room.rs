//! Closing incidents, and the files of their latest report.

use chrono::{DateTime, Utc};

use super::rows::*;
use super::{SqliteStore, insert_audit, insert_job};
use crate::domain::ids::IncidentId;
use crate::store::{AuditEntry, NewJob, StoreError};

impl SqliteStore {
    pub(super) async fn close_open(
        &self,
        id: &IncidentId,
        audit: &AuditEntry,
        job: &NewJob,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write.begin().await?;
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
}
