//! EventBridge events read into signals: AWS Health `RISK` events and GuardDuty findings about
//! an access key. Everything else is recognised as not keyleak's and ignored.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::domain::ids::{AccessKeyId, AccountId};
use crate::domain::signal::{Quarantined, Signal, Source, Strength};

/// What an event asks of keyleak.
#[derive(Debug, Clone, PartialEq)]
pub enum Recognised {
    /// One signal per key the event names.
    Signals(Vec<Signal>),
    /// A finding GuardDuty made up (`CreateSampleFindings`, the console's button): nothing opens.
    Sample { finding: String },
    /// AWS attached its quarantine policy to a user: the user is named, not the key.
    Quarantine(Quarantined),
    /// Not about a leaked key; why, for the one log line.
    Ignored(String),
}

/// Why a body is not an EventBridge event at all: a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an EventBridge event: {0}")]
pub struct NotAnEvent(pub &'static str);

/// The Health codes that say a key is exposed or compromised, and how sure AWS is
/// (docs/aws.md, "AWS's own reaction to an exposed key").
const HEALTH_CODES: [(&str, Strength); 5] = [
    ("AWS_RISK_CREDENTIALS_EXPOSED", Strength::Confirmed),
    ("AWS_RISK_CREDENTIALS_COMPROMISED", Strength::Confirmed),
    ("AWS_RISK_IAM_QUARANTINE", Strength::Confirmed),
    (
        "AWS_RISK_CREDENTIALS_EXPOSURE_SUSPECTED",
        Strength::Suspected,
    ),
    (
        "AWS_RISK_CREDENTIALS_COMPROMISE_SUSPECTED",
        Strength::Suspected,
    ),
];

/// The value GuardDuty's generated findings put where a real one names the key.
const SAMPLE_KEY: &str = "GeneratedFindingAccessKeyId";

pub fn read_event(v: &Value, now: DateTime<Utc>) -> Result<Recognised, NotAnEvent> {
    let id = text(v, "id").ok_or(NotAnEvent("no `id`"))?;
    let source = text(v, "source").ok_or(NotAnEvent("no `source`"))?;
    let detail_type = text(v, "detail-type").ok_or(NotAnEvent("no `detail-type`"))?;
    let detail = v
        .get("detail")
        .filter(|d| d.is_object())
        .ok_or(NotAnEvent("no `detail` object"))?;
    let account = text(v, "account").and_then(|a| AccountId::parse(a).ok());
    let event = Event {
        id,
        detail,
        account,
        now,
    };
    Ok(match (source, detail_type) {
        ("aws.health", "AWS Health Event") => health(&event),
        ("aws.guardduty", "GuardDuty Finding") => guardduty(&event),
        ("aws.iam", "AWS API Call via CloudTrail") => quarantine(&event),
        _ => Recognised::Ignored(format!("{source} {detail_type}")),
    })
}

struct Event<'a> {
    id: &'a str,
    detail: &'a Value,
    account: Option<AccountId>,
    now: DateTime<Utc>,
}

fn text<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get(field).and_then(Value::as_str)
}

fn path<'a>(v: &'a Value, fields: &[&str]) -> Option<&'a Value> {
    fields.iter().try_fold(v, |v, f| v.get(f))
}

fn path_text<'a>(v: &'a Value, fields: &[&str]) -> Option<&'a str> {
    path(v, fields).and_then(Value::as_str)
}

/// Health events carry the key in `affectedEntities`, in `eventMetadata.publicKey`, or only
/// in the description's words: every key found in any of them, once each.
fn health(e: &Event) -> Recognised {
    let d = e.detail;
    let code = text(d, "eventTypeCode").unwrap_or_default();
    if text(d, "service") != Some("RISK") {
        return Recognised::Ignored(format!("AWS Health {code} (service is not RISK)"));
    }
    let Some((_, strength)) = HEALTH_CODES.iter().find(|(c, _)| *c == code) else {
        return Recognised::Ignored(format!("AWS Health RISK {code}"));
    };
    let entities = d
        .get("affectedEntities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|x| text(x, "entityValue"));
    let metadata = path_text(d, &["eventMetadata", "publicKey"]);
    let descriptions = d
        .get("eventDescription")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|x| text(x, "latestDescription"));
    let mut keys: Vec<AccessKeyId> = vec![];
    for k in entities
        .chain(metadata)
        .flat_map(key_ids)
        .chain(descriptions.flat_map(key_ids))
    {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    if keys.is_empty() {
        return Recognised::Ignored(format!("AWS Health {code} names no access key"));
    }
    let account = e.account.clone().or_else(|| {
        path_text(d, &["eventMetadata", "accountId"]).and_then(|a| AccountId::parse(a).ok())
    });
    let user = path_text(d, &["eventMetadata", "userName"]).map(str::to_string);
    let mut evidence = vec![];
    if let Some(url) = path_text(d, &["eventMetadata", "exposedUrl"]) {
        evidence.push(("found at".to_string(), url.to_string()));
    }
    let reference = text(d, "eventArn").unwrap_or(e.id).to_string();
    let exposed_at = text(d, "startTime").and_then(health_time);
    let signals = keys
        .into_iter()
        .map(|key| Signal {
            source: Source::AwsHealth,
            delivery: format!("{}/{key}", e.id),
            reference: reference.clone(),
            key,
            account: account.clone(),
            user: user.clone(),
            strength: *strength,
            kind: code.to_string(),
            severity: None,
            evidence: evidence.clone(),
            exposed_at,
            received_at: e.now,
        })
        .collect();
    Recognised::Signals(signals)
}

/// The access key ids in free text: each 20-character AKIA/ASIA word.
fn key_ids(text: &str) -> impl Iterator<Item = AccessKeyId> + '_ {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.len() == 20 && (w.starts_with("AKIA") || w.starts_with("ASIA")))
        .filter_map(|w| AccessKeyId::parse(w).ok())
}

/// Health writes times as in e-mail (`Wed, 12 Feb 2025 00:37:54 GMT`), and AWS's own sample
/// names the wrong weekday, which RFC 2822 parsing refuses: the weekday is not read. RFC 3339
/// is accepted too.
fn health_time(s: &str) -> Option<DateTime<Utc>> {
    let dated = s.split_once(", ").map_or(s, |(_, rest)| rest);
    chrono::NaiveDateTime::parse_from_str(dated, "%d %b %Y %H:%M:%S GMT")
        .map(|t| t.and_utc())
        .ok()
        .or_else(|| {
            DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
}

/// The quarantine policy attached to a user; any other IAM call is not keyleak's.
fn quarantine(e: &Event) -> Recognised {
    let d = e.detail;
    let name = text(d, "eventName").unwrap_or_default();
    let policy = path_text(d, &["requestParameters", "policyArn"])
        .and_then(|arn| arn.rsplit('/').next())
        .unwrap_or_default();
    let prefix = crate::domain::policy::AWS_QUARANTINE_PREFIX;
    if name != "AttachUserPolicy" || !policy.starts_with(prefix) || text(d, "errorCode").is_some() {
        return Recognised::Ignored(format!("CloudTrail {name}"));
    }
    let user = path_text(d, &["requestParameters", "userName"]);
    let account = text(d, "recipientAccountId")
        .and_then(|a| AccountId::parse(a).ok())
        .or_else(|| e.account.clone());
    let (Some(user), Some(account)) = (user, account) else {
        return Recognised::Ignored("a quarantine attachment naming no user or account".into());
    };
    Recognised::Quarantine(Quarantined {
        account,
        user: user.to_string(),
        policy: policy.to_string(),
        delivery: e.id.to_string(),
        event_id: text(d, "eventID").unwrap_or(e.id).to_string(),
        at: text(d, "eventTime").and_then(health_time),
        received_at: e.now,
    })
}

/// A finding whose resource is an access key: its type, severity and where the calls came
/// from are the evidence.
fn guardduty(e: &Event) -> Recognised {
    let d = e.detail;
    let kind = text(d, "type").unwrap_or_default();
    let reference = text(d, "arn").or(text(d, "id")).unwrap_or(e.id);
    let sample =
        path(d, &["service", "additionalInfo", "sample"]).and_then(Value::as_bool) == Some(true);
    let details = path(d, &["resource", "accessKeyDetails"]);
    let key_text = details.and_then(|k| text(k, "accessKeyId"));
    if sample || key_text == Some(SAMPLE_KEY) {
        return Recognised::Sample {
            finding: format!("{kind} {reference}"),
        };
    }
    let Some(key) = key_text.and_then(|k| AccessKeyId::parse(k).ok()) else {
        return Recognised::Ignored(format!("GuardDuty {kind} is not about an access key"));
    };
    let user_type = details.and_then(|k| text(k, "userType"));
    let user = details
        .and_then(|k| text(k, "userName"))
        .filter(|_| user_type == Some("IAMUser"))
        .map(str::to_string);
    let account = text(d, "accountId")
        .and_then(|a| AccountId::parse(a).ok())
        .or_else(|| e.account.clone());
    Recognised::Signals(vec![Signal {
        source: Source::GuardDuty,
        delivery: e.id.to_string(),
        reference: reference.to_string(),
        key,
        account,
        user,
        strength: Strength::Suspected,
        kind: kind.to_string(),
        severity: d.get("severity").and_then(Value::as_f64),
        evidence: guardduty_evidence(d, user_type),
        exposed_at: None,
        received_at: e.now,
    }])
}

fn guardduty_evidence(d: &Value, user_type: Option<&str>) -> Vec<(String, String)> {
    let mut out = vec![];
    if let Some(t) = user_type.filter(|t| *t != "IAMUser") {
        out.push(("identity".into(), t.to_string()));
    }
    let action = path(d, &["service", "action", "awsApiCallAction"]);
    if let Some(api) = action.and_then(|a| text(a, "api")) {
        out.push(("call".into(), api.to_string()));
    }
    let remote = action.and_then(|a| a.get("remoteIpDetails"));
    let fields: [(&str, &[&str]); 4] = [
        ("remote IP", &["ipAddressV4"]),
        ("ASN", &["organization", "asn"]),
        ("network", &["organization", "asnOrg"]),
        ("country", &["country", "countryName"]),
    ];
    for (label, at) in fields {
        if let Some(v) = remote.and_then(|r| path_text(r, at)) {
            out.push((label.into(), v.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests;
