//! Investigations and the CloudTrail timeline. Findings and events are written in one
//! transaction, so a report never sees one without the other.

use async_trait::async_trait;
use sqlx::Row;

use super::rows::*;
use super::{SqlStore, begin_write};
use crate::domain::approval::MessageRef;
use crate::domain::ids::IncidentId;
use crate::domain::trail::TrailEvent;
use crate::domain::trail::findings::Findings;
use crate::store::{Forensics, StoreError};

#[async_trait]
impl Forensics for SqlStore {
    async fn investigation_message(&self, job: i64) -> Result<Option<MessageRef>, StoreError> {
        let row =
            sqlx::query("SELECT message_channel, message_ts FROM investigations WHERE job_id = $1")
                .bind(job)
                .fetch_optional(&self.read)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let channel: Option<String> = row.try_get("message_channel")?;
        let ts: Option<String> = row.try_get("message_ts")?;
        Ok(channel
            .zip(ts)
            .map(|(channel, ts)| MessageRef { channel, ts }))
    }

    async fn set_investigation_message(
        &self,
        incident: &IncidentId,
        job: i64,
        m: &MessageRef,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO investigations (job_id, incident_id, message_channel, message_ts) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (job_id) DO UPDATE SET \
             message_channel = excluded.message_channel, message_ts = excluded.message_ts",
        )
        .bind(job)
        .bind(incident.as_str())
        .bind(&m.channel)
        .bind(&m.ts)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn save_findings(
        &self,
        incident: &IncidentId,
        job: i64,
        findings: &Findings,
        events: &[TrailEvent],
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.write, self.dialect).await?;
        sqlx::query(
            "INSERT INTO investigations (job_id, incident_id, finished_at, findings) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (job_id) DO UPDATE SET \
             finished_at = excluded.finished_at, findings = excluded.findings",
        )
        .bind(job)
        .bind(incident.as_str())
        .bind(ms(findings.finished_at))
        .bind(to_json(findings)?)
        .execute(&mut *tx)
        .await?;
        for e in events {
            sqlx::query(
                "INSERT INTO trail_events (incident_id, event_id, event_time, event) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(incident.as_str())
            .bind(&e.event_id)
            .bind(ms(e.time))
            .bind(to_json(e)?)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn findings(&self, incident: &IncidentId) -> Result<Option<Findings>, StoreError> {
        let text: Option<String> = sqlx::query_scalar(
            "SELECT findings FROM investigations WHERE incident_id = $1 AND findings IS NOT NULL \
             ORDER BY finished_at DESC, job_id DESC LIMIT 1",
        )
        .bind(incident.as_str())
        .fetch_optional(&self.read)
        .await?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt("findings", &e.to_string())))
            .transpose()
    }

    async fn trail_events(&self, incident: &IncidentId) -> Result<Vec<TrailEvent>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT event FROM trail_events WHERE incident_id = $1 ORDER BY event_time, event_id",
        )
        .bind(incident.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|t| serde_json::from_str(t).map_err(|e| corrupt("trail event", &e.to_string())))
            .collect()
    }
}
