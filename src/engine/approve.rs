//! Approve and Reject clicks: judged by the pure two-person rule, recorded by compare-and-set,
//! so two clicks, a redelivered click or two replicas decide a proposal once.

use tracing::{info, warn};

use super::{Engine, on_roster};
use crate::domain::approval::ProposalState;
use crate::domain::approval::{self, Click, Decision, MessageRef, Outcome, Proposal, Refusal};
use crate::domain::ids::{ProposalId, RosterEntry, SlackUserId};
use crate::domain::incident::Actor;
use crate::store::StoreError;

/// A click on a proposal's button, as verified at the edge.
pub struct ProposalClick<'a> {
    pub proposal: &'a ProposalId,
    pub by: &'a SlackUserId,
    pub message: &'a MessageRef,
    /// Which verified request it came from, for the audit log.
    pub origin: String,
}

/// What a click came to; each is told to the clicker privately.
#[derive(Debug, Clone, PartialEq)]
pub enum ClickResult {
    /// Counted. `more_needed` is 0 when the proposal is approved and queued to run.
    Approved {
        proposal: Proposal,
        more_needed: usize,
    },
    Rejected {
        proposal: Proposal,
    },
    Refused {
        refusal: Refusal,
        proposal: Proposal,
    },
    UnknownProposal(ProposalId),
    /// The approvers roster could not be checked (a user-group lookup failed): nothing done.
    RosterUnavailable,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verb {
    Approve,
    Reject,
}

impl Engine {
    pub async fn approve_click(
        &self,
        click: ProposalClick<'_>,
        approvers: &[RosterEntry],
    ) -> Result<ClickResult, StoreError> {
        self.decide(click, approvers, Verb::Approve, None).await
    }

    pub async fn reject_click(
        &self,
        click: ProposalClick<'_>,
        approvers: &[RosterEntry],
        reason: Option<String>,
    ) -> Result<ClickResult, StoreError> {
        self.decide(click, approvers, Verb::Reject, reason).await
    }

    /// `/keyleak reject PR-… reason`: the same rule as the button, on the proposal's own
    /// message.
    pub async fn reject_by_command(
        &self,
        proposal: &ProposalId,
        by: &SlackUserId,
        approvers: &[RosterEntry],
        reason: Option<String>,
        origin: String,
    ) -> Result<ClickResult, StoreError> {
        let Some(p) = self.store.proposal(proposal).await? else {
            return Ok(ClickResult::UnknownProposal(proposal.clone()));
        };
        let Some(message) = p.message.clone() else {
            return Ok(ClickResult::UnknownProposal(proposal.clone()));
        };
        let click = ProposalClick {
            proposal,
            by,
            message: &message,
            origin,
        };
        self.decide(click, approvers, Verb::Reject, reason).await
    }

    async fn decide(
        &self,
        click: ProposalClick<'_>,
        approvers: &[RosterEntry],
        verb: Verb,
        reason: Option<String>,
    ) -> Result<ClickResult, StoreError> {
        let Some(p) = self.store.proposal(click.proposal).await? else {
            info!(proposal = %click.proposal, "click on an unknown proposal");
            return Ok(ClickResult::UnknownProposal(click.proposal.clone()));
        };
        let now = self.clock.now();
        if p.state == ProposalState::Pending && now >= p.expires_at {
            self.expire(&p).await?;
        }
        // Approvers are looked up afresh: someone just removed from the group must not count.
        // A click that cannot count anyway (decided, expired) spares Slack the look-up, which
        // is rate limited to about 20 a minute.
        let open = p.state == ProposalState::Pending && now < p.expires_at;
        let on = if open {
            match on_roster(click.by, approvers, self.notifier.as_ref(), true).await {
                Ok(on) => on,
                Err(e) => {
                    warn!(error = %e, "approvers roster lookup failed; refusing");
                    return Ok(ClickResult::RosterUnavailable);
                }
            }
        } else {
            false
        };
        let judged = Click {
            by: click.by,
            on_roster: on,
            message: click.message,
            now,
        };
        match verb {
            Verb::Approve => match approval::approve(&p, &judged) {
                Ok(d) => self.record_approval(&click, p, d).await,
                Err(r) => self.refuse(&click, p, r).await,
            },
            Verb::Reject => match approval::reject(&p, &judged) {
                Ok(()) => self.record_rejection(&click, p, reason).await,
                Err(r) => self.refuse(&click, p, r).await,
            },
        }
    }

    async fn refuse(
        &self,
        click: &ProposalClick<'_>,
        p: Proposal,
        refusal: Refusal,
    ) -> Result<ClickResult, StoreError> {
        info!(proposal = %p.id, by = %click.by, refusal = %refusal, "click refused");
        let mut audit = self.proposal_audit(
            &p,
            &Actor::Slack(click.by.clone()).to_stored(),
            "proposal.refused",
            refusal.to_string(),
        );
        audit.origin = click.origin.clone();
        self.store.audit(audit).await?;
        // A stale proposal says so from the store's latest view.
        let proposal = self.store.proposal(&p.id).await?.unwrap_or(p);
        Ok(ClickResult::Refused { refusal, proposal })
    }

    async fn record_approval(
        &self,
        click: &ProposalClick<'_>,
        p: Proposal,
        decision: Decision,
    ) -> Result<ClickResult, StoreError> {
        let completes = decision == Decision::Approved;
        let action = if completes {
            "proposal.approved"
        } else {
            "proposal.approval_counted"
        };
        let mut after = p.clone();
        after.approvals.push(click.by.clone());
        let mut audit = self.proposal_audit(
            &after,
            &Actor::Slack(click.by.clone()).to_stored(),
            action,
            String::new(),
        );
        audit.origin = click.origin.clone();
        if !self
            .store
            .record_approval(&p.id, click.by, completes, audit)
            .await?
        {
            // Another click won between our read and our write.
            let now = self.store.proposal(&p.id).await?.unwrap_or(p);
            let refusal = if now.approvals.contains(click.by) {
                Refusal::AlreadyApprovedBy
            } else {
                Refusal::NotPending(now.state)
            };
            return self.refuse(click, now, refusal).await;
        }
        if completes {
            self.wake.notify_one();
        }
        self.refresh_in_background(&p.id);
        let proposal = self.store.proposal(&p.id).await?.unwrap_or(after);
        let more_needed = match decision {
            Decision::NeedsMore(n) => n,
            Decision::Approved => 0,
        };
        Ok(ClickResult::Approved {
            proposal,
            more_needed,
        })
    }

    async fn record_rejection(
        &self,
        click: &ProposalClick<'_>,
        p: Proposal,
        reason: Option<String>,
    ) -> Result<ClickResult, StoreError> {
        let mut audit = self.proposal_audit(
            &p,
            &Actor::Slack(click.by.clone()).to_stored(),
            "proposal.rejected",
            reason.clone().unwrap_or_default(),
        );
        audit.origin = click.origin.clone();
        let outcome = Outcome::Rejected { reason };
        let moved = self
            .store
            .move_proposal(
                &p.id,
                ProposalState::Pending,
                ProposalState::Rejected,
                Some(&outcome),
                audit,
            )
            .await?;
        let now = self.store.proposal(&p.id).await?.unwrap_or(p);
        if !moved {
            let refusal = Refusal::NotPending(now.state);
            return self.refuse(click, now, refusal).await;
        }
        self.refresh_in_background(&now.id);
        Ok(ClickResult::Rejected { proposal: now })
    }

    /// Slack paces message edits; the clicker's answer does not wait for it.
    fn refresh_in_background(&self, id: &ProposalId) {
        let engine = self.clone();
        let id = id.clone();
        tokio::spawn(async move { engine.refresh_proposal(&id).await });
    }
}
