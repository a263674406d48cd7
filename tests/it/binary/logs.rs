//! `keyleak serve` at trace level through a whole incident, over HTTP and Socket Mode: no
//! secret in its logs; and it stops on SIGTERM.

use crate::support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::fake_socket::{APP_TOKEN, command_envelope};
use support::*;

use super::{Killed, free_port, incident_in, serve, wait_ready};

const PASTED: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

#[tokio::test]
async fn serve_keeps_secrets_out_of_its_logs_and_stops_on_sigterm() {
    // Everything at trace level, the libraries' own logs included: still no secret.
    let slack = FakeSlack::start().await.unwrap();
    let moto = Moto::start().await.unwrap();
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
            // Socket Mode beside HTTP: its token and its frames stay out of the logs too.
            .env("SLACK_APP_TOKEN", APP_TOKEN)
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
    wait_ready(&http, &url).await;

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
    let ack = command(contain.clone(), SIGNING_SECRET).await;
    let incident = incident_in(&ack).to_string();
    // The same command over Socket Mode, pasted secret and all: the same incident.
    slack.socket.wait_connections(2).await.unwrap();
    let envelope = command_envelope("trace-1", RESPONDER, &contain, &slack.response_url());
    let socket_ack = slack.socket.deliver(&envelope).await.unwrap();
    assert!(socket_ack.to_string().contains(&incident), "{socket_ack}");
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

    // Cleanup of the leaked key, approved by another person over Socket Mode; then the report
    // and the close, which writes the final one.
    let said = command(format!("cleanup {incident}"), SIGNING_SECRET).await;
    assert!(said.contains("Checking AWS"), "{said}");
    let proposal = wait_until(Duration::from_secs(60), || {
        let found = slack
            .messages()
            .into_iter()
            .map(|m| (m.blocks.to_string(), m))
            // Not the restore's own proposal (lifting the deny-all): the cleanup's.
            .find(|(b, _)| b.contains("proposal.approve") && b.contains("Delete access key"))
            .map(|(_, m)| m);
        async move { found }
    })
    .await
    .expect("the cleanup was proposed");
    // A click within the moment the proposal's message is posted but not yet recorded is
    // answered "press again": the approver presses again, as a person would.
    let mut presses = 0;
    let earlier = slack.responses_to("U0APPROVER").len();
    wait_until(Duration::from_secs(60), || {
        let iam = iam.clone();
        let leaked = seeded.leaked.id.clone();
        let told = slack.responses_to("U0APPROVER").split_off(earlier);
        let press = told.len() == presses
            && told.last().is_none_or(|t| t.contains("press the button again"));
        if press {
            presses += 1;
            let mut click = slack.click_payload("U0APPROVER", &proposal, "proposal.approve").unwrap();
            click["trigger_id"] = serde_json::json!(format!("trace-approve-trigger-{presses}"));
            let id = format!("trace-approve-{presses}");
            let envelope = support::fake_socket::interactive_envelope(&id, &click);
            let socket = slack.socket.clone();
            tokio::spawn(async move { socket.deliver(&envelope).await.unwrap() });
        }
        async move {
            let keys = iam
                .list_access_keys()
                .user_name("ci-deploy")
                .send()
                .await
                .ok()?;
            let ids: Vec<_> = keys
                .access_key_metadata()
                .iter()
                .filter_map(|k| k.access_key_id())
                .collect();
            (!ids.contains(&leaked.as_str())).then_some(())
        }
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "the approved cleanup did not delete the leaked key; the approver was told {:?}; Slack shows: {}",
            slack.responses_to("U0APPROVER"),
            slack.all_text()
        )
    });
    let said = command(format!("report {incident}"), SIGNING_SECRET).await;
    assert!(said.contains(&incident), "{said}");
    wait_until(Duration::from_secs(60), || {
        let written = slack
            .files()
            .iter()
            .any(|f| f.filename.ends_with("-report.md"));
        async move { written.then_some(()) }
    })
    .await
    .expect("the report was written");
    let said = command(format!("close {incident}"), SIGNING_SECRET).await;
    assert!(said.contains("is closed"), "{said}");
    wait_until(Duration::from_secs(60), || {
        let told = slack.all_text().contains("Final report");
        async move { told.then_some(()) }
    })
    .await
    .unwrap_or_else(|| panic!("the close wrote no final report: {}", slack.all_text()));
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
        APP_TOKEN.to_string(),
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
