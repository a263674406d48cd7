//! Forensics (DESIGN.md §3, investigate): every region's CloudTrail for the leaked key and,
//! breadth first, for every temporary key it or its offspring minted; the roles those came
//! from are fenced; what the attacker created becomes cleanup proposals. Lookups are
//! read-only, so a job taken over after a crash simply looks again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration as StdDuration;

use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::Engine;
use super::cleanup::tell;
use crate::aws::{RegionLog, TrailQuery};
use crate::domain::approval::MessageRef;
use crate::domain::ids::{AccessKeyId, AccountId, IncidentId, SlackUserId};
use crate::domain::incident::{Actor, Incident};
use crate::domain::policy;
use crate::domain::trail::TrailEvent;
use crate::domain::trail::findings::{
    FenceOutcome, Findings, KeySearched, LookupFailure, RoleFence,
};
use crate::domain::trail::guardduty::GuardDutyReport;
use crate::domain::trail::inventory::{cleanup_targets, created};
use crate::domain::trail::pivot::{AssumedRole, Frontier, Minted, RoleKind, assumed_roles, minted};
use crate::domain::trail::summary::summarize;
use crate::domain::trail::timeline;
use crate::notify::{Attachment, ThreadRef};
use crate::slack::messages;
use crate::store::{AuditEntry, ClaimedJob, JobKind, NewJob, StoreError};

/// Where forensics looks and how far back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForensicsSettings {
    /// `KEYLEAK_REGIONS`; otherwise the account's enabled regions.
    pub regions: Option<Vec<String>>,
    /// LookupEvents keeps 90 days.
    pub default_days: u32,
}

impl Default for ForensicsSettings {
    fn default() -> Self {
        Self {
            regions: None,
            default_days: 90,
        }
    }
}

/// The most keys one investigation follows: a bound on a runaway chain of sessions.
const MAX_KEYS: usize = 100;
/// How often the progress message is redrawn (chat.update allows about one a second).
const PROGRESS_EVERY: StdDuration = StdDuration::from_secs(2);
/// Reasons kept for unreadable records; the count is always complete.
const MAX_REASONS: usize = 5;

#[derive(Debug, Serialize, Deserialize)]
struct InvestigateRequest {
    days: u32,
    requested_by: Option<String>,
    origin: String,
}

/// Why an investigation was not queued. Rendered in `slack::messages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvestigateRefusal {
    NoSuchIncident(IncidentId),
}

/// Counters the progress message shows.
#[derive(Debug, Default)]
pub struct Progress {
    pub keys: AtomicUsize,
    pub lookups: AtomicUsize,
    pub lookups_done: AtomicUsize,
    pub events: AtomicUsize,
}

impl Engine {
    pub fn with_forensics(mut self, forensics: ForensicsSettings) -> Self {
        self.forensics = forensics;
        self
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
        let inc = match self.store.incident(incident).await {
            Ok(i) => i,
            Err(StoreError::NoSuchIncident(id)) => {
                return Ok(Err(InvestigateRefusal::NoSuchIncident(id)));
            }
            Err(e) => return Err(e),
        };
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
            requested_by: match by {
                Actor::Slack(u) => Some(u.to_string()),
                Actor::Cli(_) => None,
            },
            origin: origin.clone(),
        };
        let payload =
            serde_json::to_string(&request).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let audit = AuditEntry {
            at: self.clock.now(),
            actor: by.to_stored(),
            action: "investigation.requested".into(),
            incident_id: Some(incident.clone()),
            detail: payload.clone(),
            origin,
        };
        let job = NewJob {
            kind: JobKind::Investigate,
            incident: incident.clone(),
            payload,
            response_url,
        };
        self.store.enqueue_job(job, audit).await?;
        self.wake.notify_one();
        Ok(())
    }
}

pub async fn run_investigate(
    engine: &Engine,
    job: &ClaimedJob,
    lease: Duration,
) -> anyhow::Result<()> {
    let request: InvestigateRequest = serde_json::from_str(job.payload.as_deref().unwrap_or(""))
        .context("reading the investigation request")?;
    let incident = engine.store.incident(&job.incident_id).await?;
    let account = match &incident.account {
        Some(a) => a.clone(),
        None => match engine.aws.locate_key(&incident.key).await {
            Ok(l) => l.account,
            Err(e) => {
                let reply = messages::investigation_failed(&incident, &e.to_string());
                tell(engine, job, reply).await;
                return Ok(());
            }
        },
    };
    let until = engine.clock.now();
    let since = until - Duration::days(i64::from(request.days));
    let thread = thread_of(&incident);
    let progress = Arc::new(Progress::default());
    let message = match engine.store.investigation_message(job.id).await? {
        Some(m) => Some(m),
        None => post_progress(engine, job, &incident, thread.as_ref(), &progress).await,
    };
    let regions = match &engine.forensics.regions {
        Some(r) => r.clone(),
        None => match engine.aws.regions(&account).await {
            Ok(r) => r,
            Err(e) => {
                let reply = messages::investigation_failed(&incident, &e.to_string());
                show(engine, message.as_ref(), reply.clone()).await;
                tell(engine, job, reply).await;
                return Ok(());
            }
        },
    };
    let window = Window {
        root: incident.key.clone(),
        account: account.clone(),
        regions,
        since,
        until,
    };
    let gathered = with_progress(
        engine,
        job,
        lease,
        &incident,
        message.as_ref(),
        &progress,
        gather(engine, &window, &progress),
    )
    .await?;
    let findings = conclude(engine, &incident, &window, &request, gathered).await?;
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
    let reply = messages::investigation_summary(&incident, &findings.0);
    show(engine, message.as_ref(), reply.clone()).await;
    if message.is_none() {
        tell(engine, job, reply).await;
    }
    if let Some(thread) = &thread {
        share_timeline(engine, &incident, thread, &findings.1).await;
    }
    Ok(())
}

/// The full timeline as CSV and JSON files in the thread. The events are stored either way,
/// so a failed upload is logged and the investigation stands.
async fn share_timeline(
    engine: &Engine,
    incident: &Incident,
    thread: &ThreadRef,
    events: &[TrailEvent],
) {
    if events.is_empty() {
        return;
    }
    let files = match timeline_files(incident, events) {
        Ok(f) => f,
        Err(e) => {
            warn!(error = %e, "could not write the timeline files");
            return;
        }
    };
    let comment = messages::timeline_comment(incident, events.len());
    if let Err(e) = engine.notifier.upload(thread, &files, comment).await {
        warn!(error = %e, "could not share the timeline files");
    }
}

fn timeline_files(incident: &Incident, events: &[TrailEvent]) -> anyhow::Result<Vec<Attachment>> {
    let name = format!("{}-timeline", incident.id);
    Ok(vec![
        Attachment {
            filename: format!("{name}.csv"),
            title: format!("{} timeline (CSV)", incident.id),
            content_type: "text/csv",
            bytes: timeline::to_csv(events)?,
        },
        Attachment {
            filename: format!("{name}.json"),
            title: format!("{} timeline (JSON)", incident.id),
            content_type: "application/json",
            bytes: timeline::to_json(incident.id.as_str(), incident.key.as_str(), events)?,
        },
    ])
}

/// The question, fixed for the whole run.
struct Window {
    root: AccessKeyId,
    account: AccountId,
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
    pages: usize,
    throttled: usize,
    capped: bool,
}

/// Runs `work` while redrawing the progress message and keeping the job's lease.
async fn with_progress<T>(
    engine: &Engine,
    job: &ClaimedJob,
    lease: Duration,
    incident: &Incident,
    message: Option<&MessageRef>,
    progress: &Progress,
    work: impl std::future::Future<Output = T>,
) -> anyhow::Result<T> {
    tokio::pin!(work);
    let keep = super::cleanup::keep_lease(engine, job.id, lease);
    tokio::pin!(keep);
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    tick.tick().await;
    let mut shown = (0, 0);
    loop {
        tokio::select! {
            out = &mut work => return Ok(out),
            e = &mut keep => anyhow::bail!("the job's lease could not be kept: {e}"),
            _ = tick.tick() => {
                let now = (progress.lookups_done.load(Ordering::Relaxed), progress.events.load(Ordering::Relaxed));
                if now != shown {
                    shown = now;
                    show(engine, message, messages::investigation_progress(incident, progress)).await;
                }
            }
        }
    }
}

/// Breadth first from the leaked key: each round looks up every queued key in every region
/// at once (the pacer holds each region to its budget), then queues the keys they minted.
async fn gather(engine: &Engine, w: &Window, progress: &Progress) -> Gathered {
    let mut out = Gathered::default();
    let mut frontier = Frontier::new(w.root.clone(), Some(w.account.clone()));
    let mut seen_events = std::collections::HashSet::new();
    loop {
        let mut round = vec![];
        while let Some((key, account)) = frontier.pop() {
            round.push((key, account.unwrap_or_else(|| w.account.clone())));
        }
        if round.is_empty() {
            return out;
        }
        progress.keys.fetch_add(round.len(), Ordering::Relaxed);
        progress
            .lookups
            .fetch_add(round.len() * w.regions.len(), Ordering::Relaxed);
        let lookups = round.iter().flat_map(|(key, account)| {
            w.regions.iter().map(move |region| {
                let q = TrailQuery {
                    account: account.clone(),
                    region: region.clone(),
                    key: key.clone(),
                    since: w.since,
                    until: w.until,
                };
                lookup_one(engine, q, progress)
            })
        });
        let results = futures_util::future::join_all(lookups).await;
        for (key, account) in &round {
            let mine = results
                .iter()
                .filter(|(q, _)| &q.key == key && &q.account == account);
            let mut count = 0;
            let mut errors = vec![];
            for (q, r) in mine {
                match r {
                    Ok(log) => {
                        count += log.events.len();
                        out.pages += log.pages;
                        out.throttled += log.throttled;
                        out.skipped.extend(log.skipped.iter().cloned());
                        for e in &log.events {
                            if seen_events.insert(e.event_id.clone()) {
                                out.events.push(e.clone());
                            }
                        }
                    }
                    Err(e) => errors.push((q.region.clone(), e.to_string())),
                }
            }
            out.failures
                .extend(fold_failures(key, account, errors, w.regions.len()));
            out.searched.push(KeySearched {
                key: key.to_string(),
                account: account.to_string(),
                events: count,
            });
        }
        out.events.sort_by(|a, b| {
            a.time
                .cmp(&b.time)
                .then_with(|| a.event_id.cmp(&b.event_id))
        });
        for m in out.events.iter().filter_map(minted) {
            if out.minted.iter().any(|x| x.key == m.key) {
                continue;
            }
            if frontier.seen() >= MAX_KEYS {
                out.capped = true;
            } else {
                frontier.push(m.key.clone(), m.account.clone());
            }
            out.minted.push(m);
        }
    }
}

async fn lookup_one(
    engine: &Engine,
    q: TrailQuery,
    progress: &Progress,
) -> (TrailQuery, Result<RegionLog, crate::aws::AwsError>) {
    let seen = AtomicUsize::new(0);
    let count = |n: usize| {
        let before = seen.swap(n, Ordering::Relaxed);
        progress
            .events
            .fetch_add(n.saturating_sub(before), Ordering::Relaxed);
    };
    let r = engine.aws.lookup_events(&q, &count).await;
    progress.lookups_done.fetch_add(1, Ordering::Relaxed);
    (q, r)
}

/// One line when every region failed alike (no route to the account, say), else one per region.
fn fold_failures(
    key: &AccessKeyId,
    account: &AccountId,
    errors: Vec<(String, String)>,
    regions: usize,
) -> Vec<LookupFailure> {
    let failure = |region: String, error: String| LookupFailure {
        key: key.to_string(),
        account: account.to_string(),
        region,
        error,
    };
    let alike = errors.windows(2).all(|w| w[0].1 == w[1].1);
    if regions > 1 && errors.len() == regions && alike {
        let error = errors.into_iter().next().map(|e| e.1).unwrap_or_default();
        return vec![failure("every region".into(), error)];
    }
    errors.into_iter().map(|(r, e)| failure(r, e)).collect()
}

/// Fences the roles, queues cleanup proposals and assembles the findings.
async fn conclude(
    engine: &Engine,
    incident: &Incident,
    w: &Window,
    request: &InvestigateRequest,
    g: Gathered,
) -> Result<(Findings, Vec<TrailEvent>), StoreError> {
    let roles = assumed_roles(&g.minted);
    let mut fences = vec![];
    for role in roles {
        let outcome = fence_role(engine, incident, &role).await;
        fences.push(RoleFence { role, outcome });
    }
    let created: Vec<_> = g.events.iter().flat_map(created).collect();
    let (targets, manual) = cleanup_targets(&created, w.account.as_str());
    let manual = manual.len();
    let requester = request
        .requested_by
        .as_deref()
        .and_then(|u| SlackUserId::parse(u).ok());
    // A target proposed by an earlier investigation of the incident is not proposed again;
    // the findings list every target proposed so far.
    let mut proposed = engine
        .store
        .findings(&incident.id)
        .await?
        .map(|f| f.proposed)
        .unwrap_or_default();
    if let Some(by) = &requester {
        for t in targets {
            if proposed.contains(&t) {
                continue;
            }
            engine
                .queue_proposal(&incident.id, t.clone(), by, "forensics".into(), None)
                .await?;
            proposed.push(t);
        }
    }
    let guardduty = guardduty(engine, w, &g.searched).await;
    let quarantine = engine
        .store
        .snapshot(&incident.id)
        .await?
        .map(|s| s.quarantine_policies())
        .unwrap_or_default();
    let mut skipped_reasons = g.skipped.clone();
    skipped_reasons.truncate(MAX_REASONS);
    if g.capped {
        warn!(max = MAX_KEYS, "stopped following minted keys at the limit");
    }
    let findings = Findings {
        key: w.root.to_string(),
        since: w.since,
        until: w.until,
        finished_at: engine.clock.now(),
        regions: w.regions.clone(),
        searched: g.searched,
        summary: summarize(&g.events),
        minted: g.minted,
        roles: fences,
        created,
        proposed,
        manual,
        failures: g.failures,
        skipped: g.skipped.len(),
        skipped_reasons,
        pages: g.pages,
        throttled: g.throttled,
        quarantine,
        guardduty,
    };
    Ok((findings, g.events))
}

/// GuardDuty in every region of every account a followed key belongs to, all at once.
async fn guardduty(engine: &Engine, w: &Window, searched: &[KeySearched]) -> GuardDutyReport {
    let mut by_account: BTreeMap<AccountId, Vec<AccessKeyId>> = BTreeMap::new();
    for s in searched {
        if let (Ok(account), Ok(key)) = (AccountId::parse(&s.account), AccessKeyId::parse(&s.key)) {
            by_account.entry(account).or_default().push(key);
        }
    }
    let asks = by_account.iter().flat_map(|(account, keys)| {
        w.regions.iter().map(move |region| async move {
            let r = engine.aws.guardduty_findings(account, region, keys).await;
            (format!("{account}/{region}"), r)
        })
    });
    let mut report = GuardDutyReport::default();
    for (place, r) in futures_util::future::join_all(asks).await {
        match r {
            Ok(Some(found)) => report.findings.extend(found),
            Ok(None) => report.without_detector.push(place),
            Err(e) => report.failures.push((place, e.to_string())),
        }
    }
    report.findings.sort_by(|a, b| {
        b.severity
            .total_cmp(&a.severity)
            .then_with(|| a.id.cmp(&b.id))
    });
    report.findings.dedup_by(|a, b| a.id == b.id);
    report
}

/// The console's "Revoke active sessions", written by the bot: sessions of the role issued
/// before now are denied. Service-linked and Identity Center roles cannot take it.
async fn fence_role(engine: &Engine, incident: &Incident, role: &AssumedRole) -> FenceOutcome {
    if role.kind != RoleKind::Ordinary {
        audit_role(engine, incident, role, "role.fence_manual", "").await;
        return FenceOutcome::Manual { kind: role.kind };
    }
    let Some(account) = &role.account else {
        return FenceOutcome::Failed {
            error: "the role's ARN names no account".into(),
        };
    };
    let fence = policy::session_fence(&incident.id, engine.clock.now());
    match engine.aws.put_role_fence(account, &role.name, &fence).await {
        Ok(c) => {
            let rid = c.request_id.clone().unwrap_or_default();
            audit_role(engine, incident, role, "role.fenced", &rid).await;
            FenceOutcome::Fenced {
                policy_name: fence.name,
                request_id: c.request_id,
            }
        }
        Err(e) => {
            audit_role(engine, incident, role, "role.fence_failed", &e.to_string()).await;
            FenceOutcome::Failed {
                error: e.to_string(),
            }
        }
    }
}

async fn audit_role(
    engine: &Engine,
    incident: &Incident,
    role: &AssumedRole,
    action: &str,
    extra: &str,
) {
    let entry = AuditEntry {
        at: engine.clock.now(),
        actor: "keyleak".into(),
        action: action.into(),
        incident_id: Some(incident.id.clone()),
        detail: format!("{} {extra}", role.arn).trim_end().to_string(),
        origin: "forensics".into(),
    };
    if let Err(e) = engine.store.audit(entry).await {
        warn!(error = %e, "could not audit a role fence");
    }
}

fn thread_of(incident: &Incident) -> Option<ThreadRef> {
    incident
        .slack_channel
        .clone()
        .zip(incident.slack_ts.clone())
        .map(|(channel, ts)| ThreadRef { channel, ts })
}

async fn post_progress(
    engine: &Engine,
    job: &ClaimedJob,
    incident: &Incident,
    thread: Option<&ThreadRef>,
    progress: &Progress,
) -> Option<MessageRef> {
    let thread = thread?;
    let reply = messages::investigation_progress(incident, progress);
    match engine.notifier.post_in_thread(thread, reply).await {
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
async fn show(engine: &Engine, message: Option<&MessageRef>, reply: messages::Reply) {
    if let Some(m) = message
        && let Err(e) = engine.notifier.edit(m, reply).await
    {
        warn!(error = %e, "could not update the investigation message");
    }
}
