//! The attacker's footprint in words: what can no longer be trusted, each technique seen
//! (with MITRE ATT&CK's id), and the secrets to rotate, in the forensics summary and the report.

use super::action::count;
use super::*;
use crate::domain::trail::findings::{Findings, Scope};
use crate::domain::trail::footprint::{Blinded, Exposed, Seen, ToRotate};

/// At most this many rows of one list in a Slack message; the report has them all.
const SHOWN: usize = 12;
/// Techniques are one short line each: more of them fit.
const TECHNIQUES_SHOWN: usize = 20;

fn exposed_label(e: Exposed) -> &'static str {
    match e {
        Exposed::Secret => "Secrets Manager secret",
        Exposed::Parameter => "SSM parameter (decrypted)",
        Exposed::ParameterPath => "every SSM parameter under a path (decrypted)",
        Exposed::WindowsPassword => "Windows administrator password of instance",
        Exposed::UserData => "user data of instance (scripts often hold credentials)",
    }
}

/// A heading and its first `shown` items, one per line, the rest counted; `None` when there
/// are none.
fn bulleted<T>(
    heading: &str,
    items: &[T],
    shown: usize,
    line: impl Fn(&T) -> String,
) -> Option<String> {
    if items.is_empty() {
        return None;
    }
    let mut lines: Vec<String> = items
        .iter()
        .take(shown)
        .map(|i| format!("• {}", line(i)))
        .collect();
    if items.len() > shown {
        lines.push(format!(
            "• and {} more: see the report",
            items.len() - shown
        ));
    }
    Some(format!("{heading}\n{}", lines.join("\n")))
}

/// The banner: what the attacker blinded and from when.
pub(super) fn cannot_trust(f: &Findings) -> Option<String> {
    bulleted(
        ":rotating_light: *Cannot trust:* the key blinded the account's logging or detection. \
         What these stopped recording from then on is missing here too, and their absence \
         proves nothing:",
        &f.footprint.blinded,
        SHOWN,
        |b: &Blinded| {
            format!(
                "{}: `{}` (account {}, `{}`) at {}",
                b.technique.name(),
                sanitize(&b.what),
                sanitize(&b.account),
                sanitize(&b.region),
                when(b.at)
            )
        },
    )
}

/// The techniques seen, most weighty tactic first.
pub(super) fn techniques(f: &Findings) -> Option<String> {
    bulleted(
        "*Techniques* (MITRE ATT&CK):",
        &by_tactic(f),
        TECHNIQUES_SHOWN,
        |s: &&Seen| {
            let targets: Vec<String> = s
                .targets
                .iter()
                .map(|t| format!("`{}`", cut(&sanitize(t), 120)))
                .collect();
            let on = if targets.is_empty() {
                String::new()
            } else {
                format!(": {}", targets.join(", "))
            };
            format!(
                "*{}* {} ({}) ×{}{on}",
                s.technique.tactics()[0].as_str(),
                s.technique.name(),
                s.technique.attack_id(),
                s.count
            )
        },
    )
}

/// The techniques ordered by their first tactic, then by when they were first seen.
fn by_tactic(f: &Findings) -> Vec<&Seen> {
    let mut seen: Vec<&Seen> = f.footprint.techniques.iter().collect();
    seen.sort_by_key(|s| (s.technique.tactics()[0], s.first));
    seen
}

/// The rotate list: every secret and parameter the key read.
pub(super) fn rotate(f: &Findings) -> Option<String> {
    bulleted(
        ":key: *Rotate these:* the key read them, so the attacker has their values:",
        &f.footprint.rotate,
        SHOWN,
        |r: &ToRotate| {
            format!(
                "{} `{}` (account {}, `{}`), first read {}",
                exposed_label(r.kind),
                sanitize(&r.name),
                sanitize(&r.account),
                sanitize(&r.region),
                when(r.first_read)
            )
        },
    )
}

/// What the records cannot show, said so that silence is not read as innocence.
pub(super) fn blind_spots(f: &Findings) -> String {
    let mut lines = vec![format!(
        "• anything before {}, where the search began",
        when(f.since)
    )];
    lines.push(match (&f.archive, f.scope) {
        (None, Scope::Aws) => "• data events (S3 object reads and writes, Lambda invocations, …): \
            LookupEvents never returns them; `KEYLEAK_CLOUDTRAIL_ARCHIVE` reads the trail's files, \
            where they are if the trail records them"
            .to_string(),
        (Some(_), _) | (None, Scope::LocalCopy) => "• data events the trail was not set to record \
            (S3 object reads and writes, Lambda invocations, …)"
            .to_string(),
    });
    lines.push(
        "• Bedrock short-term API keys made from the key: they are signed where they are made, \
         with no CloudTrail event (the model calls made with them are logged as the user's)"
            .into(),
    );
    lines.push(
        "• email sent through SES's SMTP interface: CloudTrail does not log it (SES's sending \
         statistics count it)"
            .into(),
    );
    if let Some(a) = f.archive.as_ref().filter(|a| a.aggregated > 0) {
        lines.push(format!(
            "• the calls behind the archive's {}: CloudTrail summarised those data events \
             in five-minute windows instead of recording each call, so none can be told to be \
             the key's",
            count(a.aggregated, "aggregated record", "aggregated records")
        ));
    }
    if !f.failures.is_empty() {
        lines.push(format!(
            "• the {} region lookup(s) that could not be read, named above",
            f.failures.len()
        ));
    }
    format!("*What these records cannot show:*\n{}", lines.join("\n"))
}

/// The report's sections: what cannot be trusted, the techniques, the rotate list.
pub(super) fn report(md: &mut String, f: &Findings) {
    use super::report::{cell, table_head};
    use std::fmt::Write as _;
    let fp = &f.footprint;
    if !fp.blinded.is_empty() {
        let _ = writeln!(
            md,
            "\n## Cannot trust\n\nThe key blinded the account's logging or detection. What \
             these stopped recording from then on is missing from this report too, and its \
             absence proves nothing.\n"
        );
        table_head(md, &["how", "what", "account", "region", "from"]);
        for b in &fp.blinded {
            let _ = writeln!(
                md,
                "| {} | `{}` | {} | {} | {} |",
                b.technique.name(),
                cell(&b.what),
                cell(&b.account),
                cell(&b.region),
                when(b.at)
            );
        }
    }
    if !fp.techniques.is_empty() {
        let _ = writeln!(md, "\n## Techniques (MITRE ATT&CK)\n");
        table_head(md, &["tactics", "technique", "ATT&CK", "events", "on"]);
        for s in by_tactic(f) {
            let tactics: Vec<&str> = s.technique.tactics().iter().map(|t| t.as_str()).collect();
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                tactics.join(", "),
                s.technique.name(),
                s.technique.attack_id(),
                s.count,
                cell(&s.targets.join(", "))
            );
        }
    }
    if !fp.rotate.is_empty() {
        let _ = writeln!(
            md,
            "\n## Rotate these\n\nThe key read them: the attacker has their values.\n"
        );
        table_head(md, &["what", "name", "account", "region", "first read"]);
        for r in &fp.rotate {
            let _ = writeln!(
                md,
                "| {} | `{}` | {} | {} | {} |",
                exposed_label(r.kind),
                cell(&r.name),
                cell(&r.account),
                cell(&r.region),
                when(r.first_read)
            );
        }
    }
}

/// A follow-up for each secret to rotate and each blinded control to restore.
pub(super) fn follow_ups(md: &mut String, f: &Findings) {
    use super::report::cell;
    use std::fmt::Write as _;
    for r in &f.footprint.rotate {
        let _ = writeln!(
            md,
            "- [ ] Rotate the {} `{}` ({}, {}): read by the key at {}",
            exposed_label(r.kind),
            cell(&r.name),
            cell(&r.account),
            cell(&r.region),
            when(r.first_read)
        );
    }
    for b in &f.footprint.blinded {
        let _ = writeln!(
            md,
            "- [ ] Restore what was blinded: {} `{}` ({}, {}) at {}",
            b.technique.name(),
            cell(&b.what),
            cell(&b.account),
            cell(&b.region),
            when(b.at)
        );
    }
}
