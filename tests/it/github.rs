//! `POST /github/webhook`: GitHub's secret scanning alerts, from the published examples in
//! `tests/fixtures/github`, signed as GitHub signs them; the alert read from the fake REST API
//! for the key id, and resolved as revoked once moto shows the key contained.

use crate::support;

use std::time::Duration;

use aws_sdk_iam::types::StatusType;
use hmac::{Hmac, KeyInit, Mac};
use keyleak::domain::audit::AuditAction;
use keyleak::domain::incident::IncidentState;
use keyleak::domain::signal::{AutoContain, ContainPolicy};
use serde_json::{Value, json};
use sha2::Sha256;
use support::fake_github::WEBHOOK_SECRET;
use support::trail::start_with_trail;
use support::*;

const OWNER: &str = "Codertocat";
const REPO: &str = "Hello-World";

/// The published `created` delivery for alert `number`.
fn created(number: u64) -> Value {
    let mut v = fixture("github/alert_created");
    v["alert"]["number"] = json!(number);
    v
}

fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl App {
    /// A delivery as GitHub sends it: its event, its id and its signature over the body.
    async fn github_delivery(
        &self,
        event: &str,
        delivery: &str,
        signature: Option<String>,
        body: String,
    ) -> (u16, String) {
        let mut r = self
            .http
            .post(format!("{}/github/webhook", self.url))
            .header("content-type", "application/json")
            .header("user-agent", "GitHub-Hookshot/044aadd")
            .header("x-github-event", event)
            .header("x-github-hook-id", "292430182");
        if !delivery.is_empty() {
            r = r.header("x-github-delivery", delivery);
        }
        if let Some(s) = signature {
            r = r.header("x-hub-signature-256", s);
        }
        let r = r.body(body).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn alert(&self, delivery: &str, payload: &Value) -> (u16, Value) {
        let body = payload.to_string();
        let sig = signature(WEBHOOK_SECRET, body.as_bytes());
        let (status, text) = self
            .github_delivery("secret_scanning_alert", delivery, Some(sig), body)
            .await;
        (status, serde_json::from_str(&text).unwrap())
    }
}

fn confirmed() -> Options {
    let mut opts = Options::default();
    opts.intake.policy = ContainPolicy {
        mode: AutoContain::Confirmed,
        ..ContainPolicy::default()
    };
    opts
}

#[tokio::test]
async fn an_alert_contains_the_key_and_is_resolved_as_revoked() {
    let (moto, _trail, app) = start_with_trail(confirmed()).await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let key = seeded.leaked.id.as_str();
    app.github
        .add_alert(OWNER, REPO, 42, "aws_access_key_id", key);

    let delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
    let (status, answer) = app.alert(delivery, &created(42)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["recorded"][0]["outcome"], "opened");
    let id = app.incident_for(key).await;
    let contained = app.wait_for_state(&id, IncidentState::Contained).await;
    assert_eq!(
        seed::key_status(&iam, "ci-deploy", key).await,
        StatusType::Inactive
    );
    let signal = &contained.signals[0];
    assert_eq!(
        signal.reference,
        "https://github.com/Codertocat/Hello-World/security/secret-scanning/42"
    );
    assert!(
        contained
            .requested_by
            .to_stored()
            .starts_with("signal:github:https://github.com/")
    );

    let resolved = app.github.resolved();
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert_eq!(resolved[0].1["resolution"], "revoked");
    assert!(
        resolved[0].1["resolution_comment"]
            .as_str()
            .unwrap()
            .contains(id.as_str())
    );
    let audit = app.store.audit_log(Some(&id)).await.unwrap();
    assert!(audit.iter().any(|a| a.action == AuditAction::AlertResolved));

    // GitHub redelivers: the same delivery id changes nothing.
    let (status, again) = app.alert(delivery, &created(42)).await;
    assert_eq!(status, 200);
    assert_eq!(again["recorded"][0]["outcome"], "duplicate");
    let after = app.store.incident(&id).await.unwrap();
    assert_eq!(after.signals.len(), 1);
}

#[tokio::test]
async fn a_token_that_may_only_read_leaves_the_alert_open_and_says_so() {
    let (moto, _trail, app) = start_with_trail(confirmed()).await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    let key = seeded.leaked.id.as_str();
    app.github
        .add_alert(OWNER, REPO, 7, "aws_access_key_id", key);
    app.github.read_only(true);

    let (status, _) = app.alert("d-7", &created(7)).await;
    assert_eq!(status, 200);
    let id = app.incident_for(key).await;
    app.wait_for_state(&id, IncidentState::Contained).await;
    assert!(app.github.resolved().is_empty());
    let audit = app.store.audit_log(Some(&id)).await.unwrap();
    let refused = audit
        .iter()
        .find(|a| a.action == AuditAction::AlertNotResolved)
        .expect("the refusal is audited");
    assert!(refused.detail.contains("403"), "{}", refused.detail);
}

#[tokio::test]
async fn bad_deliveries_are_refused_and_other_alerts_ignored_with_nothing_stored() {
    let (moto, _trail, app) = start_with_trail(Options::default()).await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    // A secret that is not a key id is never read, kept or acted on.
    app.github.add_alert(
        OWNER,
        REPO,
        9,
        "aws_access_key_id",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    );
    app.github
        .add_alert(OWNER, REPO, 10, "aws_access_key_id", &seeded.leaked.id);

    let body = created(10).to_string();
    let good = || Some(signature(WEBHOOK_SECRET, body.as_bytes()));
    let mut resolved = created(10);
    resolved["action"] = json!("resolved");
    let mut other_type = created(10);
    other_type["alert"]["secret_type"] = json!("aws_secret_access_key");
    let reopened = fixture("github/alert_reopened");
    let signed = |v: &Value| {
        let b = v.to_string();
        (Some(signature(WEBHOOK_SECRET, b.as_bytes())), b)
    };
    let mut cases: Vec<(&str, &str, &str, Option<String>, String)> = vec![
        (
            "no signature",
            "secret_scanning_alert",
            "d1",
            None,
            body.clone(),
        ),
        (
            "a forged signature",
            "secret_scanning_alert",
            "d2",
            Some(signature("not-the-secret", body.as_bytes())),
            body.clone(),
        ),
        (
            "a signature over another body",
            "secret_scanning_alert",
            "d3",
            good(),
            created(11).to_string(),
        ),
        (
            "no delivery id",
            "secret_scanning_alert",
            "",
            good(),
            body.clone(),
        ),
        ("a ping", "ping", "d4", good(), body.clone()),
        ("another event", "push", "d5", good(), body.clone()),
    ];
    for (what, v) in [
        ("a resolved alert", &resolved),
        ("a secret key's alert", &other_type),
        ("the published reopened example", &reopened),
    ] {
        let (sig, b) = signed(v);
        cases.push((what, "secret_scanning_alert", "d6", sig, b));
    }
    let (sig, b) = signed(&created(9));
    cases.push((
        "a secret that is no key id",
        "secret_scanning_alert",
        "d7",
        sig,
        b,
    ));
    let (sig, b) = signed(&created(404));
    cases.push((
        "an alert GitHub does not have",
        "secret_scanning_alert",
        "d8",
        sig,
        b,
    ));
    let (sig, b) = signed(&json!({"action": "created"}));
    cases.push(("not an alert", "secret_scanning_alert", "d9", sig, b));
    let big = format!("\"{}\"", "x".repeat(1100 * 1024));
    let sig = Some(signature(WEBHOOK_SECRET, big.as_bytes()));
    cases.push(("too large", "secret_scanning_alert", "d10", sig, big));

    let mut seen = vec![];
    for (what, event, delivery, sig, body) in cases {
        let (status, text) = app.github_delivery(event, delivery, sig, body).await;
        seen.push(format!("{what}: {status} {text}"));
    }
    // The rate limit spent: the alert cannot be read now, and GitHub is told so.
    app.github.rate_limit(true);
    let (status, text) = {
        let b = created(10).to_string();
        let sig = Some(signature(WEBHOOK_SECRET, b.as_bytes()));
        app.github_delivery("secret_scanning_alert", "d11", sig, b)
            .await
    };
    seen.push(format!("rate limited: {status} {text}"));
    insta::assert_snapshot!(seen.join("\n"));
    assert!(app.store.open_incidents(10).await.unwrap().is_empty());
    assert!(app.store.audit_log(None).await.unwrap().is_empty());
    let stored = app.stored_text().await;
    assert!(!stored.contains("wJalrXUtnFEMI"), "a secret is never kept");
    assert!(!stored.contains(WEBHOOK_SECRET));
    // GitHub does not send a failed delivery again by itself: the channel hears of each
    // alert keyleak could not read, with what to do.
    let said = wait_until(Duration::from_secs(10), || {
        let said: Vec<String> = app
            .slack
            .top_level()
            .into_iter()
            .map(|m| m.text)
            .filter(|t| t.contains("could not act on it"))
            .collect();
        async move { (said.len() == 2).then_some(said) }
    })
    .await
    .expect("two unread alerts said in the channel");
    assert!(
        said.iter()
            .any(|t| t.contains("alert #404") && t.contains("(404)")),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|t| t.contains("alert #10") && t.contains("rate limit")),
        "{said:?}"
    );
    assert!(
        said.iter().all(|t| t.contains("/keyleak contain")),
        "{said:?}"
    );
}
