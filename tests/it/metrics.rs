//! `GET /metrics`: the Prometheus text format, checked by Prometheus's own `promtool`, and
//! the bearer token that may guard it.

use crate::support::*;

/// Scrapes `/metrics` once a full flow has run: `promtool check metrics` finds no problem,
/// and every family the flow touched is there with its HELP and TYPE.
pub async fn check_scrape_after_a_full_flow(app: &App) {
    let r = app
        .http
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = r.text().await.unwrap();
    promtool_accepts(&text);
    for family in [
        "keyleak_http_requests_total",
        "keyleak_ack_seconds",
        "keyleak_commands_total",
        "keyleak_jobs",
        "keyleak_jobs_finished_total",
        "keyleak_step_seconds",
        "keyleak_aws_calls_total",
        "keyleak_slack_calls_total",
        "keyleak_approvals_total",
        "keyleak_incidents_open",
        "keyleak_time_to_contain_seconds",
    ] {
        assert!(
            text.contains(&format!("# HELP {family} ")),
            "no HELP for {family}:\n{text}"
        );
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "no TYPE for {family}:\n{text}"
        );
    }
    for sample in [
        r#"keyleak_commands_total{verb="contain",outcome="answered"}"#,
        r#"keyleak_approvals_total{outcome="approved"}"#,
        r#"keyleak_aws_calls_total{service="IAM",operation="UpdateAccessKey",outcome="ok"}"#,
        r#"keyleak_slack_calls_total{method="chat.postMessage",outcome="ok"}"#,
        r#"keyleak_step_seconds_bucket{step="deactivate_key",le="0.05"}"#,
        r#"keyleak_time_to_contain_seconds_count"#,
        r#"keyleak_jobs{kind="contain",state="queued"} 0"#,
    ] {
        assert!(text.contains(sample), "{sample} not in:\n{text}");
    }
}

fn promtool_accepts(text: &str) {
    use std::io::Write as _;
    let promtool = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let mut child = std::process::Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{promtool} is needed (Debian's prometheus package; bash .ci/setup installs it): {e}")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// With `KEYLEAK_METRICS_TOKEN` set, a scrape without it, or with another, gets 401 and no
/// figure; with it, the figures.
#[tokio::test]
async fn the_metrics_token_guards_the_endpoint() {
    let app = App::start(
        no_aws().await,
        Options {
            start_worker: false,
            metrics_token: Some("scrape-token-0123456789"),
            ..Options::default()
        },
    )
    .await;
    let url = format!("{}/metrics", app.url);
    for auth in [
        None,
        Some("Bearer wrong-token"),
        Some("scrape-token-0123456789"),
    ] {
        let mut r = app.http.get(&url);
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        assert!(!r.text().await.unwrap().contains("keyleak_"));
    }
    let r = app
        .http
        .get(&url)
        .bearer_auth("scrape-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    promtool_accepts(&r.text().await.unwrap());
}
