//! Every AWS API attempt counted by service, operation and outcome, from one interceptor
//! that every client the adapter builds carries.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CountCalls;

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "keyleak-count-calls"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map_or(("unknown", "unknown"), |m| (m.service(), m.name()));
        let outcome = context.response().map_or("error", outcome);
        crate::metrics::aws_call(service, operation, outcome);
        Ok(())
    }
}

/// The error codes AWS uses to say "slow down", across its protocols: a JSON service names
/// it in `x-amzn-errortype`, a query or XML one (IAM, STS, EC2, S3) in the body.
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "PriorRequestNotComplete",
    "ProvisionedThroughputExceededException",
];

fn outcome(response: &HttpResponse) -> &'static str {
    let status = response.status().as_u16();
    if status < 300 {
        return "ok";
    }
    if status == 429 {
        return "throttled";
    }
    let header = response
        .headers()
        .get("x-amzn-errortype")
        .map(|t| t.split(':').next().unwrap_or(t));
    let named = |code: &str| THROTTLING.contains(&code);
    if header.is_some_and(named) {
        return "throttled";
    }
    let body = response.body().bytes().unwrap_or_default();
    let text = String::from_utf8_lossy(&body[..body.len().min(2048)]);
    let in_body = THROTTLING.iter().any(|c| {
        text.contains(&format!("<Code>{c}</Code>"))
            || text.contains(&format!("\"{c}\""))
            || text.contains(&format!("#{c}\""))
    });
    if in_body { "throttled" } else { "error" }
}
