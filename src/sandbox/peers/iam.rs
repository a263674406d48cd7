//! IAM where moto falls short, in front of moto: the policy simulator (`SimulateCustomPolicy`,
//! evaluated by `iam_eval` as IAM does), Access Advisor (`GenerateServiceLastAccessedDetails`
//! and `GetServiceLastAccessedDetails`, a report that is in progress at the first read, as IAM's
//! usually is, and good only for the caller that asked for it) and
//! `ListServiceSpecificCredentials` (moto answers 500), and users' permissions boundaries
//! (moto keeps them for roles only: `PutUserPermissionsBoundary` is kept here, by user name, and
//! added to moto's `GetUser` answer). Everything else goes to moto untouched, its `Host` kept so
//! that signatures still verify.
//!
//! Query protocol as IAM speaks it (`Action=…&Version=2010-05-08`, XML answers in the
//! `https://iam.amazonaws.com/doc/2010-05-08/` namespace), with the API reference's limits:
//! action names of 3 to 128 characters, policy documents of at most 131,072 characters,
//! `MaxItems` 1 to 1,000 (100 when not given), and `Marker` pagination. The services Access
//! Advisor lists are the ones a test records: the emulator does not derive them from policies.
// Handlers return the HTTP answer AWS would give as their error, as axum does.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};

use super::iam_eval::{self, Decision};

const NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
const MAX_DOCUMENT: usize = 131_072;
const DEFAULT_ITEMS: usize = 100;

/// A service the user called, as Access Advisor reports it.
#[derive(Clone)]
pub struct Access {
    pub namespace: &'static str,
    pub name: &'static str,
    pub at: Option<DateTime<Utc>>,
    pub region: Option<&'static str>,
}

struct Job {
    caller: String,
    services: Vec<Access>,
    reads: usize,
    created: DateTime<Utc>,
}

#[derive(Default)]
struct Seen {
    /// Services by user ARN.
    accesses: HashMap<String, Vec<Access>>,
    jobs: HashMap<String, Job>,
    /// Permissions boundaries' ARNs by user name.
    boundaries: HashMap<String, String>,
}

#[derive(Clone)]
pub struct IamFront {
    pub url: String,
    moto: String,
    http: reqwest::Client,
    state: Arc<Mutex<Seen>>,
    /// Stops the server: dropped with the last handle's owner (`Moto`).
    stop: Arc<Mutex<Option<tokio::sync::oneshot::Sender<()>>>>,
}

impl IamFront {
    /// Serves on a thread and runtime of its own, as moto runs in a process of its own: a test
    /// that blocks its runtime (waiting on the keyleak binary) must not stall the peer.
    pub fn start(moto: &str) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let front = Self {
            url: format!("http://{}", listener.local_addr()?),
            moto: moto.to_string(),
            http: super::http()?,
            state: Arc::default(),
            stop: Arc::new(Mutex::new(Some(stop))),
        };
        let app = Router::new().fallback(handle).with_state(front.clone());
        std::thread::spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Ok(front)
    }

    pub fn stop(&self) {
        if let Some(stop) = super::lock(&self.stop).take() {
            let _ = stop.send(());
        }
    }

    /// Records that the user (by ARN) called these services, for Access Advisor.
    pub fn record_access(&self, user_arn: &str, services: &[Access]) {
        super::lock(&self.state)
            .accesses
            .entry(user_arn.to_string())
            .or_default()
            .extend(services.iter().cloned());
    }
}

/// `Credential=AKID/20261203/us-east-1/iam/aws4_request` → (key, service).
fn signer(headers: &HeaderMap) -> Option<(String, String)> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let scope = auth.split("Credential=").nth(1)?.split(',').next()?;
    let mut parts = scope.split('/');
    let key = parts.next()?.to_string();
    Some((key, parts.nth(2)?.to_string()))
}

type Params = Vec<(String, String)>;

fn param<'a>(p: &'a Params, name: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `Name.member.1`, `Name.member.2`, … in order.
fn members(p: &Params, name: &str) -> Vec<String> {
    let prefix = format!("{name}.member.");
    let mut found: Vec<(usize, String)> = p
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(&prefix)?.parse().ok()?, v.clone())))
        .collect();
    found.sort();
    found.into_iter().map(|(_, v)| v).collect()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<ErrorResponse xmlns=\"{NS}\"><Error><Type>Sender</Type><Code>{code}</Code>\
         <Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        xml_escape(message),
        uuid::Uuid::new_v4()
    );
    (status, [("content-type", "text/xml")], body).into_response()
}

fn invalid(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "InvalidInput", message)
}

fn ok(action: &str, result: &str) -> Response {
    let body = format!(
        "<{action}Response xmlns=\"{NS}\"><{action}Result>{result}</{action}Result>\
         <ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
        uuid::Uuid::new_v4()
    );
    (StatusCode::OK, [("content-type", "text/xml")], body).into_response()
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `MaxItems` and `Marker` (an offset here) as IAM checks them.
fn page(p: &Params) -> Result<(usize, usize), Response> {
    let max = match param(p, "MaxItems") {
        None => DEFAULT_ITEMS,
        Some(m) => match m.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => return Err(invalid("MaxItems must be between 1 and 1000")),
        },
    };
    let from = match param(p, "Marker") {
        None => 0,
        Some(m) => m.parse().map_err(|_| invalid("Invalid Marker"))?,
    };
    Ok((from, max))
}

fn paged(result: &mut String, from: usize, max: usize, total: usize) {
    let next = from + max;
    if next < total {
        result.push_str(&format!(
            "<IsTruncated>true</IsTruncated><Marker>{next}</Marker>"
        ));
    } else {
        result.push_str("<IsTruncated>false</IsTruncated>");
    }
}

fn simulate(p: &Params) -> Response {
    let documents = members(p, "PolicyInputList");
    let boundaries = members(p, "PermissionsBoundaryPolicyInputList");
    let actions = members(p, "ActionNames");
    if documents.is_empty() || actions.is_empty() {
        return invalid("PolicyInputList and ActionNames are required");
    }
    if let Some(a) = actions.iter().find(|a| !(3..=128).contains(&a.len())) {
        return invalid(&format!("Invalid action name: {a}"));
    }
    let parse = |list: &str, docs: &[String]| -> Result<Vec<_>, Response> {
        docs.iter()
            .enumerate()
            .map(|(n, d)| {
                if d.len() > MAX_DOCUMENT {
                    return Err(invalid("Policy document is longer than 131072 characters"));
                }
                iam_eval::parse(d)
                    .map(|s| (format!("{list}.{}", n + 1), s))
                    .map_err(|e| error(StatusCode::BAD_REQUEST, "MalformedPolicyDocument", &e))
            })
            .collect()
    };
    let identity = match parse("PolicyInputList", &documents) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let boundary = match parse("PermissionsBoundaryPolicyInputList", &boundaries) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (from, max) = match page(p) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut result = String::from("<EvaluationResults>");
    for action in actions.iter().skip(from).take(max) {
        let e = iam_eval::evaluate(&identity, &boundary, action);
        let matched: String = e
            .matched
            .iter()
            .map(|id| {
                format!(
                    "<member><SourcePolicyId>{id}</SourcePolicyId>\
                     <SourcePolicyType>none</SourcePolicyType></member>"
                )
            })
            .collect();
        let missing: String = e
            .missing
            .iter()
            .map(|k| format!("<member>{}</member>", xml_escape(k)))
            .collect();
        let boundary_detail = if boundary.is_empty() {
            String::new()
        } else {
            let allowed = e.decision != Decision::ExplicitDeny
                && iam_eval::evaluate(&boundary, &[], action).decision == Decision::Allowed;
            format!(
                "<PermissionsBoundaryDecisionDetail><AllowedByPermissionsBoundary>{allowed}\
                 </AllowedByPermissionsBoundary></PermissionsBoundaryDecisionDetail>"
            )
        };
        result.push_str(&format!(
            "<member><EvalActionName>{}</EvalActionName><EvalResourceName>*</EvalResourceName>\
             <EvalDecision>{}</EvalDecision><MatchedStatements>{matched}</MatchedStatements>\
             <MissingContextValues>{missing}</MissingContextValues>{boundary_detail}</member>",
            xml_escape(action),
            e.decision.as_str()
        ));
    }
    result.push_str("</EvaluationResults>");
    paged(&mut result, from, max, actions.len());
    ok("SimulateCustomPolicy", &result)
}

fn generate(front: &IamFront, p: &Params, caller: &str) -> Response {
    let Some(arn) = param(p, "Arn").filter(|a| a.starts_with("arn:aws:iam::")) else {
        return invalid("Arn must be the ARN of an IAM user, group, role or policy");
    };
    let id = uuid::Uuid::new_v4().to_string();
    let mut state = super::lock(&front.state);
    let services = state.accesses.get(arn).cloned().unwrap_or_default();
    state.jobs.insert(
        id.clone(),
        Job {
            caller: caller.to_string(),
            services,
            reads: 0,
            created: Utc::now(),
        },
    );
    ok(
        "GenerateServiceLastAccessedDetails",
        &format!("<JobId>{id}</JobId>"),
    )
}

fn service_xml(s: &Access) -> String {
    let mut x = format!(
        "<member><ServiceName>{}</ServiceName><ServiceNamespace>{}</ServiceNamespace>",
        s.name, s.namespace
    );
    if let Some(at) = s.at {
        x.push_str(&format!(
            "<LastAuthenticated>{}</LastAuthenticated><TotalAuthenticatedEntities>1\
             </TotalAuthenticatedEntities>",
            time(at)
        ));
    }
    if let Some(r) = s.region {
        x.push_str(&format!(
            "<LastAuthenticatedRegion>{r}</LastAuthenticatedRegion>"
        ));
    }
    x.push_str("</member>");
    x
}

fn report(front: &IamFront, p: &Params, caller: &str) -> Response {
    let (from, max) = match page(p) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut state = super::lock(&front.state);
    // A job id is good only for the caller that generated it.
    let Some(job) = param(p, "JobId")
        .and_then(|id| state.jobs.get_mut(id))
        .filter(|j| j.caller == caller)
    else {
        return error(
            StatusCode::NOT_FOUND,
            "NoSuchEntity",
            "The job with the specified id was not found",
        );
    };
    job.reads += 1;
    let created = time(job.created);
    if job.reads == 1 {
        return ok(
            "GetServiceLastAccessedDetails",
            &format!(
                "<JobStatus>IN_PROGRESS</JobStatus><JobType>SERVICE_LEVEL</JobType>\
                 <JobCreationDate>{created}</JobCreationDate><IsTruncated>false</IsTruncated>"
            ),
        );
    }
    let services: String = job
        .services
        .iter()
        .skip(from)
        .take(max)
        .map(service_xml)
        .collect();
    let mut result = format!(
        "<JobStatus>COMPLETED</JobStatus><JobType>SERVICE_LEVEL</JobType>\
         <JobCreationDate>{created}</JobCreationDate><JobCompletionDate>{created}\
         </JobCompletionDate><ServicesLastAccessed>{services}</ServicesLastAccessed>"
    );
    paged(&mut result, from, max, job.services.len());
    ok("GetServiceLastAccessedDetails", &result)
}

async fn handle(
    State(front): State<IamFront>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some((caller, _)) = signer(&headers).filter(|(_, service)| service == "iam") {
        let p: Params = serde_urlencoded::from_bytes(&body).unwrap_or_default();
        let action = param(&p, "Action").unwrap_or_default().to_string();
        let answer = match action.as_str() {
            "SimulateCustomPolicy" => Some(simulate(&p)),
            "GenerateServiceLastAccessedDetails" => Some(generate(&front, &p, &caller)),
            "GetServiceLastAccessedDetails" => Some(report(&front, &p, &caller)),
            // No service-specific credentials unless a test's proxy says otherwise.
            "PutUserPermissionsBoundary" => Some(put_boundary(&front, &p)),
            "ListServiceSpecificCredentials" => Some(ok(
                "ListServiceSpecificCredentials",
                "<ServiceSpecificCredentials/><IsTruncated>false</IsTruncated>",
            )),
            _ => None,
        };
        if let Some(answer) = answer {
            return answer;
        }
        if action == "GetUser" {
            let boundary = param(&p, "UserName")
                .and_then(|u| super::lock(&front.state).boundaries.get(u).cloned());
            let answer = forward(&front, method, uri, headers, body).await;
            return match boundary {
                Some(arn) => with_boundary(answer, &arn).await,
                None => answer,
            };
        }
    }
    forward(&front, method, uri, headers, body).await
}

fn put_boundary(front: &IamFront, p: &Params) -> Response {
    let (Some(user), Some(arn)) = (param(p, "UserName"), param(p, "PermissionsBoundary")) else {
        return invalid("UserName and PermissionsBoundary are required");
    };
    super::lock(&front.state)
        .boundaries
        .insert(user.to_string(), arn.to_string());
    let body = format!(
        "<PutUserPermissionsBoundaryResponse xmlns=\"{NS}\"><ResponseMetadata><RequestId>{}\
         </RequestId></ResponseMetadata></PutUserPermissionsBoundaryResponse>",
        uuid::Uuid::new_v4()
    );
    (StatusCode::OK, [("content-type", "text/xml")], body).into_response()
}

/// moto's `GetUser` answer with the user's boundary in it, where IAM puts it.
async fn with_boundary(answer: Response, arn: &str) -> Response {
    let (parts, body) = answer.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let text = String::from_utf8_lossy(&bytes).replacen(
        "</User>",
        &format!(
            "<PermissionsBoundary><PermissionsBoundaryType>Policy</PermissionsBoundaryType>\
             <PermissionsBoundaryArn>{arn}</PermissionsBoundaryArn></PermissionsBoundary></User>"
        ),
        1,
    );
    (parts.status, parts.headers, text).into_response()
}

async fn forward(
    front: &IamFront,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    super::relay(&front.http, &front.moto, method, uri, headers, body).await
}
