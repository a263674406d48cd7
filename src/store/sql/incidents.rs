//! Incidents, the steps of their containment, and the files of their latest report.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

// Dynamic SQL here only splices the constant INCIDENT_COLUMNS; values are always bound.

use super::rows::*;
use super::{SqlStore, begin_write, insert_audit, insert_job};
use crate::domain::ids::{AccessKeyId, AccountId, IncidentId};
use crate::domain::incident::{Incident, IncidentState, StepKind, StepRecord, UserSnapshot};
use crate::domain::reach::Reach;
use crate::domain::signal::Hold;
use crate::store::{
    AuditEntry, IncidentFacts, Incidents, NewIncident, NewJob, Opened, Reports, Steps, StoreError,
};

#[async_trait]
impl Incidents for SqlStore {
    async fn open_incident(&self, new: NewIncident) -> Result<Opened, StoreError> {
        let (reply, answer) = oneshot::channel();
        let closed = || StoreError::Unsupported("the store's writer has stopped".into());
        self.opener.send((new, reply)).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    async fn incident(&self, id: &IncidentId) -> Result<Incident, StoreError> {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(&self.read)
            .await?
            .ok_or_else(|| StoreError::NoSuchIncident(id.clone()))?;
        incident_from_row(&row)
    }

    async fn open_incident_for_key(
        &self,
        key: &AccessKeyId,
    ) -> Result<Option<Incident>, StoreError> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE access_key_id = $1 AND state <> 'closed'"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key.as_str())
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(incident_from_row).transpose()
    }

    async fn open_incidents_of_user(
        &self,
        account: &AccountId,
        user: &str,
    ) -> Result<Vec<Incident>, StoreError> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE state <> 'closed' \
             AND account_id = $1 AND user_name = $2 ORDER BY opened_at"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(account.as_str())
            .bind(user)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(incident_from_row).collect()
    }

    async fn open_incidents(&self, limit: u32) -> Result<Vec<Incident>, StoreError> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE state <> 'closed' \
             ORDER BY opened_at DESC, id LIMIT $1"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(incident_from_row).collect()
    }

    async fn count_open(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM incidents WHERE state <> 'closed'")
                .fetch_one(&self.read)
                .await?,
        )
    }

    async fn open_by_state(&self) -> Result<Vec<(IncidentState, i64)>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT state, COUNT(*) FROM incidents WHERE state <> 'closed' GROUP BY state",
        )
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|(s, n)| {
                Ok((
                    IncidentState::parse(&s).ok_or_else(|| corrupt("state", &s))?,
                    n,
                ))
            })
            .collect()
    }

    async fn set_facts(&self, id: &IncidentId, facts: &IncidentFacts) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE incidents SET account_id = COALESCE($1, account_id), \
             user_name = COALESCE($2, user_name) WHERE id = $3",
        )
        .bind(facts.account.as_ref().map(AccountId::as_str))
        .bind(&facts.user_name)
        .bind(id.as_str())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn set_slack_message(
        &self,
        id: &IncidentId,
        channel: &str,
        ts: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE incidents SET slack_channel = $1, slack_ts = $2 WHERE id = $3")
            .bind(channel)
            .bind(ts)
            .bind(id.as_str())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn set_room(&self, id: &IncidentId, channel: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE incidents SET slack_channel = $1 WHERE id = $2 AND slack_ts IS NULL")
            .bind(channel)
            .bind(id.as_str())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn set_state(
        &self,
        id: &IncidentId,
        state: IncidentState,
        contained_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE incidents SET state = $1, contained_at = COALESCE(contained_at, $2) WHERE id = $3",
        )
        .bind(state.as_str())
        .bind(contained_at.map(ms))
        .bind(id.as_str())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn set_hold(
        &self,
        id: &IncidentId,
        hold: Option<&Hold>,
        audit: Option<AuditEntry>,
    ) -> Result<(), StoreError> {
        let mut tx = begin_write(&self.write, self.dialect).await?;
        match hold {
            Some(h) => {
                sqlx::query(
                    "UPDATE incidents SET hold = $1, state = 'triage' \
                     WHERE id = $2 AND state = 'containing'",
                )
                .bind(to_json(h)?)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("UPDATE incidents SET hold = NULL WHERE id = $1")
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        if let Some(a) = &audit {
            insert_audit(&mut *tx, a).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn close_incident(
        &self,
        id: &IncidentId,
        audit: AuditEntry,
        job: NewJob,
    ) -> Result<bool, StoreError> {
        let mut tx = begin_write(&self.write, self.dialect).await?;
        let changed = sqlx::query(
            "UPDATE incidents SET state = 'closed' WHERE id = $1 AND state <> 'closed'",
        )
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        insert_audit(&mut *tx, &audit).await?;
        insert_job(&mut tx, &job, audit.at).await?;
        tx.commit().await?;
        Ok(true)
    }
}

#[async_trait]
impl Steps for SqlStore {
    async fn save_snapshot(
        &self,
        id: &IncidentId,
        snapshot: &UserSnapshot,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(snapshot).map_err(StoreError::corrupt)?;
        // The first snapshot is the pre-incident state; a retry must not overwrite it.
        sqlx::query(
            "INSERT INTO snapshots (incident_id, snapshot, taken_at) VALUES ($1, $2, $3) \
             ON CONFLICT (incident_id) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(json)
        .bind(ms(at))
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn snapshot(&self, id: &IncidentId) -> Result<Option<UserSnapshot>, StoreError> {
        let json: Option<String> =
            sqlx::query_scalar("SELECT snapshot FROM snapshots WHERE incident_id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.read)
                .await?;
        json.map(|j| serde_json::from_str(&j).map_err(|e| corrupt("snapshot", &e.to_string())))
            .transpose()
    }

    async fn record_step(
        &self,
        id: &IncidentId,
        step: &StepRecord,
        audit: AuditEntry,
    ) -> Result<bool, StoreError> {
        let fact = serde_json::to_string(&step.fact).map_err(StoreError::corrupt)?;
        let mut tx = begin_write(&self.write, self.dialect).await?;
        // A failed step may be recorded again by a retry; a done step never changes.
        let changed = sqlx::query(
            "INSERT INTO steps (incident_id, kind, status, fact, request_id, finished_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (incident_id, kind) DO UPDATE SET status = excluded.status, \
             fact = excluded.fact, request_id = excluded.request_id, \
             finished_at = excluded.finished_at, reply_ts = NULL \
             WHERE steps.status <> 'done'",
        )
        .bind(id.as_str())
        .bind(step.kind.as_str())
        .bind(step.status.as_str())
        .bind(fact)
        .bind(&step.request_id)
        .bind(ms(step.finished_at))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        insert_audit(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn set_step_reply(
        &self,
        id: &IncidentId,
        kind: StepKind,
        ts: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE steps SET reply_ts = $1 WHERE incident_id = $2 AND kind = $3")
            .bind(ts)
            .bind(id.as_str())
            .bind(kind.as_str())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn set_signals_said(&self, id: &IncidentId, said: usize) -> Result<(), StoreError> {
        // Never backwards: two announcements racing each record how far they got.
        sqlx::query("UPDATE incidents SET signals_said = $1 WHERE id = $2 AND signals_said < $1")
            .bind(i64::try_from(said).unwrap_or(i64::MAX))
            .bind(id.as_str())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn save_reach(&self, id: &IncidentId, reach: &Reach) -> Result<(), StoreError> {
        let json = serde_json::to_string(reach).map_err(StoreError::corrupt)?;
        sqlx::query("UPDATE incidents SET reach = $1 WHERE id = $2 AND reach IS NULL")
            .bind(json)
            .bind(id.as_str())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn set_reach_ts(&self, id: &IncidentId, ts: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE incidents SET reach_ts = $1 WHERE id = $2")
            .bind(ts)
            .bind(id.as_str())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn steps(&self, id: &IncidentId) -> Result<Vec<StepRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, status, fact, request_id, finished_at, reply_ts FROM steps \
             WHERE incident_id = $1",
        )
        .bind(id.as_str())
        .fetch_all(&self.read)
        .await?;
        let mut steps = rows
            .iter()
            .map(step_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        steps.sort_by_key(|s| StepKind::EVERY.iter().position(|k| *k == s.kind));
        Ok(steps)
    }
}

#[async_trait]
impl Reports for SqlStore {
    async fn report_files(&self, id: &IncidentId) -> Result<Vec<String>, StoreError> {
        let files: Option<String> =
            sqlx::query_scalar("SELECT files FROM reports WHERE incident_id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.read)
                .await?;
        files
            .map(|f| serde_json::from_str(&f).map_err(StoreError::corrupt))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    async fn set_report_files(
        &self,
        id: &IncidentId,
        files: &[String],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let files = serde_json::to_string(files).map_err(StoreError::corrupt)?;
        sqlx::query(
            "INSERT INTO reports (incident_id, files, made_at) VALUES ($1, $2, $3) \
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
