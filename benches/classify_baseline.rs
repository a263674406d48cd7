//! The classifier as it was before techniques (commit 704fada), kept verbatim as the
//! benchmark's baseline: its tables by event name, and the read-only fallback (less the names
//! and list of categories, which the benchmark does not use).
//! A call can mean two things (attaching a policy persists access and escalates it), so an
//! event carries every category its name has; a denied call is denied probing only, since it
//! changed nothing, and the timeline still names what was tried.

use serde_json::Value;

use keyleak::domain::trail::TrailEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    Persistence,
    PrivilegeEscalation,
    CredentialAccess,
    DefenseEvasion,
    ResourceCreation,
    DataAccess,
    Reconnaissance,
    DeniedProbing,
    /// A change that is in no table: shown, never guessed at.
    Other,
}

const PERSISTENCE: &[&str] = &[
    "CreateUser",
    "CreateAccessKey",
    "CreateLoginProfile",
    "UpdateLoginProfile",
    "AddUserToGroup",
    "AttachUserPolicy",
    "PutUserPolicy",
    "AttachGroupPolicy",
    "PutGroupPolicy",
    "CreateRole",
    "UpdateAssumeRolePolicy",
    "AttachRolePolicy",
    "PutRolePolicy",
    "CreatePolicyVersion",
    "SetDefaultPolicyVersion",
    "CreateVirtualMFADevice",
    "EnableMFADevice",
    "CreateSAMLProvider",
    "CreateOpenIDConnectProvider",
    "UploadSSHPublicKey",
    "CreateServiceSpecificCredential",
    "UploadSigningCertificate",
    "CreateInstanceProfile",
    "AddRoleToInstanceProfile",
    "CreateFunction",
    "CreateFunction20150331",
    "UpdateFunctionCode",
    "UpdateFunctionCode20150331v2",
    "AddPermission",
    "AddPermission20150331v2",
    "CreateKeyPair",
    "ImportKeyPair",
];

/// Calls that widen what an identity may do.
const PRIVILEGE_ESCALATION: &[&str] = &[
    "AttachUserPolicy",
    "PutUserPolicy",
    "AttachGroupPolicy",
    "PutGroupPolicy",
    "AttachRolePolicy",
    "PutRolePolicy",
    "AddUserToGroup",
    "CreatePolicyVersion",
    "SetDefaultPolicyVersion",
    "UpdateAssumeRolePolicy",
    "DeleteUserPermissionsBoundary",
    "DeleteRolePermissionsBoundary",
    "PassRole",
];

const CREDENTIAL_ACCESS: &[&str] = &[
    "GetSessionToken",
    "GetFederationToken",
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "GetSecretValue",
    "BatchGetSecretValue",
    "GetPasswordData",
    "GetRoleCredentials",
    "GetSigninToken",
    "CreateAccessKey",
];

const DEFENSE_EVASION: &[&str] = &[
    "StopLogging",
    "DeleteTrail",
    "UpdateTrail",
    "PutEventSelectors",
    "DeleteEventDataStore",
    "DeleteDetector",
    "UpdateDetector",
    "DeletePublishingDestination",
    "DisassociateFromMasterAccount",
    "DeleteConfigurationRecorder",
    "StopConfigurationRecorder",
    "DeleteDeliveryChannel",
    "DeleteAnalyzer",
    "DeactivateMFADevice",
    "DeleteVirtualMFADevice",
    "DeleteFlowLogs",
    "DisableSecurityHub",
    "DeleteLogGroup",
    "DeleteLogStream",
    "PutBucketLogging",
];

const RESOURCE_CREATION: &[&str] = &[
    "RunInstances",
    "RequestSpotInstances",
    "RequestSpotFleet",
    "CreateFleet",
    "StartInstances",
    "CreateStack",
    "CreateCluster",
    "CreateBucket",
    "PutBucketPolicy",
    "PutBucketAcl",
    "DeletePublicAccessBlock",
    "PutPublicAccessBlock",
    "ModifySnapshotAttribute",
    "ModifyImageAttribute",
    "ModifyDBSnapshotAttribute",
    "CreateSecurityGroup",
    "AuthorizeSecurityGroupIngress",
    "CreateDBInstance",
    "ScheduleKeyDeletion",
    "CreateSnapshot",
    "CreateImage",
];

/// Reads of the data itself rather than of configuration.
const DATA_ACCESS: &[&str] = &[
    "GetObject",
    "CopyObject",
    "SelectObjectContent",
    "RestoreObject",
    "Scan",
    "Query",
    "GetItem",
    "BatchGetItem",
    "ExportTableToPointInTime",
    "StartQueryExecution",
    "GetQueryResults",
    "GetLogEvents",
    "FilterLogEvents",
    "StartExport",
    "Decrypt",
    "GetConsoleOutput",
    "GetConsoleScreenshot",
    "CopySnapshot",
    "CopyDBSnapshot",
];

/// Parameter reads are credential access only when they ask for decryption.
const PARAMETER_READS: &[&str] = &["GetParameter", "GetParameters", "GetParametersByPath"];

const READ_PREFIXES: &[&str] = &[
    "Get", "List", "Describe", "Head", "Lookup", "Search", "Batch",
];

/// The categories of what the event did (or, denied, that it probed).
pub fn classify(e: &TrailEvent) -> Vec<Category> {
    if e.denied() {
        return vec![Category::DeniedProbing];
    }
    let mut found: Vec<Category> = [
        (Category::Persistence, PERSISTENCE),
        (Category::PrivilegeEscalation, PRIVILEGE_ESCALATION),
        (Category::CredentialAccess, CREDENTIAL_ACCESS),
        (Category::DefenseEvasion, DEFENSE_EVASION),
        (Category::ResourceCreation, RESOURCE_CREATION),
        (Category::DataAccess, DATA_ACCESS),
    ]
    .into_iter()
    .filter(|(_, names)| names.contains(&e.name.as_str()))
    .map(|(c, _)| c)
    .collect();
    if PARAMETER_READS.contains(&e.name.as_str()) && decrypts(&e.request) {
        found.push(Category::CredentialAccess);
    }
    if found.is_empty() {
        found.push(if reads(e) {
            Category::Reconnaissance
        } else {
            Category::Other
        });
    }
    found
}

fn decrypts(request: &Value) -> bool {
    request
        .get("withDecryption")
        .is_some_and(|v| v == &Value::Bool(true) || v == "true")
}

/// CloudTrail's own flag when the record has it; the verb otherwise.
fn reads(e: &TrailEvent) -> bool {
    e.read_only
        .unwrap_or_else(|| READ_PREFIXES.iter().any(|p| e.name.starts_with(p)))
}
