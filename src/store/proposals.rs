//! Cleanup proposals and the two-person rule: each approval counted once, each approved
//! action executed once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{AuditEntry, StoreError};
use crate::domain::approval::{Decision, MessageRef, Outcome, Proposal, ProposalState};
use crate::domain::ids::{IncidentId, ProposalId, SlackUserId};

/// Proof that the holder won the move of a proposal from approved to executing. Only the
/// store mints it, so a destructive action can only be reached through a won transition.
#[derive(Debug)]
pub struct ExecutionRight {
    proposal: ProposalId,
}

impl ExecutionRight {
    pub(in crate::store) fn new(proposal: ProposalId) -> Self {
        Self { proposal }
    }

    pub fn proposal(&self) -> &ProposalId {
        &self.proposal
    }
}

#[async_trait]
pub trait Proposals: Send + Sync {
    /// Records a new proposal with its audit row; when the same action (by its parameters'
    /// hash) is already pending on the incident, records nothing and returns that one's id.
    async fn create_proposal(
        &self,
        p: &Proposal,
        audit: AuditEntry,
    ) -> Result<Option<ProposalId>, StoreError>;
    async fn proposal(&self, id: &ProposalId) -> Result<Option<Proposal>, StoreError>;
    /// The incident's proposals, oldest first.
    async fn proposals(&self, incident: &IncidentId) -> Result<Vec<Proposal>, StoreError>;
    async fn set_proposal_message(
        &self,
        id: &ProposalId,
        message: &MessageRef,
    ) -> Result<(), StoreError>;
    /// Records an approval and decides on the approvals counted in the same transaction:
    /// the one that makes enough moves the proposal to approved and queues its execution.
    /// The audit row's action says which (`proposal.approved`, `proposal.approval_counted`).
    /// `None` when it was no longer pending or this person already approved; nothing is
    /// written then.
    async fn record_approval(
        &self,
        id: &ProposalId,
        approver: &SlackUserId,
        audit: AuditEntry,
    ) -> Result<Option<Decision>, StoreError>;
    /// approved → executing, on behalf of `job`; `Some` only for the one job that wins. The
    /// same job, re-claimed after its worker died, gets the right again.
    async fn claim_execution(
        &self,
        id: &ProposalId,
        job: i64,
        audit: AuditEntry,
    ) -> Result<Option<ExecutionRight>, StoreError>;
    /// Any other allowed move (pending → rejected/expired, executing → done/failed).
    async fn move_proposal(
        &self,
        id: &ProposalId,
        from: ProposalState,
        to: ProposalState,
        outcome: Option<&Outcome>,
        audit: AuditEntry,
    ) -> Result<bool, StoreError>;
    /// Pending proposals whose time ran out, oldest first.
    async fn expired_pending(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Proposal>, StoreError>;
}
