//! The ways an IAM user signs in or calls AWS besides its access keys, as the snapshot keeps
//! them: SSH public keys (CodeCommit), X.509 signing certificates and service-specific
//! credentials (CodeCommit HTTPS Git, Amazon Keyspaces, Bedrock and CloudWatch Logs API keys).
//! Each is authorised as the user at every use, so the user's deny-all stops them all.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherCredentials {
    /// When the console password was last used (IAM's `PasswordLastUsed`).
    pub password_last_used: Option<DateTime<Utc>>,
    pub ssh_keys: Vec<Credential>,
    pub certificates: Vec<Credential>,
    pub service: Vec<ServiceCredential>,
    /// Kinds IAM would not list, and why: the record is kept without them.
    pub unlisted: Vec<Unlisted>,
}

impl OtherCredentials {
    /// How many of them can still be used.
    pub fn active(&self) -> usize {
        self.ssh_keys.iter().filter(|c| c.active).count()
            + self.certificates.iter().filter(|c| c.active).count()
            + self.service.iter().filter(|c| c.active).count()
    }
}

/// An SSH public key or a signing certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    pub id: String,
    pub active: bool,
    pub uploaded: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceCredential {
    pub id: String,
    /// The service it signs in to, like `codecommit.amazonaws.com` or `bedrock.amazonaws.com`.
    pub service: String,
    /// The name it signs in with (or a Bedrock API key's public alias); never the secret.
    pub name: String,
    pub active: bool,
    pub created: Option<DateTime<Utc>>,
    /// Bedrock and CloudWatch Logs API keys may expire.
    pub expires: Option<DateTime<Utc>>,
}

/// The kinds listed beside the access keys, each with a call of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OtherKind {
    SshKeys,
    Certificates,
    Service,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unlisted {
    pub kind: OtherKind,
    pub why: String,
}

impl OtherCredentials {
    /// Why IAM did not list this kind, when it did not.
    pub fn unlisted(&self, kind: OtherKind) -> Option<&str> {
        self.unlisted
            .iter()
            .find(|u| u.kind == kind)
            .map(|u| u.why.as_str())
    }
}

/// A Bedrock long-term API key: LLM-jacking signs in with one where it can.
pub fn is_bedrock_key(c: &ServiceCredential) -> bool {
    c.service.starts_with("bedrock.")
}
