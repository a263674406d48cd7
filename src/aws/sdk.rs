//! The AWS SDK adapter. Endpoints come from the SDK's own settings (`AWS_ENDPOINT_URL…`).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_config::SdkConfig;

use super::calls::CountCalls;
use aws_sdk_iam::config::http::HttpResponse;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::operation::RequestId;
use aws_sdk_iam::types::StatusType;
use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, OnceCell};

use super::actions;
use super::archive;
use super::evidence;
use super::exposure;
use super::grants;
use super::guardduty;
use super::handover;
use super::reach;
use super::trail;
use super::*;
use crate::archive::ArchiveLimits;
use crate::domain::incident::{AttachedPolicy, KeySnapshot};

pub struct SdkAws {
    base: SdkConfig,
    sts: aws_sdk_sts::Client,
    role_arn_template: Option<String>,
    role_external_id: Option<String>,
    own_account: OnceCell<AccountId>,
    by_account: Mutex<HashMap<AccountId, Clients>>,
    /// Who keyleak signs as, by account.
    principals: Mutex<HashMap<AccountId, String>>,
    pacer: trail::Pacer,
    /// S3 clients by bucket (the archive's, the evidence's), each in its bucket's region.
    buckets: Mutex<HashMap<String, aws_sdk_s3::Client>>,
    /// What archive scans may hold in memory, shared by every scan in the process.
    archive_budget: archive::Budget,
}

/// An account's SDK settings (with the responder role's credentials elsewhere than the
/// bot's own account) and its IAM client, built once.
#[derive(Clone)]
pub(super) struct Clients {
    pub config: SdkConfig,
    pub iam: aws_sdk_iam::Client,
}

impl Clients {
    pub fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        let conf = aws_sdk_ec2::config::Builder::from(&self.config)
            .region(aws_config::Region::new(region.to_string()))
            .interceptor(CountCalls)
            .build();
        aws_sdk_ec2::Client::from_conf(conf)
    }

    /// Without the SDK's own retries: `trail` paces and retries LookupEvents itself, within
    /// the region's budget.
    pub fn cloudtrail(&self, region: &str) -> aws_sdk_cloudtrail::Client {
        let conf = aws_sdk_cloudtrail::config::Builder::from(&self.config)
            .region(aws_config::Region::new(region.to_string()))
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .interceptor(CountCalls)
            .build();
        aws_sdk_cloudtrail::Client::from_conf(conf)
    }

    pub fn guardduty(&self, region: &str) -> aws_sdk_guardduty::Client {
        let conf = aws_sdk_guardduty::config::Builder::from(&self.config)
            .region(aws_config::Region::new(region.to_string()))
            .interceptor(CountCalls)
            .build();
        aws_sdk_guardduty::Client::from_conf(conf)
    }

    /// Secrets Manager in the bot's configured region, where restore hands keys over.
    pub fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        let conf = aws_sdk_secretsmanager::config::Builder::from(&self.config)
            .interceptor(CountCalls)
            .build();
        aws_sdk_secretsmanager::Client::from_conf(conf)
    }

    /// STS signed with another key: restore's check that a new key works.
    pub fn sts_as(&self, key_id: &str, secret: &str) -> aws_sdk_sts::Client {
        let creds =
            aws_credential_types::Credentials::new(key_id, secret, None, None, "keyleak-restore");
        let conf = aws_sdk_sts::config::Builder::from(&self.config)
            .credentials_provider(creds)
            .interceptor(CountCalls)
            .build();
        aws_sdk_sts::Client::from_conf(conf)
    }

    pub fn rds(&self, region: &str) -> aws_sdk_rds::Client {
        let conf = aws_sdk_rds::config::Builder::from(&self.config)
            .region(aws_config::Region::new(region.to_string()))
            .interceptor(CountCalls)
            .build();
        aws_sdk_rds::Client::from_conf(conf)
    }

    pub fn lambda(&self, region: &str) -> aws_sdk_lambda::Client {
        let conf = aws_sdk_lambda::config::Builder::from(&self.config)
            .region(aws_config::Region::new(region.to_string()))
            .interceptor(CountCalls)
            .build();
        aws_sdk_lambda::Client::from_conf(conf)
    }
}

/// Maps an SDK error to the cases callers branch on, keeping AWS's code and message only.
pub(super) fn classify<E>(e: SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (code, message) = match e.code() {
        Some(c) => (c.to_string(), e.message().map(str::to_string)),
        None => undecoded(&e),
    };
    let text = match message {
        Some(m) if code.is_empty() => m,
        Some(m) => format!("{code}: {m}"),
        None => code.clone(),
    };
    match code.as_str() {
        "NoSuchEntity"
        | "NoSuchEntityException"
        | "ResourceNotFoundException"
        | "InvalidInstanceID.NotFound"
        | "InvalidSnapshot.NotFound"
        | "InvalidSecurityGroupRuleId.NotFound"
        | "InvalidGroup.NotFound"
        | "InvalidAMIID.NotFound"
        | "InvalidAMIID.Unavailable"
        | "DBSnapshotNotFound"
        | "DBSnapshotNotFoundFault"
        | "DBClusterSnapshotNotFoundFault"
        | "NoSuchBucket" => AwsError::NoSuchEntity(text),
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" => {
            AwsError::AccessDenied(text)
        }
        "LimitExceeded" | "LimitExceededException" => AwsError::LimitExceeded(text),
        "EntityAlreadyExists" => AwsError::AlreadyExists(text),
        "Throttling" | "ThrottlingException" | "RequestLimitExceeded" => AwsError::Throttled(text),
        _ => AwsError::Other(text),
    }
}

/// Whether the SDK stopped for want of credentials, somewhere in the error's causes.
fn no_credentials(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.is::<aws_credential_types::provider::error::CredentialsError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// An error the service's client could not decode (another service's XML shape, an HTML
/// page): its `<Code>` and `<Message>` when it has them, else its HTTP status or the kind of
/// failure. Never the whole response, which would be pasted into Slack.
fn undecoded<E>(e: &SdkError<E, HttpResponse>) -> (String, Option<String>) {
    let Some(raw) = e.raw_response() else {
        let kind = match e {
            SdkError::TimeoutError(_) => "the request timed out".to_string(),
            // No request left this process: the SDK found no credentials to sign it with.
            SdkError::DispatchFailure(d)
                if d.as_connector_error().is_some_and(|c| no_credentials(c)) =>
            {
                "no AWS credentials were found \
                (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where \
                a role is attached)"
                    .to_string()
            }
            SdkError::DispatchFailure(_) => "AWS could not be reached".to_string(),
            _ => "the response could not be read".to_string(),
        };
        return (String::new(), Some(kind));
    };
    let body = String::from_utf8_lossy(raw.body().bytes().unwrap_or_default());
    let tag = |t: &str| {
        let open = format!("<{t}>");
        let start = body.find(&open)? + open.len();
        let len = body[start..].find(&format!("</{t}>"))?;
        Some(body[start..start + len].to_string())
    };
    match tag("Code") {
        Some(code) => (code, tag("Message")),
        None => (
            String::new(),
            Some(format!("HTTP {}", raw.status().as_u16())),
        ),
    }
}

pub(super) fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// `GetAccessKeyLastUsed` names no user for a root key.
fn owner_of(user_name: Option<&str>) -> Option<String> {
    user_name
        .filter(|u| !u.is_empty() && *u != "root" && *u != "<root_account>")
        .map(str::to_string)
}

impl SdkAws {
    pub async fn from_env(role_arn_template: Option<String>) -> Self {
        let base = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::new(base, role_arn_template)
    }

    pub fn new(base: SdkConfig, role_arn_template: Option<String>) -> Self {
        Self {
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(&base)
                    .interceptor(CountCalls)
                    .build(),
            ),
            base,
            role_arn_template,
            role_external_id: None,
            own_account: OnceCell::new(),
            by_account: Mutex::new(HashMap::new()),
            principals: Mutex::new(HashMap::new()),
            pacer: trail::Pacer::default(),
            buckets: Mutex::new(HashMap::new()),
            archive_budget: archive::Budget::new(ArchiveLimits::default()),
        }
    }

    /// The external id the responder role's trust asks for (`KEYLEAK_ROLE_EXTERNAL_ID`).
    pub fn with_role_external_id(mut self, id: Option<String>) -> Self {
        self.role_external_id = id;
        self
    }

    /// Archive scans held to `limits` (`KEYLEAK_ARCHIVE_MAX_FILE_MB`, `_MEMORY_MB`).
    pub fn with_archive_limits(mut self, limits: ArchiveLimits) -> Self {
        self.archive_budget = archive::Budget::new(limits);
        self
    }

    async fn own_account(&self) -> Result<&AccountId, AwsError> {
        self.own_account.get_or_try_init(|| self.identity()).await
    }

    /// An S3 client in the bucket's own region, with the bot's own credentials; cached.
    async fn bucket_client(&self, bucket: &str) -> aws_sdk_s3::Client {
        let mut clients = self.buckets.lock().await;
        match clients.get(bucket) {
            Some(c) => c.clone(),
            None => {
                let c = archive::client(&self.base, bucket).await;
                clients.insert(bucket.to_string(), c.clone());
                c
            }
        }
    }

    async fn iam(&self, account: &AccountId) -> Result<aws_sdk_iam::Client, AwsError> {
        Ok(self.clients(account).await?.iam)
    }

    /// Clients for the account: ambient credentials for the bot's own account, the
    /// responder role elsewhere. Cached; the role provider refreshes itself.
    pub(super) async fn clients(&self, account: &AccountId) -> Result<Clients, AwsError> {
        let mut cache = self.by_account.lock().await;
        if let Some(c) = cache.get(account) {
            return Ok(c.clone());
        }
        let config = if self.own_account().await? == account {
            self.base.clone()
        } else {
            let template = self
                .role_arn_template
                .as_ref()
                .ok_or_else(|| AwsError::NoRouteToAccount(account.clone()))?;
            let role = template.replace("{account}", account.as_str());
            let mut provider =
                aws_config::sts::AssumeRoleProvider::builder(role).session_name("keyleak");
            if let Some(id) = &self.role_external_id {
                provider = provider.external_id(id);
            }
            let provider = provider.configure(&self.base).build().await;
            // Fail here, with the account named, rather than on the first IAM call.
            use aws_credential_types::provider::ProvideCredentials;
            provider
                .provide_credentials()
                .await
                .map_err(|e| AwsError::AssumeRoleFailed {
                    account: account.clone(),
                    message: aws_sdk_iam::error::DisplayErrorContext(&e).to_string(),
                })?;
            self.base
                .to_builder()
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(provider),
                )
                .build()
        };
        let clients = Clients {
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(&config)
                    .interceptor(CountCalls)
                    .build(),
            ),
            config,
        };
        cache.insert(account.clone(), clients.clone());
        Ok(clients)
    }
}

#[async_trait]
impl Aws for SdkAws {
    async fn identity(&self) -> Result<AccountId, AwsError> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(classify)?;
        let acct = out.account().unwrap_or_default();
        AccountId::parse(acct)
            .map_err(|_| AwsError::Other(format!("caller account `{acct}` is not valid")))
    }

    async fn own_principal(&self, account: &AccountId) -> Result<String, AwsError> {
        if let Some(p) = self.principals.lock().await.get(account) {
            return Ok(p.clone());
        }
        let config = self.clients(account).await?.config;
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&config)
                .interceptor(CountCalls)
                .build(),
        );
        let out = sts.get_caller_identity().send().await.map_err(classify)?;
        let arn = out
            .arn()
            .filter(|a| a.starts_with("arn:"))
            .ok_or_else(|| AwsError::Other("GetCallerIdentity gave no ARN".into()))?
            .to_string();
        self.principals
            .lock()
            .await
            .insert(account.clone(), arn.clone());
        Ok(arn)
    }

    async fn locate_key(&self, key: &AccessKeyId) -> Result<Located, AwsError> {
        let out = self
            .sts
            .get_access_key_info()
            .access_key_id(key.as_str())
            .send()
            .await
            .map_err(classify)?;
        let raw = out.account().unwrap_or_default();
        let account = AccountId::parse(raw)
            .map_err(|_| AwsError::Other(format!("GetAccessKeyInfo returned account `{raw}`")))?;
        let own_account = self.own_account().await? == &account;
        if !own_account && self.role_arn_template.is_none() {
            return Err(AwsError::NoRouteToAccount(account));
        }
        Ok(Located {
            account,
            own_account,
            request_id: out.request_id().map(str::to_string),
        })
    }

    async fn key_usage(
        &self,
        account: &AccountId,
        key: &AccessKeyId,
    ) -> Result<Called<KeyUsage>, AwsError> {
        let out = self
            .iam(account)
            .await?
            .get_access_key_last_used()
            .access_key_id(key.as_str())
            .send()
            .await
            .map_err(classify)?;
        let used = out.access_key_last_used();
        let known = |s: Option<&str>| s.filter(|v| *v != "N/A").map(str::to_string);
        Ok(Called {
            value: KeyUsage {
                user_name: owner_of(out.user_name()),
                last_used: used.and_then(|u| u.last_used_date()).and_then(to_chrono),
                service: known(used.map(|u| u.service_name())),
                region: known(used.map(|u| u.region())),
            },
            request_id: out.request_id().map(str::to_string),
        })
    }

    async fn snapshot_user(
        &self,
        account: &AccountId,
        user: &str,
    ) -> Result<UserSnapshot, AwsError> {
        user_snapshot(&self.iam(account).await?, user).await
    }

    async fn policy_documents(
        &self,
        account: &AccountId,
        snapshot: &UserSnapshot,
        leave_out: &[String],
    ) -> Result<PolicyDocuments, AwsError> {
        reach::policy_documents(&self.iam(account).await?, snapshot, leave_out).await
    }

    async fn simulate(
        &self,
        account: &AccountId,
        documents: &PolicyDocuments,
        actions: &[&str],
    ) -> Result<Vec<ActionVerdict>, AwsError> {
        reach::simulate(&self.iam(account).await?, documents, actions).await
    }

    async fn services_used(
        &self,
        account: &AccountId,
        user_arn: &str,
    ) -> Result<Vec<ServiceUse>, AwsError> {
        reach::services_used(&self.iam(account).await?, user_arn).await
    }

    async fn deactivate_key(
        &self,
        account: &AccountId,
        user: &str,
        key: &AccessKeyId,
    ) -> Result<Called<()>, AwsError> {
        let out = self
            .iam(account)
            .await?
            .update_access_key()
            .user_name(user)
            .access_key_id(key.as_str())
            .status(StatusType::Inactive)
            .send()
            .await
            .map_err(classify)?;
        Ok(Called {
            value: (),
            request_id: out.request_id().map(str::to_string),
        })
    }

    async fn put_user_deny(
        &self,
        account: &AccountId,
        user: &str,
        policy: &DenyPolicy,
    ) -> Result<Called<DenyPlacement>, AwsError> {
        let iam = self.iam(account).await?;
        let inline = iam
            .put_user_policy()
            .user_name(user)
            .policy_name(&policy.name)
            .policy_document(&policy.document)
            .send()
            .await
            .map_err(classify);
        match inline {
            Ok(out) => Ok(Called {
                value: DenyPlacement::Inline,
                request_id: out.request_id().map(str::to_string),
            }),
            Err(AwsError::LimitExceeded(_)) => attach_managed(&iam, account, user, policy).await,
            Err(e) => Err(e),
        }
    }

    async fn role_holdings(
        &self,
        account: &AccountId,
        role: &str,
    ) -> Result<RoleHoldings, AwsError> {
        actions::role_holdings(&self.iam(account).await?, role).await
    }

    async fn policy_holdings(
        &self,
        account: &AccountId,
        arn: &str,
    ) -> Result<PolicyHoldings, AwsError> {
        actions::policy_holdings(&self.iam(account).await?, arn).await
    }

    async fn instances(
        &self,
        account: &AccountId,
        region: &str,
        ids: &[String],
    ) -> Result<Vec<InstanceFacts>, AwsError> {
        actions::instances(&self.clients(account).await?.ec2(region), ids).await
    }

    async fn shared_with(
        &self,
        account: &AccountId,
        region: &str,
        shared: &Shared,
    ) -> Result<Vec<String>, AwsError> {
        exposure::shared_with(&self.clients(account).await?, region, shared).await
    }

    async fn grant_policy(
        &self,
        account: &AccountId,
        on: &Grantor,
    ) -> Result<Option<String>, AwsError> {
        grants::document(&self.clients(account).await?, on).await
    }

    async fn blocks_public_access(
        &self,
        account: &AccountId,
        bucket: &str,
    ) -> Result<bool, AwsError> {
        let c = self.clients(account).await?;
        let s3 = archive::client(&c.config, bucket).await;
        let config = grants::public_access_block(&s3, bucket).await?;
        Ok(grants::fully_blocked(&config))
    }

    async fn ingress_rule(
        &self,
        account: &AccountId,
        region: &str,
        group: &str,
        rule: &str,
    ) -> Result<Option<serde_json::Value>, AwsError> {
        let ec2 = self.clients(account).await?.ec2(region);
        exposure::ingress_rule(&ec2, group, rule).await
    }

    async fn function_statement(
        &self,
        account: &AccountId,
        region: &str,
        function: &str,
        statement: &str,
    ) -> Result<Option<serde_json::Value>, AwsError> {
        let lambda = self.clients(account).await?.lambda(region);
        exposure::function_statement(&lambda, function, statement).await
    }

    async fn function_exists(
        &self,
        account: &AccountId,
        region: &str,
        name: &str,
    ) -> Result<bool, AwsError> {
        actions::function_exists(&self.clients(account).await?.lambda(region), name).await
    }

    async fn regions(&self, account: &AccountId) -> Result<Vec<String>, AwsError> {
        trail::enabled_regions(&self.clients(account).await?).await
    }

    async fn lookup_events(
        &self,
        query: &TrailQuery,
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<RegionLog, AwsError> {
        let clients = self.clients(&query.account).await?;
        trail::lookup(&clients, &self.pacer, query, progress).await
    }

    async fn archive_events(
        &self,
        at: &ArchiveLocation,
        query: &ArchiveQuery,
    ) -> Result<ArchiveLog, AwsError> {
        let s3 = self.bucket_client(&at.bucket).await;
        archive::scan(&s3, &self.base, at, query, &self.archive_budget).await
    }

    async fn events_with(
        &self,
        account: &AccountId,
        region: &str,
        attribute: TrailAttribute,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<RegionLog, AwsError> {
        let clients = self.clients(account).await?;
        let scope = trail::Scope {
            account,
            region,
            since,
            until,
        };
        trail::events_with(&clients, &self.pacer, &scope, attribute).await
    }

    async fn guardduty_findings(
        &self,
        account: &AccountId,
        region: &str,
        keys: &[AccessKeyId],
    ) -> Result<Option<Vec<GuardDutyFinding>>, AwsError> {
        guardduty::findings(&self.clients(account).await?, region, keys).await
    }

    async fn find_handover(
        &self,
        account: &AccountId,
        secret_name: &str,
        user: &str,
    ) -> Result<Option<Handover>, AwsError> {
        handover::find(&self.clients(account).await?, secret_name, user).await
    }

    async fn issue_key(
        &self,
        account: &AccountId,
        user: &str,
        user_arn: &str,
        secret_name: &str,
        incident: &IncidentId,
    ) -> Result<Handover, AwsError> {
        let c = self.clients(account).await?;
        handover::issue(&c, user, user_arn, secret_name, incident.as_str()).await
    }

    async fn put_role_fence(
        &self,
        account: &AccountId,
        role: &str,
        policy: &DenyPolicy,
    ) -> Result<Called<()>, AwsError> {
        let out = self
            .iam(account)
            .await?
            .put_role_policy()
            .role_name(role)
            .policy_name(&policy.name)
            .policy_document(&policy.document)
            .send()
            .await
            .map_err(classify)?;
        Ok(Called {
            value: (),
            request_id: out.request_id().map(str::to_string),
        })
    }

    async fn describe_targets(&self, action: &Action) -> Result<serde_json::Value, AwsError> {
        let account = AccountId::parse(action.account())
            .map_err(|_| AwsError::Other(format!("`{}` is not an account", action.account())))?;
        evidence::describe(&self.clients(&account).await?, action).await
    }

    async fn copy_evidence(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
    ) -> Result<EvidenceCopy, AwsError> {
        evidence::put_copy(&self.bucket_client(bucket).await, bucket, key, body).await
    }

    async fn execute(&self, _right: &ExecutionRight, action: &Action) -> Outcome {
        let clients = match AccountId::parse(action.account()) {
            Ok(account) => self.clients(&account).await,
            Err(_) => Err(AwsError::Other(format!(
                "`{}` is not an account id",
                action.account()
            ))),
        };
        match clients {
            Ok(c) => actions::run(&c, action).await,
            Err(e) => Outcome::Failed {
                error: e.to_string(),
                request_ids: vec![],
            },
        }
    }
}

/// The fallback when the user's 2,048-character inline budget is full (docs/aws.md).
async fn attach_managed(
    iam: &aws_sdk_iam::Client,
    account: &AccountId,
    user: &str,
    policy: &DenyPolicy,
) -> Result<Called<DenyPlacement>, AwsError> {
    let arn = format!("arn:aws:iam::{account}:policy/{}", policy.name);
    let created = iam
        .create_policy()
        .policy_name(&policy.name)
        .policy_document(&policy.document)
        .description("keyleak containment")
        .send()
        .await
        .map_err(classify);
    match created {
        // A retry after a partial failure finds the policy already made.
        Ok(_) | Err(AwsError::AlreadyExists(_)) => {}
        Err(e) => return Err(e),
    }
    let out = iam
        .attach_user_policy()
        .user_name(user)
        .policy_arn(&arn)
        .send()
        .await
        .map_err(classify)?;
    Ok(Called {
        value: DenyPlacement::Managed { arn },
        request_id: out.request_id().map(str::to_string),
    })
}

/// Keys, policies, groups, login profile and MFA devices of the user, read concurrently.
pub(super) async fn user_snapshot(
    iam: &aws_sdk_iam::Client,
    user: &str,
) -> Result<UserSnapshot, AwsError> {
    let (u, keys, inline, attached, groups, profile, mfa, mut other) = tokio::join!(
        iam.get_user().user_name(user).send(),
        iam.list_access_keys().user_name(user).send(),
        iam.list_user_policies()
            .user_name(user)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>(),
        iam.list_attached_user_policies()
            .user_name(user)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>(),
        iam.list_groups_for_user()
            .user_name(user)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>(),
        iam.get_login_profile().user_name(user).send(),
        iam.list_mfa_devices()
            .user_name(user)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>(),
        super::credentials::other_credentials(iam, user),
    );
    let u = u.map_err(classify)?;
    let user_arn = u.user().map(|u| u.arn().to_string()).unwrap_or_default();
    other.password_last_used = u
        .user()
        .and_then(|u| u.password_last_used())
        .and_then(to_chrono);
    let has_login_profile = match profile.map_err(classify) {
        Ok(_) => true,
        Err(AwsError::NoSuchEntity(_)) => false,
        Err(e) => return Err(e),
    };
    Ok(UserSnapshot {
        user_name: user.to_string(),
        user_arn,
        access_keys: keys
            .map_err(classify)?
            .access_key_metadata()
            .iter()
            .map(|k| KeySnapshot {
                id: k.access_key_id().unwrap_or_default().to_string(),
                active: k.status() == Some(&StatusType::Active),
                created: k.create_date().and_then(to_chrono),
            })
            .collect(),
        inline_policies: inline.map_err(classify)?,
        attached_policies: attached
            .map_err(classify)?
            .iter()
            .map(|p| AttachedPolicy {
                name: p.policy_name().unwrap_or_default().to_string(),
                arn: p.policy_arn().unwrap_or_default().to_string(),
            })
            .collect(),
        groups: groups
            .map_err(classify)?
            .iter()
            .map(|g| g.group_name().to_string())
            .collect(),
        has_login_profile,
        mfa_devices: mfa
            .map_err(classify)?
            .iter()
            .map(|d| d.serial_number().to_string())
            .collect(),
        other,
    })
}
