//! What an event means for the incident, by table (docs/aws.md, CloudTrail; the techniques
//! in `technique.rs`).
//! A call can mean two things (attaching a policy persists access and escalates it), so an
//! event carries every category its name has; a denied call is denied probing only, since it
//! changed nothing, and the timeline still names what was tried.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::TrailEvent;
use super::technique::techniques;
use serde::{Deserialize, Serialize};

/// MITRE ATT&CK's cloud tactics, in the order a responder weighs them (a count and the chart
/// show them so), then what AWS refused and what no table names. Findings stored under the
/// names used before the tactics (`reconnaissance`, `data_access`, `resource_creation`) read
/// as the tactic each became.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Persistence,
    PrivilegeEscalation,
    CredentialAccess,
    DefenseEvasion,
    Exfiltration,
    #[serde(alias = "resource_creation")]
    Impact,
    Execution,
    LateralMovement,
    InitialAccess,
    #[serde(alias = "data_access")]
    Collection,
    #[serde(alias = "reconnaissance")]
    Discovery,
    DeniedProbing,
    /// A change that is in no table: shown, never guessed at.
    Other,
}

impl Category {
    pub const ALL: [Category; 13] = [
        Self::Persistence,
        Self::PrivilegeEscalation,
        Self::CredentialAccess,
        Self::DefenseEvasion,
        Self::Exfiltration,
        Self::Impact,
        Self::Execution,
        Self::LateralMovement,
        Self::InitialAccess,
        Self::Collection,
        Self::Discovery,
        Self::DeniedProbing,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Persistence => "persistence",
            Self::PrivilegeEscalation => "privilege escalation",
            Self::CredentialAccess => "credential access",
            Self::DefenseEvasion => "defense evasion",
            Self::Exfiltration => "exfiltration",
            Self::Impact => "impact",
            Self::Execution => "execution",
            Self::LateralMovement => "lateral movement",
            Self::InitialAccess => "initial access",
            Self::Collection => "collection",
            Self::Discovery => "discovery",
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

/// What runs up the bill or destroys: resource hijacking and data destruction.
const IMPACT: &[&str] = &[
    "RunInstances",
    "RequestSpotInstances",
    "RequestSpotFleet",
    "CreateFleet",
    "CreateStack",
    "CreateCluster",
    "CreateDBInstance",
    "ScheduleKeyDeletion",
    "DeleteBucket",
    "DeleteDBInstance",
    "TerminateInstances",
];

/// Reads of the data itself rather than of configuration, and copies staged to take it.
const COLLECTION: &[&str] = &[
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
    "CreateSnapshot",
    "CreateImage",
    "CreateDBSnapshot",
];

const READ_PREFIXES: &[&str] = &[
    "Get", "List", "Describe", "Head", "Lookup", "Search", "Batch",
];

/// The tables by event name, indexed once: a bit per category (`Category as u16`).
static TABLES: LazyLock<HashMap<&'static str, u16>> = LazyLock::new(|| {
    let mut index: HashMap<&'static str, u16> = HashMap::new();
    for (category, names) in [
        (Category::Persistence, PERSISTENCE),
        (Category::PrivilegeEscalation, PRIVILEGE_ESCALATION),
        (Category::CredentialAccess, CREDENTIAL_ACCESS),
        (Category::DefenseEvasion, DEFENSE_EVASION),
        (Category::Impact, IMPACT),
        (Category::Collection, COLLECTION),
    ] {
        for name in names {
            *index.entry(name).or_default() |= 1 << category as u16;
        }
    }
    index
});

/// The categories of what the event did (or, denied, that it probed): the tactics of every
/// technique it shows (`technique`), with those its name has in the tables, most weighty first.
pub fn classify(e: &TrailEvent) -> Vec<Category> {
    if e.denied() {
        return vec![Category::DeniedProbing];
    }
    let mut bits = TABLES.get(e.name.as_str()).copied().unwrap_or(0);
    for t in techniques(e) {
        for c in t.tactics() {
            bits |= 1 << *c as u16;
        }
    }
    if bits == 0 {
        return vec![if reads(e) {
            Category::Discovery
        } else {
            Category::Other
        }];
    }
    Category::ALL
        .into_iter()
        .filter(|c| bits & (1 << *c as u16) != 0)
        .collect()
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
            (fixtures::RUN_INSTANCES, vec![Impact]),
            (fixtures::LIST_USERS, vec![Discovery]),
            (fixtures::GET_CALLER_IDENTITY, vec![Discovery]),
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
            "ScheduleKeyDeletion",
        ] {
            assert_eq!(classify(&named(name, Some(false))), [Category::Impact]);
        }
        // Changes whose request decides: without a share or an opening, nothing to name.
        for name in ["CreateBucket", "PutBucketPolicy", "ModifySnapshotAttribute"] {
            assert_eq!(classify(&named(name, Some(false))), [Category::Other]);
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
        assert_eq!(classify(&e), [Category::Discovery]);
        e.request = serde_json::json!({"name": "/prod/db", "withDecryption": true});
        assert_eq!(classify(&e), [Category::CredentialAccess]);
    }

    #[test]
    fn unknown_events_fall_by_their_read_only_flag_or_verb() {
        assert_eq!(
            classify(&named("DescribeWidgets", None)),
            [Category::Discovery]
        );
        assert_eq!(
            classify(&named("TweakWidgets", Some(true))),
            [Category::Discovery]
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
