//! The signed Slack front door: every bad input gets the right status or message and leaves
//! no incident behind. AWS is unreachable here on purpose: none of these may touch it.

use crate::support;

use serde_json::Value;
use support::*;

const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

async fn app() -> App {
    App::start(no_aws().await, Options::default()).await
}

async fn text_of(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["response_type"], "ephemeral");
    v["text"].as_str().unwrap().to_string()
}

async fn assert_no_incident(app: &App) {
    assert!(app.store.open_incidents(50).await.unwrap().is_empty());
    assert_eq!(app.store.pending_jobs(None).await.unwrap(), 0);
}

#[tokio::test]
async fn unsigned_forged_and_stale_requests_get_401() {
    let app = app().await;
    let body = "user_id=U0RESPONDER&text=contain+AKIAIOSFODNN7EXAMPLE".to_string();
    let url = format!("{}/slack/commands", app.url);
    let unsigned = app.http.post(&url).body(body.clone()).send().await.unwrap();
    assert_eq!(unsigned.status(), 401);

    let ts = chrono::Utc::now().timestamp().to_string();
    let forged = app
        .http
        .post(&url)
        .header("x-slack-request-timestamp", &ts)
        .header(
            "x-slack-signature",
            sign("wrong-secret", &ts, body.as_bytes()),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);

    let old = (chrono::Utc::now().timestamp() - 301).to_string();
    let stale = app
        .http
        .post(&url)
        .header("x-slack-request-timestamp", &old)
        .header(
            "x-slack-signature",
            sign(SIGNING_SECRET, &old, body.as_bytes()),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 401);

    // A valid signature over a different body is a forgery too.
    let tampered = app
        .http
        .post(&url)
        .header("x-slack-request-timestamp", &ts)
        .header(
            "x-slack-signature",
            sign(SIGNING_SECRET, &ts, b"user_id=U0RESPONDER&text=help"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), 401);
    assert_no_incident(&app).await;
}

#[tokio::test]
async fn oversized_and_malformed_bodies_are_refused() {
    let app = app().await;
    let huge = format!("user_id=U0RESPONDER&text={}", "a".repeat(100 * 1024));
    assert_eq!(app.post_signed("/slack/commands", huge).await.status(), 413);
    assert_eq!(
        app.post_signed("/slack/commands", "text=help".into())
            .await
            .status(),
        400,
        "no user_id"
    );
    assert_eq!(
        app.post_signed("/slack/commands", "user_id=alice&text=help".into())
            .await
            .status(),
        400
    );
    assert_eq!(
        app.post_signed("/slack/interactions", "payload={not json".into())
            .await
            .status(),
        400
    );
    assert_eq!(
        app.post_signed("/slack/interactions", "nothing=here".into())
            .await
            .status(),
        400
    );
    assert_no_incident(&app).await;
}

#[tokio::test]
async fn each_bad_command_gets_a_specific_message() {
    let app = app().await;
    let cases = [
        ("nuke everything", "`nuke` is not a keyleak command"),
        ("contain", "Which key?"),
        ("contain akiaiosfodnn7example", "upper case"),
        (
            "contain AKIAIOSFODNN7EXAMP",
            "exactly 20 characters; that one has 18",
        ),
        ("contain AIDAJQABLZS4A3QDU576Q", "unique id of an IAM user"),
        ("contain AKIAIOSFODNN7EXAMP!E", "only capital letters"),
        ("contain XKIAIOSFODNN7EXAMPLE", "start with `AKIA`"),
        ("status what", "neither an access key id"),
        ("status KL-00000000", "There is no incident `KL-00000000`"),
        ("status", "No open incidents"),
        ("", "keyleak* contains a leaked AWS access key"),
    ];
    for (text, want) in cases {
        let got = text_of(app.command(text).await).await;
        assert!(got.contains(want), "{text:?} answered {got:?}");
    }
    assert_no_incident(&app).await;
}

#[tokio::test]
async fn a_pasted_secret_is_warned_about_and_never_kept_or_echoed() {
    let app = app().await;
    let got = text_of(app.command(&format!("contain {SECRET_KEY}")).await).await;
    assert!(got.contains("secret access key"), "{got}");
    assert!(got.contains("rotate"), "{got}");
    assert!(!got.contains(SECRET_KEY));
    assert_no_incident(&app).await;

    // With a valid key, containment still starts; the secret is dropped from the reason.
    let got = text_of(
        app.command(&format!("contain AKIAIOSFODNN7EXAMPLE oops {SECRET_KEY}"))
            .await,
    )
    .await;
    assert!(got.contains("Containing"), "{got}");
    assert!(got.contains("secret access key"), "{got}");
    assert!(!got.contains(SECRET_KEY));
    let open = app.store.open_incidents(50).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].reason.as_deref(), Some("oops [redacted]"));

    // However it is pasted: after `=`, in backticks, in quotes, before a full stop; in a
    // reason, a rejection's reason, an unknown verb. Each is replaced and warned about.
    for text in [
        format!("contain AKIAIOSFODNN7EXAMPL2 aws_secret_access_key={SECRET_KEY}"),
        format!("contain AKIAIOSFODNN7EXAMPL3 it was `{SECRET_KEY}`"),
        format!("contain AKIAIOSFODNN7EXAMPL4 it was \"{SECRET_KEY}\""),
        format!("contain AKIAIOSFODNN7EXAMPL5 it was {SECRET_KEY}."),
        format!("reject PR-0000000001 because {SECRET_KEY}."),
        format!("nuke={SECRET_KEY}"),
    ] {
        let got = text_of(app.command(&text).await).await;
        assert!(got.contains("secret access key"), "{text}: {got}");
        assert!(!got.contains(&SECRET_KEY[..10]), "{text}: {got}");
    }
    for i in app.store.open_incidents(50).await.unwrap() {
        let reason = i.reason.unwrap_or_default();
        assert!(!reason.contains(&SECRET_KEY[..10]), "{reason}");
    }

    // From a non-responder too: warned, refused, not stored.
    let got = text_of(
        app.command_as(OUTSIDER, &format!("help {SECRET_KEY}"))
            .await,
    )
    .await;
    assert!(got.contains("secret access key"));

    let db = app.stored_text().await;
    assert!(
        !db.contains(&SECRET_KEY[..10]),
        "the secret reached the database"
    );
    for (_, body) in app.slack.calls() {
        assert!(
            !body.contains(&SECRET_KEY[..10]),
            "the secret reached Slack"
        );
    }
}

#[tokio::test]
async fn non_responders_are_refused_politely_and_audited() {
    let app = app().await;
    let got = text_of(
        app.command_as(OUTSIDER, "contain AKIAIOSFODNN7EXAMPLE")
            .await,
    )
    .await;
    assert!(got.contains("only responders"), "{got}");
    assert_no_incident(&app).await;
    let audit = app.store.audit_log(None).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, format!("slack:{OUTSIDER}"));
    assert_eq!(audit[0].action.name(), "command.refused");
    assert!(audit[0].origin.contains("T0TEAM0001"));
}

#[tokio::test]
async fn members_of_a_responder_user_group_are_let_in() {
    let app = app().await;
    let got = text_of(app.command_as(ONCALLER, "status").await).await;
    assert!(got.contains("No open incidents"), "{got}");
    let got = text_of(app.command_as(ONCALLER, "help").await).await;
    assert!(got.contains("contains a leaked AWS access key"), "{got}");
    // Tier 2 method: looked up once, then cached, not once per command.
    let lookups = app
        .slack
        .calls()
        .iter()
        .filter(|(m, body)| m == "usergroups.users.list" && body.contains(ONCALL_GROUP))
        .count();
    assert_eq!(lookups, 1);
}

#[tokio::test]
async fn health_and_readiness() {
    let app = app().await;
    let h = app
        .http
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(h.status(), 200);
    let r = app
        .http
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// A request whose body never finishes does not keep a stopping server alive past its
/// shutdown deadline.
#[tokio::test]
async fn a_stalled_request_does_not_hold_shutdown() {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().route(
        "/slow",
        axum::routing::post(|body: axum::body::Bytes| async move { body.len().to_string() }),
    );
    let limits = keyleak::listener::ListenerLimits {
        header_timeout: std::time::Duration::from_secs(600),
        request_timeout: std::time::Duration::from_secs(600),
        max_connections: 8,
        shutdown_deadline: std::time::Duration::from_millis(500),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(keyleak::listener::serve(listener, router, limits, async {
        let _ = stopped.await;
    }));
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(b"POST /slow HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nabc")
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
    assert!(
        ended.is_ok(),
        "the server stopped despite the stalled request"
    );
}
