//! The words for what the engine tells people (its notices), for its typed causes of
//! failure, and for a verb the table refuses now.

use super::*;
use crate::domain::answer::{Cause, Notice};
use crate::domain::ids::IncidentId;
use crate::domain::verbs::{Disallowed, NotNow, Verb};

/// A verb the table refuses in the incident's state, in words.
pub(super) fn not_now(id: &IncidentId, d: &Disallowed) -> String {
    let status = format!("`/keyleak status {id}` shows where it stands.");
    match d.why {
        NotNow::Containing => format!(
            "*{id}* is still being contained; {} once containment has finished. {status}",
            match d.verb {
                Verb::Contain => "nothing more is needed to contain it",
                Verb::Dismiss => "it can be closed, not dismissed,",
                Verb::Investigate => "forensics starts by itself",
                Verb::Cleanup => "propose cleanup",
                Verb::Restore => "restore",
                Verb::Report => "ask for the report",
                Verb::Close => "close it",
            }
        ),
        NotNow::Closed => match d.verb {
            Verb::Close | Verb::Dismiss => format!("*{id}* is already closed. Nothing changed."),
            Verb::Contain | Verb::Investigate | Verb::Cleanup | Verb::Restore | Verb::Report => {
                format!(
                    "*{id}* is closed: nothing more is changed for it. If the key is still a \
                     problem, `/keyleak contain` it again: that opens a new incident."
                )
            }
        },
        NotNow::Undecided => format!(
            "*{id}* is in triage: its key has not been contained. Press *Contain* on its card \
             (or `/keyleak contain` the key), or dismiss it with `/keyleak dismiss {id} <reason>`. \
             Nothing was changed."
        ),
        NotNow::Decided => format!(
            "*{id}* is no longer in triage (its state: {}): containment has started, so it is \
             closed, not dismissed. Nothing was changed. {status}",
            state_label(d.state)
        ),
        NotNow::NotContained => format!(
            "*{id}* is not contained (its state: {}), and restore would undo an unfinished \
             response. Nothing was changed. {status}",
            state_label(d.state)
        ),
        NotNow::TemporaryKey => format!(
            "*{id}* is about a temporary key, which expires by itself: there is no key of its \
             own to restore. Nothing was changed."
        ),
    }
}

/// A failure's cause in plain words; the log has the chain.
pub(super) fn cause(c: &Cause) -> String {
    match c {
        Cause::Aws(words) => format!("AWS answered: {}", sanitize(&cut(words, 400))),
        Cause::Slack(code) => format!("Slack answered `{}`", sanitize(&cut(code, 80))),
        Cause::Store => "keyleak's database could not be read or written".into(),
        Cause::Internal => "an internal error (the log has the details)".into(),
    }
}

/// What the engine tells people, in words.
pub fn notice(n: &Notice) -> Reply {
    match n {
        Notice::InvestigationProgress { incident, progress } => {
            investigation_progress(incident, progress)
        }
        Notice::InvestigationFailed { incident, cause } => investigation_failed(incident, cause),
        Notice::SignalNotActedOn {
            source,
            about,
            account,
            cause,
        } => super::signal::not_acted_on(*source, about, account.as_ref(), cause),
        Notice::InvestigationSummary { about, findings } => investigation_summary(about, findings),
        Notice::Timeline { incident, events } => Reply::plain(timeline_comment(incident, *events)),
        Notice::RestoreFailed { incident, cause } => restore_failed(incident, cause),
        Notice::RestoreSummary { incident, outcome } => restore_summary(incident, outcome),
        Notice::RestoreDone { incident, outcome } => restore_done(incident, outcome),
        Notice::RestoreBusy { incident } => restore_busy(incident),
        Notice::RestoreAtKeyLimit {
            incident,
            leaked_key_there,
        } => restore_at_key_limit(incident, *leaked_key_there),
        Notice::Closed {
            incident,
            by,
            report,
            dismissed,
        } => closed_note(
            incident,
            by.as_ref(),
            report.as_deref(),
            dismissed.as_deref(),
        ),
        Notice::CleanupNotProposed { incident, problem } => cleanup_not_proposed(incident, problem),
        Notice::CleanupAlreadyPending {
            incident,
            action,
            pending,
        } => cleanup_already_pending(incident, action, pending),
        Notice::ReportFailed { incident, cause } => report_failed(incident, cause),
        Notice::ReportShared { incident } => report_shared(incident),
        Notice::RoomUnavailable { slack_error } => room_unavailable(slack_error),
        Notice::InviteFailed { users, slack_error } => invite_failed(users, slack_error),
        Notice::LateActivity {
            incident,
            events,
            mention,
        } => late_activity(incident, events, mention),
        Notice::JobAbandoned {
            incident,
            kind,
            attempts,
        } => job_abandoned(incident, *kind, *attempts),
    }
}
