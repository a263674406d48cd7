//! The command line without Slack: plan, contain, and investigate a local archive copy.

use crate::support;

use aws_sdk_iam::types::StatusType;
use support::*;

use super::base_command;

#[tokio::test]
async fn the_cli_plans_then_contains_without_slack() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let db = support::db::TestDb::new().await;
    let run = |args: &[&str]| {
        base_command()
            .args(args)
            .env("AWS_ENDPOINT_URL", &moto.url)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "AKIAKEYLEAKTESTADMIN")
            .env("AWS_SECRET_ACCESS_KEY", "test-secret")
            .env("USER", "oncall")
            .env("KEYLEAK_DATABASE_URL", &db.url)
            .output()
            .unwrap()
    };

    let plan = run(&["contain", &seeded.leaked.id, "--dry-run"]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.status.success(), "{text}");
    assert!(
        text.contains("ci-deploy") && text.contains("123456789012"),
        "{text}"
    );
    assert!(text.contains(&seeded.other.id), "{text}");
    assert_eq!(
        seed::key_status(&iam, "ci-deploy", &seeded.leaked.id).await,
        StatusType::Active,
        "a dry run changes nothing"
    );

    // A server sharing the database has queued a job of its own: the CLI must leave it.
    let shared = db.store().await;
    let server_job = crate::support::db::new_incident(7);
    let theirs = server_job.id.clone();
    shared.open_incident(server_job).await.unwrap();

    let out = run(&["contain", &seeded.leaked.id, "leaked", "in", "CI"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Inactive"), "{text}");
    assert!(text.contains("request id"), "{text}");
    assert_eq!(
        seed::key_status(&iam, "ci-deploy", &seeded.leaked.id).await,
        StatusType::Inactive
    );

    assert_eq!(shared.pending_jobs(Some(&theirs)).await.unwrap(), 1);

    let bad = run(&["contain", "AIDAJQABLZS4A3QDU576Q"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("IAM user id"));

    // No credentials: named as such, and a dry run that could not look fails.
    let out = base_command()
        .args(["contain", &seeded.leaked.id, "--dry-run"])
        .env("AWS_CONFIG_FILE", "/nonexistent/keyleak-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/keyleak-credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_REGION", "us-east-1")
        .env("KEYLEAK_DATABASE_URL", &db.url)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("no AWS credentials were found"), "{said}");
    assert!(said.contains("Nothing was changed"), "{said}");
}

#[test]
fn the_cli_investigates_a_local_archive_copy_and_writes_the_timeline() {
    use support::trail::{Record, trail_file};
    let archive = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let key = "AKIAIOSFODNN7EXAMPLE";
    let session = "ASIAJ7VT3PZVOFFLINE1";
    let at = chrono::Utc::now() - chrono::Duration::days(3);
    let day = archive.path().join(format!(
        "AWSLogs/111122223333/CloudTrail/us-east-1/{}",
        at.format("%Y/%m/%d")
    ));
    std::fs::create_dir_all(&day).unwrap();
    let rec = |fixture: &str, by: &str, minutes: i64| {
        Record::from(fixture)
            .by_user("111122223333", "ci-deploy", by)
            .at(at + chrono::Duration::minutes(minutes))
            .value()
    };
    let minting = Record::from("get_session_token")
        .by_user("111122223333", "ci-deploy", key)
        .at(at)
        .set(
            "/responseElements/credentials/accessKeyId",
            serde_json::json!(session),
        )
        .value();
    let records = [
        minting,
        rec("list_users", key, 1),
        rec("create_user", session, 2),
        rec("list_users", "AKIAUNRELATED0000000", 3),
    ];
    std::fs::write(day.join("a.json.gz"), trail_file(&records)).unwrap();
    std::fs::write(day.join("b.json.gz"), &trail_file(&[])[..10]).unwrap();
    // Delivered (its name says) years before the window: never opened, so never unreadable.
    std::fs::write(
        day.join("111122223333_CloudTrail_us-east-1_20200101T0000Z_old.json.gz"),
        b"not gzip",
    )
    .unwrap();
    let digest = archive
        .path()
        .join("AWSLogs/111122223333/CloudTrail-Digest");
    std::fs::create_dir_all(&digest).unwrap();
    std::fs::write(digest.join("d.json.gz"), b"digest").unwrap();

    // `--out` is made when missing.
    let out_dir = out_dir.path().join("made/for/it");
    let investigate = |extra: &[&str]| {
        base_command()
            .args(["investigate", key, "--since", "30d", "--archive"])
            .arg(archive.path())
            .arg("--out")
            .arg(&out_dir)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = investigate(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        &format!("Forensics for {key} — 3 calls"),
        "2 keys",
        "of a local copy",
        "persistence: 1",
        &format!("{session} in account 111122223333: 1 call — GetSessionToken"),
        // Read again in the minted session's round, the bad file still counts once.
        "Partial: 1 record that could not be read (",
        "b.json.gz: not a gzip file",
        "2 files, ",
        // Only what was checked is claimed.
        "Not checked: GuardDuty and the user's policies",
    ] {
        assert!(stdout.contains(needle), "{needle} not in {stdout}");
    }
    // A terminal gets text, not Slack's mark-up.
    for slack in ["*", "`", ":warning:", ":white_check_mark:", "&lt;"] {
        assert!(!stdout.contains(slack), "{slack} in {stdout}");
    }
    for unchecked in [
        "no findings",
        "had not attached",
        "Every region",
        "pages read",
        "_(",
    ] {
        assert!(!stdout.contains(unchecked), "{unchecked} in {stdout}");
    }
    let csv = std::fs::read_to_string(out_dir.join(format!("{key}-timeline.csv"))).unwrap();
    assert_eq!(csv.lines().count(), 4, "a header and three events: {csv}");
    assert!(!csv.contains("AKIAUNRELATED"));
    assert!(
        !csv.contains("IQoJb3JpZ2luX2Vj"),
        "the session token is not written"
    );
    assert!(out_dir.join(format!("{key}-timeline.json")).exists());

    // For scripts: one JSON object, the findings and where the timeline went.
    let out = investigate(&["--json"]);
    assert!(out.status.success());
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["findings"]["summary"]["events"], 3, "{answer}");
    assert_eq!(answer["findings"]["scope"], "local_copy");
    assert!(
        answer["timeline"]["csv"]
            .as_str()
            .unwrap()
            .ends_with("-timeline.csv")
    );

    // A folder with no CloudTrail file is an error, not "0 calls".
    let empty = tempfile::tempdir().unwrap();
    let out = base_command()
        .args(["investigate", key, "--archive"])
        .arg(empty.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("holds no CloudTrail log file"), "{said}");
    assert!(out.stdout.is_empty(), "no summary is printed");

    // Bad inputs: a clear error, nothing written.
    for args in [
        vec!["investigate", "AIDANOTAKEY000000000", "--archive", "."],
        vec!["investigate", key, "--archive", "/nonexistent/keyleak"],
        vec!["investigate", key, "--archive", ".", "--since", "0d"],
        vec!["investigate", key],
    ] {
        let out = base_command().args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} said why");
    }
}
