//! CloudTrail for tests: the bot's SDK settings that send CloudTrail to the emulator and
//! everything else to moto (as `AWS_ENDPOINT_URL_CLOUDTRAIL` does in service), and records
//! built from the published examples in `tests/fixtures/cloudtrail`.

use aws_config::SdkConfig;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use sha2::Digest as _;

use super::trail_emu::{self, TrailEmulator};
use super::{App, Moto, Options};

/// The bot's own credentials, with CloudTrail at the emulator.
pub async fn bot_config(moto: &Moto, emulator: &TrailEmulator) -> SdkConfig {
    bot_config_at(&moto.url, emulator).await
}

/// The same, with everything but CloudTrail and GuardDuty at `aws` (moto, or a proxy to it).
pub async fn bot_config_at(aws: &str, emulator: &TrailEmulator) -> SdkConfig {
    keyleak::sandbox::peers::bot_config(aws, &emulator.url).await
}

/// The CloudTrail emulator in front of moto at `moto_url`, handing out the test digest key.
pub async fn emulator(moto_url: &str) -> TrailEmulator {
    TrailEmulator::start(moto_url)
        .await
        .unwrap()
        .with_digest_key(DIGEST_KEY_FINGERPRINT, digest_public_key())
}

/// moto, the CloudTrail emulator, and the bot wired to both with `opts`.
pub async fn start_with_trail(opts: Options) -> (Moto, TrailEmulator, App) {
    let moto = Moto::start().await.unwrap();
    let emulator = emulator(&moto.url).await;
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

    /// Every record of a technique family's log file (`techniques/{family}.json`), in order.
    pub fn family(family: &str) -> Vec<Self> {
        let file = fixture(&format!("techniques/{family}"));
        file["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let mut v = r.clone();
                v["eventID"] = json!(uuid::Uuid::new_v4().to_string());
                Self(v)
            })
            .collect()
    }

    /// The first record of a technique family's log file with this event name.
    pub fn of_family(family: &str, name: &str) -> Self {
        Self::family(family)
            .into_iter()
            .find(|r| r.0["eventName"] == name)
            .unwrap_or_else(|| panic!("no {name} in techniques/{family}"))
    }

    /// A console sign-in of `user`, as CloudTrail records one: with no access key.
    pub fn console_login(account: &str, user: &str) -> Self {
        Self::of_family("persistence", "ConsoleLogin")
            .set("/userIdentity/accountId", account.into())
            .set("/userIdentity/userName", user.into())
            .set(
                "/userIdentity/arn",
                format!("arn:aws:iam::{account}:user/{user}").into(),
            )
            .set("/recipientAccountId", account.into())
    }

    /// The caller: an IAM user's long-term key or its GetSessionToken session.
    pub fn by_user(mut self, account: &str, user: &str, key: &str) -> Self {
        self.0["userIdentity"] = trail_emu::user_identity(account, user, key);
        self.0["recipientAccountId"] = json!(account);
        self
    }

    /// The caller: a session of `role` in `account`.
    pub fn by_role(mut self, account: &str, role: &str, key: &str) -> Self {
        self.0["userIdentity"] = trail_emu::role_identity(account, role, key);
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
    gzip(json!({ "Records": records }).to_string().as_bytes())
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
    let mut out = vec![0; c.gzip_compress_bound(bytes.len())];
    let n = c.gzip_compress(bytes, &mut out).unwrap();
    out.truncate(n);
    out
}

/// The fingerprint the emulator's `ListPublicKeys` gives the test signing key.
pub const DIGEST_KEY_FINGERPRINT: &str = "6d0b2c1e4f3a59788a1b2c3d4e5f6071";

fn digest_signer() -> ring::signature::RsaKeyPair {
    let der = include_bytes!("../../fixtures/cloudtrail/digest-signing-key.der");
    ring::signature::RsaKeyPair::from_der(der).unwrap()
}

/// The public half of the test signing key, DER-encoded PKCS #1, as `ListPublicKeys` gives it.
pub fn digest_public_key() -> Vec<u8> {
    use ring::signature::KeyPair;
    digest_signer().public_key().as_ref().to_vec()
}

/// A digest file as CloudTrail writes one (`src/archive/digest.rs`), for the log files
/// `logs` (their keys and gzipped bodies) of `bucket`: its gzipped body and the S3 metadata
/// that carries its signature. `previous` is the digest before it and that one's signature.
pub fn signed_digest(
    bucket: &str,
    key: &str,
    logs: &[(String, Vec<u8>)],
    previous: Option<(&str, &str)>,
) -> (Vec<u8>, [(&'static str, String); 2]) {
    let end = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let files: Vec<Value> = logs
        .iter()
        .map(|(k, gz)| {
            let mut text = vec![];
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text)
                .unwrap();
            json!({
                "s3Bucket": bucket,
                "s3Object": k,
                "hashValue": hex::encode(sha2::Sha256::digest(&text)),
                "hashAlgorithm": "SHA-256",
            })
        })
        .collect();
    let text = json!({
        "awsAccountId": "111122223333",
        "digestStartTime": end,
        "digestEndTime": end,
        "digestS3Bucket": bucket,
        "digestS3Object": key,
        "digestPublicKeyFingerprint": DIGEST_KEY_FINGERPRINT,
        "digestSignatureAlgorithm": "SHA256withRSA",
        "previousDigestS3Bucket": previous.map(|_| bucket),
        "previousDigestS3Object": previous.map(|(k, _)| k),
        "previousDigestSignature": previous.map(|(_, s)| s),
        "logFiles": files,
    })
    .to_string();
    let to_sign = format!(
        "{end}\n{bucket}/{key}\n{}\n{}",
        hex::encode(sha2::Sha256::digest(text.as_bytes())),
        previous.map_or("null", |(_, s)| s)
    );
    let pair = digest_signer();
    let mut sig = vec![0; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        to_sign.as_bytes(),
        &mut sig,
    )
    .unwrap();
    (
        gzip(text.as_bytes()),
        [
            ("signature", hex::encode(sig)),
            ("signature-algorithm", "SHA256withRSA".into()),
        ],
    )
}
