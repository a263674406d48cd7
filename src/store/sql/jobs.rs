//! The job queue: jobs claimed under a lease (containment first), announcements folded and
//! run one at a time per incident, retried later when Slack did not take them, and given up
//! when their workers keep dying.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::rows::*;
use super::{Dialect, SqlStore, begin_write, insert_audit};
use crate::domain::ids::IncidentId;
use crate::store::{
    AbandonedJob, AuditEntry, Claim, ClaimedJob, JobKind, JobQueue, NewJob, StoreError, Work,
};

/// A job row's kind and incident.
fn job_of(row: &AnyRow) -> Result<(JobKind, IncidentId), StoreError> {
    let kind: String = row.try_get("kind")?;
    let incident: String = row.try_get("incident_id")?;
    Ok((
        JobKind::parse(&kind).ok_or_else(|| corrupt("job kind", &kind))?,
        IncidentId::parse(&incident).map_err(|_| corrupt("incident id", &incident))?,
    ))
}

fn claimed_from_row(row: &AnyRow) -> Result<ClaimedJob, StoreError> {
    let kind: String = row.try_get("kind")?;
    let payload: Option<String> = row.try_get("payload")?;
    let incident: String = row.try_get("incident_id")?;
    Ok(ClaimedJob {
        id: row.try_get("id")?,
        work: work_from(&kind, payload.as_deref())?,
        incident_id: IncidentId::parse(&incident).map_err(|_| corrupt("incident id", &incident))?,
        attempts: row.try_get("attempts")?,
        response_url: row.try_get("response_url")?,
    })
}

/// Inserts a queued job inside the caller's transaction.
pub(in crate::store::sql) async fn insert_job(
    tx: &mut sqlx::Transaction<'_, Any>,
    job: &NewJob,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let (kind, payload) = work_columns(&job.work)?;
    let id = sqlx::query_scalar(
        "INSERT INTO jobs (kind, incident_id, state, created_at, response_url, payload) \
         VALUES ($1, $2, 'queued', $3, $4, $5) RETURNING id",
    )
    .bind(kind)
    .bind(job.incident.as_str())
    .bind(ms(now))
    .bind(&job.response_url)
    .bind(payload)
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

#[async_trait]
impl JobQueue for SqlStore {
    async fn claim_job(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        which: Claim<'_>,
    ) -> Result<Option<ClaimedJob>, StoreError> {
        // One statement, so two workers can never claim the same job: SQLite runs it under
        // the database write lock; on PostgreSQL the chosen row is locked, and a row another
        // replica is claiming is skipped rather than waited for. An incident's announcements
        // run one at a time, in the order they were queued: while an earlier one is queued or
        // running (its lease run out included) a later one waits, so two workers can never
        // post the same reply, even when each claims while the other's claim is uncommitted. Among jobs of a kind, the
        // requester with the fewest jobs running or queued ahead goes first: one person's
        // flood of commands queues behind nobody else's.
        let sql = format!(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_until = $1, \
             locked_by = $2 \
             WHERE id = (SELECT id FROM jobs j \
                 WHERE ((j.state = 'queued' AND (j.not_before IS NULL OR j.not_before <= $3)) \
                        OR (j.state = 'running' AND j.locked_until < $3) \
                        OR (j.state = 'running' AND j.locked_by IS DISTINCT FROM $2 \
                            AND j.locked_by IN (SELECT owner FROM workers WHERE beat_at < $4))) \
                 AND ($5 IS NULL OR j.incident_id = $5) \
                 AND (NOT $6 OR j.kind = 'contain') \
                 AND NOT (j.kind = 'announce' AND EXISTS (SELECT 1 FROM jobs r \
                     WHERE r.incident_id = j.incident_id AND r.kind = 'announce' \
                     AND r.state IN ('queued', 'running') AND r.id < j.id)) \
                 ORDER BY j.kind <> 'contain', \
                     (SELECT COUNT(*) FROM jobs e JOIN incidents ei ON ei.id = e.incident_id \
                      WHERE e.kind = j.kind AND e.id <> j.id \
                      AND ((e.state = 'queued' AND e.id < j.id) OR e.state = 'running') \
                      AND ei.requested_by = \
                          (SELECT requested_by FROM incidents WHERE id = j.incident_id)), \
                     j.id LIMIT 1{}) \
             RETURNING id, kind, incident_id, attempts, response_url, payload",
            match self.dialect {
                Dialect::Sqlite => "",
                Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            }
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ms(now + lease))
            .bind(which.by)
            .bind(ms(now))
            .bind(which.silent_since.map(ms))
            .bind(which.only.map(IncidentId::as_str))
            .bind(which.contain_only)
            .fetch_optional(&self.write)
            .await?;
        row.as_ref().map(claimed_from_row).transpose()
    }

    async fn queued_elsewhere(&self) {
        match &self.listening {
            Some(l) => l.queued.notified().await,
            None => std::future::pending().await,
        }
    }

    async fn abandon_dead_jobs(
        &self,
        now: DateTime<Utc>,
        max_attempts: i64,
    ) -> Result<Vec<AbandonedJob>, StoreError> {
        let why = format!("abandoned: its worker stopped while running it {max_attempts} times");
        let rows = sqlx::query(
            "UPDATE jobs SET state = 'failed', last_error = $1, finished_at = $2, \
             locked_until = NULL, response_url = NULL \
             WHERE state = 'running' AND locked_until < $3 AND attempts >= $4 \
             RETURNING id, kind, incident_id, attempts",
        )
        .bind(&why)
        .bind(ms(now))
        .bind(ms(now))
        .bind(max_attempts)
        .fetch_all(&self.write)
        .await?;
        rows.iter()
            .map(|row| {
                let (kind, incident_id) = job_of(row)?;
                Ok(AbandonedJob {
                    id: row.try_get("id")?,
                    kind,
                    incident_id,
                    attempts: row.try_get("attempts")?,
                })
            })
            .collect()
    }

    async fn forget_response_urls(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET response_url = NULL \
             WHERE response_url IS NOT NULL AND created_at < $1",
        )
        .bind(ms(before))
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected())
    }

    async fn beat(&self, owner: &str, at: Option<DateTime<Utc>>) -> Result<(), StoreError> {
        // A stopped worker's beat is the epoch: silent since for ever.
        let at = at.map_or(0, ms);
        sqlx::query(
            "INSERT INTO workers (owner, beat_at) VALUES ($1, $2) \
             ON CONFLICT (owner) DO UPDATE SET beat_at = excluded.beat_at",
        )
        .bind(owner)
        .bind(at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn retry_job(
        &self,
        job: i64,
        attempt: i64,
        not_before: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET state = 'queued', locked_until = NULL, not_before = $1, \
             last_error = $2 WHERE id = $3 AND attempts = $4",
        )
        .bind(ms(not_before))
        .bind(error)
        .bind(job)
        .bind(attempt)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn queue_announcement(
        &self,
        incident: &IncidentId,
        last: bool,
        response_url: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let work = Work::Announce { last };
        let (_, payload) = work_columns(&work)?;
        let mut tx = begin_write(&self.write, self.dialect).await?;
        // Folded into a queued one, the last announcement's answer is kept.
        let folded: Option<i64> = sqlx::query_scalar(
            "UPDATE jobs SET payload = CASE WHEN $1 THEN $2 ELSE payload END, \
             response_url = COALESCE($3, response_url), not_before = NULL \
             WHERE incident_id = $4 AND kind = 'announce' AND state = 'queued' RETURNING id",
        )
        .bind(last)
        .bind(&payload)
        .bind(response_url)
        .bind(incident.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if folded.is_none() {
            let job = NewJob {
                work,
                incident: incident.clone(),
                response_url: response_url.map(str::to_string),
            };
            insert_job(&mut tx, &job, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn announcement_pending(&self, incident: &IncidentId) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE incident_id = $1 AND kind = 'announce' \
             AND state IN ('queued', 'running')",
        )
        .bind(incident.as_str())
        .fetch_one(&self.read)
        .await?;
        Ok(n > 0)
    }

    async fn extend_lease(&self, job: i64, until: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE jobs SET locked_until = $1 WHERE id = $2 AND state = 'running'")
            .bind(ms(until))
            .bind(job)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn finish_job(
        &self,
        job: i64,
        attempt: i64,
        now: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let state = if error.is_some() { "failed" } else { "done" };
        // A finished job answers nobody again: its response URL (a credential to post to
        // the requester for 30 minutes) is not kept.
        sqlx::query(
            "UPDATE jobs SET state = $1, last_error = $2, finished_at = $3, locked_until = NULL, \
             response_url = NULL WHERE id = $4 AND attempts = $5",
        )
        .bind(state)
        .bind(error)
        .bind(ms(now))
        .bind(job)
        .bind(attempt)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn pending_jobs(&self, only: Option<&IncidentId>) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running') \
             AND ($1 IS NULL OR incident_id = $1)",
        )
        .bind(only.map(IncidentId::as_str))
        .fetch_one(&self.read)
        .await?)
    }

    async fn pending_by_kind(&self) -> Result<Vec<(JobKind, bool, i64)>, StoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT kind, state, COUNT(*) FROM jobs WHERE state IN ('queued', 'running') \
             GROUP BY kind, state",
        )
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|(k, s, n)| {
                let kind = JobKind::parse(&k).ok_or_else(|| corrupt("job kind", &k))?;
                Ok((kind, s == "running", n))
            })
            .collect()
    }

    async fn enqueue_job(&self, job: NewJob, audit: AuditEntry) -> Result<i64, StoreError> {
        let mut tx = begin_write(&self.write, self.dialect).await?;
        let id = insert_job(&mut tx, &job, audit.at).await?;
        insert_audit(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(id)
    }
}
