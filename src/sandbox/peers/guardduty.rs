//! GuardDuty as AWS serves it, for what moto lacks: REST JSON, detectors and findings per
//! account and region, `ListFindings` at most 50 a page with a `nextToken`, `GetFindings` at
//! most 50 ids, `BadRequestException` beyond, and findings in GuardDuty's published format.
//! Served by the CloudTrail emulator's listener (both are `AWS_ENDPOINT_URL_…` there).
// Handlers return the HTTP answer AWS would give as their error, as axum does.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::trail::Caller;

const MAX: usize = 50;
const KEY_FIELD: &str = "resource.accessKeyDetails.accessKeyId";

#[derive(Default)]
pub struct GuardDuty {
    /// Detector ids by (account, region).
    detectors: HashMap<(String, String), Vec<String>>,
    /// (account, region, detector, finding).
    findings: Vec<(String, String, String, Value)>,
    /// (account, region) pairs whose caller lacks GuardDuty permissions.
    denied: HashSet<(String, String)>,
    pub calls: usize,
}

pub type Shared = Arc<Mutex<GuardDuty>>;

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        [
            ("content-type", "application/json"),
            ("x-amzn-errortype", kind),
        ],
        json!({"message": message, "__type": kind}).to_string(),
    )
        .into_response()
}

fn bad_request(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "BadRequestException", message)
}

fn ok(v: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        v.to_string(),
    )
        .into_response()
}

impl GuardDuty {
    /// Turns GuardDuty on in a region of an account; returns the detector id.
    pub fn enable(&mut self, account: &str, region: &str) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        self.detectors
            .entry((account.into(), region.into()))
            .or_default()
            .push(id.clone());
        id
    }

    /// Records a finding about `key`, enabling GuardDuty there first if it is not.
    pub fn find(&mut self, account: &str, region: &str, kind: &str, severity: f64, key: &str) {
        let enabled = self
            .detectors
            .get(&(account.to_string(), region.to_string()))
            .and_then(|d| d.first())
            .cloned();
        let detector = enabled.unwrap_or_else(|| self.enable(account, region));
        let finding = example_finding(account, region, &detector, kind, severity, key);
        self.findings
            .push((account.into(), region.into(), detector, finding));
    }

    pub fn deny(&mut self, account: &str, region: &str) {
        self.denied.insert((account.into(), region.into()));
    }

    /// Whether the caller may go on; counts the call.
    fn admit(&mut self, caller: &Caller) -> Result<(), Response> {
        self.calls += 1;
        if self
            .denied
            .contains(&(caller.account.clone(), caller.region.clone()))
        {
            return Err(error(
                StatusCode::FORBIDDEN,
                "AccessDeniedException",
                "User is not authorized to perform: guardduty:ListDetectors",
            ));
        }
        Ok(())
    }

    fn owns(&self, caller: &Caller, detector: &str) -> bool {
        self.detectors
            .get(&(caller.account.clone(), caller.region.clone()))
            .is_some_and(|d| d.iter().any(|x| x == detector))
    }
}

/// GuardDuty's published finding shape, made this finding's own.
fn example_finding(
    account: &str,
    region: &str,
    detector: &str,
    kind: &str,
    severity: f64,
    key: &str,
) -> Value {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    json!({
        "accountId": account,
        "arn": format!("arn:aws:guardduty:{region}:{account}:detector/{detector}/finding/{id}"),
        "createdAt": now,
        "description": "APIs commonly used in Discovery tactics were invoked by user AccessKey : ci-deploy under unusual circumstances.",
        "id": id,
        "partition": "aws",
        "region": region,
        "resource": {
            "accessKeyDetails": {
                "accessKeyId": key,
                "principalId": "AIDACKCEVSQ6C2EXAMPLE",
                "userName": "ci-deploy",
                "userType": "IAMUser"
            },
            "resourceType": "AccessKey"
        },
        "schemaVersion": "2.0",
        "service": {
            "action": {
                "actionType": "AWS_API_CALL",
                "awsApiCallAction": {
                    "api": "ListUsers",
                    "callerType": "Remote IP",
                    "remoteIpDetails": {"ipAddressV4": "198.51.100.7"},
                    "serviceName": "iam.amazonaws.com"
                }
            },
            "archived": false,
            "count": 3,
            "detectorId": detector,
            "eventFirstSeen": now,
            "eventLastSeen": now,
            "resourceRole": "TARGET",
            "serviceName": "guardduty"
        },
        "severity": severity,
        "title": "Unusual API calls by ci-deploy",
        "type": kind,
        "updatedAt": now
    })
}

pub fn routes<S: Clone + Send + Sync + 'static>(state: super::trail::Emu) -> Router<S> {
    Router::new()
        .route("/detector", get(list_detectors))
        .route("/detector/{id}/findings", post(list_findings))
        .route("/detector/{id}/findings/get", post(get_findings))
        .with_state(state)
}

async fn list_detectors(State(emu): State<super::trail::Emu>, headers: HeaderMap) -> Response {
    let caller = match emu.caller(&headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let gd = emu.guardduty();
    let mut gd = super::lock(&gd);
    if let Err(r) = gd.admit(&caller) {
        return r;
    }
    let ids = gd
        .detectors
        .get(&(caller.account, caller.region))
        .cloned()
        .unwrap_or_default();
    ok(json!({ "detectorIds": ids, "nextToken": "" }))
}

fn page_of(req: &Value) -> Result<(usize, usize), Response> {
    let size = match req.get("maxResults").and_then(Value::as_u64) {
        None => MAX,
        Some(n @ 1..=50) => n as usize,
        Some(_) => return Err(bad_request("maxResults must be between 1 and 50")),
    };
    let offset = match req.get("nextToken").and_then(Value::as_str) {
        None | Some("") => 0,
        Some(t) => t
            .parse()
            .map_err(|_| bad_request("The nextToken is not valid"))?,
    };
    Ok((size, offset))
}

/// The keys a `findingCriteria` asks for; only the access-key criterion is emulated.
fn wanted_keys(req: &Value) -> Result<Vec<String>, Response> {
    let criterion = &req["findingCriteria"]["criterion"];
    let Some(map) = criterion.as_object() else {
        return Ok(vec![]);
    };
    let mut keys = vec![];
    for (field, condition) in map {
        if field != KEY_FIELD {
            return Err(bad_request(&format!("criterion {field} is not emulated")));
        }
        for op in ["eq", "equals"] {
            for v in condition[op].as_array().into_iter().flatten() {
                keys.push(v.as_str().unwrap_or_default().to_string());
            }
        }
    }
    Ok(keys)
}

/// The checks of a call on a detector: a known caller with permission, a JSON body, and
/// a detector of the caller's own account and region.
async fn detector_request(
    emu: &super::trail::Emu,
    headers: &HeaderMap,
    detector: &str,
    body: &Bytes,
) -> Result<Value, Response> {
    let caller = emu.caller(headers).await?;
    let req = serde_json::from_slice::<Value>(body).map_err(|_| bad_request("body is not JSON"))?;
    let gd = emu.guardduty();
    let mut gd = super::lock(&gd);
    gd.admit(&caller)?;
    if !gd.owns(&caller, detector) {
        return Err(bad_request(
            "The request is rejected because the input detectorId is not owned by the current account.",
        ));
    }
    Ok(req)
}

async fn list_findings(
    State(emu): State<super::trail::Emu>,
    headers: HeaderMap,
    Path(detector): Path<String>,
    body: Bytes,
) -> Response {
    let req = match detector_request(&emu, &headers, &detector, &body).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let gd = emu.guardduty();
    let gd = super::lock(&gd);
    let (size, offset) = match page_of(&req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let keys = match wanted_keys(&req) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let ids: Vec<String> = gd
        .findings
        .iter()
        .filter(|(_, _, d, _)| *d == detector)
        .filter(|(_, _, _, f)| {
            keys.is_empty()
                || f["resource"]["accessKeyDetails"]["accessKeyId"]
                    .as_str()
                    .is_some_and(|k| keys.iter().any(|w| w == k))
        })
        .map(|(_, _, _, f)| f["id"].as_str().unwrap_or_default().to_string())
        .collect();
    let mut out = json!({
        "findingIds": ids.iter().skip(offset).take(size).collect::<Vec<_>>()
    });
    // GuardDuty ends the paging with an empty token, not without one.
    out["nextToken"] = if offset + size < ids.len() {
        json!((offset + size).to_string())
    } else {
        json!("")
    };
    ok(out)
}

async fn get_findings(
    State(emu): State<super::trail::Emu>,
    headers: HeaderMap,
    Path(detector): Path<String>,
    body: Bytes,
) -> Response {
    let req = match detector_request(&emu, &headers, &detector, &body).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let gd = emu.guardduty();
    let gd = super::lock(&gd);
    let ids: Vec<&str> = req["findingIds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if ids.is_empty() || ids.len() > MAX {
        return bad_request(
            "The request is rejected because an invalid or out-of-range value is specified as an input parameter.",
        );
    }
    let findings: Vec<Value> = gd
        .findings
        .iter()
        .filter(|(_, _, d, f)| {
            *d == detector && ids.contains(&f["id"].as_str().unwrap_or_default())
        })
        .map(|(_, _, _, f)| f.clone())
        .collect();
    ok(json!({ "findings": findings }))
}
