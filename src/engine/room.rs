//! Where an incident is worked: a private channel of its own (the room), with the people who
//! respond invited, the card pinned and one line in the announcement channel; or, in the
//! shared mode or when Slack will not make a channel, a thread in the announcement channel.

use std::collections::BTreeMap;

use tracing::warn;

use super::Engine;
use crate::domain::answer::Notice;
use crate::domain::ids::{RosterEntry, SlackUserId};
use crate::domain::incident::{Actor, Incident, StepRecord};
use crate::domain::room;
use crate::notify::{NotifyError, ThreadRef};

#[derive(Debug, Clone, Default)]
pub struct RoomSettings {
    /// A private channel per incident; otherwise every incident is a thread in the
    /// announcement channel (`KEYLEAK_INCIDENT_CHANNEL_MODE=shared`).
    pub per_incident: bool,
    /// Who is invited to each room besides the requester: responders and approvers, since
    /// a private channel hides the proposals from everyone else.
    pub invite: Vec<RosterEntry>,
}

/// Names tried before giving up on `name_taken`; each has a fresh random suffix.
const NAME_TRIES: usize = 3;

/// Opens the incident's thread: in a room of its own when configured and possible.
pub(super) async fn open(
    engine: &Engine,
    incident: &Incident,
    steps: &[StepRecord],
) -> Result<ThreadRef, NotifyError> {
    let notifier = &engine.notifier;
    if !engine.rooms.per_incident {
        return notifier.open_thread(None, incident, steps).await;
    }
    let made = match &incident.slack_channel {
        // An earlier try made the room and stopped before the card was posted.
        Some(room) => Ok(room.clone()),
        None => create(engine, incident).await,
    };
    let room = match made {
        Ok(room) => room,
        // Slack did not answer: the announcement is tried again later, for a room.
        Err(e @ NotifyError::Transport(_)) => return Err(e),
        Err(NotifyError::Refused(code)) => {
            warn!(error = %code, incident = %incident.id, "no incident room; using the shared channel");
            let thread = notifier.open_thread(None, incident, steps).await?;
            let notice = Notice::RoomUnavailable { slack_error: code };
            if let Err(e) = notifier.post_in_thread(&thread, &notice).await {
                warn!(error = %e, "could not say why there is no incident room");
            }
            return Ok(thread);
        }
    };
    let refused = invite_everyone(engine, incident, &room).await;
    // Making the room took Slack a few calls, while containment went on: the card shows
    // the incident as it is now, not as it was when the announcement began.
    let (now, now_steps) = match (
        engine.store.incident(&incident.id).await,
        engine.store.steps(&incident.id).await,
    ) {
        (Ok(i), Ok(s)) => (i, s),
        _ => (incident.clone(), steps.to_vec()),
    };
    let thread = notifier.open_thread(Some(&room), &now, &now_steps).await?;
    for (code, users) in refused {
        warn!(error = %code, count = users.len(), "could not invite people to the incident room");
        let notice = Notice::InviteFailed {
            users,
            slack_error: code,
        };
        if let Err(e) = notifier.post_in_thread(&thread, &notice).await {
            warn!(error = %e, "could not say who was not invited");
        }
    }
    if let Err(e) = notifier.pin(&thread).await {
        warn!(error = %e, "could not pin the incident card");
    }
    if let Err(e) = notifier.announce(incident, &room).await {
        warn!(error = %e, "could not announce the incident room");
    }
    Ok(thread)
}

/// Creates the private channel, with a new suffix whenever the name is taken, and records it.
async fn create(engine: &Engine, incident: &Incident) -> Result<String, NotifyError> {
    let label = room::owner_label(incident);
    let mut last = NotifyError::Refused("name_taken".into());
    for _ in 0..NAME_TRIES {
        let name = room::channel_name(incident.opened_at, &label, &room::suffix(rand::random()));
        match engine.notifier.create_room(&name).await {
            Ok(channel) => {
                if let Err(e) = engine.store.set_room(&incident.id, &channel).await {
                    warn!(error = %e, "could not record the incident room");
                }
                return Ok(channel);
            }
            Err(NotifyError::Refused(code)) if code == "name_taken" => {
                last = NotifyError::Refused(code);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Invites the requester and everyone on the rosters. Slack refuses a whole batch for one bad
/// id, so a refused batch is retried person by person; returns who was refused, by reason.
async fn invite_everyone(
    engine: &Engine,
    incident: &Incident,
    room: &str,
) -> BTreeMap<String, Vec<SlackUserId>> {
    let mut failed: BTreeMap<String, Vec<SlackUserId>> = BTreeMap::new();
    let users = people(engine, incident).await;
    if users.is_empty() || engine.notifier.invite(room, &users).await.is_ok() {
        return failed;
    }
    for u in users {
        match engine.notifier.invite(room, std::slice::from_ref(&u)).await {
            Err(NotifyError::Refused(code)) if code == "already_in_channel" => {}
            Err(NotifyError::Refused(code)) => failed.entry(code).or_default().push(u),
            Err(NotifyError::Transport(_)) => {
                failed.entry("unreachable".into()).or_default().push(u)
            }
            Ok(()) => {}
        }
    }
    failed
}

/// The requester, then the rosters' people; user groups are resolved now, and a group that
/// cannot be read is skipped (its members can be invited by hand).
async fn people(engine: &Engine, incident: &Incident) -> Vec<SlackUserId> {
    let mut users = vec![];
    if let Actor::Slack(u) = &incident.requested_by {
        users.push(u.clone());
    }
    for entry in &engine.rooms.invite {
        match entry {
            RosterEntry::User(u) => users.push(u.clone()),
            RosterEntry::Group(g) => match engine.notifier.group_members(g, false).await {
                Ok(members) => users.extend(members),
                Err(e) => warn!(error = %e, group = %g, "could not read a user group to invite"),
            },
        }
    }
    let mut seen = std::collections::HashSet::new();
    users.retain(|u| seen.insert(u.clone()));
    users
}
