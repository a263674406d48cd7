//! The append-only audit log: who did what, when, from which verified request.

use async_trait::async_trait;

use super::{AuditEntry, StoreError};
use crate::domain::ids::IncidentId;

#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn audit(&self, entry: AuditEntry) -> Result<(), StoreError>;
    /// The rows of one incident, or of all when `id` is `None`, in the order written.
    async fn audit_log(&self, id: Option<&IncidentId>) -> Result<Vec<AuditEntry>, StoreError>;
}
