//! Proposals and their approvals. Every state change is a compare-and-set on the state, in
//! the same transaction as its audit row, so two clicks, two replicas or a retried request
//! move a proposal once.

use async_trait::async_trait;
use sqlx::Row;

use super::rows::*;
use super::{SqlStore, begin_write, insert_audit, insert_job};
use crate::domain::approval::{
    self, Action, Decision, MessageRef, Outcome, Proposal, ProposalState,
};
use crate::domain::audit::AuditAction;
use crate::domain::ids::{IncidentId, ProposalId, SlackUserId};
use crate::store::{AuditEntry, ExecutionRight, NewJob, Proposals, StoreError, Work};

const COLUMNS: &str = "id, incident_id, action, params_hash, requested_by, created_at, \
    expires_at, required, state, decided_by, decided_at, outcome, message_channel, message_ts";

fn proposal_from_row(row: &AnyRow, approvals: Vec<SlackUserId>) -> Result<Proposal, StoreError> {
    let id: String = row.try_get("id")?;
    let incident: String = row.try_get("incident_id")?;
    let action: String = row.try_get("action")?;
    let by: String = row.try_get("requested_by")?;
    let state: String = row.try_get("state")?;
    let required: i64 = row.try_get("required")?;
    let decided_at: Option<i64> = row.try_get("decided_at")?;
    let outcome: Option<String> = row.try_get("outcome")?;
    let channel: Option<String> = row.try_get("message_channel")?;
    let ts: Option<String> = row.try_get("message_ts")?;
    Ok(Proposal {
        id: ProposalId::parse(&id).map_err(|_| corrupt("proposal id", &id))?,
        incident: IncidentId::parse(&incident).map_err(|_| corrupt("incident id", &incident))?,
        action: serde_json::from_str::<Action>(&action)
            .map_err(|e| corrupt("action", &e.to_string()))?,
        hash: row.try_get("params_hash")?,
        requested_by: SlackUserId::parse(&by).map_err(|_| corrupt("requester", &by))?,
        created_at: from_ms(row.try_get("created_at")?)?,
        expires_at: from_ms(row.try_get("expires_at")?)?,
        state: ProposalState::parse(&state).ok_or_else(|| corrupt("proposal state", &state))?,
        approvals,
        required: usize::try_from(required)
            .map_err(|_| corrupt("required", &required.to_string()))?,
        message: channel
            .zip(ts)
            .map(|(channel, ts)| MessageRef { channel, ts }),
        decided_by: row.try_get("decided_by")?,
        decided_at: decided_at.map(from_ms).transpose()?,
        outcome: outcome
            .map(|o| serde_json::from_str::<Outcome>(&o))
            .transpose()
            .map_err(|e| corrupt("outcome", &e.to_string()))?,
    })
}

#[async_trait]
impl Proposals for SqlStore {
    /// Inserts the proposal unless the same action on the incident is pending already: one
    /// pending proposal per incident and parameters, however often it is asked for.
    async fn create_proposal(
        &self,
        p: &Proposal,
        audit: AuditEntry,
    ) -> Result<Option<ProposalId>, StoreError> {
        let action = to_json(&p.action)?;
        let mut tx = begin_write(&self.write, self.dialect).await?;
        let pending: Option<String> = sqlx::query_scalar(
            "SELECT id FROM proposals WHERE incident_id = $1 AND params_hash = $2 \
             AND state = 'pending' AND expires_at > $3 AND id <> $4",
        )
        .bind(p.incident.as_str())
        .bind(&p.hash)
        .bind(ms(p.created_at))
        .bind(p.id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(existing) = pending {
            return ProposalId::parse(&existing)
                .map(Some)
                .map_err(|_| corrupt("proposal id", &existing));
        }
        sqlx::query(
            "INSERT INTO proposals (id, incident_id, action, params_hash, requested_by, created_at, \
             expires_at, required, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(p.id.as_str())
        .bind(p.incident.as_str())
        .bind(action)
        .bind(&p.hash)
        .bind(p.requested_by.as_str())
        .bind(ms(p.created_at))
        .bind(ms(p.expires_at))
        .bind(i64::try_from(p.required).unwrap_or(i64::MAX))
        .bind(p.state.as_str())
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(None)
    }

    async fn proposal(&self, id: &ProposalId) -> Result<Option<Proposal>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM proposals WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.read)
        .await?;
        match row {
            Some(row) => self.with_approvals(&row).await.map(Some),
            None => Ok(None),
        }
    }

    async fn proposals(&self, incident: &IncidentId) -> Result<Vec<Proposal>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM proposals WHERE incident_id = $1 ORDER BY created_at, rowid"
        )))
        .bind(incident.as_str())
        .fetch_all(&self.read)
        .await?;
        self.all_with_approvals(&rows).await
    }

    async fn expired_pending(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<Vec<Proposal>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM proposals WHERE state = 'pending' AND expires_at <= $1 \
             ORDER BY expires_at LIMIT $2"
        )))
        .bind(ms(now))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        self.all_with_approvals(&rows).await
    }

    async fn set_proposal_message(
        &self,
        id: &ProposalId,
        message: &MessageRef,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE proposals SET message_channel = $1, message_ts = $2 WHERE id = $3")
            .bind(&message.channel)
            .bind(&message.ts)
            .bind(id.as_str())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Records one approval; when it completes the approvals, moves the proposal from pending
    /// to approved and queues its execution. Returns false when the proposal was no longer
    /// pending (another click won) or this person had already approved; nothing is written
    /// then.
    /// Counts the approval and decides on the count as it is inside the transaction: two
    /// clicks at once (or on two replicas) cannot both read "one more needed" and leave the
    /// proposal pending with enough approvals. `begin_write` takes the write lock first, so
    /// another process cannot change the proposal between this read and this write.
    async fn record_approval(
        &self,
        id: &ProposalId,
        approver: &SlackUserId,
        mut audit: AuditEntry,
    ) -> Result<Option<Decision>, StoreError> {
        let mut tx = begin_write(&self.write, self.dialect).await?;
        let pending: Option<(String, i64)> = sqlx::query_as(
            "SELECT incident_id, required FROM proposals WHERE id = $1 AND state = 'pending'",
        )
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((incident, required)) = pending else {
            return Ok(None);
        };
        let added = sqlx::query(
            "INSERT INTO proposal_approvals (proposal_id, approver, at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(id.as_str())
        .bind(approver.as_str())
        .bind(ms(audit.at))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if added == 0 {
            return Ok(None);
        }
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM proposal_approvals WHERE proposal_id = $1")
                .bind(id.as_str())
                .fetch_one(&mut *tx)
                .await?;
        let decision = approval::decide(
            usize::try_from(count).unwrap_or(usize::MAX),
            usize::try_from(required).unwrap_or(usize::MAX),
        );
        audit.action = match decision {
            Decision::Approved => AuditAction::ProposalApproved,
            Decision::NeedsMore(_) => AuditAction::ProposalApprovalCounted,
        };
        if decision == Decision::Approved {
            set_state(
                &mut tx,
                id,
                ProposalState::Pending,
                ProposalState::Approved,
                &audit,
            )
            .await?;
            let job = NewJob {
                work: Work::Execute {
                    proposal: id.clone(),
                },
                incident: IncidentId::parse(&incident)
                    .map_err(|_| corrupt("incident id", &incident))?,
                response_url: None,
            };
            insert_job(&mut tx, &job, audit.at).await?;
        }
        insert_audit(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(Some(decision))
    }

    /// approved → executing for `job`. Only the job that wins this gets the right to run the
    /// action; the same job may take it up again after its worker died (its lease is the
    /// proof that no one else runs it now).
    async fn claim_execution(
        &self,
        id: &ProposalId,
        job: i64,
        audit: AuditEntry,
    ) -> Result<Option<ExecutionRight>, StoreError> {
        let mut tx = begin_write(&self.write, self.dialect).await?;
        let won = sqlx::query(
            "UPDATE proposals SET state = 'executing', executing_job = $1 \
             WHERE id = $2 AND (state = 'approved' OR (state = 'executing' AND executing_job = $3))",
        )
        .bind(job)
        .bind(id.as_str())
        .bind(job)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !won {
            return Ok(None);
        }
        insert_audit(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(Some(ExecutionRight::new(id.clone())))
    }

    /// A compare-and-set from one state to another; other columns record who and when.
    async fn move_proposal(
        &self,
        id: &ProposalId,
        from: ProposalState,
        to: ProposalState,
        outcome: Option<&Outcome>,
        audit: AuditEntry,
    ) -> Result<bool, StoreError> {
        let mut tx = begin_write(&self.write, self.dialect).await?;
        if !set_state(&mut tx, id, from, to, &audit).await? {
            return Ok(false);
        }
        if let Some(o) = outcome {
            sqlx::query("UPDATE proposals SET outcome = $1 WHERE id = $2")
                .bind(to_json(o)?)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        insert_audit(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// Only moves out of pending record who decided: execution is not a decision.
async fn set_state(
    tx: &mut sqlx::Transaction<'_, Any>,
    id: &ProposalId,
    from: ProposalState,
    to: ProposalState,
    audit: &AuditEntry,
) -> Result<bool, StoreError> {
    if !from.may_become(to) {
        return Ok(false);
    }
    let decides = from == ProposalState::Pending;
    let changed = sqlx::query(
        "UPDATE proposals SET state = $1, \
         decided_by = CASE WHEN $2 THEN $3 ELSE decided_by END, \
         decided_at = CASE WHEN $4 THEN $5 ELSE decided_at END WHERE id = $6 AND state = $7",
    )
    .bind(to.as_str())
    .bind(decides)
    .bind(&audit.actor)
    .bind(decides)
    .bind(ms(audit.at))
    .bind(id.as_str())
    .bind(from.as_str())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

impl SqlStore {
    async fn all_with_approvals(&self, rows: &[AnyRow]) -> Result<Vec<Proposal>, StoreError> {
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.with_approvals(row).await?);
        }
        Ok(out)
    }

    async fn with_approvals(&self, row: &AnyRow) -> Result<Proposal, StoreError> {
        let id: String = row.try_get("id")?;
        let approvers: Vec<String> = sqlx::query_scalar(
            "SELECT approver FROM proposal_approvals WHERE proposal_id = $1 ORDER BY at, approver",
        )
        .bind(&id)
        .fetch_all(&self.read)
        .await?;
        let approvals = approvers
            .iter()
            .map(|a| SlackUserId::parse(a).map_err(|_| corrupt("approver", a)))
            .collect::<Result<Vec<_>, _>>()?;
        proposal_from_row(row, approvals)
    }
}
