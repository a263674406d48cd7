//! What the engine answers and tells people, in the domain's words: refusals, outcomes and
//! notices. The Slack text module and the console render them; the engine never writes a
//! sentence.

use crate::domain::approval::{Action, Grantor, Proposal, Refusal};
use crate::domain::ids::{AccountId, IncidentId, ProposalId, SlackUserId};
use crate::domain::incident::{Actor, Incident};
use crate::domain::job::JobKind;
use crate::domain::restore::Handover;
use crate::domain::signal::Source;
use crate::domain::trail::TrailEvent;
use crate::domain::trail::findings::Findings;
use crate::domain::trail::summary::Summary;
use crate::domain::verbs::Disallowed;

/// Why an investigation was not queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvestigateRefusal {
    NoSuchIncident(IncidentId),
    /// Beyond CloudTrail's event history, with no archive to read instead.
    BeyondHistory {
        days: u32,
    },
    NotNow(IncidentId, Disallowed),
}

/// Why a cleanup request was not queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanupRefusal {
    NoSuchIncident(IncidentId),
    /// Containment has not yet found the key's account and user.
    NotLocated(IncidentId),
    NotNow(IncidentId, Disallowed),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreRefusal {
    NoSuchIncident,
    NotNow(Disallowed),
    /// A root key: there is no IAM user to restore.
    NoUser,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseRefusal {
    NoSuchIncident,
    NotNow(Disallowed),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportRefusal {
    NoSuchIncident,
    /// The incident message was never posted (Slack was down throughout).
    NoThread,
    NotNow(Disallowed),
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

/// Why a cleanup target cannot become a proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanProblem {
    /// Containment has not found the key's account and user yet.
    NotLocated,
    /// The incident's key is temporary: it expires by itself.
    TemporaryKey,
    NoConsolePassword {
        user: String,
    },
    /// The security group has no inbound rule of that id.
    NoSuchRule {
        group: String,
        rule: String,
        region: String,
    },
    /// The function's resource policy has no statement of that id.
    NoSuchStatement {
        function: String,
        statement: String,
        region: String,
    },
    /// The policy lets in none of the principals named (or there is no policy).
    NotGranted {
        on: Grantor,
        principals: Vec<String>,
    },
    /// All four settings of the bucket's public access block are on already.
    AlreadyBlocked {
        bucket: String,
    },
    /// The snapshot or image is shared with no other account.
    NotShared {
        what: String,
        region: String,
    },
    /// The user has no such SSH key, certificate, service credential or MFA device.
    NoSuchCredential {
        user: String,
        what: String,
    },
    ServiceLinkedRole {
        role: String,
    },
    PolicyElsewhere {
        account: String,
    },
    NoLiveInstances {
        region: String,
        account: String,
    },
    NoSuchFunction {
        name: String,
        region: String,
        account: String,
    },
    NotAKeyId {
        raw: String,
    },
    /// A root key, or a key of another account.
    NoOwner {
        key: String,
        account: String,
    },
    /// AWS refused or failed the lookup; its words.
    Aws(String),
}

impl std::fmt::Display for PlanProblem {
    /// For the log; people read the text module's rendering.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

/// The progress counters of an investigation, as they stood.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgressCounts {
    pub keys: usize,
    pub lookups: usize,
    pub lookups_done: usize,
    pub events: usize,
}

/// What a restore did, for the thread and the requester.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoreOutcome {
    pub handover: Option<Handover>,
    /// False when a proposal to lift the deny-all was already open.
    pub lift_proposed: bool,
    /// Forensics' view of where the old key was used from.
    pub places: Summary,
}

/// Why a job failed, as a person is told it; the whole error chain goes to the log only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// AWS refused or failed a call; its own words (error code and message).
    Aws(String),
    /// Slack could not be reached or refused a call; its error name.
    Slack(String),
    /// keyleak's database could not be read or written.
    Store,
    /// Anything else; the log has the details.
    Internal,
}

/// Something the engine tells people in Slack (or on the console).
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    InvestigationProgress {
        incident: Incident,
        progress: ProgressCounts,
    },
    InvestigationFailed {
        incident: Incident,
        cause: Cause,
    },
    /// `about` names the investigation: its incident, or the archive at the CLI.
    InvestigationSummary {
        about: String,
        findings: Box<Findings>,
    },
    /// Introduces the timeline files.
    Timeline {
        incident: Incident,
        events: usize,
    },
    RestoreFailed {
        incident: IncidentId,
        cause: Cause,
    },
    RestoreSummary {
        incident: Incident,
        outcome: RestoreOutcome,
    },
    RestoreDone {
        incident: Incident,
        outcome: RestoreOutcome,
    },
    /// Another restore of the incident is running.
    RestoreBusy {
        incident: Incident,
    },
    /// The user already has the most access keys IAM allows.
    RestoreAtKeyLimit {
        incident: Incident,
        leaked_key_there: bool,
    },
    Closed {
        incident: Incident,
        by: Option<Actor>,
        report: Option<String>,
        /// Ended in triage without containment, for this reason.
        dismissed: Option<String>,
    },
    CleanupNotProposed {
        incident: Incident,
        problem: PlanProblem,
    },
    CleanupAlreadyPending {
        incident: Incident,
        action: Action,
        pending: ProposalId,
    },
    ReportFailed {
        incident: IncidentId,
        cause: Cause,
    },
    ReportShared {
        incident: Incident,
    },
    /// The incident room could not be made; Slack's error name.
    RoomUnavailable {
        slack_error: String,
    },
    InviteFailed {
        users: Vec<SlackUserId>,
        slack_error: String,
    },
    /// The key's user or sessions acted after containment. `mention` names the responders
    /// to call when a call among them opens a way back in or blinds the account.
    LateActivity {
        incident: Incident,
        events: Vec<TrailEvent>,
        mention: Vec<SlackUserId>,
    },
    /// A signal said a key is exposed and keyleak could not act on it: no incident holds it,
    /// so the announcement channel hears. `about` names it (the alert's page, the user);
    /// `account` is set when keyleak has no way into it.
    SignalNotActedOn {
        source: Source,
        about: String,
        account: Option<AccountId>,
        cause: String,
    },
    /// keyleak gave up a job whose worker kept dying while running it.
    JobAbandoned {
        incident: Incident,
        kind: JobKind,
        attempts: i64,
    },
}
