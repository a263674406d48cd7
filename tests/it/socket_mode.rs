//! Socket Mode against the fake Slack's Socket Mode endpoint: the same commands, buttons and
//! answers as over HTTP, each envelope acknowledged once and run once, and connections that
//! come back however Slack lets them go.

use std::time::{Duration, Instant};

use keyleak::domain::approval::ProposalState;
use keyleak::domain::incident::IncidentState;
use serde_json::{Value, json};
use support::fake_socket::{command_envelope, interactive_envelope};
use support::proposals::*;
use support::*;

use crate::support;

async fn socket_app(moto: &Moto) -> App {
    let opts = Options {
        socket_mode: true,
        ..Options::default()
    };
    let app = App::start(moto.own_config().await, opts).await;
    app.slack.socket.wait_connections(2).await.unwrap();
    app
}

fn text(ack: &Value) -> String {
    ack["payload"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn incident_named(ack: &Value) -> keyleak::domain::ids::IncidentId {
    let t = text(ack);
    let id = t
        .split('*')
        .find(|s| s.starts_with("KL-"))
        .expect("names the incident");
    keyleak::domain::ids::IncidentId::parse(id).unwrap()
}

#[tokio::test]
async fn a_key_is_contained_and_its_cleanup_approved_over_socket_mode() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "socket-user").await;
    let app = socket_app(&moto).await;
    assert_eq!(app.readyz().await.0, 200);

    let ack = app
        .socket_command(
            RESPONDER,
            &format!("contain {} leaked in a gist", seeded.leaked.id),
        )
        .await;
    let id = incident_named(&ack);
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"KL-[0-9A-F]{8}", "KL-[incident]");
    settings.add_filter(r"AKIA[0-9A-Z]{16}", "AKIA[key]");
    settings.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[envelope]",
    );
    let shown = serde_json::to_string_pretty(&ack).unwrap();
    settings.bind(|| insta::assert_snapshot!("socket_contain_ack", shown));
    app.wait_for_state(&id, IncidentState::Contained).await;
    assert_eq!(
        seed::key_status(&iam, "socket-user", &seeded.leaked.id).await,
        aws_sdk_iam::types::StatusType::Inactive
    );

    // HTTP keeps working beside Socket Mode.
    let said = ask(&app, RESPONDER, &format!("status {id}")).await;
    assert!(said.contains(id.as_str()), "{said}");

    let ack = app
        .socket_command(RESPONDER, &format!("cleanup {id}"))
        .await;
    assert!(text(&ack).contains("Checking AWS"), "{ack}");
    let p = proposals(&app, &id, 1).await.pop().unwrap();

    // The approver's click, delivered three times: again under its own envelope id, and
    // again under a new one (a retry after a lost acknowledgement).
    let mut click = app
        .slack
        .click_payload(APPROVER, &message_of(&app, &p), "proposal.approve")
        .unwrap();
    click["trigger_id"] = json!("13345224609.738474920.8088930838d88f008e0");
    let socket = &app.slack.socket;
    let first = socket
        .deliver(&interactive_envelope("click-1", &click))
        .await
        .unwrap();
    let again = socket
        .deliver(&interactive_envelope("click-1", &click))
        .await
        .unwrap();
    let retried = socket
        .deliver(&interactive_envelope("click-2", &click))
        .await
        .unwrap();
    assert_eq!(first, json!({"envelope_id": "click-1"}));
    assert_eq!(again, first);
    assert_eq!(retried, json!({"envelope_id": "click-2"}));
    let done = wait_proposal(&app, &p, ProposalState::Done).await;
    assert_eq!(done.approvals.len(), 1);
    let log = app.store.audit_log(Some(&id)).await.unwrap();
    let approved: Vec<_> = log
        .iter()
        .filter(|a| a.action.name() == "proposal.approved")
        .collect();
    assert_eq!(approved.len(), 1, "one approval, however often delivered");
    assert!(
        approved[0].origin.contains("socket_mode envelope=click-1"),
        "{}",
        approved[0].origin
    );
    let said = answer_to(&app, APPROVER, 1).await;
    assert!(said.contains("You approved"), "{said}");
    assert!(
        !key_ids(&iam, "socket-user")
            .await
            .contains(&seeded.leaked.id)
    );
}

#[tokio::test]
async fn a_command_delivered_again_runs_once_and_is_answered_the_same() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "redelivered").await;
    let app = socket_app(&moto).await;
    let socket = &app.slack.socket;

    let url = app.slack.response_url();
    let text = format!("contain {}", seeded.leaked.id);
    let envelope = command_envelope("cmd-1", RESPONDER, &text, &url);
    let first = socket.deliver(&envelope).await.unwrap();
    let mut retry = envelope.clone();
    retry["retry_attempt"] = json!(1);
    retry["retry_reason"] = json!("timeout");
    assert!(socket.send_raw(&retry.to_string()));
    let again = socket.ack_for("cmd-1", 2).await.unwrap();
    let mut moved = envelope.clone();
    moved["envelope_id"] = json!("cmd-2");
    let elsewhere = socket.deliver(&moved).await.unwrap();

    assert_eq!(again, first);
    assert_eq!(elsewhere["payload"], first["payload"]);
    let id = incident_named(&first);
    app.wait_for_state(&id, IncidentState::Contained).await;
    let open = app.store.open_by_state().await.unwrap();
    assert_eq!(
        open.iter().map(|(_, n)| n).sum::<i64>(),
        1,
        "one incident: {open:?}"
    );
    let log = app.store.audit_log(Some(&id)).await.unwrap();
    assert_eq!(
        log.iter()
            .filter(|a| a.action.name() == "contain.open")
            .count(),
        1
    );
}

#[tokio::test]
async fn a_refresh_leaves_no_gap_and_every_connection_has_a_fresh_url() {
    let moto = Moto::start().await.unwrap();
    let app = socket_app(&moto).await;
    let socket = &app.slack.socket;

    // Slack's two kinds of notice before it closes a connection: a refresh, and a warning
    // (sent about ten seconds ahead).
    // A person each, to stay inside the per-minute limit on commands.
    for (reason, who, connects) in [
        ("refresh_requested", RESPONDER, 4),
        ("warning", ONCALLER, 6),
    ] {
        socket.disconnect_all(reason, Duration::from_secs(1));
        // Commands keep coming through: every one is acknowledged with its answer.
        let until = Instant::now() + Duration::from_secs(3);
        let mut answered = 0;
        while Instant::now() < until {
            let ack = app.socket_command(who, "help").await;
            assert!(text(&ack).contains("/keyleak contain"), "{ack}");
            answered += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(answered > 10, "{answered}");
        socket.wait_connections(2).await.unwrap();
        assert_eq!(
            socket.connects(),
            (connects, 0),
            "{reason}: no URL used twice"
        );
    }
    let opened = app
        .slack
        .calls()
        .iter()
        .filter(|(m, _)| m == "apps.connections.open")
        .count();
    assert_eq!(opened, 6, "a fresh URL for every connection");
}

#[tokio::test]
async fn connections_lost_come_back_and_readyz_says_when_there_are_none() {
    let moto = Moto::start().await.unwrap();
    let app = socket_app(&moto).await;
    let socket = &app.slack.socket;

    socket.refuse_open(Some("internal_error"));
    socket.drop_all();
    socket.wait_connections(0).await.unwrap();
    let (status, body) = app.readyz().await;
    assert_eq!(status, 503);
    assert!(body.contains("Socket Mode"), "{body}");
    let asked = || {
        app.slack
            .calls()
            .iter()
            .filter(|(m, _)| m == "apps.connections.open")
            .count()
    };
    let before = asked();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(asked() > before, "the bot keeps asking for a URL");

    socket.refuse_open(None);
    socket.wait_connections(2).await.unwrap();
    assert_eq!(app.readyz().await.0, 200);
    let ack = app.socket_command(RESPONDER, "help").await;
    assert!(text(&ack).contains("/keyleak contain"), "{ack}");

    // Socket Mode turned off for the app: keyleak closes the connections itself, without
    // waiting for Slack to, and opens others only after its backoff.
    socket.disconnect_all("link_disabled", Duration::from_secs(60));
    socket.wait_connections(0).await.unwrap();
    socket.wait_connections(2).await.unwrap();
}

#[tokio::test]
async fn frames_keyleak_cannot_use_are_acknowledged_or_ignored_and_the_connection_stays() {
    let moto = Moto::start().await.unwrap();
    let app = socket_app(&moto).await;
    let socket = &app.slack.socket;
    let url = app.slack.response_url();

    assert!(socket.send_raw("this is not JSON"));
    assert!(socket.send_raw(r#"{"type":"events_api","payload":{}}"#));
    // An Events API envelope, as python-slack-sdk's Socket Mode tests publish it.
    let event = json!({"envelope_id":"08cfc559-d933-402e-a5c1-79e135afaae4","payload":{"token":"xxx","team_id":"T111","api_app_id":"A111","event":{"client_msg_id":"c9b466b5-845c-49c6-a371-57ae44359bf1","type":"message","text":"<@W111>","user":"U111","ts":"1610197986.000300","team":"T111","channel":"C111","event_ts":"1610197986.000300","channel_type":"channel"},"type":"event_callback","event_id":"Ev111","event_time":1610197986},"type":"events_api","accepts_response_payload":false,"retry_attempt":1,"retry_reason":"timeout"});
    // A global shortcut: interactive, but not block_actions.
    let shortcut = json!({"envelope_id":"57d6a792-4d35-4d0b-b6aa-3361493e1caf","payload":{"type":"shortcut","token":"xxx","action_ts":"1610198080.300836","team":{"id":"T111","domain":"seratch"},"user":{"id":"U111","username":"seratch","team_id":"T111"},"is_enterprise_install":false,"enterprise":null,"callback_id":"do-something","trigger_id":"111.222.xxx"},"type":"interactive","accepts_response_payload":false});
    let bad_user = command_envelope("bad-user", "not a user", "help", &url);
    let mut no_user = command_envelope("no-user", RESPONDER, "help", &url);
    no_user["payload"]
        .as_object_mut()
        .unwrap()
        .remove("user_id");
    let mut what = json!({"envelope_id": "odd", "type": "something_new", "payload": {}});
    what["accepts_response_payload"] = json!(true);
    for envelope in [&event, &shortcut, &bad_user, &no_user, &what] {
        let id = envelope["envelope_id"].as_str().unwrap();
        let ack = socket.deliver(envelope).await.unwrap();
        assert_eq!(ack, json!({"envelope_id": id}), "acknowledged bare");
    }

    let ack = app.socket_command(RESPONDER, "help").await;
    assert!(text(&ack).contains("/keyleak contain"), "{ack}");
    assert_eq!(
        socket.connects(),
        (2, 0),
        "the same two connections throughout"
    );
    assert!(app.store.audit_log(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_slow_command_is_acknowledged_bare_and_answered_through_its_response_url() {
    let moto = Moto::start().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "slow-store").await;
    let app = socket_app(&moto).await;
    // Another writer holds the store longer than Slack waits for an acknowledgement.
    app.db.hold_writes(Duration::from_secs(4)).await;

    let ack = app
        .socket_command(RESPONDER, &format!("contain {}", seeded.leaked.id))
        .await;
    assert!(ack.get("payload").is_none(), "{ack}");
    let told = requester_told(&app, "Containing").await;
    assert!(told.contains(&seeded.leaked.id), "{told}");
}
