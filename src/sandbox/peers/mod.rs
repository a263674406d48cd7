//! The peers keyleak talks to, on loopback, for the sandbox and the tests alike: moto for
//! AWS, with emulators in front of it for what moto lacks (IAM's policy simulator and Access
//! Advisor, CloudTrail's LookupEvents, GuardDuty's findings), and a Slack that answers as
//! Slack does. Each speaks its service's wire protocol and enforces its published limits.

pub mod guardduty;
pub mod iam;
pub mod iam_eval;
pub mod moto;
pub mod slack;
pub mod socket;
pub mod trail;

use std::sync::{Mutex, MutexGuard};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// Per-service endpoints, as the SDK reads them from `AWS_ENDPOINT_URL_<SERVICE>`: CloudTrail
/// and GuardDuty at the emulator, everything else at moto.
#[derive(Debug)]
struct Endpoints {
    moto: String,
    emulator: String,
}

impl LoadServiceConfig for Endpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        if key.env() != "AWS_ENDPOINT_URL" {
            return None;
        }
        Some(match key.service_id() {
            "CloudTrail" | "GuardDuty" => self.emulator.clone(),
            _ => self.moto.clone(),
        })
    }
}

/// keyleak's own AWS settings: credentials of moto's default account, CloudTrail and
/// GuardDuty at `emulator`, everything else at `aws` (moto, or a proxy in front of it).
pub async fn bot_config(aws: &str, emulator: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "AKIAKEYLEAKTESTADMIN",
            "test-secret",
            None,
            None,
            "sandbox",
        ))
        .load()
        .await
        .to_builder()
        .service_config(Endpoints {
            moto: aws.to_string(),
            emulator: emulator.to_string(),
        })
        .build()
}

/// A client for the peers' plain HTTP on loopback. keyleak's reqwest has no TLS provider of
/// its own (`src/tls.rs` names one), so this one is given ring with no roots: it could reach
/// nothing over TLS, and needs nothing. Proxies are ignored: loopback is not to be proxied.
pub fn http() -> std::io::Result<reqwest::Client> {
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .build()
        .map_err(std::io::Error::other)
}

/// A peer's state, even after a handler panicked holding it: a peer serves on.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A loopback listener on a port the system picks.
async fn loopback() -> std::io::Result<(tokio::net::TcpListener, std::net::SocketAddr)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// Sends the request on to `target` as it came, its `Host` kept so that a signature still
/// verifies there, and hands back the answer.
pub async fn relay(
    client: &reqwest::Client,
    target: &str,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map(|x| x.as_str()).unwrap_or("/");
    let mut req = client.request(method, format!("{target}{path}"));
    for (k, v) in headers.iter() {
        if k != "content-length" {
            req = req.header(k, v);
        }
    }
    let Ok(resp) = req.body(body).send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = resp.status();
    let mut out = HeaderMap::new();
    for (k, v) in resp.headers() {
        if k != "transfer-encoding" && k != "content-length" && k != "connection" {
            out.append(k, v.clone());
        }
    }
    let bytes = resp.bytes().await.unwrap_or_default();
    (status, out, bytes).into_response()
}
