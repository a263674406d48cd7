//! `keyleak sandbox`: the product on one machine with nothing to sign up for. moto plays AWS
//! (installed into `.venv` when missing), the emulators play what moto lacks, the fake Slack
//! serves a page that plays Slack, a scenario is played into them, and keyleak itself serves
//! them, everything on 127.0.0.1 and stopped together.

mod page;
pub mod peers;
mod scenario;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use self::page::{PEOPLE, Person};
use self::peers::moto::{self, Moto, OWN_ACCOUNT};
use self::peers::slack::{self as fake_slack, FakeSlack};
use self::peers::trail::TrailEmulator;
use crate::aws::SdkAws;
use crate::config::{AwsEventsConfig, CoreConfig, IntakeConfig, Secret, SlackConfig};
use crate::domain::ids::RosterEntry;
use crate::domain::signal::{AutoContain, ContainPolicy};

/// The moto release `.ci/setup` installs too.
pub const MOTO_VERSION: &str = "5.2.5";
/// Where the AWS Health scenario's event carries its secret.
const EVENTS_HEADER: &str = "x-keyleak-token";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// A key leaked and used; a person contains it from the page.
    Leak,
    /// The same, and then AWS Health reports the key exposed: keyleak contains it on its own.
    Health,
}

pub struct Options {
    /// 0: any free port.
    pub port: u16,
    pub scenario: Scenario,
}

/// Runs the sandbox until `stop` completes (Ctrl-C), or keyleak stops on its own.
pub async fn run(opts: Options, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
    install_moto().await?;
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, opts.port))
        .await
        .with_context(|| {
            format!(
                "127.0.0.1:{} is taken: choose another port with --port",
                opts.port
            )
        })?;
    let addr = listener.local_addr()?;
    eprintln!("keyleak sandbox: starting moto and the emulators, and playing the scenario…");
    let moto = Moto::start().await?;
    let trail = TrailEmulator::start(&moto.url).await?;
    let slack = FakeSlack::at(addr).await?;
    let story = scenario::play(&moto, &trail)
        .await
        .context("playing the scenario into moto")?;
    let keyleak_listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let keyleak_url = format!("http://{}", keyleak_listener.local_addr()?);
    let (signing_secret, events_secret) = (random_secret(), random_secret());
    let dir = Scratch::new()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut keyleak = tokio::spawn(crate::serve::run(
        core_config(&dir.0),
        slack_config(&slack, &signing_secret, &events_secret, opts.scenario),
        SdkAws::new(peers::bot_config(&moto.url, &trail.url).await, None),
        keyleak_listener,
        stopped(stop_rx.clone()),
    ));
    let page = page::Page::new(
        slack.clone(),
        keyleak_url.clone(),
        signing_secret,
        addr.port(),
        story.told(),
    )?;
    let app = slack.router().merge(page.routes());
    let page_task = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(stopped(stop_rx))
            .into_future(),
    );
    let up = async {
        until_ready(&mut keyleak, &keyleak_url).await?;
        if opts.scenario == Scenario::Health {
            report_exposure(&keyleak_url, &events_secret, &story.leaked_key).await?;
        }
        anyhow::Ok(())
    };
    if let Err(e) = up.await {
        let _ = stop_tx.send(true);
        return Err(e);
    }
    eprintln!(
        "keyleak sandbox: AWS (moto) is at {0}, for a look with any credentials: \
         aws --endpoint-url {0} iam list-users",
        moto.url
    );
    println!("sandbox ready at http://{addr}/");
    let ended_alone = tokio::select! {
        () = stop => None,
        ended = &mut keyleak => Some(ended),
    };
    let _ = stop_tx.send(true);
    let served = match ended_alone {
        Some(ended) => ended,
        None => keyleak.await,
    };
    let _ = page_task.await;
    drop(moto);
    eprintln!("keyleak sandbox: stopped");
    served?
}

/// Completes when the sandbox is told to stop.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.changed().await;
}

/// Waits for keyleak's `/readyz`, or its end if it stops first.
async fn until_ready(
    keyleak: &mut JoinHandle<anyhow::Result<()>>,
    url: &str,
) -> anyhow::Result<()> {
    tokio::select! {
        ready = ready(url) => ready,
        ended = keyleak => Err(match ended {
            Ok(Err(e)) => e,
            Ok(Ok(())) => anyhow!("keyleak stopped as it started"),
            Err(e) => e.into(),
        }),
    }
}

/// A secret made for this run, never shown: the page signs with it, keyleak checks it.
fn random_secret() -> Secret {
    Secret::new(format!("{:032x}", rand::random::<u128>()))
}

/// A directory for the sandbox's database, removed when the sandbox stops.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "keyleak-sandbox-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// moto, from PyPI into `.venv`, when it is not there yet: the one thing the sandbox needs
/// beside itself.
async fn install_moto() -> anyhow::Result<()> {
    let bin = moto::binary();
    if bin.exists() {
        return Ok(());
    }
    if std::env::var_os("KEYLEAK_MOTO_SERVER").is_some() {
        bail!(
            "KEYLEAK_MOTO_SERVER names {}, which does not exist",
            bin.display()
        );
    }
    eprintln!("keyleak sandbox: installing moto {MOTO_VERSION} into .venv (once; needs python3)…");
    let venv = Path::new(".venv");
    step(
        tokio::process::Command::new("python3")
            .args(["-m", "venv"])
            .arg(venv),
    )
    .await?;
    step(
        tokio::process::Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(format!("moto[server]=={MOTO_VERSION}")),
    )
    .await
}

async fn step(command: &mut tokio::process::Command) -> anyhow::Result<()> {
    let what = format!("{:?}", command.as_std());
    let status = command
        .status()
        .await
        .with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

fn core_config(dir: &Path) -> CoreConfig {
    CoreConfig {
        database_url: format!("sqlite://{}/keyleak.db", dir.display()),
        role_arn_template: None,
        role_external_id: None,
        regions: Some(vec!["us-east-1".into(), "eu-west-1".into()]),
        archive: None,
        archive_limits: crate::archive::ArchiveLimits::default(),
        evidence: None,
        monitor_hours: 1,
        monitor_every_minutes: 1,
    }
}

/// Everyone may approve, so that the rule shows itself: not one's own proposal.
fn roster(who: impl Fn(&Person) -> bool) -> Vec<RosterEntry> {
    PEOPLE
        .iter()
        .filter(|p| who(p))
        .filter_map(|p| RosterEntry::parse(p.id).ok())
        .collect()
}

fn slack_config(
    slack: &FakeSlack,
    signing_secret: &Secret,
    events_secret: &Secret,
    scenario: Scenario,
) -> SlackConfig {
    let mode = match scenario {
        Scenario::Leak => AutoContain::Off,
        Scenario::Health => AutoContain::Confirmed,
    };
    SlackConfig {
        signing_secrets: vec![signing_secret.clone()],
        bot_token: Secret::new(fake_slack::TOKEN),
        socket_mode: None,
        api_url: slack.url.clone(),
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        incident_channel: fake_slack::CHANNEL.into(),
        channel_per_incident: true,
        responders: roster(|p| p.role == "responder"),
        approvers: roster(|_| true),
        proposal_ttl_minutes: 30,
        // Both approvers, so that the two-person rule is felt: neither alone can delete.
        approvals_required: 2,
        slack_timeouts: Default::default(),
        commands_per_minute: 30,
        listener: Default::default(),
        metrics_token: None,
        intake: IntakeConfig {
            aws_events: Some(AwsEventsConfig {
                header: EVENTS_HEADER.into(),
                secrets: vec![events_secret.clone()],
            }),
            github: None,
            policy: ContainPolicy {
                mode,
                ..ContainPolicy::default()
            },
        },
    }
}

/// Polls keyleak's `/readyz` for a minute.
async fn ready(keyleak: &str) -> anyhow::Result<()> {
    let http = peers::http()?;
    for _ in 0..600 {
        let ok = http
            .get(format!("{keyleak}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("keyleak was not ready within a minute")
}

/// AWS Health's exposed-credentials event, as EventBridge delivers it: AWS's published
/// sample (`tests/fixtures/eventbridge`) naming the leaked key.
async fn report_exposure(keyleak: &str, secret: &Secret, key: &str) -> anyhow::Result<()> {
    let mut event: serde_json::Value = serde_json::from_str(include_str!(
        "../../tests/fixtures/eventbridge/health_exposed.json"
    ))?;
    event["id"] = json!(uuid::Uuid::new_v4().to_string());
    event["account"] = json!(OWN_ACCOUNT);
    event["time"] = json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    event["detail"]["affectedEntities"] = json!([{ "entityValue": key }]);
    let answer = peers::http()?
        .post(format!("{keyleak}/aws/events"))
        .header(EVENTS_HEADER, secret.expose())
        .json(&event)
        .send()
        .await?;
    if !answer.status().is_success() {
        bail!("keyleak refused the AWS Health event: {}", answer.status());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// `keyleak sandbox` installs the moto the tests run against.
    #[test]
    fn the_sandbox_installs_the_moto_ci_tests_with() {
        let setup = include_str!("../../.ci/setup");
        assert!(
            setup.contains(&format!("MOTO_VERSION={}\n", super::MOTO_VERSION)),
            ".ci/setup pins another moto"
        );
    }
}
