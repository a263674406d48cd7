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

/// The handover a previous run made, found by the secret's name. It is trusted only when it
/// is whole: its key still exists, its resource policy is the one that lets only the user
/// read it, and it holds a value. A handover left half-made by a run that failed or died is
/// taken apart (the secret deleted, its key too) and `None` returned, so a new one is made
/// rather than a dead key handed over for ever.
pub(super) async fn find(
    c: &Clients,
    secret_name: &str,
    user: &str,
) -> Result<Option<Handover>, AwsError> {
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
    let tagged = out
        .tags()
        .iter()
        .find(|t| t.key() == Some(TAG_KEY))
        .and_then(|t| t.value())
        .map(str::to_string);
    // Someone else's secret of that name: creating ours will say it exists.
    let (Some(key_id), Some(secret_arn)) = (tagged, out.arn().map(str::to_string)) else {
        return Ok(None);
    };
    let has_value = out.version_ids_to_stages().is_some_and(|v| {
        v.values()
            .any(|stages| stages.iter().any(|s| s == "AWSCURRENT"))
    });
    let whole = has_value
        && key_exists(c, user, &key_id).await?
        && policy_in_place(c, &secret_arn, user).await?;
    if !whole {
        undo(c, user, &key_id, &secret_arn).await?;
        return Ok(None);
    }
    Ok(Some(Handover {
        key_id,
        secret_arn,
        verified: Err("made by an earlier run; not tried again".into()),
    }))
}

async fn key_exists(c: &Clients, user: &str, key_id: &str) -> Result<bool, AwsError> {
    let keys = c
        .iam
        .list_access_keys()
        .user_name(user)
        .send()
        .await
        .map_err(classify)?;
    Ok(keys
        .access_key_metadata()
        .iter()
        .any(|k| k.access_key_id() == Some(key_id)))
}

/// Whether the secret's resource policy is, as JSON, the one restore puts there.
async fn policy_in_place(c: &Clients, secret_arn: &str, user: &str) -> Result<bool, AwsError> {
    let arn = c
        .iam
        .get_user()
        .user_name(user)
        .send()
        .await
        .map_err(classify)?
        .user()
        .map(|u| u.arn().to_string())
        .unwrap_or_default();
    let got = c
        .secrets()
        .get_resource_policy()
        .secret_id(secret_arn)
        .send()
        .await
        .map_err(classify)?;
    let as_json = |s: &str| serde_json::from_str::<serde_json::Value>(s).ok();
    Ok(got
        .resource_policy()
        .and_then(as_json)
        .is_some_and(|p| Some(p) == as_json(&handover_policy(&arn))))
}

/// Deletes a handover's secret (at once, without the recovery window: it may hold a key) and
/// its key. Either may be gone already.
async fn undo(c: &Clients, user: &str, key_id: &str, secret_arn: &str) -> Result<(), AwsError> {
    let deleted = c
        .secrets()
        .delete_secret()
        .secret_id(secret_arn)
        .force_delete_without_recovery(true)
        .send()
        .await;
    if let Err(e) = deleted {
        match classify(e) {
            AwsError::NoSuchEntity(_) => {}
            other => return Err(other),
        }
    }
    let deleted = c
        .iam
        .delete_access_key()
        .user_name(user)
        .access_key_id(key_id)
        .send()
        .await;
    match deleted.map_err(classify) {
        Ok(_) | Err(AwsError::NoSuchEntity(_)) => Ok(()),
        Err(other) => Err(other),
    }
}

/// Creates the key and hands it over: the secret is made empty, its policy put, and only then
/// its value, so there is no moment at which identity policies alone decide who may read the
/// key. When any of that fails the key and the secret are deleted again: nobody could rely on
/// them, and the key would hold one of the user's two key slots.
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
    let mut made = None;
    let stored = store(
        c,
        secret_name,
        incident,
        &key_id,
        key.secret_access_key(),
        user_arn,
        &mut made,
    )
    .await;
    let secret_arn = match stored {
        Ok(arn) => arn,
        Err(e) => {
            let undone = match &made {
                Some(arn) => undo(c, user, &key_id, arn).await,
                None => undo_key(c, user, &key_id).await,
            };
            let note = match undone {
                Ok(()) => "the new key was deleted again".to_string(),
                Err(d) => format!("the new key {key_id} could not be deleted again: {d}"),
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

async fn undo_key(c: &Clients, user: &str, key_id: &str) -> Result<(), AwsError> {
    c.iam
        .delete_access_key()
        .user_name(user)
        .access_key_id(key_id)
        .send()
        .await
        .map_err(classify)?;
    Ok(())
}

/// The secret, empty; its policy; its value. `made` is set once the secret exists, so that a
/// failure after it deletes it too.
async fn store(
    c: &Clients,
    secret_name: &str,
    incident: &str,
    key_id: &str,
    secret: &str,
    user_arn: &str,
    made: &mut Option<String>,
) -> Result<String, AwsError> {
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    let out = c
        .secrets()
        .create_secret()
        .name(secret_name)
        .description(format!(
            "New access key for the user of keyleak incident {incident}"
        ))
        .tags(tag(TAG_INCIDENT, incident))
        .tags(tag(TAG_KEY, key_id))
        .send()
        .await
        .map_err(classify)?;
    let arn = out.arn().unwrap_or(secret_name).to_string();
    *made = Some(arn.clone());
    c.secrets()
        .put_resource_policy()
        .secret_id(&arn)
        .resource_policy(handover_policy(user_arn))
        .block_public_policy(true)
        .send()
        .await
        .map_err(classify)?;
    let value = serde_json::json!({"AccessKeyId": key_id, "SecretAccessKey": secret}).to_string();
    c.secrets()
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(value)
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
