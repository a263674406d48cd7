//! The IAM policy documents containment writes (docs/aws.md, "What cuts an attacker off").

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::ids::IncidentId;

pub const AWS_QUARANTINE_PREFIX: &str = "AWSCompromisedKeyQuarantine";

/// An inline policy the bot puts on a principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenyPolicy {
    pub name: String,
    pub document: String,
}

/// Unconditional deny of everything: stops the long-term key and every session of the user,
/// even before the key deactivation has propagated. Removed on restore, behind approval.
pub fn deny_all(incident: &IncidentId) -> DenyPolicy {
    let doc = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "KeyleakDenyAll",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*"
        }]
    });
    DenyPolicy {
        name: format!("keyleak-deny-all-{incident}"),
        document: compact(&doc),
    }
}

/// Denies requests signed with temporary credentials issued before `fence_time`. It does
/// nothing to a long-term key (those requests carry no token issue time), which is why it
/// accompanies the deny-all rather than replacing it; it stays after restore.
pub fn session_fence(incident: &IncidentId, fence_time: DateTime<Utc>) -> DenyPolicy {
    let doc = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "KeyleakRevokeOlderSessions",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {
                "DateLessThan": {
                    "aws:TokenIssueTime": fence_time.to_rfc3339_opts(SecondsFormat::Secs, true)
                }
            }
        }]
    });
    DenyPolicy {
        name: format!("keyleak-session-fence-{incident}"),
        document: compact(&doc),
    }
}

fn compact(v: &Value) -> String {
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn id() -> IncidentId {
        IncidentId::parse("KL-00C0FFEE").unwrap()
    }

    #[test]
    fn deny_all_denies_everything_without_condition() {
        let p = deny_all(&id());
        assert_eq!(p.name, "keyleak-deny-all-KL-00C0FFEE");
        let v: Value = serde_json::from_str(&p.document).unwrap();
        let st = &v["Statement"][0];
        assert_eq!(st["Effect"], "Deny");
        assert_eq!(st["Action"], "*");
        assert_eq!(st["Resource"], "*");
        assert!(st.get("Condition").is_none());
    }

    #[test]
    fn fence_is_conditioned_on_token_issue_time() {
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 23, 5, 9).unwrap();
        let p = session_fence(&id(), t);
        assert_eq!(p.name, "keyleak-session-fence-KL-00C0FFEE");
        let v: Value = serde_json::from_str(&p.document).unwrap();
        assert_eq!(
            v["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
            "2026-11-22T23:05:09Z"
        );
        // Same inputs, same document: a retried step is idempotent.
        assert_eq!(session_fence(&id(), t), p);
    }

    #[test]
    fn both_fit_the_inline_budget_with_room_to_spare() {
        // Inline policies of one user share 2,048 characters (whitespace excluded).
        let t = Utc::now();
        let used: usize = [deny_all(&id()), session_fence(&id(), t)]
            .iter()
            .map(|p| p.document.chars().filter(|c| !c.is_whitespace()).count())
            .sum();
        assert!(used < 400, "{used}");
    }
}
