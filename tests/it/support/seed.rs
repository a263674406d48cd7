//! Realistic accounts in moto: a CI user with two keys, policies and a group.

use aws_sdk_iam::types::StatusType;

pub struct Key {
    pub id: String,
    /// Test-only: used to sign requests as the attacker would.
    pub secret: String,
}

pub struct Seeded {
    pub user: String,
    pub leaked: Key,
    pub other: Key,
}

/// `n` running instances of the first image moto has; their ids.
pub async fn instances(ec2: &aws_sdk_ec2::Client, n: i32) -> Vec<String> {
    let image = ec2
        .describe_images()
        .send()
        .await
        .unwrap()
        .images()
        .first()
        .and_then(|i| i.image_id().map(str::to_string))
        .expect("moto has images");
    let run = ec2
        .run_instances()
        .image_id(image)
        .min_count(n)
        .max_count(n)
        .send()
        .await
        .unwrap();
    run.instances()
        .iter()
        .map(|i| i.instance_id().unwrap().to_string())
        .collect()
}

/// Asserts that every one of the instances is terminated or on its way there.
pub async fn assert_terminated(ec2: &aws_sdk_ec2::Client, ids: &[String]) {
    let states: Vec<String> = ec2
        .describe_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .send()
        .await
        .unwrap()
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| i.state().unwrap().name().unwrap().as_str().to_string())
        .collect();
    assert_eq!(states.len(), ids.len(), "{states:?}");
    assert!(
        states
            .iter()
            .all(|s| s == "terminated" || s == "shutting-down"),
        "{states:?}"
    );
}

/// A role's trust policy for Lambda's service.
pub const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// The smallest valid zip archive (no entries): enough for moto to accept a function.
const EMPTY_ZIP: &[u8] = &[
    0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// A Python function, with a role of its own, as an attacker's would be.
pub async fn function(iam: &aws_sdk_iam::Client, lambda: &aws_sdk_lambda::Client, name: &str) {
    let role = iam
        .create_role()
        .role_name(format!("{name}-role"))
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .unwrap()
        .role
        .unwrap()
        .arn;
    lambda
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .role(role)
        .handler("index.handler")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_smithy_types::Blob::new(EMPTY_ZIP))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

pub const APP_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;

pub async fn ci_user(iam: &aws_sdk_iam::Client, user: &str) -> Seeded {
    iam.create_user().user_name(user).send().await.unwrap();
    iam.put_user_policy()
        .user_name(user)
        .policy_name("app-read")
        .policy_document(APP_POLICY)
        .send()
        .await
        .unwrap();
    let group = format!("{user}-group");
    iam.create_group().group_name(&group).send().await.unwrap();
    iam.add_user_to_group()
        .group_name(&group)
        .user_name(user)
        .send()
        .await
        .unwrap();
    let leaked = create_key(iam, user).await;
    let other = create_key(iam, user).await;
    Seeded {
        user: user.into(),
        leaked,
        other,
    }
}

pub async fn create_key(iam: &aws_sdk_iam::Client, user: &str) -> Key {
    let k = iam
        .create_access_key()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    Key {
        id: k.access_key_id,
        secret: k.secret_access_key,
    }
}

/// An admin user whose key the bot runs with when moto enforces IAM policies.
pub async fn admin(iam: &aws_sdk_iam::Client) -> Key {
    iam.create_user()
        .user_name("keyleak-bot")
        .send()
        .await
        .unwrap();
    iam.put_user_policy()
        .user_name("keyleak-bot")
        .policy_name("admin")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    create_key(iam, "keyleak-bot").await
}

pub async fn key_status(iam: &aws_sdk_iam::Client, user: &str, key: &str) -> StatusType {
    iam.list_access_keys()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .access_key_metadata
        .into_iter()
        .find(|k| k.access_key_id.as_deref() == Some(key))
        .and_then(|k| k.status)
        .expect("key listed")
}

/// The user's inline policy document as JSON (IAM returns it URL-encoded).
pub async fn user_policy(iam: &aws_sdk_iam::Client, user: &str, name: &str) -> serde_json::Value {
    let raw = iam
        .get_user_policy()
        .user_name(user)
        .policy_name(name)
        .send()
        .await
        .unwrap()
        .policy_document;
    serde_json::from_str(&raw).unwrap_or_else(|_| {
        let decoded = percent_encoding::percent_decode_str(&raw).decode_utf8_lossy();
        serde_json::from_str(&decoded).unwrap()
    })
}

/// A customer-managed policy allowing `APP_POLICY`; returns its ARN.
pub async fn managed_policy(iam: &aws_sdk_iam::Client, name: &str) -> String {
    iam.create_policy()
        .policy_name(name)
        .policy_document(APP_POLICY)
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
        .arn
        .unwrap()
}

/// The names of the user's inline policies.
pub async fn inline_policies(iam: &aws_sdk_iam::Client, user: &str) -> Vec<String> {
    iam.list_user_policies()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .policy_names
}
