//! Every message a person gets, end to end, snapshotted: containment and the forensics it
//! starts, a cleanup proposal approved by a second person, restore, the report and closing.
//! Ids, keys, times and AWS request ids are replaced so that a run matches the last.

use crate::support;

use keyleak::domain::approval::ProposalState;
use keyleak::domain::incident::IncidentState;
use keyleak::engine::ForensicsSettings;
use support::moto::OWN_ACCOUNT;
use support::proposals::*;
use support::trail::{Record, start_with_trail};
use support::*;

/// What changes from run to run, and what it becomes in the snapshots.
const FILTERS: [(&str, &str); 9] = [
    (r"KL-[0-9A-F]{8}", "KL-[ID]"),
    (r"PR-[0-9A-F]{10}", "PR-[ID]"),
    (r"A[KS]IA[A-Z0-9]{16}", "[KEY]"),
    (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[TIME]"),
    (r"\d{10}\.\d{6}", "[TS]"),
    (
        r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        "[UUID]",
    ),
    (r"\b[A-Za-z0-9]{52}\b", "[REQUEST-ID]"),
    (r"\b\d+(\.\d+)? (s|ms)\b", "[DURATION]"),
    (r"keyleak-restore-[^`\s]+", "keyleak-restore-[SECRET]"),
];

fn snapshot(name: &str, app: &App) {
    let filters: Vec<(&str, &str)> = FILTERS.to_vec();
    insta::with_settings!({ filters => filters }, {
        insta::assert_snapshot!(name, app.slack.transcript());
    });
}

#[tokio::test]
async fn every_message_of_an_incident_from_contain_to_close() {
    let (moto, emulator, app) = start_with_trail(Options {
        forensics: ForensicsSettings {
            regions: Some(vec!["us-east-1".into()]),
            ..ForensicsSettings::default()
        },
        ..Options::default()
    })
    .await;
    let iam = aws_sdk_iam::Client::new(&moto.own_config().await);
    let seeded = seed::ci_user(&iam, "ci-deploy").await;
    iam.create_user()
        .user_name("backdoor-admin")
        .send()
        .await
        .unwrap();
    let key = seeded.leaked.id.clone();
    let t0 = chrono::Utc::now() - chrono::Duration::hours(3);
    for (n, fixture) in ["list_users", "list_roles_denied", "create_user"]
        .into_iter()
        .enumerate()
    {
        let at = t0 + chrono::Duration::minutes(n as i64);
        let record = Record::from(fixture).by_user(OWN_ACCOUNT, "ci-deploy", &key);
        emulator.log(&record.at(at).value()).unwrap();
    }

    let id = app.contain(&key, "found in a public repository").await;
    app.wait_for_state(&id, IncidentState::Contained).await;
    let proposal = proposals(&app, &id, 1).await.pop().unwrap();
    app.wait_for_state(&id, IncidentState::Contained).await;
    snapshot("1_contain_and_forensics", &app);

    let done = approve(&app, &proposal).await;
    assert_eq!(done.state, ProposalState::Done, "{:?}", done.outcome);
    wait_message(&app, &done, "Done").await;
    snapshot("2_cleanup_approved", &app);

    let said = ask(&app, RESPONDER, &format!("restore {id}")).await;
    assert!(said.contains("Restoring"), "{said}");
    let lift = proposals(&app, &id, 2).await.pop().unwrap();
    let lifted = approve(&app, &lift).await;
    assert_eq!(lifted.state, ProposalState::Done, "{:?}", lifted.outcome);
    app.wait_for_state(&id, IncidentState::Contained).await;
    snapshot("3_restored", &app);

    ask(&app, RESPONDER, &format!("report {id}")).await;
    let slack = app.slack.clone();
    wait_until(std::time::Duration::from_secs(30), move || {
        let n = slack.files().len();
        async move { (n == 2).then_some(()) }
    })
    .await
    .expect("the report and its chart shared");
    app.wait_for_state(&id, IncidentState::Contained).await;
    snapshot("4_report", &app);

    ask(&app, RESPONDER, &format!("close {id}")).await;
    app.wait_for_state(&id, IncidentState::Closed).await;
    snapshot("5_closed", &app);

    crate::metrics::check_scrape_after_a_full_flow(&app).await;
}
