//! The EventBridge connection's authorization: its API key header, or Basic. Every
//! configured value is compared, in constant time, through a digest of equal length.

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::AwsEventsConfig;

fn same(given: &[u8], expected: &str) -> bool {
    let a = Sha256::digest(given);
    let b = Sha256::digest(expected.as_bytes());
    bool::from(a.ct_eq(&b))
}

/// Whether the request carries one of the configured values, in the API key header or as
/// Basic `user:password`.
pub fn authorized(headers: &HeaderMap, cfg: &AwsEventsConfig) -> bool {
    let matches = |given: &[u8]| {
        // Every value is compared, so the time taken does not say which one matched.
        cfg.secrets
            .iter()
            .fold(false, |hit, s| same(given, s.expose()) | hit)
    };
    if let Some(v) = headers.get(cfg.header.as_str())
        && matches(v.as_bytes())
    {
        return true;
    }
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .is_some_and(|pair| pair.contains(&b':') && matches(&pair))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn cfg() -> AwsEventsConfig {
        AwsEventsConfig {
            header: "x-keyleak-token".into(),
            secrets: vec![
                Secret::new("old-value-0123456789"),
                Secret::new("eventbridge:new-value-0123456789"),
            ],
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_header_or_basic_with_any_configured_value() {
        let basic = format!(
            "Basic {}",
            STANDARD.encode("eventbridge:new-value-0123456789")
        );
        for ok in [
            headers(&[("x-keyleak-token", "old-value-0123456789")]),
            headers(&[("X-Keyleak-Token", "eventbridge:new-value-0123456789")]),
            headers(&[("authorization", &basic)]),
        ] {
            assert!(authorized(&ok, &cfg()), "{ok:?}");
        }
        let wrong_basic = format!("Basic {}", STANDARD.encode("eventbridge:old-value"));
        for bad in [
            headers(&[]),
            headers(&[("x-keyleak-token", "old-value-012345678")]),
            headers(&[("x-other", "old-value-0123456789")]),
            headers(&[("authorization", &wrong_basic)]),
            headers(&[("authorization", "Basic !!!")]),
            // A value without a colon is no Basic pair.
            headers(&[(
                "authorization",
                &format!("Basic {}", STANDARD.encode("old-value-0123456789")),
            )]),
        ] {
            assert!(!authorized(&bad, &cfg()), "{bad:?}");
        }
    }
}
