//! A fake Slack Web API on loopback that answers as Slack does: bearer-token checks,
//! `ok:false` with Slack's error names, Block Kit limits, 429 with `Retry-After`. It records
//! every call so tests assert on what people would have seen, and the sandbox's page shows it.

mod methods;
mod view;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::socket::FakeSocket;

pub const TOKEN: &str = "xoxb-test-bot-token";
/// The announcement channel, where the bot is a member from the start.
pub const CHANNEL: &str = "C0KEYLEAK01";
/// The bot's own user id: it creates rooms and cannot invite itself.
pub const BOT_USER: &str = "U0KEYLEAKBOT";
/// The workspace's address, as permalinks carry it.
pub const WORKSPACE: &str = "https://keyleak-test.slack.com";

/// A channel as Slack keeps it: who is in it, its topic (and how often it was set), its pins.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Channel {
    pub id: String,
    pub name: String,
    pub private: bool,
    pub members: Vec<String>,
    pub topic: String,
    pub topic_sets: usize,
    pub pins: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
    pub thread_ts: Option<String>,
    pub text: String,
    pub blocks: Value,
    /// How many times `chat.update` replaced it.
    pub updates: usize,
}

/// A file shared by `files.completeUploadExternal`.
#[derive(Debug, Clone)]
pub struct SharedFile {
    pub id: String,
    pub filename: String,
    pub title: Option<String>,
    pub bytes: Vec<u8>,
    pub channel: String,
    pub thread_ts: Option<String>,
    pub comment: Option<String>,
}

/// A file between `files.getUploadURLExternal` and its completion.
struct Upload {
    filename: String,
    length: usize,
    bytes: Option<Vec<u8>>,
}

#[derive(Default)]
struct Inner {
    channels: Vec<Channel>,
    /// User ids Slack does not know (deactivated, another workspace).
    missing_users: Vec<String>,
    /// Answer `conversations.create` with this Slack error.
    refuse_create: Option<String>,
    /// Answer 429 to this many calls of one method.
    throttle_method: HashMap<String, usize>,
    uploads: HashMap<String, Upload>,
    /// File ids are never reused, as Slack's are not.
    next_file: usize,
    files: Vec<SharedFile>,
    messages: Vec<Posted>,
    /// Each message as it was after each post or edit, with when Slack took it.
    history: Vec<(std::time::SystemTime, Posted)>,
    calls: Vec<(String, String)>,
    groups: HashMap<String, Vec<String>>,
    next_ts: u64,
    /// Answer `ratelimited` (HTTP 429) to this many calls first.
    throttle: usize,
    /// After this many successful posts, further posts never answer.
    hang_after_posts: Option<usize>,
    /// Posts being held unanswered now.
    held_posts: usize,
    /// Every call, response URLs included, is accepted and never answered.
    hang_all: bool,
    /// Calls of these methods are answered only after this long (Slack's own latency).
    slow_methods: HashMap<String, std::time::Duration>,
    /// Answer every post with this Slack error.
    refuse_posts: Option<String>,
    /// Bodies posted to response URLs, with the URL's last segment.
    responses: Vec<(String, Value)>,
}

#[derive(Clone)]
pub struct FakeSlack {
    inner: Arc<Mutex<Inner>>,
    pub url: String,
    /// Socket Mode, its URLs handed out by `apps.connections.open` here.
    pub socket: FakeSocket,
}

fn lock(f: &FakeSlack) -> std::sync::MutexGuard<'_, Inner> {
    super::lock(&f.inner)
}

/// How Slack signs what it sends an app: `v0=` and HMAC-SHA256 of `v0:<ts>:<body>` under
/// the app's signing secret, in hex (docs/slack.md, "Requests into keyleak").
pub fn signature(secret: &str, ts: &str, body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    // HMAC takes a key of any length: this cannot fail.
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(format!("v0:{ts}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

fn slack_error(code: &str) -> Response {
    Json(json!({"ok": false, "error": code})).into_response()
}

impl FakeSlack {
    /// On a loopback port of its own.
    pub async fn start() -> std::io::Result<Self> {
        let (listener, addr) = super::loopback().await?;
        let fake = Self::at(addr).await?;
        let app = fake.router();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(fake)
    }

    /// A fake whose Web API will be at `addr`, served by whoever serves `router()` there.
    pub async fn at(addr: std::net::SocketAddr) -> std::io::Result<Self> {
        let fake = FakeSlack {
            inner: Arc::default(),
            url: format!("http://{addr}/api"),
            socket: FakeSocket::start().await?,
        };
        lock(&fake).channels.push(Channel {
            id: CHANNEL.into(),
            name: "keyleak-incidents".into(),
            members: vec![BOT_USER.into()],
            ..Channel::default()
        });
        Ok(fake)
    }

    /// The Web API, response URLs and file uploads.
    pub fn router<S>(&self) -> Router<S> {
        Router::new()
            .route("/api/{method}", post(api).get(api_get))
            .route("/respond/{id}", post(methods::respond))
            .route("/upload/v1/{id}", post(methods::upload_bytes))
            .with_state(self.clone())
    }

    /// What was said privately to `user`, as Slack sent it (text and blocks).
    pub fn answers_to(&self, user: &str) -> Vec<Value> {
        lock(self)
            .responses
            .iter()
            .filter(|(to, _)| to == user)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Keeps a private answer to `user`, as one through their response URL: what a slash
    /// command's own HTTP answer shows its author.
    pub fn answer_privately(&self, user: &str, message: Value) {
        lock(self).responses.push((user.to_string(), message));
    }

    pub fn add_group(&self, id: &str, members: &[&str]) {
        lock(self)
            .groups
            .insert(id.into(), members.iter().map(|m| m.to_string()).collect());
    }

    pub fn throttle_next(&self, n: usize) {
        lock(self).throttle = n;
    }

    /// The next `n` calls of `method` are answered 429 with `Retry-After: 1`.
    pub fn throttle_method(&self, method: &str, n: usize) {
        lock(self).throttle_method.insert(method.into(), n);
    }

    /// A channel that exists already, say from another incident, to collide with.
    pub fn add_channel(&self, id: &str, name: &str) {
        lock(self).channels.push(Channel {
            id: id.into(),
            name: name.into(),
            ..Channel::default()
        });
    }

    pub fn channels(&self) -> Vec<Channel> {
        lock(self).channels.clone()
    }

    pub fn channel(&self, id: &str) -> Option<Channel> {
        self.channels().into_iter().find(|c| c.id == id)
    }

    pub fn refuse_create(&self, error: Option<&str>) {
        lock(self).refuse_create = error.map(str::to_string);
    }

    pub fn remove_user(&self, id: &str) {
        lock(self).missing_users.push(id.into());
    }

    /// Posts held unanswered since the fake started (`hang_after_posts`).
    pub fn held_posts(&self) -> usize {
        lock(self).held_posts
    }

    pub fn hang_after_posts(&self, n: Option<usize>) {
        lock(self).hang_after_posts = n;
    }

    /// Calls of `method` are answered after `delay`.
    pub fn slow_method(&self, method: &str, delay: std::time::Duration) {
        lock(self).slow_methods.insert(method.into(), delay);
    }

    /// Slack accepts connections and reads requests but never answers (or answers again).
    pub fn hang_all(&self, on: bool) {
        lock(self).hang_all = on;
    }

    /// A response URL as Slack would put in a slash command, served by this fake.
    pub fn response_url(&self) -> String {
        self.url.replace("/api", "/respond/T0TEAM0001-1")
    }

    pub fn responses(&self) -> Vec<Value> {
        lock(self)
            .responses
            .iter()
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn refuse_posts(&self, error: Option<&str>) {
        lock(self).refuse_posts = error.map(str::to_string);
    }

    pub fn messages(&self) -> Vec<Posted> {
        lock(self).messages.clone()
    }

    /// The plain text of every message posted, one per line: what anyone could have read.
    pub fn all_text(&self) -> String {
        let texts: Vec<String> = self.messages().into_iter().map(|m| m.text).collect();
        texts.join("\n")
    }

    /// Every version of every message, oldest first, with when it was posted or edited.
    pub fn history(&self) -> Vec<(std::time::SystemTime, Posted)> {
        lock(self).history.clone()
    }

    /// Every request body received, as text, with its method name.
    pub fn calls(&self) -> Vec<(String, String)> {
        lock(self).calls.clone()
    }

    pub fn top_level(&self) -> Vec<Posted> {
        self.messages()
            .into_iter()
            .filter(|m| m.thread_ts.is_none())
            .collect()
    }

    pub fn remove_from_group(&self, id: &str, member: &str) {
        if let Some(users) = lock(self).groups.get_mut(id) {
            users.retain(|u| u != member);
        }
    }

    /// Files shared in channels and threads.
    pub fn files(&self) -> Vec<SharedFile> {
        lock(self).files.clone()
    }

    pub fn message(&self, ts: &str) -> Option<Posted> {
        self.messages().into_iter().find(|m| m.ts == ts)
    }

    /// What was said privately to one user through their response URL.
    pub fn responses_to(&self, user: &str) -> Vec<String> {
        self.answers_to(user)
            .iter()
            .map(|v| v["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub fn replies_to(&self, ts: &str) -> Vec<Posted> {
        self.messages()
            .into_iter()
            .filter(|m| m.thread_ts.as_deref() == Some(ts))
            .collect()
    }
}

fn auth_error(headers: &HeaderMap) -> Option<&'static str> {
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        None => Some("not_authed"),
        Some(v) if v == format!("Bearer {TOKEN}") => None,
        Some(_) => Some("invalid_auth"),
    }
}

fn parse_body(headers: &HeaderMap, body: &Bytes) -> Option<Value> {
    let json_body = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if json_body {
        serde_json::from_slice(body).ok()
    } else {
        let pairs: HashMap<String, String> = serde_urlencoded::from_bytes(body).ok()?;
        Some(json!(pairs))
    }
}

async fn api_get(
    State(fake): State<FakeSlack>,
    Path(method): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    api(
        State(fake),
        Path(method),
        headers,
        Bytes::from(serde_urlencoded::to_string(&q).unwrap_or_default()),
    )
    .await
}

async fn api(
    State(fake): State<FakeSlack>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    methods::hang_if_told(&fake).await;
    let delay = lock(&fake).slow_methods.get(&method).copied();
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    {
        let mut s = lock(&fake);
        s.calls
            .push((method.clone(), String::from_utf8_lossy(&body).into_owned()));
        let by_method = match s.throttle_method.get_mut(&method) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        };
        let any_method = !by_method && s.throttle > 0;
        if any_method {
            s.throttle -= 1;
        }
        if by_method || any_method {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                Json(json!({"ok": false, "error": "ratelimited"})),
            )
                .into_response();
        }
    }
    if method == "apps.connections.open" {
        return fake.socket.open(&headers);
    }
    if let Some(e) = auth_error(&headers) {
        return slack_error(e);
    }
    let Some(args) = parse_body(&headers, &body) else {
        return slack_error("invalid_arguments");
    };
    match method.as_str() {
        "chat.postMessage" => methods::post_message(&fake, &args).await,
        "chat.update" => methods::update(&fake, &args),
        "usergroups.users.list" => methods::group_members(&fake, &args),
        "files.getUploadURLExternal" => methods::upload_url(&fake, &args),
        "files.completeUploadExternal" => methods::complete_upload(&fake, &args),
        "conversations.create" => methods::create_channel(&fake, &args),
        "conversations.invite" => methods::invite(&fake, &args),
        "conversations.setTopic" => methods::set_topic(&fake, &args),
        "pins.add" => methods::pin(&fake, &args),
        "chat.getPermalink" => methods::permalink(&fake, &args),
        "files.info" => methods::file_info(&fake, &args),
        "files.delete" => methods::delete_file(&fake, &args),
        "auth.test" => methods::auth_test(),
        _ => slack_error("unknown_method"),
    }
}
