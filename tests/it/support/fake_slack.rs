//! A fake Slack Web API on loopback that answers as Slack does: bearer-token checks,
//! `ok:false` with Slack's error names, Block Kit limits, 429 with `Retry-After`. It records
//! every call so tests assert on what people would have seen.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::fake_socket::FakeSocket;

pub const TOKEN: &str = "xoxb-test-bot-token";
/// The announcement channel, where the bot is a member from the start.
pub const CHANNEL: &str = "C0KEYLEAK01";
/// The bot's own user id: it creates rooms and cannot invite itself.
pub const BOT_USER: &str = "U0KEYLEAKBOT";

/// A channel as Slack keeps it: who is in it, its topic (and how often it was set), its pins.
#[derive(Debug, Clone, Default)]
pub struct Channel {
    pub id: String,
    pub name: String,
    pub private: bool,
    pub members: Vec<String>,
    pub topic: String,
    pub topic_sets: usize,
    pub pins: Vec<String>,
}

#[derive(Debug, Clone)]
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
    f.inner.lock().unwrap_or_else(|p| p.into_inner())
}

fn slack_error(code: &str) -> Response {
    Json(json!({"ok": false, "error": code})).into_response()
}

impl FakeSlack {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fake = FakeSlack {
            inner: Arc::default(),
            url: format!("http://{addr}/api"),
            socket: FakeSocket::start().await,
        };
        lock(&fake).channels.push(Channel {
            id: CHANNEL.into(),
            name: "keyleak-incidents".into(),
            members: vec![BOT_USER.into()],
            ..Channel::default()
        });
        let app = Router::new()
            .route("/api/{method}", post(api).get(api_get))
            .route("/respond/{id}", post(respond))
            .route("/upload/v1/{id}", post(upload_bytes))
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
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

    /// What people could read, as text: each top-level message with its blocks, then its
    /// thread's replies and files, and the private answers. Replies and answers are in a
    /// stable order (by their text), not arrival order, which depends on which job ran first.
    pub fn transcript(&self) -> String {
        let mut out = vec![];
        let messages = self.messages();
        for top in messages.iter().filter(|m| m.thread_ts.is_none()) {
            out.push(format!("#{}", top.channel));
            out.push(render_message(top, ""));
            let mut replies: Vec<String> = messages
                .iter()
                .filter(|m| m.thread_ts.as_deref() == Some(&top.ts))
                .map(|m| render_message(m, "    "))
                .collect();
            replies.extend(
                self.files()
                    .iter()
                    .filter(|f| f.thread_ts.as_deref() == Some(&top.ts))
                    .map(|f| {
                        let comment = f.comment.clone().unwrap_or_default();
                        format!("    file {}: {comment}", f.filename)
                    }),
            );
            replies.sort();
            out.extend(replies);
        }
        let mut answers: Vec<String> = self
            .responses()
            .iter()
            .map(|r| format!("privately: {}", r["text"].as_str().unwrap_or_default()))
            .collect();
        answers.sort();
        out.extend(answers);
        out.join("\n")
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

    /// The `block_actions` payload Slack sends when `user` presses the button `action_id`
    /// on `message`: the button's value is taken from the rendered blocks, as Slack does.
    pub fn click_payload(&self, user: &str, message: &Posted, action_id: &str) -> Value {
        let button = element(message, action_id);
        json!({
            "type": "block_actions",
            "user": {"id": user, "username": "someone", "team_id": "T0TEAM0001"},
            "api_app_id": "A0KEYLEAK",
            "token": "legacy-verification-token",
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": message.channel,
                "is_ephemeral": false
            },
            "trigger_id": "1.2.3",
            "team": {"id": "T0TEAM0001", "domain": "example"},
            "channel": {"id": message.channel, "name": "keyleak"},
            "message": {
                "type": "message",
                "ts": message.ts,
                "thread_ts": message.thread_ts,
                "text": message.text,
                "blocks": message.blocks
            },
            "response_url": self.url.replace("/api", &format!("/respond/{user}")),
            "actions": [{
                "action_id": action_id,
                "block_id": "b1",
                "type": "button",
                "value": button["value"],
                "text": button["text"],
                "action_ts": "1763850000.000001"
            }]
        })
    }

    /// A choice in a menu (`static_select`) on a posted message, as Slack sends it: the
    /// chosen option, whose value ends with `value_suffix`, in place of a button's value.
    pub fn choose_payload(
        &self,
        user: &str,
        message: &Posted,
        action_id: &str,
        value_suffix: &str,
    ) -> Value {
        let mut payload = self.click_payload(user, message, action_id);
        let menu = element(message, action_id);
        assert_eq!(menu["type"], "static_select", "{action_id} is not a menu");
        let option = menu["options"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|o| {
                o["value"]
                    .as_str()
                    .is_some_and(|v| v.ends_with(value_suffix))
            })
            .unwrap_or_else(|| panic!("no option {value_suffix} in {menu}"))
            .clone();
        payload["actions"] = json!([{
            "type": "static_select",
            "action_id": action_id,
            "block_id": "b1",
            "selected_option": option,
            "placeholder": menu["placeholder"],
            "action_ts": "1763850000.000002"
        }]);
        payload
    }

    /// What was said privately to one user through their response URL.
    pub fn responses_to(&self, user: &str) -> Vec<String> {
        lock(self)
            .responses
            .iter()
            .filter(|(to, _)| to == user)
            .map(|(_, v)| v["text"].as_str().unwrap_or_default().to_string())
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

/// Block Kit limits that Slack enforces with `invalid_blocks`.
fn blocks_error(blocks: &Value) -> Option<&'static str> {
    let list = blocks.as_array()?;
    if list.len() > 50 {
        return Some("invalid_blocks");
    }
    for b in list {
        let text_len = b["text"]["text"].as_str().map_or(0, |t| t.chars().count());
        let max = if b["type"] == "header" { 150 } else { 3000 };
        if text_len > max {
            return Some("invalid_blocks");
        }
        if b["type"] == "actions" && b["elements"].as_array().is_none_or(|e| e.is_empty()) {
            return Some("invalid_blocks");
        }
        for e in b["elements"].as_array().into_iter().flatten() {
            if e["type"] == "button" && button_error(e) {
                return Some("invalid_blocks");
            }
        }
    }
    None
}

/// Button limits: text 75, value 2000, action_id 255, confirm text 300 characters.
fn button_error(e: &Value) -> bool {
    let len = |v: &Value| v.as_str().map_or(0, |t| t.chars().count());
    e["text"]["type"] != "plain_text"
        || len(&e["text"]["text"]) > 75
        || len(&e["value"]) > 2000
        || len(&e["action_id"]) > 255
        || (e.get("confirm").is_some() && len(&e["confirm"]["text"]["text"]) > 300)
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
    hang_if_told(&fake).await;
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
        "chat.postMessage" => post_message(&fake, &args).await,
        "chat.update" => update(&fake, &args),
        "usergroups.users.list" => group_members(&fake, &args),
        "files.getUploadURLExternal" => upload_url(&fake, &args),
        "files.completeUploadExternal" => complete_upload(&fake, &args),
        "conversations.create" => create_channel(&fake, &args),
        "conversations.invite" => invite(&fake, &args),
        "conversations.setTopic" => set_topic(&fake, &args),
        "pins.add" => pin(&fake, &args),
        "chat.getPermalink" => permalink(&fake, &args),
        "files.info" => file_info(&fake, &args),
        "files.delete" => delete_file(&fake, &args),
        "auth.test" => auth_test(),
        _ => slack_error("unknown_method"),
    }
}

async fn post_message(fake: &FakeSlack, args: &Value) -> Response {
    let hang = {
        let mut s = lock(fake);
        let hang = s.hang_after_posts.is_some_and(|n| s.messages.len() >= n);
        s.held_posts += usize::from(hang);
        hang
    };
    if hang {
        std::future::pending::<()>().await;
    }
    if let Some(e) = lock(fake).refuse_posts.clone() {
        return slack_error(&e);
    }
    let channel = args["channel"].as_str().unwrap_or_default().to_string();
    if let Some(e) = member_error(&lock(fake), &channel) {
        return slack_error(e);
    }
    let text = args["text"].as_str().unwrap_or_default().to_string();
    let blocks = args.get("blocks").cloned().unwrap_or(Value::Null);
    if text.is_empty() && blocks.is_null() {
        return slack_error("no_text");
    }
    if text.chars().count() > 40_000 {
        return slack_error("msg_too_long");
    }
    if let Some(e) = blocks_error(&blocks) {
        return slack_error(e);
    }
    let thread_ts = args["thread_ts"].as_str().map(str::to_string);
    let mut s = lock(fake);
    if let Some(t) = &thread_ts {
        // Replies must name the parent message, never another reply.
        let parent_ok = s
            .messages
            .iter()
            .any(|m| &m.ts == t && m.thread_ts.is_none() && m.channel == channel);
        if !parent_ok {
            return slack_error("thread_not_found");
        }
    }
    s.next_ts += 1;
    let ts = format!("1763850000.{:06}", s.next_ts);
    s.messages.push(Posted {
        channel: channel.clone(),
        ts: ts.clone(),
        thread_ts,
        text,
        blocks,
        updates: 0,
    });
    remember(&mut s);
    Json(json!({"ok": true, "channel": channel, "ts": ts, "message": {"ts": ts, "text": ""}}))
        .into_response()
}

fn update(fake: &FakeSlack, args: &Value) -> Response {
    let channel = args["channel"].as_str().unwrap_or_default();
    let ts = args["ts"].as_str().unwrap_or_default();
    let blocks = args.get("blocks").cloned().unwrap_or(Value::Null);
    if let Some(e) = blocks_error(&blocks) {
        return slack_error(e);
    }
    let mut s = lock(fake);
    let Some(m) = s
        .messages
        .iter_mut()
        .find(|m| m.channel == channel && m.ts == ts)
    else {
        return slack_error("message_not_found");
    };
    m.text = args["text"].as_str().unwrap_or_default().to_string();
    m.blocks = blocks;
    m.updates += 1;
    let answer = json!({"ok": true, "channel": channel, "ts": ts, "text": m.text,
        "message": {"type": "message", "text": m.text, "bot_id": "B0KEYLEAK", "user": BOT_USER}});
    let edited = m.clone();
    s.history.push((std::time::SystemTime::now(), edited));
    Json(answer).into_response()
}

/// Keeps the message just posted (the last) in the history.
fn remember(s: &mut Inner) {
    if let Some(m) = s.messages.last().cloned() {
        s.history.push((std::time::SystemTime::now(), m));
    }
}

fn group_members(fake: &FakeSlack, args: &Value) -> Response {
    let id = args["usergroup"].as_str().unwrap_or_default();
    match lock(fake).groups.get(id) {
        Some(users) => Json(json!({"ok": true, "users": users})).into_response(),
        None => slack_error("no_such_subteam"),
    }
}

/// As api.slack.com/methods/auth.test documents its answer for a bot token.
fn auth_test() -> Response {
    Json(json!({
        "ok": true,
        "url": "https://keyleak-test.slack.com/",
        "team": "keyleak test",
        "user": "keyleak",
        "team_id": "T0KEYLEAK",
        "user_id": "U0KEYLEAKBOT",
        "bot_id": "B0KEYLEAK",
        "is_enterprise_install": false
    }))
    .into_response()
}

/// Slack's response URLs take a message as JSON and need no token.
async fn hang_if_told(fake: &FakeSlack) {
    if lock(fake).hang_all {
        std::future::pending::<()>().await;
    }
}

async fn respond(State(fake): State<FakeSlack>, Path(id): Path<String>, body: Bytes) -> Response {
    hang_if_told(&fake).await;
    match serde_json::from_slice::<Value>(&body) {
        Ok(v) => {
            lock(&fake).responses.push((id, v));
            Json(json!({"ok": true})).into_response()
        }
        Err(_) => (StatusCode::BAD_REQUEST, "invalid_payload").into_response(),
    }
}

/// Slack hands out a URL per file; the bytes go there, without the API's envelope.
fn upload_url(fake: &FakeSlack, args: &Value) -> Response {
    let filename = args["filename"].as_str().unwrap_or_default().to_string();
    let length = args["length"]
        .as_str()
        .and_then(|l| l.parse::<usize>().ok())
        .or_else(|| args["length"].as_u64().map(|l| l as usize));
    let (false, Some(length @ 1..)) = (filename.is_empty(), length) else {
        return slack_error("invalid_arguments");
    };
    let mut s = lock(fake);
    s.next_file += 1;
    let id = format!("F0FILE{:05}", s.next_file);
    s.uploads.insert(
        id.clone(),
        Upload {
            filename,
            length,
            bytes: None,
        },
    );
    let upload_url = fake.url.replace("/api", &format!("/upload/v1/{id}"));
    Json(json!({"ok": true, "upload_url": upload_url, "file_id": id})).into_response()
}

async fn upload_bytes(
    State(fake): State<FakeSlack>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let mut s = lock(&fake);
    let Some(u) = s.uploads.get_mut(&id) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    if body.len() != u.length {
        return (StatusCode::BAD_REQUEST, "length mismatch").into_response();
    }
    u.bytes = Some(body.to_vec());
    (
        StatusCode::OK,
        [("content-type", "text/plain")],
        format!("OK - {}", body.len()),
    )
        .into_response()
}

fn complete_upload(fake: &FakeSlack, args: &Value) -> Response {
    let channel = args["channel_id"].as_str().unwrap_or_default().to_string();
    if let Some(e) = member_error(&lock(fake), &channel) {
        return slack_error(e);
    }
    let thread_ts = args["thread_ts"].as_str().map(str::to_string);
    let mut s = lock(fake);
    if let Some(t) = &thread_ts
        && !s
            .messages
            .iter()
            .any(|m| &m.ts == t && m.thread_ts.is_none())
    {
        return slack_error("thread_not_found");
    }
    let wanted = args["files"].as_array().cloned().unwrap_or_default();
    if wanted.is_empty() {
        return slack_error("invalid_arguments");
    }
    let ready = |f: &Value| {
        s.uploads
            .get(f["id"].as_str().unwrap_or_default())
            .is_some_and(|u| u.bytes.is_some())
    };
    if !wanted.iter().all(ready) {
        return slack_error("file_not_found");
    }
    let mut shared = vec![];
    for f in &wanted {
        let id = f["id"].as_str().unwrap_or_default();
        let Some(Upload {
            filename,
            bytes: Some(bytes),
            ..
        }) = s.uploads.remove(id)
        else {
            return slack_error("file_not_found");
        };
        shared.push(SharedFile {
            id: id.to_string(),
            filename,
            title: f["title"].as_str().map(str::to_string),
            bytes,
            channel: channel.clone(),
            thread_ts: thread_ts.clone(),
            comment: args["initial_comment"].as_str().map(str::to_string),
        });
    }
    let out: Vec<Value> = shared
        .iter()
        .map(|f| json!({"id": f.id, "title": f.title, "name": f.filename}))
        .collect();
    s.files.extend(shared);
    Json(json!({"ok": true, "files": out})).into_response()
}

/// Why the bot may not act in `channel`: a private channel it is not in does not exist for it.
fn member_error(s: &Inner, channel: &str) -> Option<&'static str> {
    match s.channels.iter().find(|c| c.id == channel) {
        None => Some("channel_not_found"),
        Some(c) if c.members.iter().any(|m| m == BOT_USER) => None,
        Some(c) if c.private => Some("channel_not_found"),
        Some(_) => Some("not_in_channel"),
    }
}

/// `conversations.create` with Slack's name rules.
fn create_channel(fake: &FakeSlack, args: &Value) -> Response {
    let name = args["name"].as_str().unwrap_or_default();
    let mut s = lock(fake);
    if let Some(e) = s.refuse_create.clone() {
        return slack_error(&e);
    }
    let valid = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    let error = if name.is_empty() {
        Some("invalid_name_required")
    } else if name.chars().count() > 80 {
        Some("invalid_name_maxlength")
    } else if !valid {
        Some("invalid_name_specials")
    } else if s.channels.iter().any(|c| c.name == name) {
        Some("name_taken")
    } else {
        None
    };
    if let Some(e) = error {
        return slack_error(e);
    }
    let id = format!("C0ROOM{:05}", s.channels.len());
    let private = args["is_private"] == json!(true) || args["is_private"] == json!("true");
    s.channels.push(Channel {
        id: id.clone(),
        name: name.into(),
        private,
        members: vec![BOT_USER.into()],
        ..Channel::default()
    });
    Json(json!({"ok": true, "channel": {
        "id": id, "name": name, "is_channel": true, "is_private": private,
        "created": 1763850000, "creator": BOT_USER, "is_member": true,
    }}))
    .into_response()
}

/// `conversations.invite`: `users` is a comma-separated string; one bad id refuses the batch.
fn invite(fake: &FakeSlack, args: &Value) -> Response {
    let channel = args["channel"].as_str().unwrap_or_default();
    let Some(users) = args["users"].as_str() else {
        return slack_error("invalid_arguments");
    };
    let users: Vec<&str> = users.split(',').filter(|u| !u.is_empty()).collect();
    let mut s = lock(fake);
    if let Some(e) = member_error(&s, channel) {
        return slack_error(e);
    }
    if users.is_empty() {
        return slack_error("no_user");
    }
    if users.contains(&BOT_USER) {
        return slack_error("cant_invite_self");
    }
    if users.iter().any(|u| s.missing_users.iter().any(|m| m == u)) {
        return slack_error("user_not_found");
    }
    let Some(c) = s.channels.iter_mut().find(|c| c.id == channel) else {
        return slack_error("channel_not_found");
    };
    let new: Vec<String> = users
        .iter()
        .filter(|u| !c.members.iter().any(|m| m == *u))
        .map(|u| u.to_string())
        .collect();
    if new.is_empty() {
        return slack_error("already_in_channel");
    }
    c.members.extend(new);
    Json(json!({"ok": true, "channel": {"id": channel, "created": 1763850000}})).into_response()
}

fn set_topic(fake: &FakeSlack, args: &Value) -> Response {
    let channel = args["channel"].as_str().unwrap_or_default();
    let topic = args["topic"].as_str().unwrap_or_default();
    let mut s = lock(fake);
    if let Some(e) = member_error(&s, channel) {
        return slack_error(e);
    }
    if topic.chars().count() > 250 {
        return slack_error("too_long");
    }
    let Some(c) = s.channels.iter_mut().find(|c| c.id == channel) else {
        return slack_error("channel_not_found");
    };
    c.topic = topic.into();
    c.topic_sets += 1;
    Json(json!({"ok": true, "topic": topic})).into_response()
}

fn pin(fake: &FakeSlack, args: &Value) -> Response {
    let channel = args["channel"].as_str().unwrap_or_default();
    let ts = args["timestamp"].as_str().unwrap_or_default();
    let mut s = lock(fake);
    if let Some(e) = member_error(&s, channel) {
        return slack_error(e);
    }
    if !s
        .messages
        .iter()
        .any(|m| m.channel == channel && m.ts == ts)
    {
        return slack_error("message_not_found");
    }
    let Some(c) = s.channels.iter_mut().find(|c| c.id == channel) else {
        return slack_error("channel_not_found");
    };
    if c.pins.iter().any(|p| p == ts) {
        return slack_error("already_pinned");
    }
    c.pins.push(ts.into());
    Json(json!({"ok": true})).into_response()
}

/// The workspace's address, as permalinks carry it.
pub const WORKSPACE: &str = "https://keyleak-test.slack.com";

fn permalink(fake: &FakeSlack, args: &Value) -> Response {
    let channel = args["channel"].as_str().unwrap_or_default();
    let ts = args["message_ts"].as_str().unwrap_or_default();
    let s = lock(fake);
    if let Some(e) = member_error(&s, channel) {
        return slack_error(e);
    }
    let Some(m) = s
        .messages
        .iter()
        .find(|m| m.channel == channel && m.ts == ts)
    else {
        return slack_error("message_not_found");
    };
    let mut link = format!("{WORKSPACE}/archives/{channel}/p{}", ts.replace('.', ""));
    if let Some(parent) = &m.thread_ts {
        link.push_str(&format!("?thread_ts={parent}&cid={channel}"));
    }
    Json(json!({"ok": true, "channel": channel, "permalink": link})).into_response()
}

fn file_info(fake: &FakeSlack, args: &Value) -> Response {
    let id = args["file"].as_str().unwrap_or_default();
    let s = lock(fake);
    let Some(f) = s.files.iter().find(|f| f.id == id) else {
        return slack_error("file_not_found");
    };
    let link = format!("{WORKSPACE}/files/{BOT_USER}/{}/{}", f.id, f.filename);
    Json(json!({"ok": true, "file": {
        "id": f.id, "name": f.filename, "title": f.title, "permalink": link,
    }}))
    .into_response()
}

/// `files.delete`: a deleted file is gone from the channel; deleting it again is an error.
fn delete_file(fake: &FakeSlack, args: &Value) -> Response {
    let id = args["file"].as_str().unwrap_or_default();
    let mut s = lock(fake);
    let before = s.files.len();
    s.files.retain(|f| f.id != id);
    if s.files.len() == before {
        return slack_error("file_not_found");
    }
    Json(json!({"ok": true})).into_response()
}

/// A message's blocks as the text a person reads, each line indented by `indent`.
fn render_message(m: &Posted, indent: &str) -> String {
    let mut lines = vec![];
    for b in m.blocks.as_array().into_iter().flatten() {
        match b["type"].as_str().unwrap_or_default() {
            "section" | "header" => {
                lines.push(b["text"]["text"].as_str().unwrap_or_default().to_string())
            }
            "context" => lines.push(
                b["elements"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["text"].as_str())
                    .collect::<Vec<_>>()
                    .join(" · "),
            ),
            "actions" => lines.push(
                b["elements"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|e| format!("[{}]", e["text"]["text"].as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            "divider" => lines.push("---".into()),
            other => lines.push(format!("({other})")),
        }
    }
    if lines.is_empty() {
        lines.push(m.text.clone());
    }
    lines
        .join("\n")
        .lines()
        .map(|l| format!("{indent}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The interactive element `action_id` in a posted message's actions blocks.
fn element(message: &Posted, action_id: &str) -> Value {
    message
        .blocks
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .find(|e| e["action_id"] == action_id)
        .unwrap_or_else(|| panic!("no element {action_id} on message {}", message.ts))
}
