//! The test harness: the real router, store, adapters and worker, against real peers on
//! loopback (moto, the fake Slack) and a SQLite file in a temporary directory.
#![allow(dead_code)]

pub mod db;
pub mod fake_github;
pub mod proposals;
pub mod proxy;
pub mod runbook;
pub mod seed;
pub mod tcp_proxy;
pub mod trail;

// The peers live in the crate, where `keyleak sandbox` uses them too.
#[allow(unused_imports)]
pub use keyleak::sandbox::peers::{
    iam as iam_emu, moto, slack as fake_slack, socket as fake_socket, trail as trail_emu,
};

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyleak::aws::SdkAws;
use keyleak::config::SlackTimeouts;
use keyleak::config::{
    AwsEventsConfig, GitHubConfig, IntakeConfig, Secret, SlackConfig, SocketModeConfig,
};
use keyleak::domain::ids::{IncidentId, RosterEntry};
use keyleak::domain::incident::{Incident, IncidentState};
use keyleak::domain::signal::ContainPolicy;
use keyleak::engine::clock::{Clock, SystemClock};
use keyleak::engine::{
    ApprovalSettings, Engine, ForensicsSettings, MonitorSettings, RoomSettings, Worker,
    WorkerSettings,
};
use keyleak::github::RestGitHub;
use keyleak::listener::ListenerLimits;
use keyleak::slack::client::SlackNotifier;
use keyleak::slack::routes::AppState;
use keyleak::slack::socket::SocketMode;
use keyleak::store::Store;

#[allow(unused_imports)]
pub use fake_slack::FakeSlack;
#[allow(unused_imports)]
pub use moto::Moto;

pub const SIGNING_SECRET: &str = "test-signing-secret-0123456789abcdef";
/// What the EventBridge connection sends in `AWS_EVENTS_HEADER`.
pub const AWS_EVENTS_SECRET: &str = "eventbridge-api-key-for-tests";
pub const AWS_EVENTS_HEADER: &str = "x-keyleak-token";

pub const RESPONDER: &str = "U0RESPONDER";
pub const ONCALL_GROUP: &str = "S0ONCALL01";
pub const ONCALLER: &str = "U0ONCALLER";
pub const OUTSIDER: &str = "U0OUTSIDER";
pub const APPROVER: &str = "U0APPROVER";
/// A user group on the approvers roster; tests fill it.
pub const APPROVERS_GROUP: &str = "S0APPROVERS";

pub struct Options {
    pub clock: Arc<dyn Clock>,
    pub start_worker: bool,
    pub role_arn_template: Option<String>,
    pub approvals: ApprovalSettings,
    pub forensics: ForensicsSettings,
    /// A private channel per incident. Off by default so that a test's incident messages are
    /// in `fake_slack::CHANNEL`; the room's own tests turn it on.
    pub rooms: bool,
    /// Off by default: a poll after every containment would add CloudTrail lookups to tests
    /// about other things. Monitoring's own tests turn it on.
    pub monitoring: MonitorSettings,
    pub slack_timeouts: SlackTimeouts,
    pub commands_per_minute: u32,
    pub listener: ListenerLimits,
    pub metrics_token: Option<&'static str>,
    /// The database, when not a fresh one on the run's store: another replica's, say.
    pub database: Option<db::TestDb>,
    /// Slack's requests over Socket Mode (two connections) as well as over HTTP.
    pub socket_mode: bool,
    /// `POST /aws/events` (on, with `AWS_EVENTS_SECRET`) and the containment policy (`off`).
    pub intake: IntakeConfig,
    /// `KEYLEAK_EVIDENCE_BUCKET`, as `s3://bucket[/prefix]`.
    pub evidence_copy: Option<&'static str>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            start_worker: true,
            role_arn_template: None,
            approvals: ApprovalSettings::default(),
            // One region keeps the forensics that follows every containment quick; tests
            // of forensics itself name theirs.
            forensics: ForensicsSettings {
                regions: Some(vec!["us-east-1".into()]),
                ..ForensicsSettings::default()
            },
            rooms: false,
            monitoring: MonitorSettings {
                window: chrono::Duration::zero(),
                every: chrono::Duration::minutes(5),
            },
            slack_timeouts: SlackTimeouts::default(),
            commands_per_minute: 30,
            listener: ListenerLimits::default(),
            metrics_token: None,
            database: None,
            socket_mode: false,
            intake: IntakeConfig {
                aws_events: Some(AwsEventsConfig {
                    header: AWS_EVENTS_HEADER.into(),
                    secrets: vec![Secret::new(AWS_EVENTS_SECRET)],
                }),
                // Set by `App::start`, on the fake GitHub it starts.
                github: None,
                policy: ContainPolicy::default(),
            },
            evidence_copy: None,
        }
    }
}

pub struct App {
    pub url: String,
    pub slack: FakeSlack,
    pub github: fake_github::FakeGitHub,
    pub engine: Engine,
    /// The engine's store and clock, for assertions: the engine keeps its own private.
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub db: db::TestDb,
    pub http: reqwest::Client,
    worker: Option<tokio::task::JoinHandle<()>>,
    /// Held while Socket Mode runs: dropping it closes the connections.
    socket_stop: Option<tokio::sync::watch::Sender<bool>>,
}

pub fn slack_config(api_url: &str) -> SlackConfig {
    SlackConfig {
        signing_secrets: vec![Secret::new(SIGNING_SECRET)],
        bot_token: Secret::new(fake_slack::TOKEN),
        socket_mode: None,
        api_url: api_url.to_string(),
        listen: "127.0.0.1:0".parse().unwrap(),
        incident_channel: fake_slack::CHANNEL.into(),
        channel_per_incident: false,
        responders: vec![
            RosterEntry::parse(RESPONDER).unwrap(),
            RosterEntry::parse(ONCALL_GROUP).unwrap(),
        ],
        approvers: vec![
            RosterEntry::parse(APPROVER).unwrap(),
            RosterEntry::parse(APPROVERS_GROUP).unwrap(),
        ],
        proposal_ttl_minutes: 30,
        approvals_required: 1,
        slack_timeouts: SlackTimeouts::default(),
        commands_per_minute: 30,
        listener: ListenerLimits::default(),
        metrics_token: None,
        intake: IntakeConfig::default(),
    }
}

/// Socket Mode on the fake Slack, as `keyleak serve` starts it: the app token proven by the
/// first URL, which opens the first connection.
async fn start_socket_mode(
    state: &mut AppState,
    notifier: &SlackNotifier,
) -> tokio::sync::watch::Sender<bool> {
    let socket = SocketMode::new(SocketModeConfig {
        app_token: Secret::new(fake_socket::APP_TOKEN),
        connections: 2,
    })
    .unwrap();
    let first = socket.check(notifier).await.unwrap();
    state.socket = Some(socket.status());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(socket.run(state.clone(), Some(first), stopped));
    stop
}

impl App {
    /// Starts the bot with AWS at `aws` (moto, or an unreachable address when a test must
    /// not touch AWS).
    pub async fn start(aws: aws_config::SdkConfig, opts: Options) -> Self {
        let db = match opts.database {
            Some(db) => db,
            None => db::TestDb::new().await,
        };
        let store = db.store().await;
        let slack = FakeSlack::start().await.unwrap();
        slack.add_group(ONCALL_GROUP, &[ONCALLER]);
        slack.add_group(APPROVERS_GROUP, &[]);
        let github = fake_github::FakeGitHub::start().await;
        let mut intake = opts.intake.clone();
        intake.github = Some(GitHubConfig {
            webhook_secrets: vec![Secret::new(fake_github::WEBHOOK_SECRET)],
            token: Secret::new(fake_github::TOKEN),
            api_url: github.url.clone(),
        });
        let alerts = RestGitHub::new(&github.url, Secret::new(fake_github::TOKEN)).unwrap();
        let cfg = SlackConfig {
            channel_per_incident: opts.rooms,
            slack_timeouts: opts.slack_timeouts,
            commands_per_minute: opts.commands_per_minute,
            listener: opts.listener,
            metrics_token: opts.metrics_token.map(Secret::new),
            intake,
            ..slack_config(&slack.url)
        };
        let notifier = Arc::new(
            SlackNotifier::new(
                &cfg.api_url,
                &cfg.bot_token,
                &cfg.incident_channel,
                cfg.slack_timeouts,
            )
            .unwrap(),
        );
        let aws = Arc::new(SdkAws::new(aws, opts.role_arn_template.clone()));
        let engine = Engine::new(store.clone(), aws, notifier.clone(), opts.clock.clone())
            .with_approvals(opts.approvals)
            .with_forensics(opts.forensics)
            .with_monitoring(opts.monitoring)
            .with_evidence_copy(opts.evidence_copy.map(|at| {
                keyleak::archive::layout::ArchiveLocation::parse(at).expect("an s3:// address")
            }))
            .with_contain_policy(opts.intake.policy.clone())
            .with_alerts(Arc::new(alerts))
            .with_rooms(RoomSettings {
                per_incident: opts.rooms,
                invite: [cfg.responders.clone(), cfg.approvers.clone()].concat(),
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let limits = cfg.listener;
        let mut state = AppState::new(engine.clone(), Arc::new(cfg), notifier.clone());
        let socket_stop = match opts.socket_mode {
            true => Some(start_socket_mode(&mut state, &notifier).await),
            false => None,
        };
        let router = keyleak::slack::server::router(state);
        tokio::spawn(keyleak::listener::serve(
            listener,
            router,
            limits,
            std::future::pending(),
        ));
        let mut app = Self {
            url,
            slack,
            github,
            engine,
            store,
            clock: opts.clock,
            db,
            http: reqwest::Client::new(),
            worker: None,
            socket_stop,
        };
        if opts.start_worker {
            app.start_worker(WorkerSettings::default());
        }
        app
    }

    pub fn start_worker(&mut self, settings: WorkerSettings) {
        let worker = Worker::new(self.engine.clone(), settings);
        self.worker = Some(tokio::spawn(worker.run(std::future::pending())));
    }

    /// Stops the worker as a crash would: wherever it is, without cleanup.
    pub fn kill_worker(&mut self) {
        if let Some(w) = self.worker.take() {
            w.abort();
        }
    }

    pub async fn command_as(&self, user: &str, text: &str) -> reqwest::Response {
        let response_url = self.slack.response_url();
        self.command_with(user, text, &response_url).await
    }

    pub async fn command_with(
        &self,
        user: &str,
        text: &str,
        response_url: &str,
    ) -> reqwest::Response {
        let body = serde_urlencoded::to_string([
            ("token", "legacy-verification-token"),
            ("team_id", "T0TEAM0001"),
            ("channel_id", "C0SOMEWHERE"),
            ("user_id", user),
            ("user_name", "someone"),
            ("command", "/keyleak"),
            ("text", text),
            ("response_url", response_url),
            ("trigger_id", "1.2.3"),
        ])
        .unwrap();
        self.post_signed("/slack/commands", body).await
    }

    pub async fn command(&self, text: &str) -> reqwest::Response {
        self.command_as(RESPONDER, text).await
    }

    /// Signs with the bot's own clock, so tests that move a manual clock stay within
    /// Slack's five-minute window.
    pub async fn post_signed(&self, path: &str, body: String) -> reqwest::Response {
        self.post_signed_with(&self.http, path, body).await
    }

    /// The same through `client` (one that keeps no connections, say).
    pub async fn post_signed_with(
        &self,
        client: &reqwest::Client,
        path: &str,
        body: String,
    ) -> reqwest::Response {
        let ts = self.clock.now().timestamp().to_string();
        let sig = sign(SIGNING_SECRET, &ts, body.as_bytes());
        client
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// `/keyleak contain` as the responder; returns the incident the answer names.
    pub async fn contain(&self, key: &str, reason: &str) -> IncidentId {
        let r = self.command(&format!("contain {key} {reason}")).await;
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        let text = v["text"].as_str().unwrap();
        assert!(text.contains("Containing"), "{text}");
        let id = text
            .split('*')
            .find(|s| s.starts_with("KL-"))
            .expect("the ack names the incident");
        IncidentId::parse(id).unwrap()
    }

    /// `GET /readyz`: its status and what it says.
    pub async fn readyz(&self) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}/readyz", self.url))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// A slash command over Socket Mode as `user`: its acknowledgement.
    pub async fn socket_command(&self, user: &str, text: &str) -> serde_json::Value {
        let id = uuid::Uuid::new_v4().to_string();
        let envelope = fake_socket::command_envelope(&id, user, text, &self.slack.response_url());
        self.slack.socket.deliver(&envelope).await.unwrap()
    }

    /// Presses a button on a posted message as `user`, with the payload Slack would send.
    pub async fn click(
        &self,
        user: &str,
        message: &fake_slack::Posted,
        action_id: &str,
    ) -> reqwest::Response {
        let payload = self
            .slack
            .click_payload(user, message, action_id)
            .unwrap_or_else(|| panic!("no {action_id} on message {}", message.ts));
        self.interaction(&payload.to_string()).await
    }

    /// Posts a raw interaction payload, signed.
    pub async fn interaction(&self, payload: &str) -> reqwest::Response {
        let body = serde_urlencoded::to_string([("payload", payload)]).unwrap();
        self.post_signed("/slack/interactions", body).await
    }

    /// Asks for the incident's report and returns its Markdown once Slack holds the file.
    pub async fn shared_report(&self, id: &IncidentId) -> String {
        let r = self.command(&format!("report {id}")).await;
        assert_eq!(r.status(), 200);
        let name = format!("{id}-report.md");
        let slack = self.slack.clone();
        wait_until(Duration::from_secs(30), move || {
            let md = slack.files().into_iter().find(|f| f.filename == name);
            async move { md.map(|f| String::from_utf8(f.bytes).unwrap()) }
        })
        .await
        .expect("the report is shared")
    }

    /// The incident's findings once its investigation is recorded and every job (proposals
    /// too) has finished.
    pub async fn findings(&self, id: &IncidentId) -> keyleak::domain::trail::findings::Findings {
        let store = self.store.clone();
        let id = id.clone();
        wait_until(Duration::from_secs(60), move || {
            let (store, id) = (store.clone(), id.clone());
            async move {
                let idle = store.pending_jobs(None).await.ok()? == 0;
                let f = store.findings(&id).await.ok()??;
                idle.then_some(f)
            }
        })
        .await
        .expect("the investigation finished")
    }

    /// The id of the one open incident (tests that contain a single key).
    pub async fn only_incident(&self) -> IncidentId {
        let open = self.store.open_incidents(50).await.unwrap();
        assert_eq!(open.len(), 1, "exactly one open incident");
        open[0].id.clone()
    }

    /// The id of the open incident of `key`.
    pub async fn incident_for(&self, key: &str) -> IncidentId {
        let key = keyleak::domain::ids::AccessKeyId::parse(key).unwrap();
        let open = self.store.open_incident_for_key(&key).await.unwrap();
        open.expect("the key has an open incident").id
    }

    /// Waits until the incident is in `want` and no job is left: its reporting is done too.
    pub async fn wait_for_state(&self, id: &IncidentId, want: IncidentState) -> Incident {
        let store = self.store.clone();
        let id2 = id.clone();
        let reached = wait_until(Duration::from_secs(30), move || {
            let store = store.clone();
            let id = id2.clone();
            async move {
                let i = store.incident(&id).await.ok()?;
                let idle = store.pending_jobs(None).await.ok()? == 0;
                (i.state == want && idle).then_some(i)
            }
        })
        .await;
        match reached {
            Some(i) => i,
            None => {
                let now = self.store.incident(id).await.map(|i| i.state);
                let pending = self.store.pending_by_kind().await;
                panic!("incident {id} never reached {want:?}: it is {now:?}; jobs {pending:?}")
            }
        }
    }

    /// When the incident's last cut-off step (key deactivated, deny policies put) finished.
    pub async fn cut_off_at(&self, id: &IncidentId) -> chrono::DateTime<chrono::Utc> {
        let steps = self.store.steps(id).await.unwrap();
        steps
            .iter()
            .filter(|s| keyleak::domain::incident::StepKind::CUT_OFF.contains(&s.kind))
            .map(|s| s.finished_at)
            .max()
            .expect("a cut-off step finished")
    }

    /// Everything the bot persisted, for leak checks.
    pub async fn stored_text(&self) -> String {
        self.db.stored_text().await
    }
}

/// A published example in `tests/fixtures`, by its path there without `.json`.
pub fn fixture(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

pub fn sign(secret: &str, ts: &str, body: &[u8]) -> String {
    fake_slack::signature(secret, ts, body)
}

pub async fn wait_until<T, F, Fut>(limit: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = probe().await {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An AWS configuration whose endpoint refuses connections: for tests that must not reach AWS.
pub async fn no_aws() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url("http://127.0.0.1:9")
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "AKIAUNREACHABLE00000",
            "unused",
            None,
            None,
            "test",
        ))
        .load()
        .await
}

/// The bot behind a counting, fault-injecting proxy to moto, with a manual clock and no
/// worker started, and a seeded CI user.
pub struct Proxied {
    pub moto: Moto,
    pub proxy: proxy::AwsProxy,
    pub iam: aws_sdk_iam::Client,
    pub seeded: seed::Seeded,
    pub clock: Arc<keyleak::engine::clock::ManualClock>,
    pub app: App,
}

/// The bot's AWS settings, with every call going to `url` (a proxy in front of moto).
pub async fn aws_through(url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "AKIAKEYLEAKTESTADMIN",
            "test-secret",
            None,
            None,
            "test",
        ))
        .load()
        .await
}

impl Proxied {
    pub async fn start() -> Self {
        Self::on(None).await
    }

    /// With AWS's managed policies in moto.
    pub async fn with_aws_policies() -> Self {
        Self::with(Moto::with_aws_policies().await.unwrap(), None).await
    }

    /// On `database` (a fresh one on the run's store when `None`).
    pub async fn on(database: Option<db::TestDb>) -> Self {
        Self::with(Moto::start().await.unwrap(), database).await
    }

    async fn with(moto: Moto, database: Option<db::TestDb>) -> Self {
        let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
        let seeded = seed::ci_user(&iam, "ci-deploy").await;
        let proxy = proxy::AwsProxy::start(&moto.url).await;
        let clock = Arc::new(keyleak::engine::clock::ManualClock::new(chrono::Utc::now()));
        let bot_aws = aws_through(&proxy.url).await;
        let app = App::start(
            bot_aws,
            Options {
                clock: clock.clone(),
                start_worker: false,
                database,
                ..Options::default()
            },
        )
        .await;
        Self {
            moto,
            proxy,
            iam,
            seeded,
            clock,
            app,
        }
    }
}
