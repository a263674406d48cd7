//! Cleanup proposals: the message with its Approve and Reject buttons, redrawn as it is
//! decided and run, and the private answers to each click.

use super::action::{code_list, count, describe, details};
use super::*;
use crate::domain::answer::{CleanupRefusal, ClickResult, PlanProblem};
use crate::domain::approval::{Action, Outcome, Proposal, ProposalState, Refusal};
use crate::domain::cleanup::{KINDS, MAX_INSTANCES, MAX_PRINCIPALS, Target, TargetError};
use crate::domain::ids::ProposalId;
use crate::domain::incident::Actor;

pub const APPROVE: &str = "proposal.approve";
pub const REJECT: &str = "proposal.reject";

/// Slack's limit for a confirm dialog's text.
const CONFIRM_MAX: usize = 300;
fn state_mark(s: ProposalState) -> &'static str {
    match s {
        ProposalState::Pending => ":warning:",
        ProposalState::Approved | ProposalState::Executing => ":hourglass_flowing_sand:",
        ProposalState::Done => ":white_check_mark:",
        ProposalState::Failed => ":x:",
        ProposalState::Rejected => ":no_entry_sign:",
        ProposalState::Expired => ":alarm_clock:",
    }
}

fn people(ids: &[crate::domain::ids::SlackUserId]) -> String {
    ids.iter()
        .map(|u| format!("<@{u}>"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The person a stored actor names: a Slack mention, or keyleak itself.
fn decided_by(p: &Proposal) -> String {
    match p.decided_by.as_deref().and_then(Actor::from_stored) {
        Some(a) => actor(&a),
        None => "keyleak".into(),
    }
}

fn request_ids(ids: &[String]) -> String {
    if ids.is_empty() {
        String::new()
    } else {
        format!(" AWS request ids: {}.", code_list(ids))
    }
}

fn outcome_line(o: &Outcome) -> String {
    match o {
        Outcome::Done { request_ids: ids } => format!("*Done.*{}", request_ids(ids)),
        Outcome::AlreadyGone { request_ids: ids } => format!(
            "*Nothing to do:* it was already gone (removed outside keyleak, or by an earlier run).{}",
            request_ids(ids)
        ),
        Outcome::Changed { found } => format!(
            "*Not run:* it now holds what the approvers did not see ({}). Nothing was deleted; \
             propose it again to review the new state.",
            found
                .iter()
                .map(|f| sanitize(f))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Outcome::Failed {
            error,
            request_ids: ids,
        } => format!(
            "*Failed:* {}. It was not retried; check the account and propose it again.{}",
            sanitize(error),
            request_ids(ids)
        ),
        Outcome::Rejected { reason: Some(r) } => format!("Reason: {}", sanitize(r)),
        Outcome::Rejected { reason: None } | Outcome::Expired => String::new(),
    }
}

fn status_line(p: &Proposal) -> String {
    let at = p.decided_at.map(when).unwrap_or_default();
    match p.state {
        ProposalState::Pending => {
            let have = p.approvals.len();
            let need = p.required.max(1);
            let mut s = format!(
                "Needs {} from the approvers roster, other than the requester. Expires {}.",
                count(need, "approval", "approvals"),
                when(p.expires_at)
            );
            if have > 0 {
                s.push_str(&format!(
                    " Approved so far by {} ({have} of {need}).",
                    people(&p.approvals)
                ));
            }
            s
        }
        ProposalState::Approved => format!(
            "Approved by {} at {at}; queued to run.",
            people(&p.approvals)
        ),
        ProposalState::Executing => {
            format!("Approved by {} at {at}; running now.", people(&p.approvals))
        }
        ProposalState::Done | ProposalState::Failed => {
            format!("Approved by {} at {at}.", people(&p.approvals))
        }
        ProposalState::Rejected => format!("Rejected by {} at {at}.", decided_by(p)),
        ProposalState::Expired => {
            format!(
                "Expired at {} without enough approvals; nothing ran.",
                when(p.expires_at)
            )
        }
    }
}

fn buttons(p: &Proposal) -> SlackBlock {
    let confirm = SlackBlockConfirmItem::new(
        pt!("Run this action?"),
        SlackBlockText::MarkDown(SlackBlockMarkDownText::new(cut(
            &describe(&p.action),
            CONFIRM_MAX,
        ))),
        pt!("Approve and run"),
        pt!("Cancel"),
    );
    let approve = SlackBlockButtonElement::new(pt!("Approve"))
        .with_action_id(APPROVE.into())
        .with_value(p.id.to_string())
        .with_style(SlackBlockButtonStyle::Danger)
        .with_confirm(confirm);
    let reject = SlackBlockButtonElement::new(pt!("Reject"))
        .with_action_id(REJECT.into())
        .with_value(p.id.to_string());
    SlackActionsBlock::new(vec![approve.into(), reject.into()]).into()
}

/// The proposal message: what will be done, who asked, until when, and its state. Buttons
/// only while it is pending; they carry the proposal id and nothing else.
pub fn proposal(i: &Incident, p: &Proposal) -> Reply {
    let header = format!(
        "{} *Cleanup proposal {}* · incident *{}* — {}",
        state_mark(p.state),
        p.id,
        i.id,
        p.state.as_str()
    );
    let what = describe(&p.action);
    let mut blocks = vec![section(&header), section(&what)];
    blocks.push(section(&details(&p.action)));
    blocks.push(context(&format!(
        "Proposed by <@{}> at {}",
        p.requested_by,
        when(p.created_at)
    )));
    let mut status = status_line(p);
    if let Some(o) = &p.outcome {
        let line = outcome_line(o);
        if !line.is_empty() {
            status = format!("{status}\n{line}");
        }
    }
    blocks.push(section(&status));
    if p.state == ProposalState::Pending {
        blocks.push(buttons(p));
    }
    Reply {
        text: format!("{header}\n{what}"),
        blocks,
    }
}

fn more(n: usize) -> String {
    count(n, "more approver", "more approvers")
}

fn refusal_text(r: &Refusal, p: &Proposal) -> String {
    match r {
        Refusal::NotAnApprover => {
            "Only people on keyleak's approvers roster (`KEYLEAK_APPROVERS`) \
            can approve or reject. Nothing ran; your click was recorded."
                .into()
        }
        Refusal::OwnProposal => format!(
            "You proposed {}, so you cannot approve it: a second person from the approvers \
             roster must. Ask one of them to press Approve. (You can still Reject it to withdraw it.)",
            p.id
        ),
        Refusal::AlreadyApprovedBy => format!(
            "You already approved {}. It still needs {}.",
            p.id,
            more(p.required.max(1).saturating_sub(p.approvals.len()))
        ),
        Refusal::NotPending(ProposalState::Rejected) => {
            format!(
                "{} was already rejected by {}; it will not run.",
                p.id,
                decided_by(p)
            )
        }
        Refusal::NotPending(ProposalState::Expired) | Refusal::Expired => format!(
            "{} expired at {}; nothing ran. Propose it again with `/keyleak cleanup {}`.",
            p.id,
            when(p.expires_at),
            p.incident
        ),
        Refusal::NotPending(_) => format!(
            "{} was already approved by {}{}; it runs once, and your click changed nothing.",
            p.id,
            people(&p.approvals),
            p.decided_at
                .map(|t| format!(" at {}", when(t)))
                .unwrap_or_default()
        ),
        Refusal::Changed => format!(
            "{}'s parameters changed since it was proposed, so it cannot be approved. Nothing ran.",
            p.id
        ),
        Refusal::NotItsMessage => "That button does not belong to this proposal's message. \
            Nothing ran; the attempt was recorded."
            .into(),
        Refusal::StillPosting => format!(
            "{} was posted a moment ago and is still being recorded. Nothing ran; press the \
             button again.",
            p.id
        ),
    }
}

/// The private answer to a click (or to `/keyleak reject`).
pub fn click_result(r: &ClickResult) -> Reply {
    Reply::plain(match r {
        ClickResult::Approved {
            proposal,
            more_needed: 0,
        } => format!(
            ":white_check_mark: You approved {}. It is running now; the outcome will show on the proposal.",
            proposal.id
        ),
        ClickResult::Approved {
            proposal,
            more_needed,
        } => format!(
            ":ballot_box_with_check: Your approval of {} is recorded. It still needs {}.",
            proposal.id,
            more(*more_needed)
        ),
        ClickResult::Rejected { proposal } => {
            format!(
                ":no_entry_sign: You rejected {}; it will not run.",
                proposal.id
            )
        }
        ClickResult::Refused { refusal, proposal } => {
            format!(":no_entry: {}", refusal_text(refusal, proposal))
        }
        ClickResult::UnknownProposal(id) => {
            format!("keyleak has no proposal `{id}` with a message; nothing ran.")
        }
        ClickResult::RosterUnavailable => {
            "keyleak could not check the approvers roster (the Slack \
            user-group lookup failed), so it did nothing. Try again in a moment."
                .into()
        }
    })
}

/// The answer to `/keyleak cleanup`: the lookup is queued.
pub fn cleanup_queued(i: &Incident, target: &Target) -> Reply {
    let what = match target {
        Target::Rollback => "rollback proposals",
        Target::LiftDenyAll => "a proposal to lift the deny-all",
        Target::LeakedKey
        | Target::AccessKey { .. }
        | Target::LoginProfile { .. }
        | Target::User { .. }
        | Target::Role { .. }
        | Target::Policy { .. }
        | Target::Instances { .. }
        | Target::Function { .. }
        | Target::Credential { .. }
        | Target::Unshare { .. }
        | Target::FunctionPermission { .. }
        | Target::IngressRule { .. }
        | Target::Grant { .. }
        | Target::BlockPublicAccess { .. } => "a cleanup proposal",
    };
    Reply::plain(format!(
        ":mag: Checking AWS, then posting {what} for *{}* in its thread. A second person from \
         the approvers roster must approve before anything runs.",
        i.id
    ))
}

pub fn cleanup_refused(r: &CleanupRefusal) -> Reply {
    Reply::plain(match r {
        CleanupRefusal::NoSuchIncident(id) => format!("There is no incident `{id}`."),
        CleanupRefusal::NotLocated(id) => format!(
            "Incident *{id}* has not found the key's account and user yet, so there is nothing \
             to clean up. `/keyleak status {id}` shows where containment is."
        ),
        CleanupRefusal::NotNow(id, d) => not_now(id, d),
    })
}

pub fn cleanup_not_proposed(i: &Incident, problem: &PlanProblem) -> Reply {
    Reply::plain(format!(
        ":x: No proposal was made for *{}*: {}.",
        i.id,
        plan_problem(problem)
    ))
}

fn plan_problem(p: &PlanProblem) -> String {
    match p {
        PlanProblem::NotLocated => {
            "containment has not found the key's account and user yet".into()
        }
        PlanProblem::TemporaryKey => "the incident's key is temporary: it expires by itself".into(),
        PlanProblem::NoConsolePassword { user } => {
            format!("user {} has no console password", code(user))
        }
        PlanProblem::NoSuchRule {
            group,
            rule,
            region,
        } => format!(
            "security group {} in {} has no inbound rule {}",
            code(group),
            sanitize(region),
            code(rule)
        ),
        PlanProblem::NoSuchStatement {
            function,
            statement,
            region,
        } => format!(
            "Lambda function {} in {} has no permission statement {}",
            code(function),
            sanitize(region),
            code(statement)
        ),
        PlanProblem::NotShared { what, region } => format!(
            "{} in {} is shared with no other account",
            sanitize(what),
            sanitize(region)
        ),
        PlanProblem::NotGranted { on, principals } => format!(
            "{} lets in none of {}",
            super::action::grantor(on),
            principals
                .iter()
                .map(|p| code(p))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        PlanProblem::AlreadyBlocked { bucket } => {
            format!("bucket {} already blocks all public access", code(bucket))
        }
        PlanProblem::NoSuchCredential { user, what } => {
            format!("user {} has no {}", code(user), sanitize(what))
        }
        PlanProblem::ServiceLinkedRole { role } => format!(
            "{} is a service-linked role; it is removed through its service",
            code(role)
        ),
        PlanProblem::PolicyElsewhere { account } => {
            format!(
                "the policy is not in the incident's account {}",
                sanitize(account)
            )
        }
        PlanProblem::NoLiveInstances { region, account } => format!(
            "none of those instances is running or stopped in {} of account {}",
            sanitize(region),
            sanitize(account)
        ),
        PlanProblem::NoSuchFunction {
            name,
            region,
            account,
        } => format!(
            "there is no Lambda function {} in {} of account {}",
            code(name),
            sanitize(region),
            sanitize(account)
        ),
        PlanProblem::NotAKeyId { raw } => format!("{} is not an access key id", code(raw)),
        PlanProblem::NoOwner { key, account } => format!(
            "{} belongs to no IAM user of account {} (a root key cannot be deleted by keyleak)",
            code(key),
            sanitize(account)
        ),
        PlanProblem::Aws(words) => format!("AWS answered: {}", sanitize(words)),
    }
}

/// A name in code style, escaped (`sanitize` leaves no backtick to break out with).
fn code(s: &str) -> String {
    format!("`{}`", sanitize(s))
}

/// The same action asked for again while its proposal waits: nothing new is proposed.
pub fn cleanup_already_pending(i: &Incident, action: &Action, pending: &ProposalId) -> Reply {
    Reply::plain(format!(
        ":information_source: *{pending}* already proposes this for *{}* and is waiting for \
         approval: {}. Nothing new was proposed; approve or reject that one in the incident thread.",
        i.id,
        describe(action)
    ))
}

pub fn target_error(e: &TargetError) -> String {
    let usage = format!("Usage: `/keyleak cleanup KL-… [{}]`.", KINDS.join(" | "));
    let q = |s: &str| format!("`{}`", sanitize(s));
    let what = match e {
        TargetError::UnknownKind(k) => format!("{} is not a cleanup keyleak knows.", q(k)),
        TargetError::Missing { kind, needs } => format!("`{kind}` needs {needs}."),
        TargetError::TooMany { kind, takes } => format!("`{kind}` takes {takes}."),
        TargetError::BadKey(k) => super::key_error(k),
        TargetError::TemporaryKey(k) => format!(
            "{} is a temporary key: it expires by itself and cannot be deleted.",
            q(k)
        ),
        TargetError::BadName(n) => format!("{} is not a valid IAM user or role name.", q(n)),
        TargetError::BadPolicyArn(a) => format!(
            "{} is not the ARN of a customer-managed policy (AWS-managed policies cannot be deleted).",
            q(a)
        ),
        TargetError::BadRegion(r) => format!("{} is not an AWS region such as `us-east-1`.", q(r)),
        TargetError::BadInstance(i) => {
            format!(
                "{} is not an EC2 instance id such as `i-0123456789abcdef0`.",
                q(i)
            )
        }
        TargetError::TooManyInstances => {
            format!("At most {MAX_INSTANCES} instances per proposal; split the list.")
        }
        TargetError::BadFunction(f) => format!("{} is not a Lambda function name.", q(f)),
        TargetError::BadRule(r) => format!(
            "{} is not an id such as `sg-0123456789abcdef0` (the group) followed by \
             `sgr-0123456789abcdef0` (its rule).",
            q(r)
        ),
        TargetError::BadStatement(s) => format!(
            "{} is not a statement id (letters, digits, `-` and `_`, as Lambda's `Sid`).",
            q(s)
        ),
        TargetError::BadShared(s) => format!(
            "{} is not an id such as `snap-0123456789abcdef0` (for `unshare-snapshot`), \
             `ami-0123456789abcdef0` (for `unshare-image`) or an RDS snapshot's name such as \
             `prod-db-2026-11-19` (for `unshare-db-snapshot` and `unshare-db-cluster-snapshot`).",
            q(s)
        ),
        TargetError::BadPrincipal(p) => format!(
            "{} is not a principal to take out: an account id such as `444455556666`, an ARN \
             such as `arn:aws:iam::444455556666:root`, or `*` (everyone).",
            q(p)
        ),
        TargetError::TooManyPrincipals => {
            format!("At most {MAX_PRINCIPALS} principals per proposal; split the list.")
        }
        TargetError::BadBucket(b) => format!(
            "{} is not an S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens).",
            q(b)
        ),
        TargetError::BadCredentialId(c) => format!(
            "{} is not an IAM credential id (the card and the report list each credential's).",
            q(c)
        ),
    };
    format!("{what} {usage}")
}
