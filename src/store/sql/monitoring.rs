//! Monitoring after containment: which incidents are due a CloudTrail poll, and what each
//! poll found.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::rows::*;
use super::{SqlStore, begin_write, insert_job};
use crate::domain::ids::IncidentId;
use crate::domain::trail::TrailEvent;
use crate::store::{Monitoring, NewJob, StoreError, Work};

#[async_trait]
impl Monitoring for SqlStore {
    async fn queue_due_monitors(
        &self,
        now: DateTime<Utc>,
        every: Duration,
        window: Duration,
    ) -> Result<usize, StoreError> {
        let mut tx = begin_write(&self.write, self.dialect).await?;
        let due: Vec<(String, i64)> = sqlx::query_as(
            "SELECT i.id, i.contained_at FROM incidents i \
             LEFT JOIN monitors m ON m.incident_id = i.id \
             WHERE i.state <> 'closed' AND i.contained_at IS NOT NULL AND i.contained_at > $1 \
             AND (m.next_at IS NULL OR m.next_at <= $2)",
        )
        .bind(ms(now - window))
        .bind(ms(now))
        .fetch_all(&mut *tx)
        .await?;
        for (id, contained_at) in &due {
            sqlx::query(
                "INSERT INTO monitors (incident_id, next_at, checked_to) VALUES ($1, $2, $3) \
                 ON CONFLICT (incident_id) DO UPDATE SET next_at = excluded.next_at",
            )
            .bind(id)
            .bind(ms(now + every))
            .bind(contained_at)
            .execute(&mut *tx)
            .await?;
            let incident = IncidentId::parse(id).map_err(|_| corrupt("incident id", id))?;
            let job = NewJob {
                work: Work::Monitor,
                incident,
                response_url: None,
            };
            insert_job(&mut tx, &job, now).await?;
        }
        tx.commit().await?;
        Ok(due.len())
    }

    async fn checked_to(&self, id: &IncidentId) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<i64> =
            sqlx::query_scalar("SELECT checked_to FROM monitors WHERE incident_id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.read)
                .await?;
        at.map(from_ms).transpose()
    }

    /// Stores the events not seen before and returns them; moves the checked mark; marks the
    /// incident at its first late call.
    async fn record_watch(
        &self,
        id: &IncidentId,
        checked_to: DateTime<Utc>,
        events: &[TrailEvent],
    ) -> Result<Vec<TrailEvent>, StoreError> {
        let mut tx = begin_write(&self.write, self.dialect).await?;
        let mut new = vec![];
        for e in events {
            let json =
                serde_json::to_string(e).map_err(|err| StoreError::Corrupt(err.to_string()))?;
            let added = sqlx::query(
                "INSERT INTO trail_events (incident_id, event_id, event_time, event) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(id.as_str())
            .bind(&e.event_id)
            .bind(ms(e.time))
            .bind(json)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if added > 0 {
                new.push(e.clone());
            }
        }
        // CASE rather than the two-argument MAX and MIN, which PostgreSQL calls otherwise.
        sqlx::query(
            "UPDATE monitors SET checked_to = CASE WHEN checked_to > $1 THEN checked_to ELSE $1 END \
             WHERE incident_id = $2",
        )
        .bind(ms(checked_to))
            .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        if let Some(first) = new.iter().map(|e| e.time).min() {
            sqlx::query(
                "UPDATE incidents SET late_activity = CASE WHEN late_activity < $1 \
                 THEN late_activity ELSE $1 END WHERE id = $2",
            )
            .bind(ms(first))
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(new)
    }
}
