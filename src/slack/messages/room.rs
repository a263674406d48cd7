//! The incident room: its topic, the line in the announcement channel, and the notes that
//! say when a room could not be made as asked.

use super::*;
use crate::domain::ids::SlackUserId;

/// Slack's longest channel topic.
const TOPIC_MAX: usize = 250;

/// The room's topic: the state first, so a glance at the channel list tells it.
pub fn room_topic(i: &Incident) -> String {
    let mut parts = vec![
        format!("{} {}", state_label(i.state).to_uppercase(), i.id),
        i.key.to_string(),
    ];
    if let Some(u) = &i.user_name {
        parts.push(format!("user {u}"));
    }
    if let Some(a) = &i.account {
        parts.push(format!("account {a}"));
    }
    let topic = parts.join(" · ");
    topic.chars().take(TOPIC_MAX).collect()
}

/// The one line in the announcement channel.
pub fn room_announcement(i: &Incident, room: &str) -> Reply {
    let user = i
        .user_name
        .as_deref()
        .map(|u| format!(" of IAM user `{}`", sanitize(u)))
        .unwrap_or_default();
    Reply::plain(format!(
        ":rotating_light: *{}*: leaked key `{}`{user}, contained at the request of {}. \
         Follow it in <#{room}>.",
        i.id,
        i.key,
        incident::requester(i),
    ))
}

/// Said in the incident thread when no private channel could be opened.
pub fn room_unavailable(slack_error: &str) -> Reply {
    Reply::plain(format!(
        ":warning: keyleak could not open a private channel for this incident (Slack said `{}`), \
         so the incident runs in this thread instead. Containment was not delayed. If this keeps \
         happening, check that the app has the `groups:write` scope and that workspace policy lets \
         apps create private channels.",
        sanitize(slack_error)
    ))
}

/// Said in the room when some people could not be added to it.
pub fn invite_failed(users: &[SlackUserId], slack_error: &str) -> Reply {
    let who: Vec<String> = users.iter().map(|u| format!("<@{u}>")).collect();
    Reply::plain(format!(
        ":warning: keyleak could not add {} to this channel (Slack said `{}`). \
         A member of the channel can invite them.",
        who.join(", "),
        sanitize(slack_error)
    ))
}
