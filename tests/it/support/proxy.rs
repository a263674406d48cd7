//! An HTTP proxy in front of moto that counts AWS actions and can hold one action forever,
//! to stop a playbook between two steps as a crash would.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

#[derive(Clone)]
pub struct AwsProxy {
    pub url: String,
    target: String,
    client: reqwest::Client,
    counts: Arc<Mutex<HashMap<String, usize>>>,
    hold: Arc<Mutex<Option<String>>>,
    fail: Arc<Mutex<Option<(String, String)>>>,
    /// Fail the next request for this action only.
    fail_once: Arc<Mutex<Option<(String, String)>>>,
    answer: Arc<Mutex<Option<(String, String)>>>,
    /// Requests for this action reach moto only after this long.
    delay: Arc<Mutex<Option<(String, std::time::Duration)>>>,
    /// Every request to a service (`iam`, `sts`) reaches moto only after this long.
    service_delays: Arc<Mutex<HashMap<String, std::time::Duration>>>,
}

/// The service a request is signed for: the fourth part of SigV4's credential scope
/// (`Credential=AKID/20261202/us-east-1/iam/aws4_request`).
fn service_of(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let scope = auth.split("Credential=").nth(1)?.split(',').next()?;
    scope.split('/').nth(3).map(str::to_string)
}

/// The AWS action of a request: `Action=` in a query-protocol body, or the operation named
/// by `X-Amz-Target` in a JSON-protocol one (Secrets Manager: `secretsmanager.PutSecretValue`).
fn action_of(headers: &HeaderMap, body: &Bytes) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or_default().to_string();
    }
    serde_urlencoded::from_bytes::<HashMap<String, String>>(body)
        .ok()
        .and_then(|m| m.get("Action").cloned())
        .unwrap_or_default()
}

impl AwsProxy {
    pub async fn start(target: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Self {
            url: format!("http://{}", listener.local_addr().unwrap()),
            target: target.trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
            counts: Arc::default(),
            hold: Arc::default(),
            fail: Arc::default(),
            fail_once: Arc::default(),
            answer: Arc::default(),
            delay: Arc::default(),
            service_delays: Arc::default(),
        };
        let app = Router::new().fallback(forward).with_state(proxy.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        proxy
    }

    /// Requests for this action never get an answer (and never reach moto) until released.
    pub fn hold(&self, action: Option<&str>) {
        *self.hold.lock().unwrap() = action.map(str::to_string);
    }

    /// Requests for `action` get AWS's query-protocol error `code` (HTTP 400) instead of
    /// reaching moto: for failures moto cannot produce.
    pub fn fail(&self, action: &str, code: &str) {
        *self.fail.lock().unwrap() = Some((action.to_string(), code.to_string()));
    }

    /// The next request for `action` fails with AWS's error `code`; later ones reach moto.
    pub fn fail_once(&self, action: &str, code: &str) {
        *self.fail_once.lock().unwrap() = Some((action.to_string(), code.to_string()));
    }

    /// Requests for `action` get this XML body (HTTP 200) instead of reaching moto: for
    /// answers moto cannot give, such as a root user's key.
    pub fn answer(&self, action: &str, xml: &str) {
        *self.answer.lock().unwrap() = Some((action.to_string(), xml.to_string()));
    }

    /// Requests for `action` wait `d` before they go on, as a slow AWS would answer.
    pub fn delay(&self, action: &str, d: std::time::Duration) {
        *self.delay.lock().unwrap() = Some((action.to_string(), d));
    }

    /// Every request to `service` waits `d`, as AWS's round trip from a data centre would:
    /// the benchmarks' latency proxy.
    pub fn delay_service(&self, service: &str, d: std::time::Duration) {
        self.service_delays
            .lock()
            .unwrap()
            .insert(service.to_string(), d);
    }

    pub fn count(&self, action: &str) -> usize {
        self.counts
            .lock()
            .unwrap()
            .get(action)
            .copied()
            .unwrap_or(0)
    }
}

async fn forward(
    State(p): State<AwsProxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let action = action_of(&headers, &body);
    *p.counts.lock().unwrap().entry(action.clone()).or_default() += 1;
    let held = p.hold.lock().unwrap().as_deref() == Some(action.as_str());
    if held {
        std::future::pending::<()>().await;
    }
    let delayed = p.delay.lock().unwrap().clone();
    if let Some((_, d)) = delayed.filter(|(a, _)| *a == action) {
        tokio::time::sleep(d).await;
    }
    let slowed =
        service_of(&headers).and_then(|s| p.service_delays.lock().unwrap().get(&s).copied());
    if let Some(d) = slowed {
        tokio::time::sleep(d).await;
    }
    let answering = p.answer.lock().unwrap().clone();
    if let Some((_, xml)) = answering.filter(|(a, _)| *a == action) {
        return (StatusCode::OK, [("content-type", "text/xml")], xml).into_response();
    }
    let once = {
        let mut once = p.fail_once.lock().unwrap();
        match once.as_ref() {
            Some((a, _)) if *a == action => once.take(),
            _ => None,
        }
    };
    let failing = once.or_else(|| p.fail.lock().unwrap().clone());
    if let Some((_, code)) = failing.filter(|(a, _)| *a == action) {
        if headers.contains_key("x-amz-target") {
            let body = format!("{{\"__type\":\"{code}\",\"message\":\"injected {code}\"}}");
            return (
                StatusCode::BAD_REQUEST,
                [("content-type", "application/x-amz-json-1.1")],
                body,
            )
                .into_response();
        }
        let body = format!(
            "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error>\
             <Type>Sender</Type><Code>{code}</Code><Message>injected {code}</Message></Error>\
             <RequestId>injected-0001</RequestId></ErrorResponse>"
        );
        return (
            StatusCode::BAD_REQUEST,
            [("content-type", "text/xml")],
            body,
        )
            .into_response();
    }
    keyleak::sandbox::peers::relay(&p.client, &p.target, method, uri, headers, body).await
}
