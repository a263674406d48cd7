//! Signals as people read them: the sources that told keyleak about a key, on the card.

use super::*;
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
