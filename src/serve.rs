//! `keyleak serve` once its settings are made: the store, the engine with its Slack and AWS
//! adapters, the workers, Socket Mode and the HTTP listener, until told to stop. The command
//! line and the sandbox both start keyleak through it.

use std::sync::Arc;

use anyhow::{Context, bail};
use tracing::info;

use crate::aws::SdkAws;
use crate::config::{CoreConfig, SlackConfig, SocketModeConfig};
use crate::engine::clock::SystemClock;
use crate::engine::{
    ApprovalSettings, Engine, ForensicsSettings, MonitorSettings, PeerProblem, RoomSettings,
    Worker, WorkerSettings,
};
use crate::slack::client::SlackNotifier;
use crate::slack::routes::AppState;
use crate::slack::socket::SocketMode;
use crate::store;

/// `keyleak serve` with its settings made: Slack's requests on `listener` and the workers,
/// until `stop` completes.
pub async fn run(
    core: CoreConfig,
    slack: SlackConfig,
    aws: SdkAws,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = open_store(&core.database_url).await?;
    let aws = Arc::new(aws);
    let notifier = Arc::new(
        SlackNotifier::new(
            &slack.api_url,
            &slack.bot_token,
            &slack.incident_channel,
            slack.slack_timeouts,
        )
        .context("building the Slack client")?,
    );
    let approvals = ApprovalSettings {
        ttl: chrono::Duration::minutes(i64::from(slack.proposal_ttl_minutes)),
        required: slack.approvals_required,
    };
    let mut engine = Engine::new(store, aws, notifier.clone(), Arc::new(SystemClock))
        .with_approvals(approvals)
        .with_forensics(forensics(&core))
        .with_rooms(rooms(&slack))
        .with_contain_policy(slack.intake.policy.clone())
        .with_evidence_copy(core.evidence.clone())
        .with_monitoring(MonitorSettings {
            window: chrono::Duration::hours(i64::from(core.monitor_hours)),
            every: chrono::Duration::minutes(i64::from(core.monitor_every_minutes)),
        })
        .with_peer_checks();
    if let Some(gh) = &slack.intake.github {
        let client = crate::github::RestGitHub::new(&gh.api_url, gh.token.clone())
            .context("building the GitHub client")?;
        engine = engine.with_alerts(Arc::new(client));
    }
    // A token Slack refuses or credentials AWS refuses would otherwise surface only on the
    // first incident, at the worst moment: say so now, naming what to fix.
    match engine.check_peers().await {
        Ok(()) => info!("Slack and AWS accept keyleak"),
        Err(PeerProblem::Slack(e)) => bail!(
            "Slack did not accept keyleak ({e}): check SLACK_BOT_TOKEN, and KEYLEAK_SLACK_API_URL if set"
        ),
        Err(PeerProblem::Aws(e)) => bail!(
            "AWS did not accept keyleak's credentials ({e}): check the AWS_* settings \
             (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the role the process runs as)"
        ),
    }
    let socket = match &slack.socket_mode {
        Some(config) => Some(open_socket_mode(config, &notifier).await?),
        None => None,
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = Worker::new(engine.clone(), WorkerSettings::default());
    let mut worker_stop = stop_rx.clone();
    let worker_task = tokio::spawn(worker.run(async move {
        let _ = worker_stop.changed().await;
    }));
    info!(addr = %listener.local_addr()?, "keyleak listening");
    let limits = slack.listener;
    let mut state = AppState::new(engine, Arc::new(slack), notifier);
    let socket_task = socket.map(|(socket, first)| {
        state.socket = Some(socket.status());
        tokio::spawn(socket.run(state.clone(), Some(first), stop_rx.clone()))
    });
    let app = crate::slack::server::router(state);
    let mut http_stop = stop_rx;
    tokio::spawn(async move {
        stop.await;
        let _ = stop_tx.send(true);
    });
    crate::listener::serve(listener, app, limits, async move {
        let _ = http_stop.changed().await;
    })
    .await;
    if let Some(t) = socket_task {
        t.await?;
    }
    worker_task.await?;
    info!("keyleak stopped");
    Ok(())
}

/// Socket Mode, its app token proven by the first connection URL Slack gives for it.
async fn open_socket_mode(
    config: &SocketModeConfig,
    slack: &SlackNotifier,
) -> anyhow::Result<(SocketMode, url::Url)> {
    let socket = SocketMode::new(config.clone()).context("setting up TLS for Socket Mode")?;
    match socket.check(slack).await {
        Ok(first) => Ok((socket, first)),
        Err(e) => bail!(
            "Slack did not open a Socket Mode connection ({e}): check SLACK_APP_TOKEN (an \
             app-level xapp- token with connections:write, of an app with Socket Mode on)"
        ),
    }
}

/// The store, or an error that names the setting to fix (never the URL, which may hold a
/// password).
pub(crate) async fn open_store(url: &str) -> anyhow::Result<Arc<dyn store::Store>> {
    store::connect(url)
        .await
        .context("KEYLEAK_DATABASE_URL: the database could not be opened")
}

fn rooms(slack: &SlackConfig) -> RoomSettings {
    RoomSettings {
        per_incident: slack.channel_per_incident,
        invite: [slack.responders.clone(), slack.approvers.clone()].concat(),
    }
}

pub(crate) fn forensics(core: &CoreConfig) -> ForensicsSettings {
    ForensicsSettings {
        regions: core.regions.clone(),
        archive: core.archive.clone(),
        ..ForensicsSettings::default()
    }
}
