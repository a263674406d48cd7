//! Proposals and their approvals. Every state change is a compare-and-set on the state, in
//! the same transaction as its audit row, so two clicks, two replicas or a retried request
//! move a proposal once.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::rows::*;
use super::{SqliteStore, insert_audit};
use crate::domain::approval::{Action, Proposal, ProposalState};
use crate::domain::ids::{IncidentId, SlackUserId};
use crate::store::{AuditEntry, ExecutionRight, StoreError};

fn proposal_from_row(row: &SqliteRow, approvals: Vec<SlackUserId>) -> Result<Proposal, StoreError> {
    let incident: String = row.try_get("incident_id")?;
    let action: String = row.try_get("action")?;
    let by: String = row.try_get("requested_by")?;
    let state: String = row.try_get("state")?;
    let required: i64 = row.try_get("required")?;
    Ok(Proposal {
        id: row.try_get("id")?,
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
    })
}

impl SqliteStore {
    pub(super) async fn insert_proposal(
        &self,
        p: &Proposal,
        audit: AuditEntry,
    ) -> Result<(), StoreError> {
        let action =
            serde_json::to_string(&p.action).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO proposals (id, incident_id, action, params_hash, requested_by, created_at, \
             expires_at, required, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&p.id)
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
        Ok(())
    }

    pub(super) async fn load_proposal(&self, id: &str) -> Result<Option<Proposal>, StoreError> {
        let row = sqlx::query(
            "SELECT id, incident_id, action, params_hash, requested_by, created_at, expires_at, \
             required, state FROM proposals WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let approvers: Vec<String> = sqlx::query_scalar(
            "SELECT approver FROM proposal_approvals WHERE proposal_id = ? ORDER BY at, approver",
        )
        .bind(id)
        .fetch_all(&self.read)
        .await?;
        let approvals = approvers
            .iter()
            .map(|a| SlackUserId::parse(a).map_err(|_| corrupt("approver", a)))
            .collect::<Result<Vec<_>, _>>()?;
        proposal_from_row(&row, approvals).map(Some)
    }

    /// Records one approval; when it completes the approvals, moves the proposal from pending
    /// to approved. Returns false when the proposal was no longer pending (another click won)
    /// or this person had already approved; nothing is written then.
    pub(super) async fn insert_approval(
        &self,
        id: &str,
        approver: &SlackUserId,
        completes: bool,
        audit: AuditEntry,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write.begin().await?;
        let still_pending: Option<String> =
            sqlx::query_scalar("SELECT state FROM proposals WHERE id = ? AND state = 'pending'")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        if still_pending.is_none() {
            return Ok(false);
        }
        let added = sqlx::query(
            "INSERT INTO proposal_approvals (proposal_id, approver, at) VALUES (?, ?, ?) \
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(approver.as_str())
        .bind(ms(audit.at))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if added == 0 {
            return Ok(false);
        }
        if completes {
            set_state(
                &mut tx,
                id,
                ProposalState::Pending,
                ProposalState::Approved,
                &audit,
            )
            .await?;
        }
        insert_audit(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// approved → executing. Only the caller that wins this gets the right to run the action.
    pub(super) async fn claim_proposal_execution(
        &self,
        id: &str,
        audit: AuditEntry,
    ) -> Result<Option<ExecutionRight>, StoreError> {
        let mut tx = self.write.begin().await?;
        let won = set_state(
            &mut tx,
            id,
            ProposalState::Approved,
            ProposalState::Executing,
            &audit,
        )
        .await?;
        if !won {
            return Ok(None);
        }
        insert_audit(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(Some(ExecutionRight::new(id.to_string())))
    }

    /// A compare-and-set from one state to another; other columns record who and when.
    pub(super) async fn set_proposal_state(
        &self,
        id: &str,
        from: ProposalState,
        to: ProposalState,
        outcome: Option<&str>,
        audit: AuditEntry,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write.begin().await?;
        if !set_state(&mut tx, id, from, to, &audit).await? {
            return Ok(false);
        }
        if let Some(o) = outcome {
            sqlx::query("UPDATE proposals SET outcome = ? WHERE id = ?")
                .bind(o)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        insert_audit(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(true)
    }
}

async fn set_state(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    id: &str,
    from: ProposalState,
    to: ProposalState,
    audit: &AuditEntry,
) -> Result<bool, StoreError> {
    if !from.may_become(to) {
        return Ok(false);
    }
    let changed = sqlx::query(
        "UPDATE proposals SET state = ?, decided_by = COALESCE(decided_by, ?), \
         decided_at = COALESCE(decided_at, ?) WHERE id = ? AND state = ?",
    )
    .bind(to.as_str())
    .bind(&audit.actor)
    .bind(ms(audit.at))
    .bind(id)
    .bind(from.as_str())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(changed == 1)
}
