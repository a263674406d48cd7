//! What the key could do: the card's verdict line, the thread reply that lists every action
//! simulated and the services Access Advisor reports, and the report's section.

use super::*;
use crate::domain::reach::{
    ActionVerdict, Capability, Decision, Known, LeftOut, Omission, PolicySource, Reach, ServiceUse,
    Verdict,
};

/// At most this many services are named; the rest are counted.
const SERVICES_NAMED: usize = 15;

fn capability_label(c: Capability) -> &'static str {
    match c {
        Capability::Escalate => "admin-equivalent",
        Capability::Credentials => "can create credentials",
        Capability::Logging => "can change logging",
        Capability::ReadData => "can read data",
        Capability::Expose => "can share or open resources",
        Capability::Compute => "can run code and spend",
        Capability::Destroy => "can delete data",
    }
}

/// What the allowed actions let the key do, most severe first.
fn labels(r: &Reach) -> Vec<&'static str> {
    r.capabilities().into_iter().map(capability_label).collect()
}

fn capability_title(c: Capability) -> &'static str {
    match c {
        Capability::Escalate => "Admin-equivalent: it can grant itself any permission",
        Capability::Credentials => "Credentials that outlive the key",
        Capability::Logging => "Logging and detection",
        Capability::ReadData => "Secrets and data",
        Capability::Expose => "Sharing and exposure",
        Capability::Compute => "Code, compute and spending",
        Capability::Destroy => "Deletion",
    }
}

fn verdict_mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Can(Capability::Escalate | Capability::Credentials | Capability::Logging) => {
            ":red_circle:"
        }
        Verdict::Can(_) => ":large_orange_circle:",
        Verdict::ReadOnly => ":large_green_circle:",
    }
}

/// The card's line: the verdict at a glance, and where the list is.
pub(super) fn card_line(r: &Reach) -> String {
    let Some(verdict) = r.verdict() else {
        let why = match &r.actions {
            Known::Unknown { why } => sanitize(why),
            Known::Known(_) => String::new(),
        };
        return format!(
            "*What it could do:* :grey_question: unknown — IAM's policy simulator did not answer \
             ({why})"
        );
    };
    let total = match &r.actions {
        Known::Known(v) => v.len(),
        Known::Unknown { .. } => 0,
    };
    let allowed = r.allowed().len();
    let head = match verdict {
        Verdict::Can(_) => labels(r).join(" · "),
        Verdict::ReadOnly => "read-only for every high-risk action checked".into(),
    };
    let conditional = match r.conditional().len() {
        0 => String::new(),
        n => format!(", {n} more under conditions"),
    };
    format!(
        "*What it could do:* {} *{head}* — {allowed} of {total} high-risk actions allowed\
         {conditional}, by its policies before any change (the list is in the thread)",
        verdict_mark(verdict)
    )
}

/// The thread reply: every allowed or conditional action under what it lets the key do, the
/// policies that decided it, what was left out, and the services the user called.
pub fn reach_reply(i: &Incident, r: &Reach) -> Reply {
    let mut blocks = vec![section(&format!(
        ":mag: *What `{}` could do*, by IAM's policy simulator over `{}`'s policies as they were \
         before any change",
        i.key,
        sanitize(i.user_name.as_deref().unwrap_or("its user"))
    ))];
    match &r.actions {
        Known::Known(verdicts) => {
            blocks.extend(actions_sections(r, verdicts).iter().map(|t| section(t)));
        }
        Known::Unknown { why } => blocks.push(section(&format!(
            ":grey_question: Unknown: IAM's policy simulator did not answer ({}). Check the \
             user's policies in the IAM console before deciding it is harmless.",
            sanitize(why)
        ))),
    }
    blocks.push(section(&services_text(&r.services)));
    blocks.push(context(&evaluated(r)));
    Reply {
        text: card_line(r),
        blocks,
    }
}

/// One section per capability that anything allows, then what is denied outright: each
/// section lists the allowed actions grouped by the policies that allow them.
fn actions_sections(r: &Reach, verdicts: &[ActionVerdict]) -> Vec<String> {
    let mut sections = Vec::new();
    if r.allowed().is_empty() && r.conditional().is_empty() {
        sections.push(format!(
            ":large_green_circle: None of the {} high-risk actions is allowed.",
            verdicts.len()
        ));
    }
    for c in Capability::ALL {
        let of_c: Vec<&ActionVerdict> = verdicts
            .iter()
            .filter(|v| crate::domain::reach::capability_of(&v.action) == Some(c))
            .collect();
        let mut lines = Vec::new();
        let allowed: Vec<&ActionVerdict> = of_c
            .iter()
            .copied()
            .filter(|v| v.decision == Decision::Allowed)
            .collect();
        let mut groups: Vec<(&[String], Vec<&str>)> = Vec::new();
        for v in &allowed {
            match groups
                .iter_mut()
                .find(|(by, _)| *by == v.decided_by.as_slice())
            {
                Some((_, actions)) => actions.push(&v.action),
                None => groups.push((&v.decided_by, vec![&v.action])),
            }
        }
        for (decided_by, actions) in groups {
            let names: Vec<String> = actions.iter().map(|a| format!("`{a}`")).collect();
            lines.push(format!(
                "• :white_check_mark: {}{}",
                names.join(", "),
                by(decided_by)
            ));
        }
        for v in &of_c {
            if let Decision::Conditional { keys } = &v.decision {
                let keys: Vec<String> = keys.iter().map(|k| format!("`{}`", sanitize(k))).collect();
                lines.push(format!(
                    "• :large_yellow_circle: `{}` if its conditions on {} hold",
                    v.action,
                    keys.join(", ")
                ));
            }
        }
        if !lines.is_empty() {
            sections.push(format!("*{}*\n{}", capability_title(c), lines.join("\n")));
        }
    }
    let denied: Vec<String> = verdicts
        .iter()
        .filter(|v| v.decision == Decision::ExplicitDeny)
        .map(|v| format!("`{}`", v.action))
        .collect();
    let not_granted = verdicts
        .iter()
        .filter(|v| v.decision == Decision::ImplicitDeny)
        .count();
    let mut last = Vec::new();
    if !denied.is_empty() {
        last.push(format!(
            "*Denied by a Deny statement:* {}",
            denied.join(", ")
        ));
    }
    last.push(format!(
        "Granted by no policy: {not_granted} of the {}.",
        verdicts.len()
    ));
    sections.push(last.join("\n"));
    sections
}

fn by(decided_by: &[String]) -> String {
    if decided_by.is_empty() {
        return String::new();
    }
    let names: Vec<String> = decided_by.iter().map(|p| sanitize(p)).collect();
    format!(" — {}", names.join(", "))
}

fn services_text(services: &Known<Vec<ServiceUse>>) -> String {
    let list = match services {
        Known::Unknown { why } => {
            return format!(
                "*Services it called* (IAM Access Advisor): unknown ({})",
                sanitize(why)
            );
        }
        Known::Known(list) => list,
    };
    let mut used: Vec<&ServiceUse> = list
        .iter()
        .filter(|s| s.last_authenticated.is_some())
        .collect();
    used.sort_by_key(|s| std::cmp::Reverse(s.last_authenticated));
    let never = list.len() - used.len();
    let mut lines = vec![
        "*Services it called* (IAM Access Advisor, last 400 days, most recent first; the \
         attacker's calls count too, denied ones included, and the last four hours may not show \
         yet):"
            .to_string(),
    ];
    if used.is_empty() {
        lines.push("• none".into());
    }
    for s in used.iter().take(SERVICES_NAMED) {
        let region = s
            .region
            .as_deref()
            .map(|r| format!(" in `{}`", sanitize(r)))
            .unwrap_or_default();
        let at = s.last_authenticated.map(when).unwrap_or_default();
        lines.push(format!(
            "• `{}` ({}) — {at}{region}",
            sanitize(&s.namespace),
            sanitize(&s.name)
        ));
    }
    if used.len() > SERVICES_NAMED {
        lines.push(format!("• and {} more", used.len() - SERVICES_NAMED));
    }
    if never > 0 {
        lines.push(format!(
            "{never} more service(s) its policies allow were never called."
        ));
    }
    lines.join("\n")
}

fn source_text(s: &PolicySource) -> String {
    let kind = match s {
        PolicySource::Inline { .. } => "inline",
        PolicySource::Managed { .. } => "managed",
        PolicySource::GroupInline { .. } => "group inline",
        PolicySource::GroupManaged { .. } => "group managed",
    };
    format!("`{}` ({kind})", sanitize(&s.label()))
}

fn left_out_text(l: &LeftOut) -> String {
    let why = match l.why {
        Omission::AwsQuarantine => "AWS's quarantine, which came after the leak",
        Omission::Gone => "no longer in IAM",
    };
    format!("`{}` ({why})", sanitize(&l.policy))
}

/// What was evaluated, and what the simulator cannot see.
fn evaluated(r: &Reach) -> String {
    let policies: Vec<String> = r.policies.iter().map(source_text).collect();
    let mut parts = vec![format!(
        "Evaluated: {}",
        if policies.is_empty() {
            "no policy".to_string()
        } else {
            policies.join(", ")
        }
    )];
    if let Some(b) = &r.boundary {
        parts.push(format!(
            "capped by the permissions boundary `{}`",
            sanitize(b)
        ));
    }
    if !r.left_out.is_empty() {
        let left: Vec<String> = r.left_out.iter().map(left_out_text).collect();
        parts.push(format!("left out: {}", left.join(", ")));
    }
    parts.push(
        "not counted: service control policies, resource policies (a bucket or key policy may \
         grant more) and conditions the simulator cannot know"
            .into(),
    );
    format!("{} · assessed {}", parts.join(" · "), when(r.assessed_at))
}

/// The report's section: the verdict, every action a policy decides, and what was evaluated.
pub(super) fn report(md: &mut String, r: &Reach) {
    use super::report::{cell, table_head};
    use std::fmt::Write as _;
    let _ = writeln!(md, "\n## What the key could do\n");
    match &r.actions {
        Known::Known(verdicts) => {
            let verdict = match r.verdict() {
                Some(Verdict::Can(_)) => labels(r).join(", "),
                Some(Verdict::ReadOnly) | None => {
                    "read-only for every high-risk action checked".into()
                }
            };
            let _ = writeln!(md, "Verdict: **{verdict}**.\n");
            table_head(md, &["action", "what it allows", "decision", "decided by"]);
            for v in verdicts {
                let decision = match &v.decision {
                    Decision::Allowed => "allowed".to_string(),
                    Decision::ExplicitDeny => "denied by a Deny statement".to_string(),
                    Decision::Conditional { keys } => {
                        format!("if conditions on {} hold", keys.join(", "))
                    }
                    Decision::ImplicitDeny => continue,
                };
                let what = crate::domain::reach::capability_of(&v.action)
                    .map(capability_label)
                    .unwrap_or_default();
                let _ = writeln!(
                    md,
                    "| `{}` | {what} | {} | {} |",
                    cell(&v.action),
                    cell(&decision),
                    cell(&v.decided_by.join(", "))
                );
            }
            let rest = verdicts
                .iter()
                .filter(|v| v.decision == Decision::ImplicitDeny)
                .count();
            let _ = writeln!(
                md,
                "\n{rest} more of the {} high-risk actions are granted by no policy.",
                verdicts.len()
            );
        }
        Known::Unknown { why } => {
            let _ = writeln!(
                md,
                "Unknown: IAM's policy simulator did not answer ({}).",
                cell(why)
            );
        }
    }
    let _ = writeln!(md, "\n{}", evaluated(r));
}
