//! Signals as people read them: the sources that told keyleak about a key, on the card and
//! in the thread, and in the channel when no incident can hold one.

use super::*;
use crate::domain::ids::AccountId;
use crate::domain::signal::{Signal, Source, Strength};

/// At most this many signals are listed on the card; the rest are counted.
const LISTED: usize = 8;

pub(super) fn source_name(s: Source) -> &'static str {
    match s {
        Source::AwsHealth => "AWS Health",
        Source::GuardDuty => "GuardDuty",
        Source::Quarantine => "AWS quarantine policy",
        Source::GitHub => "GitHub secret scanning",
    }
}

/// One line per signal: where from, what it says, when it arrived.
pub(super) fn evidence(signals: &[Signal]) -> String {
    let mut lines = vec!["*Signals:*".to_string()];
    for s in signals.iter().take(LISTED) {
        lines.push(format!("• {}", line(s)));
    }
    if signals.len() > LISTED {
        lines.push(format!(
            "…and {} more, listed in the report.",
            signals.len() - LISTED
        ));
    }
    lines.join("\n")
}

fn line(s: &Signal) -> String {
    let strength = match s.strength {
        Strength::Confirmed => "",
        Strength::Suspected => " (suspected)",
    };
    let mut out = format!(
        "{} `{}`{strength}",
        source_name(s.source),
        sanitize(&s.kind)
    );
    if let Some(sev) = s.severity {
        out.push_str(&format!(", severity {sev:.1}"));
    }
    for (label, value) in &s.evidence {
        out.push_str(&format!(", {}: {}", sanitize(label), sanitize(value)));
    }
    if let Some(t) = s.exposed_at {
        out.push_str(&format!(", exposed {}", when(t)));
    }
    out.push_str(&format!(" — arrived {}", when(s.received_at)));
    out
}

/// A signal's own reply in the thread: everything it carried, as evidence. `number` counts
/// from 1 in arrival order; a later one says that it joined the incident rather than opened it.
pub fn signal_reply(i: &Incident, s: &Signal, number: usize) -> Reply {
    let what = if number == 1 {
        format!(
            ":satellite_antenna: *{}* reported `{}`",
            source_name(s.source),
            i.key
        )
    } else {
        format!(
            ":satellite_antenna: *{}* also reported `{}` (signal {number}): it joins this incident \
             and starts nothing twice",
            source_name(s.source),
            i.key
        )
    };
    let mut lines = vec![what, format!("• {}", line(s))];
    if let Some(a) = &s.account {
        lines.push(format!("• Account `{a}`"));
    }
    if let Some(u) = &s.user {
        lines.push(format!("• IAM user `{}`", sanitize(u)));
    }
    lines.push(format!("• Reference: {}", sanitize(&s.reference)));
    let body = lines.join("\n");
    let meta = format!(
        "Signal {number} · arrived {} · delivery `{}`",
        when(s.received_at),
        sanitize(&s.delivery)
    );
    Reply {
        text: line(s),
        blocks: vec![section(&body), context(&meta)],
    }
}

/// A signal no incident holds: said in the announcement channel, with who must act and how.
pub(super) fn not_acted_on(
    source: Source,
    about: &str,
    account: Option<&AccountId>,
    cause: &str,
) -> Reply {
    let head = format!(
        ":warning: *{}* reported an exposed AWS key ({}), and keyleak *could not act on it*: {}. \
         Nobody is containing this key yet.",
        source_name(source),
        sanitize(about),
        sanitize(cause)
    );
    let todo = match (source, account) {
        (Source::GitHub, _) => "*Do now:* open the alert to read the key id and run \
             `/keyleak contain <key id>`. Once the token is fixed, GitHub can send the webhook \
             again (the repository's or organization's webhook settings → Recent Deliveries → \
             Redeliver)."
            .to_string(),
        (_, Some(a)) => format!(
            "*Do now*, as someone who can sign in to account `{a}`: deactivate the user's \
             access keys (`aws iam list-access-keys --user-name <user>`, then `aws iam \
             update-access-key … --status Inactive`), or give keyleak its responder role there \
             and run `/keyleak contain <key id>`."
        ),
        (_, None) => "*Do now:* find the key id in the sender's console and run \
             `/keyleak contain <key id>`."
            .to_string(),
    };
    Reply::plain(format!("{head}\n{todo}"))
}
