//! Every credential of the key's user: listed with the snapshot before any change, on the
//! card with what the deny-all covers, and in the report. Kinds IAM will not list are said,
//! and never stop containment.

use crate::support;

use keyleak::domain::incident::{IncidentState, StepFact};
use keyleak::engine::WorkerSettings;
use support::*;

fn iam_fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/iam/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Seeds the user with a console password, an MFA device, an SSH key and a signing
/// certificate in moto; the service-specific credentials come from the proxy (moto has no
/// `ListServiceSpecificCredentials`).
async fn seed_credentials(s: &Proxied) {
    let user = "ci-deploy";
    s.iam
        .create_login_profile()
        .user_name(user)
        .password("Correct-Horse-9")
        .send()
        .await
        .unwrap();
    let mfa = s
        .iam
        .create_virtual_mfa_device()
        .virtual_mfa_device_name("ci-deploy-mfa")
        .send()
        .await
        .unwrap();
    let serial = mfa
        .virtual_mfa_device()
        .unwrap()
        .serial_number()
        .to_string();
    s.iam
        .enable_mfa_device()
        .user_name(user)
        .serial_number(&serial)
        .authentication_code1("123456")
        .authentication_code2("654321")
        .send()
        .await
        .unwrap();
    s.iam
        .upload_ssh_public_key()
        .user_name(user)
        .ssh_public_key_body(iam_fixture("ssh-public-key.pub").trim())
        .send()
        .await
        .unwrap();
    s.iam
        .upload_signing_certificate()
        .user_name(user)
        .certificate_body(iam_fixture("signing-certificate.pem"))
        .send()
        .await
        .unwrap();
}

/// The incident card's blocks, as Slack holds them now.
fn card_of(s: &Proxied, incident: &keyleak::domain::incident::Incident) -> String {
    let ts = incident.slack_ts.as_ref().unwrap();
    s.app.slack.message(ts).unwrap().blocks.to_string()
}

#[tokio::test]
async fn every_credential_of_the_user_is_on_the_card_and_in_the_report() {
    let mut s = Proxied::start().await;
    seed_credentials(&s).await;
    s.proxy.answer(
        "ListServiceSpecificCredentials",
        &iam_fixture("list_service_specific_credentials.xml"),
    );
    s.app.start_worker(WorkerSettings::default());
    let id = s.app.contain(&s.seeded.leaked.id, "").await;
    let incident = s.app.wait_for_state(&id, IncidentState::Contained).await;

    let steps = s.app.store.steps(&id).await.unwrap();
    let snap = steps
        .iter()
        .find_map(|st| match &st.fact {
            StepFact::Snapshot(snap) => Some(snap.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(snap.other.ssh_keys.len(), 1);
    assert_eq!(snap.other.certificates.len(), 1);
    assert_eq!(snap.other.service.len(), 2);
    assert!(snap.other.unlisted.is_empty(), "{:?}", snap.other.unlisted);
    let stored = serde_json::to_string(&snap).unwrap();
    assert!(
        !stored.contains("BEGIN CERTIFICATE") && !stored.contains("ssh-ed25519"),
        "only ids are kept"
    );

    let shown = card_of(&s, &incident);
    for needle in [
        "Every credential of `ci-deploy`",
        "(the leaked key)",
        "Console password: yes, never used",
        "MFA devices: 1",
        "SSH public keys: `APKA",
        "Bedrock API key as `BedrockAPIKey-ci-deploy+1-at-123456789012`",
        "for codecommit.amazonaws.com as `ci-deploy-at-123456789012`",
        "Signing certificates: `",
        "The deny-all on `ci-deploy` stops every one of them",
    ] {
        assert!(shown.contains(needle), "{needle} not in {shown}");
    }

    let report = s.app.shared_report(&id).await;
    for needle in [
        "## Every credential of `ci-deploy`",
        "| Bedrock API key | `ACCAJ7EXAMPLEBEDROCKKEY` | active | bedrock.amazonaws.com as",
        "| SSH public key | `APKA",
        "| console password | — | active | never used |",
        "Review the 4 other active credential(s)",
    ] {
        assert!(report.contains(needle), "{needle} not in {report}");
    }
}

/// IAM refusing a list (here: moto without the call) is said on the card; containment goes on.
#[tokio::test]
async fn a_kind_iam_will_not_list_is_said_and_containment_goes_on() {
    let mut s = Proxied::start().await;
    s.proxy
        .fail("ListServiceSpecificCredentials", "AccessDenied");
    s.app.start_worker(WorkerSettings::default());
    let id = s.app.contain(&s.seeded.leaked.id, "").await;
    let incident = s.app.wait_for_state(&id, IncidentState::Contained).await;
    let shown = card_of(&s, &incident);
    assert!(
        shown.contains("Service-specific credentials: :warning: not listed by IAM (access denied"),
        "{shown}"
    );
}
