//! The Slack Web API adapter of the notification port, through slack-morphism.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use tokio::sync::Mutex;
use tracing::{error, warn};

use super::messages::{self, chart};
use super::outbox::{Method, Outbox};
use crate::config::{Secret, SlackTimeouts};
use crate::domain::answer::Notice;
use crate::domain::approval::{MessageRef, Proposal};
use crate::domain::ids::SlackUserId;
use crate::domain::incident::{Incident, StepRecord};
use crate::domain::reach::Reach;
use crate::domain::report::ReportInput;
use crate::domain::signal::Signal;
use crate::domain::trail::activity::hourly;
use crate::notify::{Attachment, Notifier, NotifyError, ThreadRef};

type Connector = SlackClientHyperConnector<HttpsConnector<HttpConnector>>;

/// How long a user group's members are trusted before asking Slack again. The lookup is a
/// Tier 2 method (about 20 calls a minute), so it cannot run on every command.
const GROUP_TTL: Duration = Duration::from_secs(30);

/// How often a call Slack answered with 429 is tried again, each after the wait it asked.
const RATE_LIMIT_RETRIES: u32 = 3;

pub struct SlackNotifier {
    client: SlackClient<Connector>,
    outbox: Outbox,
    timeouts: SlackTimeouts,
    /// For `response_url` answers. Without rate control: the library paces every webhook
    /// post at one a second across all URLs, while each response URL is its own (five uses
    /// in 30 minutes), so twenty clicks would wait twenty seconds for their answers.
    responder: SlackClient<Connector>,
    token: SlackApiToken,
    channel: SlackChannelId,
    /// Each user group's members, with when the look-up that found them began.
    groups: Mutex<HashMap<String, (Instant, Vec<SlackUserId>)>>,
    /// The topic last set per incident room: Slack announces every change in the channel, so
    /// an unchanged topic is not set again.
    topics: Mutex<HashMap<String, String>>,
}

/// `conversations.invite` as Slack documents it: `users` is one comma-separated string. The
/// library's own request sends a JSON array there.
#[derive(serde::Serialize)]
struct InviteRequest<'a> {
    channel: &'a str,
    users: String,
}

fn classify(e: SlackClientError) -> NotifyError {
    match e {
        SlackClientError::ApiError(api) => NotifyError::Refused(api.code),
        SlackClientError::RateLimitError(_) => NotifyError::Refused("ratelimited".into()),
        // The other variants may quote response bodies or URLs; keep only their kind.
        SlackClientError::HttpError(h) => NotifyError::Transport(format!("HTTP {}", h.status_code)),
        SlackClientError::HttpProtocolError(_) => NotifyError::Transport("protocol error".into()),
        SlackClientError::EndOfStream(_) => NotifyError::Transport("connection closed".into()),
        SlackClientError::SystemError(_) => NotifyError::Transport("system error".into()),
        SlackClientError::ProtocolError(_) => NotifyError::Transport("unexpected response".into()),
        SlackClientError::SocketModeProtocolError(_) => {
            NotifyError::Transport("socket mode error".into())
        }
    }
}

/// A call that is not paced (a response URL, an upload URL), given up after `total`.
async fn within<T>(
    total: Duration,
    call: impl std::future::Future<Output = Result<T, SlackClientError>>,
) -> Result<T, NotifyError> {
    match tokio::time::timeout(total, call).await {
        Ok(answer) => answer.map_err(classify),
        Err(_) => Err(timed_out(total)),
    }
}

/// A call's outcome as the metrics count it: Slack's own error code, 429s apart.
fn outcome<T>(answer: &Result<T, SlackClientError>) -> String {
    match answer {
        Ok(_) => "ok".into(),
        Err(SlackClientError::RateLimitError(_)) => "ratelimited".into(),
        Err(SlackClientError::ApiError(api)) => api.code.clone(),
        Err(_) => "transport".into(),
    }
}

fn timed_out(total: Duration) -> NotifyError {
    NotifyError::Transport(format!("no answer within {} s", total.as_secs()))
}

impl SlackNotifier {
    /// `api_url` may be plain HTTP (a fake Slack on loopback in tests); Slack itself is HTTPS.
    pub fn new(
        api_url: &str,
        bot_token: &Secret,
        channel: &str,
        timeouts: SlackTimeouts,
    ) -> std::io::Result<Self> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeouts.connect));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            // Both ring and aws-lc-rs are linked (through different crates), so rustls
            // cannot pick one by itself; name it.
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        // Paced by the outbox, not by the library (see outbox.rs).
        let connector =
            SlackClientHyperConnector::with_connector(https.clone()).with_slack_api_url(api_url);
        Ok(Self {
            client: SlackClient::new(connector),
            outbox: Outbox::new(),
            timeouts,
            responder: SlackClient::new(SlackClientHyperConnector::with_connector(https)),
            token: SlackApiToken::new(bot_token.expose().to_string().into()),
            channel: channel.to_string().into(),
            groups: Mutex::new(HashMap::new()),
            topics: Mutex::new(HashMap::new()),
        })
    }

    /// One Slack call, when the outbox lets `method` go (in `channel`, for a post), given
    /// up after the total timeout, its wait included. A 429 holds the method back as long as
    /// Slack asks, and the call is tried again, a few times at most.
    async fn call<T, F>(
        &self,
        method: Method,
        channel: Option<&str>,
        make: impl Fn() -> F,
    ) -> Result<T, NotifyError>
    where
        F: std::future::Future<Output = Result<T, SlackClientError>>,
    {
        self.call_unless(method, channel, make, || false)
            .await?
            .ok_or_else(|| NotifyError::Transport("not sent".into()))
    }

    /// As `call`, but not sent (`None`) when `stale` says, once the outbox lets it go, that
    /// a newer call has made it pointless.
    async fn call_unless<T, F>(
        &self,
        method: Method,
        channel: Option<&str>,
        make: impl Fn() -> F,
        stale: impl Fn() -> bool,
    ) -> Result<Option<T>, NotifyError>
    where
        F: std::future::Future<Output = Result<T, SlackClientError>>,
    {
        let paced = async {
            let mut tries = 0;
            loop {
                self.outbox.ready(method, channel).await;
                if stale() {
                    return Ok(None);
                }
                let answer = make().await;
                crate::metrics::slack_call(method.name(), outcome(&answer));
                match answer {
                    Err(SlackClientError::RateLimitError(e)) if tries < RATE_LIMIT_RETRIES => {
                        tries += 1;
                        let wait = e.retry_after.unwrap_or(Duration::from_secs(1));
                        warn!(
                            ?method,
                            wait_ms = wait.as_millis(),
                            "Slack asked to slow down"
                        );
                        self.outbox.pause(method, wait);
                    }
                    answer => {
                        if let Err(SlackClientError::ApiError(api)) = &answer
                            && api.code == "missing_scope"
                        {
                            error!(
                                method = method.name(),
                                needs = method.scope().unwrap_or("none"),
                                "Slack refused the call for want of a scope: add it to the app \
                                 (manifests/slack-app.yaml) and reinstall it"
                            );
                        }
                        return answer.map(Some).map_err(classify);
                    }
                }
            }
        };
        // The wait for its turn counts: a call never takes longer than the total timeout.
        tokio::time::timeout(self.timeouts.total, paced)
            .await
            .unwrap_or_else(|_| {
                crate::metrics::slack_call(method.name(), "timeout".into());
                Err(timed_out(self.timeouts.total))
            })
    }

    /// `chat.postMessage`, paced in its channel as well as across the workspace.
    async fn post(
        &self,
        req: &SlackApiChatPostMessageRequest,
    ) -> Result<SlackApiChatPostMessageResponse, NotifyError> {
        let session = self.client.open_session(&self.token);
        self.call(Method::PostMessage, Some(req.channel.as_ref()), || {
            session.chat_post_message(req)
        })
        .await
    }

    /// Shows the incident's state in its room's topic; a failure costs only the topic.
    async fn show_state(&self, channel: &str, incident: &Incident) {
        let topic = messages::room_topic(incident);
        if self.topics.lock().await.get(channel) == Some(&topic) {
            return;
        }
        let session = self.client.open_session(&self.token);
        let req =
            SlackApiConversationsSetTopicRequest::new(channel.to_string().into(), topic.clone());
        match self
            .call(Method::ConversationsSetTopic, None, || {
                session.conversations_set_topic(&req)
            })
            .await
        {
            Ok(_) => {
                self.topics.lock().await.insert(channel.to_string(), topic);
            }
            Err(e) => warn!(error = %e, "could not set the incident room's topic"),
        }
    }

    fn is_room(&self, channel: &str) -> bool {
        channel != self.channel.as_ref()
    }

    /// A fresh Socket Mode URL (`apps.connections.open`, asked with the app-level token). Not
    /// paced by the outbox: it is called only to open a connection, and a refusal is one
    /// more reason for the caller to back off.
    pub async fn socket_url(&self, app_token: &Secret) -> Result<url::Url, NotifyError> {
        let token = SlackApiToken::new(app_token.expose().to_string().into());
        let session = self.client.open_session(&token);
        let ask = SlackApiAppsConnectionOpenRequest::new();
        let answer =
            match tokio::time::timeout(self.timeouts.total, session.apps_connections_open(&ask))
                .await
            {
                Ok(answer) => answer,
                Err(_) => {
                    crate::metrics::slack_call("apps.connections.open", "timeout".into());
                    return Err(timed_out(self.timeouts.total));
                }
            };
        crate::metrics::slack_call("apps.connections.open", outcome(&answer));
        Ok(answer.map_err(classify)?.url.0)
    }

    /// Answers one person privately through Slack's `response_url`.
    pub async fn respond_reply(
        &self,
        response_url: &str,
        reply: messages::Reply,
    ) -> Result<(), NotifyError> {
        let url = url::Url::parse(response_url)
            .map_err(|_| NotifyError::Refused("invalid response_url".into()))?;
        // Without `response_type` Slack shows it to that person only; and it never replaces
        // the message the button sat on.
        let req = SlackApiPostWebhookMessageRequest::new(reply.into_content())
            .with_replace_original(false);
        let url = SlackResponseUrl::new(url);
        within(
            self.timeouts.total,
            self.responder.respond_to_event(&url, &req),
        )
        .await?;
        Ok(())
    }

    async fn post_reply(
        &self,
        thread: &ThreadRef,
        reply: messages::Reply,
    ) -> Result<MessageRef, NotifyError> {
        let req = SlackApiChatPostMessageRequest::new(
            thread.channel.clone().into(),
            reply.into_content(),
        )
        .with_thread_ts(thread.ts.clone().into());
        let out = self.post(&req).await?;
        Ok(MessageRef {
            channel: out.channel.to_string(),
            ts: out.ts.to_string(),
        })
    }

    async fn edit_reply(
        &self,
        message: &MessageRef,
        reply: messages::Reply,
    ) -> Result<(), NotifyError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiChatUpdateRequest::new(
            message.channel.clone().into(),
            reply.into_content(),
            message.ts.clone().into(),
        );
        self.call(Method::Update, None, || session.chat_update(&req))
            .await?;
        Ok(())
    }

    /// Slack's upload flow: an upload URL per file, the bytes to it, then one completion
    /// that shares them all in the thread.
    async fn upload_files(
        &self,
        thread: &ThreadRef,
        files: &[Attachment],
        comment: String,
    ) -> Result<Vec<String>, NotifyError> {
        let session = self.client.open_session(&self.token);
        let mut uploaded = vec![];
        for f in files {
            let ask =
                SlackApiFilesGetUploadUrlExternalRequest::new(f.filename.clone(), f.bytes.len());
            let target = self
                .call(Method::GetUploadUrl, None, || {
                    session.get_upload_url_external(&ask)
                })
                .await?;
            // The bytes go to the upload URL Slack gave, which is no Web API method.
            let bytes = SlackApiFilesUploadViaUrlRequest::new(
                target.upload_url,
                f.bytes.clone(),
                f.content_type.to_string(),
            );
            within(self.timeouts.total, session.files_upload_via_url(&bytes)).await?;
            uploaded.push(SlackApiFilesComplete::new(target.file_id).with_title(f.title.clone()));
        }
        let req = SlackApiFilesCompleteUploadExternalRequest::new(uploaded)
            .with_channel_id(thread.channel.clone().into())
            .with_thread_ts(thread.ts.clone().into())
            .with_initial_comment(comment);
        let done = self
            .call(Method::CompleteUpload, None, || {
                session.files_complete_upload_external(&req)
            })
            .await?;
        Ok(done.files.into_iter().map(|f| f.id.to_string()).collect())
    }
}

#[async_trait]
impl Notifier for SlackNotifier {
    async fn verify(&self) -> Result<(), NotifyError> {
        let session = self.client.open_session(&self.token);
        self.call(Method::AuthTest, None, || session.auth_test())
            .await
            .map(|_| ())
    }

    async fn open_thread(
        &self,
        room: Option<&str>,
        incident: &Incident,
        steps: &[StepRecord],
    ) -> Result<ThreadRef, NotifyError> {
        let channel = room.map_or_else(|| self.channel.clone(), |r| r.to_string().into());
        let req = SlackApiChatPostMessageRequest::new(
            channel,
            messages::incident_card(incident, steps).into_content(),
        );
        let out = self.post(&req).await?;
        if let Some(r) = room {
            self.show_state(r, incident).await;
        }
        Ok(ThreadRef {
            channel: out.channel.to_string(),
            ts: out.ts.to_string(),
        })
    }

    async fn create_room(&self, name: &str) -> Result<String, NotifyError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiConversationsCreateRequest::new(name.to_string()).with_is_private(true);
        let out = self
            .call(Method::ConversationsCreate, None, || {
                session.conversations_create(&req)
            })
            .await?;
        Ok(out.channel.id.to_string())
    }

    async fn invite(&self, channel: &str, users: &[SlackUserId]) -> Result<(), NotifyError> {
        let session = self.client.open_session(&self.token);
        let users: Vec<String> = users.iter().map(ToString::to_string).collect();
        let req = InviteRequest {
            channel,
            users: users.join(","),
        };
        let _: serde_json::Value = self
            .call(Method::ConversationsInvite, None, || {
                session
                    .http_session_api
                    .http_post("conversations.invite", &req, None)
            })
            .await?;
        Ok(())
    }

    async fn pin(&self, message: &ThreadRef) -> Result<(), NotifyError> {
        let session = self.client.open_session(&self.token);
        let req =
            SlackApiPinsAddRequest::new(message.channel.clone().into(), message.ts.clone().into());
        self.call(Method::PinsAdd, None, || session.pins_add(&req))
            .await?;
        Ok(())
    }

    async fn announce(&self, incident: &Incident, room: &str) -> Result<(), NotifyError> {
        let req = SlackApiChatPostMessageRequest::new(
            self.channel.clone(),
            messages::room_announcement(incident, room).into_content(),
        );
        self.post(&req).await?;
        Ok(())
    }

    async fn post_in_channel(&self, notice: &Notice) -> Result<(), NotifyError> {
        let req = SlackApiChatPostMessageRequest::new(
            self.channel.clone(),
            messages::notice(notice).into_content(),
        );
        self.post(&req).await?;
        Ok(())
    }

    async fn post_step(
        &self,
        thread: &ThreadRef,
        incident: &Incident,
        step: &StepRecord,
    ) -> Result<String, NotifyError> {
        let posted = self
            .post_reply(thread, messages::step_reply(incident, step))
            .await?;
        Ok(posted.ts)
    }

    async fn post_signal(
        &self,
        thread: &ThreadRef,
        incident: &Incident,
        signal: &Signal,
        number: usize,
    ) -> Result<String, NotifyError> {
        let posted = self
            .post_reply(thread, messages::signal_reply(incident, signal, number))
            .await?;
        Ok(posted.ts)
    }

    async fn post_reach(
        &self,
        thread: &ThreadRef,
        incident: &Incident,
        reach: &Reach,
    ) -> Result<String, NotifyError> {
        let posted = self
            .post_reply(thread, messages::reach_reply(incident, reach))
            .await?;
        Ok(posted.ts)
    }

    async fn refresh(
        &self,
        thread: &ThreadRef,
        incident: &Incident,
        steps: &[StepRecord],
    ) -> Result<(), NotifyError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiChatUpdateRequest::new(
            thread.channel.clone().into(),
            messages::incident_card(incident, steps).into_content(),
            thread.ts.clone().into(),
        );
        // Only the latest state of a card is worth sending: an edit overtaken while it
        // waited for its turn is dropped.
        let n = self.outbox.card_edit(&thread.ts);
        let overtaken = || self.outbox.overtaken(&thread.ts, n);
        self.call_unless(
            Method::Update,
            None,
            || session.chat_update(&req),
            overtaken,
        )
        .await?;
        if self.is_room(&thread.channel) {
            self.show_state(&thread.channel, incident).await;
        }
        Ok(())
    }

    async fn tell_requester(
        &self,
        response_url: &str,
        incident: &Incident,
        steps: &[StepRecord],
    ) -> Result<(), NotifyError> {
        self.respond_reply(response_url, messages::contain_outcome(incident, steps))
            .await
    }

    async fn respond(&self, response_url: &str, notice: &Notice) -> Result<(), NotifyError> {
        self.respond_reply(response_url, messages::notice(notice))
            .await
    }

    async fn post_proposal(
        &self,
        thread: Option<&ThreadRef>,
        incident: &Incident,
        proposal: &Proposal,
    ) -> Result<MessageRef, NotifyError> {
        let channel = thread.map_or_else(|| self.channel.clone(), |t| t.channel.clone().into());
        let mut req = SlackApiChatPostMessageRequest::new(
            channel,
            messages::proposal(incident, proposal).into_content(),
        );
        if let Some(t) = thread {
            req = req.with_thread_ts(t.ts.clone().into());
        }
        let out = self.post(&req).await?;
        Ok(MessageRef {
            channel: out.channel.to_string(),
            ts: out.ts.to_string(),
        })
    }

    async fn update_proposal(
        &self,
        message: &MessageRef,
        incident: &Incident,
        proposal: &Proposal,
    ) -> Result<(), NotifyError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiChatUpdateRequest::new(
            message.channel.clone().into(),
            messages::proposal(incident, proposal).into_content(),
            message.ts.clone().into(),
        );
        self.call(Method::Update, None, || session.chat_update(&req))
            .await?;
        Ok(())
    }

    async fn post_in_thread(
        &self,
        thread: &ThreadRef,
        notice: &Notice,
    ) -> Result<MessageRef, NotifyError> {
        self.post_reply(thread, messages::notice(notice)).await
    }

    async fn edit(&self, message: &MessageRef, notice: &Notice) -> Result<(), NotifyError> {
        self.edit_reply(message, messages::notice(notice)).await
    }

    async fn upload(
        &self,
        thread: &ThreadRef,
        files: &[Attachment],
        comment: &Notice,
    ) -> Result<Vec<String>, NotifyError> {
        self.upload_files(thread, files, messages::notice(comment).text)
            .await
    }

    async fn share_report(
        &self,
        thread: &ThreadRef,
        report: &ReportInput<'_>,
        replacing: bool,
    ) -> Result<Vec<String>, NotifyError> {
        let id = &report.incident.id;
        let chart_name = format!("{id}-activity.png");
        let markdown = Attachment {
            filename: format!("{id}-report.md"),
            title: format!("Post-incident report {id}"),
            content_type: "text/markdown",
            bytes: messages::report_markdown(report, &chart_name).into_bytes(),
        };
        let signals: Vec<_> = report
            .incident
            .signals
            .iter()
            .map(|s| s.received_at)
            .collect();
        let activity = hourly(report.events, report.incident.contained_at, &signals);
        let title = format!("{id}: calls per hour by category (UTC)");
        let drawn = tokio::task::spawn_blocking(move || chart::activity_png(&activity, &title))
            .await
            .map_err(|e| e.to_string())
            .and_then(|png| png.map_err(|e| e.to_string()));
        let mut files = vec![markdown];
        if !report.evidence.is_empty() {
            files.push(Attachment {
                filename: messages::evidence_file_name(id),
                title: format!("{id} evidence kept before deletion"),
                content_type: "application/json",
                bytes: serde_json::to_vec_pretty(report.evidence).unwrap_or_default(),
            });
        }
        // The report stands without its picture.
        match drawn {
            Ok(png) => files.push(Attachment {
                filename: chart_name,
                title: format!("{id} activity"),
                content_type: "image/png",
                bytes: png,
            }),
            Err(e) => warn!(error = %e, "could not draw the activity chart"),
        }
        let comment =
            messages::report_comment(report.incident, replacing, !report.evidence.is_empty());
        self.upload_files(thread, &files, comment).await
    }

    async fn delete_file(&self, file: &str) -> Result<(), NotifyError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiFilesDeleteRequest::new(file.to_string().into());
        match self
            .call(Method::FilesDelete, None, || session.files_delete(&req))
            .await
        {
            Err(NotifyError::Refused(code))
                if code == "file_deleted" || code == "file_not_found" =>
            {
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }

    async fn file_link(&self, file: &str) -> Result<String, NotifyError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiFilesInfoRequest::new(file.to_string().into());
        let info = self
            .call(Method::FilesInfo, None, || session.files_info(&req))
            .await?;
        info.file
            .permalink
            .map(|u| u.to_string())
            .ok_or_else(|| NotifyError::Refused("no_permalink".into()))
    }

    async fn permalink(&self, message: &MessageRef) -> Result<String, NotifyError> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiChatGetPermalinkRequest::new(
            message.channel.clone().into(),
            message.ts.clone().into(),
        );
        let out = self
            .call(Method::GetPermalink, None, || {
                session.chat_get_permalink(&req)
            })
            .await?;
        Ok(out.permalink.to_string())
    }

    async fn group_members(
        &self,
        group: &str,
        fresh: bool,
    ) -> Result<Vec<SlackUserId>, NotifyError> {
        let asked = Instant::now();
        // Held across the look-up (a Tier 2 method): clicks that arrive together share one
        // look-up begun after them all, instead of queueing for a call each.
        let mut groups = self.groups.lock().await;
        if let Some((started, members)) = groups.get(group) {
            let recent = if fresh {
                *started >= asked
            } else {
                started.elapsed() < GROUP_TTL
            };
            if recent {
                return Ok(members.clone());
            }
        }
        let started = Instant::now();
        let session = self.client.open_session(&self.token);
        let req = SlackApiUserGroupsUsersListRequest::new(group.to_string().into());
        let out = self
            .call(Method::UserGroupsUsersList, None, || {
                session.usergroups_users_list(&req)
            })
            .await?;
        let members: Vec<SlackUserId> = out
            .users
            .iter()
            .filter_map(|u| SlackUserId::parse(u.as_ref()).ok())
            .collect();
        groups.insert(group.to_string(), (started, members.clone()));
        Ok(members)
    }
}
