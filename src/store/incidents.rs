//! Incidents: their opening, state and room; the steps of their containment and the
//! snapshot taken before it; the files of their latest report.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{AuditEntry, NewJob, StoreError};
use crate::domain::ids::{AccessKeyId, AccountId, IncidentId};
use crate::domain::incident::{Actor, Incident, IncidentState, StepKind, StepRecord, UserSnapshot};
use crate::domain::reach::Reach;
use crate::domain::signal::{Hold, Signal};

/// What a request does to the key: what a new incident starts as, and what an open one in
/// triage becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// A new incident contains at once; one in triage starts containing.
    Contain,
    /// A new incident gathers the facts and changes nothing; an open one only gains the signal.
    Triage,
}

/// What to record when a responder or a signal asks about a key.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub opening: Opening,
    /// Why a signal did not contain the key (or `Pending`: contain unless the owner turns out
    /// to be excepted).
    pub hold: Option<Hold>,
    /// The signal this request carries: kept as evidence, its delivery recorded once.
    pub signal: Option<Signal>,
    pub id: IncidentId,
    pub key: AccessKeyId,
    pub reason: Option<String>,
    pub requested_by: Actor,
    pub now: DateTime<Utc>,
    /// Which verified request this came from, for the audit log.
    pub origin: String,
    /// Where to tell the requester privately how containment ended (Slack's `response_url`).
    pub response_url: Option<String>,
    /// How far back the forensics that follows looks, when the requester said.
    pub investigate_days: Option<u32>,
}

/// The answer to a contain request: the incident, and whether this request opened it.
#[derive(Debug, Clone)]
pub struct Opened {
    pub incident: Incident,
    pub created: bool,
    /// True when a containment job was queued by this request (new, or a retry of a failure).
    pub queued: bool,
    /// The signal's delivery was recorded before: nothing was written.
    pub duplicate: bool,
    /// This request started containment of an incident in triage.
    pub from_triage: bool,
}

/// Incident facts learnt by the playbook.
#[derive(Debug, Clone, Default)]
pub struct IncidentFacts {
    pub account: Option<AccountId>,
    pub user_name: Option<String>,
}

#[async_trait]
pub trait Incidents: Send + Sync {
    /// Opens an incident for the key and queues its containment, or returns the open one.
    /// A failed incident gets a new containment job unless one is already pending.
    /// One transaction with the audit row.
    async fn open_incident(&self, new: NewIncident) -> Result<Opened, StoreError>;

    async fn incident(&self, id: &IncidentId) -> Result<Incident, StoreError>;
    async fn open_incident_for_key(
        &self,
        key: &AccessKeyId,
    ) -> Result<Option<Incident>, StoreError>;
    /// The open incidents of an IAM user's keys, once containment or triage learnt the owner.
    async fn open_incidents_of_user(
        &self,
        account: &AccountId,
        user: &str,
    ) -> Result<Vec<Incident>, StoreError>;
    /// The most recently opened `limit` open incidents, newest first.
    async fn open_incidents(&self, limit: u32) -> Result<Vec<Incident>, StoreError>;
    async fn count_open(&self) -> Result<i64, StoreError>;
    /// Open incidents by state (states with none left out).
    async fn open_by_state(&self) -> Result<Vec<(IncidentState, i64)>, StoreError>;

    async fn set_facts(&self, id: &IncidentId, facts: &IncidentFacts) -> Result<(), StoreError>;
    async fn set_slack_message(
        &self,
        id: &IncidentId,
        channel: &str,
        ts: &str,
    ) -> Result<(), StoreError>;
    /// Records the incident's room as soon as Slack made it, before its card is posted, so
    /// that an announcement tried again uses it instead of making another.
    async fn set_room(&self, id: &IncidentId, channel: &str) -> Result<(), StoreError>;
    async fn set_state(
        &self,
        id: &IncidentId,
        state: IncidentState,
        contained_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;
    /// Records why a signal's containment stops before any change, and puts the incident
    /// back in triage (with its audit row); or, with `None`, clears a pending hold.
    async fn set_hold(
        &self,
        id: &IncidentId,
        hold: Option<&Hold>,
        audit: Option<AuditEntry>,
    ) -> Result<(), StoreError>;

    /// Closes an open incident with its audit row and the job that says so, in one
    /// transaction; false when it was closed already (nothing is written).
    async fn close_incident(
        &self,
        id: &IncidentId,
        audit: AuditEntry,
        job: NewJob,
    ) -> Result<bool, StoreError>;
}

/// The record of a containment: the user as it was before, and each step's outcome.
#[async_trait]
pub trait Steps: Send + Sync {
    /// Keeps the first snapshot only: it is the pre-incident state, which a retry must not
    /// overwrite.
    async fn save_snapshot(
        &self,
        id: &IncidentId,
        snapshot: &UserSnapshot,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn snapshot(&self, id: &IncidentId) -> Result<Option<UserSnapshot>, StoreError>;

    /// Records a step's outcome and its audit row together. Recording a step that is already
    /// done is refused (returns false) so a step's effect is recorded once.
    async fn record_step(
        &self,
        id: &IncidentId,
        step: &StepRecord,
        audit: AuditEntry,
    ) -> Result<bool, StoreError>;
    async fn set_step_reply(
        &self,
        id: &IncidentId,
        kind: StepKind,
        ts: &str,
    ) -> Result<(), StoreError>;
    /// Records that the thread has a reply for the incident's first `said` signals.
    async fn set_signals_said(&self, id: &IncidentId, said: usize) -> Result<(), StoreError>;
    /// Records what the key could do; the first assessment stays, as the snapshot does.
    async fn save_reach(&self, id: &IncidentId, reach: &Reach) -> Result<(), StoreError>;
    /// Records the thread reply that lists the reach.
    async fn set_reach_ts(&self, id: &IncidentId, ts: &str) -> Result<(), StoreError>;
    /// The incident's steps, in the playbook's order.
    async fn steps(&self, id: &IncidentId) -> Result<Vec<StepRecord>, StoreError>;
}

/// The Slack files of an incident's latest report.
#[async_trait]
pub trait Reports: Send + Sync {
    /// The file ids of the incident's latest report, to be replaced by the next.
    async fn report_files(&self, id: &IncidentId) -> Result<Vec<String>, StoreError>;
    async fn set_report_files(
        &self,
        id: &IncidentId,
        files: &[String],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}
