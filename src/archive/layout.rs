//! Where CloudTrail puts its files (docs/aws.md, CloudTrail):
//! `<prefix>/AWSLogs/[<org-id>/]<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/<file>.json.gz`,
//! with digests under `CloudTrail-Digest/`, which are skipped.

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// `KEYLEAK_CLOUDTRAIL_ARCHIVE`: `s3://bucket[/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveLocation {
    pub bucket: String,
    /// Without leading or trailing `/`; empty for the bucket's root.
    pub prefix: String,
}

impl ArchiveLocation {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let rest = raw
            .trim()
            .strip_prefix("s3://")
            .ok_or_else(|| format!("`{raw}` is not an s3://bucket/prefix address"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !valid_bucket {
            return Err(format!("`{bucket}` is not an S3 bucket name"));
        }
        Ok(Self {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }

    /// `<prefix>/AWSLogs/`, where accounts or organization ids are listed.
    pub fn logs_root(&self) -> String {
        if self.prefix.is_empty() {
            "AWSLogs/".into()
        } else {
            format!("{}/AWSLogs/", self.prefix)
        }
    }
}

/// Whether a folder under `AWSLogs/` is an organization's (`o-…`) rather than an account's.
pub fn is_org_folder(name: &str) -> bool {
    name.starts_with("o-") && name.len() > 2
}

/// The day folders of one account and region that cover the window, oldest first.
pub fn day_prefixes(
    root: &str,
    account: &str,
    region: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<String> {
    days(root, account, "CloudTrail", region, since, until)
}

/// The day folders of the digests that cover the window's log files: a digest comes up to
/// an hour after the files it lists, so the day after the window's last too.
pub fn digest_day_prefixes(
    root: &str,
    account: &str,
    region: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<String> {
    let until = until + Duration::days(1);
    days(root, account, "CloudTrail-Digest", region, since, until)
}

fn days(
    root: &str,
    account: &str,
    folder: &str,
    region: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<String> {
    let mut day: NaiveDate = since.date_naive();
    let last = until.date_naive();
    let mut out = vec![];
    while day <= last {
        out.push(format!(
            "{root}{account}/{folder}/{region}/{}/",
            day.format("%Y/%m/%d")
        ));
        day += Duration::days(1);
    }
    out
}

/// The account whose folder holds a log file: the 12 digits just before `/CloudTrail/`.
pub fn account_of(path: &str) -> Option<&str> {
    let before = &path[..path.find("/CloudTrail/")?];
    let account = before.rsplit('/').next()?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

/// A digest file.
pub fn is_digest_file(path: &str) -> bool {
    path.ends_with(".json.gz") && path.contains("/CloudTrail-Digest/")
}

/// When CloudTrail delivered a log file, from its name
/// (`<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz`): its events happened
/// before then. `None` for a name not in that form.
pub fn delivered_at(path: &str) -> Option<DateTime<Utc>> {
    let name = path.rsplit('/').next()?;
    let stamp = name.split('_').nth(3)?;
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%MZ")
        .ok()
        .map(|t| t.and_utc())
}

/// Which log files can hold a call made in a time span: those delivered from its start (a
/// file holds only calls made before it was delivered) to its end, when it has one, plus a
/// day for CloudTrail's delivery; and any file whose name does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

impl Delivered {
    /// Every file.
    pub const ANY: Self = Self {
        from: DateTime::<Utc>::MIN_UTC,
        until: None,
    };

    /// The latest a file holding a call of the span can have been delivered, if bounded.
    pub fn last_delivery(&self) -> Option<DateTime<Utc>> {
        self.until.map(|u| u + Duration::days(1))
    }

    pub fn holds(&self, path: &str) -> bool {
        delivered_at(path)
            .is_none_or(|at| at >= self.from && self.last_delivery().is_none_or(|last| at <= last))
    }
}

/// A log file, not a digest or anything else that lives beside them.
pub fn is_log_file(path: &str) -> bool {
    path.ends_with(".json.gz") && !path.contains("CloudTrail-Digest/")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn addresses_parse_or_are_refused_by_name() {
        let a = ArchiveLocation::parse("s3://org-trail-logs/security/ct/").unwrap();
        assert_eq!(a.bucket, "org-trail-logs");
        assert_eq!(a.logs_root(), "security/ct/AWSLogs/");
        let b = ArchiveLocation::parse("s3://org-trail-logs").unwrap();
        assert_eq!(b.logs_root(), "AWSLogs/");
        assert!(ArchiveLocation::parse("https://example.com/x").is_err());
        assert!(ArchiveLocation::parse("s3://Bad_Bucket/x").is_err());
        assert!(ArchiveLocation::parse("s3://").is_err());
    }

    #[test]
    fn one_folder_per_day_of_the_window() {
        let since = Utc.with_ymd_and_hms(2026, 11, 29, 22, 0, 0).unwrap();
        let until = Utc.with_ymd_and_hms(2026, 12, 1, 3, 0, 0).unwrap();
        assert_eq!(
            day_prefixes(
                "AWSLogs/o-abc123/",
                "111122223333",
                "eu-west-1",
                since,
                until
            ),
            [
                "AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/2026/11/29/",
                "AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/2026/11/30/",
                "AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/2026/12/01/",
            ]
        );
        let digests = digest_day_prefixes("AWSLogs/", "111122223333", "eu-west-1", since, until);
        assert_eq!(digests.len(), 4, "the day after too: {digests:?}");
        assert_eq!(
            digests[3],
            "AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2026/12/02/"
        );
    }

    #[test]
    fn a_files_name_says_when_it_was_delivered() {
        let name = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/22/\
                    111122223333_CloudTrail_us-east-1_20261122T2305Z_EXAMPLEa1b2c3d4.json.gz";
        let at = Utc.with_ymd_and_hms(2026, 11, 22, 23, 5, 0).unwrap();
        assert_eq!(delivered_at(name), Some(at));
        assert_eq!(delivered_at("copy/a.json.gz"), None);
        let span = Delivered {
            from: at,
            until: Some(at + Duration::hours(36)),
        };
        assert!(span.holds(name));
        assert!(
            span.holds("copy/a.json.gz"),
            "a name that does not say is read"
        );
        let before = name.replace("20261122T2305Z", "20261122T2259Z");
        assert!(!span.holds(&before), "delivered before the span began");
        let long_after = name.replace("20261122T2305Z", "20261126T0000Z");
        assert!(!span.holds(&long_after));
        let open = Delivered {
            from: at,
            until: None,
        };
        assert!(open.holds(&long_after));
    }

    #[test]
    fn digests_are_not_logs() {
        assert!(is_log_file(
            "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T1505Z_a1b2.json.gz"
        ));
        assert_eq!(
            account_of("p/AWSLogs/o-abc123/111122223333/CloudTrail/us-east-1/2026/11/20/f.json.gz"),
            Some("111122223333")
        );
        assert_eq!(account_of("copy/f.json.gz"), None);
        assert_eq!(
            account_of("AWSLogs/o-abc/CloudTrail/us-east-1/f.json.gz"),
            None
        );
        let digest = "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/20/111122223333_CloudTrail-Digest_us-east-1_x_us-east-1_20261120T150500Z.json.gz";
        assert!(!is_log_file(digest));
        assert!(is_digest_file(digest));
        assert!(!is_log_file(
            "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/notes.txt"
        ));
        assert!(is_org_folder("o-a1b2c3d4e5"));
        assert!(!is_org_folder("111122223333"));
    }
}
