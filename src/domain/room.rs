//! The incident room's channel name: `keyleak-YYYYMMDD-<owner>-<suffix>`, within Slack's rules
//! (lowercase letters, digits, `-`, `_`; at most 80 characters).

use chrono::{DateTime, Utc};

use super::incident::Incident;

/// Slack's longest channel name.
pub const MAX_NAME: usize = 80;
/// Characters of the random suffix that tells apart incidents of one user on one day.
pub const SUFFIX_LEN: usize = 3;
const PREFIX: &str = "keyleak-";

/// The channel name for an incident opened at `opened`, owned by `label`, with `suffix`.
/// The label is cut so that the date and the suffix always survive.
pub fn channel_name(opened: DateTime<Utc>, label: &str, suffix: &str) -> String {
    let date = opened.format("%Y%m%d").to_string();
    let suffix = slug(suffix);
    let room = MAX_NAME - PREFIX.len() - date.len() - suffix.len() - 2;
    let label: String = slug(label).chars().take(room).collect();
    let label = label.trim_end_matches(['-', '_']);
    if label.is_empty() {
        format!("{PREFIX}{date}-{suffix}")
    } else {
        format!("{PREFIX}{date}-{label}-{suffix}")
    }
}

/// Who the room is about: the IAM user when known, else the key's last characters (a root
/// key, or a temporary key whose issuer is not known yet).
pub fn owner_label(i: &Incident) -> String {
    match &i.user_name {
        Some(u) if !slug(u).is_empty() => u.clone(),
        _ => {
            let id = i.key.as_str();
            format!("key-{}", &id[id.len() - 4..])
        }
    }
}

/// A suffix from `seed`: lowercase letters and digits, so any seed gives a valid name.
pub fn suffix(seed: u64) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyz23456789";
    let mut n = seed;
    (0..SUFFIX_LEN)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
            n /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// Lowercase ASCII letters, digits and `_`; every other run of characters (IAM's `+=,.@`,
/// spaces, anything beyond ASCII) becomes one `-`.
fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 23, 59, 0).unwrap()
    }

    fn valid(name: &str) -> bool {
        name.len() <= MAX_NAME
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    }

    #[test]
    fn a_plain_user_name() {
        assert_eq!(
            channel_name(at(), "ci-deploy", "7xq"),
            "keyleak-20261122-ci-deploy-7xq"
        );
    }

    #[test]
    fn iam_punctuation_and_case_become_single_dashes() {
        let name = channel_name(at(), "Jane.Doe+ops@Example.com", "abc");
        assert_eq!(name, "keyleak-20261122-jane-doe-ops-example-com-abc");
        assert!(valid(&name));
    }

    #[test]
    fn unicode_is_dropped_not_mangled() {
        let name = channel_name(at(), "Zoë-Ünïcødé 🚀", "abc");
        assert_eq!(name, "keyleak-20261122-zo-n-c-d-abc");
        assert!(valid(&name));
        // Nothing usable at all: the date and the suffix still name it.
        assert_eq!(channel_name(at(), "🚀🚀", "abc"), "keyleak-20261122-abc");
    }

    #[test]
    fn a_long_name_is_cut_to_80_keeping_the_suffix() {
        // IAM user names reach 64 characters.
        let long = format!("{}-x", "a".repeat(62));
        let name = channel_name(at(), &long, "zz9");
        assert_eq!(name.len(), MAX_NAME);
        assert!(name.ends_with("-zz9"));
        assert!(valid(&name));
        // A cut that lands on a dash does not leave two dashes.
        let dashed = format!("{}-{}", "b".repeat(58), "c".repeat(10));
        let name = channel_name(at(), &dashed, "zz9");
        assert!(!name.contains("--"), "{name}");
        assert!(valid(&name));
    }

    #[test]
    fn suffixes_are_valid_and_differ() {
        let all: std::collections::HashSet<String> = (0..1000).map(suffix).collect();
        assert_eq!(all.len(), 1000);
        assert!(all.iter().all(|s| s.len() == SUFFIX_LEN && valid(s)));
    }
}
