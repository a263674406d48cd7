//! Prometheus metrics (`GET /metrics`, docs/design.md §6): every family keyleak exposes is named,
//! described and recorded here, so the set is reviewed in one place and its labels stay
//! bounded (verbs, states, steps, methods and operations, never ids or keys).
//!
//! Counters and histograms are per process; the incident and job gauges are read from the
//! store at each scrape, so every replica reports the whole bot's queue.

use std::sync::OnceLock;

use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::warn;

const HTTP_REQUESTS: &str = "keyleak_http_requests_total";
const ACK_SECONDS: &str = "keyleak_ack_seconds";
const COMMANDS: &str = "keyleak_commands_total";
const JOBS: &str = "keyleak_jobs";
const JOBS_FINISHED: &str = "keyleak_jobs_finished_total";
const JOBS_RETRIED: &str = "keyleak_jobs_retried_total";
const LEASE_EXPIRIES: &str = "keyleak_job_lease_expiries_total";
const STEP_SECONDS: &str = "keyleak_step_seconds";
const STEP_FAILURES: &str = "keyleak_step_failures_total";
const AWS_CALLS: &str = "keyleak_aws_calls_total";
const SLACK_CALLS: &str = "keyleak_slack_calls_total";
const APPROVALS: &str = "keyleak_approvals_total";
const INCIDENTS_OPEN: &str = "keyleak_incidents_open";
const TIME_TO_CONTAIN: &str = "keyleak_time_to_contain_seconds";
const SOCKET_CONNECTIONS: &str = "keyleak_socket_connections";
const SOCKET_ENVELOPES: &str = "keyleak_socket_envelopes_total";
const SIGNALS: &str = "keyleak_signals_total";

/// Slack wants an answer within 3 s: the buckets are fine below it.
const ACK_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0];
const STEP_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];
const CONTAIN_BUCKETS: &[f64] = &[
    0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0,
];

/// The process's recorder, installed on first use; `None` when another recorder was
/// installed first (then nothing is exposed, and recording is a no-op).
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE.get_or_init(install).as_ref()
}

fn install() -> Option<PrometheusHandle> {
    let built = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(ACK_SECONDS.into()), ACK_BUCKETS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(STEP_SECONDS.into()), STEP_BUCKETS))
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(TIME_TO_CONTAIN.into()), CONTAIN_BUCKETS)
        })
        .and_then(PrometheusBuilder::install_recorder);
    match built {
        Ok(handle) => {
            describe();
            Some(handle)
        }
        Err(e) => {
            warn!(error = %e, "metrics are not exposed");
            None
        }
    }
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route and status."
    );
    describe_histogram!(
        ACK_SECONDS,
        Unit::Seconds,
        "Time to answer Slack's commands and clicks."
    );
    describe_counter!(COMMANDS, "Slash commands, by verb and outcome.");
    describe_counter!(
        SIGNALS,
        "Signals from AWS and GitHub, by source and outcome (opened, joined, duplicate, \
         sample, ignored, refused, failed)."
    );
    describe_gauge!(
        JOBS,
        "Jobs queued or running in the store, by kind and state."
    );
    describe_counter!(
        JOBS_FINISHED,
        "Jobs this process finished, by kind and outcome."
    );
    describe_counter!(JOBS_RETRIED, "Jobs put back to be retried later, by kind.");
    describe_counter!(
        LEASE_EXPIRIES,
        "Jobs taken over after their worker went silent or their lease ran out, by kind."
    );
    describe_histogram!(
        STEP_SECONDS,
        Unit::Seconds,
        "Duration of playbook steps, by step."
    );
    describe_counter!(STEP_FAILURES, "Playbook steps that failed, by step.");
    describe_counter!(
        AWS_CALLS,
        "AWS API attempts, by service, operation and outcome (ok, error, throttled)."
    );
    describe_counter!(
        SLACK_CALLS,
        "Slack Web API calls, by method and outcome (ok, ratelimited, timeout, or Slack's error)."
    );
    describe_counter!(APPROVALS, "Approve clicks, by outcome.");
    describe_gauge!(INCIDENTS_OPEN, "Open incidents in the store, by state.");
    describe_histogram!(
        TIME_TO_CONTAIN,
        Unit::Seconds,
        "From the contain request to the key inactive."
    );
    describe_gauge!(SOCKET_CONNECTIONS, "Socket Mode connections open.");
    describe_counter!(
        SOCKET_ENVELOPES,
        "Socket Mode envelopes acknowledged, by type and outcome (redelivered: not run again)."
    );
}

pub fn http_request(route: &'static str, status: u16) {
    counter!(HTTP_REQUESTS, "route" => route, "status" => status.to_string()).increment(1);
}

pub fn ack(route: &'static str, seconds: f64) {
    histogram!(ACK_SECONDS, "route" => route).record(seconds);
}

pub fn command(verb: &'static str, outcome: &'static str) {
    counter!(COMMANDS, "verb" => verb, "outcome" => outcome).increment(1);
}

pub fn jobs(kind: &'static str, state: &'static str, n: i64) {
    gauge!(JOBS, "kind" => kind, "state" => state).set(n as f64);
}

pub fn job_finished(kind: &'static str, outcome: &'static str) {
    counter!(JOBS_FINISHED, "kind" => kind, "outcome" => outcome).increment(1);
}

pub fn job_retried(kind: &'static str) {
    counter!(JOBS_RETRIED, "kind" => kind).increment(1);
}

pub fn lease_expired(kind: &'static str) {
    counter!(LEASE_EXPIRIES, "kind" => kind).increment(1);
}

pub fn step(step: &'static str, seconds: f64, failed: bool) {
    histogram!(STEP_SECONDS, "step" => step).record(seconds);
    if failed {
        counter!(STEP_FAILURES, "step" => step).increment(1);
    }
}

pub fn aws_call(service: &str, operation: &str, outcome: &'static str) {
    counter!(
        AWS_CALLS,
        "service" => service.to_string(),
        "operation" => operation.to_string(),
        "outcome" => outcome
    )
    .increment(1);
}

pub fn slack_call(method: &'static str, outcome: String) {
    counter!(SLACK_CALLS, "method" => method, "outcome" => outcome).increment(1);
}

pub fn approval(outcome: &'static str) {
    counter!(APPROVALS, "outcome" => outcome).increment(1);
}

pub fn incidents_open(state: &'static str, n: i64) {
    gauge!(INCIDENTS_OPEN, "state" => state).set(n as f64);
}

pub fn time_to_contain(seconds: f64) {
    histogram!(TIME_TO_CONTAIN).record(seconds);
}

pub fn socket_connections(n: usize) {
    gauge!(SOCKET_CONNECTIONS).set(n as f64);
}

pub fn socket_envelope(kind: &'static str, outcome: &'static str) {
    counter!(SOCKET_ENVELOPES, "type" => kind, "outcome" => outcome).increment(1);
}

pub fn signal(source: &'static str, outcome: &'static str) {
    counter!(SIGNALS, "source" => source, "outcome" => outcome).increment(1);
}
