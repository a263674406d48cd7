//! The incident room: its topic, the line in the announcement channel, and the notes that
//! say when a room could not be made as asked.

use super::*;
use crate::domain::answer::{Cause, CloseRefusal, ReportRefusal};
use crate::domain::ids::{IncidentId, SlackUserId};
use crate::domain::incident::Actor;
use crate::domain::trail::TrailEvent;

/// Slack's longest channel topic.
const TOPIC_MAX: usize = 250;

/// The room's topic: the state first, so a glance at the channel list tells it.
pub fn room_topic(i: &Incident) -> String {
    let alarm = if i.late_activity.is_some() && i.state != IncidentState::Closed {
        "ACTIVITY AFTER CONTAINMENT · "
    } else {
        ""
    };
    let mut parts = vec![
        format!("{alarm}{} {}", state_label(i.state).to_uppercase(), i.id),
        i.key.to_string(),
    ];
    if let Some(u) = &i.user_name {
        parts.push(format!("user {u}"));
    }
    if let Some(a) = &i.account {
        parts.push(format!("account {a}"));
    }
    let topic = parts.join(" · ");
    topic.chars().take(TOPIC_MAX).collect()
}

/// The one line in the announcement channel.
pub fn room_announcement(i: &Incident, room: &str) -> Reply {
    let user = i
        .user_name
        .as_deref()
        .map(|u| format!(" of IAM user `{}`", sanitize(u)))
        .unwrap_or_default();
    Reply::plain(format!(
        ":rotating_light: *{}*: leaked key `{}`{user}, contained at the request of {}. \
         Follow it in <#{room}>.",
        i.id,
        i.key,
        incident::requester(i),
    ))
}

/// Said in the incident thread when no private channel could be opened.
pub fn room_unavailable(slack_error: &str) -> Reply {
    Reply::plain(format!(
        ":warning: keyleak could not open a private channel for this incident (Slack said `{}`), \
         so the incident runs in this thread instead. Containment was not delayed. If this keeps \
         happening, check that the app has the `groups:write` scope and that workspace policy lets \
         apps create private channels.",
        sanitize(slack_error)
    ))
}

/// Said in the room when some people could not be added to it.
pub fn invite_failed(users: &[SlackUserId], slack_error: &str) -> Reply {
    let who: Vec<String> = users.iter().map(|u| format!("<@{u}>")).collect();
    Reply::plain(format!(
        ":warning: keyleak could not add {} to this channel (Slack said `{}`). \
         A member of the channel can invite them.",
        who.join(", "),
        sanitize(slack_error)
    ))
}

pub fn report_queued(i: &Incident) -> Reply {
    Reply::plain(format!(
        ":page_facing_up: Writing the post-incident report for *{}*. It will be shared in the \
         incident's thread with its activity chart, replacing any earlier report.",
        i.id
    ))
}

pub fn report_refused(id: &IncidentId, r: &ReportRefusal) -> Reply {
    Reply::plain(match r {
        ReportRefusal::NoSuchIncident => format!("There is no incident `{id}`."),
        ReportRefusal::NoThread => format!(
            "*{id}* has no incident message in Slack yet (Slack was unreachable when it opened), so \
             there is no thread to share the report in. `/keyleak contain` on its key posts it."
        ),
        ReportRefusal::NotNow(d) => not_now(id, d),
    })
}

/// The comment above the report's files in the thread.
pub fn report_comment(i: &Incident, replacing: bool, with_evidence: bool) -> String {
    let again = if replacing {
        " It replaces the earlier report, which was deleted."
    } else {
        ""
    };
    let evidence = if with_evidence {
        ", and what each deletion destroyed, as kept before it ran"
    } else {
        ""
    };
    format!(
        ":page_facing_up: Post-incident report for {}: the record in Markdown, the key's calls per \
         hour with the containment marked{evidence}.{again}",
        i.id
    )
}

pub fn report_failed(id: &IncidentId, why: &Cause) -> Reply {
    Reply::plain(format!(
        ":x: The report for *{id}* could not be shared: {}. Nothing was deleted; \
         `/keyleak report {id}` tries again.",
        cause(why)
    ))
}

pub fn report_shared(i: &Incident) -> Reply {
    Reply::plain(format!(
        ":page_facing_up: The report for *{}* is in its thread.",
        i.id
    ))
}

pub fn closed(i: &Incident) -> Reply {
    Reply::plain(format!(
        ":white_check_mark: *{}* is closed and its monitoring has ended. Nothing in AWS or Slack was \
         deleted or archived; the record stays, and `/keyleak report {}` still works.",
        i.id, i.id
    ))
}

pub fn dismissed(i: &Incident, reason: &str) -> Reply {
    Reply::plain(format!(
        ":leftwards_arrow_with_hook: *{}* is dismissed ({}). Nothing was changed in AWS; the \
         record stays.",
        i.id,
        sanitize(reason)
    ))
}

pub fn close_refused(id: &IncidentId, r: &CloseRefusal) -> Reply {
    Reply::plain(match r {
        CloseRefusal::NoSuchIncident => format!("There is no incident `{id}`."),
        CloseRefusal::NotNow(d) => not_now(id, d),
    })
}

/// Said in the thread when the incident is closed.
pub fn closed_note(
    i: &Incident,
    by: Option<&Actor>,
    report: Option<&str>,
    dismissed: Option<&str>,
) -> Reply {
    let who = by.map(|a| format!(" by {}", actor(a))).unwrap_or_default();
    if let Some(reason) = dismissed {
        return Reply::plain(format!(
            ":leftwards_arrow_with_hook: Incident *{}* dismissed{who} without containment: {}. \
             Nothing was changed in AWS; the record stays, and a new signal about `{}` opens a \
             new incident.",
            i.id,
            sanitize(reason),
            i.key
        ));
    }
    let report = match report {
        Some(link) => format!("Final report: <{link}|{}-report.md>.", i.id),
        None => format!(
            "No report was written; `/keyleak report {}` writes one from the record.",
            i.id
        ),
    };
    Reply::plain(format!(
        ":white_check_mark: Incident *{}* closed{who}. Monitoring has ended; nothing was deleted or \
         archived. {report}",
        i.id
    ))
}

/// Calls listed one by one in a monitoring note; the rest are counted.
const LATE_LISTED: usize = 15;

/// Monitoring saw the key, its offspring or its user act after containment.
pub fn late_activity(i: &Incident, events: &[TrailEvent], mention: &[SlackUserId]) -> Reply {
    let mut lines = alarms(i, events, mention);
    let allowed = events.iter().filter(|e| !e.denied()).count();
    let head = if allowed > 0 {
        format!(
            ":rotating_light: *Activity after containment* on *{}*: {} new call(s), *{allowed} not \
             denied* — something still works for the attacker. Check the calls below, then \
             `/keyleak investigate {}`.",
            i.id,
            events.len(),
            i.id
        )
    } else {
        format!(
            ":warning: *Activity after containment* on *{}*: {} new call(s), all denied — the \
             key is still being tried, and containment holds.",
            i.id,
            events.len()
        )
    };
    lines.push(head);
    for e in events.iter().take(LATE_LISTED) {
        let outcome = match &e.error_code {
            Some(code) if e.denied() => format!("refused: `{}`", sanitize(code)),
            Some(code) => format!("*not denied*, failed: `{}`", sanitize(code)),
            None => "*allowed*".to_string(),
        };
        lines.push(format!(
            "• {} `{}` in {} by `{}` from `{}` — {outcome}",
            when(e.time),
            sanitize(&e.name),
            sanitize(&e.region),
            signer(e),
            sanitize(e.source_ip.as_deref().unwrap_or("?")),
        ));
    }
    if events.len() > LATE_LISTED {
        lines.push(format!(
            "…and {} more in the report's timeline.",
            events.len() - LATE_LISTED
        ));
    }
    Reply::plain(cut(&lines.join("\n"), SECTION_MAX))
}

/// The calls that open a way back in or blind the account, first and with the responders
/// called by name: the rest of the note can wait for them, these cannot.
fn alarms(i: &Incident, events: &[TrailEvent], mention: &[SlackUserId]) -> Vec<String> {
    let found = crate::domain::trail::technique::alarming(events);
    if found.is_empty() {
        return vec![];
    }
    let who: String = mention.iter().map(|u| format!("<@{u}> ")).collect();
    let mut lines = vec![format!(
        ":rotating_light: {who}*Act now on {}*: a way back in, or the account blinded, \
         after containment:",
        i.id
    )];
    lines.extend(found.iter().take(LATE_LISTED).map(|(t, e)| {
        format!(
            "• *{}* ({}): `{}` {} in {} by `{}`",
            t.name(),
            t.attack_id(),
            sanitize(&e.name),
            when(e.time),
            sanitize(&e.region),
            signer(e)
        )
    }));
    lines
}

/// Who made a call: its access key, else (a console sign-in has none) its principal.
fn signer(e: &TrailEvent) -> String {
    sanitize(
        e.identity
            .access_key_id
            .as_deref()
            .or(e.identity.arn.as_deref())
            .unwrap_or("?"),
    )
}
