//! Watching a contained key: the polls due, and how far CloudTrail has been read.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::ids::IncidentId;
use crate::domain::trail::TrailEvent;

#[async_trait]
pub trait Monitoring: Send + Sync {
    /// Queues a monitor poll for every open incident contained within `window` whose next
    /// poll is due, and sets its next one `every` later; one transaction, so replicas queue
    /// each poll once.
    async fn queue_due_monitors(
        &self,
        now: DateTime<Utc>,
        every: chrono::Duration,
        window: chrono::Duration,
    ) -> Result<usize, StoreError>;
    /// Up to when CloudTrail has been read for the incident.
    async fn checked_to(&self, id: &IncidentId) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Keeps a poll's events and returns those not seen before; marks the incident's late
    /// activity at the first.
    async fn record_watch(
        &self,
        id: &IncidentId,
        checked_to: DateTime<Utc>,
        events: &[TrailEvent],
    ) -> Result<Vec<TrailEvent>, StoreError>;
}
