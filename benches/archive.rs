//! Archive scan benchmark (docs/design.md §8), run with `cargo bench --bench archive [MB]`.
//!
//! Writes a CloudTrail archive of about `MB` (default 1100) megabytes of decompressed log in
//! the organization layout, in files of realistic size (under 128 KiB compressed), with the
//! key in a few records. Then, in the same run, over the same files:
//! - keyleak's scanner in this process, on one worker and on every core (MB/s of
//!   decompressed log, records/s, files/s);
//! - `keyleak investigate --archive` (the release binary) on the whole archive and on a
//!   quarter of it, with its peak RSS from `/usr/bin/time -v`;
//! - `zcat … | grep -c KEY` and a `jq` filter, the pipelines a responder would otherwise run
//!   (`jq` comes from Debian's `jq` package);
//! - the scanner on one worker with each file checked against the SHA-256 a signed digest
//!   gives for it, against the plain scan, and the RSA verification of one digest.

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use keyleak::archive::digest::{self, Found, PublicKey};
use keyleak::archive::scan::{Needles, Scanner};
use keyleak::archive::scan_dir;
use serde_json::json;
use support::trail;

const KEY: &str = "AKIAIOSFODNN7BENCH01";
const RECORDS_PER_FILE: usize = 900;
const BIN: &str = env!("CARGO_BIN_EXE_keyleak");

/// A record in the shape of a busy account's data and management events.
fn record(n: usize, with_key: bool) -> serde_json::Value {
    let key = if with_key {
        KEY.to_string()
    } else {
        format!("ASIA{:016X}", n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    };
    let (source, name) = [
        ("s3.amazonaws.com", "GetObject"),
        ("ec2.amazonaws.com", "DescribeInstances"),
        ("kms.amazonaws.com", "Decrypt"),
        ("sts.amazonaws.com", "AssumeRole"),
        ("s3.amazonaws.com", "PutObject"),
    ][n % 5];
    json!({
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": format!("AROA{:016X}:i-0{:x}", n % 97, n % 4099),
            "arn": format!("arn:aws:sts::111122223333:assumed-role/app-{}/i-0{:x}", n % 50, n % 4099),
            "accountId": "111122223333",
            "accessKeyId": key,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": format!("AROA{:016X}", n % 97),
                    "arn": format!("arn:aws:iam::111122223333:role/app-{}", n % 50),
                    "accountId": "111122223333",
                    "userName": format!("app-{}", n % 50)
                },
                "attributes": {"creationDate": "2026-11-20T15:07:39Z", "mfaAuthenticated": "false"}
            }
        },
        "eventTime": format!("2026-11-20T{:02}:{:02}:{:02}Z", n / 3600 % 24, n / 60 % 60, n % 60),
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": format!("10.{}.{}.{}", n % 7, n / 7 % 256, n / 1792 % 256),
        "userAgent": format!("aws-sdk-java/1.12.{} Linux/5.10.{} OpenJDK_64-Bit_Server_VM/17.0.{}", n % 700, n % 230, n % 12),
        "requestParameters": {
            "bucketName": format!("data-lake-{}", n % 40),
            "key": format!("raw/2026/11/20/part-{n:08}-{:x}.parquet", n.wrapping_mul(2_654_435_761)),
            "Host": format!("data-lake-{}.s3.us-east-1.amazonaws.com", n % 40)
        },
        "responseElements": null,
        "additionalEventData": {"bytesTransferredIn": 0, "bytesTransferredOut": n % 100_000},
        "requestID": format!("{:016X}", n.wrapping_mul(0x2545_F491_4F6C_DD1D)),
        "eventID": format!("{:08x}-0000-4000-8000-{:012x}", n, n.wrapping_mul(7919)),
        "readOnly": true,
        "eventType": "AwsApiCall",
        "managementEvent": !n.is_multiple_of(5),
        "recipientAccountId": "111122223333",
        "eventCategory": if n.is_multiple_of(5) { "Data" } else { "Management" }
    })
}

/// Writes files until `bytes` of decompressed log; returns (files, records, bytes, compressed).
fn generate(dir: &Path, bytes: usize) -> (Vec<PathBuf>, usize, usize, usize) {
    let mut compressor = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
    let (mut files, mut records, mut raw, mut packed) = (vec![], 0, 0, 0);
    let mut n = 0;
    while raw < bytes {
        let file_no = files.len();
        let day = dir.join(format!(
            "AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail/us-east-1/2026/11/{:02}",
            1 + file_no % 28
        ));
        std::fs::create_dir_all(&day).unwrap();
        let batch: Vec<serde_json::Value> = (0..RECORDS_PER_FILE)
            .map(|i| {
                n += 1;
                // The key in one record of every 97th file.
                record(n, i == 0 && file_no.is_multiple_of(97))
            })
            .collect();
        // One file, one line, as `grep -c` counts them.
        let text = json!({ "Records": batch }).to_string() + "\n";
        let mut gz = vec![0; compressor.gzip_compress_bound(text.len())];
        let len = compressor.gzip_compress(text.as_bytes(), &mut gz).unwrap();
        let path = day.join(format!(
            "111122223333_CloudTrail_us-east-1_20261120T{:04}Z_{file_no:06}.json.gz",
            file_no % 2400
        ));
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&gz[..len])
            .unwrap();
        files.push(path);
        records += RECORDS_PER_FILE;
        raw += text.len();
        packed += len;
    }
    (files, records, raw, packed)
}

fn sh(script: &str) -> (f64, String) {
    let start = Instant::now();
    let out = Command::new("sh").arg("-c").arg(script).output().unwrap();
    let took = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        took,
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

/// Wall time and peak RSS (KiB) of the CLI over `dir`.
fn cli(dir: &Path) -> (f64, u64) {
    let out = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let run = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(BIN)
        .args(["investigate", KEY, "--since", "3650d", "--archive"])
        .arg(dir)
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let took = start.elapsed().as_secs_f64();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let rss = String::from_utf8_lossy(&run.stderr)
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (took, rss)
}

/// Decompression alone, one core, two decoders: the floor under any scan.
fn decoders(files: &[PathBuf], mb_raw: f64) {
    let blobs: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let mut out = vec![0u8; 8 << 20];
    let mut libdeflate = libdeflater::Decompressor::new();
    let start = Instant::now();
    for b in &blobs {
        libdeflate.gzip_decompress(b, &mut out).unwrap();
    }
    let s = start.elapsed().as_secs_f64();
    println!(
        "decompress only, libdeflate: {s:.2} s, {:.0} MB/s",
        mb_raw / s
    );
    let start = Instant::now();
    for b in &blobs {
        let mut sink = Vec::with_capacity(8 << 20);
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&b[..]), &mut sink).unwrap();
    }
    let s = start.elapsed().as_secs_f64();
    println!(
        "decompress only, flate2 (zlib-rs): {s:.2} s, {:.0} MB/s",
        mb_raw / s
    );
}

/// The scan with each file checked against its digest's SHA-256, against the plain scan, one
/// core, in turns so both meet the same machine; then one digest's verification.
fn digest_checks(files: &[PathBuf], mb_raw: f64) {
    let blobs: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let mut out = vec![0u8; 8 << 20];
    let mut d = libdeflater::Decompressor::new();
    let hashes: Vec<[u8; 32]> = blobs
        .iter()
        .map(|b| {
            let n = d.gzip_decompress(b, &mut out).unwrap();
            digest::sha256(&out[..n])
        })
        .collect();
    let needles = Needles::new([KEY.to_string()]);
    let mut scanner = Scanner::default();
    let mut took = [0.0f64; 2];
    for round in 0..6 {
        let checked = round % 2 == 1;
        let start = Instant::now();
        for (b, h) in blobs.iter().zip(&hashes) {
            let f = scanner
                .scan(b, &needles, 100 << 20, checked.then_some(h))
                .unwrap();
            assert_eq!(f.vouched, checked.then_some(true));
        }
        took[usize::from(checked)] += start.elapsed().as_secs_f64();
    }
    let (plain, checked) = (took[0] / 3.0, took[1] / 3.0);
    println!(
        "keyleak scanner, 1 worker, plain: {plain:.2} s, {:.0} MB/s; each file checked against \
         its digest: {checked:.2} s, {:.0} MB/s ({:.2}x the time)",
        mb_raw / plain,
        mb_raw / checked,
        checked / plain
    );
    // One digest listing an hour of a busy region's files, signed as the tests sign.
    let key = "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/20/\
               111122223333_CloudTrail-Digest_us-east-1_org_us-east-1_20261120T160000Z.json.gz";
    let listed: Vec<(String, Vec<u8>)> = blobs
        .iter()
        .take(24)
        .enumerate()
        .map(|(i, b)| (format!("f{i}.json.gz"), b.clone()))
        .collect();
    let (gz, metadata) = trail::signed_digest("org-trail-logs", key, &listed, None);
    let public = PublicKey {
        fingerprint: trail::DIGEST_KEY_FINGERPRINT.into(),
        der: trail::digest_public_key(),
    };
    let n = 1000;
    let start = Instant::now();
    for _ in 0..n {
        let f = Found {
            bucket: "org-trail-logs",
            key,
            gz: &gz,
            signature: Some(&metadata[0].1),
            algorithm: Some(&metadata[1].1),
        };
        digest::verify(&f, std::slice::from_ref(&public)).unwrap();
    }
    println!(
        "digest verification (listing {} files): {:.0} µs each",
        listed.len(),
        start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    );
}

fn main() {
    let mb: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1100);
    let root = tempfile::tempdir().unwrap();
    let whole = root.path().join("whole");
    let (files, records, raw, packed) = generate(&whole, mb * 1_000_000);
    let mb_raw = raw as f64 / 1e6;
    println!(
        "archive: {} files, {records} records, {mb_raw:.0} MB decompressed, {:.0} MB compressed \
         ({:.0} KB a file)",
        files.len(),
        packed as f64 / 1e6,
        packed as f64 / 1e3 / files.len() as f64
    );
    // A quarter of the files, for memory against input size.
    let quarter = root.path().join("quarter");
    for f in files.iter().step_by(4) {
        let to = quarter.join(f.strip_prefix(&whole).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::hard_link(f, to).unwrap();
    }
    // Warm the page cache so every contender reads from memory.
    sh(&format!(
        "cat $(find {} -name '*.json.gz') > /dev/null",
        whole.display()
    ));

    decoders(&files, mb_raw);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let needles = Needles::new([KEY.to_string()]);
    for workers in [1, cores] {
        let start = Instant::now();
        let log = scan_dir(
            &whole,
            &needles,
            &keyleak::archive::layout::Delivered::ANY,
            workers,
            &keyleak::archive::ScanProgress::default(),
        )
        .unwrap();
        let s = start.elapsed().as_secs_f64();
        println!(
            "keyleak scanner, {workers} worker(s): {s:.2} s, {:.0} MB/s, {:.0} records/s, {:.0} \
             files/s, {} events found, {} skipped",
            mb_raw / s,
            records as f64 / s,
            files.len() as f64 / s,
            log.events.len(),
            log.skipped
        );
    }
    digest_checks(&files, mb_raw);
    let (t, rss) = cli(&whole);
    println!(
        "keyleak investigate --archive (whole): {t:.2} s, peak RSS {} MB",
        rss / 1024
    );
    let (t, rss) = cli(&quarter);
    println!(
        "keyleak investigate --archive (quarter): {t:.2} s, peak RSS {} MB",
        rss / 1024
    );

    let find = format!("find {} -name '*.json.gz' -print0", whole.display());
    let (t, count) = sh(&format!("{find} | xargs -0 zcat | grep -c {KEY}"));
    println!(
        "zcat | grep -c: {t:.2} s, {:.0} MB/s, {count} lines",
        mb_raw / t
    );
    let (t, count) = sh(&format!(
        "{find} | xargs -0 zcat | jq -c '.Records[] | select(.userIdentity.accessKeyId == \"{KEY}\")' | wc -l"
    ));
    println!(
        "jq filter: {t:.2} s, {:.0} MB/s, {count} records",
        mb_raw / t
    );
}
