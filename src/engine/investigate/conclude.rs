//! Concluding: roles fenced, GuardDuty asked, cleanup proposed, the findings assembled and
//! the timeline shared.

use std::collections::HashSet;

use super::*;
use crate::aws::TrailAttribute;
use crate::domain::audit::AuditAction;
use crate::domain::trail::findings::{QuarantineAttached, quarantine_attached};
use crate::domain::trail::{GLOBAL_EVENTS_REGION, Provenance};

/// Fences the roles, queues cleanup proposals and completes the findings.
pub(super) async fn conclude(
    engine: &Engine,
    incident: &Incident,
    account: &AccountId,
    w: &Window,
    request: &InvestigateRequest,
    g: Gathered,
) -> Result<(Findings, Vec<TrailEvent>), StoreError> {
    let (mut findings, events) = g.findings(w, engine.clock.now());
    let unverified = unverified_events(&events);
    // Triage changes nothing: no fence, no proposal, until someone contains the key.
    let triage = incident.state == IncidentState::Triage;
    for role in assumed_roles(&findings.minted) {
        let outcome = if triage {
            FenceOutcome::Deferred
        } else if unconfirmed(&role, &findings.minted, &unverified) {
            audit_role(
                engine,
                incident,
                &role,
                AuditAction::RoleFenceArchiveOnly,
                "",
            )
            .await;
            FenceOutcome::ArchiveOnly
        } else {
            fence_role(engine, incident, &role).await
        };
        findings.roles.push(RoleFence { role, outcome });
    }
    let (targets, manual) = cleanup_targets(&findings.created, account.as_str());
    findings.manual = manual.len();
    let requester = request
        .requested_by
        .as_deref()
        .and_then(|u| SlackUserId::parse(u).ok());
    // A target proposed by an earlier investigation of the incident is not proposed again;
    // the findings list every target proposed so far.
    findings.proposed = engine
        .store
        .findings(&incident.id)
        .await?
        .map(|f| f.proposed)
        .unwrap_or_default();
    if let Some(by) = requester.as_ref().filter(|_| !triage) {
        for t in targets {
            if findings.proposed.contains(&t) {
                continue;
            }
            engine
                .queue_proposal(&incident.id, t.clone(), by, "forensics".into(), None)
                .await?;
            findings.proposed.push(t);
        }
    }
    (findings.guardduty, findings.quarantined) = tokio::join!(
        guardduty(engine, w, &findings.searched),
        quarantined(engine, incident, account, w)
    );
    findings.quarantine = engine
        .store
        .snapshot(&incident.id)
        .await?
        .map(|s| s.quarantine_policies())
        .unwrap_or_default();
    Ok((findings, events))
}

/// When AWS quarantined the user: its `AttachUserPolicy` is an IAM event, logged in
/// us-east-1 and made by AWS, not by the key, so the key's own lookups never see it. A
/// failed lookup leaves the answer to the snapshot, which says whether but not when.
async fn quarantined(
    engine: &Engine,
    incident: &Incident,
    account: &AccountId,
    w: &Window,
) -> Vec<QuarantineAttached> {
    let Some(user) = &incident.user_name else {
        return vec![];
    };
    let since = w
        .since
        .max(w.until - Duration::days(i64::from(HISTORY_DAYS)));
    let attach = TrailAttribute::EventName("AttachUserPolicy");
    match engine
        .aws
        .events_with(account, GLOBAL_EVENTS_REGION, attach, since, w.until)
        .await
    {
        Ok(log) => quarantine_attached(user, &log.events),
        Err(e) => {
            warn!(error = %e, "could not look up when AWS quarantined the user");
            vec![]
        }
    }
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

/// Whether every session of the role was minted by an event that only an archive file no
/// signed digest vouches for shows: evidence a person weighs before anything is written on it.
fn unconfirmed(role: &AssumedRole, minted: &[Minted], unverified: &HashSet<&str>) -> bool {
    minted
        .iter()
        .filter(|m| m.role_arn.as_deref() == Some(role.arn.as_str()))
        .all(|m| unverified.contains(m.event_id.as_str()))
}

/// The ids of the events only an archive file no signed digest vouches for shows.
fn unverified_events(events: &[TrailEvent]) -> HashSet<&str> {
    events
        .iter()
        .filter(|e| e.provenance == Provenance::ArchiveUnverified)
        .map(|e| e.event_id.as_str())
        .collect()
}

/// The console's "Revoke active sessions", written by the bot: sessions of the role issued
/// before now are denied. Service-linked and Identity Center roles cannot take it.
async fn fence_role(engine: &Engine, incident: &Incident, role: &AssumedRole) -> FenceOutcome {
    if role.kind != RoleKind::Ordinary {
        audit_role(engine, incident, role, AuditAction::RoleFenceManual, "").await;
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
            audit_role(engine, incident, role, AuditAction::RoleFenced, &rid).await;
            FenceOutcome::Fenced {
                policy_name: fence.name,
                request_id: c.request_id,
            }
        }
        Err(e) => {
            audit_role(
                engine,
                incident,
                role,
                AuditAction::RoleFenceFailed,
                &e.to_string(),
            )
            .await;
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
    action: AuditAction,
    extra: &str,
) {
    let entry = AuditEntry {
        at: engine.clock.now(),
        actor: "keyleak".into(),
        action,
        incident_id: Some(incident.id.clone()),
        detail: format!("{} {extra}", role.arn).trim_end().to_string(),
        origin: "forensics".into(),
    };
    if let Err(e) = engine.store.audit(entry).await {
        warn!(error = %e, "could not audit a role fence");
    }
}

/// The full timeline as CSV and JSON files in the thread. The events are stored either way,
/// so a failed upload is logged and the investigation stands.
pub(super) async fn share_timeline(
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
    let comment = Notice::Timeline {
        incident: incident.clone(),
        events: events.len(),
    };
    if let Err(e) = engine.notifier.upload(thread, &files, &comment).await {
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
