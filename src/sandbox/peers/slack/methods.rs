//! The Web API's methods, each with the checks and errors Slack documents for it.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Value, json};

use super::{
    BOT_USER, Channel, FakeSlack, Inner, Posted, SharedFile, Upload, WORKSPACE, lock, slack_error,
};

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

pub(super) async fn post_message(fake: &FakeSlack, args: &Value) -> Response {
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

pub(super) fn update(fake: &FakeSlack, args: &Value) -> Response {
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

pub(super) fn group_members(fake: &FakeSlack, args: &Value) -> Response {
    let id = args["usergroup"].as_str().unwrap_or_default();
    match lock(fake).groups.get(id) {
        Some(users) => Json(json!({"ok": true, "users": users})).into_response(),
        None => slack_error("no_such_subteam"),
    }
}

/// As api.slack.com/methods/auth.test documents its answer for a bot token.
pub(super) fn auth_test() -> Response {
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
pub(super) async fn hang_if_told(fake: &FakeSlack) {
    if lock(fake).hang_all {
        std::future::pending::<()>().await;
    }
}

pub(super) async fn respond(
    State(fake): State<FakeSlack>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
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
pub(super) fn upload_url(fake: &FakeSlack, args: &Value) -> Response {
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

pub(super) async fn upload_bytes(
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

pub(super) fn complete_upload(fake: &FakeSlack, args: &Value) -> Response {
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
pub(super) fn create_channel(fake: &FakeSlack, args: &Value) -> Response {
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
pub(super) fn invite(fake: &FakeSlack, args: &Value) -> Response {
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

pub(super) fn set_topic(fake: &FakeSlack, args: &Value) -> Response {
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

pub(super) fn pin(fake: &FakeSlack, args: &Value) -> Response {
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

pub(super) fn permalink(fake: &FakeSlack, args: &Value) -> Response {
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

pub(super) fn file_info(fake: &FakeSlack, args: &Value) -> Response {
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
pub(super) fn delete_file(fake: &FakeSlack, args: &Value) -> Response {
    let id = args["file"].as_str().unwrap_or_default();
    let mut s = lock(fake);
    let before = s.files.len();
    s.files.retain(|f| f.id != id);
    if s.files.len() == before {
        return slack_error("file_not_found");
    }
    Json(json!({"ok": true})).into_response()
}
