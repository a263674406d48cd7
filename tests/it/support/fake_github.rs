//! GitHub's REST API for secret scanning alerts, as GitHub answers it: `GET` and `PATCH
//! /repos/{owner}/{repo}/secret-scanning/alerts/{number}` with a bearer token, 401 for a
//! wrong token, 404 for an alert it does not have, 403 with `x-ratelimit-remaining: 0` when
//! the rate limit is spent, and 403 for a PATCH by a token that may only read.
// Handlers return the HTTP answer GitHub would give as their error, as axum does.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

pub const TOKEN: &str = "ghp_keyleakTestToken0000000000000000000";
pub const WEBHOOK_SECRET: &str = "github-webhook-secret-for-tests";

#[derive(Default)]
struct Inner {
    /// Alerts by (owner, repo, number), as the REST API answers them.
    alerts: HashMap<(String, String, u64), Value>,
    rate_limited: bool,
    read_only: bool,
    /// Every PATCH: the alert and its body.
    resolved: Vec<(String, Value)>,
    reads: usize,
}

#[derive(Clone)]
pub struct FakeGitHub {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

type Key = (String, String, u64);

impl FakeGitHub {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route(
                "/repos/{owner}/{repo}/secret-scanning/alerts/{number}",
                get(read).patch(resolve),
            )
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, inner }
    }

    /// An alert about `key` in `owner/repo`, as `tests/fixtures/github/alert_get.json`.
    pub fn add_alert(&self, owner: &str, repo: &str, number: u64, secret_type: &str, secret: &str) {
        let mut v = super::fixture("github/alert_get");
        let page = format!("https://github.com/{owner}/{repo}/security/secret-scanning/{number}");
        v["number"] = json!(number);
        v["html_url"] = json!(page);
        v["secret_type"] = json!(secret_type);
        v["secret"] = json!(secret);
        self.inner
            .lock()
            .unwrap()
            .alerts
            .insert((owner.into(), repo.into(), number), v);
    }

    pub fn rate_limit(&self, on: bool) {
        self.inner.lock().unwrap().rate_limited = on;
    }

    pub fn read_only(&self, on: bool) {
        self.inner.lock().unwrap().read_only = on;
    }

    pub fn resolved(&self) -> Vec<(String, Value)> {
        self.inner.lock().unwrap().resolved.clone()
    }

    pub fn reads(&self) -> usize {
        self.inner.lock().unwrap().reads
    }
}

fn refusal(status: StatusCode, message: &str, headers: &[(&'static str, &str)]) -> Response {
    let mut r = (
        status,
        axum::Json(json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": status.as_u16().to_string()
        })),
    )
        .into_response();
    for (k, v) in headers {
        r.headers_mut().insert(*k, v.parse().unwrap());
    }
    r
}

/// The checks every call gets, in GitHub's order: the token, then the rate limit.
fn admit(inner: &Inner, headers: &HeaderMap) -> Result<(), Response> {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {TOKEN}")) {
        return Err(refusal(StatusCode::UNAUTHORIZED, "Bad credentials", &[]));
    }
    if inner.rate_limited {
        return Err(refusal(
            StatusCode::FORBIDDEN,
            "API rate limit exceeded",
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1893456000"),
            ],
        ));
    }
    Ok(())
}

async fn read(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(key): Path<Key>,
    headers: HeaderMap,
) -> Response {
    let mut inner = inner.lock().unwrap();
    if let Err(r) = admit(&inner, &headers) {
        return r;
    }
    inner.reads += 1;
    match inner.alerts.get(&key) {
        Some(a) => axum::Json(a.clone()).into_response(),
        None => refusal(StatusCode::NOT_FOUND, "Not Found", &[]),
    }
}

async fn resolve(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(key): Path<Key>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut inner = inner.lock().unwrap();
    if let Err(r) = admit(&inner, &headers) {
        return r;
    }
    if inner.read_only {
        return refusal(
            StatusCode::FORBIDDEN,
            "Resource not accessible by personal access token",
            &[],
        );
    }
    let name = format!("{}/{} #{}", key.0, key.1, key.2);
    let Some(alert) = inner.alerts.get_mut(&key) else {
        return refusal(StatusCode::NOT_FOUND, "Not Found", &[]);
    };
    alert["state"] = body["state"].clone();
    alert["resolution"] = body["resolution"].clone();
    alert["resolution_comment"] = body["resolution_comment"].clone();
    let answer = alert.clone();
    inner.resolved.push((name, body));
    axum::Json(answer).into_response()
}
