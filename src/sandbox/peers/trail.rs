//! CloudTrail `LookupEvents` as AWS serves it, for what moto lacks: JSON 1.1 over POST with
//! `X-Amz-Target`, regional data per account, at most 50 events a page, newest first,
//! `NextToken` bound to the query's parameters, 90 days of history, and 2 requests a second
//! per account and region, beyond which it answers `ThrottlingException`. And
//! `ListPublicKeys`: the key that signs the test digests (`trail::signed_digest`).
//!
//! The caller's region comes from its SigV4 credential scope; its account from moto (the key
//! of an IAM user, or of a session moto minted), as AWS would from the signature.
// Handlers return the HTTP answer AWS would give as their error, as axum does.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

const TARGET_PREFIX: &str = "CloudTrail_20131101.";
const MAX_PAGE: usize = 50;
const RATE: f64 = 2.0;
/// A burst of two, as a bucket of two tokens refilled at the rate.
const BURST: f64 = 2.0;

#[derive(Clone)]
struct Stored {
    account: String,
    region: String,
    time: DateTime<Utc>,
    key: Option<String>,
    id: String,
    name: String,
    source: String,
    read_only: Option<bool>,
    username: Option<String>,
    record: String,
}

#[derive(Default)]
pub struct Counters {
    /// Requests answered, by (account, region), throttled ones included.
    pub requests: HashMap<(String, String), usize>,
    pub throttled: usize,
    pub pages: usize,
    /// When the first and the latest LookupEvents request arrived.
    pub first: Option<Instant>,
    pub last: Option<Instant>,
}

/// The emulator's state, shared by the CloudTrail and GuardDuty handlers.
pub struct Inner {
    events: Mutex<Vec<Stored>>,
    guardduty: super::guardduty::Shared,
    buckets: Mutex<HashMap<(String, String), (f64, Instant)>>,
    /// Requests to refuse with `ThrottlingException` whatever the bucket holds.
    forced_throttles: Mutex<usize>,
    accounts: Mutex<HashMap<String, String>>,
    counters: Mutex<Counters>,
    moto_url: String,
    http: reqwest::Client,
    /// The fingerprint and public key (DER, PKCS #1) `ListPublicKeys` gives, when set.
    digest_key: Mutex<Option<(String, Vec<u8>)>>,
}

pub type Emu = Arc<Inner>;

/// Who is calling, as AWS tells from the signature.
pub struct Caller {
    pub account: String,
    pub region: String,
}

#[derive(Clone)]
pub struct TrailEmulator {
    pub url: String,
    inner: Arc<Inner>,
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        [("content-type", "application/x-amz-json-1.1")],
        json!({"__type": kind, "message": message}).to_string(),
    )
        .into_response()
}

/// The `userIdentity` CloudTrail writes for an IAM user's long-term key, or for a session it
/// minted with GetSessionToken (CloudTrail user guide, "userIdentity element").
pub fn user_identity(account: &str, user: &str, key: &str) -> Value {
    json!({
        "type": "IAMUser",
        "principalId": "AIDACKCEVSQ6C2EXAMPLE",
        "arn": format!("arn:aws:iam::{account}:user/{user}"),
        "accountId": account,
        "accessKeyId": key,
        "userName": user,
    })
}

/// The `userIdentity` of a session of `role`, named `attacker`.
pub fn role_identity(account: &str, role: &str, key: &str) -> Value {
    let role_arn = format!("arn:aws:iam::{account}:role/{role}");
    json!({
        "type": "AssumedRole",
        "principalId": "AROAIDPPEZS35WEXAMPLE:attacker",
        "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/attacker"),
        "accountId": account,
        "accessKeyId": key,
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "arn": role_arn, "accountId": account, "userName": role},
            "attributes": {"creationDate": "2026-11-20T15:07:39Z", "mfaAuthenticated": "false"}
        }
    })
}

/// `Credential=AKID/20261122/eu-west-1/cloudtrail/aws4_request` → (key, region).
fn credential_scope(headers: &HeaderMap) -> Option<(String, String)> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let cred = auth.split("Credential=").nth(1)?.split(',').next()?;
    let mut parts = cred.split('/');
    let key = parts.next()?.to_string();
    let region = parts.nth(1)?.to_string();
    Some((key, region))
}

impl TrailEmulator {
    pub async fn start(moto_url: &str) -> std::io::Result<Self> {
        let http = super::http()?;
        let inner = Arc::new(Inner {
            events: Mutex::default(),
            guardduty: super::guardduty::Shared::default(),
            buckets: Mutex::default(),
            forced_throttles: Mutex::default(),
            accounts: Mutex::default(),
            counters: Mutex::default(),
            moto_url: moto_url.to_string(),
            http,
            digest_key: Mutex::default(),
        });
        let app = axum::Router::new()
            .route("/", axum::routing::post(handle))
            .with_state(inner.clone())
            .merge(super::guardduty::routes(inner.clone()));
        let (listener, addr) = super::loopback().await?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            url: format!("http://{addr}"),
            inner,
        })
    }

    /// The key whose signatures `ListPublicKeys` hands out, for digest files signed with it.
    pub fn with_digest_key(self, fingerprint: &str, public_der: Vec<u8>) -> Self {
        *super::lock(&self.inner.digest_key) = Some((fingerprint.to_string(), public_der));
        self
    }

    /// Logs a record (CloudTrail's JSON) in the region and account it names. A record
    /// without its account, region, time or id is refused, with the field it lacks.
    pub fn log(&self, record: &Value) -> Result<(), &'static str> {
        let s = |p: &str| {
            record
                .pointer(p)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let stored = Stored {
            account: s("/recipientAccountId").ok_or("recipientAccountId")?,
            region: s("/awsRegion").ok_or("awsRegion")?,
            time: s("/eventTime")
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .ok_or("eventTime")?
                .with_timezone(&Utc),
            key: s("/userIdentity/accessKeyId"),
            id: s("/eventID").ok_or("eventID")?,
            name: s("/eventName").unwrap_or_default(),
            source: s("/eventSource").unwrap_or_default(),
            read_only: record.get("readOnly").and_then(Value::as_bool),
            username: s("/userIdentity/userName"),
            record: record.to_string(),
        };
        super::lock(&self.inner.events).push(stored);
        Ok(())
    }

    /// Logs a raw string as a record's text: for malformed-record tests.
    pub fn log_raw(&self, account: &str, region: &str, key: &str, text: &str) {
        super::lock(&self.inner.events).push(Stored {
            account: account.into(),
            region: region.into(),
            time: Utc::now() - chrono::Duration::hours(1),
            key: Some(key.into()),
            id: uuid::Uuid::new_v4().to_string(),
            name: "Unknown".into(),
            source: "unknown.amazonaws.com".into(),
            read_only: None,
            username: None,
            record: text.into(),
        });
    }

    /// Throttles the next `n` requests, as AWS does when other callers share the budget.
    pub fn throttle_next(&self, n: usize) {
        *super::lock(&self.inner.forced_throttles) = n;
    }

    pub fn counters<T>(&self, f: impl FnOnce(&Counters) -> T) -> T {
        f(&super::lock(&self.inner.counters))
    }

    pub fn guardduty<T>(&self, f: impl FnOnce(&mut super::guardduty::GuardDuty) -> T) -> T {
        f(&mut super::lock(&self.inner.guardduty))
    }
}

impl Inner {
    pub fn guardduty(&self) -> super::guardduty::Shared {
        self.guardduty.clone()
    }

    /// The caller's account and region, or the error AWS gives an unsigned or unknown caller.
    pub async fn caller(&self, headers: &HeaderMap) -> Result<Caller, Response> {
        let Some((key, region)) = credential_scope(headers) else {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "MissingAuthenticationTokenException",
                "Request is missing Authentication Token",
            ));
        };
        let Some(account) = self.account_of(&key).await else {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ));
        };
        Ok(Caller { account, region })
    }

    /// The account of the calling key, as moto knows it.
    async fn account_of(&self, key: &str) -> Option<String> {
        if let Some(a) = super::lock(&self.accounts).get(key) {
            return Some(a.clone());
        }
        let account = if key.starts_with("ASIA") {
            let data: Value = self
                .http
                .get(format!("{}/moto-api/data.json", self.moto_url))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            data.pointer("/sts/AssumedRole")?
                .as_array()?
                .iter()
                .find(|r| r["access_key_id"] == key)?["account_id"]
                .as_str()?
                .to_string()
        } else {
            let body = format!("Action=GetAccessKeyInfo&Version=2011-06-15&AccessKeyId={key}");
            // moto routes by the credential scope's service, so the request names STS.
            let scope = format!(
                "AWS4-HMAC-SHA256 Credential={key}/20260101/us-east-1/sts/aws4_request, \
                 SignedHeaders=host, Signature=0"
            );
            let text = self
                .http
                .post(&self.moto_url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", scope)
                .body(body)
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            let start = text.find("<Account>")? + "<Account>".len();
            let len = text[start..].find("</Account>")?;
            text[start..start + len].to_string()
        };
        super::lock(&self.accounts).insert(key.to_string(), account.clone());
        Some(account)
    }

    /// Takes a token from the account and region's bucket.
    fn admit(&self, account: &str, region: &str) -> bool {
        let mut buckets = super::lock(&self.buckets);
        let now = Instant::now();
        let (tokens, at) = buckets
            .entry((account.to_string(), region.to_string()))
            .or_insert((BURST, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * RATE).min(BURST);
        *at = now;
        let mut counters = super::lock(&self.counters);
        counters.first.get_or_insert(now);
        counters.last = Some(now);
        *counters
            .requests
            .entry((account.to_string(), region.to_string()))
            .or_default() += 1;
        let mut forced = super::lock(&self.forced_throttles);
        if *forced > 0 {
            *forced -= 1;
            counters.throttled += 1;
            return false;
        }
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            counters.throttled += 1;
            false
        }
    }
}

async fn handle(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let operation = target
        .rsplit_once(TARGET_PREFIX)
        .map(|(_, op)| op)
        .unwrap_or_default();
    if !["LookupEvents", "ListPublicKeys"].contains(&operation) {
        return error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            "only LookupEvents and ListPublicKeys are emulated",
        );
    }
    let Caller { account, region } = match inner.caller(&headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !inner.admit(&account, &region) {
        return error(
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            "Rate exceeded",
        );
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            "body is not JSON",
        );
    };
    let answer = if operation == "ListPublicKeys" {
        public_keys(&inner, &req)
    } else {
        lookup(&inner, &account, &region, &req)
    };
    match answer {
        Ok(v) => (
            StatusCode::OK,
            [("content-type", "application/x-amz-json-1.1")],
            v.to_string(),
        )
            .into_response(),
        Err((kind, message)) => error(StatusCode::BAD_REQUEST, kind, &message),
    }
}

fn epoch(v: &Value) -> Option<DateTime<Utc>> {
    let secs = v.as_f64()?;
    DateTime::from_timestamp_millis((secs * 1000.0) as i64)
}

type Failure = (&'static str, String);

/// The signing key's public half, valid for a year either side of now.
fn public_keys(inner: &Inner, req: &Value) -> Result<Value, Failure> {
    let now = Utc::now();
    let (from, to) = (
        now - chrono::Duration::days(365),
        now + chrono::Duration::days(365),
    );
    let start = req.get("StartTime").and_then(epoch).unwrap_or(now);
    let end = req.get("EndTime").and_then(epoch).unwrap_or(now);
    if start > end {
        return Err((
            "InvalidTimeRangeException",
            "Occurs if the timestamp values are not valid.".into(),
        ));
    }
    let key = super::lock(&inner.digest_key).clone();
    let keys: Vec<Value> = key
        .filter(|_| start <= to && end >= from)
        .map(|(fingerprint, der)| {
            json!({
                "Value": aws_smithy_types::base64::encode(der),
                "ValidityStartTime": from.timestamp(),
                "ValidityEndTime": to.timestamp(),
                "Fingerprint": fingerprint,
            })
        })
        .into_iter()
        .collect();
    Ok(json!({ "PublicKeyList": keys }))
}

fn lookup(inner: &Inner, account: &str, region: &str, req: &Value) -> Result<Value, Failure> {
    let attrs = req["LookupAttributes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if attrs.len() > 1 {
        return Err((
            "InvalidLookupAttributesException",
            "You cannot specify more than one lookup attribute.".into(),
        ));
    }
    let page = match req.get("MaxResults").and_then(Value::as_u64) {
        None => MAX_PAGE,
        Some(n @ 1..=50) => n as usize,
        Some(_) => {
            return Err((
                "InvalidMaxResultsException",
                "MaxResults must be between 1 and 50.".into(),
            ));
        }
    };
    let now = Utc::now();
    let oldest = now - chrono::Duration::days(90);
    let start = req
        .get("StartTime")
        .and_then(epoch)
        .unwrap_or(oldest)
        .max(oldest);
    let end = req.get("EndTime").and_then(epoch).unwrap_or(now);
    if start > end {
        return Err((
            "InvalidTimeRangeException",
            "StartTime must be before EndTime.".into(),
        ));
    }
    // The token binds the page position to the query: changing anything else voids it.
    let fingerprint = format!(
        "{}|{}|{}|{}",
        req["LookupAttributes"], req["StartTime"], req["EndTime"], req["MaxResults"]
    );
    let offset = match req.get("NextToken").and_then(Value::as_str) {
        None => 0,
        Some(t) => match t.split_once('#') {
            Some((n, fp)) if fp == fingerprint_digest(&fingerprint) => {
                n.parse::<usize>().map_err(|_| bad_token())?
            }
            _ => return Err(bad_token()),
        },
    };
    let (key, value) = attrs
        .first()
        .map(|a| {
            (
                a["AttributeKey"].as_str().unwrap_or_default().to_string(),
                a["AttributeValue"].as_str().unwrap_or_default().to_string(),
            )
        })
        .unwrap_or_default();
    let events = super::lock(&inner.events);
    let mut matching: Vec<&Stored> = events
        .iter()
        .filter(|e| e.account == account && e.region == region)
        .filter(|e| e.time >= start && e.time <= end)
        .filter(|e| match key.as_str() {
            "" => true,
            "AccessKeyId" => e.key.as_deref() == Some(value.as_str()),
            "EventName" => e.name == value,
            "EventSource" => e.source == value,
            "EventId" => e.id == value,
            "Username" => e.username.as_deref() == Some(value.as_str()),
            _ => false,
        })
        .collect();
    matching.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| a.id.cmp(&b.id)));
    let slice: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(page)
        .map(|e| {
            json!({
                "EventId": e.id,
                "EventName": e.name,
                "ReadOnly": e.read_only.map(|b| b.to_string()),
                "AccessKeyId": e.key,
                "EventTime": e.time.timestamp_millis() as f64 / 1000.0,
                "EventSource": e.source,
                "Username": e.username,
                "Resources": [],
                "CloudTrailEvent": e.record,
            })
        })
        .collect();
    super::lock(&inner.counters).pages += 1;
    let mut out = json!({ "Events": slice });
    if offset + page < matching.len() {
        out["NextToken"] = json!(format!(
            "{}#{}",
            offset + page,
            fingerprint_digest(&fingerprint)
        ));
    }
    Ok(out)
}

fn bad_token() -> Failure {
    (
        "InvalidNextTokenException",
        "Invalid NextToken: it must be used with the parameters of the call that returned it."
            .into(),
    )
}

fn fingerprint_digest(s: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(s.as_bytes())[..8])
}
