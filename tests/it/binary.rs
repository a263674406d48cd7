//! The `keyleak` binary itself: start-up validation, graceful shutdown, logs free of
//! secrets even at debug level, and the CLI playbook against moto.

use crate::support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_iam::types::StatusType;
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_keyleak");
const PASTED: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

fn base_command() -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir());
    c
}

#[test]
fn serve_names_every_missing_or_malformed_setting_and_no_secret() {
    let out = base_command()
        .arg("serve")
        .env("SLACK_BOT_TOKEN", "xoxp-a-user-token-not-a-bot-token")
        .env("KEYLEAK_RESPONDERS", "alice")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for var in [
        "SLACK_SIGNING_SECRET",
        "SLACK_BOT_TOKEN",
        "KEYLEAK_INCIDENT_CHANNEL",
        "KEYLEAK_RESPONDERS",
        "KEYLEAK_APPROVERS",
    ] {
        assert!(err.contains(var), "{var} not named in: {err}");
    }
    assert!(!err.contains("xoxp-a-user-token"), "{err}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `keyleak serve` on loopback: Slack at the fake, AWS at moto, the database at `db_url`;
/// each test adds its roster, logging and credentials.
fn serve(slack: &FakeSlack, moto: &Moto, db_url: &str, port: u16) -> Command {
    let mut c = base_command();
    c.arg("serve")
        .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        .env("KEYLEAK_SLACK_API_URL", &slack.url)
        .env("KEYLEAK_INCIDENT_CHANNEL", support::fake_slack::CHANNEL)
        .env("KEYLEAK_RESPONDERS", RESPONDER)
        .env("KEYLEAK_LISTEN", format!("127.0.0.1:{port}"))
        .env("KEYLEAK_DATABASE_URL", db_url)
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_REGION", "us-east-1");
    c
}

#[tokio::test]
async fn serve_keeps_secrets_out_of_its_logs_and_stops_on_sigterm() {
    // Everything at trace level, the libraries' own logs included: still no secret.
    let slack = FakeSlack::start().await;
    let moto = Moto::start().await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    // One key left, so that restore may make a new one.
    iam.delete_access_key()
        .user_name("ci-deploy")
        .access_key_id(&seeded.other.id)
        .send()
        .await
        .unwrap();
    let short_key = format!("AKIA…{}", &seeded.leaked.id[16..]);
    let db = support::db::TestDb::new().await;
    // On PostgreSQL the URL carries a password (the local server trusts loopback, so any
    // password does): it must not reach the logs either.
    const DB_PASSWORD: &str = "db-password-for-the-log-test";
    let db_url = db
        .url
        .replacen("://postgres@", &format!("://postgres:{DB_PASSWORD}@"), 1);
    let port = free_port();
    let mut serving = Killed(vec![
        serve(&slack, &moto, &db_url, port)
            .env("SLACK_BOT_TOKEN", support::fake_slack::TOKEN)
            .env("KEYLEAK_APPROVERS", "U0APPROVER")
            .env("KEYLEAK_LOG", "trace")
            .env("KEYLEAK_LOG_FORMAT", "json")
            .env("AWS_ACCESS_KEY_ID", "AKIAKEYLEAKTESTADMIN")
            .env("AWS_SECRET_ACCESS_KEY", "bot-secret-access-key-value")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ]);
    // Killed when the test ends, however it ends; stopped by SIGTERM below when it passes.
    let child = &mut serving.0[0];
    // Read the logs as they come: at debug level they outgrow a pipe's buffer, and a child
    // blocked writing to a full pipe cannot stop.
    let mut stderr = child.stderr.take().unwrap();
    let log_reader = std::thread::spawn(move || {
        let mut logs = String::new();
        stderr.read_to_string(&mut logs).map(|_| logs)
    });
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_until(Duration::from_secs(20), || {
        let http = http.clone();
        let url = url.clone();
        async move {
            http.get(format!("{url}/readyz"))
                .send()
                .await
                .ok()
                .map(|_| ())
        }
    })
    .await
    .expect("keyleak serve came up");

    // Signed as Slack signs (and once forged), each answer's text returned.
    let signatures = std::sync::Mutex::new(vec![]);
    let command = |text: String, secret: &'static str| {
        let (http, url) = (http.clone(), url.clone());
        let body = serde_urlencoded::to_string([("user_id", RESPONDER), ("text", &text)]).unwrap();
        let ts = chrono::Utc::now().timestamp().to_string();
        let sig = sign(secret, &ts, body.as_bytes());
        signatures.lock().unwrap().push(sig.clone());
        async move {
            let r = http
                .post(format!("{url}/slack/commands"))
                .header("x-slack-request-timestamp", &ts)
                .header("x-slack-signature", sig)
                .body(body)
                .send()
                .await
                .unwrap();
            r.text().await.unwrap()
        }
    };
    let contain = format!("contain {} leaked {PASTED}", seeded.leaked.id);
    command(contain.clone(), "a-forger-guess").await;
    let ack = command(contain, SIGNING_SECRET).await;
    let at = ack.find("KL-").expect("the ack names the incident");
    let incident = ack[at..at + 11].to_string();
    // Restore hands a new key over: its secret passes through the bot, at trace level too.
    let restoring = wait_until(Duration::from_secs(60), || {
        let said = command(format!("restore {incident} new-key"), SIGNING_SECRET);
        async move { said.await.contains("Restoring").then_some(()) }
    })
    .await;
    restoring.expect("the key was contained and its restore began");
    let secrets = aws_sdk_secretsmanager::Client::new(&moto.own_config().await);
    let new_secret = wait_until(Duration::from_secs(60), || {
        let secrets = secrets.clone();
        async move {
            let listed = secrets.list_secrets().send().await.ok()?;
            let name = listed.secret_list().first()?.name()?.to_string();
            let value = secrets
                .get_secret_value()
                .secret_id(name)
                .send()
                .await
                .ok()?;
            let handed: serde_json::Value = serde_json::from_str(value.secret_string()?).ok()?;
            handed["SecretAccessKey"].as_str().map(str::to_string)
        }
    })
    .await
    .expect("the new key was handed over");
    let signatures = signatures.into_inner().unwrap();

    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "keyleak did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "graceful shutdown exits 0");
    let logs = log_reader.join().unwrap().unwrap();
    assert!(
        logs.contains("rejected an unverified Slack request"),
        "{logs}"
    );
    // Credentials from the environment: the SDK never looks for instance metadata.
    assert!(!logs.to_lowercase().contains("imds"), "{logs}");
    assert!(!logs.contains("169.254.169.254"), "{logs}");
    // KEYLEAK_LOG_FORMAT=json: one object per line, and the playbook's lines name the
    // incident and the key by its last four characters.
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let playbook: Vec<_> = lines
        .iter()
        .filter(|l| l["span"]["name"] == "job" && l["span"]["kind"] == "contain")
        .collect();
    assert!(!playbook.is_empty(), "{logs}");
    assert!(
        lines.iter().any(|l| l["level"] == "TRACE"),
        "the logs are at trace level"
    );
    for l in playbook {
        assert_eq!(l["span"]["key"], short_key.as_str(), "{l}");
        assert!(l["span"]["incident"].as_str().is_some(), "{l}");
    }
    let mut forbidden = vec![
        SIGNING_SECRET.to_string(),
        support::fake_slack::TOKEN.to_string(),
        "bot-secret-access-key-value".to_string(),
        seeded.leaked.secret.clone(),
        new_secret,
        DB_PASSWORD.to_string(),
        PASTED.to_string(),
        PASTED.replace('/', "%2F"),
    ];
    for s in &signatures {
        forbidden.push(s.trim_start_matches("v0=").to_string());
    }
    for f in forbidden {
        assert!(
            !logs.contains(&f),
            "the logs contain a secret ({} chars)",
            f.len()
        );
    }
}

/// `serve` checks what it depends on before it says ready: a bot token Slack refuses, or no
/// AWS credentials, is a start-up error that names the setting, and nothing is served.
#[tokio::test]
async fn serve_refuses_to_start_with_a_token_or_credentials_refused() {
    let slack = FakeSlack::start().await;
    let moto = Moto::start().await;
    let db = support::db::TestDb::new().await;
    let start = |token: &str, aws_key: Option<&str>| {
        let mut c = serve(&slack, &moto, &db.url, free_port());
        c.env("SLACK_BOT_TOKEN", token)
            .env("KEYLEAK_APPROVERS", "U0APPROVER")
            // Never the instance metadata service: nothing here leaves loopback.
            .env("AWS_EC2_METADATA_DISABLED", "true");
        if let Some(k) = aws_key {
            c.env("AWS_ACCESS_KEY_ID", k)
                .env("AWS_SECRET_ACCESS_KEY", "test-secret-access-key");
        }
        // Off this runtime's thread: the fake Slack answers on it.
        tokio::task::spawn_blocking(move || c.output().unwrap())
    };
    let refused = start(
        "xoxb-a-token-slack-does-not-know",
        Some("AKIAKEYLEAKTESTADMIN"),
    )
    .await
    .unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{said}");
    assert!(
        said.contains("SLACK_BOT_TOKEN") && said.contains("invalid_auth"),
        "{said}"
    );
    assert!(
        !said.contains("xoxb-a-token-slack-does-not-know"),
        "the token is not printed"
    );

    let no_credentials = start(support::fake_slack::TOKEN, None).await.unwrap();
    let said = String::from_utf8_lossy(&no_credentials.stderr);
    assert!(!no_credentials.status.success(), "{said}");
    assert!(
        said.contains("AWS did not accept") && said.contains("AWS_ACCESS_KEY_ID"),
        "{said}"
    );
}

#[tokio::test]
async fn the_cli_plans_then_contains_without_slack() {
    let moto = Moto::start().await;
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
    let theirs = keyleak::domain::ids::IncidentId::from_random(7);
    shared
        .open_incident(keyleak::store::NewIncident {
            id: theirs.clone(),
            key: keyleak::domain::ids::AccessKeyId::parse("AKIASERVERSJOB000000").unwrap(),
            reason: None,
            requested_by: keyleak::domain::incident::Actor::Cli("server".into()),
            now: chrono::Utc::now(),
            origin: "test".into(),
            response_url: None,
        })
        .await
        .unwrap();

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
    let digest = archive
        .path()
        .join("AWSLogs/111122223333/CloudTrail-Digest");
    std::fs::create_dir_all(&digest).unwrap();
    std::fs::write(digest.join("d.json.gz"), b"digest").unwrap();

    let out = base_command()
        .args(["investigate", key, "--since", "30d", "--archive"])
        .arg(archive.path())
        .arg("--out")
        .arg(out_dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        &format!("*Forensics for `{key}`* — 3 calls"),
        "2 keys",
        "persistence: 1",
        &format!("`{session}` in 111122223333: 1 call — GetSessionToken"),
        // Read again in the minted session's round, the bad file still counts once.
        "*Partial:* 1 record that could not be read (",
        "b.json.gz: not a gzip file",
        "Partial",
    ] {
        assert!(stdout.contains(needle), "{needle} not in {stdout}");
    }
    let csv = std::fs::read_to_string(out_dir.path().join(format!("{key}-timeline.csv"))).unwrap();
    assert_eq!(csv.lines().count(), 4, "a header and three events: {csv}");
    assert!(!csv.contains("AKIAUNRELATED"));
    assert!(
        !csv.contains("IQoJb3JpZ2luX2Vj"),
        "the session token is not written"
    );
    assert!(out_dir.path().join(format!("{key}-timeline.json")).exists());

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

/// Two real `keyleak serve` processes on one PostgreSQL database behave as one bot: started
/// together on an empty database, they migrate it once; twenty approvers press Approve at
/// once, their clicks spread over both processes, and the key is deleted once, by one
/// execution.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_serve_processes_on_one_database_execute_an_approval_once() {
    let slack = FakeSlack::start().await;
    let moto = Moto::start().await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let db = support::db::TestDb::postgres().await;
    let approvers: Vec<String> = (0..20).map(|n| format!("U0APPR{n:04}")).collect();
    let ports = [free_port(), free_port()];
    let _replicas: Killed = Killed(
        ports
            .iter()
            .map(|port| {
                serve(&slack, &moto, &db.url, *port)
                    .env("SLACK_BOT_TOKEN", support::fake_slack::TOKEN)
                    .env("KEYLEAK_INCIDENT_CHANNEL_MODE", "shared")
                    .env("KEYLEAK_APPROVERS", approvers.join(","))
                    .env("KEYLEAK_REGIONS", "us-east-1")
                    .env("AWS_ACCESS_KEY_ID", "AKIAKEYLEAKTESTADMIN")
                    .env("AWS_SECRET_ACCESS_KEY", "test-secret")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect(),
    );
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let http = reqwest::Client::new();
    for url in &urls {
        wait_until(Duration::from_secs(30), || {
            let r = http.get(format!("{url}/readyz")).send();
            async move { (r.await.ok()?.status() == 200).then_some(()) }
        })
        .await
        .expect("both replicas came up");
    }
    // Both started together on an empty database: the schema was made once, not fought over.
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
        .fetch_all(&db.pool().await)
        .await
        .unwrap();
    assert_eq!(applied, vec![1], "one migration, applied once");
    let post = |url: &str, path: &str, body: String| {
        let ts = chrono::Utc::now().timestamp().to_string();
        let sig = sign(SIGNING_SECRET, &ts, body.as_bytes());
        http.post(format!("{url}{path}"))
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .body(body)
            .send()
    };
    let command = |url: &str, text: String| {
        let body = serde_urlencoded::to_string([("user_id", RESPONDER), ("text", &text)]).unwrap();
        post(url, "/slack/commands", body)
    };
    let store = db.store().await;
    let ack = command(&urls[0], format!("contain {}", seeded.leaked.id))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = ack.find("KL-").expect("the ack names the incident");
    let id = keyleak::domain::ids::IncidentId::parse(&ack[at..at + 11]).unwrap();
    wait_until(Duration::from_secs(60), || {
        let (store, id) = (store.clone(), id.clone());
        async move {
            let i = store.incident(&id).await.ok()?;
            (i.state == keyleak::domain::incident::IncidentState::Contained).then_some(())
        }
    })
    .await
    .expect("contained");
    let said = command(
        &urls[1],
        format!("cleanup {id} delete-key {}", seeded.leaked.id),
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(said.contains("Checking AWS"), "{said}");
    let proposal = wait_until(Duration::from_secs(60), || {
        let (store, id) = (store.clone(), id.clone());
        async move {
            let p = store.proposals(&id).await.ok()?.pop()?;
            p.message.is_some().then_some(p)
        }
    })
    .await
    .expect("the proposal was posted");
    let message = slack
        .message(&proposal.message.as_ref().unwrap().ts)
        .unwrap();
    let clicks: Vec<_> = approvers
        .iter()
        .enumerate()
        .map(|(n, who)| {
            let payload = slack.click_payload(who, &message, "proposal.approve");
            let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
            post(&urls[n % 2], "/slack/interactions", body)
        })
        .collect();
    for r in futures::future::join_all(clicks).await {
        assert_eq!(r.unwrap().status(), 200);
    }
    let done = wait_until(Duration::from_secs(60), || {
        let (store, id) = (store.clone(), proposal.id.clone());
        async move {
            let p = store.proposal(&id).await.ok()??;
            (p.state == keyleak::domain::approval::ProposalState::Done).then_some(p)
        }
    })
    .await
    .expect("the proposal ran");
    assert!(done.outcome.is_some());
    let keys = iam
        .list_access_keys()
        .user_name("ci-deploy")
        .send()
        .await
        .unwrap();
    let ids: Vec<&str> = keys
        .access_key_metadata()
        .iter()
        .filter_map(|k| k.access_key_id())
        .collect();
    assert_eq!(
        ids,
        vec![seeded.other.id.as_str()],
        "only the leaked key is gone"
    );
    // Every click answered; one approval, one execution, whichever replica each reached.
    wait_until(Duration::from_secs(30), || {
        let n = approvers
            .iter()
            .filter(|a| !slack.responses_to(a).is_empty())
            .count();
        async move { (n == 20).then_some(()) }
    })
    .await
    .expect("every approver was answered");
    let log = store.audit_log(Some(&id)).await.unwrap();
    let count = |a: &str| log.iter().filter(|e| e.action.name() == a).count();
    assert_eq!(count("proposal.approved"), 1);
    assert_eq!(count("proposal.executing"), 1);
    assert_eq!(count("proposal.done"), 1);
    assert_eq!(count("proposal.refused"), 19);
}

/// Child processes killed when the test ends, however it ends.
struct Killed(Vec<std::process::Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
