//! The attacker's footprint, through the whole investigation: the technique families'
//! CloudTrail records (published shapes, `tests/fixtures/cloudtrail/techniques`) made by the
//! leaked key, then the thread's summary names the techniques, says what cannot be trusted and
//! what to rotate, and the report has each list.

use crate::support;

use chrono::Utc;
use keyleak::domain::incident::IncidentState;
use keyleak::domain::trail::technique::Technique;
use support::moto::OWN_ACCOUNT;
use support::trail::{Record, start_with_trail};
use support::*;

#[tokio::test]
async fn the_summary_and_the_report_name_techniques_blinding_and_what_to_rotate() {
    let (moto, emulator, app) = start_with_trail(Options {
        forensics: keyleak::engine::ForensicsSettings {
            regions: Some(vec!["us-east-1".into(), "eu-west-1".into()]),
            ..Default::default()
        },
        ..Options::default()
    })
    .await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let key = seeded.leaked.id.clone();
    let t0 = Utc::now() - chrono::Duration::hours(2);
    let mut n = 0;
    for family in [
        "credential_access",
        "defense_evasion",
        "exfiltration",
        "errors",
    ] {
        for r in Record::family(family) {
            n += 1;
            emulator
                .log(
                    &r.by_user(OWN_ACCOUNT, "ci-deploy", &key)
                        .at(t0 + chrono::Duration::minutes(n))
                        .value(),
                )
                .unwrap();
        }
    }

    let id = app.contain(&key, "").await;
    app.wait_for_state(&id, IncidentState::Contained).await;
    let findings = app.findings(&id).await;
    let fp = &findings.footprint;
    assert_eq!(fp.rotate.len(), 8, "{:?}", fp.rotate);
    assert_eq!(fp.blinded.len(), 10);
    assert!(
        fp.techniques
            .iter()
            .any(|s| s.technique == Technique::SnapshotShared && s.count == 2)
    );

    let summary = app
        .slack
        .messages()
        .into_iter()
        .find(|m| m.text.starts_with("Forensics for"))
        .expect("the summary is posted")
        .blocks
        .to_string();
    for needle in [
        "*Cannot trust:*",
        "CloudTrail logging stopped",
        "*Techniques* (MITRE ATT&CK)",
        "EBS snapshot shared (T1537) ×2",
        "with account 444455556666",
        "*Rotate these:*",
        "prod/db/password",
        "/prod/api/signing-key",
    ] {
        assert!(summary.contains(needle), "{needle} not in {summary}");
    }

    let report = app.shared_report(&id).await;
    for needle in [
        "## Cannot trust",
        "## Techniques (MITRE ATT&CK)",
        "| exfiltration | RDS snapshot shared | T1537 | 1 | prod-db-2026-11-19 with everyone |",
        "## Rotate these",
        "- [ ] Rotate the Secrets Manager secret `prod/stripe/key`",
        "- [ ] Restore what was blinded: GuardDuty detector or publishing removed",
    ] {
        assert!(report.contains(needle), "{needle} not in the report");
    }
}

/// A user the key made signs in to the console and acts there: those calls carry no key of
/// the attacker's, so the investigation follows the user by name and they join the timeline.
#[tokio::test]
async fn a_user_the_key_made_is_followed_into_the_console() {
    let (moto, emulator, app) = start_with_trail(Options::default()).await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let key = seeded.leaked.id.clone();
    let t0 = Utc::now() - chrono::Duration::hours(2);
    emulator
        .log(
            &Record::from("create_user")
                .by_user(OWN_ACCOUNT, "ci-deploy", &key)
                .at(t0)
                .value(),
        )
        .unwrap();
    let signed_in =
        Record::console_login(OWN_ACCOUNT, "backdoor-admin").at(t0 + chrono::Duration::minutes(5));
    emulator.log(&signed_in.value()).unwrap();

    let id = app.contain(&key, "").await;
    app.wait_for_state(&id, IncidentState::Contained).await;
    let findings = app.findings(&id).await;
    let seen: Vec<Technique> = findings
        .footprint
        .techniques
        .iter()
        .map(|s| s.technique)
        .collect();
    assert!(seen.contains(&Technique::ConsoleLogin), "{seen:?}");
    let timeline = app.store.trail_events(&id).await.unwrap();
    assert!(
        timeline.iter().any(|e| e.name == "ConsoleLogin"
            && e.identity.user_name.as_deref() == Some("backdoor-admin")),
        "the sign-in is on the timeline"
    );
    assert!(findings.failures.is_empty(), "{:?}", findings.failures);
}
