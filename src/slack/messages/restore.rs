//! Restore's words: the answer to the command, the summary in the thread, and the refusals.

use super::*;
use crate::domain::answer::{Cause, RestoreOutcome, RestoreRefusal};
use crate::domain::ids::IncidentId;
use crate::domain::restore::KEYS_PER_USER;
use crate::domain::trail::summary::Summary;

/// Places listed by name before the rest are counted.
const PLACES_MAX: usize = 10;

pub fn restore_queued(i: &Incident, new_key: bool) -> Reply {
    let key = if new_key {
        "creating one new access key, handed over through Secrets Manager, and "
    } else {
        ""
    };
    let hint = if new_key {
        String::new()
    } else {
        format!(
            " If the user needs a new key, run `/keyleak restore {} new-key`.",
            i.id
        )
    };
    Reply::plain(format!(
        ":arrows_counterclockwise: Restoring *{}*: {key}proposing to lift the deny-all (an approver \
         must approve). The session fence stays. Progress goes to the incident's thread.{hint}",
        i.id
    ))
}

pub fn restore_refused(id: &IncidentId, r: &RestoreRefusal) -> Reply {
    Reply::plain(match r {
        RestoreRefusal::NoSuchIncident => format!("There is no incident `{id}`."),
        RestoreRefusal::NotNow(d) => not_now(id, d),
        RestoreRefusal::NoUser => format!(
            "*{id}* has no IAM user to restore (a root or temporary key). Nothing was changed."
        ),
    })
}

pub fn restore_busy(i: &Incident) -> Reply {
    Reply::plain(format!(
        ":hourglass_flowing_sand: A restore of *{}* is already creating its key; it runs once. \
         Its result will be in the incident's thread.",
        i.id
    ))
}

/// The user already holds IAM's two keys: nothing was created.
pub fn restore_at_key_limit(i: &Incident, leaked_key_there: bool) -> Reply {
    let user = i.user_name.as_deref().map(sanitize).unwrap_or_default();
    let next = if leaked_key_there {
        format!(
            "A proposal to delete the leaked key `{}` is posted in the incident's thread; once an \
             approver has approved it, run `/keyleak restore {} new-key` again.",
            i.key, i.id
        )
    } else {
        format!(
            "Neither is the leaked key: delete one with `/keyleak cleanup {} delete-key <KEY>` and \
             run restore again.",
            i.id
        )
    };
    Reply::plain(format!(
        ":no_entry_sign: `{user}` already has {KEYS_PER_USER} access keys, IAM's limit, so no new key \
         was created and nothing was deleted. {next}"
    ))
}

pub fn restore_done(i: &Incident, o: &RestoreOutcome) -> Reply {
    let key = match &o.handover {
        Some(h) => format!(
            " New key `{}` is in secret `{}`, readable only by the user.",
            h.key_id, h.secret_arn
        ),
        None => String::new(),
    };
    Reply::plain(format!(
        ":arrows_counterclockwise: Restore of *{}* is in its thread.{key}",
        i.id
    ))
}

/// The restore's account in the incident thread.
pub fn restore_summary(i: &Incident, o: &RestoreOutcome) -> Reply {
    let user = i.user_name.as_deref().map(sanitize).unwrap_or_default();
    let mut lines = vec![format!(":arrows_counterclockwise: *Restore of {}*", i.id)];
    if let Some(h) = &o.handover {
        lines.push(format!(
            "• New access key `{}` for `{user}`, stored in Secrets Manager secret `{}`. Its resource \
             policy lets only `{user}` read it; the key itself is never posted or kept by keyleak.",
            h.key_id, h.secret_arn
        ));
        lines.push(match &h.verified {
            Ok(arn) => format!(
                "• Verified: `sts:GetCallerIdentity` with the new key answered as `{}`.",
                sanitize(arn)
            ),
            Err(why) => format!(
                "• :warning: Not verified: `sts:GetCallerIdentity` with the new key failed ({}).",
                sanitize(why)
            ),
        });
    }
    lines.push(if o.lift_proposed {
        "• Lifting the deny-all is proposed below; it needs an approver. Until then the user can do nothing, \
         including reading the secret."
            .to_string()
    } else {
        "• A proposal to lift the deny-all is already open in this thread.".to_string()
    });
    lines.push(format!(
        "• The session fence stays: sessions issued before {} remain denied.",
        when(i.fence_time)
    ));
    lines.push(places(&places_text(&o.places)));
    Reply::plain(lines.join("\n"))
}

/// Source IPs and user agents the old key was seen from, busiest first.
fn places_text(seen: &Summary) -> Vec<String> {
    let ips = seen
        .source_ips
        .iter()
        .map(|t| format!("from `{}` ({})", sanitize(&t.value), calls(t.count)));
    let agents = seen.user_agents.iter().map(|t| {
        format!(
            "as `{}` ({})",
            sanitize(&cut_middle(&t.value, 60)),
            calls(t.count)
        )
    });
    ips.chain(agents).collect()
}

fn calls(n: usize) -> String {
    if n == 1 {
        "1 call".into()
    } else {
        format!("{n} calls")
    }
}

fn places(list: &[String]) -> String {
    if list.is_empty() {
        return "• Forensics has not seen the old key in use; update wherever it was configured."
            .into();
    }
    let shown: Vec<&str> = list.iter().take(PLACES_MAX).map(String::as_str).collect();
    let more = list.len().saturating_sub(PLACES_MAX);
    let more = if more > 0 {
        format!(" and {more} more (see the timeline files)")
    } else {
        String::new()
    };
    format!(
        "• Update everything that used the old key — forensics saw it used {}{more}. Some of these may be the attacker.",
        shown.join(", ")
    )
}

pub fn restore_failed(id: &IncidentId, why: &Cause) -> Reply {
    Reply::plain(format!(
        ":x: Restore of *{id}* stopped: {}. Whatever it had not reached was not changed; \
         the same `/keyleak restore {id}` command again picks up where it stopped, and never makes a \
         second key.",
        cause(why)
    ))
}
