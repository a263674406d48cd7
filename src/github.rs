//! GitHub's secret scanning alerts through its REST API (`KEYLEAK_GITHUB_API_URL`, so GitHub
//! Enterprise Server works too): the alert read to learn the key id a webhook does not
//! carry, and resolved as `revoked` once the key is contained.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use crate::config::Secret;
use crate::domain::ids::AccessKeyId;

/// The secret types whose `secret` is an access key id: the only alerts whose secret is read.
pub const KEY_ID_TYPES: [&str; 2] = ["aws_access_key_id", "aws_temporary_access_key_id"];

/// An alert, by where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRef {
    pub owner: String,
    pub repo: String,
    pub number: u64,
}

impl AlertRef {
    /// From an alert's page, `…/{owner}/{repo}/security/secret-scanning/{number}`, on any host.
    pub fn from_page(url: &str) -> Option<Self> {
        let path: Vec<&str> = url.trim_end_matches('/').rsplit('/').take(5).collect();
        match path.as_slice() {
            [number, "secret-scanning", "security", repo, owner] => Some(Self {
                owner: (*owner).to_string(),
                repo: (*repo).to_string(),
                number: number.parse().ok()?,
            }),
            _ => None,
        }
    }
}

impl std::fmt::Display for AlertRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} alert {}", self.owner, self.repo, self.number)
    }
}

/// What keyleak keeps of an alert: the key id and the alert's page, never the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertFacts {
    pub key: Option<AccessKeyId>,
    pub page: String,
    pub open: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitHubError {
    #[error("GitHub refused the token (401): check KEYLEAK_GITHUB_TOKEN")]
    Unauthorized,
    #[error("GitHub answered 403: the token may not {0}")]
    Forbidden(&'static str),
    #[error("GitHub has no such alert, or the token cannot see it (404)")]
    NotFound,
    #[error("GitHub's rate limit is spent")]
    RateLimited,
    #[error("GitHub did not answer: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait SecretAlerts: Send + Sync {
    async fn read_alert(&self, alert: &AlertRef) -> Result<AlertFacts, GitHubError>;
    /// Resolves the alert as `revoked`, with a comment.
    async fn resolve_alert(&self, alert: &AlertRef, comment: &str) -> Result<(), GitHubError>;
}

pub struct RestGitHub {
    base: String,
    token: Secret,
    http: reqwest::Client,
}

/// GitHub waits 10 s for a webhook's answer, and the alert is read before it.
const CALL_LIMIT: Duration = Duration::from_secs(5);

/// The alert as the REST API answers; `secret` is read only for key id types.
#[derive(Deserialize)]
struct AlertBody {
    html_url: String,
    state: String,
    secret_type: String,
    secret: Option<String>,
}

impl RestGitHub {
    pub fn new(base: &str, token: Secret) -> std::io::Result<Self> {
        let tls = crate::tls::client_config()?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured((*tls).clone())
            .timeout(CALL_LIMIT)
            .user_agent(concat!("keyleak/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            token,
            http,
        })
    }

    fn url(&self, a: &AlertRef) -> String {
        format!(
            "{}/repos/{}/{}/secret-scanning/alerts/{}",
            self.base, a.owner, a.repo, a.number
        )
    }

    fn request(&self, method: reqwest::Method, a: &AlertRef) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(a))
            .bearer_auth(self.token.expose())
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
    }
}

/// GitHub's answer sorted by what the caller can do about it.
fn refused(r: &reqwest::Response, doing: &'static str) -> Option<GitHubError> {
    let status = r.status().as_u16();
    let spent = r
        .headers()
        .get("x-ratelimit-remaining")
        .is_some_and(|v| v == "0");
    match status {
        200..=299 => None,
        401 => Some(GitHubError::Unauthorized),
        429 => Some(GitHubError::RateLimited),
        403 if spent => Some(GitHubError::RateLimited),
        403 => Some(GitHubError::Forbidden(doing)),
        404 => Some(GitHubError::NotFound),
        _ => Some(GitHubError::Unavailable(format!("HTTP {status}"))),
    }
}

fn transport(e: &reqwest::Error) -> GitHubError {
    // The error names the URL, never the token.
    GitHubError::Unavailable(if e.is_timeout() {
        "no answer within 5 s".into()
    } else {
        "the connection failed".into()
    })
}

#[async_trait]
impl SecretAlerts for RestGitHub {
    async fn read_alert(&self, a: &AlertRef) -> Result<AlertFacts, GitHubError> {
        let r = self
            .request(reqwest::Method::GET, a)
            .send()
            .await
            .map_err(|e| transport(&e))?;
        if let Some(e) = refused(&r, "read secret scanning alerts") {
            return Err(e);
        }
        let body: AlertBody = r
            .json()
            .await
            .map_err(|_| GitHubError::Unavailable("an answer that is not an alert".into()))?;
        let key = KEY_ID_TYPES
            .contains(&body.secret_type.as_str())
            .then(|| {
                body.secret
                    .as_deref()
                    .and_then(|s| AccessKeyId::parse(s).ok())
            })
            .flatten();
        Ok(AlertFacts {
            key,
            page: body.html_url,
            open: body.state == "open",
        })
    }

    async fn resolve_alert(&self, a: &AlertRef, comment: &str) -> Result<(), GitHubError> {
        let body = serde_json::json!({
            "state": "resolved",
            "resolution": "revoked",
            "resolution_comment": comment,
        });
        let r = self
            .request(reqwest::Method::PATCH, a)
            .json(&body)
            .send()
            .await
            .map_err(|e| transport(&e))?;
        match refused(
            &r,
            "resolve alerts (it needs write access to security events)",
        ) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_is_found_from_its_page_on_any_host() {
        assert_eq!(
            AlertRef::from_page(
                "https://github.com/Codertocat/Hello-World/security/secret-scanning/42"
            ),
            Some(AlertRef {
                owner: "Codertocat".into(),
                repo: "Hello-World".into(),
                number: 42
            })
        );
        assert!(
            AlertRef::from_page("https://ghes.example.com/o/r/security/secret-scanning/7/")
                .is_some()
        );
        for bad in [
            "https://github.com/o/r/security/code-scanning/7",
            "https://github.com/o/r/security/secret-scanning/x",
            "secret-scanning/7",
        ] {
            assert_eq!(AlertRef::from_page(bad), None, "{bad}");
        }
    }
}
