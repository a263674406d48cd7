//! The destructive actions a proposal carries: exact parameters, what the target held when
//! proposed, and how a run ended.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::approval::ProposalState;
use super::ids::{AccessKeyId, AccountId};
use super::incident::UserSnapshot;

/// A destructive action, with everything needed to carry it out and nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    DeleteAccessKey {
        account: String,
        user: String,
        key: String,
    },
    DeleteLoginProfile {
        account: String,
        user: String,
    },
    /// Deletes the user after taking apart exactly what it held when proposed. Anything
    /// found then that is not listed stops the deletion: the approvers did not see it.
    DeleteUser {
        account: String,
        user: String,
        holds: UserHoldings,
    },
    DeleteRole {
        account: String,
        role: String,
        holds: RoleHoldings,
    },
    DeletePolicy {
        account: String,
        arn: String,
        holds: PolicyHoldings,
    },
    TerminateInstances {
        account: String,
        region: String,
        instance_ids: Vec<String>,
        /// Their EBS volumes are snapshotted with the evidence, before termination. Left out
        /// of the JSON when off, so proposals made before keep their hash.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        snapshot: bool,
    },
    DeleteFunction {
        account: String,
        region: String,
        name: String,
    },
    /// Revokes one inbound rule of a security group, by its rule id.
    RevokeIngress {
        account: String,
        region: String,
        group: String,
        rule: String,
    },
    /// Removes one statement from a Lambda function's resource policy.
    RemoveFunctionPermission {
        account: String,
        region: String,
        function: String,
        statement: String,
    },
    /// Stops sharing a snapshot or an image with the accounts (or `all`, everyone) listed.
    Unshare {
        account: String,
        region: String,
        shared: Shared,
        with: Vec<String>,
    },
    /// Rewrites a role's trust policy or a bucket's policy without the principals listed.
    /// `before` is the document the approvers saw, `after` what replaces it (`None`: the
    /// bucket's policy is deleted); any other document found stops it.
    RemoveGrant {
        account: String,
        on: Grantor,
        principals: Vec<String>,
        before: String,
        after: Option<String>,
    },
    /// Turns on all four settings of a bucket's public access block.
    BlockPublicAccess {
        account: String,
        bucket: String,
    },
    /// One of a user's credentials besides its keys and password.
    DeleteUserCredential {
        account: String,
        user: String,
        credential: UserCredential,
    },
    /// Rollback: the key back to Active (the "we broke production" case).
    ReactivateKey {
        account: String,
        user: String,
        key: String,
    },
    /// Restore or rollback: remove the incident's deny-all from the user.
    RemoveDenyAll {
        account: String,
        user: String,
        policy_name: String,
    },
}

/// Something that can be shared with other accounts or made public.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Shared {
    /// An EBS snapshot, through its create-volume permission.
    Snapshot { id: String },
    /// An AMI, through its launch permission.
    Image { id: String },
    /// An RDS DB snapshot, through its `restore` attribute.
    DbSnapshot { id: String },
    /// An Aurora DB cluster snapshot, through its `restore` attribute.
    DbClusterSnapshot { id: String },
}

impl Shared {
    pub fn id(&self) -> &str {
        match self {
            Self::Snapshot { id }
            | Self::Image { id }
            | Self::DbSnapshot { id }
            | Self::DbClusterSnapshot { id } => id,
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::Snapshot { .. } => "EBS snapshot",
            Self::Image { .. } => "AMI",
            Self::DbSnapshot { .. } => "RDS snapshot",
            Self::DbClusterSnapshot { .. } => "RDS cluster snapshot",
        }
    }
}

/// A policy that grants others a way in: a role's trust policy or a bucket's policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Grantor {
    RoleTrust { role: String },
    BucketPolicy { bucket: String },
}

/// A user's credential other than an access key or its console password, by IAM's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UserCredential {
    SshKey {
        id: String,
    },
    SigningCertificate {
        id: String,
    },
    /// HTTPS Git, Amazon Keyspaces, Bedrock or CloudWatch Logs API keys.
    ServiceSpecific {
        id: String,
    },
    /// Deactivated, and deleted when virtual.
    MfaDevice {
        serial: String,
    },
}

impl UserCredential {
    /// What it is, in words.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::SshKey { .. } => "SSH public key",
            Self::SigningCertificate { .. } => "signing certificate",
            Self::ServiceSpecific { .. } => "service-specific credential",
            Self::MfaDevice { .. } => "MFA device",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Self::SshKey { id }
            | Self::SigningCertificate { id }
            | Self::ServiceSpecific { id } => id,
            Self::MfaDevice { serial } => serial,
        }
    }
}

/// What an IAM user holds that must go before the user can be deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserHoldings {
    pub managed_policies: Vec<String>,
    pub inline_policies: Vec<String>,
    pub groups: Vec<String>,
    pub access_keys: Vec<String>,
    pub login_profile: bool,
    pub mfa_devices: Vec<String>,
    // Left out of the JSON when empty, so that proposals made before these were listed keep
    // the hash they were approved under.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh_keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_credentials: Vec<String>,
}

/// What an IAM role holds that must go before the role can be deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleHoldings {
    pub managed_policies: Vec<String>,
    pub inline_policies: Vec<String>,
    pub instance_profiles: Vec<String>,
}

/// Where a customer-managed policy is attached, and its versions besides the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyHoldings {
    pub users: Vec<String>,
    pub roles: Vec<String>,
    pub groups: Vec<String>,
    pub other_versions: Vec<String>,
}

/// "access key AKIA…" for each item of each list that its approved list lacks.
fn unapproved(lists: &[(&str, &Vec<String>, &Vec<String>)]) -> Vec<String> {
    lists
        .iter()
        .flat_map(|(what, now, approved)| {
            now.iter()
                .filter(|x| !approved.contains(x))
                .map(move |x| format!("{what} {x}"))
        })
        .collect()
}

impl RoleHoldings {
    /// What the role holds now that the proposal did not list.
    pub fn beyond(&self, approved: &RoleHoldings) -> Vec<String> {
        unapproved(&[
            ("policy", &self.managed_policies, &approved.managed_policies),
            (
                "inline policy",
                &self.inline_policies,
                &approved.inline_policies,
            ),
            (
                "instance profile",
                &self.instance_profiles,
                &approved.instance_profiles,
            ),
        ])
    }
}

impl PolicyHoldings {
    /// Where the policy is attached now that the proposal did not list. Older versions
    /// go with the policy and need no approval of their own.
    pub fn beyond(&self, approved: &PolicyHoldings) -> Vec<String> {
        unapproved(&[
            ("attached to user", &self.users, &approved.users),
            ("attached to role", &self.roles, &approved.roles),
            ("attached to group", &self.groups, &approved.groups),
        ])
    }
}

impl From<&UserSnapshot> for UserHoldings {
    fn from(s: &UserSnapshot) -> Self {
        Self {
            managed_policies: s.attached_policies.iter().map(|p| p.arn.clone()).collect(),
            inline_policies: s.inline_policies.clone(),
            groups: s.groups.clone(),
            access_keys: s.access_keys.iter().map(|k| k.id.clone()).collect(),
            login_profile: s.has_login_profile,
            mfa_devices: s.mfa_devices.clone(),
            ssh_keys: s.other.ssh_keys.iter().map(|c| c.id.clone()).collect(),
            certificates: s.other.certificates.iter().map(|c| c.id.clone()).collect(),
            service_credentials: s.other.service.iter().map(|c| c.id.clone()).collect(),
        }
    }
}

impl UserHoldings {
    /// What the user holds now that the proposal did not list.
    pub fn beyond(&self, approved: &UserHoldings) -> Vec<String> {
        let mut extra = unapproved(&[
            ("policy", &self.managed_policies, &approved.managed_policies),
            (
                "inline policy",
                &self.inline_policies,
                &approved.inline_policies,
            ),
            ("group", &self.groups, &approved.groups),
            ("access key", &self.access_keys, &approved.access_keys),
            ("MFA device", &self.mfa_devices, &approved.mfa_devices),
            ("SSH public key", &self.ssh_keys, &approved.ssh_keys),
            (
                "signing certificate",
                &self.certificates,
                &approved.certificates,
            ),
            (
                "service-specific credential",
                &self.service_credentials,
                &approved.service_credentials,
            ),
        ]);
        if self.login_profile && !approved.login_profile {
            extra.push("a console password".into());
        }
        extra
    }
}

impl Action {
    pub fn delete_access_key(account: &AccountId, user: &str, key: &AccessKeyId) -> Self {
        Self::DeleteAccessKey {
            account: account.to_string(),
            user: user.to_string(),
            key: key.to_string(),
        }
    }

    /// The account the action runs in.
    pub fn account(&self) -> &str {
        match self {
            Self::DeleteAccessKey { account, .. }
            | Self::DeleteLoginProfile { account, .. }
            | Self::DeleteUser { account, .. }
            | Self::DeleteRole { account, .. }
            | Self::DeletePolicy { account, .. }
            | Self::TerminateInstances { account, .. }
            | Self::DeleteFunction { account, .. }
            | Self::DeleteUserCredential { account, .. }
            | Self::Unshare { account, .. }
            | Self::RemoveFunctionPermission { account, .. }
            | Self::RevokeIngress { account, .. }
            | Self::RemoveGrant { account, .. }
            | Self::BlockPublicAccess { account, .. }
            | Self::ReactivateKey { account, .. }
            | Self::RemoveDenyAll { account, .. } => account,
        }
    }

    /// The AWS operations carrying out the action may make, in IAM's names: shown to the
    /// approvers, and each one must be allowed by the published policy.
    pub fn calls(&self) -> Vec<&'static str> {
        let when = |cond: bool, call: &'static str| cond.then_some(call);
        let calls: Vec<Option<&'static str>> = match self {
            Self::DeleteAccessKey { .. } => vec![Some("iam:DeleteAccessKey")],
            Self::DeleteLoginProfile { .. } => vec![Some("iam:DeleteLoginProfile")],
            Self::DeleteUser { holds, .. } => vec![
                when(!holds.managed_policies.is_empty(), "iam:DetachUserPolicy"),
                when(!holds.inline_policies.is_empty(), "iam:DeleteUserPolicy"),
                when(!holds.groups.is_empty(), "iam:RemoveUserFromGroup"),
                when(!holds.access_keys.is_empty(), "iam:DeleteAccessKey"),
                when(holds.login_profile, "iam:DeleteLoginProfile"),
                when(!holds.mfa_devices.is_empty(), "iam:DeactivateMFADevice"),
                when(!holds.mfa_devices.is_empty(), "iam:DeleteVirtualMFADevice"),
                when(!holds.ssh_keys.is_empty(), "iam:DeleteSSHPublicKey"),
                when(
                    !holds.certificates.is_empty(),
                    "iam:DeleteSigningCertificate",
                ),
                when(
                    !holds.service_credentials.is_empty(),
                    "iam:DeleteServiceSpecificCredential",
                ),
                Some("iam:DeleteUser"),
            ],
            Self::DeleteRole { holds, .. } => vec![
                when(
                    !holds.instance_profiles.is_empty(),
                    "iam:RemoveRoleFromInstanceProfile",
                ),
                when(!holds.managed_policies.is_empty(), "iam:DetachRolePolicy"),
                when(!holds.inline_policies.is_empty(), "iam:DeleteRolePolicy"),
                Some("iam:DeleteRole"),
            ],
            Self::DeletePolicy { holds, .. } => vec![
                when(!holds.users.is_empty(), "iam:DetachUserPolicy"),
                when(!holds.roles.is_empty(), "iam:DetachRolePolicy"),
                when(!holds.groups.is_empty(), "iam:DetachGroupPolicy"),
                when(!holds.other_versions.is_empty(), "iam:DeletePolicyVersion"),
                Some("iam:DeletePolicy"),
            ],
            Self::TerminateInstances { snapshot, .. } => vec![
                when(*snapshot, "ec2:CreateSnapshots"),
                when(*snapshot, "ec2:CreateTags"),
                Some("ec2:TerminateInstances"),
            ],
            Self::DeleteFunction { .. } => vec![Some("lambda:DeleteFunction")],
            Self::RevokeIngress { .. } => vec![Some("ec2:RevokeSecurityGroupIngress")],
            Self::RemoveFunctionPermission { .. } => vec![Some("lambda:RemovePermission")],
            Self::Unshare { shared, .. } => vec![Some(match shared {
                Shared::Snapshot { .. } => "ec2:ModifySnapshotAttribute",
                Shared::Image { .. } => "ec2:ModifyImageAttribute",
                Shared::DbSnapshot { .. } => "rds:ModifyDBSnapshotAttribute",
                Shared::DbClusterSnapshot { .. } => "rds:ModifyDBClusterSnapshotAttribute",
            })],
            Self::RemoveGrant { on, after, .. } => vec![Some(match (on, after) {
                (Grantor::RoleTrust { .. }, _) => "iam:UpdateAssumeRolePolicy",
                (Grantor::BucketPolicy { .. }, Some(_)) => "s3:PutBucketPolicy",
                (Grantor::BucketPolicy { .. }, None) => "s3:DeleteBucketPolicy",
            })],
            Self::BlockPublicAccess { .. } => vec![Some("s3:PutBucketPublicAccessBlock")],
            Self::DeleteUserCredential { credential, .. } => match credential {
                UserCredential::SshKey { .. } => vec![Some("iam:DeleteSSHPublicKey")],
                UserCredential::SigningCertificate { .. } => {
                    vec![Some("iam:DeleteSigningCertificate")]
                }
                UserCredential::ServiceSpecific { .. } => {
                    vec![Some("iam:DeleteServiceSpecificCredential")]
                }
                UserCredential::MfaDevice { .. } => vec![
                    Some("iam:DeactivateMFADevice"),
                    Some("iam:DeleteVirtualMFADevice"),
                ],
            },
            Self::ReactivateKey { .. } => vec![Some("iam:UpdateAccessKey")],
            Self::RemoveDenyAll { .. } => vec![Some("iam:DeleteUserPolicy")],
        };
        calls.into_iter().flatten().collect()
    }

    /// The hash an approval is bound to: SHA-256 over the action's canonical JSON
    /// (serde writes fields in declaration order, so equal actions hash equally).
    pub fn params_hash(&self) -> String {
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(&canonical))
    }
}

/// How an approved action ended, or why a proposal never ran. Stored with the proposal and
/// shown on its message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Done {
        request_ids: Vec<String>,
    },
    /// Nothing to do: the thing was already gone (deleted by hand, or by an earlier run).
    AlreadyGone {
        request_ids: Vec<String>,
    },
    /// The target holds things the approvers did not see; nothing was deleted.
    Changed {
        found: Vec<String>,
    },
    Failed {
        error: String,
        request_ids: Vec<String>,
    },
    Rejected {
        reason: Option<String>,
    },
    Expired,
}

impl Outcome {
    /// The state a finished execution moves to.
    pub fn final_state(&self) -> ProposalState {
        match self {
            Self::Done { .. } | Self::AlreadyGone { .. } => ProposalState::Done,
            Self::Changed { .. } | Self::Failed { .. } => ProposalState::Failed,
            Self::Rejected { .. } => ProposalState::Rejected,
            Self::Expired => ProposalState::Expired,
        }
    }
}

#[cfg(test)]
mod tests;
