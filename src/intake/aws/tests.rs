//! The published events in `tests/fixtures/eventbridge`, read as AWS sends them.

use super::*;
use serde_json::json;

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/eventbridge/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn signals(v: &Value) -> Vec<Signal> {
    match read_event(v, now()) {
        Ok(Recognised::Signals(s)) => s,
        other => panic!("{other:?}"),
    }
}

#[test]
fn health_finds_the_key_in_either_shape_and_in_the_words() {
    for name in [
        "health_exposed",
        "health_exposed_metadata",
        "health_description_only",
    ] {
        let s = signals(&fixture(name));
        assert_eq!(
            s.len(),
            1,
            "{name}: the key once, however often it is named"
        );
        assert_eq!(s[0].key.as_str(), "AKIAIOSFODNN7EXAMPLE", "{name}");
        assert_eq!(s[0].source, Source::AwsHealth);
        assert!(s[0].exposed_at.is_some(), "{name}: the time AWS found it");
        assert_eq!(
            s[0].account.as_ref().map(AccountId::as_str),
            Some("123456789012")
        );
    }
    let meta = &signals(&fixture("health_exposed_metadata"))[0];
    assert_eq!(meta.user.as_deref(), Some("test-1"));
    assert_eq!(meta.strength, Strength::Confirmed);
    assert_eq!(
        meta.evidence,
        [(
            "found at".into(),
            "https://github.com/repository_name".into()
        )]
    );
    assert_eq!(
        meta.exposed_at.map(|t| t.to_rfc3339()),
        Some("2025-02-12T00:37:54+00:00".into())
    );
    let words = &signals(&fixture("health_description_only"))[0];
    assert_eq!(words.strength, Strength::Suspected);
    assert!(
        words
            .reference
            .starts_with("arn:aws:health:global::event/RISK/")
    );
}

#[test]
fn every_risk_code_is_read_and_nothing_else() {
    let mut v = fixture("health_exposed");
    for (code, strength) in HEALTH_CODES {
        v["detail"]["eventTypeCode"] = json!(code);
        assert_eq!(signals(&v)[0].strength, strength, "{code}");
    }
    v["detail"]["eventTypeCode"] = json!("AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED");
    assert!(matches!(read_event(&v, now()), Ok(Recognised::Ignored(_))));
    v["detail"]["eventTypeCode"] = json!("AWS_RISK_CREDENTIALS_EXPOSED");
    v["detail"]["service"] = json!("EC2");
    assert!(matches!(read_event(&v, now()), Ok(Recognised::Ignored(_))));
}

#[test]
fn several_keys_in_one_event_are_one_signal_each() {
    let mut v = fixture("health_exposed");
    v["detail"]["affectedEntities"] = json!([
        {"entityValue": "AKIAIOSFODNN7EXAMPLE"},
        {"entityValue": "AKIAI44QH8DHBEXAMPLE"},
        {"entityValue": "arn:aws:iam::123456789012:user/test"}
    ]);
    let s = signals(&v);
    let keys: Vec<&str> = s.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["AKIAIOSFODNN7EXAMPLE", "AKIAI44QH8DHBEXAMPLE"]);
    assert_ne!(s[0].delivery, s[1].delivery, "each deduplicated on its own");
}

#[test]
fn guardduty_findings_about_a_key_carry_their_evidence_and_samples_open_nothing() {
    let s = &signals(&fixture("guardduty_tor_finding"))[0];
    assert_eq!(s.kind, "UnauthorizedAccess:IAMUser/TorIPCaller");
    assert_eq!(s.severity, Some(5.0));
    assert_eq!(s.strength, Strength::Suspected);
    assert_eq!(s.user.as_deref(), Some("ci-deploy"));
    let evidence: Vec<String> = s.evidence.iter().map(|(l, v)| format!("{l}={v}")).collect();
    assert_eq!(
        evidence,
        [
            "call=ListBuckets",
            "remote IP=198.51.100.7",
            "ASN=64496",
            "network=Example Hosting",
            "country=Netherlands"
        ]
    );
    assert!(matches!(
        read_event(&fixture("guardduty_sample_finding"), now()),
        Ok(Recognised::Sample { .. })
    ));
    // A sample flag alone is enough, whatever key the finding names.
    let mut v = fixture("guardduty_tor_finding");
    v["detail"]["service"]["additionalInfo"]["sample"] = json!(true);
    assert!(matches!(
        read_event(&v, now()),
        Ok(Recognised::Sample { .. })
    ));
    // Root's key is named as such.
    let mut v = fixture("guardduty_tor_finding");
    v["detail"]["resource"]["accessKeyDetails"]["userType"] = json!("Root");
    let root = &signals(&v)[0];
    assert_eq!(root.user, None);
    assert_eq!(root.evidence[0], ("identity".into(), "Root".into()));
}

#[test]
fn findings_about_other_resources_and_other_events_are_ignored() {
    let mut v = fixture("guardduty_tor_finding");
    v["detail"]["resource"] = json!({"resourceType": "Instance", "instanceDetails": {}});
    assert!(matches!(read_event(&v, now()), Ok(Recognised::Ignored(_))));
    let other = json!({"id": "1", "source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}});
    assert!(matches!(
        read_event(&other, now()),
        Ok(Recognised::Ignored(_))
    ));
}

#[test]
fn what_is_not_an_event_is_refused() {
    for bad in [
        json!([]),
        json!({"source": "aws.health", "detail-type": "AWS Health Event", "detail": {}}),
        json!({"id": "1", "detail-type": "x", "detail": {}}),
        json!({"id": "1", "source": "aws.health", "detail-type": "AWS Health Event", "detail": "x"}),
    ] {
        assert!(read_event(&bad, now()).is_err(), "{bad}");
    }
}

#[test]
fn the_quarantine_attachment_names_the_user_and_other_iam_calls_are_ignored() {
    let v = fixture("cloudtrail_quarantine");
    let Ok(Recognised::Quarantine(q)) = read_event(&v, now()) else {
        panic!("{:?}", read_event(&v, now()));
    };
    assert_eq!(q.user, "test-1");
    assert_eq!(q.account.as_str(), "123456789012");
    assert_eq!(q.policy, "AWSCompromisedKeyQuarantineV3");
    assert_eq!(
        q.at.map(|t| t.to_rfc3339()),
        Some("2025-02-12T00:37:58+00:00".into())
    );
    for (field, value) in [
        ("eventName", json!("DetachUserPolicy")),
        ("policyArn", json!("arn:aws:iam::aws:policy/ReadOnlyAccess")),
        ("errorCode", json!("AccessDenied")),
    ] {
        let mut other = v.clone();
        match field {
            "policyArn" => other["detail"]["requestParameters"][field] = value,
            _ => other["detail"][field] = value,
        }
        assert!(
            matches!(read_event(&other, now()), Ok(Recognised::Ignored(_))),
            "{field}"
        );
    }
}
