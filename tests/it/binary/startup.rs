//! `keyleak serve` starting: every bad setting named at once, peers that refuse it, Socket
//! Mode alone.

use crate::support;

use std::process::Stdio;

use support::fake_socket::{APP_TOKEN, command_envelope};
use support::*;

use super::{Killed, base_command, free_port, serve, wait_ready};

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

/// `serve` checks what it depends on before it says ready: a bot token Slack refuses, or no
/// AWS credentials, is a start-up error that names the setting, and nothing is served.
#[tokio::test]
async fn serve_refuses_to_start_with_a_token_or_credentials_refused() {
    let slack = FakeSlack::start().await.unwrap();
    let moto = Moto::start().await.unwrap();
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

    // `auth.test` refuses app tokens: Socket Mode's is proven by asking for a connection.
    let mut c = serve(&slack, &moto, &db.url, free_port());
    c.env("SLACK_BOT_TOKEN", support::fake_slack::TOKEN)
        .env("SLACK_APP_TOKEN", "xapp-1-A0KEYLEAK-1-revoked")
        .env("KEYLEAK_APPROVERS", "U0APPROVER")
        .env("AWS_ACCESS_KEY_ID", "AKIAKEYLEAKTESTADMIN")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret-access-key");
    let refused = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{said}");
    assert!(
        said.contains("SLACK_APP_TOKEN") && said.contains("invalid_auth"),
        "{said}"
    );
    assert!(!said.contains("revoked"), "the token is not printed");
}

/// Over Socket Mode alone keyleak needs no signing secret and no inbound Slack request:
/// ready once a connection is open, commands answered over it, Slack's HTTP routes shut.
#[tokio::test]
async fn serve_over_socket_mode_alone_needs_no_signing_secret() {
    let slack = FakeSlack::start().await.unwrap();
    let moto = Moto::start().await.unwrap();
    let db = support::db::TestDb::new().await;
    let port = free_port();
    let mut c = serve(&slack, &moto, &db.url, port);
    c.env_remove("SLACK_SIGNING_SECRET")
        .env("SLACK_BOT_TOKEN", support::fake_slack::TOKEN)
        .env("SLACK_APP_TOKEN", APP_TOKEN)
        .env("KEYLEAK_SOCKET_CONNECTIONS", "3")
        .env("KEYLEAK_APPROVERS", "U0APPROVER")
        .env("AWS_ACCESS_KEY_ID", "AKIAKEYLEAKTESTADMIN")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret-access-key")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _serving = Killed(vec![c.spawn().unwrap()]);
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_ready(&http, &url).await;
    slack.socket.wait_connections(3).await.unwrap();

    let envelope = command_envelope("alone-1", RESPONDER, "help", &slack.response_url());
    let ack = slack.socket.deliver(&envelope).await.unwrap();
    assert!(
        ack["payload"]["text"]
            .as_str()
            .unwrap()
            .contains("/keyleak contain")
    );
    let r = http
        .post(format!("{url}/slack/commands"))
        .body("user_id=U0RESPONDER&text=help")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "no signing secret: nothing over HTTP is Slack's"
    );
}
