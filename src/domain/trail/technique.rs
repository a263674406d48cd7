//! Attacker techniques in CloudTrail records, by event name and, where the name alone does not
//! tell, by what the request asked: a snapshot shared with another account or with everyone, a
//! trust policy naming an outside principal, a parameter read with decryption. The catalogue
//! follows Stratus Red Team's AWS techniques and AWS's compromised-credentials playbook; each
//! technique names its MITRE ATT&CK technique and the tactics it serves.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde_json::Value;

use super::TrailEvent;
use super::classify::Category;

/// A technique the records show. Its tactics are `tactics()`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Technique {
    // Persistence.
    NewUser,
    AccessKeyForAnotherUser,
    AdminPolicyAttached,
    PolicyAttached,
    ConsolePassword,
    RoleTrustOpenedOutside,
    RoleTrustChanged,
    RoleTrustingOutside,
    FunctionSharedOutside,
    FunctionChanged,
    RolesAnywhere,
    IdentityProvider,
    FederationToken,
    ConsoleSigninToken,
    ConsoleLogin,
    KeyReactivated,
    OtherCredential,
    // Exfiltration and exposure.
    SnapshotShared,
    ImageShared,
    DbSnapshotShared,
    BucketOpened,
    FirewallOpened,
    // Credential access.
    SecretRead,
    ParameterDecrypted,
    WindowsPasswordRead,
    UserDataRead,
    // Defense evasion.
    TrailStopped,
    TrailDeleted,
    TrailChanged,
    LogBucketLifecycle,
    GuardDutyDisabled,
    FlowLogsDeleted,
    DnsLogsDeleted,
    ConfigStopped,
    LeftOrganization,
    // Impact and abuse.
    ModelAccessEnabled,
    ModelInvoked,
    EmailAbuse,
    MassDeletion,
    ReEncryption,
    ComputeLaunched,
    // Execution and lateral movement.
    RunCommand,
    ShellSession,
    UserDataChanged,
    InstanceStarted,
    SshKeyPushed,
    SerialConsoleEnabled,
}

use Category::*;
use Technique::*;

impl Technique {
    /// How a responder reads it.
    pub fn name(self) -> &'static str {
        match self {
            NewUser => "IAM user created",
            AccessKeyForAnotherUser => "access key made for another user",
            AdminPolicyAttached => "admin policy attached",
            PolicyAttached => "permissions granted",
            ConsolePassword => "console password set",
            RoleTrustOpenedOutside => "role trust policy opened to an outside principal",
            RoleTrustChanged => "role trust policy changed",
            RoleTrustingOutside => "new role trusting an outside principal",
            FunctionSharedOutside => "Lambda function shared outside the account",
            FunctionChanged => "Lambda code, layers or configuration changed",
            RolesAnywhere => "IAM Roles Anywhere trust anchor or profile",
            IdentityProvider => "SAML or OIDC identity provider changed",
            FederationToken => "federation token (sessions that outlive the key)",
            ConsoleSigninToken => "console sign-in token through federation",
            ConsoleLogin => "console sign-in",
            KeyReactivated => "access key set back to Active",
            OtherCredential => "SSH key, certificate or service credential added",
            SnapshotShared => "EBS snapshot shared",
            ImageShared => "AMI shared",
            DbSnapshotShared => "RDS snapshot shared",
            BucketOpened => "S3 bucket opened",
            FirewallOpened => "security group opened to the internet",
            SecretRead => "secret read",
            ParameterDecrypted => "SSM parameter read with decryption",
            WindowsPasswordRead => "Windows password data read",
            UserDataRead => "instance user data read",
            TrailStopped => "CloudTrail logging stopped",
            TrailDeleted => "CloudTrail trail deleted",
            TrailChanged => "CloudTrail trail or event selectors changed",
            LogBucketLifecycle => "bucket lifecycle set to expire objects",
            GuardDutyDisabled => "GuardDuty detector or publishing removed",
            FlowLogsDeleted => "VPC flow logs deleted",
            DnsLogsDeleted => "Route 53 Resolver query logging removed",
            ConfigStopped => "AWS Config recorder stopped",
            LeftOrganization => "account left its organization",
            ModelAccessEnabled => "Bedrock model access enabled",
            ModelInvoked => "Bedrock model invoked",
            EmailAbuse => "SES sending enabled or identity added",
            MassDeletion => "objects deleted in bulk",
            ReEncryption => "data re-encrypted with another key",
            ComputeLaunched => "compute launched",
            RunCommand => "command run on instances (SSM)",
            ShellSession => "shell session on an instance (SSM)",
            UserDataChanged => "instance user data changed",
            InstanceStarted => "instance started",
            SshKeyPushed => "SSH key pushed to an instance",
            SerialConsoleEnabled => "EC2 serial console enabled",
        }
    }

    /// The MITRE ATT&CK technique (Enterprise, cloud matrix).
    pub fn attack_id(self) -> &'static str {
        match self {
            NewUser => "T1136.003",
            AccessKeyForAnotherUser | OtherCredential => "T1098.001",
            AdminPolicyAttached | PolicyAttached => "T1098.003",
            ConsolePassword | KeyReactivated => "T1098",
            RoleTrustOpenedOutside | RoleTrustChanged | RoleTrustingOutside => "T1098.003",
            FunctionSharedOutside => "T1098",
            FunctionChanged => "T1648",
            RolesAnywhere | IdentityProvider => "T1484.002",
            FederationToken | ConsoleSigninToken => "T1550.001",
            ConsoleLogin => "T1078.004",
            SnapshotShared | ImageShared | DbSnapshotShared | BucketOpened => "T1537",
            FirewallOpened => "T1562.007",
            SecretRead | ParameterDecrypted => "T1555.006",
            WindowsPasswordRead | UserDataRead => "T1552.005",
            TrailStopped | TrailDeleted | TrailChanged | LogBucketLifecycle | FlowLogsDeleted
            | DnsLogsDeleted | ConfigStopped => "T1562.008",
            GuardDutyDisabled | LeftOrganization => "T1562.001",
            ModelAccessEnabled | ModelInvoked | EmailAbuse => "T1496.004",
            ComputeLaunched => "T1496.001",
            MassDeletion => "T1485",
            ReEncryption => "T1486",
            RunCommand | ShellSession => "T1651",
            UserDataChanged | InstanceStarted => "T1059",
            SshKeyPushed | SerialConsoleEnabled => "T1021",
        }
    }

    /// The ATT&CK tactics it serves; the first is the one a count shows it under.
    pub fn tactics(self) -> &'static [Category] {
        match self {
            NewUser
            | ConsolePassword
            | RolesAnywhere
            | FunctionSharedOutside
            | OtherCredential
            | RoleTrustingOutside => &[Persistence],
            AccessKeyForAnotherUser => &[Persistence, CredentialAccess],
            AdminPolicyAttached | PolicyAttached | RoleTrustOpenedOutside | RoleTrustChanged => {
                &[Persistence, PrivilegeEscalation]
            }
            FunctionChanged => &[Persistence, Execution],
            IdentityProvider => &[Persistence, PrivilegeEscalation, DefenseEvasion],
            FederationToken => &[Persistence, CredentialAccess],
            ConsoleSigninToken => &[LateralMovement, DefenseEvasion],
            ConsoleLogin => &[InitialAccess],
            KeyReactivated => &[Persistence, DefenseEvasion],
            SnapshotShared | ImageShared | DbSnapshotShared => &[Exfiltration],
            BucketOpened => &[Exfiltration, DefenseEvasion],
            FirewallOpened => &[DefenseEvasion],
            SecretRead | ParameterDecrypted | WindowsPasswordRead | UserDataRead => {
                &[CredentialAccess]
            }
            TrailStopped | TrailDeleted | TrailChanged | LogBucketLifecycle | GuardDutyDisabled
            | FlowLogsDeleted | DnsLogsDeleted | ConfigStopped | LeftOrganization => {
                &[DefenseEvasion]
            }
            ModelAccessEnabled | ModelInvoked | EmailAbuse | ComputeLaunched | MassDeletion
            | ReEncryption => &[Impact],
            RunCommand | UserDataChanged | InstanceStarted => &[Execution],
            ShellSession => &[Execution, LateralMovement],
            SshKeyPushed | SerialConsoleEnabled => &[LateralMovement],
        }
    }

    /// Whether, seen after containment, it must reach the responders at once: a way back in
    /// that outlives the deny-all, or the account being blinded.
    pub fn alarms(self) -> bool {
        self.blinds()
            || matches!(
                self,
                KeyReactivated
                    | FederationToken
                    | ConsoleSigninToken
                    | ConsoleLogin
                    | RoleTrustOpenedOutside
                    | RoleTrustChanged
            )
    }

    /// Whether it blinds what keyleak and the account's defenders see from then on.
    pub fn blinds(self) -> bool {
        matches!(
            self,
            TrailStopped
                | TrailDeleted
                | TrailChanged
                | LogBucketLifecycle
                | GuardDutyDisabled
                | FlowLogsDeleted
                | DnsLogsDeleted
                | ConfigStopped
                | LeftOrganization
        )
    }
}

/// Instance families made for GPUs and accelerators: what crypto-mining and model abuse launch.
const ACCELERATED: &[&str] = &["p", "g", "inf", "trn", "dl", "vt", "f"];

/// Event names by the technique they always are, whatever the request.
const BY_NAME: &[(&str, Technique)] = &[
    ("CreateUser", NewUser),
    ("CreateLoginProfile", ConsolePassword),
    ("UpdateLoginProfile", ConsolePassword),
    ("UpdateFunctionCode", FunctionChanged),
    ("UpdateFunctionCode20150331v2", FunctionChanged),
    ("UpdateFunctionConfiguration", FunctionChanged),
    ("UpdateFunctionConfiguration20150331v2", FunctionChanged),
    ("PublishLayerVersion", FunctionChanged),
    ("PublishLayerVersion20181031", FunctionChanged),
    ("CreateTrustAnchor", RolesAnywhere),
    ("UpdateTrustAnchor", RolesAnywhere),
    ("CreateProfile", RolesAnywhere),
    ("UpdateProfile", RolesAnywhere),
    ("CreateSAMLProvider", IdentityProvider),
    ("UpdateSAMLProvider", IdentityProvider),
    ("CreateOpenIDConnectProvider", IdentityProvider),
    ("AddClientIDToOpenIDConnectProvider", IdentityProvider),
    ("UpdateOpenIDConnectProviderThumbprint", IdentityProvider),
    ("GetFederationToken", FederationToken),
    ("GetSigninToken", ConsoleSigninToken),
    ("ConsoleLogin", ConsoleLogin),
    ("UploadSSHPublicKey", OtherCredential),
    ("UploadSigningCertificate", OtherCredential),
    ("CreateServiceSpecificCredential", OtherCredential),
    ("GetSecretValue", SecretRead),
    ("BatchGetSecretValue", SecretRead),
    ("GetPasswordData", WindowsPasswordRead),
    ("StopLogging", TrailStopped),
    ("DeleteTrail", TrailDeleted),
    ("UpdateTrail", TrailChanged),
    ("PutEventSelectors", TrailChanged),
    ("PutInsightSelectors", TrailChanged),
    ("DeleteDetector", GuardDutyDisabled),
    ("DeletePublishingDestination", GuardDutyDisabled),
    ("DisassociateFromMasterAccount", GuardDutyDisabled),
    ("DisassociateFromAdministratorAccount", GuardDutyDisabled),
    ("DeleteFlowLogs", FlowLogsDeleted),
    ("DeleteResolverQueryLogConfig", DnsLogsDeleted),
    ("DisassociateResolverQueryLogConfig", DnsLogsDeleted),
    ("StopConfigurationRecorder", ConfigStopped),
    ("DeleteConfigurationRecorder", ConfigStopped),
    ("DeleteDeliveryChannel", ConfigStopped),
    ("LeaveOrganization", LeftOrganization),
    ("PutUseCaseForModelAccess", ModelAccessEnabled),
    ("CreateFoundationModelAgreement", ModelAccessEnabled),
    ("PutFoundationModelEntitlement", ModelAccessEnabled),
    ("InvokeModel", ModelInvoked),
    ("InvokeModelWithResponseStream", ModelInvoked),
    ("Converse", ModelInvoked),
    ("ConverseStream", ModelInvoked),
    ("UpdateAccountSendingEnabled", EmailAbuse),
    ("PutAccountDetails", EmailAbuse),
    ("CreateEmailIdentity", EmailAbuse),
    ("VerifyEmailIdentity", EmailAbuse),
    ("VerifyDomainIdentity", EmailAbuse),
    ("DeleteObjects", MassDeletion),
    ("SendCommand", RunCommand),
    ("StartSession", ShellSession),
    ("StartInstances", InstanceStarted),
    ("RebootInstances", InstanceStarted),
    ("SendSSHPublicKey", SshKeyPushed),
    ("SendSerialConsoleSSHPublicKey", SshKeyPushed),
    ("EnableSerialConsoleAccess", SerialConsoleEnabled),
    ("RunInstances", ComputeLaunched),
    ("RequestSpotInstances", ComputeLaunched),
    ("RequestSpotFleet", ComputeLaunched),
    ("CreateFleet", ComputeLaunched),
];

/// What the event's request shows about a technique whose name alone does not tell.
fn by_request(e: &TrailEvent) -> Option<Technique> {
    let r = &e.request;
    let own = e
        .recipient_account
        .as_deref()
        .or(e.identity.account_id.as_deref());
    Some(match e.name.as_str() {
        "CreateAccessKey" => {
            let target = r.get("userName").and_then(Value::as_str);
            let caller = e.identity.user_name.as_deref();
            // A key for oneself is the caller's own business; for someone else, a backdoor.
            if target.is_some() && target != caller {
                AccessKeyForAnotherUser
            } else {
                return None;
            }
        }
        "AttachUserPolicy" | "AttachGroupPolicy" | "AttachRolePolicy" => {
            let arn = r.get("policyArn").and_then(Value::as_str).unwrap_or("");
            if is_admin_policy(arn) {
                AdminPolicyAttached
            } else {
                PolicyAttached
            }
        }
        "PutUserPolicy"
        | "PutGroupPolicy"
        | "PutRolePolicy"
        | "AddUserToGroup"
        | "CreatePolicyVersion"
        | "SetDefaultPolicyVersion" => PolicyAttached,
        "UpdateAssumeRolePolicy" => {
            if outside(principals(r.get("policyDocument")), own) {
                RoleTrustOpenedOutside
            } else {
                RoleTrustChanged
            }
        }
        "CreateRole" if outside(principals(r.get("assumeRolePolicyDocument")), own) => {
            RoleTrustingOutside
        }
        "AddPermission"
        | "AddPermission20150331v2"
        | "AddLayerVersionPermission"
        | "AddLayerVersionPermission20181031" => {
            let p = r.get("principal").and_then(Value::as_str).unwrap_or("");
            if outside(vec![p.to_string()], own) {
                FunctionSharedOutside
            } else {
                return None;
            }
        }
        "UpdateAccessKey" if r.get("status").and_then(Value::as_str) == Some("Active") => {
            KeyReactivated
        }
        "ModifySnapshotAttribute" if adds_sharing(r.get("createVolumePermission")) => {
            SnapshotShared
        }
        "ModifyImageAttribute" if adds_sharing(r.get("launchPermission")) => ImageShared,
        "ModifyDBSnapshotAttribute" | "ModifyDBClusterSnapshotAttribute"
            if r.get("attributeName").and_then(Value::as_str) == Some("restore")
                && r.get("valuesToAdd")
                    .and_then(Value::as_array)
                    .is_some_and(|v| !v.is_empty()) =>
        {
            DbSnapshotShared
        }
        "PutBucketPolicy" if outside(principals(r.get("bucketPolicy")), own) => BucketOpened,
        "PutBucketAcl" if grants_everyone(r) => BucketOpened,
        "DeleteBucketPublicAccessBlock"
        | "DeletePublicAccessBlock"
        | "DeleteAccountPublicAccessBlock" => BucketOpened,
        "PutBucketPublicAccessBlock" | "PutPublicAccessBlock" | "PutAccountPublicAccessBlock"
            if lifts_a_block(r) =>
        {
            BucketOpened
        }
        "AuthorizeSecurityGroupIngress" if open_to_internet(r) => FirewallOpened,
        "GetParameter" | "GetParameters" | "GetParametersByPath"
            if r.get("withDecryption")
                .is_some_and(|v| v == &Value::Bool(true) || v == "true") =>
        {
            ParameterDecrypted
        }
        "DescribeInstanceAttribute"
            if r.get("attribute").and_then(Value::as_str) == Some("userData") =>
        {
            UserDataRead
        }
        "ModifyInstanceAttribute" if r.get("userData").is_some() => UserDataChanged,
        "PutBucketLifecycle" | "PutBucketLifecycleConfiguration"
            if r.to_string().contains("\"Expiration\"") =>
        {
            LogBucketLifecycle
        }
        "PutBucketEncryption" if outside(vec![kms_key_account(r)], own) => ReEncryption,
        "CopyObject"
            if r.get("x-amz-server-side-encryption-customer-algorithm")
                .is_some() =>
        {
            ReEncryption
        }
        _ => return None,
    })
}

/// `BY_NAME` indexed once: classification looks up every event of a timeline.
static INDEX: LazyLock<HashMap<&'static str, Technique>> =
    LazyLock::new(|| BY_NAME.iter().copied().collect());

/// Every technique the event shows; none for a call AWS refused (it changed nothing).
pub fn techniques(e: &TrailEvent) -> Vec<Technique> {
    if e.denied() {
        return Vec::new();
    }
    INDEX
        .get(e.name.as_str())
        .copied()
        .into_iter()
        .chain(by_request(e))
        .collect()
}

/// The events that alarm (see `Technique::alarms`), each with the first technique that does.
pub fn alarming(events: &[TrailEvent]) -> Vec<(Technique, &TrailEvent)> {
    events
        .iter()
        .filter_map(|e| {
            techniques(e)
                .into_iter()
                .find(|t| t.alarms())
                .map(|t| (t, e))
        })
        .collect()
}

/// `AdministratorAccess`, `PowerUserAccess`, `IAMFullAccess`: a grant of (almost) everything.
fn is_admin_policy(arn: &str) -> bool {
    ["/AdministratorAccess", "/PowerUserAccess", "/IAMFullAccess"]
        .iter()
        .any(|n| arn.ends_with(n))
}

/// The principals a policy document (an object, or its JSON text) names in `Principal`.
fn principals(doc: Option<&Value>) -> Vec<String> {
    let doc = match doc {
        Some(Value::String(text)) => serde_json::from_str(text).unwrap_or(Value::Null),
        Some(v) => v.clone(),
        None => return Vec::new(),
    };
    let statements = match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(s) => vec![s.clone()],
        None => return Vec::new(),
    };
    let mut out = Vec::new();
    for s in statements
        .iter()
        .filter(|s| s.get("Effect").and_then(Value::as_str) == Some("Allow"))
    {
        collect_strings(s.get("Principal"), &mut out);
    }
    out
}

fn collect_strings(v: Option<&Value>, out: &mut Vec<String>) {
    match v {
        Some(Value::String(s)) => out.push(s.clone()),
        Some(Value::Array(a)) => a.iter().for_each(|x| collect_strings(Some(x), out)),
        Some(Value::Object(o)) => o.values().for_each(|x| collect_strings(Some(x), out)),
        _ => {}
    }
}

fn outside(principals: Vec<String>, own: Option<&str>) -> bool {
    principals.iter().any(|p| is_outside(p, own))
}

/// Whether a principal is everyone or lies outside `own` (a 12-digit account, an ARN in
/// another account). Service principals (`lambda.amazonaws.com`) are AWS's own.
fn is_outside(p: &str, own: Option<&str>) -> bool {
    if p == "*" {
        return true;
    }
    let account = if p.len() == 12 && p.chars().all(|c| c.is_ascii_digit()) {
        Some(p)
    } else if p.starts_with("arn:") {
        p.split(':').nth(4).filter(|a| !a.is_empty())
    } else {
        None
    };
    matches!((account, own), (Some(a), Some(o)) if a != o)
}

/// The principals outside `own` that a policy document (an object, or its JSON text) lets in,
/// each once.
pub fn outside_principals(doc: Option<&Value>, own: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for p in principals(doc) {
        if is_outside(&p, own) && !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// An EC2 permission change that adds an account or `all`.
fn adds_sharing(permission: Option<&Value>) -> bool {
    permission
        .and_then(|p| p.pointer("/add/items"))
        .and_then(Value::as_array)
        .is_some_and(|items| !items.is_empty())
}

fn grants_everyone(r: &Value) -> bool {
    let text = r.to_string();
    text.contains("/groups/global/AllUsers") || text.contains("/groups/global/AuthenticatedUsers")
}

/// A public access block put with any of its four settings off.
fn lifts_a_block(r: &Value) -> bool {
    let Some(config) = r
        .get("PublicAccessBlockConfiguration")
        .or_else(|| r.get("publicAccessBlockConfiguration"))
    else {
        return false;
    };
    [
        "BlockPublicAcls",
        "IgnorePublicAcls",
        "BlockPublicPolicy",
        "RestrictPublicBuckets",
    ]
    .iter()
    .any(|k| {
        config
            .get(*k)
            .is_some_and(|v| v == &Value::Bool(false) || v == "false")
    })
}

fn open_to_internet(r: &Value) -> bool {
    let text = r.to_string();
    text.contains("\"0.0.0.0/0\"") || text.contains("\"::/0\"")
}

/// The account of the KMS key a bucket's default encryption names, if it is an ARN.
fn kms_key_account(r: &Value) -> String {
    let text = r.to_string();
    text.split("arn:aws:kms:")
        .nth(1)
        .and_then(|rest| rest.split(':').nth(1))
        .map(str::to_string)
        .unwrap_or_default()
}

/// An instance type whose family is made for GPUs or accelerators (`p4d.24xlarge`).
pub fn accelerated(instance_type: &str) -> bool {
    let family: String = instance_type
        .split('.')
        .next()
        .unwrap_or("")
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    ACCELERATED.contains(&family.as_str())
}

#[cfg(test)]
#[path = "technique_tests.rs"]
mod tests;
