//! The two-person rule (docs/design.md §4) as pure decisions: a proposal binds to the exact
//! parameters it was made with, and an approval counts only from a different person on the
//! approvers roster, while the proposal is pending, unexpired and unchanged.

use chrono::{DateTime, Utc};

use super::ids::{IncidentId, ProposalId, SlackUserId};

pub use super::action::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalState {
    Pending,
    Approved,
    Rejected,
    Expired,
    Executing,
    Done,
    Failed,
}

impl ProposalState {
    pub const ALL: [ProposalState; 7] = [
        Self::Pending,
        Self::Approved,
        Self::Rejected,
        Self::Expired,
        Self::Executing,
        Self::Done,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Executing => "executing",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The only forward moves; the store applies each as a compare-and-set from `self`.
    pub fn may_become(self, next: ProposalState) -> bool {
        use ProposalState::*;
        matches!(
            (self, next),
            (Pending, Approved | Rejected | Expired)
                | (Approved, Executing)
                | (Executing, Done | Failed)
        )
    }
}

/// A Slack message, as the domain needs to know it: where a proposal's buttons sit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRef {
    pub channel: String,
    pub ts: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub id: ProposalId,
    pub incident: IncidentId,
    pub action: Action,
    /// `action.params_hash()` when proposed.
    pub hash: String,
    pub requested_by: SlackUserId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub state: ProposalState,
    /// Distinct approvers so far, in order.
    pub approvals: Vec<SlackUserId>,
    /// How many distinct approvers besides the requester it needs.
    pub required: usize,
    /// The message carrying its buttons, once posted.
    pub message: Option<MessageRef>,
    /// Who moved it out of pending (approved, rejected or expired), and when.
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub outcome: Option<Outcome>,
}

/// Why a click does not count. Rendered to the clicker in the message module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("not on the approvers roster")]
    NotAnApprover,
    #[error("the requester cannot approve their own proposal")]
    OwnProposal,
    #[error("already approved by this person")]
    AlreadyApprovedBy,
    #[error("the proposal is {}", .0.as_str())]
    NotPending(ProposalState),
    #[error("the proposal expired")]
    Expired,
    #[error("the proposal's parameters changed since it was proposed")]
    Changed,
    #[error("the button is not on that proposal's message")]
    NotItsMessage,
    /// The proposal's message is posted but not yet recorded: a click within that moment.
    #[error("the proposal's message is still being recorded")]
    StillPosting,
}

/// What an approval click does when it counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Recorded; this many more distinct approvers are needed.
    NeedsMore(usize),
    /// Enough approvals: the proposal may move to approved, then executing.
    Approved,
}

/// The context a click is judged in, gathered at click time.
pub struct Click<'a> {
    pub by: &'a SlackUserId,
    pub on_roster: bool,
    /// The message the button sat on. A button value naming another proposal (of this
    /// incident or another) than the one the message shows is refused.
    pub message: &'a MessageRef,
    pub now: DateTime<Utc>,
}

/// Whether the proposal can still be decided from this button at all. Checked before the
/// clicker's own standing, so a stale or decided proposal says so to anyone.
fn still_open(p: &Proposal, click: &Click<'_>) -> Result<(), Refusal> {
    match &p.message {
        None => return Err(Refusal::StillPosting),
        Some(m) if m != click.message => return Err(Refusal::NotItsMessage),
        Some(_) => {}
    }
    if p.state != ProposalState::Pending {
        return Err(Refusal::NotPending(p.state));
    }
    if click.now >= p.expires_at {
        return Err(Refusal::Expired);
    }
    Ok(())
}

/// Judges an approval.
pub fn approve(p: &Proposal, click: &Click<'_>) -> Result<Decision, Refusal> {
    still_open(p, click)?;
    if p.action.params_hash() != p.hash {
        return Err(Refusal::Changed);
    }
    if click.by == &p.requested_by {
        return Err(Refusal::OwnProposal);
    }
    if !click.on_roster {
        return Err(Refusal::NotAnApprover);
    }
    if p.approvals.contains(click.by) {
        return Err(Refusal::AlreadyApprovedBy);
    }
    Ok(decide(p.approvals.len() + 1, p.required))
}

/// What `approvals` distinct approvals come to when `required` are needed.
pub fn decide(approvals: usize, required: usize) -> Decision {
    let required = required.max(1);
    if approvals >= required {
        Decision::Approved
    } else {
        Decision::NeedsMore(required - approvals)
    }
}

/// Judges a rejection: any approver (or the requester, withdrawing) may reject a pending,
/// unexpired proposal.
pub fn reject(p: &Proposal, click: &Click<'_>) -> Result<(), Refusal> {
    still_open(p, click)?;
    if !click.on_roster && click.by != &p.requested_by {
        return Err(Refusal::NotAnApprover);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{AccessKeyId, AccountId};
    use chrono::Duration;

    fn user(s: &str) -> SlackUserId {
        SlackUserId::parse(s).unwrap()
    }

    fn msg(ts: &str) -> MessageRef {
        MessageRef {
            channel: "C0KEYLEAK01".into(),
            ts: ts.into(),
        }
    }

    fn proposal(required: usize) -> Proposal {
        let action = Action::delete_access_key(
            &AccountId::parse("111111111111").unwrap(),
            "ci-deploy",
            &AccessKeyId::parse("AKIAIOSFODNN7EXAMPLE").unwrap(),
        );
        let now = DateTime::<Utc>::UNIX_EPOCH;
        Proposal {
            id: ProposalId::parse("PR-0000000001").unwrap(),
            incident: IncidentId::parse("KL-00C0FFEE").unwrap(),
            hash: action.params_hash(),
            action,
            requested_by: user("U0REQUESTER"),
            created_at: now,
            expires_at: now + Duration::minutes(30),
            state: ProposalState::Pending,
            approvals: vec![],
            required,
            message: Some(msg("1.1")),
            decided_by: None,
            decided_at: None,
            outcome: None,
        }
    }

    fn click<'a>(by: &'a SlackUserId, on: &'a MessageRef, min: i64) -> Click<'a> {
        Click {
            by,
            on_roster: true,
            message: on,
            now: DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(min),
        }
    }

    #[test]
    fn a_second_approver_approves() {
        let (p, a, i) = (proposal(1), user("U0APPROVER"), msg("1.1"));
        assert_eq!(approve(&p, &click(&a, &i, 1)), Ok(Decision::Approved));
    }

    #[test]
    fn the_requester_cannot_approve_their_own() {
        let (p, i) = (proposal(1), msg("1.1"));
        let me = user("U0REQUESTER");
        assert_eq!(approve(&p, &click(&me, &i, 1)), Err(Refusal::OwnProposal));
        assert_eq!(
            reject(&p, &click(&me, &i, 1)),
            Ok(()),
            "but may withdraw it"
        );
    }

    #[test]
    fn off_roster_expired_decided_changed_and_foreign_clicks_are_refused() {
        let (a, i) = (user("U0APPROVER"), msg("1.1"));
        let mut off = click(&a, &i, 1);
        off.on_roster = false;
        assert_eq!(approve(&proposal(1), &off), Err(Refusal::NotAnApprover));
        assert_eq!(
            approve(&proposal(1), &click(&a, &i, 30)),
            Err(Refusal::Expired)
        );
        let mut done = proposal(1);
        done.state = ProposalState::Approved;
        assert_eq!(
            approve(&done, &click(&a, &i, 1)),
            Err(Refusal::NotPending(ProposalState::Approved))
        );
        let mut changed = proposal(1);
        changed.action = Action::DeleteUser {
            account: "111111111111".into(),
            user: "ci-deploy".into(),
            holds: UserHoldings::default(),
        };
        assert_eq!(approve(&changed, &click(&a, &i, 1)), Err(Refusal::Changed));
        let other = msg("2.2");
        assert_eq!(
            approve(&proposal(1), &click(&a, &other, 1)),
            Err(Refusal::NotItsMessage),
            "a button value naming a proposal other than the message's"
        );
        let mut unrecorded = proposal(1);
        unrecorded.message = None;
        assert_eq!(
            approve(&unrecorded, &click(&a, &i, 1)),
            Err(Refusal::StillPosting),
            "clicked before the message's ts was recorded: press again, not a forgery"
        );
    }

    #[test]
    fn n_distinct_approvers_when_configured() {
        let i = msg("1.1");
        let (a, b) = (user("U0APPROVERA"), user("U0APPROVERB"));
        let mut p = proposal(2);
        assert_eq!(approve(&p, &click(&a, &i, 1)), Ok(Decision::NeedsMore(1)));
        p.approvals.push(a.clone());
        assert_eq!(
            approve(&p, &click(&a, &i, 2)),
            Err(Refusal::AlreadyApprovedBy)
        );
        assert_eq!(approve(&p, &click(&b, &i, 2)), Ok(Decision::Approved));
    }

    #[test]
    fn only_forward_state_moves() {
        use ProposalState::*;
        assert!(Pending.may_become(Approved));
        assert!(Approved.may_become(Executing));
        assert!(Executing.may_become(Done));
        assert!(!Done.may_become(Executing));
        assert!(
            !Pending.may_become(Executing),
            "no execution without approval"
        );
        assert!(!Rejected.may_become(Approved));
        for s in ProposalState::ALL {
            assert_eq!(ProposalState::parse(s.as_str()), Some(s));
        }
    }
}
