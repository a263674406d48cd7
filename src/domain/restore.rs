//! Restore: a new access key handed over through a Secrets Manager secret only its user may
//! read. keyleak keeps where the key is, never the key's secret.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ids::IncidentId;

/// Where a new key was put, and whether it was seen to work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handover {
    pub key_id: String,
    pub secret_arn: String,
    /// `sts:GetCallerIdentity` with the new key: the ARN it answered as, or why it did not.
    pub verified: Result<String, String>,
}

/// IAM's per-user limit on access keys.
pub const KEYS_PER_USER: usize = 2;

/// The secret's name: one per incident and user, so a retried restore finds the one it made.
/// IAM user names may hold `,`, which secret names may not.
pub fn secret_name(incident: &IncidentId, user: &str) -> String {
    format!("keyleak/{incident}/{}", user.replace(',', "-"))
}

/// The secret's resource policy: the user may read it, and nobody else may, whatever their
/// identity policies allow (an explicit deny wins).
pub fn handover_policy(user_arn: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OnlyTheUserReads",
                "Effect": "Allow",
                "Principal": {"AWS": user_arn},
                "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                "Resource": "*"
            },
            {
                "Sid": "NobodyElseReads",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "*",
                "Condition": {"StringNotEquals": {"aws:PrincipalArn": user_arn}}
            }
        ]
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_named_per_incident_and_user_within_secrets_manager_rules() {
        let id = IncidentId::parse("KL-00C0FFEE").unwrap();
        assert_eq!(
            secret_name(&id, "ci-deploy"),
            "keyleak/KL-00C0FFEE/ci-deploy"
        );
        assert_eq!(
            secret_name(&id, "a,b+c=d.e@f_g"),
            "keyleak/KL-00C0FFEE/a-b+c=d.e@f_g"
        );
    }

    #[test]
    fn only_the_user_may_read_the_secret() {
        let arn = "arn:aws:iam::111111111111:user/ci-deploy";
        let doc: serde_json::Value = serde_json::from_str(&handover_policy(arn)).unwrap();
        let allow = &doc["Statement"][0];
        assert_eq!(allow["Effect"], "Allow");
        assert_eq!(allow["Principal"]["AWS"], arn);
        let deny = &doc["Statement"][1];
        assert_eq!(deny["Effect"], "Deny");
        assert_eq!(deny["Principal"], "*");
        assert_eq!(deny["Action"], "secretsmanager:GetSecretValue");
        assert_eq!(
            deny["Condition"]["StringNotEquals"]["aws:PrincipalArn"],
            arn
        );
    }
}
