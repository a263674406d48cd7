//! Which verb a person may use on an incident, in which state, for which kind of key: the
//! one table that the engine's submissions and the incident card's buttons both read.

use crate::domain::ids::KeyKind;
use crate::domain::incident::IncidentState;

/// What a person can ask of an existing incident (besides its status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Start (or retry) containment of an incident's key.
    Contain,
    /// End a triage incident without containment, with a reason.
    Dismiss,
    Investigate,
    /// Cleanup and rollback proposals.
    Cleanup,
    Restore,
    Report,
    Close,
}

impl Verb {
    pub const ALL: [Verb; 7] = [
        Verb::Contain,
        Verb::Dismiss,
        Verb::Investigate,
        Verb::Cleanup,
        Verb::Restore,
        Verb::Report,
        Verb::Close,
    ];
}

/// Why a verb is refused in the incident's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotNow {
    /// Containment is still running; what it finds and does comes first.
    Containing,
    /// The incident is over: nothing more is changed for it.
    Closed,
    /// Only a contained incident is restored: anything else would undo an unfinished response.
    NotContained,
    /// A temporary key has no IAM user of its own to restore.
    TemporaryKey,
    /// The incident is in triage: someone must contain or dismiss it first.
    Undecided,
    /// Containment has started: the incident is no longer in triage.
    Decided,
}

/// A refusal by the table, with what was asked and where the incident stood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disallowed {
    pub verb: Verb,
    pub state: IncidentState,
    pub why: NotNow,
}

/// The table. Every verb and every state is named: a new one must be decided here.
pub fn allowed(verb: Verb, state: IncidentState, key: KeyKind) -> Result<(), Disallowed> {
    use IncidentState as S;
    let why = match (verb, state) {
        (
            Verb::Contain
            | Verb::Dismiss
            | Verb::Investigate
            | Verb::Cleanup
            | Verb::Restore
            | Verb::Report
            | Verb::Close,
            S::Containing,
        ) => NotNow::Containing,
        (Verb::Contain, S::Triage | S::Failed) => return Ok(()),
        (Verb::Contain | Verb::Dismiss, S::Contained | S::Escalated) => NotNow::Decided,
        (Verb::Dismiss, S::Failed) => NotNow::Decided,
        (Verb::Dismiss, S::Triage) => return Ok(()),
        (Verb::Contain | Verb::Dismiss, S::Closed) => NotNow::Closed,
        (
            Verb::Investigate | Verb::Report,
            S::Triage | S::Contained | S::Escalated | S::Failed | S::Closed,
        ) => {
            return Ok(());
        }
        (Verb::Cleanup | Verb::Close, S::Triage) => NotNow::Undecided,
        (Verb::Cleanup | Verb::Close, S::Contained | S::Escalated | S::Failed) => return Ok(()),
        (Verb::Cleanup | Verb::Close, S::Closed) => NotNow::Closed,
        (Verb::Restore, S::Contained) => match key {
            KeyKind::LongTerm => return Ok(()),
            KeyKind::Temporary => NotNow::TemporaryKey,
        },
        (Verb::Restore, S::Triage | S::Escalated | S::Failed | S::Closed) => NotNow::NotContained,
    };
    Err(Disallowed { verb, state, why })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATES: [IncidentState; 6] = [
        IncidentState::Triage,
        IncidentState::Containing,
        IncidentState::Contained,
        IncidentState::Escalated,
        IncidentState::Failed,
        IncidentState::Closed,
    ];

    #[test]
    fn the_table_in_words() {
        let mut lines = vec![];
        for key in [KeyKind::LongTerm, KeyKind::Temporary] {
            for state in STATES {
                let open: Vec<String> = Verb::ALL
                    .iter()
                    .filter(|v| allowed(**v, state, key).is_ok())
                    .map(|v| format!("{v:?}"))
                    .collect();
                lines.push(format!("{key:?} {state:?}: {}", open.join(", ")));
            }
        }
        assert_eq!(
            lines,
            [
                "LongTerm Triage: Contain, Dismiss, Investigate, Report",
                "LongTerm Containing: ",
                "LongTerm Contained: Investigate, Cleanup, Restore, Report, Close",
                "LongTerm Escalated: Investigate, Cleanup, Report, Close",
                "LongTerm Failed: Contain, Investigate, Cleanup, Report, Close",
                "LongTerm Closed: Investigate, Report",
                "Temporary Triage: Contain, Dismiss, Investigate, Report",
                "Temporary Containing: ",
                "Temporary Contained: Investigate, Cleanup, Report, Close",
                "Temporary Escalated: Investigate, Cleanup, Report, Close",
                "Temporary Failed: Contain, Investigate, Cleanup, Report, Close",
                "Temporary Closed: Investigate, Report",
            ]
        );
    }
}
