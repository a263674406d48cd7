//! What investigations found: their findings, the incident's timeline of events, and the
//! message each investigation draws its progress in.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::approval::MessageRef;
use crate::domain::ids::IncidentId;
use crate::domain::trail::TrailEvent;
use crate::domain::trail::findings::Findings;

#[async_trait]
pub trait Forensics: Send + Sync {
    /// The message an investigate job draws its progress and summary in.
    async fn investigation_message(&self, job: i64) -> Result<Option<MessageRef>, StoreError>;
    async fn set_investigation_message(
        &self,
        incident: &IncidentId,
        job: i64,
        message: &MessageRef,
    ) -> Result<(), StoreError>;
    /// Records an investigation's findings and adds its events to the incident's timeline
    /// (an event already there is kept once), together.
    async fn save_findings(
        &self,
        incident: &IncidentId,
        job: i64,
        findings: &Findings,
        events: &[TrailEvent],
    ) -> Result<(), StoreError>;
    /// The most recent investigation's findings.
    async fn findings(&self, incident: &IncidentId) -> Result<Option<Findings>, StoreError>;
    /// Every event recorded for the incident, oldest first.
    async fn trail_events(&self, incident: &IncidentId) -> Result<Vec<TrailEvent>, StoreError>;
}
