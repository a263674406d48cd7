//! SQLite adapter of the store: the default, a single file created if absent.

use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::{mpsc, oneshot};

// Dynamic SQL here only splices the constant INCIDENT_COLUMNS; values are always bound.

use super::*;
use crate::domain::approval::{Proposal, ProposalState};
use crate::domain::ids::SlackUserId;
use crate::domain::incident::StepKind;

/// Readers share a pool; writers share one connection, so they queue in order instead of
/// contending for SQLite's write lock and sleeping in its busy handler.
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    /// Acks queue here to be written in groups (see `batch`).
    opener: mpsc::Sender<batch::Request>,
}

mod batch;
mod forensics;
mod jobs;
mod monitor;
mod proposals;
mod room;
mod rows;

use jobs::insert_job;
use rows::*;

/// Begins a write transaction holding SQLite's write lock from its start. A deferred one that
/// reads and then writes fails at once with "database is locked" when another process (a
/// second replica, the CLI) wrote in between; an immediate one waits its turn (`busy_timeout`).
pub(super) async fn begin_write(
    pool: &SqlitePool,
) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

pub(super) async fn insert_audit<'e, E>(exec: E, e: &AuditEntry) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    sqlx::query(
        "INSERT INTO audit (at, actor, action, incident_id, detail, origin) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(ms(e.at))
    .bind(&e.actor)
    .bind(e.action.name())
    .bind(e.incident_id.as_ref().map(IncidentId::as_str))
    .bind(&e.detail)
    .bind(&e.origin)
    .execute(exec)
    .await?;
    Ok(())
}

impl SqliteStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Another process (a second replica, the CLI) may hold the write lock briefly.
            .busy_timeout(std::time::Duration::from_secs(10))
            // In WAL mode NORMAL survives a process crash; only a power loss can drop the
            // last transactions.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true);
        // A local file connection does not go stale: skip the liveness ping sqlx otherwise
        // runs before lending each connection (it doubled the cost of every query).
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(opts.clone())
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .connect_with(opts.read_only(true))
            .await?;
        let (opener, queued) = mpsc::channel(1024);
        tokio::spawn(batch::run_opener(write.clone(), queued));
        Ok(Self {
            read,
            write,
            opener,
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.write).await?;
        Ok(())
    }

    async fn open_incident(&self, new: NewIncident) -> Result<Opened, StoreError> {
        let (reply, answer) = oneshot::channel();
        let closed = || StoreError::Unsupported("the store's writer has stopped".into());
        self.opener.send((new, reply)).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    async fn incident(&self, id: &IncidentId) -> Result<Incident, StoreError> {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?");
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
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE access_key_id = ? AND state <> 'closed'"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key.as_str())
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(incident_from_row).transpose()
    }

    async fn open_incidents(&self, limit: u32) -> Result<Vec<Incident>, StoreError> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE state <> 'closed' \
             ORDER BY opened_at DESC, id LIMIT ?"
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

    async fn set_facts(&self, id: &IncidentId, facts: &IncidentFacts) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE incidents SET account_id = COALESCE(?, account_id), \
             user_name = COALESCE(?, user_name) WHERE id = ?",
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
        sqlx::query("UPDATE incidents SET slack_channel = ?, slack_ts = ? WHERE id = ?")
            .bind(channel)
            .bind(ts)
            .bind(id.as_str())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn set_room(&self, id: &IncidentId, channel: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE incidents SET slack_channel = ? WHERE id = ? AND slack_ts IS NULL")
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
            "UPDATE incidents SET state = ?, contained_at = COALESCE(contained_at, ?) WHERE id = ?",
        )
        .bind(state.as_str())
        .bind(contained_at.map(ms))
        .bind(id.as_str())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn save_snapshot(
        &self,
        id: &IncidentId,
        snapshot: &UserSnapshot,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let json =
            serde_json::to_string(snapshot).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        // The first snapshot is the pre-incident state; a retry must not overwrite it.
        sqlx::query(
            "INSERT INTO snapshots (incident_id, snapshot, taken_at) VALUES (?, ?, ?) \
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
            sqlx::query_scalar("SELECT snapshot FROM snapshots WHERE incident_id = ?")
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
        let fact =
            serde_json::to_string(&step.fact).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = begin_write(&self.write).await?;
        // A failed step may be recorded again by a retry; a done step never changes.
        let changed = sqlx::query(
            "INSERT INTO steps (incident_id, kind, status, fact, request_id, finished_at) \
             VALUES (?, ?, ?, ?, ?, ?) \
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
        sqlx::query("UPDATE steps SET reply_ts = ? WHERE incident_id = ? AND kind = ?")
            .bind(ts)
            .bind(id.as_str())
            .bind(kind.as_str())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn steps(&self, id: &IncidentId) -> Result<Vec<StepRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, status, fact, request_id, finished_at, reply_ts FROM steps \
             WHERE incident_id = ?",
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

    async fn claim_job(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        which: Claim<'_>,
    ) -> Result<Option<ClaimedJob>, StoreError> {
        self.claim(now, lease, which).await
    }

    async fn abandon_dead_jobs(
        &self,
        now: DateTime<Utc>,
        max_attempts: i64,
    ) -> Result<Vec<AbandonedJob>, StoreError> {
        self.abandon_dead(now, max_attempts).await
    }

    async fn forget_response_urls(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.forget_urls(before).await
    }

    async fn beat(&self, owner: &str, at: Option<DateTime<Utc>>) -> Result<(), StoreError> {
        self.record_beat(owner, at).await
    }

    async fn retry_job(
        &self,
        job: i64,
        not_before: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        self.requeue(job, not_before, error).await
    }

    async fn queue_announcement(
        &self,
        incident: &IncidentId,
        last: bool,
        response_url: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.fold_announcement(incident, last, response_url, now)
            .await
    }

    async fn announcement_pending(&self, incident: &IncidentId) -> Result<bool, StoreError> {
        self.announcing(incident).await
    }

    async fn extend_lease(&self, job: i64, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.lengthen_lease(job, until).await
    }

    async fn finish_job(
        &self,
        job: i64,
        now: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.end_job(job, now, error).await
    }

    async fn pending_jobs(&self, only: Option<&IncidentId>) -> Result<i64, StoreError> {
        self.count_pending(only).await
    }

    async fn enqueue_job(&self, job: NewJob, audit: AuditEntry) -> Result<i64, StoreError> {
        self.enqueue_with_audit(job, audit).await
    }

    async fn create_proposal(
        &self,
        p: &Proposal,
        audit: AuditEntry,
    ) -> Result<Option<ProposalId>, StoreError> {
        self.insert_proposal(p, audit).await
    }

    async fn proposal(&self, id: &ProposalId) -> Result<Option<Proposal>, StoreError> {
        self.load_proposal(id).await
    }

    async fn proposals(&self, incident: &IncidentId) -> Result<Vec<Proposal>, StoreError> {
        self.load_proposals(incident).await
    }

    async fn set_proposal_message(
        &self,
        id: &ProposalId,
        message: &MessageRef,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE proposals SET message_channel = ?, message_ts = ? WHERE id = ?")
            .bind(&message.channel)
            .bind(&message.ts)
            .bind(id.as_str())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn record_approval(
        &self,
        id: &ProposalId,
        approver: &SlackUserId,
        audit: AuditEntry,
    ) -> Result<Option<Decision>, StoreError> {
        self.insert_approval(id, approver, audit).await
    }

    async fn claim_execution(
        &self,
        id: &ProposalId,
        job: i64,
        audit: AuditEntry,
    ) -> Result<Option<ExecutionRight>, StoreError> {
        self.claim_proposal_execution(id, job, audit).await
    }

    async fn move_proposal(
        &self,
        id: &ProposalId,
        from: ProposalState,
        to: ProposalState,
        outcome: Option<&Outcome>,
        audit: AuditEntry,
    ) -> Result<bool, StoreError> {
        self.set_proposal_state(id, from, to, outcome, audit).await
    }

    async fn expired_pending(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Proposal>, StoreError> {
        self.load_expired_pending(now, limit).await
    }

    async fn investigation_message(&self, job: i64) -> Result<Option<MessageRef>, StoreError> {
        self.investigation_message_of(job).await
    }

    async fn set_investigation_message(
        &self,
        incident: &IncidentId,
        job: i64,
        message: &MessageRef,
    ) -> Result<(), StoreError> {
        self.record_investigation_message(incident, job, message)
            .await
    }

    async fn save_findings(
        &self,
        incident: &IncidentId,
        job: i64,
        findings: &Findings,
        events: &[TrailEvent],
    ) -> Result<(), StoreError> {
        self.write_findings(incident, job, findings, events).await
    }

    async fn findings(&self, incident: &IncidentId) -> Result<Option<Findings>, StoreError> {
        self.latest_findings(incident).await
    }

    async fn trail_events(&self, incident: &IncidentId) -> Result<Vec<TrailEvent>, StoreError> {
        self.timeline(incident).await
    }

    async fn audit(&self, entry: AuditEntry) -> Result<(), StoreError> {
        insert_audit(&self.write, &entry).await
    }

    async fn close_incident(
        &self,
        id: &IncidentId,
        audit: AuditEntry,
        job: NewJob,
    ) -> Result<bool, StoreError> {
        self.close_open(id, &audit, &job).await
    }

    async fn report_files(&self, id: &IncidentId) -> Result<Vec<String>, StoreError> {
        self.report_files_of(id).await
    }

    async fn set_report_files(
        &self,
        id: &IncidentId,
        files: &[String],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.record_report_files(id, files, at).await
    }

    async fn claim_restore(
        &self,
        id: &IncidentId,
        job: i64,
        at: DateTime<Utc>,
    ) -> Result<RestoreClaim, StoreError> {
        self.take_restore(id, job, at).await
    }

    async fn record_handover(
        &self,
        id: &IncidentId,
        handover: &Handover,
        audit: AuditEntry,
    ) -> Result<(), StoreError> {
        self.write_handover(id, handover, &audit).await
    }

    async fn release_restore(&self, id: &IncidentId, job: i64) -> Result<(), StoreError> {
        self.drop_restore_claim(id, job).await
    }

    async fn handover(&self, id: &IncidentId) -> Result<Option<Handover>, StoreError> {
        self.handover_of(id).await
    }

    async fn queue_due_monitors(
        &self,
        now: DateTime<Utc>,
        every: chrono::Duration,
        window: chrono::Duration,
    ) -> Result<usize, StoreError> {
        self.queue_monitors(now, every, window).await
    }

    async fn checked_to(&self, id: &IncidentId) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.monitor_checked_to(id).await
    }

    async fn record_watch(
        &self,
        id: &IncidentId,
        checked_to: DateTime<Utc>,
        events: &[TrailEvent],
    ) -> Result<Vec<TrailEvent>, StoreError> {
        self.write_watch(id, checked_to, events).await
    }

    async fn audit_log(&self, id: Option<&IncidentId>) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, actor, action, incident_id, detail, origin FROM audit \
             WHERE ? IS NULL OR incident_id = ? ORDER BY id",
        )
        .bind(id.map(IncidentId::as_str))
        .bind(id.map(IncidentId::as_str))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(audit_from_row).collect()
    }
}
