//! The `keyleak` binary itself: start-up validation, graceful shutdown, logs free of
//! secrets even at trace level, replicas on one database, and the CLI playbook against moto.
//! This file holds what the tests share: how to start the binary, and to stop it.

mod cli;
mod logs;
mod replicas;
mod sandbox;
mod startup;

use std::process::Command;

use crate::support::{self, FakeSlack, Moto, RESPONDER, SIGNING_SECRET};

const BIN: &str = env!("CARGO_BIN_EXE_keyleak");

fn base_command() -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir());
    c
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

/// Waits for `keyleak serve` at `url` to say it is ready.
async fn wait_ready(http: &reqwest::Client, url: &str) {
    let ready = support::wait_until(std::time::Duration::from_secs(30), || {
        let r = http.get(format!("{url}/readyz")).send();
        async move { (r.await.ok()?.status() == 200).then_some(()) }
    })
    .await;
    assert!(ready.is_some(), "keyleak serve at {url} never became ready");
}

/// The incident an answer names.
fn incident_in(answer: &str) -> keyleak::domain::ids::IncidentId {
    let at = answer.find("KL-").expect("the answer names the incident");
    keyleak::domain::ids::IncidentId::parse(&answer[at..at + 11]).unwrap()
}

/// Waits for the incident to be contained, reading the store directly.
async fn wait_contained(
    store: &std::sync::Arc<dyn keyleak::store::Store>,
    id: &keyleak::domain::ids::IncidentId,
) {
    let contained = support::wait_until(std::time::Duration::from_secs(60), || {
        let (store, id) = (store.clone(), id.clone());
        async move {
            let i = store.incident(&id).await.ok()?;
            (i.state == keyleak::domain::incident::IncidentState::Contained).then_some(())
        }
    })
    .await;
    assert!(contained.is_some(), "{id} was never contained");
}

/// Posts `body` to `path` as Slack signs it, now.
async fn post_signed(
    http: &reqwest::Client,
    url: &str,
    path: &str,
    body: String,
) -> reqwest::Response {
    let ts = chrono::Utc::now().timestamp().to_string();
    let sig = support::sign(SIGNING_SECRET, &ts, body.as_bytes());
    http.post(format!("{url}{path}"))
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", sig)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// `/keyleak <text>` from the responder, signed: the answer's text.
async fn command(http: &reqwest::Client, url: &str, text: &str) -> String {
    let body = serde_urlencoded::to_string([("user_id", RESPONDER), ("text", text)]).unwrap();
    post_signed(http, url, "/slack/commands", body)
        .await
        .text()
        .await
        .unwrap()
}
