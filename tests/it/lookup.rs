//! LookupEvents as AWS limits it: paging, throttling, the time window, unreadable records,
//! accounts the bot cannot reach, and the `investigate` command's answers.

use crate::support;

use std::time::Duration;

use chrono::Utc;
use keyleak::archive::layout::ArchiveLocation;
use keyleak::domain::ids::IncidentId;
use keyleak::domain::incident::IncidentState;
use keyleak::domain::trail::Provenance;
use keyleak::domain::trail::findings::{FenceOutcome, Findings};
use keyleak::engine::ForensicsSettings;
use serde_json::{Value, json};
use support::moto::OWN_ACCOUNT;
use support::trail::{Record, bot_config, gzip, signed_digest, trail_file};
use support::trail_emu::TrailEmulator;
use support::{App, Moto, OUTSIDER, Options, seed, wait_until};

struct Bench {
    moto: Moto,
    emulator: TrailEmulator,
    app: App,
    key: String,
}

async fn start(role_template: bool, regions: &[&str]) -> Bench {
    start_with(role_template, regions, None).await
}

async fn start_with(role_template: bool, regions: &[&str], archive: Option<&str>) -> Bench {
    let moto = Moto::start().await.unwrap();
    let emulator = crate::support::trail::emulator(&moto.url).await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let app = App::start(
        bot_config(&moto, &emulator).await,
        Options {
            role_arn_template: role_template
                .then(|| "arn:aws:iam::{account}:role/KeyleakResponder".into()),
            forensics: ForensicsSettings {
                regions: Some(regions.iter().map(|r| r.to_string()).collect()),
                archive: archive.map(|a| ArchiveLocation::parse(a).unwrap()),
                ..ForensicsSettings::default()
            },
            ..Options::default()
        },
    )
    .await;
    Bench {
        moto,
        emulator,
        app,
        key: seeded.leaked.id,
    }
}

impl Bench {
    /// The forensics summary in the thread, as Slack would render its blocks.
    fn summary_text(&self) -> String {
        self.app
            .slack
            .messages()
            .into_iter()
            .find(|m| m.text.starts_with("Forensics for"))
            .expect("the summary")
            .blocks
            .to_string()
    }

    /// `/keyleak investigate <id> --since <days>d`, then the findings once they hold `events`.
    async fn investigate_again(&self, id: &IncidentId, days: u32, events: usize) -> Findings {
        let r: Value = self
            .app
            .command(&format!("investigate {id} --since {days}d"))
            .await
            .json()
            .await
            .unwrap();
        let said = r["text"].as_str().unwrap();
        assert!(said.contains(&format!("last {days} days")), "{r}");
        wait_until(Duration::from_secs(60), || async move {
            let f = self.app.findings(id).await;
            (f.summary.events == events).then_some(f)
        })
        .await
        .expect("the new investigation was recorded")
    }

    fn calls(&self, n: usize, region: &str, hours_ago: i64) {
        let at = Utc::now() - chrono::Duration::hours(hours_ago);
        for i in 0..n {
            let r = Record::from("list_users")
                .by_user(OWN_ACCOUNT, "ci-deploy", &self.key)
                .region(region)
                .at(at - chrono::Duration::seconds(i as i64));
            self.emulator.log(&r.value()).unwrap();
        }
    }

    /// A production role, `prod-admin`, in the bot's own account; the IAM client made it.
    async fn prod_admin_role(&self) -> aws_sdk_iam::Client {
        let iam = aws_sdk_iam::Client::new(&self.moto.own_config().await);
        iam.create_role()
            .role_name("prod-admin")
            .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
            .send()
            .await
            .unwrap();
        iam
    }

    /// The organization trail's bucket, `org-trail-logs`, made empty in moto.
    async fn archive_bucket(&self) -> aws_sdk_s3::Client {
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.moto.own_config().await)
                .force_path_style(true)
                .build(),
        );
        s3.create_bucket()
            .bucket("org-trail-logs")
            .send()
            .await
            .unwrap();
        s3
    }

    async fn contain(&self) -> IncidentId {
        let id = self.app.contain(&self.key, "").await;
        self.app.wait_for_state(&id, IncidentState::Contained).await;
        id
    }
}

#[tokio::test]
async fn every_page_is_read_and_throttling_is_ridden_out() {
    let b = start(true, &["us-east-1", "eu-west-1"]).await;
    b.calls(120, "eu-west-1", 2);
    b.calls(3, "us-east-1", 2);
    b.emulator.throttle_next(2);
    let id = b.contain().await;
    let f = b.app.findings(&id).await;
    assert!(f.complete(), "{:?}", f.failures);
    assert_eq!(f.summary.events, 123);
    assert_eq!(f.pages, 4, "50 + 50 + 20 in eu-west-1, 3 in us-east-1");
    assert_eq!(f.throttled, 2);
    assert_eq!(b.emulator.counters(|c| c.throttled), 2);
    // The metrics count a throttled attempt apart from a failed one.
    let metrics = b
        .app
        .http
        .get(format!("{}/metrics", b.app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let throttled = r#"keyleak_aws_calls_total{service="CloudTrail",operation="LookupEvents",outcome="throttled"}"#;
    assert!(metrics.contains(throttled), "{metrics}");
    let ids: std::collections::HashSet<String> = b
        .app
        .store
        .trail_events(&id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(ids.len(), 123, "each event stored once");
}

#[tokio::test]
async fn guardduty_findings_are_read_page_by_page_and_a_refusal_is_reported() {
    let b = start(true, &["us-east-1", "eu-west-1"]).await;
    b.calls(1, "us-east-1", 1);
    b.emulator.guardduty(|g| {
        g.enable(OWN_ACCOUNT, "us-east-1");
        for n in 0..120 {
            let kind = if n % 2 == 0 {
                "Discovery:IAMUser/AnomalousBehavior"
            } else {
                "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"
            };
            g.find(OWN_ACCOUNT, "us-east-1", kind, 5.0 + (n % 4) as f64, &b.key);
        }
        g.deny(OWN_ACCOUNT, "eu-west-1");
    });
    let id = b.contain().await;
    let f = b.app.findings(&id).await;
    assert!(
        f.complete(),
        "GuardDuty's refusal leaves CloudTrail's answer whole"
    );
    assert_eq!(
        f.guardduty.findings.len(),
        120,
        "three ListFindings pages, three GetFindings batches"
    );
    assert_eq!(f.guardduty.failures.len(), 1);
    let (place, error) = &f.guardduty.failures[0];
    assert_eq!(place, &format!("{OWN_ACCOUNT}/eu-west-1"));
    assert!(error.contains("AccessDenied"), "{error}");
    let text = b.summary_text();
    for needle in [
        "GuardDuty — 120 findings (60 high, 60 medium)".to_string(),
        "UnauthorizedAccess:IAMUser/".into(),
        format!("could not be asked in `{OWN_ACCOUNT}/eu-west-1`"),
    ] {
        assert!(text.contains(&needle), "{needle} not in {text}");
    }
}

#[tokio::test]
async fn since_bounds_the_window_and_a_second_look_adds_nothing_twice() {
    let b = start(true, &["us-east-1"]).await;
    b.calls(2, "us-east-1", 1);
    b.calls(1, "us-east-1", 72);
    let id = b.contain().await;
    assert_eq!(b.app.findings(&id).await.summary.events, 3);

    let f = b.investigate_again(&id, 2, 2).await;
    assert!(Utc::now() - f.since < chrono::Duration::days(2) + chrono::Duration::minutes(1));
    assert_eq!(b.app.store.trail_events(&id).await.unwrap().len(), 3);
    let forensics_messages = b
        .app
        .slack
        .replies_to(&b.app.slack.top_level()[0].ts)
        .into_iter()
        .filter(|m| m.text.starts_with("Forensics for"))
        .count();
    assert_eq!(forensics_messages, 2, "one message per investigation");
}

#[tokio::test]
async fn unreadable_records_are_counted_skipped_and_called_partial() {
    let b = start(true, &["us-east-1"]).await;
    b.calls(2, "us-east-1", 1);
    let region = "us-east-1";
    b.emulator.log_raw(
        OWN_ACCOUNT,
        region,
        &b.key,
        r#"{"eventVersion":"1.08","userIden"#,
    );
    let mut missing = Record::from("list_users")
        .by_user(OWN_ACCOUNT, "ci-deploy", &b.key)
        .value();
    missing.as_object_mut().unwrap().remove("eventID");
    b.emulator
        .log_raw(OWN_ACCOUNT, region, &b.key, &missing.to_string());
    let huge = Record::from("list_users")
        .by_user(OWN_ACCOUNT, "ci-deploy", &b.key)
        .set("/requestParameters", json!({"pad": "x".repeat(2 << 20)}))
        .value();
    b.emulator
        .log_raw(OWN_ACCOUNT, region, &b.key, &huge.to_string());

    let id = b.contain().await;
    let f = b.app.findings(&id).await;
    assert_eq!(f.summary.events, 2);
    assert_eq!(f.skipped, 3);
    assert!(!f.complete());
    let reasons = f.skipped_reasons.join(" | ");
    for why in [
        "not a JSON object",
        "lacks `eventID`",
        "larger than any CloudTrail record",
    ] {
        assert!(reasons.contains(why), "{why} not in {reasons}");
    }
    let summary = b
        .app
        .slack
        .replies_to(&b.app.slack.top_level()[0].ts)
        .into_iter()
        .find(|m| m.text.starts_with("Forensics for"))
        .unwrap();
    assert!(
        summary.blocks.to_string().contains("Partial"),
        "{}",
        summary.blocks
    );
}

#[tokio::test]
async fn an_account_out_of_reach_is_reported_not_skipped() {
    let b = start(false, &["us-east-1", "eu-west-1"]).await;
    let role = "arn:aws:iam::444455556666:role/ops-admin";
    let r = Record::from("assume_role")
        .by_user(OWN_ACCOUNT, "ci-deploy", &b.key)
        .at(Utc::now() - chrono::Duration::hours(1))
        .set("/requestParameters/roleArn", json!(role));
    b.emulator.log(&r.value()).unwrap();
    let id = b.contain().await;
    let f = b.app.findings(&id).await;
    assert_eq!(f.failures.len(), 1, "{:?}", f.failures);
    assert_eq!(f.failures[0].region, "every region");
    assert_eq!(f.failures[0].account, "444455556666");
    assert!(f.failures[0].error.contains("KEYLEAK_ROLE_ARN_TEMPLATE"));
    assert!(matches!(
        &f.roles[0].outcome,
        FenceOutcome::Failed { error } if error.contains("KEYLEAK_ROLE_ARN_TEMPLATE")
    ));
    let audit = b.app.store.audit_log(Some(&id)).await.unwrap();
    assert!(audit.iter().any(|a| a.action.name() == "role.fence_failed"));
}

#[tokio::test]
async fn the_investigate_command_answers_every_bad_input() {
    let b = start(true, &["us-east-1"]).await;
    let ask = |text: String| {
        let app = &b.app;
        async move {
            let v: Value = app.command(&text).await.json().await.unwrap();
            v["text"].as_str().unwrap().to_string()
        }
    };
    assert!(
        ask("investigate KL-00000000".into())
            .await
            .contains("There is no incident")
    );
    // A key with no incident gets one in triage: forensics without containment.
    assert!(
        ask(format!("investigate {}", b.key))
            .await
            .contains("in triage")
    );
    assert!(
        ask("investigate KL-00000000 --since 0d".into())
            .await
            .contains("from 1 to 3650")
    );
    assert!(
        ask("investigate".into())
            .await
            .contains("What should be investigated")
    );
    // The triage's own look ends before the key is contained.
    let triaged = b.app.incident_for(&b.key).await;
    b.app.wait_for_state(&triaged, IncidentState::Triage).await;
    let id = b.contain().await;
    b.app.findings(&id).await;
    let jobs = b.app.store.pending_jobs(None).await.unwrap();
    assert!(
        ask(format!("investigate {id} --since 400d"))
            .await
            .contains("event history keeps 90 days, and no archive is configured")
    );
    assert_eq!(
        b.app.store.pending_jobs(None).await.unwrap(),
        jobs,
        "nothing queued"
    );
    assert!(
        ask(format!("investigate {}", b.key))
            .await
            .contains(id.as_str())
    );
    let outsider: Value = b
        .app
        .command_as(OUTSIDER, &format!("investigate {id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        outsider["text"]
            .as_str()
            .unwrap()
            .contains("only responders"),
        "{outsider}"
    );
    b.app.findings(&id).await;
    let requested = b
        .app
        .store
        .audit_log(Some(&id))
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action.name() == "investigation.requested")
        .count();
    assert_eq!(
        requested, 3,
        "after triage (the key was first investigated without an incident), after \
         containment, and the responder's; not the outsider's"
    );
}

#[tokio::test]
async fn the_archive_adds_what_lookup_events_lacks_and_reports_what_it_cannot_read() {
    let b = start_with(true, &["us-east-1"], Some("s3://org-trail-logs/ct")).await;
    let at = Utc::now() - chrono::Duration::hours(2);
    let call = |name: &str, minutes: i64| {
        Record::from("list_users")
            .named(name)
            .by_user(OWN_ACCOUNT, "ci-deploy", &b.key)
            .at(at + chrono::Duration::minutes(minutes))
            .value()
    };
    // In both sources: counted once.
    let both = call("ListUsers", 0);
    b.emulator.log(&both).unwrap();
    // Only in the archive: a data event, which LookupEvents never returns.
    let data = Record::from("list_users")
        .named("GetObject")
        .set("/eventSource", json!("s3.amazonaws.com"))
        .by_user(OWN_ACCOUNT, "ci-deploy", &b.key)
        .at(at + chrono::Duration::minutes(1))
        .value();
    let s3 = b.archive_bucket().await;
    let day = at.format("%Y/%m/%d");
    let dir = format!("ct/AWSLogs/o-a1b2c3d4e5/{OWN_ACCOUNT}/CloudTrail/us-east-1/{day}");
    let stamp = at.format("%Y%m%dT%H%MZ");
    let objects: Vec<(String, Vec<u8>)> = vec![
        (
            format!("{dir}/{OWN_ACCOUNT}_CloudTrail_us-east-1_{stamp}_good.json.gz"),
            trail_file(&[both, data, call("Noise", 2).to_string().into()]),
        ),
        (
            format!("{dir}/{OWN_ACCOUNT}_CloudTrail_us-east-1_{stamp}_cut.json.gz"),
            trail_file(&[call("DescribeInstances", 3)])[..40].to_vec(),
        ),
        (
            format!(
                "ct/AWSLogs/o-a1b2c3d4e5/{OWN_ACCOUNT}/CloudTrail-Digest/us-east-1/{day}/digest.json.gz"
            ),
            b"not even gzip".to_vec(),
        ),
        (
            format!(
                "ct/AWSLogs/o-a1b2c3d4e5/999988887777/CloudTrail/us-east-1/{day}/other.json.gz"
            ),
            trail_file(&[call("CreateUser", 4)]),
        ),
    ];
    // Beyond the event history: found only when asked to look that far back.
    let old = Utc::now() - chrono::Duration::days(200);
    let old_call = Record::from("create_user")
        .by_user(OWN_ACCOUNT, "ci-deploy", &b.key)
        .at(old)
        .value();
    let mut objects = objects;
    objects.push((
        format!(
            "ct/AWSLogs/o-a1b2c3d4e5/{OWN_ACCOUNT}/CloudTrail/us-east-1/{}/{OWN_ACCOUNT}_CloudTrail_us-east-1_old.json.gz",
            old.format("%Y/%m/%d")
        ),
        trail_file(&[old_call]),
    ));
    for (key, body) in objects {
        s3.put_object()
            .bucket("org-trail-logs")
            .key(key)
            .body(body.into())
            .send()
            .await
            .unwrap();
    }
    let id = b.contain().await;
    let f = b.app.findings(&id).await;
    let stored = b.app.store.trail_events(&id).await.unwrap();
    let names: Vec<&str> = stored.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["ListUsers", "GetObject"], "each event once");
    assert_eq!(f.summary.events, 2);
    let archive = f.archive.clone().expect("the archive was scanned");
    assert_eq!(
        archive.files, 2,
        "the day's two log files; no digest, no other account"
    );
    assert_eq!(
        f.skipped, 2,
        "the cut file, and a record that is a string: {:?}",
        f.skipped_reasons
    );
    assert!(
        f.skipped_reasons.iter().any(|r| r.contains("_cut.json.gz")),
        "{:?}",
        f.skipped_reasons
    );
    assert!(!f.complete());
    let text = b.summary_text();
    assert!(
        text.contains("archive `s3://org-trail-logs/ct`: 2 files"),
        "{text}"
    );
    assert!(text.contains("Partial"), "{text}");

    let f = b.investigate_again(&id, 400, 3).await;
    assert_eq!(f.archive.unwrap().files, 3);
}

/// One forged record planted in the archive: an AssumeRole "by" the leaked key of a production
/// role. LookupEvents does not confirm it, so no policy is written on the role; the summary
/// says so. A record naming another account than its folder's is flagged and not used.
#[tokio::test]
async fn a_role_assumed_only_in_the_archive_is_not_fenced_and_a_misplaced_record_is_flagged() {
    let b = start_with(true, &["us-east-1"], Some("s3://org-trail-logs/ct")).await;
    let iam = b.prod_admin_role().await;
    let at = Utc::now() - chrono::Duration::hours(2);
    let role = format!("arn:aws:iam::{OWN_ACCOUNT}:role/prod-admin");
    let forged = Record::from("assume_role")
        .by_user(OWN_ACCOUNT, "ci-deploy", &b.key)
        .at(at)
        .set("/requestParameters/roleArn", json!(role))
        .value();
    let misplaced = Record::from("list_users")
        .by_user("999988887777", "ci-deploy", &b.key)
        .at(at + chrono::Duration::minutes(1))
        .value();
    let s3 = b.archive_bucket().await;
    let key = format!(
        "ct/AWSLogs/{OWN_ACCOUNT}/CloudTrail/us-east-1/{}/{OWN_ACCOUNT}_CloudTrail_us-east-1_x.json.gz",
        at.format("%Y/%m/%d")
    );
    s3.put_object()
        .bucket("org-trail-logs")
        .key(key)
        .body(trail_file(&[forged, misplaced]).into())
        .send()
        .await
        .unwrap();

    let id = b.contain().await;
    let f = b.app.findings(&id).await;
    assert_eq!(f.roles.len(), 1, "{:?}", f.roles);
    assert_eq!(f.roles[0].outcome, FenceOutcome::ArchiveOnly);
    let on_role = iam
        .list_role_policies()
        .role_name("prod-admin")
        .send()
        .await
        .unwrap()
        .policy_names;
    assert!(
        on_role.is_empty(),
        "nothing was written on the role: {on_role:?}"
    );
    let audit = b.app.store.audit_log(Some(&id)).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action.name() == "role.fence_archive_only")
    );
    assert!(
        f.skipped_reasons
            .iter()
            .any(|r| r.contains("for account 999988887777, not the folder's")),
        "{:?}",
        f.skipped_reasons
    );
    let text = b.summary_text();
    assert!(
        text.contains("only an S3 archive file shows this role"),
        "{text}"
    );
}

/// Signed digests as CloudTrail writes them: a role assumed in a file one vouches for is
/// fenced as LookupEvents evidence would be; a file changed after delivery gives nothing, a
/// deleted file, a deleted digest and a forged digest are each named, and the summary says
/// the archive was tampered with.
#[tokio::test]
async fn signed_digests_vouch_for_archive_files_and_expose_changed_deleted_and_forged_ones() {
    let b = start_with(true, &["us-east-1"], Some("s3://org-trail-logs/ct")).await;
    b.prod_admin_role().await;
    let at = Utc::now() - chrono::Duration::hours(2);
    let day = at.format("%Y/%m/%d");
    let logs = format!("ct/AWSLogs/{OWN_ACCOUNT}/CloudTrail/us-east-1/{day}");
    let digests = format!("ct/AWSLogs/{OWN_ACCOUNT}/CloudTrail-Digest/us-east-1/{day}");
    let log = |name: &str| format!("{logs}/{OWN_ACCOUNT}_CloudTrail_us-east-1_{name}.json.gz");
    let digest = |stamp: &str| {
        format!("{digests}/{OWN_ACCOUNT}_CloudTrail-Digest_us-east-1_org_us-east-1_{stamp}.json.gz")
    };
    let by_key = |fixture: &str, minutes: i64| {
        Record::from(fixture)
            .by_user(OWN_ACCOUNT, "ci-deploy", &b.key)
            .at(at + chrono::Duration::minutes(minutes))
    };
    let assumed = by_key("assume_role", 0)
        .set(
            "/requestParameters/roleArn",
            json!(format!("arn:aws:iam::{OWN_ACCOUNT}:role/prod-admin")),
        )
        .value();
    let vouched = (log("vouched"), trail_file(&[assumed]));
    let original = trail_file(&[by_key("list_users", 1).named("ListRoles").value()]);
    let changed = trail_file(&[
        by_key("list_users", 1).named("ListRoles").value(),
        by_key("create_user", 2).value(),
    ]);
    let deleted = (
        log("deleted"),
        trail_file(&[by_key("list_users", 3).value()]),
    );
    let (digest_gz, metadata) = signed_digest(
        "org-trail-logs",
        &digest("20261201T010000Z"),
        &[vouched.clone(), (log("changed"), original), deleted],
        Some((&digest("20261201T000000Z"), "ab12")),
    );
    // A digest edited after it was signed: it vouches for a file planted beside it.
    let planted = (
        log("planted"),
        trail_file(&[by_key("list_users", 4).value()]),
    );
    let (forged_gz, forged_metadata) = signed_digest(
        "org-trail-logs",
        &digest("20261201T020000Z"),
        &[(log("other"), trail_file(&[]))],
        None,
    );
    let forged_text = {
        let mut t = vec![];
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&forged_gz[..]), &mut t)
            .unwrap();
        String::from_utf8(t)
            .unwrap()
            .replace(&log("other"), &log("planted"))
    };
    let s3 = b.archive_bucket().await;
    let put = |key: String, body: Vec<u8>, metadata: Vec<(&'static str, String)>| {
        let s3 = s3.clone();
        async move {
            let mut req = s3
                .put_object()
                .bucket("org-trail-logs")
                .key(key)
                .body(body.into());
            for (k, v) in metadata {
                req = req.metadata(k, v);
            }
            req.send().await.unwrap();
        }
    };
    put(vouched.0, vouched.1, vec![]).await;
    put(log("changed"), changed, vec![]).await;
    put(planted.0, planted.1, vec![]).await;
    put(digest("20261201T010000Z"), digest_gz, metadata.to_vec()).await;
    put(
        digest("20261201T020000Z"),
        gzip(forged_text.as_bytes()),
        forged_metadata.to_vec(),
    )
    .await;
    // A digest moved to Glacier by a lifecycle rule: S3 will not give it, which proves
    // nothing either way.
    s3.put_object()
        .bucket("org-trail-logs")
        .key(digest("20261201T030000Z"))
        .body(b"archived".to_vec().into())
        .storage_class(aws_sdk_s3::types::StorageClass::Glacier)
        .send()
        .await
        .unwrap();

    let id = b.contain().await;
    let f = b.app.findings(&id).await;
    let archive = f.archive.clone().expect("the archive was scanned");
    let i = &archive.integrity;
    assert_eq!(
        (i.digests, i.verified, i.altered, i.deleted, i.bad_digests),
        (1, 1, 1, 1, 2),
        "{:#?}",
        i.notes
    );
    let noted = |file: &str, why: &str| {
        let hit = i
            .notes
            .iter()
            .any(|n| n.file.as_deref().is_some_and(|f| f.ends_with(file)) && n.why.contains(why));
        assert!(hit, "{file}: {why} in {:#?}", i.notes);
    };
    noted("_changed.json.gz", "not what CloudTrail delivered");
    noted(
        "_deleted.json.gz",
        "a signed digest lists it, and it is gone",
    );
    noted("20261201T000000Z.json.gz", "the one after it names it");
    noted("20261201T020000Z.json.gz", "its signature does not verify");
    noted("20261201T030000Z.json.gz", "could not be read");
    assert!(!f.complete());

    let stored = b.app.store.trail_events(&id).await.unwrap();
    let sources: Vec<(&str, Provenance)> = stored
        .iter()
        .map(|e| (e.name.as_str(), e.provenance))
        .collect();
    assert_eq!(
        sources,
        [
            ("AssumeRole", Provenance::ArchiveVerified),
            ("ListUsers", Provenance::ArchiveUnverified),
        ],
        "nothing from the changed file"
    );
    assert_eq!(f.roles.len(), 1, "{:?}", f.roles);
    assert!(
        matches!(f.roles[0].outcome, FenceOutcome::Fenced { .. }),
        "a vouched-for file is evidence enough: {:?}",
        f.roles[0].outcome
    );
    let text = b.summary_text();
    assert!(
        text.contains("The CloudTrail archive was tampered with"),
        "{text}"
    );
    assert!(
        text.contains("1 of 3 files vouched for by 1 digest that CloudTrail signed"),
        "{text}"
    );
}
