//! What an event means for the incident, by table (AWS-FACTS.md, "Event classification").
//! A call can mean two things (attaching a policy persists access and escalates it), so an
//! event carries every category its name has; a denied call is denied probing only, since it
//! changed nothing, and the timeline still names what was tried.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::TrailEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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

impl Category {
    pub const ALL: [Category; 9] = [
        Self::Persistence,
        Self::PrivilegeEscalation,
        Self::CredentialAccess,
        Self::DefenseEvasion,
        Self::ResourceCreation,
        Self::DataAccess,
        Self::Reconnaissance,
        Self::DeniedProbing,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Persistence => "persistence",
            Self::PrivilegeEscalation => "privilege escalation",
            Self::CredentialAccess => "credential access",
            Self::DefenseEvasion => "defense evasion",
            Self::ResourceCreation => "resource creation",
            Self::DataAccess => "data access",
            Self::Reconnaissance => "reconnaissance",
            Self::DeniedProbing => "denied probing",
            Self::Other => "other",
        }
    }
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::{self, event};
    use super::*;

    fn named(name: &str, read_only: Option<bool>) -> TrailEvent {
        let mut e = event(fixtures::LIST_USERS);
        e.name = name.into();
        e.read_only = read_only;
        e
    }

    #[test]
    fn the_published_records_fall_where_the_facts_say() {
        use Category::*;
        let cases = [
            (fixtures::CREATE_USER, vec![Persistence]),
            (
                fixtures::CREATE_ACCESS_KEY,
                vec![Persistence, CredentialAccess],
            ),
            (fixtures::CREATE_LOGIN_PROFILE, vec![Persistence]),
            (fixtures::ASSUME_ROLE, vec![CredentialAccess]),
            (fixtures::GET_SESSION_TOKEN, vec![CredentialAccess]),
            (fixtures::STOP_LOGGING, vec![DefenseEvasion]),
            (fixtures::RUN_INSTANCES, vec![ResourceCreation]),
            (fixtures::LIST_USERS, vec![Reconnaissance]),
            (fixtures::GET_CALLER_IDENTITY, vec![Reconnaissance]),
            (fixtures::LIST_ROLES_DENIED, vec![DeniedProbing]),
        ];
        for (text, want) in cases {
            let e = event(text);
            assert_eq!(classify(&e), want, "{}", e.name);
        }
    }

    #[test]
    fn every_listed_fact_is_in_a_table() {
        for name in [
            "CreateVirtualMFADevice",
            "CreateSAMLProvider",
            "UpdateFunctionCode",
            "AddPermission",
        ] {
            assert!(classify(&named(name, Some(false))).contains(&Category::Persistence));
        }
        for name in [
            "DeleteTrail",
            "UpdateTrail",
            "PutEventSelectors",
            "DeleteDetector",
            "DeletePublishingDestination",
            "DeleteConfigurationRecorder",
            "DeleteAnalyzer",
            "DeactivateMFADevice",
        ] {
            assert_eq!(
                classify(&named(name, Some(false))),
                [Category::DefenseEvasion]
            );
        }
        for name in [
            "RequestSpotInstances",
            "CreateStack",
            "CreateCluster",
            "CreateBucket",
            "PutBucketPolicy",
            "ModifySnapshotAttribute",
            "ScheduleKeyDeletion",
        ] {
            assert_eq!(
                classify(&named(name, Some(false))),
                [Category::ResourceCreation]
            );
        }
        assert_eq!(
            classify(&named("AttachUserPolicy", Some(false))),
            [Category::Persistence, Category::PrivilegeEscalation]
        );
        assert_eq!(
            classify(&named("GetSecretValue", Some(true))),
            [Category::CredentialAccess]
        );
        assert_eq!(
            classify(&named("GetPasswordData", Some(true))),
            [Category::CredentialAccess]
        );
    }

    #[test]
    fn parameters_are_credential_access_only_when_decrypted() {
        let mut e = named("GetParameter", Some(true));
        assert_eq!(classify(&e), [Category::Reconnaissance]);
        e.request = serde_json::json!({"name": "/prod/db", "withDecryption": true});
        assert_eq!(classify(&e), [Category::CredentialAccess]);
    }

    #[test]
    fn unknown_events_fall_by_their_read_only_flag_or_verb() {
        assert_eq!(
            classify(&named("DescribeWidgets", None)),
            [Category::Reconnaissance]
        );
        assert_eq!(
            classify(&named("TweakWidgets", Some(true))),
            [Category::Reconnaissance]
        );
        assert_eq!(classify(&named("TweakWidgets", None)), [Category::Other]);
        assert_eq!(
            classify(&named("GetWidget", Some(false))),
            [Category::Other]
        );
    }

    #[test]
    fn a_denied_change_is_probing_whatever_it_tried() {
        let mut e = named("CreateUser", Some(false));
        e.error_code = Some("AccessDenied".into());
        assert_eq!(classify(&e), [Category::DeniedProbing]);
        e.error_code = Some("Client.UnauthorizedOperation".into());
        assert_eq!(classify(&e), [Category::DeniedProbing]);
        e.error_code = Some("EntityAlreadyExists".into());
        assert_eq!(classify(&e), [Category::Persistence]);
    }
}
