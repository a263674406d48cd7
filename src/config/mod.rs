//! Configuration from the environment (docs/design.md §6), loaded and validated once at start-up.
//! Every problem is reported at once, each naming its variable, so one restart fixes them all.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

mod intake;

pub use intake::{AwsEventsConfig, GitHubConfig, IntakeConfig};

use crate::archive::layout::ArchiveLocation;
use crate::domain::ids::{RosterEntry, is_region_name};

/// A value that must never be printed. It has no `Display`, and `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// How long Slack may take: a Slack that accepts connections and never answers must not hold
/// the work that waits on it.
#[derive(Debug, Clone, Copy)]
pub struct SlackTimeouts {
    /// To open a TCP connection (`KEYLEAK_SLACK_CONNECT_TIMEOUT_SECONDS`).
    pub connect: Duration,
    /// For one call, from the request to the whole answer, including the library's own
    /// pacing and retries (`KEYLEAK_SLACK_TIMEOUT_SECONDS`).
    pub total: Duration,
}

impl Default for SlackTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            total: Duration::from_secs(20),
        }
    }
}

/// Settings needed by every mode: the store and AWS routing.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub database_url: String,
    pub role_arn_template: Option<String>,
    /// `KEYLEAK_ROLE_EXTERNAL_ID`: sent when assuming the responder role, whose trust policy
    /// asks for it.
    pub role_external_id: Option<String>,
    pub regions: Option<Vec<String>>,
    /// `KEYLEAK_CLOUDTRAIL_ARCHIVE`: the organization trail's bucket, scanned by forensics.
    pub archive: Option<ArchiveLocation>,
    /// What scanning the archive may cost in memory.
    pub archive_limits: crate::archive::ArchiveLimits,
    /// `KEYLEAK_EVIDENCE_BUCKET`: where a copy of the evidence kept before each deletion
    /// goes, besides the database.
    pub evidence: Option<ArchiveLocation>,
    /// How long after containment CloudTrail is watched (0: not at all), and how often.
    pub monitor_hours: u32,
    pub monitor_every_minutes: u32,
}

/// Settings of `keyleak serve`: the Slack side.
#[derive(Debug, Clone)]
pub struct SlackConfig {
    /// Empty in Socket Mode without HTTP: then every request to Slack's routes is refused.
    pub signing_secrets: Vec<Secret>,
    pub bot_token: Secret,
    /// `SLACK_APP_TOKEN`: when set, keyleak opens Socket Mode connections to Slack itself.
    pub socket_mode: Option<SocketModeConfig>,
    pub api_url: String,
    pub listen: SocketAddr,
    pub incident_channel: String,
    /// A private channel per incident (the default), or every incident as a thread in
    /// `incident_channel` (`KEYLEAK_INCIDENT_CHANNEL_MODE=shared`).
    pub channel_per_incident: bool,
    pub responders: Vec<RosterEntry>,
    pub approvers: Vec<RosterEntry>,
    /// How long a cleanup proposal waits for approval.
    pub proposal_ttl_minutes: u32,
    /// Distinct approvers a proposal needs besides its requester.
    pub approvals_required: usize,
    /// How long a Slack call may take.
    pub slack_timeouts: SlackTimeouts,
    /// Slash commands one person may send in a minute (`KEYLEAK_COMMANDS_PER_MINUTE`).
    pub commands_per_minute: u32,
    /// What the HTTP listener allows anyone who can reach it.
    pub listener: crate::listener::ListenerLimits,
    /// `KEYLEAK_METRICS_TOKEN`: when set, `GET /metrics` wants it as a bearer token.
    pub metrics_token: Option<Secret>,
    /// What AWS and GitHub may start, and how.
    pub intake: IntakeConfig,
}

/// Socket Mode: the app-level token and how many connections to hold open.
#[derive(Debug, Clone)]
pub struct SocketModeConfig {
    pub app_token: Secret,
    /// `KEYLEAK_SOCKET_CONNECTIONS`: Slack allows an app ten at once, over all its replicas.
    pub connections: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {problem}")]
pub struct ConfigProblem {
    pub var: &'static str,
    pub problem: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigProblem>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "keyleak cannot start; fix these settings:")?;
        for p in &self.0 {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Reads variables through `get` so tests can pass a map instead of the process environment.
struct Reader<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<ConfigProblem>,
}

impl<'a> Reader<'a> {
    fn new(get: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            get,
            problems: vec![],
        }
    }

    fn optional(&self, var: &'static str) -> Option<String> {
        (self.get)(var)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// `SLACK_APP_TOKEN` and the connections to open with it, when Socket Mode is asked for.
    fn socket_mode(&mut self) -> Option<SocketModeConfig> {
        let token = self.optional("SLACK_APP_TOKEN")?;
        if !token.starts_with("xapp-") {
            self.problem(
                "SLACK_APP_TOKEN",
                "must be an app-level token starting with xapp- (with the connections:write scope)",
            );
        }
        let connections = self.number("KEYLEAK_SOCKET_CONNECTIONS", 2, 1..=10) as usize;
        Some(SocketModeConfig {
            app_token: Secret::new(token),
            connections,
        })
    }

    /// A comma list of secrets (several allow rotation), when set.
    fn secrets(&self, var: &'static str) -> Option<Vec<Secret>> {
        self.optional(var).map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(Secret::new)
                .collect()
        })
    }

    /// An http(s) base URL, without its trailing slash.
    fn base_url(&mut self, var: &'static str, default: &str) -> String {
        let url = self
            .optional(var)
            .unwrap_or_else(|| default.to_string())
            .trim_end_matches('/')
            .to_string();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            self.problem(var, "must be an http(s) URL");
        }
        url
    }

    fn required(&mut self, var: &'static str) -> Option<String> {
        let v = self.optional(var);
        if v.is_none() {
            self.problem(var, "required but not set");
        }
        v
    }

    fn problem(&mut self, var: &'static str, problem: impl Into<String>) {
        self.problems.push(ConfigProblem {
            var,
            problem: problem.into(),
        });
    }

    fn roster(&mut self, var: &'static str) -> Vec<RosterEntry> {
        let Some(raw) = self.required(var) else {
            return vec![];
        };
        let mut entries = vec![];
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match RosterEntry::parse(part) {
                Ok(e) => entries.push(e),
                Err(e) => self.problem(var, e.to_string()),
            }
        }
        if entries.is_empty() {
            self.problem(var, "lists nobody");
        }
        entries
    }

    fn number(
        &mut self,
        var: &'static str,
        default: u32,
        range: std::ops::RangeInclusive<u32>,
    ) -> u32 {
        let Some(raw) = self.optional(var) else {
            return default;
        };
        match raw.parse::<u32>() {
            Ok(n) if range.contains(&n) => n,
            _ => {
                let msg = format!(
                    "must be a whole number from {} to {}",
                    range.start(),
                    range.end()
                );
                self.problem(var, msg);
                default
            }
        }
    }

    fn finish<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(ConfigErrors(self.problems))
        }
    }
}

impl CoreConfig {
    pub fn from_env() -> Result<Self, ConfigErrors> {
        Self::load(&|k| std::env::var(k).ok())
    }

    pub fn load(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigErrors> {
        let mut r = Reader::new(get);
        let database_url = r
            .optional("KEYLEAK_DATABASE_URL")
            .unwrap_or_else(|| "sqlite://keyleak.db".to_string());
        if !(database_url.starts_with("sqlite:") || database_url.starts_with("postgres")) {
            r.problem(
                "KEYLEAK_DATABASE_URL",
                "must start with sqlite:// or postgres://",
            );
        }
        let role_arn_template = r.optional("KEYLEAK_ROLE_ARN_TEMPLATE");
        if let Some(t) = &role_arn_template
            && !(t.starts_with("arn:aws") && t.contains(":role/") && t.contains("{account}"))
        {
            r.problem(
                "KEYLEAK_ROLE_ARN_TEMPLATE",
                "must be a role ARN containing {account}, e.g. arn:aws:iam::{account}:role/KeyleakResponder",
            );
        }
        let role_external_id = r.optional("KEYLEAK_ROLE_EXTERNAL_ID");
        // STS's own rule for ExternalId.
        if let Some(id) = &role_external_id
            && !((2..=1224).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+=,.@:/-_".contains(&b)))
        {
            r.problem(
                "KEYLEAK_ROLE_EXTERNAL_ID",
                "must be 2 to 1224 letters, digits or +=,.@:/-_",
            );
        }
        let regions = r.optional("KEYLEAK_REGIONS").map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        });
        if let Some(list) = &regions
            && let Some(bad) = list.iter().find(|s| !is_region_name(s))
        {
            let msg = format!("`{bad}` is not a region name such as eu-west-1");
            r.problem("KEYLEAK_REGIONS", msg);
        }
        let archive = r.optional("KEYLEAK_CLOUDTRAIL_ARCHIVE").and_then(|v| {
            match ArchiveLocation::parse(&v) {
                Ok(a) => Some(a),
                Err(e) => {
                    r.problem("KEYLEAK_CLOUDTRAIL_ARCHIVE", e);
                    None
                }
            }
        });
        let max_file_mb = r.number("KEYLEAK_ARCHIVE_MAX_FILE_MB", 100, 1..=1024);
        let memory_mb = r.number("KEYLEAK_ARCHIVE_MEMORY_MB", 512, 16..=65_536);
        if memory_mb < max_file_mb {
            r.problem(
                "KEYLEAK_ARCHIVE_MEMORY_MB",
                format!("must be at least KEYLEAK_ARCHIVE_MAX_FILE_MB ({max_file_mb})"),
            );
        }
        let archive_limits = crate::archive::ArchiveLimits {
            max_file_bytes: (max_file_mb as usize) << 20,
            memory_bytes: (memory_mb as usize) << 20,
        };
        // A bucket's name alone, or `s3://bucket/prefix`.
        let evidence = r.optional("KEYLEAK_EVIDENCE_BUCKET").and_then(|v| {
            let address = if v.starts_with("s3://") {
                v
            } else {
                format!("s3://{v}")
            };
            match ArchiveLocation::parse(&address) {
                Ok(at) => Some(at),
                Err(e) => {
                    r.problem("KEYLEAK_EVIDENCE_BUCKET", e);
                    None
                }
            }
        });
        let monitor_hours = r.number("KEYLEAK_MONITOR_HOURS", 48, 0..=720);
        let monitor_every_minutes = r.number("KEYLEAK_MONITOR_EVERY_MINUTES", 5, 1..=60);
        r.finish(Self {
            database_url,
            role_arn_template,
            role_external_id,
            regions,
            archive,
            archive_limits,
            evidence,
            monitor_hours,
            monitor_every_minutes,
        })
    }
}

impl SlackConfig {
    pub fn from_env() -> Result<Self, ConfigErrors> {
        Self::load(&|k| std::env::var(k).ok())
    }

    pub fn load(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigErrors> {
        let mut r = Reader::new(get);
        let socket_mode = r.socket_mode();
        // Over Socket Mode nothing reaches keyleak over HTTP but the probes and the metrics.
        let signing_secrets = r.secrets("SLACK_SIGNING_SECRET").unwrap_or_default();
        if signing_secrets.is_empty() && socket_mode.is_none() {
            r.problem("SLACK_SIGNING_SECRET", "required but not set");
        }
        let bot_token = r.required("SLACK_BOT_TOKEN").unwrap_or_default();
        if !bot_token.is_empty() && !bot_token.starts_with("xoxb-") {
            r.problem("SLACK_BOT_TOKEN", "must be a bot token starting with xoxb-");
        }
        let api_url = r.base_url("KEYLEAK_SLACK_API_URL", "https://slack.com/api");
        let listen_raw = r
            .optional("KEYLEAK_LISTEN")
            .unwrap_or_else(|| "0.0.0.0:3000".to_string());
        let listen = listen_raw.parse().unwrap_or_else(|_| {
            r.problem("KEYLEAK_LISTEN", "must be an address such as 0.0.0.0:3000");
            SocketAddr::from(([0, 0, 0, 0], 3000))
        });
        let incident_channel = r.required("KEYLEAK_INCIDENT_CHANNEL").unwrap_or_default();
        if !incident_channel.is_empty() && !is_channel_id(&incident_channel) {
            r.problem(
                "KEYLEAK_INCIDENT_CHANNEL",
                "must be a channel id such as C0123456789 (not a #name)",
            );
        }
        let channel_per_incident = match r.optional("KEYLEAK_INCIDENT_CHANNEL_MODE").as_deref() {
            None | Some("per-incident") => true,
            Some("shared") => false,
            Some(_) => {
                r.problem(
                    "KEYLEAK_INCIDENT_CHANNEL_MODE",
                    "must be `per-incident` (a private channel for each incident) or `shared`",
                );
                true
            }
        };
        let responders = r.roster("KEYLEAK_RESPONDERS");
        let approvers = r.roster("KEYLEAK_APPROVERS");
        let proposal_ttl_minutes = r.number("KEYLEAK_PROPOSAL_TTL_MINUTES", 30, 1..=1440);
        let approvals_required = r.number("KEYLEAK_APPROVALS_REQUIRED", 1, 1..=5);
        let named = approvers
            .iter()
            .filter(|e| matches!(e, RosterEntry::User(_)))
            .count();
        let has_group = approvers.iter().any(|e| matches!(e, RosterEntry::Group(_)));
        if !approvers.is_empty() && !has_group && named < approvals_required as usize {
            r.problem(
                "KEYLEAK_APPROVERS",
                format!(
                    "lists {named} user(s) and no group, but KEYLEAK_APPROVALS_REQUIRED is \
                     {approvals_required}: nothing could ever be approved"
                ),
            );
        }
        let slack_timeouts = SlackTimeouts {
            connect: seconds(r.number("KEYLEAK_SLACK_CONNECT_TIMEOUT_SECONDS", 5, 1..=60)),
            total: seconds(r.number("KEYLEAK_SLACK_TIMEOUT_SECONDS", 20, 1..=300)),
        };
        let commands_per_minute = r.number("KEYLEAK_COMMANDS_PER_MINUTE", 30, 1..=10_000);
        let listener = crate::listener::ListenerLimits {
            header_timeout: seconds(r.number("KEYLEAK_HEADER_TIMEOUT_SECONDS", 5, 1..=60)),
            request_timeout: seconds(r.number("KEYLEAK_REQUEST_TIMEOUT_SECONDS", 10, 1..=120)),
            max_connections: r.number("KEYLEAK_MAX_CONNECTIONS", 256, 8..=65_536) as usize,
            shutdown_deadline: seconds(r.number("KEYLEAK_SHUTDOWN_SECONDS", 10, 1..=300)),
        };
        let metrics_token = r.optional("KEYLEAK_METRICS_TOKEN").map(Secret::new);
        let intake = r.intake();
        r.finish(Self {
            signing_secrets,
            bot_token: Secret::new(bot_token),
            socket_mode,
            api_url,
            listen,
            incident_channel,
            channel_per_incident,
            responders,
            approvers,
            proposal_ttl_minutes,
            approvals_required: approvals_required as usize,
            slack_timeouts,
            commands_per_minute,
            listener,
            metrics_token,
            intake,
        })
    }
}

fn seconds(n: u32) -> Duration {
    Duration::from_secs(u64::from(n))
}

fn is_channel_id(s: &str) -> bool {
    s.len() >= 9
        && matches!(s.as_bytes()[0], b'C' | b'G')
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    const GOOD: &[(&str, &str)] = &[
        ("SLACK_SIGNING_SECRET", "old, new"),
        ("SLACK_BOT_TOKEN", "xoxb-1-2-3"),
        ("KEYLEAK_INCIDENT_CHANNEL", "C0123456789"),
        ("KEYLEAK_RESPONDERS", "U0001AAAA,S0002BBBB"),
        ("KEYLEAK_APPROVERS", "U0003CCCC"),
    ];

    #[test]
    fn a_complete_environment_loads_with_defaults() {
        let c = SlackConfig::load(&env(GOOD)).unwrap();
        assert_eq!(c.signing_secrets.len(), 2);
        assert_eq!(c.api_url, "https://slack.com/api");
        assert_eq!(c.listen.to_string(), "0.0.0.0:3000");
        assert_eq!(c.responders.len(), 2);
        assert_eq!((c.proposal_ttl_minutes, c.approvals_required), (30, 1));
        assert!(c.channel_per_incident);
        let core = CoreConfig::load(&env(&[])).unwrap();
        assert_eq!(core.database_url, "sqlite://keyleak.db");
        assert_eq!((core.monitor_hours, core.monitor_every_minutes), (48, 5));
    }

    #[test]
    fn approval_settings_are_checked_against_the_roster() {
        let mut vars = GOOD.to_vec();
        vars.push(("KEYLEAK_PROPOSAL_TTL_MINUTES", "45"));
        let c = SlackConfig::load(&env(&vars)).unwrap();
        assert_eq!(c.proposal_ttl_minutes, 45);
        vars.push(("KEYLEAK_APPROVALS_REQUIRED", "2"));
        let errs = SlackConfig::load(&env(&vars)).unwrap_err();
        assert_eq!(
            errs.0[0].var, "KEYLEAK_APPROVERS",
            "one approver cannot make two"
        );
        let bad = SlackConfig::load(&env(&[
            GOOD,
            &[
                ("KEYLEAK_PROPOSAL_TTL_MINUTES", "0"),
                ("KEYLEAK_APPROVALS_REQUIRED", "many"),
            ],
        ]
        .concat()))
        .unwrap_err();
        let vars: Vec<&str> = bad.0.iter().map(|p| p.var).collect();
        assert_eq!(
            vars,
            ["KEYLEAK_PROPOSAL_TTL_MINUTES", "KEYLEAK_APPROVALS_REQUIRED"]
        );
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let errs = SlackConfig::load(&env(&[
            ("SLACK_BOT_TOKEN", "xoxp-user-token"),
            ("KEYLEAK_INCIDENT_CHANNEL", "#incidents"),
            ("KEYLEAK_LISTEN", "nowhere"),
            ("KEYLEAK_INCIDENT_CHANNEL_MODE", "private"),
            ("KEYLEAK_RESPONDERS", "alice"),
        ]))
        .unwrap_err();
        let vars: Vec<&str> = errs.0.iter().map(|p| p.var).collect();
        assert_eq!(
            vars,
            [
                "SLACK_SIGNING_SECRET",
                "SLACK_BOT_TOKEN",
                "KEYLEAK_LISTEN",
                "KEYLEAK_INCIDENT_CHANNEL",
                "KEYLEAK_INCIDENT_CHANNEL_MODE",
                "KEYLEAK_RESPONDERS",
                "KEYLEAK_RESPONDERS",
                "KEYLEAK_APPROVERS"
            ]
        );
        let core = CoreConfig::load(&env(&[
            ("KEYLEAK_ROLE_ARN_TEMPLATE", "arn:aws:iam::123:role/Fixed"),
            ("KEYLEAK_REGIONS", "us-east-1,mars"),
            ("KEYLEAK_DATABASE_URL", "mysql://x"),
            ("KEYLEAK_CLOUDTRAIL_ARCHIVE", "https://bucket/prefix"),
            ("KEYLEAK_MONITOR_HOURS", "forever"),
            ("KEYLEAK_MONITOR_EVERY_MINUTES", "0"),
            ("KEYLEAK_EVIDENCE_BUCKET", "Evidence_Bucket"),
            ("KEYLEAK_ROLE_EXTERNAL_ID", "not one; spaces"),
        ]))
        .unwrap_err();
        assert_eq!(core.0.len(), 8);
    }

    #[test]
    fn the_role_external_id_is_what_sts_accepts() {
        let core = CoreConfig::load(&env(&[(
            "KEYLEAK_ROLE_EXTERNAL_ID",
            "keyleak:o-a1b2c3d4e5/prod",
        )]))
        .unwrap();
        assert_eq!(
            core.role_external_id.as_deref(),
            Some("keyleak:o-a1b2c3d4e5/prod")
        );
        for bad in ["x", &"y".repeat(1225)] {
            let errs = CoreConfig::load(&env(&[("KEYLEAK_ROLE_EXTERNAL_ID", bad)])).unwrap_err();
            assert_eq!(errs.0[0].var, "KEYLEAK_ROLE_EXTERNAL_ID");
        }
    }

    #[test]
    fn the_evidence_bucket_is_a_name_or_an_address() {
        for (given, bucket, prefix) in [
            ("ir-evidence", "ir-evidence", ""),
            ("s3://ir-evidence/cases/", "ir-evidence", "cases"),
        ] {
            let core = CoreConfig::load(&env(&[("KEYLEAK_EVIDENCE_BUCKET", given)])).unwrap();
            let at = core.evidence.unwrap();
            assert_eq!((at.bucket.as_str(), at.prefix.as_str()), (bucket, prefix));
        }
        let none = CoreConfig::load(&env(&[])).unwrap();
        assert!(none.evidence.is_none());
    }

    #[test]
    fn socket_mode_needs_an_app_token_and_no_signing_secret() {
        let no_secret: Vec<_> = GOOD
            .iter()
            .copied()
            .filter(|(k, _)| *k != "SLACK_SIGNING_SECRET")
            .collect();
        let errs = SlackConfig::load(&env(&no_secret)).unwrap_err();
        assert_eq!(
            errs.0[0].var, "SLACK_SIGNING_SECRET",
            "over HTTP it is needed"
        );
        let socket = [
            &no_secret[..],
            &[("SLACK_APP_TOKEN", "xapp-1-A1-2-secretpart")],
        ]
        .concat();
        let c = SlackConfig::load(&env(&socket)).unwrap();
        assert!(c.signing_secrets.is_empty());
        let s = c.socket_mode.as_ref().unwrap();
        assert_eq!(
            (s.app_token.expose(), s.connections),
            ("xapp-1-A1-2-secretpart", 2)
        );
        assert!(!format!("{c:?}").contains("secretpart"));
        let bad = [
            &no_secret[..],
            &[
                ("SLACK_APP_TOKEN", "xoxb-a-bot-token"),
                ("KEYLEAK_SOCKET_CONNECTIONS", "11"),
            ],
        ]
        .concat();
        let vars: Vec<&str> = SlackConfig::load(&env(&bad))
            .unwrap_err()
            .0
            .iter()
            .map(|p| p.var)
            .collect();
        assert_eq!(vars, ["SLACK_APP_TOKEN", "KEYLEAK_SOCKET_CONNECTIONS"]);
    }

    #[test]
    fn the_shared_channel_mode_is_kept_on_request() {
        let vars = [GOOD, &[("KEYLEAK_INCIDENT_CHANNEL_MODE", "shared")]].concat();
        assert!(!SlackConfig::load(&env(&vars)).unwrap().channel_per_incident);
    }

    #[test]
    fn secrets_never_show_in_debug_or_errors() {
        let c = SlackConfig::load(&env(GOOD)).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("xoxb-1-2-3"));
        assert!(!shown.contains("old"));
        let errs =
            SlackConfig::load(&env(&[("SLACK_BOT_TOKEN", "xoxp-secret-value")])).unwrap_err();
        assert!(!errs.to_string().contains("xoxp-secret-value"));
    }
}
