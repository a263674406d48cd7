//! When a Web API call may go out, as Slack documents its limits: each method has its own
//! pace (its tier), `chat.postMessage` is paced per channel as well, and a 429 holds back
//! only the method it answered. So an incident card's edit never waits behind thread
//! replies, and one busy room never slows another.
//!
//! slack-morphism's own rate control paces `chat.postMessage` at one a second for the whole
//! workspace; that put every room's replies, and the cards behind them, in one line.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

/// The Web API methods keyleak calls, each with the limit Slack documents for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Method {
    PostMessage,
    Update,
    GetPermalink,
    ConversationsCreate,
    ConversationsInvite,
    ConversationsSetTopic,
    PinsAdd,
    GetUploadUrl,
    CompleteUpload,
    FilesDelete,
    FilesInfo,
    UserGroupsUsersList,
    AuthTest,
}

/// Slack's tiers, in calls a minute (Tier 2 "20+", Tier 3 "50+", Tier 4 "100+").
const TIER_2: u32 = 20;
const TIER_3: u32 = 50;
const TIER_4: u32 = 100;

impl Method {
    const ALL: [Method; 13] = [
        Self::PostMessage,
        Self::Update,
        Self::GetPermalink,
        Self::ConversationsCreate,
        Self::ConversationsInvite,
        Self::ConversationsSetTopic,
        Self::PinsAdd,
        Self::GetUploadUrl,
        Self::CompleteUpload,
        Self::FilesDelete,
        Self::FilesInfo,
        Self::UserGroupsUsersList,
        Self::AuthTest,
    ];

    /// Slack's name for the method.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::PostMessage => "chat.postMessage",
            Self::Update => "chat.update",
            Self::GetPermalink => "chat.getPermalink",
            Self::ConversationsCreate => "conversations.create",
            Self::ConversationsInvite => "conversations.invite",
            Self::ConversationsSetTopic => "conversations.setTopic",
            Self::PinsAdd => "pins.add",
            Self::GetUploadUrl => "files.getUploadURLExternal",
            Self::CompleteUpload => "files.completeUploadExternal",
            Self::FilesDelete => "files.delete",
            Self::FilesInfo => "files.info",
            Self::UserGroupsUsersList => "usergroups.users.list",
            Self::AuthTest => "auth.test",
        }
    }

    /// The bot scope Slack wants for the method; `None` for those any token may call.
    /// Incident rooms are private channels, so the conversation methods want `groups:write`.
    pub(super) fn scope(self) -> Option<&'static str> {
        match self {
            Self::PostMessage | Self::Update => Some("chat:write"),
            Self::GetPermalink | Self::AuthTest => None,
            Self::ConversationsCreate | Self::ConversationsInvite | Self::ConversationsSetTopic => {
                Some("groups:write")
            }
            Self::PinsAdd => Some("pins:write"),
            Self::GetUploadUrl | Self::CompleteUpload | Self::FilesDelete => Some("files:write"),
            Self::FilesInfo => Some("files:read"),
            Self::UserGroupsUsersList => Some("usergroups:read"),
        }
    }

    /// Calls a minute for the whole workspace. `chat.postMessage` is "special": about one a
    /// second per channel, and "several hundred a minute" across the workspace.
    fn per_minute(self) -> u32 {
        match self {
            Self::PostMessage => 300,
            Self::Update => TIER_3,
            Self::GetPermalink => TIER_4,
            Self::ConversationsCreate => TIER_2,
            Self::ConversationsInvite => TIER_3,
            Self::ConversationsSetTopic => TIER_2,
            Self::PinsAdd => TIER_2,
            Self::GetUploadUrl => TIER_4,
            Self::CompleteUpload => TIER_4,
            Self::FilesDelete => TIER_3,
            Self::FilesInfo => TIER_4,
            Self::UserGroupsUsersList => TIER_2,
            // "Special": many hundreds a minute.
            Self::AuthTest => TIER_4,
        }
    }
}

/// Slack allows short bursts above a tier's pace; a quarter of a minute's calls at once.
fn quota(per_minute: u32) -> Quota {
    let rate = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(per_minute / 4).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(rate).allow_burst(burst)
}

/// One message a second in a channel, five at once: a room's first replies go out together.
fn channel_quota() -> Quota {
    Quota::per_second(NonZeroU32::MIN).allow_burst(NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN))
}

pub(super) struct Outbox {
    methods: HashMap<Method, DefaultDirectRateLimiter>,
    channels: DefaultKeyedRateLimiter<String>,
    /// Until when Slack asked (429, `Retry-After`) that a method not be called.
    paused: Mutex<HashMap<Method, Instant>>,
    /// The latest edit asked of each card (by its message ts): an edit that a newer one
    /// overtook while it waited is not sent.
    cards: Mutex<HashMap<String, u64>>,
}

impl Outbox {
    pub(super) fn new() -> Self {
        Self {
            methods: Method::ALL
                .into_iter()
                .map(|m| (m, RateLimiter::direct(quota(m.per_minute()))))
                .collect(),
            channels: RateLimiter::keyed(channel_quota()),
            paused: Mutex::new(HashMap::new()),
            cards: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until `method` may be called (in `channel`, for a post).
    pub(super) async fn ready(&self, method: Method, channel: Option<&str>) {
        while let Some(wait) = self.pause_left(method) {
            tokio::time::sleep(wait).await;
        }
        if let (Method::PostMessage, Some(c)) = (method, channel) {
            self.channels.until_key_ready(&c.to_string()).await;
        }
        if let Some(limiter) = self.methods.get(&method) {
            limiter.until_ready().await;
        }
    }

    fn pause_left(&self, method: Method) -> Option<Duration> {
        let paused = self.paused.lock().unwrap_or_else(|p| p.into_inner());
        let until = paused.get(&method)?;
        until.checked_duration_since(Instant::now())
    }

    /// Holds `method` back for `wait`, as Slack's 429 asked.
    pub(super) fn pause(&self, method: Method, wait: Duration) {
        let until = Instant::now() + wait;
        let mut paused = self.paused.lock().unwrap_or_else(|p| p.into_inner());
        let at = paused.entry(method).or_insert(until);
        *at = (*at).max(until);
    }

    /// Registers an edit of the card `ts` and returns its number.
    pub(super) fn card_edit(&self, ts: &str) -> u64 {
        let mut cards = self.cards.lock().unwrap_or_else(|p| p.into_inner());
        let n = cards.entry(ts.to_string()).or_insert(0);
        *n += 1;
        *n
    }

    /// Whether a newer edit of the card `ts` than `n` was asked for since.
    pub(super) fn overtaken(&self, ts: &str, n: u64) -> bool {
        let cards = self.cards.lock().unwrap_or_else(|p| p.into_inner());
        cards.get(ts).is_some_and(|latest| *latest > n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scopes a manifest's bot asks for: the items under `bot:`.
    fn bot_scopes(manifest: &str) -> Vec<&str> {
        manifest
            .lines()
            .skip_while(|l| l.trim() != "bot:")
            .skip(1)
            .map(str::trim)
            .take_while(|l| l.starts_with("- "))
            .map(|l| l.trim_start_matches("- "))
            .collect()
    }

    /// Both Slack app manifests ask for exactly what the methods keyleak calls need, and the
    /// slash command: a missing scope fails a call in the worst hour, an unused one widens
    /// what a stolen bot token can do.
    #[test]
    fn the_manifests_ask_for_exactly_the_scopes_of_the_methods_called() {
        let mut wanted: Vec<&str> = Method::ALL
            .iter()
            .filter_map(|m| m.scope())
            .chain(["commands"])
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        for (name, manifest) in [
            (
                "slack-app.yaml",
                include_str!("../../manifests/slack-app.yaml"),
            ),
            (
                "slack-app-socket-mode.yaml",
                include_str!("../../manifests/slack-app-socket-mode.yaml"),
            ),
        ] {
            let mut asked = bot_scopes(manifest);
            asked.sort_unstable();
            assert_eq!(asked, wanted, "{name}");
        }
    }

    /// docs/slack.md: about one `chat.postMessage` a second per channel, with short bursts;
    /// `conversations.create` is Tier 2 (about 20 a minute).
    #[test]
    fn the_paces_are_slacks() {
        assert_eq!(Method::ConversationsCreate.per_minute(), 20);
        let c = channel_quota();
        assert_eq!(c.replenish_interval(), Duration::from_secs(1));
        assert_eq!(c.burst_size().get(), 5);
        assert_eq!(quota(TIER_3).burst_size().get(), 12);
    }

    /// A channel that has used its burst holds back only its own posts.
    #[tokio::test]
    async fn one_busy_channel_does_not_hold_back_another_or_an_edit() {
        let out = Outbox::new();
        for _ in 0..5 {
            out.ready(Method::PostMessage, Some("C1")).await;
        }
        assert!(out.channels.check_key(&"C1".to_string()).is_err());
        assert!(out.channels.check_key(&"C2".to_string()).is_ok());
        assert!(out.methods[&Method::Update].check().is_ok());
    }

    #[test]
    fn a_429_pauses_its_method_only() {
        let out = Outbox::new();
        out.pause(Method::PostMessage, Duration::from_secs(30));
        assert!(out.pause_left(Method::PostMessage).is_some());
        assert!(out.pause_left(Method::Update).is_none());
    }

    #[test]
    fn a_newer_card_edit_overtakes_an_older_one() {
        let out = Outbox::new();
        let first = out.card_edit("1.0");
        let second = out.card_edit("1.0");
        assert!(out.overtaken("1.0", first));
        assert!(!out.overtaken("1.0", second));
        assert!(!out.overtaken("2.0", 1));
    }
}
