//! CloudTrail for tests: the bot's SDK settings that send CloudTrail to the emulator and
//! everything else to moto (as `AWS_ENDPOINT_URL_CLOUDTRAIL` does in service), and records
//! built from the published examples in `tests/fixtures/cloudtrail`.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::trail_emu::TrailEmulator;
use super::{App, Moto, Options};

/// Per-service endpoints, as the SDK reads them from `AWS_ENDPOINT_URL_<SERVICE>`.
#[derive(Debug)]
struct Endpoints {
    moto: String,
    emulator: String,
}

impl LoadServiceConfig for Endpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        if key.env() != "AWS_ENDPOINT_URL" {
            return None;
        }
        Some(match key.service_id() {
            "CloudTrail" | "GuardDuty" => self.emulator.clone(),
            _ => self.moto.clone(),
        })
    }
}

/// The bot's own credentials, with CloudTrail at the emulator.
pub async fn bot_config(moto: &Moto, emulator: &TrailEmulator) -> SdkConfig {
    bot_config_at(&moto.url, emulator).await
}

/// The same, with everything but CloudTrail and GuardDuty at `aws` (moto, or a proxy to it).
pub async fn bot_config_at(aws: &str, emulator: &TrailEmulator) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "AKIAKEYLEAKTESTADMIN",
            "test-secret",
            None,
            None,
            "test",
        ))
        .load()
        .await
        .to_builder()
        .service_config(Endpoints {
            moto: aws.to_string(),
            emulator: emulator.url.clone(),
        })
        .build()
}

/// moto, the CloudTrail emulator, and the bot wired to both with `opts`.
pub async fn start_with_trail(opts: Options) -> (Moto, TrailEmulator, App) {
    let moto = Moto::start().await;
    let emulator = TrailEmulator::start(&moto.url).await;
    let app = App::start(bot_config(&moto, &emulator).await, opts).await;
    (moto, emulator, app)
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/cloudtrail/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// A record copied from a published example, then made this scenario's own.
pub struct Record(Value);

impl Record {
    /// `fixture` names a file in `tests/fixtures/cloudtrail` (without `.json`).
    pub fn from(fixture_name: &str) -> Self {
        let mut v = fixture(fixture_name);
        v["eventID"] = json!(uuid::Uuid::new_v4().to_string());
        Self(v)
    }

    /// The caller: an IAM user's long-term key or its GetSessionToken session.
    pub fn by_user(mut self, account: &str, user: &str, key: &str) -> Self {
        self.0["userIdentity"] = json!({
            "type": "IAMUser",
            "principalId": "AIDACKCEVSQ6C2EXAMPLE",
            "arn": format!("arn:aws:iam::{account}:user/{user}"),
            "accountId": account,
            "accessKeyId": key,
            "userName": user,
        });
        self.0["recipientAccountId"] = json!(account);
        self
    }

    /// The caller: a session of `role` in `account`.
    pub fn by_role(mut self, account: &str, role: &str, key: &str) -> Self {
        let role_arn = format!("arn:aws:iam::{account}:role/{role}");
        self.0["userIdentity"] = json!({
            "type": "AssumedRole",
            "principalId": "AROAIDPPEZS35WEXAMPLE:attacker",
            "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/attacker"),
            "accountId": account,
            "accessKeyId": key,
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "arn": role_arn, "accountId": account, "userName": role},
                "attributes": {"creationDate": "2026-11-20T15:07:39Z", "mfaAuthenticated": "false"}
            }
        });
        self.0["recipientAccountId"] = json!(account);
        self
    }

    pub fn at(mut self, t: DateTime<Utc>) -> Self {
        self.0["eventTime"] = json!(t.to_rfc3339_opts(SecondsFormat::Secs, true));
        self
    }

    pub fn region(mut self, r: &str) -> Self {
        self.0["awsRegion"] = json!(r);
        self
    }

    /// Sets a value at a JSON pointer whose parents exist.
    pub fn set(mut self, pointer: &str, value: Value) -> Self {
        *self
            .0
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{pointer} not in the record")) = value;
        self
    }

    pub fn named(mut self, name: &str) -> Self {
        self.0["eventName"] = json!(name);
        self
    }

    pub fn value(self) -> Value {
        self.0
    }
}

/// A CloudTrail log file: the records as `{"Records":[…]}`, gzipped.
pub fn trail_file(records: &[Value]) -> Vec<u8> {
    let text = json!({ "Records": records }).to_string();
    let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
    let mut out = vec![0; c.gzip_compress_bound(text.len())];
    let n = c.gzip_compress(text.as_bytes(), &mut out).unwrap();
    out.truncate(n);
    out
}
