//! Approve and Reject clicks: judged by the pure two-person rule, recorded by compare-and-set,
//! so two clicks, a redelivered click or two replicas decide a proposal once.

use std::sync::PoisonError;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::{info, warn};

use super::{Engine, on_roster};
use crate::domain::answer::ClickResult;
use crate::domain::approval::ProposalState;
use crate::domain::approval::{self, Click, Decision, MessageRef, Outcome, Proposal, Refusal};
use crate::domain::audit::AuditAction;
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
            AuditAction::ProposalRefused,
            refusal.to_string(),
        );
        audit.origin = click.origin.clone();
        self.store.audit(audit).await?;
        // A stale proposal says so from the store's latest view.
        let proposal = self.store.proposal(&p.id).await?.unwrap_or(p);
        Ok(ClickResult::Refused { refusal, proposal })
    }

    /// The store counts the approval and decides in one transaction; `_judged` is only
    /// what the click looked like before it (the count may have moved since).
    async fn record_approval(
        &self,
        click: &ProposalClick<'_>,
        p: Proposal,
        _judged: Decision,
    ) -> Result<ClickResult, StoreError> {
        let mut after = p.clone();
        after.approvals.push(click.by.clone());
        let mut audit = self.proposal_audit(
            &after,
            &Actor::Slack(click.by.clone()).to_stored(),
            AuditAction::ProposalApprovalCounted,
            String::new(),
        );
        audit.origin = click.origin.clone();
        let Some(decision) = self.store.record_approval(&p.id, click.by, audit).await? else {
            // Another click won between our read and our write.
            let now = self.store.proposal(&p.id).await?.unwrap_or(p);
            let refusal = if now.approvals.contains(click.by) {
                Refusal::AlreadyApprovedBy
            } else {
                Refusal::NotPending(now.state)
            };
            return self.refuse(click, now, refusal).await;
        };
        if decision == Decision::Approved {
            self.wake.notify_one();
        }
        self.redraw_in_background(&p.id);
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
            AuditAction::ProposalRejected,
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
        self.redraw_in_background(&now.id);
        Ok(ClickResult::Rejected { proposal: now })
    }

    /// Redraws the proposal's message beside the clicker's answer (Slack paces edits).
    fn redraw_in_background(&self, id: &ProposalId) {
        let engine = self.clone();
        let id = id.clone();
        tokio::spawn(async move { engine.redraw_proposal(&id).await });
    }

    /// Redraws the proposal's message from the store. Redraws of one proposal run one at a
    /// time, each reading the state when it starts, and one asked for before another began
    /// is skipped: so the message always ends showing the latest state, never an older
    /// drawing landing last, and a burst of clicks costs few edits.
    pub(super) async fn redraw_proposal(&self, id: &ProposalId) {
        let redraw = self
            .redraws
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id.clone())
            .or_default()
            .clone();
        let ticket = redraw.asked.fetch_add(1, Ordering::SeqCst) + 1;
        let mut drawn = redraw.drawn.lock().await;
        if *drawn >= ticket {
            return;
        }
        let upto = redraw.asked.load(Ordering::SeqCst);
        self.refresh_proposal(id).await;
        *drawn = upto;
    }
}

/// One proposal's redraws: how many were asked for, and up to which one the message shows.
#[derive(Default)]
pub(super) struct Redraw {
    asked: AtomicU64,
    drawn: tokio::sync::Mutex<u64>,
}
