//! Forensics in the incident thread: one message that shows progress and then becomes the
//! summary. Everything quoted from CloudTrail (user agents, names, errors) is attacker
//! controlled, so it is escaped and cut before it reaches Slack.

use super::action::count;
use super::*;
use crate::domain::answer::{Cause, InvestigateRefusal, ProgressCounts};
use crate::domain::command::HISTORY_DAYS;
use crate::domain::trail::findings::{FenceOutcome, Findings, Scope};
use crate::domain::trail::guardduty::{by_severity, families};
use crate::domain::trail::pivot::RoleKind;
use crate::domain::trail::summary::Tally;
use crate::domain::trail::{Category, Provenance};

/// How many of each list a summary shows; the rest are counted.
const TOP: usize = 5;
const LIST_MAX: usize = 15;
/// The longest quoted value (a user agent can be kilobytes).
const QUOTE_MAX: usize = 120;

fn quote(s: &str) -> String {
    format!("`{}`", cut(&sanitize(s), QUOTE_MAX))
}

pub fn investigation_progress(incident: &Incident, p: &ProgressCounts) -> Reply {
    Reply::plain(format!(
        ":mag: Investigating `{}` ({}): {} looked up, {} of {} region lookups done, {} found so far.",
        incident.key,
        incident.id,
        count(p.keys, "key", "keys"),
        p.lookups_done,
        p.lookups,
        count(p.events, "event", "events"),
    ))
}

pub fn investigation_failed(incident: &Incident, why: &Cause) -> Reply {
    Reply::plain(format!(
        ":x: Forensics for `{}` ({}) could not start: {}. Nothing was looked up; \
         `/keyleak investigate {}` tries again.",
        incident.key,
        incident.id,
        cause(why),
        incident.id
    ))
}

pub fn investigation_queued(incident: &Incident, days: Option<u32>) -> Reply {
    let back = days.map_or(String::new(), |d| format!(" over the last {d} days"));
    Reply::plain(format!(
        ":mag: Looking up everything `{}` and the keys it minted did{back}, in every region. \
         Findings go to the thread of *{}*.",
        incident.key, incident.id
    ))
}

pub fn investigation_refused(r: &InvestigateRefusal) -> Reply {
    match r {
        InvestigateRefusal::NoSuchIncident(id) => no_such_incident(id.as_str()),
        InvestigateRefusal::NotNow(id, d) => Reply::plain(not_now(id, d)),
        InvestigateRefusal::BeyondHistory { days } => Reply::plain(format!(
            "CloudTrail's event history keeps {HISTORY_DAYS} days, and no archive is configured, so \
             `--since {days}d` cannot be searched. Use `--since {HISTORY_DAYS}d`, set \
             `KEYLEAK_CLOUDTRAIL_ARCHIVE=s3://bucket/prefix` to the organization trail's bucket, or run \
             `keyleak investigate KEY --archive DIR` over a local copy of it."
        )),
    }
}

fn tallies(items: &[Tally], n: usize) -> String {
    let mut shown: Vec<String> = items
        .iter()
        .take(n)
        .map(|t| format!("{} ×{}", quote(&t.value), t.count))
        .collect();
    if items.len() > n {
        shown.push(format!("and {} more", items.len() - n));
    }
    if shown.is_empty() {
        "none".into()
    } else {
        shown.join(", ")
    }
}

fn headline(f: &Findings) -> String {
    let s = &f.summary;
    let span = match (s.first, s.last) {
        (Some(a), Some(b)) => format!(", first {} and last {}", when(a), when(b)),
        _ => String::new(),
    };
    let completeness = if f.complete() {
        match f.scope {
            Scope::Aws => ":white_check_mark: Every region was read in full.".to_string(),
            Scope::LocalCopy => ":white_check_mark: Every file of the copy was read in full. \
                 It holds only what was copied: regions and days missing from it are not \
                 searched."
                .to_string(),
        }
    } else {
        let mut gaps: Vec<String> = f
            .failures
            .iter()
            .map(|x| {
                format!(
                    "`{}` in {} of {}: {}",
                    x.key,
                    x.region,
                    x.account,
                    sanitize(&x.error)
                )
            })
            .collect();
        if f.skipped > 0 {
            gaps.push(format!(
                "{} that could not be read ({})",
                count(f.skipped, "record", "records"),
                f.skipped_reasons
                    .iter()
                    .map(|r| sanitize(r))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        if f.archive.as_ref().is_some_and(|a| a.integrity.tampered()) {
            gaps.push(
                "the CloudTrail archive was changed after CloudTrail wrote it (below)".into(),
            );
        }
        format!(":warning: *Partial:* {}.", gaps.join("; "))
    };
    let regions = match f.scope {
        Scope::Aws => count(f.regions.len(), "region", "regions"),
        Scope::LocalCopy => format!(
            "{} of a local copy",
            count(f.regions.len(), "region", "regions")
        ),
    };
    format!(
        "*Forensics for `{}`* — {}{span}, over {} back to {} in {regions}.\n{completeness}",
        f.key,
        count(s.events, "call", "calls"),
        count(f.searched.len(), "key", "keys"),
        when(f.since),
    )
}

fn categories(f: &Findings) -> String {
    let lines: Vec<String> = Category::ALL
        .iter()
        .filter_map(|c| {
            let n = f.summary.categories.iter().find(|(k, _)| k == c)?.1;
            Some(format!("• {}: {n}", c.as_str()))
        })
        .collect();
    if lines.is_empty() {
        return "*What it did:* no calls in the window.".into();
    }
    let mut text = format!("*What it did:*\n{}", lines.join("\n"));
    if !f.summary.denied.is_empty() {
        text.push_str(&format!("\n*Denied:* {}", tallies(&f.summary.denied, TOP)));
    }
    text
}

fn origins(f: &Findings) -> String {
    let s = &f.summary;
    format!(
        "*From:* {}\n*User agents:* {}\n*Regions:* {}",
        tallies(&s.source_ips, TOP),
        tallies(&s.user_agents, 3),
        tallies(&s.regions, TOP * 2),
    )
}

fn keys(f: &Findings) -> String {
    let mut lines = vec!["*Keys followed:*".to_string()];
    for k in f.searched.iter().take(LIST_MAX) {
        let origin = f
            .minted
            .iter()
            .find(|m| m.key.as_str() == k.key)
            .map(|m| match &m.role_arn {
                Some(role) => format!(" — {} of {}", m.by.event_name(), quote(role)),
                None => format!(" — {}", m.by.event_name()),
            })
            .unwrap_or_else(|| " — the leaked key".into());
        let account = if k.account.is_empty() {
            "an account its calls do not name".to_string()
        } else {
            format!("account {}", k.account)
        };
        lines.push(format!(
            "• `{}` in {account}: {}{origin}",
            k.key,
            count(k.events, "call", "calls")
        ));
    }
    if f.searched.len() > LIST_MAX {
        lines.push(format!("and {} more", f.searched.len() - LIST_MAX));
    }
    lines.join("\n")
}

fn roles(f: &Findings) -> Option<String> {
    if f.roles.is_empty() {
        return None;
    }
    let mut lines = vec!["*Roles assumed — their older sessions:*".to_string()];
    for r in f.roles.iter().take(LIST_MAX) {
        let what = match &r.outcome {
            FenceOutcome::Fenced {
                policy_name,
                request_id,
            } => format!(
                ":lock: fenced with inline policy `{policy_name}`{}",
                request_id
                    .as_deref()
                    .map(|id| format!(" (request id `{id}`)"))
                    .unwrap_or_default()
            ),
            FenceOutcome::Manual {
                kind: RoleKind::ServiceLinked,
            } => {
                ":raising_hand: a service-linked role takes no policy from us: end its sessions by \
                 removing what uses it, or ask AWS Support"
                    .into()
            }
            FenceOutcome::Manual { .. } => {
                ":raising_hand: an IAM Identity Center role: revoke the \
                 user's sessions in Identity Center (Users → Active sessions), and remove the \
                 permission set assignment if the user is compromised"
                    .into()
            }
            FenceOutcome::Failed { error } => format!(":x: *not fenced*: {}", sanitize(error)),
            FenceOutcome::Deferred => {
                ":hourglass: *not fenced yet*: the incident is in triage, and nothing is changed \
                 until someone contains it; containment fences this role"
                    .into()
            }
            FenceOutcome::ArchiveOnly => {
                ":grey_question: *not fenced*: only an S3 archive file shows this role assumed, \
                 no signed CloudTrail digest vouches for that file, and LookupEvents does not \
                 confirm it. Anyone who can write to the bucket can plant such a file: check the \
                 record, then revoke the role's sessions in the IAM console (Roles → Revoke \
                 active sessions) if it is real"
                    .into()
            }
        };
        lines.push(format!(
            "• {} ({}): {what}",
            quote(&r.role.arn),
            count(r.role.sessions, "session", "sessions")
        ));
    }
    Some(lines.join("\n"))
}

/// What CloudTrail's signed digests said of the archive files read.
fn archive_integrity(f: &Findings) -> Option<String> {
    let a = f.archive.as_ref()?;
    let i = &a.integrity;
    let mut lines = vec![];
    if i.tampered() {
        let mut what = vec![];
        if i.altered > 0 {
            what.push(format!(
                "{} changed after delivery",
                count(i.altered, "log file", "log files")
            ));
        }
        if i.deleted > 0 {
            what.push(format!(
                "{} deleted",
                count(i.deleted, "log file", "log files")
            ));
        }
        if i.bad_digests > 0 {
            what.push(format!(
                "{} failing verification or gone",
                count(i.bad_digests, "digest", "digests")
            ));
        }
        lines.push(format!(
            ":rotating_light: *The CloudTrail archive was tampered with:* {}. The bucket no \
             longer holds what CloudTrail signed; a changed file's events are not used. Keep the \
             bucket as it is, and find who wrote to it (S3 data events, or the bucket's server \
             access logs); a deleted file may also be a lifecycle rule's doing.",
            what.join(", ")
        ));
    }
    let unverified = if i.digests == 0 {
        format!(
            "*Archive:* no signed digest vouches for the {} read (log file validation is off, \
             or they are less than an hour old)",
            count(a.files, "file", "files")
        )
    } else {
        format!(
            "*Archive:* {} of {} vouched for by {} that CloudTrail signed",
            i.verified,
            count(a.files, "file", "files"),
            count(i.digests, "digest", "digests")
        )
    };
    if i.verified < a.files {
        lines.push(format!(
            "{unverified}; an event only an unverified file shows is labelled so in the timeline, \
             and nothing is written on it alone."
        ));
    } else {
        lines.push(format!("{unverified}."));
    }
    for n in i.notes.iter().take(TOP) {
        // A whole S3 key is longer than a quoted value may be, and its end names the file.
        let file = n
            .file
            .as_deref()
            .map(|f| format!("`{}`: ", cut(&sanitize(f), 250)))
            .unwrap_or_default();
        lines.push(format!("• {file}{}", sanitize(&n.why)));
    }
    if i.notes.len() > TOP {
        lines.push(format!("and {} more", i.notes.len() - TOP));
    }
    Some(lines.join("\n"))
}

fn created(f: &Findings) -> String {
    if f.created.is_empty() {
        return "*Created:* nothing that keyleak recognises.".into();
    }
    let mut lines = vec![format!("*Created ({}):*", f.created.len())];
    for c in f.created.iter().take(LIST_MAX) {
        let owner = c
            .owner
            .as_deref()
            .filter(|o| *o != c.id)
            .map(|o| format!(" of {}", quote(o)))
            .unwrap_or_default();
        let detail = c
            .detail
            .as_deref()
            .map(|d| format!(" ({})", sanitize(d)))
            .unwrap_or_default();
        let unverified = if c.provenance == Provenance::ArchiveUnverified {
            " _(only an unverified archive file shows it)_"
        } else {
            ""
        };
        lines.push(format!(
            "• {} {}{owner}{detail} — {} {}{unverified}",
            c.kind.as_str(),
            quote(&c.id),
            c.account.as_deref().unwrap_or("unknown account"),
            c.region
        ));
    }
    if f.created.len() > LIST_MAX {
        lines.push(format!(
            "and {} more (all in the timeline file)",
            f.created.len() - LIST_MAX
        ));
    }
    lines.join("\n")
}

fn guardduty(f: &Findings) -> String {
    let g = &f.guardduty;
    let mut lines = vec![];
    if g.findings.is_empty() {
        lines.push("*GuardDuty:* no findings about these keys.".to_string());
    } else {
        let bands: Vec<String> = by_severity(&g.findings)
            .iter()
            .map(|(s, n)| format!("{n} {}", s.as_str()))
            .collect();
        lines.push(format!(
            "*GuardDuty — {} ({}):*",
            count(g.findings.len(), "finding", "findings"),
            bands.join(", ")
        ));
        let all = families(&g.findings);
        for fam in all.iter().take(TOP) {
            let types: Vec<String> = fam.types.iter().take(TOP).map(|t| sanitize(t)).collect();
            lines.push(format!(
                "• {} ×{}, highest {}{}",
                quote(&fam.family),
                fam.findings,
                fam.highest.as_str(),
                if types.is_empty() {
                    String::new()
                } else {
                    format!(": {}", types.join(", "))
                }
            ));
        }
        if all.len() > TOP {
            lines.push(format!("and {} more kinds", all.len() - TOP));
        }
    }
    if !g.without_detector.is_empty() {
        lines.push(format!(
            "GuardDuty is not enabled in {}: {}.",
            count(g.without_detector.len(), "region", "regions"),
            list_places(&g.without_detector)
        ));
    }
    if !g.failures.is_empty() {
        let places: Vec<String> = g.failures.iter().map(|(p, _)| p.clone()).collect();
        lines.push(format!(
            ":warning: GuardDuty could not be asked in {}: {}.",
            list_places(&places),
            sanitize(&g.failures[0].1)
        ));
    }
    lines.join("\n")
}

fn list_places(places: &[String]) -> String {
    let mut shown: Vec<String> = places.iter().take(TOP).map(|p| format!("`{p}`")).collect();
    if places.len() > TOP {
        shown.push(format!("and {} more", places.len() - TOP));
    }
    shown.join(", ")
}

/// Whether AWS quarantined the user (from the snapshot taken at containment) and when (from
/// CloudTrail, which may also show an attachment made after containment).
fn quarantine(f: &Findings) -> String {
    if !f.quarantined.is_empty() {
        let when_attached: Vec<String> = f
            .quarantined
            .iter()
            .map(|q| format!("`{}` at {}", sanitize(&q.policy), when(q.at)))
            .collect();
        return format!(
            "AWS found the key exposed and attached {} (left in place).",
            when_attached.join(", ")
        );
    }
    if f.quarantine.is_empty() {
        return "AWS had not attached a quarantine policy when the key was contained.".into();
    }
    format!(
        "AWS had attached {} (left in place); CloudTrail's event history does not show when.",
        f.quarantine
            .iter()
            .map(|q| format!("`{q}`"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// What was proposed and what is left to do by hand: nothing of it for a local copy, which
/// proposes nothing and read nobody's policies.
fn cleanup(f: &Findings) -> String {
    if f.scope == Scope::LocalCopy {
        return String::new();
    }
    let quarantine = quarantine(f);
    let proposals = match f.proposed.len() {
        0 if f.created.is_empty() => String::new(),
        0 => "No cleanup was proposed automatically: propose it with `/keyleak cleanup`.".into(),
        n => format!(
            "{} in this thread, each waiting for a second person's approval.",
            count(n, "cleanup proposal", "cleanup proposals"),
        ),
    };
    let manual = match f.manual {
        0 => String::new(),
        n => format!(
            "{} in another account or of a kind keyleak does not delete: remove by hand.",
            count(n, "created resource is", "created resources are")
        ),
    };
    [quarantine, proposals, manual]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Introduces the timeline files in the thread.
pub fn timeline_comment(incident: &Incident, events: usize) -> String {
    format!(
        "Full timeline of {} for `{}`: {}, oldest first, as CSV and JSON.",
        incident.id,
        incident.key,
        count(events, "event", "events")
    )
}

/// `about` names the investigation: its incident, or the archive at the CLI.
pub fn investigation_summary(about: &str, f: &Findings) -> Reply {
    let mut blocks = vec![section(&headline(f))];
    blocks.extend(super::footprint::cannot_trust(f).map(|b| section(&b)));
    blocks.push(section(&categories(f)));
    blocks.extend(super::footprint::techniques(f).map(|t| section(&t)));
    blocks.extend(super::footprint::rotate(f).map(|r| section(&r)));
    blocks.push(section(&origins(f)));
    blocks.push(section(&keys(f)));
    if let Some(r) = roles(f) {
        blocks.push(section(&r));
    }
    if let Some(a) = archive_integrity(f) {
        blocks.push(section(&a));
    }
    match f.scope {
        Scope::Aws => blocks.push(section(&guardduty(f))),
        Scope::LocalCopy => blocks.push(section(
            "*Not checked:* GuardDuty and the user's policies (AWS's quarantine among them): \
             only the copy was read.",
        )),
    }
    blocks.push(section(&created(f)));
    blocks.push(section(&super::footprint::blind_spots(f)));
    let cleanup = cleanup(f);
    if !cleanup.is_empty() {
        blocks.push(section(&cleanup));
    }
    let archive = f
        .archive
        .as_ref()
        .map(|a| {
            format!(
                " · archive `{}`: {}, {:.1} MB",
                sanitize(&a.location),
                count(a.files, "file", "files"),
                a.bytes as f64 / 1e6
            )
        })
        .unwrap_or_default();
    // A local copy asks AWS nothing: no pages, nothing throttled.
    let asked = match f.scope {
        Scope::Aws => format!(
            " · {} read · {} throttled and retried",
            count(f.pages, "page", "pages"),
            f.throttled
        ),
        Scope::LocalCopy => String::new(),
    };
    blocks.push(context(&format!(
        "{} · {}{asked}{archive} · finished {}",
        sanitize(about),
        f.key,
        when(f.finished_at)
    )));
    Reply {
        text: format!(
            "Forensics for {}: {} over {}",
            f.key,
            count(f.summary.events, "call", "calls"),
            count(f.searched.len(), "key", "keys")
        ),
        blocks,
    }
}
