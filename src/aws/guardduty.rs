//! GuardDuty findings by access key (docs/aws.md, GuardDuty): detectors are regional, so
//! each region is asked on its own; `ListFindings` pages by 50 and `GetFindings` takes at
//! most 50 ids.

use aws_sdk_guardduty::types::{Condition, Finding, FindingCriteria};

use super::AwsError;
use super::sdk::{Clients, classify};
use crate::domain::ids::AccessKeyId;
use crate::domain::trail::guardduty::GuardDutyFinding;

const KEY_FIELD: &str = "resource.accessKeyDetails.accessKeyId";
/// `ListFindings` page size and `GetFindings` batch, both GuardDuty's maximum.
const BATCH: usize = 50;

/// The findings about `keys` in one region; `None` when no detector runs there.
pub async fn findings(
    clients: &Clients,
    region: &str,
    keys: &[AccessKeyId],
) -> Result<Option<Vec<GuardDutyFinding>>, AwsError> {
    let client = clients.guardduty(region);
    let detectors = detectors(&client).await?;
    if detectors.is_empty() {
        return Ok(None);
    }
    let mut out = vec![];
    for detector in &detectors {
        for chunk in keys.chunks(BATCH) {
            let ids = finding_ids(&client, detector, chunk).await?;
            for batch in ids.chunks(BATCH) {
                let got = client
                    .get_findings()
                    .detector_id(detector)
                    .set_finding_ids(Some(batch.to_vec()))
                    .send()
                    .await
                    .map_err(classify)?;
                out.extend(got.findings().iter().map(|f| convert(f, region)));
            }
        }
    }
    Ok(Some(out))
}

async fn detectors(client: &aws_sdk_guardduty::Client) -> Result<Vec<String>, AwsError> {
    client
        .list_detectors()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(classify)
}

async fn finding_ids(
    client: &aws_sdk_guardduty::Client,
    detector: &str,
    keys: &[AccessKeyId],
) -> Result<Vec<String>, AwsError> {
    let condition = Condition::builder()
        .set_equals(Some(keys.iter().map(|k| k.to_string()).collect()))
        .build();
    let criteria = FindingCriteria::builder()
        .criterion(KEY_FIELD, condition)
        .build();
    client
        .list_findings()
        .detector_id(detector)
        .finding_criteria(criteria)
        .max_results(BATCH as i32)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(classify)
}

fn convert(f: &Finding, region: &str) -> GuardDutyFinding {
    let service = f.service();
    GuardDutyFinding {
        id: f.id().unwrap_or_default().to_string(),
        kind: f.r#type().unwrap_or_default().to_string(),
        severity: f.severity().unwrap_or_default(),
        title: f.title().unwrap_or_default().to_string(),
        account: f.account_id().unwrap_or_default().to_string(),
        region: f.region().unwrap_or(region).to_string(),
        key: f
            .resource()
            .and_then(|r| r.access_key_details())
            .and_then(|d| d.access_key_id())
            .map(str::to_string),
        first_seen: service
            .and_then(|s| s.event_first_seen())
            .map(str::to_string),
        last_seen: service
            .and_then(|s| s.event_last_seen())
            .map(str::to_string),
        count: service
            .and_then(|s| s.count())
            .and_then(|c| u32::try_from(c).ok())
            .unwrap_or(1),
        archived: service.and_then(|s| s.archived()).unwrap_or(false),
    }
}
