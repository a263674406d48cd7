//! CloudTrail's digest files (the CloudTrail user guide, "CloudTrail digest file structure"
//! and "Custom implementations of CloudTrail log file integrity validation"): every hour, per
//! account and region, a gzipped JSON list of the log files delivered with the SHA-256 of each file's
//! decompressed content, signed by CloudTrail (SHA256withRSA). The signature and its
//! algorithm are the object's S3 metadata; the public keys come from CloudTrail's
//! `ListPublicKeys` in the trail's home region. Whoever can write to the bucket can plant a
//! log file, but not sign a digest: a verified digest vouches for the files it lists.

use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::scan::claimed_size;

/// A digest decompressing to more is refused: an hour of one region's files is a few
/// hundred entries of a few hundred bytes.
const MAX_DIGEST_BYTES: usize = 4 << 20;
const ALGORITHM: &str = "SHA256withRSA";

/// One of CloudTrail's signing keys, as `ListPublicKeys` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub fingerprint: String,
    /// A DER-encoded PKCS #1 `RSAPublicKey`.
    pub der: Vec<u8>,
}

/// A digest file as found in the bucket: where it is, its bytes, and the signature and
/// algorithm from its S3 metadata (`x-amz-meta-signature`, `x-amz-meta-signature-algorithm`).
pub struct Found<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub gz: &'a [u8],
    pub signature: Option<&'a str>,
    pub algorithm: Option<&'a str>,
}

/// What a verified digest vouches for.
#[derive(Debug, PartialEq, Eq)]
pub struct Vouched {
    /// The digest before it in the chain, when that one lives in the same bucket.
    pub previous: Option<String>,
    /// The log files of the same bucket, by key, each with its decompressed SHA-256.
    pub files: Vec<(String, [u8; 32])>,
}

/// Why a digest vouches for nothing. Every one of them is worth a person's attention: a
/// digest CloudTrail wrote verifies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("not a gzip file, or a damaged one")]
    BadGzip,
    #[error("it decompresses to {0} bytes, more than any digest file")]
    TooLarge(usize),
    #[error("not a digest file: {0}")]
    Format(String),
    #[error("it says it was written to another place: it has been moved or copied")]
    Moved,
    #[error("it carries no signature")]
    Unsigned,
    #[error("it is signed with {0}, not SHA256withRSA")]
    Algorithm(String),
    #[error("no CloudTrail public key has its fingerprint")]
    UnknownKey,
    #[error("its signature does not verify")]
    Signature,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    digest_end_time: String,
    digest_s3_bucket: String,
    digest_s3_object: String,
    digest_public_key_fingerprint: String,
    previous_digest_s3_bucket: Option<String>,
    previous_digest_s3_object: Option<String>,
    /// `null` in the first digest after validation was turned on.
    previous_digest_signature: Option<String>,
    #[serde(default)]
    log_files: Vec<RawLog>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    s3_bucket: String,
    s3_object: String,
    hash_value: String,
    hash_algorithm: String,
}

/// Checks a digest file as the AWS CLI's `validate-logs` does: where it says it was written,
/// who signed it, and over what.
pub fn verify(found: &Found<'_>, keys: &[PublicKey]) -> Result<Vouched, DigestError> {
    let inflated = inflate(found.gz)?;
    let raw: Raw =
        serde_json::from_slice(&inflated).map_err(|e| DigestError::Format(e.to_string()))?;
    if raw.digest_s3_bucket != found.bucket || raw.digest_s3_object != found.key {
        return Err(DigestError::Moved);
    }
    let signature = found.signature.ok_or(DigestError::Unsigned)?;
    match found.algorithm {
        Some(ALGORITHM) => {}
        Some(other) => return Err(DigestError::Algorithm(other.chars().take(40).collect())),
        None => return Err(DigestError::Unsigned),
    }
    let key = keys
        .iter()
        .find(|k| k.fingerprint == raw.digest_public_key_fingerprint)
        .ok_or(DigestError::UnknownKey)?;
    let signed = string_to_sign(&raw, &inflated);
    let signature = hex::decode(signature).map_err(|_| DigestError::Signature)?;
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &key.der)
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| DigestError::Signature)?;
    Ok(Vouched {
        previous: raw
            .previous_digest_s3_object
            .filter(|_| raw.previous_digest_s3_bucket.as_deref() == Some(found.bucket)),
        files: raw
            .log_files
            .into_iter()
            .filter(|l| l.s3_bucket == found.bucket && l.hash_algorithm == "SHA-256")
            .filter_map(|l| Some((l.s3_object, sha256_from_hex(&l.hash_value)?)))
            .collect(),
    })
}

/// `digestEndTime`, the digest's place, the SHA-256 of its decompressed bytes and the
/// previous digest's signature (`null` for none), a line each.
fn string_to_sign(raw: &Raw, inflated: &[u8]) -> String {
    format!(
        "{}\n{}/{}\n{}\n{}",
        raw.digest_end_time,
        raw.digest_s3_bucket,
        raw.digest_s3_object,
        hex::encode(Sha256::digest(inflated)),
        raw.previous_digest_signature.as_deref().unwrap_or("null")
    )
}

fn inflate(gz: &[u8]) -> Result<Vec<u8>, DigestError> {
    let claimed = claimed_size(gz).map_err(|_| DigestError::BadGzip)?;
    if claimed > MAX_DIGEST_BYTES {
        return Err(DigestError::TooLarge(claimed));
    }
    let mut out = vec![0; claimed.max(1)];
    let n = libdeflater::Decompressor::new()
        .gzip_decompress(gz, &mut out)
        .map_err(|_| DigestError::BadGzip)?;
    out.truncate(n);
    Ok(out)
}

fn sha256_from_hex(s: &str) -> Option<[u8; 32]> {
    hex::decode(s).ok()?.try_into().ok()
}

/// The trail's home region, whose keys sign its digests, from the file's name:
/// `<account>_CloudTrail-Digest_<region>_<trail>_<home region>_<end>[_backfill].json.gz`.
pub fn home_region(key: &str) -> Option<&str> {
    let name = key.rsplit('/').next()?.strip_suffix(".json.gz")?;
    let name = name.strip_suffix("_backfill").unwrap_or(name);
    let (rest, _end) = name.rsplit_once('_')?;
    let (_, region) = rest.rsplit_once('_')?;
    let plausible = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    plausible.then_some(region)
}

/// The SHA-256 a digest lists for a log file's decompressed content.
pub fn sha256(content: &[u8]) -> [u8; 32] {
    Sha256::digest(content).into()
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;
    use ring::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
    use serde_json::Value;

    use super::*;
    use crate::archive::scan::tests::gzip;

    const SAMPLE: &str = include_str!("../../tests/fixtures/cloudtrail/digest.json");
    const SIGNING_KEY: &[u8] =
        include_bytes!("../../tests/fixtures/cloudtrail/digest-signing-key.der");

    fn signer() -> (RsaKeyPair, PublicKey) {
        let pair = RsaKeyPair::from_der(SIGNING_KEY).unwrap();
        let public = PublicKey {
            fingerprint: "31e8b5433410dfb61a9dc45cc65b22ff".into(),
            der: pair.public_key().as_ref().to_vec(),
        };
        (pair, public)
    }

    /// The sample digest, compressed and signed as CloudTrail signs it.
    fn signed(text: &str) -> (Vec<u8>, String) {
        let (pair, _) = signer();
        let raw: Raw = serde_json::from_str(text).unwrap();
        let to_sign = string_to_sign(&raw, text.as_bytes());
        let mut sig = vec![0; pair.public().modulus_len()];
        pair.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            to_sign.as_bytes(),
            &mut sig,
        )
        .unwrap();
        (gzip(text.as_bytes()), hex::encode(sig))
    }

    fn sample_key() -> String {
        let v: Value = serde_json::from_str(SAMPLE).unwrap();
        v["digestS3Object"].as_str().unwrap().to_string()
    }

    fn found<'a>(key: &'a str, gz: &'a [u8], sig: &'a str) -> Found<'a> {
        Found {
            bucket: "amzn-s3-demo-bucket",
            key,
            gz,
            signature: Some(sig),
            algorithm: Some("SHA256withRSA"),
        }
    }

    #[test]
    fn the_published_sample_verifies_once_signed_and_vouches_for_its_log_file() {
        let (gz, sig) = signed(SAMPLE);
        let key = sample_key();
        let v = verify(&found(&key, &gz, &sig), &[signer().1]).unwrap();
        assert_eq!(v.files.len(), 1);
        assert!(v.files[0].0.ends_with("_9nYN7gp2eWAJHIfT.json.gz"));
        assert_eq!(
            hex::encode(v.files[0].1),
            "9bb6196fc6b84d6f075a56548feca262bd99ba3c2de41b618e5b6e22c1fc71f6"
        );
        assert!(
            v.previous
                .as_deref()
                .is_some_and(|p| p.ends_with("20150817T140131Z.json.gz"))
        );
    }

    #[test]
    fn a_digest_changed_moved_unsigned_or_signed_by_another_key_vouches_for_nothing() {
        let (gz, sig) = signed(SAMPLE);
        let key = sample_key();
        let keys = [signer().1];
        // One hash changed after signing.
        let edited = SAMPLE.replace("9bb6196f", "00000000");
        let (edited_gz, _) = signed(&edited);
        assert_eq!(
            verify(&found(&key, &edited_gz, &sig), &keys),
            Err(DigestError::Signature)
        );
        // Copied to another key.
        let elsewhere = key.replace("150131Z", "160131Z");
        assert_eq!(
            verify(&found(&elsewhere, &gz, &sig), &keys),
            Err(DigestError::Moved)
        );
        // No signature, another algorithm, a key CloudTrail does not publish.
        let mut f = found(&key, &gz, &sig);
        f.signature = None;
        assert_eq!(verify(&f, &keys), Err(DigestError::Unsigned));
        let mut f = found(&key, &gz, &sig);
        f.algorithm = Some("SHA1withRSA");
        assert_eq!(
            verify(&f, &keys),
            Err(DigestError::Algorithm("SHA1withRSA".into()))
        );
        let stranger = PublicKey {
            fingerprint: "another".into(),
            ..signer().1
        };
        assert_eq!(
            verify(&found(&key, &gz, &sig), &[stranger]),
            Err(DigestError::UnknownKey)
        );
        // A signature that is not hex, and one over other bytes.
        assert_eq!(
            verify(&found(&key, &gz, "zz"), &keys),
            Err(DigestError::Signature)
        );
        let other = hex::encode([7u8; 256]);
        assert_eq!(
            verify(&found(&key, &gz, &other), &keys),
            Err(DigestError::Signature)
        );
        // Not gzip, not JSON.
        assert_eq!(
            verify(&found(&key, b"not even gzip", &sig), &keys),
            Err(DigestError::BadGzip)
        );
        assert!(matches!(
            verify(&found(&key, &gzip(b"[]"), &sig), &keys),
            Err(DigestError::Format(_))
        ));
    }

    #[test]
    fn the_first_digest_signs_null_for_the_previous_signature() {
        let mut v: Value = serde_json::from_str(SAMPLE).unwrap();
        v["previousDigestSignature"] = Value::Null;
        let raw: Raw = serde_json::from_value(v).unwrap();
        assert!(string_to_sign(&raw, b"{}").ends_with("\nnull"));
    }

    #[test]
    fn the_home_region_is_read_from_the_file_name() {
        assert_eq!(home_region(&sample_key()), Some("us-east-2"));
        assert_eq!(
            home_region(
                "AWSLogs/1/CloudTrail-Digest/eu-west-1/2026/11/30/1_CloudTrail-Digest_eu-west-1_org_trail_us-east-1_20261130T010000Z_backfill.json.gz"
            ),
            Some("us-east-1")
        );
        assert_eq!(home_region("digest.json.gz"), None);
    }
}
