//! The audit log's entries: who did what, to which incident, from which verified request.

use chrono::{DateTime, Utc};

use crate::domain::ids::IncidentId;

#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub incident_id: Option<IncidentId>,
    pub detail: String,
    pub origin: String,
}
