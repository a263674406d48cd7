//! The sandbox's page, served beside the fake Slack's Web API: what Slack would show (the
//! channels, messages, threads, files and private answers the fake holds), and what Slack
//! would send keyleak when a person types a command or presses a button, signed as Slack
//! signs it.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::peers::slack::{self, FakeSlack};
use crate::config::Secret;

/// The three people of the sandbox: one who asks, two who may approve.
pub const PEOPLE: [Person; 3] = [
    Person {
        id: "U0SBXRIYA",
        name: "Riya",
        role: "responder",
    },
    Person {
        id: "U0SBXSAM",
        name: "Sam",
        role: "approver",
    },
    Person {
        id: "U0SBXALEX",
        name: "Alex",
        role: "approver",
    },
];

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Person {
    pub id: &'static str,
    pub name: &'static str,
    pub role: &'static str,
}

struct Inner {
    slack: FakeSlack,
    /// keyleak's address, where Slack's requests go.
    keyleak: String,
    signing_secret: Secret,
    /// The `Host` values the page answers: a page reached under any other name (a DNS name
    /// rebound to 127.0.0.1) is refused.
    hosts: [String; 2],
    scenario: String,
    http: reqwest::Client,
}

#[derive(Clone)]
pub struct Page(Arc<Inner>);

impl Page {
    pub fn new(
        slack: FakeSlack,
        keyleak: String,
        signing_secret: Secret,
        port: u16,
        scenario: String,
    ) -> std::io::Result<Self> {
        Ok(Self(Arc::new(Inner {
            slack,
            keyleak,
            signing_secret,
            hosts: [format!("127.0.0.1:{port}"), format!("localhost:{port}")],
            scenario,
            http: super::peers::http()?,
        })))
    }

    pub fn routes<S>(self) -> Router<S> {
        Router::new()
            .route("/", get(index))
            .route("/sandbox/state", get(state))
            .route("/sandbox/command", post(command))
            .route("/sandbox/click", post(click))
            .route("/sandbox/files/{id}", get(file))
            .route_layer(middleware::from_fn_with_state(self.clone(), this_host))
            .with_state(self)
    }

    /// Posts `body` to keyleak as Slack does: form-encoded, timestamped and signed.
    async fn post_signed(&self, path: &str, body: String) -> Result<reqwest::Response, Refused> {
        let ts = chrono::Utc::now().timestamp().to_string();
        let signature = slack::signature(self.0.signing_secret.expose(), &ts, body.as_bytes());
        self.0
            .http
            .post(format!("{}{path}", self.0.keyleak))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                Refused(
                    StatusCode::BAD_GATEWAY,
                    format!("keyleak did not answer: {e}"),
                )
            })
    }
}

async fn this_host(State(page): State<Page>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !page.0.hosts.iter().any(|h| h == host) {
        return refuse(
            StatusCode::FORBIDDEN,
            "the sandbox answers on 127.0.0.1 only",
        )
        .into_response();
    }
    next.run(request).await
}

/// Why the page refused a request, said plainly.
struct Refused(StatusCode, String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

fn refuse(status: StatusCode, why: &str) -> Refused {
    Refused(status, why.to_string())
}

async fn index() -> Response {
    (
        [
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 img-src 'self'; frame-ancestors 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        Html(include_str!("../../assets/sandbox/index.html")),
    )
        .into_response()
}

#[derive(Deserialize)]
struct Who {
    #[serde(default)]
    user: String,
}

fn person(id: &str) -> Result<&'static Person, Refused> {
    PEOPLE
        .iter()
        .find(|p| p.id == id)
        .ok_or_else(|| refuse(StatusCode::BAD_REQUEST, "not one of the sandbox's people"))
}

/// Everything the page shows, as `who` may see it.
async fn state(State(page): State<Page>, Query(who): Query<Who>) -> Response {
    let slack = &page.0.slack;
    let files: Vec<Value> = slack
        .files()
        .iter()
        .map(|f| {
            json!({"id": f.id, "filename": f.filename, "title": f.title, "channel": f.channel,
                   "thread_ts": f.thread_ts, "comment": f.comment, "size": f.bytes.len()})
        })
        .collect();
    Json(json!({
        "user": who.user,
        "scenario": page.0.scenario,
        "people": PEOPLE,
        "channels": slack.channels(),
        "messages": slack.messages(),
        "files": files,
        "answers": slack.answers_to(&who.user),
    }))
    .into_response()
}

/// A body the page sent: JSON only, which a form on another site cannot send without
/// asking first (CORS), so no other page can act through the sandbox.
fn json_body<T: for<'de> Deserialize<'de>>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, Refused> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if !is_json {
        return Err(refuse(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send JSON"));
    }
    serde_json::from_slice(body).map_err(|e| Refused(StatusCode::BAD_REQUEST, e.to_string()))
}

#[derive(Deserialize)]
struct Typed {
    user: String,
    #[serde(default)]
    channel: String,
    text: String,
}

/// A message typed in the page: a `/keyleak` command goes to keyleak as Slack sends one, and
/// keyleak's answer is kept as a private answer to its author.
async fn command(
    State(page): State<Page>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refused> {
    let typed: Typed = json_body(&headers, &body)?;
    let who = person(&typed.user)?;
    let slack = &page.0.slack;
    let Some(text) = typed.text.trim().strip_prefix("/keyleak") else {
        slack.answer_privately(
            who.id,
            json!({"text": "This sandbox takes `/keyleak` commands only, like `/keyleak help`."}),
        );
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let response_url = slack.url.replace("/api", &format!("/respond/{}", who.id));
    let form = serde_urlencoded::to_string([
        ("token", "sandbox"),
        ("team_id", "T0SANDBOX1"),
        ("channel_id", typed.channel.as_str()),
        ("user_id", who.id),
        ("user_name", who.name),
        ("command", "/keyleak"),
        ("text", text.trim()),
        ("response_url", response_url.as_str()),
        ("trigger_id", "sandbox.trigger"),
    ])
    .map_err(|_| refuse(StatusCode::BAD_REQUEST, "the command could not be encoded"))?;
    let answer = page.post_signed("/slack/commands", form).await?;
    let status = answer.status();
    if let Ok(said) = answer.json::<Value>().await {
        slack.answer_privately(who.id, said);
    }
    Ok(status_of(status))
}

#[derive(Deserialize)]
struct Clicked {
    user: String,
    ts: String,
    action_id: String,
    /// The chosen option's value, for a menu.
    option: Option<String>,
}

/// A button pressed (its confirm dialog already accepted) or a menu option chosen: the
/// `block_actions` payload Slack would send, built from the message as posted.
async fn click(
    State(page): State<Page>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refused> {
    let clicked: Clicked = json_body(&headers, &body)?;
    let who = person(&clicked.user)?;
    let slack = &page.0.slack;
    let message = slack
        .message(&clicked.ts)
        .ok_or_else(|| refuse(StatusCode::NOT_FOUND, "no such message"))?;
    let payload = match &clicked.option {
        None => slack.click_payload(who.id, &message, &clicked.action_id),
        Some(value) => slack.choose_payload(who.id, &message, &clicked.action_id, value),
    }
    .ok_or_else(|| {
        refuse(
            StatusCode::NOT_FOUND,
            "no such button or option on that message",
        )
    })?;
    let form = serde_urlencoded::to_string([("payload", payload.to_string())])
        .map_err(|_| refuse(StatusCode::BAD_REQUEST, "the click could not be encoded"))?;
    let answer = page.post_signed("/slack/interactions", form).await?;
    Ok(status_of(answer.status()))
}

fn status_of(status: reqwest::StatusCode) -> Response {
    StatusCode::from_u16(status.as_u16())
        .unwrap_or(StatusCode::BAD_GATEWAY)
        .into_response()
}

/// A file shared in a channel, as Slack would show it: a chart inline, text as text.
async fn file(State(page): State<Page>, Path(id): Path<String>) -> Result<Response, Refused> {
    let f = page
        .0
        .slack
        .files()
        .into_iter()
        .find(|f| f.id == id)
        .ok_or_else(|| refuse(StatusCode::NOT_FOUND, "no such file"))?;
    let kind = match f.filename.rsplit_once('.').map(|(_, ext)| ext) {
        Some("png") => "image/png",
        // Shown, not downloaded, as Slack previews them.
        Some("csv" | "md") => "text/plain; charset=utf-8",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    Ok((
        [
            (header::CONTENT_TYPE, kind),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'"),
        ],
        f.bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    use super::*;

    const PORT: u16 = 3030;

    async fn page() -> (FakeSlack, Router) {
        let slack = FakeSlack::at(([127, 0, 0, 1], PORT).into()).await.unwrap();
        // keyleak is nowhere: port 1 on loopback refuses at once.
        let page = Page::new(
            slack.clone(),
            "http://127.0.0.1:1".into(),
            Secret::new("sandbox-test-secret"),
            PORT,
            "the story".into(),
        )
        .unwrap();
        (slack, page.routes())
    }

    fn post(path: &str, content_type: &str, body: &str) -> Request<Body> {
        Request::post(path)
            .header("host", format!("127.0.0.1:{PORT}"))
            .header("content-type", content_type)
            .body(Body::from(body.to_string()))
            .unwrap()
    }

    async fn status(app: &Router, request: Request<Body>) -> StatusCode {
        app.clone().oneshot(request).await.unwrap().status()
    }

    #[tokio::test]
    async fn a_page_reached_under_another_name_is_refused() {
        let (_, app) = page().await;
        for host in ["evil.example:3030", "127.0.0.1:3031", ""] {
            let request = Request::get("/")
                .header("host", host)
                .body(Body::empty())
                .unwrap();
            assert_eq!(status(&app, request).await, StatusCode::FORBIDDEN, "{host}");
        }
        let request = Request::get("/")
            .header("host", format!("localhost:{PORT}"))
            .body(Body::empty())
            .unwrap();
        let answer = app.clone().oneshot(request).await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        assert!(
            answer
                .headers()
                .contains_key(header::CONTENT_SECURITY_POLICY)
        );
    }

    #[tokio::test]
    async fn bad_requests_get_a_clear_refusal_and_change_nothing() {
        let (slack, app) = page().await;
        let typed = r#"{"user":"U0SBXRIYA","channel":"C0KEYLEAK01","text":"/keyleak help"}"#;
        // A form from another site cannot act through the page: JSON only.
        let form = post(
            "/sandbox/command",
            "application/x-www-form-urlencoded",
            typed,
        );
        assert_eq!(status(&app, form).await, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let stranger = r#"{"user":"U0SOMEONE","text":"/keyleak help"}"#;
        let stranger = post("/sandbox/command", "application/json", stranger);
        assert_eq!(status(&app, stranger).await, StatusCode::BAD_REQUEST);
        let broken = post("/sandbox/command", "application/json", "{");
        assert_eq!(status(&app, broken).await, StatusCode::BAD_REQUEST);
        let click = r#"{"user":"U0SBXSAM","ts":"1.2","action_id":"proposal.approve"}"#;
        let click = post("/sandbox/click", "application/json", click);
        assert_eq!(status(&app, click).await, StatusCode::NOT_FOUND);
        let file = Request::get("/sandbox/files/F0NOPE")
            .header("host", format!("127.0.0.1:{PORT}"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(status(&app, file).await, StatusCode::NOT_FOUND);
        assert!(slack.answers_to("U0SBXRIYA").is_empty());
        assert!(slack.messages().is_empty());

        // Chat is not a command: said so privately, and nothing reaches keyleak.
        let chat = r#"{"user":"U0SBXRIYA","text":"hello"}"#;
        let chat = post("/sandbox/command", "application/json", chat);
        assert_eq!(status(&app, chat).await, StatusCode::NO_CONTENT);
        let said = slack.answers_to("U0SBXRIYA");
        assert!(
            said[0]["text"].as_str().unwrap().contains("`/keyleak`"),
            "{said:?}"
        );
        // keyleak down: the page says so.
        let down = post("/sandbox/command", "application/json", typed);
        assert_eq!(status(&app, down).await, StatusCode::BAD_GATEWAY);
    }
}
