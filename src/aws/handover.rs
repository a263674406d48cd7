//! Restore's new key: created, put in a Secrets Manager secret only its user may read, and
//! tried with `sts:GetCallerIdentity`. The secret access key lives only inside `issue`, and is
//! never logged or returned.

use std::time::Duration;

use aws_sdk_secretsmanager::types::Tag;

use super::AwsError;
use super::sdk::{Clients, classify};
use crate::domain::restore::{Handover, handover_policy};

/// Tags on the secret: what a retried restore reads to find the key it already made.
const TAG_INCIDENT: &str = "keyleak:incident";
const TAG_KEY: &str = "keyleak:access-key-id";

/// IAM takes a few seconds to accept a new key everywhere.
const VERIFY_TRIES: u32 = 10;
const VERIFY_PAUSE: Duration = Duration::from_secs(1);

/// The handover a previous run made, found by the secret's name.
pub(super) async fn find(c: &Clients, secret_name: &str) -> Result<Option<Handover>, AwsError> {
    let out = match c
        .secrets()
        .describe_secret()
        .secret_id(secret_name)
        .send()
        .await
    {
        Ok(o) => o,
        Err(e) => {
            return match classify(e) {
                AwsError::NoSuchEntity(_) => Ok(None),
                other => Err(other),
            };
        }
    };
    let key = out
        .tags()
        .iter()
        .find(|t| t.key() == Some(TAG_KEY))
        .and_then(|t| t.value())
        .map(str::to_string);
    Ok(key
        .zip(out.arn().map(str::to_string))
        .map(|(key_id, secret_arn)| Handover {
            key_id,
            secret_arn,
            verified: Err("made by an earlier run; not tried again".into()),
        }))
}

/// Creates the key and hands it over. A key whose secret could not be stored is deleted at
/// once: nobody could ever read it, and it would hold one of the user's two key slots.
pub(super) async fn issue(
    c: &Clients,
    user: &str,
    user_arn: &str,
    secret_name: &str,
    incident: &str,
) -> Result<Handover, AwsError> {
    let created = c
        .iam
        .create_access_key()
        .user_name(user)
        .send()
        .await
        .map_err(classify)?;
    let Some(key) = created.access_key() else {
        return Err(AwsError::Other("CreateAccessKey returned no key".into()));
    };
    let key_id = key.access_key_id().to_string();
    let stored = store(
        c,
        secret_name,
        incident,
        &key_id,
        key.secret_access_key(),
        user_arn,
    )
    .await;
    let secret_arn = match stored {
        Ok(arn) => arn,
        Err(e) => {
            let undone = c
                .iam
                .delete_access_key()
                .user_name(user)
                .access_key_id(&key_id)
                .send()
                .await;
            let note = match undone {
                Ok(_) => "the new key was deleted again".to_string(),
                Err(d) => format!(
                    "the new key {key_id} could not be deleted again: {}",
                    classify(d)
                ),
            };
            return Err(AwsError::Other(format!(
                "storing the new key failed ({e}); {note}"
            )));
        }
    };
    let verified = verify(c, &key_id, key.secret_access_key()).await;
    Ok(Handover {
        key_id,
        secret_arn,
        verified,
    })
}

async fn store(
    c: &Clients,
    secret_name: &str,
    incident: &str,
    key_id: &str,
    secret: &str,
    user_arn: &str,
) -> Result<String, AwsError> {
    let value = serde_json::json!({"AccessKeyId": key_id, "SecretAccessKey": secret}).to_string();
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    let out = c
        .secrets()
        .create_secret()
        .name(secret_name)
        .description(format!(
            "New access key for the user of keyleak incident {incident}"
        ))
        .secret_string(value)
        .tags(tag(TAG_INCIDENT, incident))
        .tags(tag(TAG_KEY, key_id))
        .send()
        .await
        .map_err(classify)?;
    let arn = out.arn().unwrap_or(secret_name).to_string();
    c.secrets()
        .put_resource_policy()
        .secret_id(&arn)
        .resource_policy(handover_policy(user_arn))
        .block_public_policy(true)
        .send()
        .await
        .map_err(classify)?;
    Ok(arn)
}

/// Who the new key signs as. `GetCallerIdentity` needs no permission, so the deny-all still on
/// the user does not stop it.
async fn verify(c: &Clients, key_id: &str, secret: &str) -> Result<String, String> {
    let sts = c.sts_as(key_id, secret);
    let mut last = String::new();
    for _ in 0..VERIFY_TRIES {
        match sts.get_caller_identity().send().await {
            Ok(out) => return Ok(out.arn().unwrap_or_default().to_string()),
            Err(e) => last = classify(e).to_string(),
        }
        tokio::time::sleep(VERIFY_PAUSE).await;
    }
    Err(last)
}
