//! The sandbox's story, played against moto and written into the CloudTrail and GuardDuty
//! emulators as AWS would have recorded it: a CI user's key leaked, and an attacker used it.
//! The records are the published examples in `tests/fixtures/cloudtrail` (their README says
//! where each comes from), made this story's own: its keys, names, ids and times.

use anyhow::{Context, anyhow};
use aws_config::{Region, SdkConfig};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::peers::moto::{Moto, OWN_ACCOUNT};
use super::peers::trail::{self, TrailEmulator};

/// The user whose key leaked.
pub const USER: &str = "ci-deploy";
/// A role the user may assume, which the attacker did.
pub const ROLE: &str = "deploy-admin";
/// The user the attacker made to come back later.
pub const BACKDOOR: &str = "svc-backup";
pub const SECRET: &str = "prod/db-password";
/// The attacker's address (RFC 5737's documentation range).
const ATTACKER_IP: &str = "203.0.113.77";
const HOME: &str = "us-east-1";
const AWAY: &str = "eu-west-1";

/// What the story left behind, for the page to tell and the tests to check.
pub struct Story {
    pub leaked_key: String,
    pub backdoor_key: String,
    /// (region, instance id) of every instance the attacker launched.
    pub instances: Vec<(String, String)>,
}

impl Story {
    /// The scenario as the page's sidebar tells it (Slack's mrkdwn).
    pub fn told(&self) -> String {
        format!(
            "`{USER}` has two access keys. One, `{}`, was pushed to a public repository \
             three hours ago, and someone used it: a session, the role `{ROLE}`, a new user \
             `{BACKDOOR}` with a key and a password, instances in {HOME} and {AWAY}, the \
             secret `{SECRET}`.\n\nContain it: `/keyleak contain {} found in a public repo`",
            self.leaked_key, self.leaked_key
        )
    }
}

const USER_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:*","iam:*","sts:*","secretsmanager:GetSecretValue","s3:*"],"Resource":"*"}]}"#;

fn trust_of_account() -> String {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{OWN_ACCOUNT}:root")},
        "Action": "sts:AssumeRole"}]})
    .to_string()
}

fn fixture(text: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text).context("a CloudTrail fixture")
}

/// Plays the story and records it.
pub async fn play(moto: &Moto, trail: &TrailEmulator) -> anyhow::Result<Story> {
    let owner = moto.own_config().await;
    let iam = aws_sdk_iam::Client::new(&owner);
    iam.create_user().user_name(USER).send().await?;
    iam.put_user_policy()
        .user_name(USER)
        .policy_name("deploy")
        .policy_document(USER_POLICY)
        .send()
        .await?;
    let (leaked_key, leaked_secret) = access_key(&iam, USER).await?;
    // The key that did not leak, which containment leaves alone.
    access_key(&iam, USER).await?;
    iam.create_role()
        .role_name(ROLE)
        .assume_role_policy_document(trust_of_account())
        .send()
        .await?;
    aws_sdk_secretsmanager::Client::new(&owner)
        .create_secret()
        .name(SECRET)
        .secret_string("sandbox-only, not a real password")
        .send()
        .await?;

    let stolen = moto.config(&leaked_key, &leaked_secret, None).await;
    let sts = aws_sdk_sts::Client::new(&stolen);
    let minted = sts
        .get_session_token()
        .send()
        .await?
        .credentials
        .ok_or_else(|| anyhow!("GetSessionToken answered without credentials"))?;
    let assumed = sts
        .assume_role()
        .role_arn(role_arn())
        .role_session_name("attacker")
        .send()
        .await?
        .credentials
        .ok_or_else(|| anyhow!("AssumeRole answered without credentials"))?;
    let as_role = moto
        .config(
            &assumed.access_key_id,
            &assumed.secret_access_key,
            Some(&assumed.session_token),
        )
        .await;
    let role_iam = aws_sdk_iam::Client::new(&as_role);
    role_iam.create_user().user_name(BACKDOOR).send().await?;
    let (backdoor_key, _) = access_key(&role_iam, BACKDOOR).await?;
    role_iam
        .create_login_profile()
        .user_name(BACKDOOR)
        .password("Sandbox-only-1!")
        .send()
        .await?;
    let mut instances = vec![];
    for (region, n) in [(HOME, 2), (AWAY, 1)] {
        for id in launch(&stolen, region, n).await? {
            instances.push((region.to_string(), id));
        }
    }
    let as_session = moto
        .config(
            &minted.access_key_id,
            &minted.secret_access_key,
            Some(&minted.session_token),
        )
        .await;
    aws_sdk_secretsmanager::Client::new(&as_session)
        .get_secret_value()
        .secret_id(SECRET)
        .send()
        .await?;

    let story = Story {
        leaked_key,
        backdoor_key,
        instances,
    };
    // moto answers GetSessionToken with one fixed example key, `AKIA…` shaped; AWS mints an
    // `ASIA…` key each time, and that is what CloudTrail records.
    let session_key = temporary_key_id();
    record(trail, &story, &session_key, &assumed.access_key_id)?;
    trail.guardduty(|g| {
        g.find(
            OWN_ACCOUNT,
            HOME,
            "UnauthorizedAccess:IAMUser/TorIPCaller",
            5.0,
            &story.leaked_key,
        )
    });
    Ok(story)
}

/// An `ASIA…` key id as STS makes them: 16 more characters of A–Z and 2–7.
fn temporary_key_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let tail: String = (0..16)
        .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
        .collect();
    format!("ASIA{tail}")
}

fn role_arn() -> String {
    format!("arn:aws:iam::{OWN_ACCOUNT}:role/{ROLE}")
}

async fn access_key(iam: &aws_sdk_iam::Client, user: &str) -> anyhow::Result<(String, String)> {
    let key = iam
        .create_access_key()
        .user_name(user)
        .send()
        .await?
        .access_key
        .ok_or_else(|| anyhow!("CreateAccessKey answered without a key"))?;
    Ok((key.access_key_id, key.secret_access_key))
}

/// `n` instances of the first image moto has in `region`; their ids.
async fn launch(config: &SdkConfig, region: &str, n: i32) -> anyhow::Result<Vec<String>> {
    let ec2 = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(config)
            .region(Region::new(region.to_string()))
            .build(),
    );
    let image = ec2
        .describe_images()
        .send()
        .await?
        .images()
        .first()
        .and_then(|i| i.image_id().map(str::to_string))
        .ok_or_else(|| anyhow!("moto has no images in {region}"))?;
    let run = ec2
        .run_instances()
        .image_id(image)
        .instance_type(aws_sdk_ec2::types::InstanceType::C524xlarge)
        .min_count(n)
        .max_count(n)
        .send()
        .await?;
    Ok(run
        .instances()
        .iter()
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect())
}

/// What CloudTrail recorded of the story, three hours ago and on.
fn record(trail: &TrailEmulator, story: &Story, minted: &str, assumed: &str) -> anyhow::Result<()> {
    let start = Utc::now() - Duration::hours(3);
    let at = |minutes: i64| start + Duration::minutes(minutes);
    let leaked = trail::user_identity(OWN_ACCOUNT, USER, &story.leaked_key);
    let session = trail::user_identity(OWN_ACCOUNT, USER, minted);
    let role = trail::role_identity(OWN_ACCOUNT, ROLE, assumed);
    let mut log = vec![];

    let mut v = fixture(include_str!(
        "../../tests/fixtures/cloudtrail/get_session_token.json"
    ))?;
    set(
        &mut v,
        "/responseElements/credentials/accessKeyId",
        json!(minted),
    )?;
    log.push((at(0), HOME, &leaked, v));
    log.push((
        at(2),
        HOME,
        &session,
        fixture(include_str!(
            "../../tests/fixtures/cloudtrail/list_users.json"
        ))?,
    ));
    let mut v = first_record(include_str!(
        "../../tests/fixtures/cloudtrail/techniques/credential_access.json"
    ))?;
    set(&mut v, "/requestParameters/secretId", json!(SECRET))?;
    log.push((at(4), HOME, &session, v));
    let mut v = fixture(include_str!(
        "../../tests/fixtures/cloudtrail/assume_role.json"
    ))?;
    set(&mut v, "/requestParameters/roleArn", json!(role_arn()))?;
    set(
        &mut v,
        "/requestParameters/roleSessionName",
        json!("attacker"),
    )?;
    set(
        &mut v,
        "/responseElements/credentials/accessKeyId",
        json!(assumed),
    )?;
    set(
        &mut v,
        "/responseElements/assumedRoleUser/arn",
        json!(format!(
            "arn:aws:sts::{OWN_ACCOUNT}:assumed-role/{ROLE}/attacker"
        )),
    )?;
    set(
        &mut v,
        "/resources",
        json!([{"accountId": OWN_ACCOUNT, "type": "AWS::IAM::Role", "ARN": role_arn()}]),
    )?;
    log.push((at(6), HOME, &leaked, v));
    let mut v = fixture(include_str!(
        "../../tests/fixtures/cloudtrail/create_user.json"
    ))?;
    set(&mut v, "/requestParameters/userName", json!(BACKDOOR))?;
    set(&mut v, "/responseElements/user/userName", json!(BACKDOOR))?;
    set(
        &mut v,
        "/responseElements/user/arn",
        json!(format!("arn:aws:iam::{OWN_ACCOUNT}:user/{BACKDOOR}")),
    )?;
    log.push((at(8), HOME, &role, v));
    let mut v = fixture(include_str!(
        "../../tests/fixtures/cloudtrail/create_access_key.json"
    ))?;
    set(&mut v, "/requestParameters/userName", json!(BACKDOOR))?;
    set(
        &mut v,
        "/responseElements/accessKey/userName",
        json!(BACKDOOR),
    )?;
    set(
        &mut v,
        "/responseElements/accessKey/accessKeyId",
        json!(story.backdoor_key),
    )?;
    log.push((at(9), HOME, &role, v));
    let mut v = fixture(include_str!(
        "../../tests/fixtures/cloudtrail/create_login_profile.json"
    ))?;
    set(&mut v, "/requestParameters/userName", json!(BACKDOOR))?;
    set(
        &mut v,
        "/responseElements/loginProfile/userName",
        json!(BACKDOOR),
    )?;
    log.push((at(10), HOME, &role, v));
    for (n, region) in [HOME, AWAY].into_iter().enumerate() {
        let ids: Vec<Value> = story
            .instances
            .iter()
            .filter(|(r, _)| r == region)
            .map(|(_, id)| json!({"instanceId": id, "instanceState": {"code": 0, "name": "pending"}, "instanceType": "c5.24xlarge"}))
            .collect();
        let mut v = fixture(include_str!(
            "../../tests/fixtures/cloudtrail/run_instances.json"
        ))?;
        set(
            &mut v,
            "/responseElements/instancesSet/items",
            Value::Array(ids),
        )?;
        set(&mut v, "/responseElements/ownerId", json!(OWN_ACCOUNT))?;
        let count = json!(story.instances.iter().filter(|(r, _)| r == region).count());
        set(
            &mut v,
            "/requestParameters/instancesSet/items/0/minCount",
            count.clone(),
        )?;
        set(
            &mut v,
            "/requestParameters/instancesSet/items/0/maxCount",
            count,
        )?;
        log.push((at(12 + 2 * n as i64), region, &leaked, v));
    }

    for (time, region, who, mut v) in log {
        stamp(&mut v, time, region, who);
        trail
            .log(&v)
            .map_err(|field| anyhow!("a scenario record lacks {field}"))?;
    }
    Ok(())
}

/// Sets a field the published record has.
fn set(v: &mut Value, pointer: &str, value: Value) -> anyhow::Result<()> {
    *v.pointer_mut(pointer)
        .ok_or_else(|| anyhow!("{pointer} is not in the published record"))? = value;
    Ok(())
}

fn first_record(text: &str) -> anyhow::Result<Value> {
    fixture(text)?["Records"]
        .get(0)
        .cloned()
        .ok_or_else(|| anyhow!("a technique fixture without records"))
}

/// The story's own id, time, place, caller and address on a published record.
fn stamp(v: &mut Value, time: DateTime<Utc>, region: &str, who: &Value) {
    v["eventID"] = json!(uuid::Uuid::new_v4().to_string());
    v["sourceIPAddress"] = json!(ATTACKER_IP);
    v["eventTime"] = json!(time.to_rfc3339_opts(SecondsFormat::Secs, true));
    v["awsRegion"] = json!(region);
    v["userIdentity"] = who.clone();
    v["recipientAccountId"] = json!(OWN_ACCOUNT);
}
