//! One CloudTrail log file: a gzip of `{"Records":[…]}`, decompressed whole (CloudTrail
//! writes files of a few MB at most, and the gzip trailer says how big) with libdeflate,
//! the fastest of the decoders measured (BENCHMARKS.md). Most files hold none of the keys:
//! a substring search over the decompressed bytes rejects them before any JSON is read, and
//! in the others only the records that contain a key are parsed.

use libdeflater::{DecompressionError, Decompressor};
use memchr::memmem::Finder;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::domain::trail::{TrailEvent, parse_record};

/// A decompression buffer larger than this is given back after its file: memory follows the
/// files being scanned now, not the largest one a worker ever met.
const KEEP_BUFFER_BYTES: usize = 8 << 20;

/// The keys searched for, as substrings and as exact `userIdentity.accessKeyId` values.
pub struct Needles {
    keys: Vec<String>,
    finders: Vec<Finder<'static>>,
}

impl Needles {
    pub fn new(keys: impl IntoIterator<Item = String>) -> Self {
        let keys: Vec<String> = keys.into_iter().collect();
        let finders = keys
            .iter()
            .map(|k| Finder::new(k.as_bytes()).into_owned())
            .collect();
        Self { keys, finders }
    }

    fn any_in(&self, hay: &[u8]) -> bool {
        self.finders.iter().any(|f| f.find(hay).is_some())
    }

    fn made_by_one(&self, e: &TrailEvent) -> bool {
        e.identity
            .access_key_id
            .as_deref()
            .is_some_and(|k| self.keys.iter().any(|x| x == k))
    }
}

/// Why a file could not be read. Reported with the file's name, never a crash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("not a gzip file, or a damaged one")]
    BadGzip,
    #[error("the gzip says {0} bytes, more than any CloudTrail file")]
    TooLarge(usize),
    #[error("not a CloudTrail file: {0}")]
    NotTrail(String),
}

/// What one file gave.
#[derive(Debug, Default, PartialEq)]
pub struct FileScan {
    pub events: Vec<TrailEvent>,
    /// Decompressed bytes read.
    pub bytes: usize,
    /// Records parsed because they contained a key (0 for a file rejected whole).
    pub parsed: usize,
    /// Records that contained a key but could not be read, with why.
    pub skipped: Vec<String>,
    /// Whether the content is what a verified digest lists; `None` where none covers it.
    pub vouched: Option<bool>,
    /// Aggregated data-event records (`AwsAggregatedEvent`): five-minute summaries of calls
    /// that are not listed one by one, so none of them can be told to be a key's.
    pub aggregated: usize,
}

/// How CloudTrail marks an aggregated record (`"eventType":"AwsAggregatedEvent"`).
const AGGREGATED: &[u8] = b"\"AwsAggregatedEvent\"";

/// Reusable per worker: the decoder and its output buffer.
pub struct Scanner {
    decoder: Decompressor,
    buf: Vec<u8>,
}

impl Default for Scanner {
    fn default() -> Self {
        Self {
            decoder: Decompressor::new(),
            buf: vec![],
        }
    }
}

#[derive(Deserialize)]
struct File<'a> {
    #[serde(rename = "Records", borrow)]
    records: Vec<&'a RawValue>,
}

/// The decompressed size a gzip's trailer claims (modulo 2^32: checked, never trusted).
pub fn claimed_size(gz: &[u8]) -> Result<usize, FileError> {
    // The smallest gzip is 18 bytes: a 10-byte header, an empty block, an 8-byte trailer.
    if gz.len() < 18 || gz[..2] != [0x1f, 0x8b] {
        return Err(FileError::BadGzip);
    }
    let trailer: [u8; 4] = gz
        .len()
        .checked_sub(4)
        .and_then(|at| gz[at..].try_into().ok())
        .ok_or(FileError::BadGzip)?;
    Ok(u32::from_le_bytes(trailer) as usize)
}

impl Scanner {
    /// The events in one gzipped log file that one of the keys made. A file that claims to
    /// decompress to more than `max_bytes` is refused unread. With the SHA-256 a verified
    /// digest gives for it, the content is checked against it first: a file changed after
    /// delivery gives no events (its records without a key may have been the ones changed).
    pub fn scan(
        &mut self,
        gz: &[u8],
        needles: &Needles,
        max_bytes: usize,
        sha256: Option<&[u8; 32]>,
    ) -> Result<FileScan, FileError> {
        let scanned = self.scan_file(gz, needles, max_bytes, sha256);
        if self.buf.len() > KEEP_BUFFER_BYTES {
            self.buf = Vec::new();
        }
        scanned
    }

    fn scan_file(
        &mut self,
        gz: &[u8],
        needles: &Needles,
        max_bytes: usize,
        sha256: Option<&[u8; 32]>,
    ) -> Result<FileScan, FileError> {
        let size = self.decompress(gz, max_bytes)?;
        let text = &self.buf[..size];
        let mut out = FileScan {
            bytes: size,
            vouched: sha256.map(|want| super::digest::sha256(text) == *want),
            ..FileScan::default()
        };
        if out.vouched == Some(false) {
            return Ok(out);
        }
        out.aggregated = memchr::memmem::find_iter(text, AGGREGATED).count();
        if !needles.any_in(text) {
            return Ok(out);
        }
        let file: File<'_> =
            serde_json::from_slice(text).map_err(|e| FileError::NotTrail(e.to_string()))?;
        for raw in file.records {
            let raw = raw.get();
            let bytes = raw.as_bytes();
            if !needles.any_in(bytes) || memchr::memmem::find(bytes, AGGREGATED).is_some() {
                continue;
            }
            out.parsed += 1;
            match parse_record(raw) {
                Ok(e) if needles.made_by_one(&e) => out.events.push(e),
                Ok(_) => {}
                Err(e) => out.skipped.push(e.to_string()),
            }
        }
        Ok(out)
    }

    fn decompress(&mut self, gz: &[u8], max_bytes: usize) -> Result<usize, FileError> {
        let claimed = claimed_size(gz)?;
        if claimed > max_bytes {
            return Err(FileError::TooLarge(claimed));
        }
        if self.buf.len() < claimed.max(1) {
            self.buf.resize(claimed.max(1), 0);
        }
        match self
            .decoder
            .gzip_decompress(gz, &mut self.buf[..claimed.max(1)])
        {
            Ok(n) => Ok(n),
            Err(DecompressionError::BadData | DecompressionError::InsufficientSpace) => {
                Err(FileError::BadGzip)
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;

    use super::*;
    use crate::domain::trail::fixtures;

    pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
        let mut out = vec![0; c.gzip_compress_bound(bytes.len())];
        let n = c.gzip_compress(bytes, &mut out).unwrap();
        out.truncate(n);
        out
    }

    fn file(records: &[&str]) -> Vec<u8> {
        let mut text = Vec::new();
        write!(text, "{{\"Records\":[{}]}}", records.join(",")).unwrap();
        gzip(&text)
    }

    const MAX: usize = 100 << 20;

    fn needles(keys: &[&str]) -> Needles {
        Needles::new(keys.iter().map(|k| k.to_string()))
    }

    #[test]
    fn only_the_keys_calls_are_kept() {
        let gz = file(&[
            fixtures::LIST_USERS,
            fixtures::RUN_INSTANCES,
            fixtures::ASSUME_ROLE,
        ]);
        let out = Scanner::default()
            .scan(&gz, &needles(&["AKIAIOSFODNN7EXAMPLE"]), MAX, None)
            .unwrap();
        let names: Vec<&str> = out.events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["ListUsers", "AssumeRole"]);
        // RunInstances by the role session does not hold the key at all.
        assert_eq!(out.parsed, 2);
        assert!(out.skipped.is_empty());
    }

    #[test]
    fn aggregated_records_are_counted_not_read_as_calls_nor_as_unreadable() {
        // What an aggregated record names is a summary dimension, never a call's signer:
        // one that happens to name the key is counted with the others, not parsed.
        let naming_the_key = fixtures::AGGREGATED.replace("bucket-3", "AKIAIOSFODNN7EXAMPLE");
        let gz = file(&[fixtures::AGGREGATED, &naming_the_key, fixtures::LIST_USERS]);
        let out = Scanner::default()
            .scan(&gz, &needles(&["AKIAIOSFODNN7EXAMPLE"]), MAX, None)
            .unwrap();
        assert_eq!(out.aggregated, 2);
        assert_eq!(out.events.len(), 1);
        assert!(out.skipped.is_empty(), "{:?}", out.skipped);
        let none_of_the_keys = Scanner::default()
            .scan(
                &file(&[fixtures::AGGREGATED]),
                &needles(&["AKIAEXAMPLEOTHERKEY1"]),
                MAX,
                None,
            )
            .unwrap();
        assert_eq!(none_of_the_keys.aggregated, 1, "counted in every file read");
    }

    #[test]
    fn a_record_that_merely_mentions_the_key_is_not_its_call() {
        // AssumeRole's response names the session key; the call was made by the parent.
        let gz = file(&[fixtures::ASSUME_ROLE]);
        let out = Scanner::default()
            .scan(&gz, &needles(&["ASIAI44QH8DHBEXAMPLE"]), MAX, None)
            .unwrap();
        assert!(out.events.is_empty());
        assert_eq!(out.parsed, 1);
    }

    #[test]
    fn a_file_a_digest_vouches_for_is_checked_and_a_changed_one_gives_nothing() {
        let text = format!("{{\"Records\":[{}]}}", fixtures::LIST_USERS);
        let gz = gzip(text.as_bytes());
        let n = needles(&["AKIAIOSFODNN7EXAMPLE"]);
        let right = crate::archive::digest::sha256(text.as_bytes());
        let out = Scanner::default().scan(&gz, &n, MAX, Some(&right)).unwrap();
        assert_eq!((out.vouched, out.events.len()), (Some(true), 1));
        let wrong = crate::archive::digest::sha256(b"what CloudTrail delivered");
        let out = Scanner::default().scan(&gz, &n, MAX, Some(&wrong)).unwrap();
        assert_eq!((out.vouched, out.events.len()), (Some(false), 0));
        let out = Scanner::default().scan(&gz, &n, MAX, None).unwrap();
        assert_eq!((out.vouched, out.events.len()), (None, 1));
    }

    #[test]
    fn a_file_without_the_key_is_rejected_unparsed() {
        let gz = gzip(b"{\"Records\":[ this is not json but holds no key ]}");
        let out = Scanner::default()
            .scan(&gz, &needles(&["AKIAIOSFODNN7EXAMPLE"]), MAX, None)
            .unwrap();
        assert_eq!(out.parsed, 0);
        assert!(out.bytes > 0);
    }

    #[test]
    fn damaged_files_are_errors_not_crashes() {
        let good = file(&[fixtures::LIST_USERS]);
        let mut s = Scanner::default();
        let n = needles(&["AKIAIOSFODNN7EXAMPLE"]);
        // A truncated file's last bytes are not a trailer: either check may catch it.
        assert!(matches!(
            s.scan(&good[..good.len() / 2], &n, MAX, None),
            Err(FileError::BadGzip | FileError::TooLarge(_))
        ));
        assert_eq!(s.scan(b"", &n, MAX, None), Err(FileError::BadGzip));
        assert_eq!(
            s.scan(b"plain text, not gzip", &n, MAX, None),
            Err(FileError::BadGzip)
        );
        let mut lying = good.clone();
        let at = lying.len() - 4;
        lying[at..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            s.scan(&lying, &n, MAX, None),
            Err(FileError::TooLarge(_))
        ));
        let not_trail = gzip(b"[\"AKIAIOSFODNN7EXAMPLE\"]");
        assert!(matches!(
            s.scan(&not_trail, &n, MAX, None),
            Err(FileError::NotTrail(_))
        ));
        // The scanner is still good after all that.
        assert_eq!(s.scan(&good, &n, MAX, None).unwrap().events.len(), 1);
    }

    #[test]
    fn broken_and_huge_records_are_skipped_and_counted() {
        let huge = format!(
            "{{\"eventID\":\"x\",\"userIdentity\":{{\"accessKeyId\":\"AKIAIOSFODNN7EXAMPLE\"}},\"pad\":\"{}\"}}",
            "a".repeat(crate::domain::trail::MAX_RECORD_BYTES)
        );
        let missing = r#"{"userIdentity":{"accessKeyId":"AKIAIOSFODNN7EXAMPLE"}}"#;
        let gz = file(&[fixtures::LIST_USERS, &huge, missing]);
        let out = Scanner::default()
            .scan(&gz, &needles(&["AKIAIOSFODNN7EXAMPLE"]), MAX, None)
            .unwrap();
        assert_eq!(out.events.len(), 1);
        assert_eq!(out.skipped.len(), 2, "{:?}", out.skipped);
    }

    #[test]
    fn a_file_over_the_cap_is_refused_and_a_large_buffer_given_back() {
        let n = needles(&["AKIAIOSFODNN7EXAMPLE"]);
        let big = gzip(&vec![b' '; 12 << 20]);
        let mut s = Scanner::default();
        assert_eq!(
            s.scan(&big, &n, 10 << 20, None),
            Err(FileError::TooLarge(12 << 20))
        );
        assert!(s.buf.is_empty(), "nothing was decompressed");
        assert_eq!(
            s.scan(&big, &n, MAX, None).unwrap().bytes,
            12 << 20,
            "scanned whole"
        );
        assert!(
            s.buf.capacity() <= KEEP_BUFFER_BYTES,
            "the 12 MiB buffer was given back"
        );
    }
}
