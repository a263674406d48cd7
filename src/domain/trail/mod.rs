//! CloudTrail records in the domain's words: parsed once at the edge (LookupEvents' embedded
//! record, or an archive's `Records` entry), with every credential-shaped value removed,
//! then classified, followed and summarised by pure functions.

pub mod activity;
pub mod classify;
pub mod findings;
pub mod footprint;
pub mod guardduty;
pub mod inventory;
pub mod origin;
pub mod pivot;
pub mod summary;
pub mod technique;
pub mod timeline;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use classify::{Category, classify};

/// The fields of a CloudTrail record that forensics reads (docs/aws.md, CloudTrail).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrailEvent {
    pub event_id: String,
    pub time: DateTime<Utc>,
    pub source: String,
    pub name: String,
    pub region: String,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub read_only: Option<bool>,
    pub identity: Identity,
    pub recipient_account: Option<String>,
    /// Set on events logged in two accounts (a cross-account AssumeRole): the same value in both.
    pub shared_event_id: Option<String>,
    /// `requestParameters` and `responseElements`, with secrets replaced (see [`redact`]).
    pub request: Value,
    pub response: Value,
    /// Where the event was read. Absent from events stored before archives were checked
    /// against CloudTrail's digests.
    #[serde(default)]
    pub provenance: Provenance,
}

/// Where an event was read, and so how far it can be trusted: LookupEvents is CloudTrail's
/// own answer; an archive file is only as good as the signed digest that vouches for it,
/// since anyone who can write to the bucket can plant one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provenance {
    #[default]
    LookupEvents,
    /// A file whose SHA-256 a digest CloudTrail signed gives.
    ArchiveVerified,
    /// A file no valid digest covers: validation off, the last hour's digest not yet
    /// delivered, or a local copy.
    ArchiveUnverified,
}

impl Provenance {
    pub fn as_str(self) -> &'static str {
        match self {
            Provenance::LookupEvents => "LookupEvents",
            Provenance::ArchiveVerified => "archive, digest verified",
            Provenance::ArchiveUnverified => "archive, unverified",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub kind: Option<String>,
    pub arn: Option<String>,
    pub account_id: Option<String>,
    pub access_key_id: Option<String>,
    pub user_name: Option<String>,
    /// For a role session: the role's ARN.
    pub session_issuer: Option<String>,
    /// For a session: when its credentials were issued.
    #[serde(default)]
    pub session_created: Option<DateTime<Utc>>,
}

impl TrailEvent {
    /// Whether AWS refused the call for lack of permission.
    pub fn denied(&self) -> bool {
        self.error_code.as_deref().is_some_and(is_denial)
    }

    /// The account whose log holds the event.
    pub fn account(&self) -> Option<&str> {
        self.recipient_account
            .as_deref()
            .or(self.identity.account_id.as_deref())
    }

    /// Whether the call was signed as `principal`, an ARN as `sts:GetCallerIdentity` gives
    /// it. The service part is not compared (a user is `iam` in a record, and may be `sts`
    /// elsewhere). A role's session name changes each time its credentials are renewed, so
    /// any session of that role counts: only who can assume the role can sign as it.
    pub fn signed_as(&self, principal: &str) -> bool {
        let (Some(signer), Some(who)) = (
            self.identity.arn.as_deref().and_then(arn_parts),
            arn_parts(principal),
        ) else {
            return false;
        };
        if (signer.0, signer.1) != (who.0, who.1) {
            return false;
        }
        match who
            .2
            .strip_prefix("assumed-role/")
            .and_then(|r| r.split_once('/'))
        {
            Some((role, _)) => signer
                .2
                .strip_prefix("assumed-role/")
                .and_then(|r| r.split_once('/'))
                .is_some_and(|(r, _)| r == role),
            None => signer.2 == who.2,
        }
    }
}

/// An ARN's partition, account and resource.
fn arn_parts(arn: &str) -> Option<(&str, &str, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (
        Some("arn"),
        Some(partition),
        Some(_service),
        Some(_region),
        Some(account),
        Some(resource),
    ) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    )
    else {
        return None;
    };
    Some((partition, account, resource))
}

fn is_denial(code: &str) -> bool {
    matches!(
        code,
        "AccessDenied"
            | "AccessDeniedException"
            | "UnauthorizedOperation"
            | "Client.UnauthorizedOperation"
            | "UnauthorizedAccess"
            | "AuthorizationError"
            | "AuthorizationErrorException"
            | "Forbidden"
    )
}

/// Where CloudTrail logs the calls of global services (IAM among them).
pub const GLOBAL_EVENTS_REGION: &str = "us-east-1";

/// Why a record was skipped. Counted and reported, never silently dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("not a JSON object: {0}")]
    NotJson(String),
    #[error("record lacks `{0}`")]
    Missing(&'static str),
    #[error("record's `eventTime` is not a time: {0}")]
    BadTime(String),
    #[error("record of {0} bytes is larger than any CloudTrail record")]
    TooLarge(usize),
}

/// The largest record kept, in bytes. CloudTrail caps a record near 256 KiB; anything far
/// beyond that is not a record.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// Parses one record's JSON text.
pub fn parse_record(text: &str) -> Result<TrailEvent, RecordError> {
    if text.len() > MAX_RECORD_BYTES {
        return Err(RecordError::TooLarge(text.len()));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| RecordError::NotJson(e.to_string()))?;
    from_value(value)
}

/// Builds an event from a parsed record, taking its parameters without copying them.
pub fn from_value(mut value: Value) -> Result<TrailEvent, RecordError> {
    let Some(obj) = value.as_object_mut() else {
        return Err(RecordError::NotJson("a record must be an object".into()));
    };
    let text = |obj: &serde_json::Map<String, Value>, k: &str| {
        obj.get(k).and_then(Value::as_str).map(str::to_string)
    };
    let required = |obj: &serde_json::Map<String, Value>, k: &'static str| {
        text(obj, k)
            .filter(|s| !s.is_empty())
            .ok_or(RecordError::Missing(k))
    };
    let raw_time = required(obj, "eventTime")?;
    let time = DateTime::parse_from_rfc3339(&raw_time)
        .map_err(|_| RecordError::BadTime(raw_time.chars().take(40).collect()))?
        .with_timezone(&Utc);
    let mut request = obj.remove("requestParameters").unwrap_or(Value::Null);
    let mut response = obj.remove("responseElements").unwrap_or(Value::Null);
    redact(&mut request);
    redact(&mut response);
    Ok(TrailEvent {
        event_id: required(obj, "eventID")?,
        time,
        source: required(obj, "eventSource")?,
        name: required(obj, "eventName")?,
        region: required(obj, "awsRegion")?,
        source_ip: text(obj, "sourceIPAddress"),
        user_agent: text(obj, "userAgent"),
        error_code: text(obj, "errorCode"),
        error_message: text(obj, "errorMessage"),
        read_only: match obj.get("readOnly") {
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        },
        identity: identity(obj.get("userIdentity")),
        recipient_account: text(obj, "recipientAccountId"),
        shared_event_id: text(obj, "sharedEventID"),
        request,
        response,
        provenance: Provenance::default(),
    })
}

fn identity(v: Option<&Value>) -> Identity {
    let Some(v) = v else {
        return Identity::default();
    };
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    Identity {
        kind: s("/type"),
        arn: s("/arn"),
        account_id: s("/accountId"),
        access_key_id: s("/accessKeyId"),
        user_name: s("/userName"),
        session_issuer: s("/sessionContext/sessionIssuer/arn"),
        session_created: s("/sessionContext/attributes/creationDate")
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc)),
    }
}

/// Field names whose values are secrets wherever they appear. CloudTrail logs the session
/// token of the credentials an AssumeRole or GetSessionToken call returned; the others are
/// hidden by AWS today, but a record from elsewhere must not bring one in.
const SECRET_FIELDS: &[&str] = &[
    "sessionToken",
    "secretAccessKey",
    "password",
    "newPassword",
    "oldPassword",
    "secretString",
    "secretBinary",
    "samlAssertion",
    "webIdentityToken",
];

pub const REDACTED: &str = "<redacted by keyleak>";

/// Replaces every secret-named field's value, at any depth.
pub fn redact(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, inner) in map.iter_mut() {
                if SECRET_FIELDS.iter().any(|s| s.eq_ignore_ascii_case(k)) {
                    *inner = Value::String(REDACTED.into());
                } else {
                    redact(inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

#[cfg(test)]
pub mod fixtures;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyleaks_own_calls_are_told_by_who_signed_them() {
        let mut e = parse_record(fixtures::LIST_USERS).unwrap();
        let as_arn = |e: &mut TrailEvent, arn: &str| e.identity.arn = Some(arn.into());
        let role = "arn:aws:sts::111122223333:assumed-role/keyleak-responder/keyleak";
        as_arn(
            &mut e,
            "arn:aws:sts::111122223333:assumed-role/keyleak-responder/other",
        );
        assert!(e.signed_as(role), "another session of the same role");
        as_arn(
            &mut e,
            "arn:aws:sts::111122223333:assumed-role/keyleak-responder-x/keyleak",
        );
        assert!(
            !e.signed_as(role),
            "a role whose name merely starts the same"
        );
        as_arn(
            &mut e,
            "arn:aws:sts::444455556666:assumed-role/keyleak-responder/keyleak",
        );
        assert!(!e.signed_as(role), "the same role name in another account");
        as_arn(&mut e, "arn:aws:iam::111122223333:user/keyleak");
        assert!(e.signed_as("arn:aws:iam::111122223333:user/keyleak"));
        assert!(e.signed_as("arn:aws:sts::111122223333:user/keyleak"));
        assert!(!e.signed_as("arn:aws:iam::111122223333:user/keyleak-bot"));
        e.identity.arn = None;
        assert!(!e.signed_as(role), "an unsigned record is nobody's");
    }

    #[test]
    fn an_assume_role_record_parses_and_loses_its_session_token() {
        let e = parse_record(fixtures::ASSUME_ROLE).unwrap();
        assert_eq!(e.name, "AssumeRole");
        assert_eq!(e.region, "us-east-1");
        assert_eq!(
            e.identity.access_key_id.as_deref(),
            Some("AKIAIOSFODNN7EXAMPLE")
        );
        let text = serde_json::to_string(&e).unwrap();
        assert!(!text.contains("AQoDYXdzEPT"), "session token kept: {text}");
        assert!(text.contains(REDACTED));
        assert_eq!(
            e.response.pointer("/credentials/accessKeyId"),
            Some(&Value::String("ASIAI44QH8DHBEXAMPLE".into()))
        );
    }

    #[test]
    fn records_missing_what_forensics_needs_are_refused_by_name() {
        assert_eq!(
            parse_record(r#"{"eventTime":"2026-11-20T10:00:00Z"}"#),
            Err(RecordError::Missing("eventID"))
        );
        assert!(matches!(
            parse_record("[1,2]"),
            Err(RecordError::NotJson(_))
        ));
        assert!(matches!(
            parse_record("{\"Rec"),
            Err(RecordError::NotJson(_))
        ));
        let bad_time = r#"{"eventID":"x","eventTime":"yesterday","eventSource":"s","eventName":"n","awsRegion":"r"}"#;
        assert!(matches!(
            parse_record(bad_time),
            Err(RecordError::BadTime(_))
        ));
        let huge = format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_RECORD_BYTES));
        assert_eq!(
            parse_record(&huge),
            Err(RecordError::TooLarge(MAX_RECORD_BYTES + 8))
        );
    }

    #[test]
    fn read_only_is_read_as_a_flag_or_as_lookup_events_text() {
        let mut v: Value = serde_json::from_str(fixtures::LIST_USERS).unwrap();
        assert_eq!(from_value(v.clone()).unwrap().read_only, Some(true));
        v["readOnly"] = Value::String("false".into());
        assert_eq!(from_value(v).unwrap().read_only, Some(false));
    }

    #[test]
    fn redaction_reaches_nested_arrays() {
        let mut v = serde_json::json!({"a":[{"Password":"hunter2"}],"b":{"sessionToken":"t"}});
        redact(&mut v);
        assert_eq!(v["a"][0]["Password"], REDACTED);
        assert_eq!(v["b"]["sessionToken"], REDACTED);
    }
}
