//! What the post-incident report is written from: stored state only.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::domain::approval::Proposal;
use crate::domain::audit::AuditEntry;
use crate::domain::incident::{Incident, StepRecord, UserSnapshot};
use crate::domain::trail::TrailEvent;
use crate::domain::trail::findings::Findings;

/// Everything the report says, read from the store, and the permalinks of the bot's messages
/// by their `ts`.
pub struct ReportInput<'a> {
    pub incident: &'a Incident,
    pub steps: &'a [StepRecord],
    pub proposals: &'a [Proposal],
    /// What was kept before each deletion.
    pub evidence: &'a [super::evidence::Evidence],
    pub findings: Option<&'a Findings>,
    pub events: &'a [TrailEvent],
    pub audit: &'a [AuditEntry],
    pub snapshot: Option<&'a UserSnapshot>,
    pub links: &'a HashMap<String, String>,
    pub now: DateTime<Utc>,
}
