//! What the key could do, asked of IAM itself: the documents of the user's policies (its
//! groups' too, and its permissions boundary), IAM's policy simulator over them, and Access
//! Advisor's last-accessed services. Read-only, after the cut-off: nothing here delays it.

use std::time::Duration;

use aws_sdk_iam::types::{JobStatusType, PolicyEvaluationDecisionType};
use futures_util::future::try_join_all;

use super::sdk::{classify, to_chrono};
use super::{AwsError, PolicyDocuments};
use crate::domain::incident::UserSnapshot;
use crate::domain::reach::{ActionVerdict, Decision, PolicySource, ServiceUse};

/// How long Access Advisor's report may take to be generated: it usually takes seconds.
const REPORT_WAIT: Duration = Duration::from_secs(60);

/// IAM returns policy documents URL-encoded (RFC 3986); a peer that returns them plain is
/// read as it is.
pub(super) fn decoded(document: &str) -> Result<String, AwsError> {
    if document.trim_start().starts_with('{') {
        return Ok(document.to_string());
    }
    percent_encoding::percent_decode_str(document)
        .decode_utf8()
        .map(|d| d.into_owned())
        .map_err(|e| AwsError::Other(format!("a policy document is not UTF-8: {e}")))
}

/// A managed policy's default version's document.
async fn managed_document(iam: &aws_sdk_iam::Client, arn: &str) -> Result<String, AwsError> {
    let policy = iam
        .get_policy()
        .policy_arn(arn)
        .send()
        .await
        .map_err(classify)?;
    let version = policy
        .policy()
        .and_then(|p| p.default_version_id())
        .ok_or_else(|| AwsError::Other(format!("{arn} has no default version")))?;
    let out = iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(version)
        .send()
        .await
        .map_err(classify)?;
    decoded(
        out.policy_version()
            .and_then(|v| v.document())
            .unwrap_or_default(),
    )
}

/// A policy's document, or `None` when it is gone since the snapshot.
async fn document(
    iam: &aws_sdk_iam::Client,
    user: &str,
    source: &PolicySource,
) -> Result<Option<String>, AwsError> {
    let found = match source {
        PolicySource::Inline { name } => iam
            .get_user_policy()
            .user_name(user)
            .policy_name(name)
            .send()
            .await
            .map_err(classify)
            .and_then(|o| decoded(o.policy_document())),
        PolicySource::GroupInline { group, name } => iam
            .get_group_policy()
            .group_name(group)
            .policy_name(name)
            .send()
            .await
            .map_err(classify)
            .and_then(|o| decoded(o.policy_document())),
        PolicySource::Managed { arn, .. } | PolicySource::GroupManaged { arn, .. } => {
            managed_document(iam, arn).await
        }
    };
    match found {
        Ok(d) => Ok(Some(d)),
        Err(AwsError::NoSuchEntity(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The policies a group holds, named by its lists.
async fn group_sources(
    iam: &aws_sdk_iam::Client,
    group: &str,
) -> Result<Vec<PolicySource>, AwsError> {
    let (inline, attached) = tokio::try_join!(
        async {
            iam.list_group_policies()
                .group_name(group)
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(classify)
        },
        async {
            iam.list_attached_group_policies()
                .group_name(group)
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(classify)
        },
    )?;
    let mut out: Vec<PolicySource> = inline
        .into_iter()
        .map(|name| PolicySource::GroupInline {
            group: group.to_string(),
            name,
        })
        .collect();
    out.extend(attached.iter().map(|p| PolicySource::GroupManaged {
        group: group.to_string(),
        name: p.policy_name().unwrap_or_default().to_string(),
        arn: p.policy_arn().unwrap_or_default().to_string(),
    }));
    Ok(out)
}

/// The user's permissions boundary's ARN, if it has one.
async fn boundary_arn(iam: &aws_sdk_iam::Client, user: &str) -> Result<Option<String>, AwsError> {
    let out = iam
        .get_user()
        .user_name(user)
        .send()
        .await
        .map_err(classify)?;
    Ok(out
        .user()
        .and_then(|u| u.permissions_boundary())
        .and_then(|b| b.permissions_boundary_arn())
        .map(str::to_string))
}

/// The documents of the policies the snapshot names, except those `leave_out` names (by
/// policy name); a group's policies as IAM lists them now.
pub(super) async fn policy_documents(
    iam: &aws_sdk_iam::Client,
    snap: &UserSnapshot,
    leave_out: &[String],
) -> Result<PolicyDocuments, AwsError> {
    let user = snap.user_name.as_str();
    let mut sources: Vec<PolicySource> = snap
        .inline_policies
        .iter()
        .map(|name| PolicySource::Inline { name: name.clone() })
        .collect();
    sources.extend(
        snap.attached_policies
            .iter()
            .filter(|p| !leave_out.contains(&p.name))
            .map(|p| PolicySource::Managed {
                name: p.name.clone(),
                arn: p.arn.clone(),
            }),
    );
    let (groups, boundary) = tokio::try_join!(
        try_join_all(snap.groups.iter().map(|g| group_sources(iam, g))),
        boundary_arn(iam, user),
    )?;
    sources.extend(groups.into_iter().flatten());
    let documents = try_join_all(sources.iter().map(|s| document(iam, user, s))).await?;
    let mut out = PolicyDocuments::default();
    for (source, doc) in sources.into_iter().zip(documents) {
        match doc {
            Some(d) => out.policies.push((source, d)),
            None => out.gone.push(source.label()),
        }
    }
    if let Some(arn) = boundary {
        let doc = managed_document(iam, &arn).await?;
        out.boundary = Some((arn, doc));
    }
    Ok(out)
}

/// `PolicyInputList.2` → the second policy's label; the boundary's id → its ARN.
fn label_of(id: &str, docs: &PolicyDocuments) -> Option<String> {
    let (list, n) = id.rsplit_once('.')?;
    let n: usize = n.parse().ok()?;
    match list {
        "PolicyInputList" => docs.policies.get(n.checked_sub(1)?).map(|(s, _)| s.label()),
        "PermissionsBoundaryPolicyInputList" => docs.boundary.as_ref().map(|(arn, _)| arn.clone()),
        _ => None,
    }
}

fn decision(
    r: &aws_sdk_iam::types::EvaluationResult,
    docs: &PolicyDocuments,
) -> Result<ActionVerdict, AwsError> {
    let missing = r.missing_context_values();
    let decision = match r.eval_decision() {
        PolicyEvaluationDecisionType::Allowed => Decision::Allowed,
        PolicyEvaluationDecisionType::ExplicitDeny => Decision::ExplicitDeny,
        PolicyEvaluationDecisionType::ImplicitDeny if missing.is_empty() => Decision::ImplicitDeny,
        PolicyEvaluationDecisionType::ImplicitDeny => Decision::Conditional {
            keys: missing.to_vec(),
        },
        other => {
            return Err(AwsError::Other(format!(
                "the policy simulator gave an unknown decision: {}",
                other.as_str()
            )));
        }
    };
    let mut decided_by: Vec<String> = r
        .matched_statements()
        .iter()
        .filter_map(|s| s.source_policy_id())
        .filter_map(|id| label_of(id, docs))
        .collect();
    decided_by.dedup();
    Ok(ActionVerdict {
        action: r.eval_action_name().to_string(),
        decision,
        decided_by,
    })
}

/// IAM's policy simulator over the documents, every page of its answer.
pub(super) async fn simulate(
    iam: &aws_sdk_iam::Client,
    docs: &PolicyDocuments,
    actions: &[&str],
) -> Result<Vec<ActionVerdict>, AwsError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut req = iam
            .simulate_custom_policy()
            .set_policy_input_list(Some(docs.policies.iter().map(|(_, d)| d.clone()).collect()))
            .set_action_names(Some(actions.iter().map(|a| a.to_string()).collect()))
            .set_marker(marker.take());
        if let Some((_, doc)) = &docs.boundary {
            req = req.permissions_boundary_policy_input_list(doc.clone());
        }
        let page = req.send().await.map_err(classify)?;
        for r in page.evaluation_results() {
            out.push(decision(r, docs)?);
        }
        match page.marker().filter(|_| page.is_truncated()) {
            Some(m) => marker = Some(m.to_string()),
            None => return Ok(out),
        }
    }
}

/// Access Advisor's report for the user: generated, waited for, read to its last page. The
/// job id is only good for the caller that generated it, so one client does all three.
pub(super) async fn services_used(
    iam: &aws_sdk_iam::Client,
    user_arn: &str,
) -> Result<Vec<ServiceUse>, AwsError> {
    let job = iam
        .generate_service_last_accessed_details()
        .arn(user_arn)
        .send()
        .await
        .map_err(classify)?;
    let job_id = job.job_id().unwrap_or_default().to_string();
    let started = tokio::time::Instant::now();
    let mut wait = Duration::from_millis(200);
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = iam
            .get_service_last_accessed_details()
            .job_id(&job_id)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(classify)?;
        match page.job_status() {
            JobStatusType::Completed => {}
            JobStatusType::InProgress if started.elapsed() < REPORT_WAIT => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
                continue;
            }
            JobStatusType::InProgress => {
                return Err(AwsError::Other(format!(
                    "Access Advisor's report was not ready after {} s",
                    REPORT_WAIT.as_secs()
                )));
            }
            other => {
                let why = page
                    .error()
                    .map(|e| format!("{}: {}", e.code(), e.message()))
                    .unwrap_or_else(|| other.as_str().to_string());
                return Err(AwsError::Other(format!(
                    "Access Advisor's report failed: {why}"
                )));
            }
        }
        out.extend(page.services_last_accessed().iter().map(|s| ServiceUse {
            namespace: s.service_namespace().to_string(),
            name: s.service_name().to_string(),
            last_authenticated: s.last_authenticated().and_then(to_chrono),
            region: s.last_authenticated_region().map(str::to_string),
        }));
        match page.marker().filter(|_| page.is_truncated()) {
            Some(m) => marker = Some(m.to_string()),
            None => return Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IAM's `GetUserPolicy`, `GetGroupPolicy` and `GetPolicyVersion` give the document
    /// URL-encoded (RFC 3986: `%7B` for `{`, `%20` for a space); the simulator wants JSON.
    #[test]
    fn policy_documents_are_url_decoded_and_plain_ones_kept() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3AGet%2A%22%2C%22Resource%22%3A%22arn%3Aaws%3As3%3A%3A%3Aa%20b%2B%2A%22%7D%5D%7D";
        let doc = decoded(encoded).unwrap();
        let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(v["Statement"][0]["Resource"], "arn:aws:s3:::a b+*");
        let plain = r#"{"Version":"2012-10-17","Statement":[]}"#;
        assert_eq!(decoded(plain).unwrap(), plain);
        assert!(
            decoded("%FF%FE").is_err(),
            "not UTF-8 is an error, not a guess"
        );
    }

    #[test]
    fn matched_statements_name_their_policy() {
        let docs = PolicyDocuments {
            policies: vec![
                (
                    PolicySource::Inline {
                        name: "app-read".into(),
                    },
                    "{}".into(),
                ),
                (
                    PolicySource::GroupManaged {
                        group: "admins".into(),
                        name: "AdministratorAccess".into(),
                        arn: "arn:aws:iam::aws:policy/AdministratorAccess".into(),
                    },
                    "{}".into(),
                ),
            ],
            boundary: Some(("arn:aws:iam::111122223333:policy/b".into(), "{}".into())),
            gone: vec![],
        };
        assert_eq!(
            label_of("PolicyInputList.1", &docs).as_deref(),
            Some("app-read")
        );
        assert_eq!(
            label_of("PolicyInputList.2", &docs).as_deref(),
            Some("group admins: AdministratorAccess")
        );
        assert_eq!(
            label_of("PermissionsBoundaryPolicyInputList.1", &docs).as_deref(),
            Some("arn:aws:iam::111122223333:policy/b")
        );
        assert_eq!(label_of("PolicyInputList.0", &docs), None);
        assert_eq!(label_of("PolicyInputList.3", &docs), None);
        assert_eq!(label_of("ResourcePolicy", &docs), None);
    }
}
