//! Slack request signing (docs/slack.md, "Requests into keyleak"): HMAC-SHA256 over
//! `v0:<ts>:<raw body>`, checked before anything in the body is parsed. The comparison is the MAC library's
//! constant-time `verify_slice`; our own expected value is never formatted, so it cannot leak.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::Secret;

/// How far a request's timestamp may be from now, either way.
pub const MAX_SKEW_SECS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing X-Slack-Request-Timestamp or X-Slack-Signature")]
    MissingHeaders,
    #[error("timestamp is not a number")]
    BadTimestamp,
    #[error("timestamp outside the {MAX_SKEW_SECS} s window")]
    Stale,
    #[error("signature is not of the form v0=<64 hex digits>")]
    Malformed,
    #[error("signature does not match any signing secret")]
    Mismatch,
}

pub fn verify(
    secrets: &[Secret],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_unix: i64,
) -> Result<(), VerifyError> {
    let (Some(ts), Some(sig)) = (timestamp, signature) else {
        return Err(VerifyError::MissingHeaders);
    };
    // Canonical digits only: the signed text is the header as sent, so `+1531420618` or
    // ` 1531420618` must not pass as the number it parses to.
    if ts.is_empty() || ts.len() > 12 || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::BadTimestamp);
    }
    let ts_num: i64 = ts.parse().map_err(|_| VerifyError::BadTimestamp)?;
    if now_unix.abs_diff(ts_num) > MAX_SKEW_SECS.unsigned_abs() {
        return Err(VerifyError::Stale);
    }
    let tag = sig
        .strip_prefix("v0=")
        .and_then(|h| hex::decode(h).ok())
        .filter(|t| t.len() == 32)
        .ok_or(VerifyError::Malformed)?;
    // Every configured secret is tried so that a rotation can overlap old and new.
    let matched = secrets.iter().any(|secret| {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else {
            return false;
        };
        mac.update(b"v0:");
        mac.update(ts.as_bytes());
        mac.update(b":");
        mac.update(body);
        mac.verify_slice(&tag).is_ok()
    });
    if matched {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's published example from "Verifying requests from Slack".
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn secrets(list: &[&str]) -> Vec<Secret> {
        list.iter().map(|s| Secret::new(*s)).collect()
    }

    #[test]
    fn slacks_published_example_verifies() {
        let now = 1531420618 + 10;
        assert_eq!(
            verify(
                &secrets(&[SECRET]),
                Some(TS),
                Some(SIG),
                BODY.as_bytes(),
                now
            ),
            Ok(())
        );
    }

    #[test]
    fn rotation_accepts_any_configured_secret() {
        let now = 1531420618;
        let s = secrets(&["retired-secret", SECRET]);
        assert_eq!(
            verify(&s, Some(TS), Some(SIG), BODY.as_bytes(), now),
            Ok(())
        );
    }

    #[test]
    fn rejects_each_kind_of_bad_request() {
        let s = secrets(&[SECRET]);
        let now = 1531420618;
        let b = BODY.as_bytes();
        assert_eq!(
            verify(&s, None, Some(SIG), b, now),
            Err(VerifyError::MissingHeaders)
        );
        assert_eq!(
            verify(&s, Some("x"), Some(SIG), b, now),
            Err(VerifyError::BadTimestamp)
        );
        for odd in [
            "+1531420618",
            " 1531420618",
            "-1",
            "99999999999999999999",
            "",
        ] {
            assert_eq!(
                verify(&s, Some(odd), Some(SIG), b, now),
                Err(VerifyError::BadTimestamp),
                "{odd:?}"
            );
        }
        assert_eq!(
            verify(&s, Some("0"), Some(SIG), b, i64::MAX),
            Err(VerifyError::Stale),
            "far apart without overflow"
        );
        assert_eq!(
            verify(&s, Some(TS), Some(SIG), b, now + 301),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            verify(&s, Some(TS), Some(SIG), b, now - 301),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            verify(&s, Some(TS), Some("v1=ab"), b, now),
            Err(VerifyError::Malformed)
        );
        assert_eq!(
            verify(&s, Some(TS), Some("v0=zz"), b, now),
            Err(VerifyError::Malformed)
        );
        let mut tampered = BODY.to_string();
        tampered.push('x');
        assert_eq!(
            verify(&s, Some(TS), Some(SIG), tampered.as_bytes(), now),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(&secrets(&["other"]), Some(TS), Some(SIG), b, now),
            Err(VerifyError::Mismatch)
        );
    }
}
