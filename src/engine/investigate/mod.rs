//! Forensics (docs/design.md §3, investigate): every region's CloudTrail for the leaked key and,
//! breadth first, for every temporary key it or its offspring minted; the roles those came
//! from are fenced; what the attacker created becomes cleanup proposals. Lookups are
//! read-only, so a job taken over after a crash simply looks again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use tracing::{info, warn};

mod conclude;
mod gather;
mod offline;

use conclude::{conclude, share_timeline};
use gather::{Archive, Sources, gather};
pub use offline::investigate_copy;

use super::Engine;
use super::JobRequest;
use super::jobs::tell;
use crate::archive::layout::ArchiveLocation;
use crate::aws::{ArchiveQuery, RegionLog, TrailQuery};
use crate::domain::answer::{Cause, InvestigateRefusal, Notice, ProgressCounts};
use crate::domain::approval::MessageRef;
use crate::domain::audit::AuditAction;
use crate::domain::command::HISTORY_DAYS;
use crate::domain::ids::{AccessKeyId, AccountId, IncidentId, SlackUserId};
use crate::domain::incident::{Actor, Incident, IncidentState};
use crate::domain::job::InvestigateRequest;
use crate::domain::policy;
use crate::domain::trail::TrailEvent;
use crate::domain::trail::findings::{
    ArchiveScanned, FenceOutcome, Findings, KeySearched, LookupFailure, RoleFence, Scope,
};
use crate::domain::trail::footprint::footprint;
use crate::domain::trail::guardduty::GuardDutyReport;
use crate::domain::trail::inventory::{cleanup_targets, created};
use crate::domain::trail::pivot::{
    AssumedRole, Frontier, MAX_KEYS, Minted, Pushed, RoleKind, assumed_roles, minted,
};
use crate::domain::trail::summary::summarize;
use crate::domain::trail::timeline;
use crate::domain::verbs::{Verb, allowed};
use crate::notify::{Attachment, ThreadRef};
use crate::store::{AuditEntry, ClaimedJob, StoreError, Work};

/// How long an investigation that follows containment waits for the incident's thread
/// before it says its progress nowhere but the store: about one Slack call's time limit.
const THREAD_WAIT: StdDuration = StdDuration::from_secs(25);

/// Where forensics looks and how far back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForensicsSettings {
    /// `KEYLEAK_REGIONS`; otherwise the account's enabled regions.
    pub regions: Option<Vec<String>>,
    /// LookupEvents keeps 90 days.
    pub default_days: u32,
    /// `KEYLEAK_CLOUDTRAIL_ARCHIVE`: scanned beside LookupEvents, for older history and data
    /// events; the two are merged by `eventID`.
    pub archive: Option<ArchiveLocation>,
}

impl Default for ForensicsSettings {
    fn default() -> Self {
        Self {
            regions: None,
            default_days: 90,
            archive: None,
        }
    }
}

/// How often the progress message is redrawn (chat.update allows about one a second).
const PROGRESS_EVERY: StdDuration = StdDuration::from_secs(2);
/// Reasons kept for unreadable records; the count is always complete.
const MAX_REASONS: usize = 5;

/// Counters the progress message shows.
#[derive(Debug, Default)]
pub struct Progress {
    pub keys: AtomicUsize,
    pub lookups: AtomicUsize,
    pub lookups_done: AtomicUsize,
    pub events: AtomicUsize,
}

impl Progress {
    pub fn counts(&self) -> ProgressCounts {
        ProgressCounts {
            keys: self.keys.load(Ordering::Relaxed),
            lookups: self.lookups.load(Ordering::Relaxed),
            lookups_done: self.lookups_done.load(Ordering::Relaxed),
            events: self.events.load(Ordering::Relaxed),
        }
    }
}

impl Engine {
    pub fn with_forensics(mut self, forensics: ForensicsSettings) -> Self {
        self.forensics = forensics;
        self
    }

    /// The regions CloudTrail is searched in: `KEYLEAK_REGIONS`, else the account's enabled ones.
    pub(super) async fn search_regions(
        &self,
        account: &AccountId,
    ) -> Result<Vec<String>, crate::aws::AwsError> {
        match &self.forensics.regions {
            Some(r) => Ok(r.clone()),
            None => self.aws.regions(account).await,
        }
    }

    /// Queues forensics for an incident; AWS is not called here.
    pub async fn submit_investigation(
        &self,
        incident: &IncidentId,
        days: Option<u32>,
        by: &Actor,
        origin: String,
        response_url: Option<String>,
    ) -> Result<Result<Incident, InvestigateRefusal>, StoreError> {
        if let Some(days) = days.filter(|d| *d > HISTORY_DAYS)
            && self.forensics.archive.is_none()
        {
            return Ok(Err(InvestigateRefusal::BeyondHistory { days }));
        }
        let Some(inc) = self.find_incident(incident).await? else {
            return Ok(Err(InvestigateRefusal::NoSuchIncident(incident.clone())));
        };
        if let Err(d) = allowed(Verb::Investigate, inc.state, inc.key.kind()) {
            return Ok(Err(InvestigateRefusal::NotNow(inc.id, d)));
        }
        self.queue_investigation(&inc.id, days, by, origin, response_url)
            .await?;
        Ok(Ok(inc))
    }

    pub(super) async fn queue_investigation(
        &self,
        incident: &IncidentId,
        days: Option<u32>,
        by: &Actor,
        origin: String,
        response_url: Option<String>,
    ) -> Result<(), StoreError> {
        let request = InvestigateRequest {
            days: days.unwrap_or(self.forensics.default_days),
            requested_by: by.slack_user().map(ToString::to_string),
            origin: origin.clone(),
        };
        let job = JobRequest {
            work: Work::Investigate(request),
            incident,
            actor: by.clone(),
            action: AuditAction::InvestigationRequested,
            origin,
            response_url,
        };
        self.queue_job(job).await
    }
}

pub async fn run_investigate(
    engine: &Engine,
    job: &ClaimedJob,
    request: &InvestigateRequest,
    lease: Duration,
) -> anyhow::Result<()> {
    let incident = engine.store.incident(&job.incident_id).await?;
    let account = match &incident.account {
        Some(a) => a.clone(),
        None => match engine.aws.locate_key(&incident.key).await {
            Ok(l) => l.account,
            Err(e) => {
                let notice = Notice::InvestigationFailed {
                    incident: incident.clone(),
                    cause: Cause::Aws(e.to_string()),
                };
                tell(engine, job, notice).await;
                return Ok(());
            }
        },
    };
    let until = engine.clock.now();
    let since = until - Duration::days(i64::from(request.days));
    let progress = Arc::new(Progress::default());
    let posted = engine.store.investigation_message(job.id).await?;
    // Slack paces posts to a channel: the progress message is posted beside the lookups,
    // never in front of them, in the thread containment's announcement opens.
    let posting = async {
        match posted {
            Some(m) => Some(m),
            None => {
                let thread = engine.thread_when_announced(&incident, THREAD_WAIT).await;
                post_progress(engine, job, &incident, thread.as_ref(), &progress).await
            }
        }
    };
    let regions = match engine.search_regions(&account).await {
        Ok(r) => r,
        Err(e) => {
            let notice = Notice::InvestigationFailed {
                incident: incident.clone(),
                cause: Cause::Aws(e.to_string()),
            };
            show(engine, posting.await.as_ref(), &notice).await;
            tell(engine, job, notice).await;
            return Ok(());
        }
    };
    let window = Window {
        root: incident.key.clone(),
        account: Some(account.clone()),
        regions,
        since,
        until,
    };
    let sources = Sources {
        trail: Some(engine.aws.as_ref()),
        archive: engine
            .forensics
            .archive
            .as_ref()
            .map(|at| Archive::S3(engine.aws.as_ref(), at)),
    };
    let (gathered, message) = with_progress(
        engine,
        job,
        lease,
        &incident,
        posting,
        &progress,
        gather(&sources, &window, &progress),
    )
    .await?;
    let findings = conclude(engine, &incident, &account, &window, request, gathered).await?;
    engine
        .store
        .save_findings(&incident.id, job.id, &findings.0, &findings.1)
        .await?;
    info!(
        events = findings.0.summary.events,
        keys = findings.0.searched.len(),
        complete = findings.0.complete(),
        "investigation finished"
    );
    let summary = Notice::InvestigationSummary {
        about: incident.id.to_string(),
        findings: Box::new(findings.0.clone()),
    };
    show(engine, message.as_ref(), &summary).await;
    if message.is_none() {
        tell(engine, job, summary).await;
    }
    let now = engine.find_incident(&incident.id).await?;
    if let Some(thread) = now.as_ref().and_then(super::thread_of) {
        share_timeline(engine, &incident, &thread, &findings.1).await;
    }
    Ok(())
}

/// The question, fixed for the whole run.
struct Window {
    root: AccessKeyId,
    /// The leaked key's account; offline, what its calls say.
    account: Option<AccountId>,
    regions: Vec<String>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
}

/// What the lookups returned, before anything is concluded from it.
#[derive(Default)]
struct Gathered {
    events: Vec<TrailEvent>,
    searched: Vec<KeySearched>,
    minted: Vec<Minted>,
    failures: Vec<LookupFailure>,
    skipped: Vec<String>,
    /// Unreadable records and files beyond the reasons kept in `skipped`.
    skipped_more: usize,
    pages: usize,
    throttled: usize,
    capped: bool,
    archive: Option<ArchiveScanned>,
    /// The parts of the archive read so far (see `gather::Place`).
    archive_read: std::collections::HashSet<String>,
}

impl Gathered {
    /// The findings of what was read, before anything is done about it.
    fn findings(self, w: &Window, finished_at: DateTime<Utc>) -> (Findings, Vec<TrailEvent>) {
        if self.capped {
            warn!(max = MAX_KEYS, "stopped following minted keys at the limit");
        }
        let mut skipped_reasons = self.skipped.clone();
        skipped_reasons.truncate(MAX_REASONS);
        let findings = Findings {
            key: w.root.to_string(),
            since: w.since,
            until: w.until,
            finished_at,
            regions: w.regions.clone(),
            searched: self.searched,
            summary: summarize(&self.events),
            minted: self.minted,
            roles: vec![],
            created: self.events.iter().flat_map(created).collect(),
            proposed: vec![],
            manual: 0,
            failures: self.failures,
            skipped: self.skipped.len() + self.skipped_more,
            skipped_reasons,
            archive: self.archive,
            pages: self.pages,
            throttled: self.throttled,
            quarantine: vec![],
            guardduty: Default::default(),
            quarantined: vec![],
            scope: Scope::Aws,
            footprint: footprint(&self.events),
        };
        (findings, self.events)
    }
}

/// Runs `work` while the progress message is posted, then redrawn, and the job's lease is
/// kept. Returns the work's outcome and the message, once posted.
async fn with_progress<T>(
    engine: &Engine,
    job: &ClaimedJob,
    lease: Duration,
    incident: &Incident,
    posting: impl std::future::Future<Output = Option<MessageRef>>,
    progress: &Progress,
    work: impl std::future::Future<Output = T>,
) -> anyhow::Result<(T, Option<MessageRef>)> {
    tokio::pin!(work);
    tokio::pin!(posting);
    let keep = super::jobs::keep_lease(engine, job.id, lease);
    tokio::pin!(keep);
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    tick.tick().await;
    let mut shown = (0, 0);
    let mut message: Option<Option<MessageRef>> = None;
    loop {
        tokio::select! {
            out = &mut work => {
                let message = match message {
                    Some(m) => m,
                    None => posting.await,
                };
                return Ok((out, message));
            }
            m = &mut posting, if message.is_none() => message = Some(m),
            e = &mut keep => anyhow::bail!("the job's lease could not be kept: {e}"),
            _ = tick.tick() => {
                let now = (progress.lookups_done.load(Ordering::Relaxed), progress.events.load(Ordering::Relaxed));
                if let Some(m) = message.as_ref().and_then(Option::as_ref)
                    && now != shown
                {
                    shown = now;
                    let notice = Notice::InvestigationProgress {
                        incident: incident.clone(),
                        progress: progress.counts(),
                    };
                    show(engine, Some(m), &notice).await;
                }
            }
        }
    }
}

async fn post_progress(
    engine: &Engine,
    job: &ClaimedJob,
    incident: &Incident,
    thread: Option<&ThreadRef>,
    progress: &Progress,
) -> Option<MessageRef> {
    let thread = thread?;
    let notice = Notice::InvestigationProgress {
        incident: incident.clone(),
        progress: progress.counts(),
    };
    match engine.notifier.post_in_thread(thread, &notice).await {
        Ok(m) => {
            if let Err(e) = engine
                .store
                .set_investigation_message(&incident.id, job.id, &m)
                .await
            {
                warn!(error = %e, "could not record the investigation message");
            }
            Some(m)
        }
        Err(e) => {
            warn!(error = %e, "could not post the investigation message");
            None
        }
    }
}

/// Redraws the investigation message; the store, not the message, is the record.
async fn show(engine: &Engine, message: Option<&MessageRef>, notice: &Notice) {
    if let Some(m) = message
        && let Err(e) = engine.notifier.edit(m, notice).await
    {
        warn!(error = %e, "could not update the investigation message");
    }
}
