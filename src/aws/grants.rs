//! Policies that let others in — a role's trust policy, a bucket's policy — and a bucket's
//! public access block: reading them, and putting back what the approvers saw proposed.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::PublicAccessBlockConfiguration;
use serde_json::Value;

use super::AwsError;
use super::actions::Trail;
use super::sdk::{Clients, classify};
use crate::domain::approval::{Grantor, Outcome};

/// The policy's document now; `None` when the bucket has no policy. A missing role or bucket
/// is `NoSuchEntity`.
pub(super) async fn document(c: &Clients, on: &Grantor) -> Result<Option<String>, AwsError> {
    match on {
        Grantor::RoleTrust { role } => {
            let out = c
                .iam
                .get_role()
                .role_name(role)
                .send()
                .await
                .map_err(classify)?;
            let encoded = out
                .role()
                .and_then(|r| r.assume_role_policy_document())
                .unwrap_or_default();
            super::reach::decoded(encoded).map(Some)
        }
        Grantor::BucketPolicy { bucket } => {
            bucket_policy(&super::archive::client(&c.config, bucket).await, bucket).await
        }
    }
}

async fn bucket_policy(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Option<String>, AwsError> {
    match s3.get_bucket_policy().bucket(bucket).send().await {
        Ok(out) => Ok(out.policy().map(str::to_string)),
        Err(e) if e.code() == Some("NoSuchBucketPolicy") => Ok(None),
        Err(e) => Err(classify(e)),
    }
}

fn parse(text: &str) -> Option<Value> {
    serde_json::from_str(text).ok()
}

/// Puts `after` in place of the policy when it is still `before`, the document the approvers
/// saw. Already `after` (or gone) is done already; anything else stops it.
pub(super) async fn remove(
    c: &Clients,
    on: &Grantor,
    before: &str,
    after: Option<&str>,
    t: &mut Trail,
) -> Result<Outcome, AwsError> {
    match on {
        Grantor::RoleTrust { role } => {
            let now = document(c, on).await;
            if let Some(settled) = settled(now, before, after, t) {
                return settled;
            }
            let doc = after.ok_or_else(|| {
                AwsError::Other("a role cannot be left without a trust policy".into())
            })?;
            let out = c
                .iam
                .update_assume_role_policy()
                .role_name(role)
                .policy_document(doc)
                .send()
                .await
                .map_err(classify)?;
            t.note(&out);
        }
        Grantor::BucketPolicy { bucket } => {
            // One client, its region found once, for the read and the write.
            let s3 = super::archive::client(&c.config, bucket).await;
            let now = bucket_policy(&s3, bucket).await;
            if let Some(settled) = settled(now, before, after, t) {
                return settled;
            }
            match after {
                Some(doc) => t.note(
                    &s3.put_bucket_policy()
                        .bucket(bucket)
                        .policy(doc)
                        .send()
                        .await
                        .map_err(classify)?,
                ),
                None => t.note(
                    &s3.delete_bucket_policy()
                        .bucket(bucket)
                        .send()
                        .await
                        .map_err(classify)?,
                ),
            }
        }
    }
    Ok(t.done())
}

/// The outcome when the policy read now leaves nothing to write: gone or already `after` is
/// done, anything but `before` stops it; `None` when it is still what was approved.
fn settled(
    now: Result<Option<String>, AwsError>,
    before: &str,
    after: Option<&str>,
    t: &mut Trail,
) -> Option<Result<Outcome, AwsError>> {
    let now = match now {
        Ok(now) => now.as_deref().and_then(parse),
        Err(AwsError::NoSuchEntity(_)) => return Some(Ok(t.gone())),
        Err(e) => return Some(Err(e)),
    };
    if now == after.and_then(parse) {
        return Some(Ok(t.gone()));
    }
    (now != parse(before)).then(|| {
        Ok(Outcome::Changed {
            found: vec!["a policy document other than the one proposed".into()],
        })
    })
}

/// The bucket's public access block now: its four settings in AWS's names, all off when the
/// bucket has none.
pub(super) async fn public_access_block(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<Value, AwsError> {
    let config = match s3.get_public_access_block().bucket(bucket).send().await {
        Ok(out) => out.public_access_block_configuration().cloned(),
        Err(e) if e.code() == Some("NoSuchPublicAccessBlockConfiguration") => None,
        Err(e) => return Err(classify(e)),
    };
    let on = |f: fn(&PublicAccessBlockConfiguration) -> Option<bool>| {
        config.as_ref().and_then(f).unwrap_or(false)
    };
    Ok(serde_json::json!({
        "BlockPublicAcls": on(PublicAccessBlockConfiguration::block_public_acls),
        "IgnorePublicAcls": on(PublicAccessBlockConfiguration::ignore_public_acls),
        "BlockPublicPolicy": on(PublicAccessBlockConfiguration::block_public_policy),
        "RestrictPublicBuckets": on(PublicAccessBlockConfiguration::restrict_public_buckets),
    }))
}

/// Whether all four settings are on.
pub(super) fn fully_blocked(config: &Value) -> bool {
    config
        .as_object()
        .is_some_and(|o| o.values().all(|v| v == &Value::Bool(true)))
}

/// Turns all four settings on; done already when they are.
pub(super) async fn block_public_access(
    c: &Clients,
    bucket: &str,
    t: &mut Trail,
) -> Result<Outcome, AwsError> {
    let s3 = super::archive::client(&c.config, bucket).await;
    match public_access_block(&s3, bucket).await {
        Ok(now) if fully_blocked(&now) => return Ok(t.gone()),
        Ok(_) => {}
        Err(AwsError::NoSuchEntity(_)) => return Ok(t.gone()),
        Err(e) => return Err(e),
    }
    let out = s3
        .put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(classify)?;
    t.note(&out);
    Ok(t.done())
}
