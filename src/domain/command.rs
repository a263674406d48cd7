//! `/keyleak <verb> [args]` parsed into a typed command by one pure function.

use super::cleanup::{Target, TargetError, parse_target};
use super::ids::{AccessKeyId, IncidentId, KeyIdError, ProposalId};
use super::secrets;

/// A request a responder can make. Adding a variant forces a decision in every `match` on it
/// (permission, rendering) because none of those matches has a catch-all arm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Contain {
        key: AccessKeyId,
        reason: Option<String>,
    },
    Status {
        target: Option<StatusTarget>,
    },
    /// Propose removing what the attacker left (or, with no target, the leaked key).
    Cleanup {
        incident: IncidentId,
        target: Target,
    },
    /// Propose undoing containment: the key back to Active and the deny-all removed.
    Rollback {
        incident: IncidentId,
    },
    /// Forensics for an incident (or the open incident of a key), `days` back.
    Investigate {
        target: StatusTarget,
        days: Option<u32>,
    },
    /// Reject a pending proposal, with a reason.
    Reject {
        proposal: ProposalId,
        reason: Option<String>,
    },
    /// Write the post-incident report into the incident's thread (again: it replaces).
    Report {
        incident: IncidentId,
    },
    /// End the incident and its monitoring.
    Close {
        incident: IncidentId,
    },
    /// End an incident in triage without containment: a false positive, a honeytoken.
    Dismiss {
        incident: IncidentId,
        reason: String,
    },
    /// Recovery: a new key only when asked, and the deny-all lifted behind approval.
    Restore {
        incident: IncidentId,
        new_key: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusTarget {
    Key(AccessKeyId),
    Incident(IncidentId),
}

/// Every way a command line can be wrong. Rendered in exactly one place: `slack::messages`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandParseError {
    #[error("unknown command `{0}`")]
    UnknownVerb(String),
    #[error("bad key id: {0}")]
    BadKey(KeyIdError),
    #[error("`{0}` is neither a key id nor an incident id")]
    BadStatusTarget(String),
    #[error("`{verb}` needs an incident id (KL-…)")]
    NeedsIncident {
        verb: &'static str,
        got: Option<String>,
    },
    #[error("`dismiss` needs a reason after the incident id")]
    NeedsDismissReason,
    #[error("`reject` needs a proposal id (PR-…)")]
    NeedsProposal { got: Option<String> },
    #[error("`investigate` needs a key id or an incident id")]
    NeedsInvestigateTarget { got: Option<String> },
    #[error("`--since` takes a number of days from 1 to {MAX_DAYS}, like `7d`")]
    BadSince(String),
    #[error("bad cleanup target: {0}")]
    BadTarget(TargetError),
    #[error("`{verb}` takes {expected}")]
    TooManyArguments {
        verb: &'static str,
        expected: &'static str,
    },
}

/// The outcome of parsing: the command (or why not), and whether the text held something
/// shaped like a secret access key. Secrets are removed from everything kept here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub command: Result<Command, CommandParseError>,
    pub secret_pasted: bool,
}

/// How far back `investigate --since` may reach: ten years, for a CloudTrail archive.
pub const MAX_DAYS: u32 = 3650;
/// What CloudTrail's event history (LookupEvents) keeps, in days; older needs the archive.
pub const HISTORY_DAYS: u32 = 90;

/// The longest free-text reason kept, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Secrets are replaced in place before anything is looked at, so no part of one is kept,
/// echoed in an answer or logged, wherever in the text it stood.
pub fn parse(text: &str) -> Parsed {
    let clean = secrets::redact(text);
    let secret_pasted = clean.found;
    let tokens: Vec<&str> = clean.text.split_whitespace().collect();
    let command = match tokens.split_first() {
        None => Ok(Command::Help),
        Some((verb, args)) => parse_verb(verb, args, secret_pasted),
    };
    Parsed {
        command,
        secret_pasted,
    }
}

fn parse_verb(
    verb: &str,
    args: &[&str],
    secret_pasted: bool,
) -> Result<Command, CommandParseError> {
    match verb.to_ascii_lowercase().as_str() {
        "help" | "-h" | "--help" => Ok(Command::Help),
        "contain" => parse_contain(args, secret_pasted),
        "status" => parse_status(args),
        "cleanup" => {
            let (incident, rest) = incident_first("cleanup", args)?;
            let target = parse_target(rest).map_err(CommandParseError::BadTarget)?;
            Ok(Command::Cleanup { incident, target })
        }
        "rollback" => {
            only_incident("rollback", args).map(|incident| Command::Rollback { incident })
        }
        "report" => only_incident("report", args).map(|incident| Command::Report { incident }),
        "close" => only_incident("close", args).map(|incident| Command::Close { incident }),
        "restore" => match incident_first("restore", args)? {
            (incident, []) => Ok(Command::Restore {
                incident,
                new_key: false,
            }),
            (incident, [flag])
                if matches!(flag.to_ascii_lowercase().as_str(), "new-key" | "--new-key") =>
            {
                Ok(Command::Restore {
                    incident,
                    new_key: true,
                })
            }
            _ => Err(CommandParseError::TooManyArguments {
                verb: "restore",
                expected: "an incident id, and `new-key` when the user needs a new access key",
            }),
        },
        "reject" => parse_reject(args),
        "dismiss" => match incident_first("dismiss", args)? {
            (_, []) => Err(CommandParseError::NeedsDismissReason),
            (incident, reason) => Ok(Command::Dismiss {
                incident,
                reason: truncate(&reason.join(" "), MAX_REASON_CHARS),
            }),
        },
        "investigate" => parse_investigate(args),
        _ => Err(CommandParseError::UnknownVerb(truncate(verb, 40))),
    }
}

fn only_incident(verb: &'static str, args: &[&str]) -> Result<IncidentId, CommandParseError> {
    match incident_first(verb, args)? {
        (incident, []) => Ok(incident),
        _ => Err(CommandParseError::TooManyArguments {
            verb,
            expected: "only an incident id",
        }),
    }
}

fn parse_contain(args: &[&str], secret_pasted: bool) -> Result<Command, CommandParseError> {
    let Some((key, reason)) = args.split_first() else {
        let err = if secret_pasted {
            KeyIdError::LooksLikeSecret
        } else {
            KeyIdError::Missing
        };
        return Err(CommandParseError::BadKey(err));
    };
    if *key == secrets::REDACTED {
        return Err(CommandParseError::BadKey(KeyIdError::LooksLikeSecret));
    }
    let key = AccessKeyId::parse(key).map_err(CommandParseError::BadKey)?;
    let reason = reason.join(" ");
    let reason = (!reason.is_empty()).then(|| truncate(&reason, MAX_REASON_CHARS));
    Ok(Command::Contain { key, reason })
}

fn parse_status(args: &[&str]) -> Result<Command, CommandParseError> {
    match args {
        [] => Ok(Command::Status { target: None }),
        [one] => {
            let target = if let Ok(id) = IncidentId::parse(one) {
                StatusTarget::Incident(id)
            } else {
                match AccessKeyId::parse(one) {
                    Ok(key) => StatusTarget::Key(key),
                    Err(_) => return Err(CommandParseError::BadStatusTarget(truncate(one, 40))),
                }
            };
            Ok(Command::Status {
                target: Some(target),
            })
        }
        _ => Err(CommandParseError::TooManyArguments {
            verb: "status",
            expected: "at most one key id or incident id",
        }),
    }
}

fn parse_investigate(args: &[&str]) -> Result<Command, CommandParseError> {
    let mut target = None;
    let mut days = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let since = match arg.strip_prefix("--since") {
            Some("") => Some(rest.next().copied().unwrap_or("")),
            Some(v) => v.strip_prefix('='),
            None => None,
        };
        if let Some(v) = since {
            days = Some(parse_days(v)?);
        } else if target.is_none() {
            target = Some(if let Ok(id) = IncidentId::parse(arg) {
                StatusTarget::Incident(id)
            } else {
                let key = AccessKeyId::parse(arg).map_err(|_| {
                    CommandParseError::NeedsInvestigateTarget {
                        got: Some(truncate(arg, 40)),
                    }
                })?;
                StatusTarget::Key(key)
            });
        } else {
            return Err(CommandParseError::TooManyArguments {
                verb: "investigate",
                expected: "one key id or incident id, and optionally `--since 7d`",
            });
        }
    }
    let target = target.ok_or(CommandParseError::NeedsInvestigateTarget { got: None })?;
    Ok(Command::Investigate { target, days })
}

/// `7d`, `7` → 7 days.
fn parse_days(v: &str) -> Result<u32, CommandParseError> {
    let digits = v.strip_suffix(['d', 'D']).unwrap_or(v);
    match digits.parse::<u32>() {
        Ok(n @ 1..=MAX_DAYS) => Ok(n),
        _ => Err(CommandParseError::BadSince(truncate(v, 20))),
    }
}

fn incident_first<'a, 'b>(
    verb: &'static str,
    args: &'a [&'b str],
) -> Result<(IncidentId, &'a [&'b str]), CommandParseError> {
    let Some((first, rest)) = args.split_first() else {
        return Err(CommandParseError::NeedsIncident { verb, got: None });
    };
    let id = IncidentId::parse(first).map_err(|_| CommandParseError::NeedsIncident {
        verb,
        got: Some(truncate(first, 40)),
    })?;
    Ok((id, rest))
}

fn parse_reject(args: &[&str]) -> Result<Command, CommandParseError> {
    let Some((first, reason)) = args.split_first() else {
        return Err(CommandParseError::NeedsProposal { got: None });
    };
    let proposal = ProposalId::parse(first).map_err(|_| CommandParseError::NeedsProposal {
        got: Some(truncate(first, 40)),
    })?;
    let reason = reason.join(" ");
    let reason = (!reason.is_empty()).then(|| truncate(&reason, MAX_REASON_CHARS));
    Ok(Command::Reject { proposal, reason })
}

fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn key() -> AccessKeyId {
        AccessKeyId::parse("AKIAIOSFODNN7EXAMPLE").unwrap()
    }

    #[test]
    fn investigate_takes_a_key_or_an_incident_and_a_window() {
        let inc = IncidentId::parse("KL-00C0FFEE").unwrap();
        assert_eq!(
            parse("investigate KL-00C0FFEE").command,
            Ok(Command::Investigate {
                target: StatusTarget::Incident(inc.clone()),
                days: None
            })
        );
        for text in [
            "investigate KL-00C0FFEE --since 7d",
            "investigate --since=7d KL-00C0FFEE",
            "investigate KL-00C0FFEE --since 7",
        ] {
            assert_eq!(
                parse(text).command,
                Ok(Command::Investigate {
                    target: StatusTarget::Incident(inc.clone()),
                    days: Some(7)
                }),
                "{text}"
            );
        }
        assert_eq!(
            parse("investigate AKIAIOSFODNN7EXAMPLE").command,
            Ok(Command::Investigate {
                target: StatusTarget::Key(key()),
                days: None
            })
        );
    }

    #[test]
    fn investigate_refuses_what_it_cannot_use() {
        assert_eq!(
            parse("investigate").command,
            Err(CommandParseError::NeedsInvestigateTarget { got: None })
        );
        assert_eq!(
            parse("investigate AIDAJQABLZS4A3QDU576Q").command,
            Err(CommandParseError::NeedsInvestigateTarget {
                got: Some("AIDAJQABLZS4A3QDU576Q".into())
            })
        );
        for bad in ["0d", "3651d", "7w", "", "-3d"] {
            assert_eq!(
                parse(&format!("investigate KL-00C0FFEE --since {bad}")).command,
                Err(CommandParseError::BadSince(bad.into())),
                "{bad}"
            );
        }
        assert!(matches!(
            parse("investigate KL-00C0FFEE KL-00C0FFEE").command,
            Err(CommandParseError::TooManyArguments { .. })
        ));
    }
    #[test]
    fn empty_text_and_help_give_help() {
        assert_eq!(parse("").command, Ok(Command::Help));
        assert_eq!(parse("  HELP ").command, Ok(Command::Help));
    }

    #[test]
    fn contain_with_and_without_reason() {
        assert_eq!(
            parse("contain AKIAIOSFODNN7EXAMPLE").command,
            Ok(Command::Contain {
                key: key(),
                reason: None
            })
        );
        assert_eq!(
            parse("Contain  AKIAIOSFODNN7EXAMPLE  pushed to a public   repo").command,
            Ok(Command::Contain {
                key: key(),
                reason: Some("pushed to a public repo".into())
            })
        );
    }

    #[test]
    fn a_pasted_secret_is_flagged_and_replaced_wherever_it_stands() {
        for (pasted, kept) in [
            (
                format!("leaked with {SECRET} oops"),
                "leaked with [redacted] oops",
            ),
            (
                format!("aws_secret_access_key={SECRET}"),
                "aws_secret_access_key=[redacted]",
            ),
            (format!("in `{SECRET}`"), "in `[redacted]`"),
            (format!("in \"{SECRET}\""), "in \"[redacted]\""),
            (format!("it was {SECRET}."), "it was [redacted]."),
        ] {
            let p = parse(&format!("contain AKIAIOSFODNN7EXAMPLE {pasted}"));
            assert!(p.secret_pasted, "{pasted}");
            assert_eq!(
                p.command,
                Ok(Command::Contain {
                    key: key(),
                    reason: Some(kept.into())
                })
            );
            assert!(!format!("{p:?}").contains(&SECRET[..12]));
        }
        let p = parse(&format!("nuke={SECRET}"));
        assert!(p.secret_pasted);
        assert!(!format!("{p:?}").contains(&SECRET[..8]), "{p:?}");
    }

    #[test]
    fn a_secret_in_place_of_the_key_is_named_as_such() {
        let p = parse(&format!("contain {SECRET}"));
        assert!(p.secret_pasted);
        assert_eq!(
            p.command,
            Err(CommandParseError::BadKey(KeyIdError::LooksLikeSecret))
        );
    }

    #[test]
    fn bad_inputs_get_specific_errors() {
        assert_eq!(
            parse("contain").command,
            Err(CommandParseError::BadKey(KeyIdError::Missing))
        );
        assert_eq!(
            parse("contain akiaiosfodnn7example").command,
            Err(CommandParseError::BadKey(KeyIdError::Lowercase))
        );
        assert_eq!(
            parse("nuke everything").command,
            Err(CommandParseError::UnknownVerb("nuke".into()))
        );
        assert!(matches!(
            parse("status a b").command,
            Err(CommandParseError::TooManyArguments { .. })
        ));
        assert_eq!(
            parse("status nope").command,
            Err(CommandParseError::BadStatusTarget("nope".into()))
        );
    }

    #[test]
    fn status_targets() {
        assert_eq!(
            parse("status").command,
            Ok(Command::Status { target: None })
        );
        assert_eq!(
            parse("status KL-0000ABCD").command,
            Ok(Command::Status {
                target: Some(StatusTarget::Incident(
                    IncidentId::parse("KL-0000ABCD").unwrap()
                ))
            })
        );
        assert_eq!(
            parse("status AKIAIOSFODNN7EXAMPLE").command,
            Ok(Command::Status {
                target: Some(StatusTarget::Key(key()))
            })
        );
    }

    #[test]
    fn cleanup_rollback_and_reject() {
        let kl = IncidentId::parse("KL-0000ABCD").unwrap();
        assert_eq!(
            parse("cleanup kl-0000abcd").command,
            Ok(Command::Cleanup {
                incident: kl.clone(),
                target: Target::LeakedKey
            })
        );
        assert_eq!(
            parse("cleanup KL-0000ABCD delete-user backdoor").command,
            Ok(Command::Cleanup {
                incident: kl.clone(),
                target: Target::User {
                    user: "backdoor".into()
                }
            })
        );
        assert_eq!(
            parse("rollback KL-0000ABCD").command,
            Ok(Command::Rollback { incident: kl })
        );
        assert_eq!(
            parse("reject pr-00000000aa  breaks the build").command,
            Ok(Command::Reject {
                proposal: ProposalId::parse("PR-00000000AA").unwrap(),
                reason: Some("breaks the build".into())
            })
        );
        assert!(matches!(
            parse("cleanup AKIAIOSFODNN7EXAMPLE").command,
            Err(CommandParseError::NeedsIncident { got: Some(_), .. })
        ));
        assert!(matches!(
            parse("cleanup KL-0000ABCD delete-user").command,
            Err(CommandParseError::BadTarget(_))
        ));
        assert!(matches!(
            parse("reject").command,
            Err(CommandParseError::NeedsProposal { got: None })
        ));
    }

    #[test]
    fn report_close_and_restore_take_an_incident() {
        let kl = IncidentId::parse("KL-0000ABCD").unwrap();
        assert_eq!(
            parse("report kl-0000abcd").command,
            Ok(Command::Report {
                incident: kl.clone()
            })
        );
        assert_eq!(
            parse("CLOSE KL-0000ABCD").command,
            Ok(Command::Close { incident: kl })
        );
        assert!(matches!(
            parse("close").command,
            Err(CommandParseError::NeedsIncident {
                verb: "close",
                got: None
            })
        ));
        assert!(matches!(
            parse("report AKIAIOSFODNN7EXAMPLE").command,
            Err(CommandParseError::NeedsIncident {
                verb: "report",
                got: Some(_)
            })
        ));
        assert_eq!(
            parse("restore KL-0000ABCD --new-key").command,
            Ok(Command::Restore {
                incident: IncidentId::parse("KL-0000ABCD").unwrap(),
                new_key: true
            })
        );
        assert!(matches!(
            parse("restore KL-0000ABCD").command,
            Ok(Command::Restore { new_key: false, .. })
        ));
        assert!(matches!(
            parse("restore KL-0000ABCD everything").command,
            Err(CommandParseError::TooManyArguments {
                verb: "restore",
                ..
            })
        ));
        assert!(matches!(
            parse("close KL-0000ABCD now please").command,
            Err(CommandParseError::TooManyArguments { verb: "close", .. })
        ));
    }

    #[test]
    fn long_reasons_are_cut() {
        let long = "x ".repeat(1000);
        let Ok(Command::Contain {
            reason: Some(r), ..
        }) = parse(&format!("contain AKIAIOSFODNN7EXAMPLE {long}")).command
        else {
            panic!("expected a contain command");
        };
        assert_eq!(r.chars().count(), MAX_REASON_CHARS + 1);
    }
}
