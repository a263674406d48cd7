//! Restoring access: the right to issue an incident's new key, held by one job, and the
//! handover that records it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{AuditEntry, StoreError};
use crate::domain::ids::IncidentId;
use crate::domain::restore::Handover;

/// Who may issue an incident's new key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreClaim {
    /// This job: go ahead (first check AWS for a key a crashed run of this job made).
    Mine,
    Issued(Handover),
    /// Another job is issuing it now.
    Busy,
}

#[async_trait]
pub trait Restores: Send + Sync {
    /// Takes the right to issue the incident's new key for `job` (again, when that job is
    /// retried), or says it is issued or held by another job.
    async fn claim_restore(
        &self,
        id: &IncidentId,
        job: i64,
        at: DateTime<Utc>,
    ) -> Result<RestoreClaim, StoreError>;
    /// Records the handover and its audit row together.
    async fn record_handover(
        &self,
        id: &IncidentId,
        handover: &Handover,
        audit: AuditEntry,
    ) -> Result<(), StoreError>;
    /// Gives up a claim that issued nothing (the user had no free key slot).
    async fn release_restore(&self, id: &IncidentId, job: i64) -> Result<(), StoreError>;
    async fn handover(&self, id: &IncidentId) -> Result<Option<Handover>, StoreError>;
}
