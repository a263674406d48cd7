//! Evidence before deletion, against moto: what a target was is kept before an approved
//! action destroys it, copied to the evidence bucket under the bucket's object lock, listed in
//! the report with its file; and without it, nothing is destroyed. Instances asked to be
//! snapshotted leave their volumes behind.

use crate::support;

use aws_sdk_s3::types::{
    DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode,
    ObjectLockRule,
};
use keyleak::domain::approval::{Outcome, ProposalState};
use sha2::{Digest, Sha256};
use support::proposals::*;
use support::*;

/// A bucket that locks what is put in it for 30 days, as an evidence bucket should.
async fn locked_bucket(s3: &aws_sdk_s3::Client, name: &str) {
    s3.create_bucket()
        .bucket(name)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    s3.put_object_lock_configuration()
        .bucket(name)
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(
                    ObjectLockRule::builder()
                        .default_retention(
                            DefaultRetention::builder()
                                .mode(ObjectLockRetentionMode::Governance)
                                .days(30)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// A backdoor user as an attacker leaves one: tagged, with an inline policy, a key and a
/// console password.
async fn backdoor(iam: &aws_sdk_iam::Client) -> seed::Key {
    iam.create_user()
        .user_name("backdoor")
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("team")
                .value("red")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    iam.put_user_policy()
        .user_name("backdoor")
        .policy_name("persist")
        .policy_document(seed::APP_POLICY)
        .send()
        .await
        .unwrap();
    iam.create_login_profile()
        .user_name("backdoor")
        .password("Attacker-Set-Passw0rd!")
        .send()
        .await
        .unwrap();
    seed::create_key(iam, "backdoor").await
}

#[tokio::test]
async fn what_a_deletion_destroys_is_kept_first_copied_under_lock_and_reported() {
    let moto = Moto::start().await.unwrap();
    let config = moto.own_config().await;
    let iam = aws_sdk_iam::Client::new(&config);
    let s3 = aws_sdk_s3::Client::new(&config);
    locked_bucket(&s3, "ir-evidence").await;
    let app = App::start(
        config.clone(),
        Options {
            evidence_copy: Some("s3://ir-evidence/cases"),
            ..Options::default()
        },
    )
    .await;
    let (id, _) = contained(&app, &iam, "ci-deploy").await;
    let key = backdoor(&iam).await;

    let p = propose(&app, &id, "delete-user backdoor").await;
    let done = approve(&app, &p).await;
    assert_eq!(done.state, ProposalState::Done, "{:?}", done.outcome);

    let kept = app.store.evidence_of(&p.id).await.unwrap().expect("kept");
    let d = &kept.described;
    assert_eq!(d["UserName"], "backdoor");
    assert_eq!(d["Tags"]["team"], "red");
    let app_policy: serde_json::Value = serde_json::from_str(seed::APP_POLICY).unwrap();
    assert_eq!(d["InlinePolicies"]["persist"], app_policy);
    assert_eq!(d["Holdings"]["access_keys"][0]["id"], key.id.as_str());
    assert_eq!(d["Holdings"]["has_login_profile"], true);
    assert_eq!(kept.action, p.action, "taken for the action as approved");
    // Read once approved, right before the deletion: what was destroyed, not what was proposed.
    assert!(kept.taken_at >= done.decided_at.expect("approved"));

    // The copy: where it was said to be, what was hashed, locked as the bucket says.
    let copy = kept.copy.clone().expect("copied");
    assert_eq!(copy.bucket, "ir-evidence");
    assert_eq!(copy.key, format!("cases/keyleak/{id}/{}.json", p.id));
    assert_eq!(copy.lock_mode.as_deref(), Some("GOVERNANCE"));
    let until = copy.locked_until.expect("retained");
    assert!(
        until > chrono::Utc::now() + chrono::Duration::days(29),
        "{until}"
    );
    let object = s3
        .get_object()
        .bucket("ir-evidence")
        .key(&copy.key)
        .set_version_id(copy.version_id.clone())
        .send()
        .await
        .unwrap();
    let bytes = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), kept.sha256);
    let stored: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(&stored, d);
    assert!(!String::from_utf8_lossy(&bytes).contains(&key.secret));

    // The report lists it and shares the documents beside it.
    let md = app.shared_report(&id).await;
    assert!(md.contains("## Evidence kept before deletion"), "{md}");
    assert!(md.contains(&kept.sha256), "{md}");
    assert!(md.contains("GOVERNANCE lock until"), "{md}");
    let file = app
        .slack
        .files()
        .into_iter()
        .find(|f| f.filename == format!("{id}-evidence.json"))
        .expect("the evidence file is shared with the report");
    let listed: serde_json::Value = serde_json::from_slice(&file.bytes).unwrap();
    assert_eq!(listed[0]["described"], *d);
}

#[tokio::test]
async fn without_its_evidence_nothing_is_destroyed_and_the_reason_is_said() {
    let moto = Moto::start().await.unwrap();
    let config = moto.own_config().await;
    let iam = aws_sdk_iam::Client::new(&config);
    let app = App::start(
        config,
        Options {
            evidence_copy: Some("s3://no-such-evidence-bucket"),
            ..Options::default()
        },
    )
    .await;
    let (id, _) = contained(&app, &iam, "ci-deploy").await;
    backdoor(&iam).await;
    let p = propose(&app, &id, "delete-user backdoor").await;
    let failed = approve(&app, &p).await;
    assert_eq!(failed.state, ProposalState::Failed);
    let Some(Outcome::Failed { error, request_ids }) = &failed.outcome else {
        panic!("{:?}", failed.outcome)
    };
    assert!(
        error.starts_with("nothing was deleted: the evidence could not be kept: the copy to s3://no-such-evidence-bucket/"),
        "{error}"
    );
    assert!(request_ids.is_empty(), "no deleting call was made");
    assert!(user_exists(&iam, "backdoor").await);
    assert_eq!(key_ids(&iam, "backdoor").await.len(), 1);
    wait_message(&app, &failed, "the evidence could not be kept").await;
    // What was read is still in the database, without a copy.
    let kept = app.store.evidence_of(&p.id).await.unwrap().expect("kept");
    assert!(kept.copy.is_none());

    // Rollback undoes keyleak's own containment and destroys nothing of the attacker's: it
    // needs no evidence, so the broken bucket does not stand in its way.
    let said = ask(&app, RESPONDER, &format!("rollback {id}")).await;
    assert!(said.contains("rollback"), "{said}");
    for p in proposals(&app, &id, 3).await.iter().skip(1) {
        let done = approve(&app, p).await;
        assert_eq!(done.state, ProposalState::Done, "{:?}", done.outcome);
        assert!(app.store.evidence_of(&p.id).await.unwrap().is_none());
    }
}

/// `terminate … --snapshot`: every EBS volume of the instances is snapshotted, tagged with the
/// instance it came from, before they are terminated; the snapshots outlive the instances and
/// the evidence names them.
#[tokio::test]
async fn instances_asked_to_be_snapshotted_leave_their_volumes_behind() {
    let moto = Moto::start().await.unwrap();
    let config = moto.own_config().await;
    let app = App::start(config.clone(), Options::default()).await;
    let (id, _) = contained(&app, &aws_sdk_iam::Client::new(&config), "ci-deploy").await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let ids = seed::instances(&ec2, 2).await;

    let p = propose(
        &app,
        &id,
        &format!("terminate us-east-1 {} --snapshot {}", ids[0], ids[1]),
    )
    .await;
    let posted = message_of(&app, &p);
    assert!(
        posted
            .text
            .contains("each once a snapshot of its EBS volumes is taken"),
        "{}",
        posted.text
    );
    let blocks = posted.blocks.to_string();
    assert!(
        blocks.contains(
            "*AWS calls:* `ec2:CreateSnapshots`, `ec2:CreateTags`, `ec2:TerminateInstances`"
        ),
        "{blocks}"
    );
    let done = approve(&app, &p).await;
    assert_eq!(done.state, ProposalState::Done, "{:?}", done.outcome);

    let kept = app.store.evidence_of(&p.id).await.unwrap().unwrap();
    let taken = kept.described["EvidenceSnapshots"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(taken.len(), 2, "{taken:?}");
    for (instance, t) in ids.iter().zip(&taken) {
        assert_eq!(t["InstanceId"], instance.as_str());
        let snapshot = t["Snapshots"][0]["SnapshotId"].as_str().unwrap();
        let found = ec2
            .describe_snapshots()
            .snapshot_ids(snapshot)
            .send()
            .await
            .unwrap();
        let tags = found.snapshots()[0].tags();
        assert!(
            tags.iter()
                .any(|t| t.key() == Some("keyleak:evidence-of") && t.value() == Some(instance)),
            "{tags:?}"
        );
    }
    seed::assert_terminated(&ec2, &ids).await;
}
