//! The audit log's entries: who did what, to which incident, from which verified request.

use chrono::{DateTime, Utc};

use crate::domain::approval::ProposalState;
use crate::domain::ids::IncidentId;
use crate::domain::incident::{StepKind, StepStatus};

#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: AuditAction,
    pub incident_id: Option<IncidentId>,
    pub detail: String,
    pub origin: String,
}

/// What an audit row records, stored by its dotted name (`proposal.approved`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditAction {
    /// Someone not on the responders roster asked for something.
    CommandRefused,
    ContainOpen,
    /// An incident opened in triage: nothing is changed until a person decides.
    TriageOpen,
    /// Containment of an incident in triage decided, by a person or a signal.
    ContainStart,
    /// A signal about a key whose incident is open, added to it as evidence.
    SignalJoined,
    /// A signal's containment stopped before any change: the key's owner is excepted.
    SignalHeld,
    /// An incident in triage ended without containment, with a reason.
    IncidentDismiss,
    /// A GitHub secret scanning alert resolved as revoked once its key was contained.
    AlertResolved,
    /// The same, refused or not answered by GitHub.
    AlertNotResolved,
    /// A contain for a key with an open incident: the incident is reused.
    ContainReuse,
    /// The same, for a failed incident: containment is queued again.
    ContainRetry,
    ContainStep {
        kind: StepKind,
        status: StepStatus,
    },
    CleanupRequested,
    ProposalCreated,
    ProposalExpired,
    ProposalRefused,
    ProposalApprovalCounted,
    ProposalApproved,
    ProposalRejected,
    ProposalExecuting,
    /// An approved proposal ran, to this end (`done`, `failed`).
    ProposalFinished(ProposalState),
    RestoreRequested,
    RestoreKeyIssued,
    InvestigationRequested,
    ReportRequested,
    /// What the key could do, to be assessed once its user's snapshot is recorded.
    ReachRequested,
    IncidentClose,
    JobAbandoned,
    RoleFenced,
    RoleFenceManual,
    RoleFenceFailed,
    /// Only unverified archive files show the role assumed: nothing was written on it.
    RoleFenceArchiveOnly,
    /// A name this version does not know, recorded by another version of keyleak.
    Other(String),
}

/// The actions with a fixed name, for naming and reading back.
const NAMED: [(AuditAction, &str); 30] = [
    (AuditAction::AlertResolved, "github.alert_resolved"),
    (AuditAction::AlertNotResolved, "github.alert_not_resolved"),
    (AuditAction::CommandRefused, "command.refused"),
    (AuditAction::ContainOpen, "contain.open"),
    (AuditAction::TriageOpen, "triage.open"),
    (AuditAction::ContainStart, "contain.start"),
    (AuditAction::SignalJoined, "signal.joined"),
    (AuditAction::SignalHeld, "signal.held"),
    (AuditAction::IncidentDismiss, "incident.dismiss"),
    (AuditAction::ContainReuse, "contain.reuse"),
    (AuditAction::ContainRetry, "contain.retry"),
    (AuditAction::CleanupRequested, "cleanup.requested"),
    (AuditAction::ProposalCreated, "proposal.created"),
    (AuditAction::ProposalExpired, "proposal.expired"),
    (AuditAction::ProposalRefused, "proposal.refused"),
    (
        AuditAction::ProposalApprovalCounted,
        "proposal.approval_counted",
    ),
    (AuditAction::ProposalApproved, "proposal.approved"),
    (AuditAction::ProposalRejected, "proposal.rejected"),
    (AuditAction::ProposalExecuting, "proposal.executing"),
    (AuditAction::RestoreRequested, "restore.requested"),
    (AuditAction::RestoreKeyIssued, "restore.key_issued"),
    (
        AuditAction::InvestigationRequested,
        "investigation.requested",
    ),
    (AuditAction::ReportRequested, "report.requested"),
    (AuditAction::ReachRequested, "reach.requested"),
    (AuditAction::IncidentClose, "incident.close"),
    (AuditAction::JobAbandoned, "job.abandoned"),
    (AuditAction::RoleFenced, "role.fenced"),
    (AuditAction::RoleFenceManual, "role.fence_manual"),
    (AuditAction::RoleFenceFailed, "role.fence_failed"),
    (AuditAction::RoleFenceArchiveOnly, "role.fence_archive_only"),
];

impl AuditAction {
    /// The name the audit log stores.
    pub fn name(&self) -> String {
        match self {
            Self::ContainStep { kind, status } => {
                format!("contain.{}.{}", kind.as_str(), status.as_str())
            }
            Self::ProposalFinished(state) => format!("proposal.{}", state.as_str()),
            Self::Other(name) => name.clone(),
            Self::CommandRefused
            | Self::ContainOpen
            | Self::TriageOpen
            | Self::ContainStart
            | Self::SignalJoined
            | Self::SignalHeld
            | Self::IncidentDismiss
            | Self::AlertResolved
            | Self::AlertNotResolved
            | Self::ContainReuse
            | Self::ContainRetry
            | Self::CleanupRequested
            | Self::ProposalCreated
            | Self::ProposalExpired
            | Self::ProposalRefused
            | Self::ProposalApprovalCounted
            | Self::ProposalApproved
            | Self::ProposalRejected
            | Self::ProposalExecuting
            | Self::RestoreRequested
            | Self::RestoreKeyIssued
            | Self::InvestigationRequested
            | Self::ReportRequested
            | Self::ReachRequested
            | Self::IncidentClose
            | Self::JobAbandoned
            | Self::RoleFenced
            | Self::RoleFenceManual
            | Self::RoleFenceFailed
            | Self::RoleFenceArchiveOnly => NAMED
                .iter()
                .find(|(a, _)| a == self)
                .map_or_else(String::new, |(_, n)| (*n).to_string()),
        }
    }

    /// Reads a stored name back; one this version does not know is kept as it is.
    pub fn from_name(name: &str) -> Self {
        if let Some((a, _)) = NAMED.iter().find(|(_, n)| *n == name) {
            return a.clone();
        }
        if let Some(step) = name.strip_prefix("contain.")
            && let Some((kind, status)) = step.rsplit_once('.')
            && let (Some(kind), Some(status)) = (StepKind::parse(kind), StepStatus::parse(status))
        {
            return Self::ContainStep { kind, status };
        }
        if let Some(state) = name
            .strip_prefix("proposal.")
            .and_then(ProposalState::parse)
        {
            return Self::ProposalFinished(state);
        }
        Self::Other(name.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_read_back_as_itself() {
        let mut all: Vec<AuditAction> = NAMED.iter().map(|(a, _)| a.clone()).collect();
        all.push(AuditAction::ProposalFinished(ProposalState::Done));
        all.push(AuditAction::ProposalFinished(ProposalState::Failed));
        for kind in StepKind::EVERY {
            for status in [StepStatus::Done, StepStatus::Failed] {
                all.push(AuditAction::ContainStep { kind, status });
            }
        }
        for a in all {
            assert_eq!(AuditAction::from_name(&a.name()), a, "{}", a.name());
        }
        assert_eq!(
            AuditAction::from_name("something.new"),
            AuditAction::Other("something.new".into())
        );
        assert_eq!(AuditAction::ContainOpen.name(), "contain.open");
    }
}
