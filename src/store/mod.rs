//! The store port: incidents, their steps, the job queue and the append-only audit log.
//! State lives here, not in memory, so a restart or a second replica resumes the work.
//!
//! One small trait per aggregate; `Store` is all of them together, which is what an adapter
//! implements and what the engine holds.

mod audit;
mod evidence;
mod forensics;
mod incidents;
mod jobs;
mod monitoring;
mod proposals;
mod restores;
mod sql;

use std::error::Error as StdError;

use async_trait::async_trait;

use crate::domain::ids::IncidentId;

pub use crate::domain::audit::AuditEntry;
pub use crate::domain::job::{JobKind, Work};
pub use audit::AuditLog;
pub use evidence::EvidenceLog;
pub use forensics::Forensics;
pub use incidents::{IncidentFacts, Incidents, NewIncident, Opened, Opening, Reports, Steps};
pub use jobs::{AbandonedJob, Claim, ClaimedJob, JobQueue, NewJob};
pub use monitoring::Monitoring;
pub use proposals::{ExecutionRight, Proposals};
pub use restores::{RestoreClaim, Restores};
pub use sql::SqlStore;

/// Why the store could not do what was asked, in terms that hold for every adapter; the
/// database's own error is the source, for the log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no incident {0}")]
    NoSuchIncident(IncidentId),
    #[error("{0}")]
    Unsupported(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database could not be reached, or did not answer in time: a passing cause.
    #[error("the database is unavailable")]
    Unavailable(#[source] Box<dyn StdError + Send + Sync>),
    /// The database refused a statement.
    #[error("the database refused a statement")]
    Refused(#[source] Box<dyn StdError + Send + Sync>),
    #[error("the database's schema could not be brought up to date")]
    Migrate(#[source] Box<dyn StdError + Send + Sync>),
}

impl StoreError {
    pub(crate) fn corrupt(e: impl std::fmt::Display) -> Self {
        Self::Corrupt(e.to_string())
    }
}

/// Every aggregate's port, as one store an adapter provides.
#[async_trait]
pub trait Store:
    Incidents
    + Steps
    + Reports
    + AuditLog
    + JobQueue
    + Proposals
    + Forensics
    + Restores
    + Monitoring
    + EvidenceLog
    + Send
    + Sync
{
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Opens the store named by `KEYLEAK_DATABASE_URL` and brings its schema up to date.
pub async fn connect(url: &str) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    Ok(std::sync::Arc::new(SqlStore::connect(url).await?))
}
