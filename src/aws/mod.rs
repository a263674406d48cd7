//! The AWS port: what the playbooks need from AWS, in the domain's words. One real adapter
//! (`sdk`), tested against moto; nothing here is mocked in tests.

mod actions;
mod archive;
pub(crate) mod calls;
mod credentials;
mod evidence;
mod exposure;
mod grants;
mod guardduty;
mod handover;
mod reach;
mod sdk;
mod trail;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::archive::ArchiveLog;
use crate::archive::layout::ArchiveLocation;
use crate::domain::approval::{Action, Grantor, Outcome, PolicyHoldings, RoleHoldings, Shared};
use crate::domain::evidence::EvidenceCopy;
use crate::domain::ids::{AccessKeyId, AccountId, IncidentId};
use crate::domain::incident::{KeyUsage, UserSnapshot};
use crate::domain::policy::DenyPolicy;
use crate::domain::reach::{ActionVerdict, PolicySource, ServiceUse};
use crate::domain::restore::Handover;
use crate::domain::trail::TrailEvent;
use crate::domain::trail::guardduty::GuardDutyFinding;
use crate::store::ExecutionRight;

pub use sdk::SdkAws;
pub use trail::LOOKUPS_PER_SECOND;

/// Errors callers branch on. Messages come from AWS and carry no credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsError {
    #[error("not found: {0}")]
    NoSuchEntity(String),
    #[error("access denied: {0}")]
    AccessDenied(String),
    #[error("already exists: {0}")]
    AlreadyExists(String),
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    #[error("throttled by AWS: {0}")]
    Throttled(String),
    #[error("account {0} is not this bot's account, and KEYLEAK_ROLE_ARN_TEMPLATE is not set")]
    NoRouteToAccount(AccountId),
    #[error("could not assume the responder role in account {account}: {message}")]
    AssumeRoleFailed { account: AccountId, message: String },
    #[error("AWS error: {0}")]
    Other(String),
}

/// The owning account of a key and whether the bot runs in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub account: AccountId,
    pub own_account: bool,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Called<T> {
    pub value: T,
    pub request_id: Option<String>,
}

/// How a deny policy ended up on a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyPlacement {
    Inline,
    /// The user's inline policy budget was full: a managed policy was created and attached.
    Managed {
        arn: String,
    },
}

/// An EC2 instance as a cleanup proposal shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceFacts {
    pub id: String,
    pub state: String,
    pub name: Option<String>,
}

/// One key's CloudTrail events in one region of one account, within a time window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailQuery {
    pub account: AccountId,
    pub region: String,
    pub key: AccessKeyId,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// A LookupEvents attribute besides the access key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrailAttribute {
    /// `sts.amazonaws.com`: where the event that minted a temporary key is.
    EventSource(&'static str),
    /// `AttachUserPolicy`: where AWS's quarantine of an exposed key shows.
    EventName(&'static str),
    /// The IAM user who made the call: monitoring watches the user, whatever its key.
    Username(String),
}

/// What one region's log gave for a query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegionLog {
    pub region: String,
    pub events: Vec<TrailEvent>,
    pub pages: usize,
    /// Records that could not be read, with why: reported, never silently dropped.
    pub skipped: Vec<String>,
    /// Requests AWS throttled (each was retried).
    pub throttled: usize,
}

/// The keys' calls in a CloudTrail archive: the files of these accounts and regions for the
/// days of the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveQuery {
    pub accounts: Vec<AccountId>,
    pub regions: Vec<String>,
    pub keys: Vec<AccessKeyId>,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// The documents of a user's policies, as IAM holds them now, for the policy simulator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyDocuments {
    pub policies: Vec<(PolicySource, String)>,
    /// The permissions boundary's ARN and document.
    pub boundary: Option<(String, String)>,
    /// Policies the snapshot named that IAM no longer has, by label.
    pub gone: Vec<String>,
}

#[async_trait]
pub trait Aws: Send + Sync {
    /// The bot's own account, by `sts:GetCallerIdentity` (which needs no permission): proof
    /// that its credentials work.
    async fn identity(&self) -> Result<AccountId, AwsError>;

    /// The ARN keyleak signs as in the account (`sts:GetCallerIdentity` with that account's
    /// credentials), so that its own calls are never taken for the attacker's.
    async fn own_principal(&self, account: &AccountId) -> Result<String, AwsError>;

    /// `sts:GetAccessKeyInfo`, and whether the account is reachable by the bot.
    async fn locate_key(&self, key: &AccessKeyId) -> Result<Located, AwsError>;

    /// `iam:GetAccessKeyLastUsed` in the owning account.
    async fn key_usage(
        &self,
        account: &AccountId,
        key: &AccessKeyId,
    ) -> Result<Called<KeyUsage>, AwsError>;

    /// Keys, policies, groups, login profile and MFA devices of the user.
    async fn snapshot_user(
        &self,
        account: &AccountId,
        user: &str,
    ) -> Result<UserSnapshot, AwsError>;

    /// The documents of the policies the snapshot names (the user's own, its groups', and its
    /// permissions boundary), but those named in `leave_out`.
    async fn policy_documents(
        &self,
        account: &AccountId,
        snapshot: &UserSnapshot,
        leave_out: &[String],
    ) -> Result<PolicyDocuments, AwsError>;

    /// IAM's policy simulator (`SimulateCustomPolicy`) over the documents, for `actions`.
    async fn simulate(
        &self,
        account: &AccountId,
        documents: &PolicyDocuments,
        actions: &[&str],
    ) -> Result<Vec<ActionVerdict>, AwsError>;

    /// IAM Access Advisor's last-accessed services for the user.
    async fn services_used(
        &self,
        account: &AccountId,
        user_arn: &str,
    ) -> Result<Vec<ServiceUse>, AwsError>;

    /// `iam:UpdateAccessKey Status=Inactive` for this key only.
    async fn deactivate_key(
        &self,
        account: &AccountId,
        user: &str,
        key: &AccessKeyId,
    ) -> Result<Called<()>, AwsError>;

    /// Puts the deny policy on the user, falling back to a managed policy when the
    /// inline budget is full.
    async fn put_user_deny(
        &self,
        account: &AccountId,
        user: &str,
        policy: &DenyPolicy,
    ) -> Result<Called<DenyPlacement>, AwsError>;

    /// What a role holds that must go before it can be deleted.
    async fn role_holdings(
        &self,
        account: &AccountId,
        role: &str,
    ) -> Result<RoleHoldings, AwsError>;

    /// Where a customer-managed policy is attached, and its non-default versions.
    async fn policy_holdings(
        &self,
        account: &AccountId,
        arn: &str,
    ) -> Result<PolicyHoldings, AwsError>;

    /// The instances among `ids` that exist (terminated ones included).
    async fn instances(
        &self,
        account: &AccountId,
        region: &str,
        ids: &[String],
    ) -> Result<Vec<InstanceFacts>, AwsError>;

    /// The accounts (and `all`, for everyone) a snapshot or an image is shared with; an
    /// organization or unit an image is shared with by its ARN.
    async fn shared_with(
        &self,
        account: &AccountId,
        region: &str,
        shared: &Shared,
    ) -> Result<Vec<String>, AwsError>;

    /// The document of a role's trust policy or of a bucket's policy now; `None` when the
    /// bucket has no policy.
    async fn grant_policy(
        &self,
        account: &AccountId,
        on: &Grantor,
    ) -> Result<Option<String>, AwsError>;

    /// Whether all four settings of the bucket's public access block are on.
    async fn blocks_public_access(
        &self,
        account: &AccountId,
        bucket: &str,
    ) -> Result<bool, AwsError>;

    /// The security group's inbound rule of this id, as EC2 describes it, if it has one.
    async fn ingress_rule(
        &self,
        account: &AccountId,
        region: &str,
        group: &str,
        rule: &str,
    ) -> Result<Option<serde_json::Value>, AwsError>;

    /// The statement of this id in the function's resource policy, if it has one.
    async fn function_statement(
        &self,
        account: &AccountId,
        region: &str,
        function: &str,
        statement: &str,
    ) -> Result<Option<serde_json::Value>, AwsError>;

    /// Whether a Lambda function exists.
    async fn function_exists(
        &self,
        account: &AccountId,
        region: &str,
        name: &str,
    ) -> Result<bool, AwsError>;

    /// The regions to search in the account: enabled ones, by `ec2:DescribeRegions`.
    async fn regions(&self, account: &AccountId) -> Result<Vec<String>, AwsError>;

    /// Every CloudTrail event of the key in one region, fully paginated within AWS's rate
    /// budget. `progress` hears the running count of events after each page.
    async fn lookup_events(
        &self,
        query: &TrailQuery,
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<RegionLog, AwsError>;

    /// Scans the CloudTrail archive at `at` (with the bot's own credentials: the archive
    /// usually lives in a log account of its own). Unreadable files are counted in the log.
    async fn archive_events(
        &self,
        at: &ArchiveLocation,
        query: &ArchiveQuery,
    ) -> Result<ArchiveLog, AwsError>;

    /// Every event of the account in one region within the window that has the attribute,
    /// within the same budget as `lookup_events`.
    async fn events_with(
        &self,
        account: &AccountId,
        region: &str,
        attribute: TrailAttribute,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<RegionLog, AwsError>;

    /// GuardDuty findings about any of `keys` in one region of the account; `None` when
    /// GuardDuty has no detector there.
    async fn guardduty_findings(
        &self,
        account: &AccountId,
        region: &str,
        keys: &[AccessKeyId],
    ) -> Result<Option<Vec<GuardDutyFinding>>, AwsError>;

    /// Puts an inline deny-older-sessions policy on a role, ending the sessions issued
    /// before the policy's time (the console's "Revoke active sessions").
    async fn put_role_fence(
        &self,
        account: &AccountId,
        role: &str,
        policy: &DenyPolicy,
    ) -> Result<Called<()>, AwsError>;

    /// The new key an earlier restore handed over to `user` in the secret of this name, if
    /// that handover is whole; a half-made one is deleted (secret and key) and not returned.
    async fn find_handover(
        &self,
        account: &AccountId,
        secret_name: &str,
        user: &str,
    ) -> Result<Option<Handover>, AwsError>;

    /// Creates a new access key for the user and hands it over in a new secret only that user
    /// may read; tries the key. Its secret is never returned.
    async fn issue_key(
        &self,
        account: &AccountId,
        user: &str,
        user_arn: &str,
        secret_name: &str,
        incident: &IncidentId,
    ) -> Result<Handover, AwsError>;

    /// What the action's targets are now, as AWS describes them: kept as evidence before the
    /// action destroys them.
    async fn describe_targets(&self, action: &Action) -> Result<serde_json::Value, AwsError>;

    /// Writes a copy of evidence to `bucket` with the bot's own credentials, under the
    /// bucket's object lock where it has one.
    async fn copy_evidence(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> Result<EvidenceCopy, AwsError>;

    /// Carries out an approved action; only a won execution right reaches it. Idempotent:
    /// what is already gone is reported so, and a target holding more than was approved is
    /// left alone. Never fails: AWS errors are part of the outcome.
    async fn execute(&self, right: &ExecutionRight, action: &Action) -> Outcome;
}
