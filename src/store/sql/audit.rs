//! The audit log's rows, written inside the transaction of the change they record.

use async_trait::async_trait;

use super::SqlStore;
use super::rows::{Any, audit_from_row, ms};
use crate::domain::ids::IncidentId;
use crate::store::{AuditEntry, AuditLog, StoreError};

pub(super) async fn insert_audit<'e, E>(exec: E, e: &AuditEntry) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    sqlx::query(
        "INSERT INTO audit (at, actor, action, incident_id, detail, origin) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(ms(e.at))
    .bind(&e.actor)
    .bind(e.action.name())
    .bind(e.incident_id.as_ref().map(IncidentId::as_str))
    .bind(&e.detail)
    .bind(&e.origin)
    .execute(exec)
    .await?;
    Ok(())
}

#[async_trait]
impl AuditLog for SqlStore {
    async fn audit(&self, entry: AuditEntry) -> Result<(), StoreError> {
        insert_audit(&self.write, &entry).await
    }

    async fn audit_log(&self, id: Option<&IncidentId>) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, actor, action, incident_id, detail, origin FROM audit \
             WHERE $1 IS NULL OR incident_id = $1 ORDER BY id",
        )
        .bind(id.map(IncidentId::as_str))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(audit_from_row).collect()
    }
}
