//! Every credential of the key's user: listed with the snapshot before any change, on the
//! card with what the deny-all covers, and in the report. Kinds IAM will not list are said,
//! and never stop containment.

use crate::support;

use keyleak::domain::approval::ProposalState;
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

/// Each credential the card lists can be proposed for removal on its own, behind the
/// two-person rule; a user holding them is taken apart whole; an id the user does not have is
/// refused before anything is proposed.
#[tokio::test]
async fn each_credential_is_removed_on_its_own_and_with_its_user() {
    use support::proposals::*;
    let mut s = Proxied::start().await;
    seed_credentials(&s).await;
    s.app.start_worker(WorkerSettings::default());
    let id = s.app.contain(&s.seeded.leaked.id, "").await;
    s.app.wait_for_state(&id, IncidentState::Contained).await;
    let user = "ci-deploy";
    let ssh = s
        .iam
        .list_ssh_public_keys()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .ssh_public_keys()[0]
        .ssh_public_key_id()
        .to_string();
    let certificate = s
        .iam
        .list_signing_certificates()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .certificates()[0]
        .certificate_id()
        .to_string();
    let mfa = s
        .iam
        .list_mfa_devices()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .mfa_devices()[0]
        .serial_number()
        .to_string();

    let p = propose(&s.app, &id, &format!("delete-ssh-key {user} {ssh}")).await;
    assert!(
        message_of(&s.app, &p)
            .text
            .contains(&format!("Delete SSH public key `{ssh}` of user `{user}`"))
    );
    let done = approve(&s.app, &p).await;
    assert_eq!(done.state, ProposalState::Done, "{:?}", done.outcome);
    let kept = s.app.store.evidence_of(&p.id).await.unwrap().unwrap();
    assert!(
        kept.described["SSHPublicKeyBody"]
            .as_str()
            .unwrap()
            .starts_with("ssh-ed25519"),
        "{}",
        kept.described
    );
    let p = propose(
        &s.app,
        &id,
        &format!("delete-signing-certificate {user} {certificate}"),
    )
    .await;
    assert_eq!(approve(&s.app, &p).await.state, ProposalState::Done);
    let p = propose(&s.app, &id, &format!("remove-mfa {user} {mfa}")).await;
    assert_eq!(approve(&s.app, &p).await.state, ProposalState::Done);
    let left = s
        .iam
        .list_ssh_public_keys()
        .user_name(user)
        .send()
        .await
        .unwrap();
    assert!(left.ssh_public_keys().is_empty());
    let left = s
        .iam
        .list_signing_certificates()
        .user_name(user)
        .send()
        .await
        .unwrap();
    assert!(left.certificates().is_empty());
    let left = s
        .iam
        .list_mfa_devices()
        .user_name(user)
        .send()
        .await
        .unwrap();
    assert!(left.mfa_devices().is_empty());
    let virtual_devices = s.iam.list_virtual_mfa_devices().send().await.unwrap();
    assert!(
        virtual_devices.virtual_mfa_devices().is_empty(),
        "a virtual device is deleted, not only detached"
    );

    // Gone already: refused before anything is proposed, with what was asked.
    let before = s.app.store.proposals(&id).await.unwrap().len();
    let said = ask(
        &s.app,
        RESPONDER,
        &format!("cleanup {id} delete-ssh-key {user} {ssh}"),
    )
    .await;
    assert!(said.contains("Checking AWS"), "{said}");
    requester_told(
        &s.app,
        &format!("user `{user}` has no SSH public key {ssh}"),
    )
    .await;
    assert_eq!(s.app.store.proposals(&id).await.unwrap().len(), before);

    // A user holding an SSH key and a certificate is taken apart whole.
    s.iam
        .create_user()
        .user_name("backdoor")
        .send()
        .await
        .unwrap();
    s.iam
        .upload_ssh_public_key()
        .user_name("backdoor")
        .ssh_public_key_body(iam_fixture("ssh-public-key.pub").trim())
        .send()
        .await
        .unwrap();
    s.iam
        .upload_signing_certificate()
        .user_name("backdoor")
        .certificate_body(iam_fixture("signing-certificate.pem"))
        .send()
        .await
        .unwrap();
    let p = propose(&s.app, &id, "delete-user backdoor").await;
    let text = message_of(&s.app, &p).text;
    assert!(
        text.contains("delete 1 SSH public key, delete 1 signing certificate"),
        "{text}"
    );
    let done = approve(&s.app, &p).await;
    assert_eq!(done.state, ProposalState::Done, "{:?}", done.outcome);
    assert!(!user_exists(&s.iam, "backdoor").await);
}
