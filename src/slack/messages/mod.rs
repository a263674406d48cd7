//! Every word keyleak says to people, in one place so each message can be reviewed and
//! snapshot-tested. Messages carry Block Kit blocks within Slack's limits and a plain-text
//! fallback for notifications. Nothing here may include a secret; callers never pass one.

use chrono::{DateTime, SecondsFormat, Utc};
use slack_morphism::prelude::*;

use crate::domain::command::CommandParseError;
use crate::domain::ids::{AccessKeyId, KeyIdError};
use crate::domain::incident::{
    Actor, Escalation, Incident, IncidentState, StepFact, StepKind, StepRecord, StepStatus,
};
use crate::domain::job::JobKind;
use crate::store::Opened;

/// Slack's limit for a section's text.
const SECTION_MAX: usize = 3000;

/// A reply to the person who typed a command: ephemeral unless it says otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub text: String,
    pub blocks: Vec<SlackBlock>,
}

impl Reply {
    fn plain(text: impl Into<String>) -> Self {
        let text = text.into();
        Self {
            blocks: vec![section(&text)],
            text,
        }
    }

    /// The JSON body Slack accepts as the immediate answer to a slash command.
    pub fn to_slash_response(&self) -> serde_json::Value {
        serde_json::json!({
            "response_type": "ephemeral",
            "text": self.text,
            "blocks": self.blocks,
        })
    }

    /// The blocks' text as lines for a terminal, where the CLI prints what Slack would show:
    /// without Slack's mark-up, and with control characters (which records from an attacker's
    /// calls may carry, to move the cursor or recolour the screen) shown escaped, never sent
    /// to the terminal; newlines and tabs are kept.
    pub fn terminal_text(&self) -> String {
        for_terminal(&self.lines())
    }

    fn lines(&self) -> String {
        let Ok(serde_json::Value::Array(blocks)) = serde_json::to_value(&self.blocks) else {
            return self.text.clone();
        };
        let texts: Vec<String> = blocks
            .iter()
            .filter_map(|b| {
                b.pointer("/text/text")
                    .or_else(|| b.pointer("/elements/0/text"))
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_string)
            })
            .collect();
        if texts.is_empty() {
            self.text.clone()
        } else {
            texts.join("\n")
        }
    }

    pub fn into_content(self) -> SlackMessageContent {
        SlackMessageContent::new()
            .with_text(self.text)
            .with_blocks(self.blocks)
    }
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let kept: String = text.chars().take(max - 1).collect();
    format!("{kept}…")
}

/// Cuts from the middle: user agents differ at their ends (`… command/iam.list-users`) as
/// often as at their starts.
fn cut_middle(text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max {
        return text.to_string();
    }
    let head = (max - 1) / 2;
    let tail = max - 1 - head;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

fn section(text: &str) -> SlackBlock {
    SlackSectionBlock::new()
        .with_text(SlackBlockText::MarkDown(SlackBlockMarkDownText::new(cut(
            text,
            SECTION_MAX,
        ))))
        .into()
}

fn context(text: &str) -> SlackBlock {
    SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
        SlackBlockMarkDownText::new(cut(text, SECTION_MAX)),
    )])
    .into()
}

fn when(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub const HELP: &str = "*keyleak* contains a leaked AWS access key.\n\
• `/keyleak contain <KEY_ID> [reason…]` — deactivate the key, deny everything to its user, cut off \
the sessions it minted, and open an incident\n\
• `/keyleak status [KEY_ID|INCIDENT]` — the incident card, or all open incidents\n\
• `/keyleak cleanup <INCIDENT> [delete-key KEY | delete-login-profile USER | delete-user USER | \
delete-role ROLE | delete-policy ARN | terminate REGION i-… | delete-function REGION NAME]` — propose \
deleting what the attacker left (by default the leaked key); a second approver must approve each\n\
• `/keyleak rollback <INCIDENT>` — propose reactivating the key and removing the deny-all, also behind approval\n\
• `/keyleak reject <PROPOSAL> [reason]` — reject a pending proposal, with a reason\n\
• `/keyleak investigate <KEY_ID|INCIDENT> [--since 7d]` — what the key did, from CloudTrail and GuardDuty; \
for a key with no incident, opens one in triage: nothing is changed until someone presses Contain\n\
• `/keyleak dismiss <INCIDENT> <reason…>` — end an incident in triage without containment (a false positive, a honeytoken)\n\
• `/keyleak report <INCIDENT>` — the post-incident report and activity chart, shared in the incident's thread\n\
• `/keyleak restore <INCIDENT> [new-key]` — propose lifting the deny-all (the session fence stays); with `new-key`, a new access key handed over in a Secrets Manager secret only the user can read\n\
• `/keyleak close <INCIDENT>` — end the incident and its monitoring; nothing is deleted\n\
• `/keyleak help` — this text\n\
Key ids look like `AKIA…` (long-term) or `ASIA…` (temporary), 20 characters. \
*Never paste the secret access key* — keyleak does not need it.";

pub fn help() -> Reply {
    Reply::plain(HELP)
}

pub const SECRET_WARNING: &str = ":warning: Your message contained something shaped like a *secret access key*. \
keyleak did not store, log or echo it. Treat it as exposed: it is now in Slack's history — \
contain and rotate that key, and delete your message.";

pub fn parse_error(err: &CommandParseError) -> Reply {
    let what = match err {
        CommandParseError::UnknownVerb(v) => format!(
            "`{}` is not a keyleak command. Try `/keyleak help`.",
            sanitize(v)
        ),
        CommandParseError::BadKey(k) => key_error(k),
        CommandParseError::BadStatusTarget(t) => format!(
            "`{}` is neither an access key id (`AKIA…`/`ASIA…`) nor an incident id (`KL-…`).",
            sanitize(t)
        ),
        CommandParseError::TooManyArguments { verb, expected } => {
            format!("`{verb}` takes {expected}.")
        }
        CommandParseError::NeedsIncident { verb, got } => match got {
            Some(g) => format!(
                "`{}` is not an incident id. Usage: `/keyleak {verb} KL-…` (incident ids look like `KL-1A2B3C4D`).",
                sanitize(g)
            ),
            None => format!("Which incident? Usage: `/keyleak {verb} KL-…`."),
        },
        CommandParseError::NeedsProposal { got } => match got {
            Some(g) => format!(
                "`{}` is not a proposal id. Usage: `/keyleak reject PR-… [reason]`.",
                sanitize(g)
            ),
            None => "Which proposal? Usage: `/keyleak reject PR-… [reason]`.".into(),
        },
        CommandParseError::NeedsDismissReason => {
            "Why is it dismissed? Usage: `/keyleak dismiss KL-… <reason>`, for example \
             `a honeytoken` or `a test key, never used`: the reason is kept in the record."
                .into()
        }
        CommandParseError::BadTarget(t) => proposal::target_error(t),
        CommandParseError::NeedsInvestigateTarget { got } => match got {
            Some(g) => format!(
                "`{}` is neither an access key id (`AKIA…`/`ASIA…`) nor an incident id (`KL-…`). \
                 Usage: `/keyleak investigate <KEY_ID|KL-…> [--since 7d]`.",
                sanitize(g)
            ),
            None => "What should be investigated? Usage: `/keyleak investigate <KEY_ID|KL-…> [--since 7d]`.".into(),
        },
        CommandParseError::BadSince(v) => format!(
            "`--since {}` is not a window keyleak can search: give days from 1 to {}, like `--since 7d`.",
            sanitize(v),
            crate::domain::command::MAX_DAYS
        ),
    };
    Reply::plain(what)
}

fn key_error(e: &KeyIdError) -> String {
    match e {
        KeyIdError::Missing => "Which key? Usage: `/keyleak contain AKIA… [reason]`.".into(),
        KeyIdError::LooksLikeSecret => {
            "That is a *secret access key*, not a key id. Give the access key id \
             (`AKIA…`, 20 characters) instead."
                .into()
        }
        KeyIdError::NotAnAccessKey { prefix, what } => format!(
            "`{prefix}…` is the unique id of an IAM {what}, not an access key id. \
             Access key ids start with `AKIA` or `ASIA`."
        ),
        KeyIdError::Lowercase => {
            "Access key ids are upper case (`AKIA…`). Check you copied the key id, not something else."
                .into()
        }
        KeyIdError::WrongPrefix => "Access key ids start with `AKIA` (long-term) or `ASIA` (temporary).".into(),
        KeyIdError::WrongLength(n) => {
            format!("Access key ids are exactly 20 characters; that one has {n}.")
        }
        KeyIdError::BadCharacters => {
            "Access key ids contain only capital letters A–Z and digits 0–9.".into()
        }
    }
}

/// Text for a terminal: control characters shown escaped (`\u{1b}`), newlines and tabs kept.
pub fn escape_controls(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '\n' | '\t' => vec![c],
            c if c.is_control() => c.escape_unicode().collect(),
            c => vec![c],
        })
        .collect()
}

/// Who did something, as a Slack message names them.
fn actor(a: &Actor) -> String {
    match a {
        Actor::Slack(u) => format!("<@{u}>"),
        Actor::Cli(n) => format!("`{}` (CLI)", sanitize(n)),
        Actor::Signal(s) => format!("the signal `{}`", sanitize(s)),
    }
}

/// Text from outside (people, AWS) is escaped as Slack asks, so it cannot mention, link or
/// break out of a code span.
fn sanitize(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('`', "'")
}

/// Any answer to text in which a secret was found (and redacted) leads with the warning.
pub fn with_secret_warning(reply: Reply, secret_pasted: bool) -> Reply {
    if !secret_pasted {
        return reply;
    }
    let mut blocks = vec![section(SECRET_WARNING)];
    blocks.extend(reply.blocks);
    Reply {
        text: format!("{}\n{SECRET_WARNING}", reply.text),
        blocks,
    }
}

pub fn not_a_responder() -> Reply {
    Reply::plain(
        "Sorry — only responders listed in keyleak's `KEYLEAK_RESPONDERS` can run keyleak commands. \
         Ask your security team to add you, or to run the command for you. This attempt was recorded.",
    )
}

pub fn roster_unavailable() -> Reply {
    Reply::plain(
        "keyleak could not check whether you are a responder (the Slack user-group lookup failed), \
         so it did nothing. Try again in a moment, or use the `keyleak` CLI.",
    )
}

/// A job whose worker kept stopping while running it (a crash, the memory limit) is given up.
pub fn job_abandoned(i: &Incident, kind: JobKind, attempts: i64) -> Reply {
    let retry = if kind == JobKind::Contain {
        format!(
            " The incident is marked failed: `/keyleak contain {}` retries the steps that did \
             not complete.",
            i.key
        )
    } else {
        " Check keyleak's logs for what stopped it before asking for it again.".into()
    };
    let kind = kind.as_str();
    Reply::plain(format!(
        ":warning: keyleak gave up its *{kind}* work for *{}*: the process running it stopped \
         {attempts} times before it finished (a crash or an out-of-memory kill), so it is not \
         taken over again.{retry}",
        i.id
    ))
}

/// A responder over `KEYLEAK_COMMANDS_PER_MINUTE`: nothing was recorded or run.
pub fn rate_limited(limit: u32, wait_seconds: i64) -> Reply {
    Reply::plain(format!(
        "You have sent {limit} keyleak commands in the last minute, the most one person may. \
         This one was not run: nothing was recorded or changed. Try again in {} s. If a script \
         is sending them, stop it; to contain a key now from elsewhere, use the `keyleak` CLI.",
        wait_seconds.max(1)
    ))
}

pub fn internal_error() -> Reply {
    Reply::plain(
        "keyleak hit an internal error and did nothing. The details are in its logs. \
         If the key is leaking now, deactivate it in the IAM console or with the `keyleak contain` CLI.",
    )
}

/// The answer to `contain`. `announced_in` is the announcement channel; a new incident with
/// no room yet gets one there, `room_coming`.
pub fn contain_ack(opened: &Opened, announced_in: &str, room_coming: bool) -> Reply {
    let i = &opened.incident;
    let text = if opened.created && room_coming && i.slack_channel.is_none() {
        format!(
            ":rotating_light: Containing `{}` — incident *{}*. A private channel is being opened for it, \
             with you and the responders invited; <#{announced_in}> links to it.",
            i.key, i.id,
        )
    } else if opened.created {
        format!(
            ":rotating_light: Containing `{}` — incident *{}*. Progress goes to the incident thread in <#{}>.",
            i.key,
            i.id,
            i.slack_channel.as_deref().unwrap_or(announced_in)
        )
    } else if opened.from_triage {
        format!(
            ":rotating_light: Containing `{}` — incident *{}* was in triage; what it gathered is \
             kept, and containment goes on in its thread.",
            i.key, i.id
        )
    } else if opened.queued {
        format!(
            ":repeat: Incident *{}* for `{}` had failed steps; retrying the ones that did not complete.",
            i.id, i.key
        )
    } else {
        format!(
            ":information_source: `{}` already has an open incident, *{}* ({}). Nothing was run twice. \
             `/keyleak status {}` shows it.",
            i.key,
            i.id,
            state_label(i.state),
            i.id
        )
    };
    Reply::plain(text)
}

/// The answer to `/keyleak investigate KEY` for a key with no open incident.
pub fn triage_ack(opened: &Opened, announced_in: &str) -> Reply {
    let i = &opened.incident;
    Reply::plain(format!(
        ":mag: Incident *{}* opened for `{}` *in triage*: keyleak is finding its owner, its last \
         use and what it did, and changes nothing. The card in <#{}> offers *Contain* and \
         *Dismiss* when you have decided.",
        i.id,
        i.key,
        i.slack_channel.as_deref().unwrap_or(announced_in)
    ))
}

pub fn state_label(s: IncidentState) -> &'static str {
    match s {
        IncidentState::Triage => "in triage: not contained",
        IncidentState::Containing => "containing",
        IncidentState::Contained => "contained",
        IncidentState::Escalated => "needs a person: cannot be contained by IAM policy",
        IncidentState::Failed => "containment incomplete",
        IncidentState::Closed => "closed",
    }
}

fn state_emoji(s: IncidentState) -> &'static str {
    match s {
        IncidentState::Triage => ":mag:",
        IncidentState::Containing => ":hourglass_flowing_sand:",
        IncidentState::Contained => ":lock:",
        IncidentState::Escalated => ":sos:",
        IncidentState::Failed => ":x:",
        IncidentState::Closed => ":white_check_mark:",
    }
}

pub fn no_open_incidents() -> Reply {
    Reply::plain("No open incidents.")
}

pub fn no_incident_for(key: &AccessKeyId) -> Reply {
    Reply::plain(format!("No open incident for `{key}`."))
}

pub fn no_such_incident(id: &str) -> Reply {
    Reply::plain(format!("There is no incident `{}`.", sanitize(id)))
}

/// How many open incidents `status` lists; the rest are counted.
pub const OPEN_LIST_MAX: u32 = 25;

pub fn open_incidents(newest: &[Incident], total: i64) -> Reply {
    let mut lines = vec![if total > newest.len() as i64 {
        format!("*{total} open incidents* — the {} newest:", newest.len())
    } else {
        format!("*{total} open incident(s)*")
    }];
    for i in newest {
        let room = i
            .slack_channel
            .as_deref()
            .map(|c| format!(" in <#{c}>"))
            .unwrap_or_default();
        let late = if i.late_activity.is_some() {
            " · :rotating_light: activity after containment"
        } else {
            ""
        };
        lines.push(format!(
            "{} *{}* `{}` {} — opened {}{room}{late}",
            state_emoji(i.state),
            i.id,
            i.key,
            state_label(i.state),
            when(i.opened_at)
        ));
    }
    Reply::plain(lines.join("\n"))
}

mod action;
pub mod chart;
mod credentials;
mod evidence;
mod footprint;
mod forensics;
mod incident;
mod notice;
mod proposal;
mod reach;
mod report;
mod restore;
mod room;
mod signal;
mod temporary;
mod terminal;

pub use action::describe;
pub use evidence::evidence_file_name;
pub use forensics::{
    investigation_failed, investigation_progress, investigation_queued, investigation_refused,
    investigation_summary, timeline_comment,
};
pub use incident::{
    CLOSE, CONTAIN, DISMISS, INVESTIGATE, PROPOSE_CLEANUP, REPORT, RESTORE, card_command,
    contain_outcome, incident_card, plan, plan_blocked, plan_temporary, step_reply, step_title,
};
pub use notice::notice;
use notice::{cause, not_now};
pub use proposal::{
    APPROVE, REJECT, cleanup_already_pending, cleanup_not_proposed, cleanup_queued,
    cleanup_refused, click_result, proposal,
};
pub use reach::reach_reply;
pub use report::{KEY_AGE_DAYS, report_markdown};
pub use restore::{
    restore_at_key_limit, restore_busy, restore_done, restore_failed, restore_queued,
    restore_refused, restore_summary,
};
pub use room::{
    close_refused, closed, closed_note, dismissed, invite_failed, late_activity, report_comment,
    report_failed, report_queued, report_refused, report_shared, room_announcement, room_topic,
    room_unavailable,
};
pub use signal::signal_reply;
pub use terminal::for_terminal;

#[cfg(test)]
mod forensics_tests;
#[cfg(test)]
mod report_tests;
#[cfg(test)]
mod temporary_tests;
#[cfg(test)]
mod tests;
