//! What lets AWS and GitHub start incidents: the secrets their requests must carry, and the
//! containment policy applied to what they report.

use super::{Reader, Secret};
use crate::domain::signal::{AutoContain, ContainPolicy, Exception};

/// `POST /aws/events`, for an EventBridge API destination: an API key header, or Basic.
#[derive(Debug, Clone)]
pub struct AwsEventsConfig {
    /// `KEYLEAK_AWS_EVENTS_HEADER`, lower case (default `x-keyleak-token`).
    pub header: String,
    /// `KEYLEAK_AWS_EVENTS_SECRET`: a comma list, so a new value can be added before the old
    /// is removed. A value `user:password` is also accepted as Basic credentials.
    pub secrets: Vec<Secret>,
}

/// `POST /github/webhook`, for secret scanning alerts, and the REST API they are read with.
#[derive(Debug, Clone)]
pub struct GitHubConfig {
    /// `KEYLEAK_GITHUB_WEBHOOK_SECRET`: a comma list, for rotation.
    pub webhook_secrets: Vec<Secret>,
    /// `KEYLEAK_GITHUB_TOKEN`: reads the alert (the webhook does not carry the key id) and
    /// resolves it once the key is contained.
    pub token: Secret,
    /// `KEYLEAK_GITHUB_API_URL` (default `https://api.github.com`; GitHub Enterprise Server's
    /// is `https://HOST/api/v3`).
    pub api_url: String,
}

#[derive(Debug, Clone, Default)]
pub struct IntakeConfig {
    /// Unset: `POST /aws/events` answers 404.
    pub aws_events: Option<AwsEventsConfig>,
    /// Unset: `POST /github/webhook` answers 404.
    pub github: Option<GitHubConfig>,
    pub policy: ContainPolicy,
}

/// HTTP header names: RFC 9110 tokens.
fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Reader<'_> {
    pub(super) fn intake(&mut self) -> IntakeConfig {
        IntakeConfig {
            aws_events: self.aws_events(),
            github: self.github(),
            policy: self.contain_policy(),
        }
    }

    fn github(&mut self) -> Option<GitHubConfig> {
        let webhook_secrets = self.secrets("KEYLEAK_GITHUB_WEBHOOK_SECRET")?;
        if webhook_secrets.is_empty() {
            self.problem("KEYLEAK_GITHUB_WEBHOOK_SECRET", "lists no secret");
        }
        let Some(token) = self.optional("KEYLEAK_GITHUB_TOKEN") else {
            self.problem(
                "KEYLEAK_GITHUB_TOKEN",
                "required with KEYLEAK_GITHUB_WEBHOOK_SECRET: a secret scanning webhook does not \
                 carry the key id, which keyleak reads from the alert",
            );
            return None;
        };
        let api_url = self.base_url("KEYLEAK_GITHUB_API_URL", "https://api.github.com");
        Some(GitHubConfig {
            webhook_secrets,
            token: Secret::new(token),
            api_url,
        })
    }

    fn aws_events(&mut self) -> Option<AwsEventsConfig> {
        let secrets = self.secrets("KEYLEAK_AWS_EVENTS_SECRET")?;
        if secrets.is_empty() || secrets.iter().any(|s| s.expose().len() < 16) {
            self.problem(
                "KEYLEAK_AWS_EVENTS_SECRET",
                "each value must be at least 16 characters (the API destination's key)",
            );
        }
        let header = self
            .optional("KEYLEAK_AWS_EVENTS_HEADER")
            .unwrap_or_else(|| "x-keyleak-token".into())
            .to_ascii_lowercase();
        if !is_header_name(&header) {
            self.problem(
                "KEYLEAK_AWS_EVENTS_HEADER",
                "must be an HTTP header name such as x-keyleak-token",
            );
        }
        Some(AwsEventsConfig { header, secrets })
    }

    fn contain_policy(&mut self) -> ContainPolicy {
        let mut policy = ContainPolicy::default();
        if let Some(raw) = self.optional("KEYLEAK_AUTO_CONTAIN") {
            match AutoContain::parse(&raw) {
                Some(mode) => policy.mode = mode,
                None => self.problem(
                    "KEYLEAK_AUTO_CONTAIN",
                    "must be `off`, `confirmed` or `suspected`",
                ),
            }
        }
        if let Some(raw) = self.optional("KEYLEAK_AUTO_CONTAIN_MIN_SEVERITY") {
            match raw.parse::<f64>() {
                Ok(n) if (0.0..=10.0).contains(&n) => policy.min_severity = n,
                _ => self.problem(
                    "KEYLEAK_AUTO_CONTAIN_MIN_SEVERITY",
                    "must be a GuardDuty severity from 0.0 to 10.0, such as 7.0",
                ),
            }
        }
        if let Some(raw) = self.optional("KEYLEAK_AUTO_CONTAIN_EXCEPT") {
            for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                match Exception::parse(part) {
                    Some(e) => policy.except.push(e),
                    None => self.problem(
                        "KEYLEAK_AUTO_CONTAIN_EXCEPT",
                        format!(
                            "`{part}` is neither an IAM user name, an account:user pair nor a \
                             12-digit account id"
                        ),
                    ),
                }
            }
        }
        policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> (IntakeConfig, Vec<String>) {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        let get = move |k: &str| map.get(k).cloned();
        let mut r = Reader::new(&get);
        let intake = r.intake();
        let problems = r.problems.iter().map(ToString::to_string).collect();
        (intake, problems)
    }

    #[test]
    fn nothing_set_means_no_intake_and_no_automatic_containment() {
        let (intake, problems) = load(&[]);
        assert!(intake.aws_events.is_none());
        assert!(intake.github.is_none());
        assert_eq!(intake.policy, ContainPolicy::default());
        assert!(problems.is_empty());
    }

    #[test]
    fn the_policy_and_the_secrets_are_read_and_checked() {
        let (intake, problems) = load(&[
            (
                "KEYLEAK_AWS_EVENTS_SECRET",
                "0123456789abcdef, fedcba9876543210",
            ),
            ("KEYLEAK_AWS_EVENTS_HEADER", "X-Api-Key"),
            ("KEYLEAK_AUTO_CONTAIN", "Suspected"),
            ("KEYLEAK_AUTO_CONTAIN_MIN_SEVERITY", "8.5"),
            (
                "KEYLEAK_AUTO_CONTAIN_EXCEPT",
                "break-glass, 111122223333:honey",
            ),
        ]);
        assert!(problems.is_empty(), "{problems:?}");
        let aws = intake.aws_events.unwrap();
        assert_eq!(aws.header, "x-api-key");
        assert_eq!(aws.secrets.len(), 2);
        assert_eq!(intake.policy.mode, AutoContain::Suspected);
        assert_eq!(intake.policy.min_severity, 8.5);
        assert_eq!(intake.policy.except.len(), 2);

        let (_, problems) = load(&[
            ("KEYLEAK_AWS_EVENTS_SECRET", "short"),
            ("KEYLEAK_AWS_EVENTS_HEADER", "no spaces"),
            ("KEYLEAK_AUTO_CONTAIN", "always"),
            ("KEYLEAK_AUTO_CONTAIN_MIN_SEVERITY", "11"),
            ("KEYLEAK_AUTO_CONTAIN_EXCEPT", "ok, bad user"),
            ("KEYLEAK_GITHUB_WEBHOOK_SECRET", "short"),
        ]);
        assert_eq!(problems.len(), 6, "{problems:#?}");
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("KEYLEAK_GITHUB_TOKEN"))
        );
        assert!(
            problems.iter().all(|p| !p.contains("short")),
            "a secret is never echoed"
        );
    }
}
