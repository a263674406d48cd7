//! What the attacker shared out, against moto: an EBS snapshot and an AMI shared with another
//! account and with everyone are unshared behind the two-person rule, with the evidence of
//! what they were; something shared with nobody is refused before anything is proposed.

use crate::support;

use aws_sdk_ec2::types::{
    ImageAttributeName, LaunchPermission, LaunchPermissionModifications, OperationType,
    SnapshotAttributeName,
};
use keyleak::domain::approval::ProposalState;
use support::proposals::*;
use support::*;

pub(crate) const ATTACKER: &str = "444455556666";

/// A contained incident in moto's own account, and the settings to reach that account.
pub(crate) async fn incident() -> (
    Moto,
    aws_config::SdkConfig,
    App,
    keyleak::domain::ids::IncidentId,
) {
    let moto = Moto::start().await.unwrap();
    let config = moto.own_config().await;
    let app = App::start(config.clone(), Options::default()).await;
    let (id, _) = contained(&app, &aws_sdk_iam::Client::new(&config), "ci-deploy").await;
    (moto, config, app, id)
}

#[tokio::test]
async fn a_snapshot_and_an_image_shared_out_are_unshared_once_approved() {
    let (_moto, config, app, id) = incident().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);

    let volume = ec2
        .create_volume()
        .availability_zone("us-east-1a")
        .size(8)
        .send()
        .await
        .unwrap();
    let snapshot = ec2
        .create_snapshot()
        .volume_id(volume.volume_id().unwrap())
        .send()
        .await
        .unwrap()
        .snapshot_id()
        .unwrap()
        .to_string();
    // With OperationType and UserId.N, which AWS takes as well as the Add/Remove lists and moto
    // reads alone.
    ec2.modify_snapshot_attribute()
        .snapshot_id(&snapshot)
        .attribute(SnapshotAttributeName::CreateVolumePermission)
        .operation_type(OperationType::Add)
        .user_ids(ATTACKER)
        .group_names("all")
        .send()
        .await
        .unwrap();

    let p = propose(&app, &id, &format!("unshare-snapshot us-east-1 {snapshot}")).await;
    let text = message_of(&app, &p).text;
    assert!(
        text.contains(&format!(
            "Stop sharing EBS snapshot `{snapshot}` in us-east-1"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("`{ATTACKER}`")) && text.contains("`all` (everyone)"),
        "{text}"
    );
    let done = approve(&app, &p).await;
    assert_eq!(done.state, ProposalState::Done, "{:?}", done.outcome);
    let left = ec2
        .describe_snapshot_attribute()
        .snapshot_id(&snapshot)
        .attribute(SnapshotAttributeName::CreateVolumePermission)
        .send()
        .await
        .unwrap();
    assert!(left.create_volume_permissions().is_empty(), "{left:?}");
    let kept = app.store.evidence_of(&p.id).await.unwrap().unwrap();
    assert_eq!(kept.described["SnapshotId"], snapshot.as_str());
    assert_eq!(kept.described["SharedWith"].as_array().unwrap().len(), 2);

    // Shared with nobody now: refused, nothing proposed.
    refused(
        &app,
        &id,
        &format!("unshare-snapshot us-east-1 {snapshot}"),
        "is shared with no other account",
    )
    .await;

    // An image made from an instance, shared with the attacker's account.
    let instance = seed::instances(&ec2, 1).await.remove(0);
    let ami = ec2
        .create_image()
        .instance_id(instance)
        .name("exfil")
        .send()
        .await
        .unwrap()
        .image_id()
        .unwrap()
        .to_string();
    ec2.modify_image_attribute()
        .image_id(&ami)
        .launch_permission(
            LaunchPermissionModifications::builder()
                .add(LaunchPermission::builder().user_id(ATTACKER).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let p = propose(&app, &id, &format!("unshare-image us-east-1 {ami}")).await;
    let done = approve(&app, &p).await;
    assert_eq!(done.state, ProposalState::Done, "{:?}", done.outcome);
    let left = ec2
        .describe_image_attribute()
        .image_id(&ami)
        .attribute(ImageAttributeName::LaunchPermission)
        .send()
        .await
        .unwrap();
    assert!(left.launch_permissions().is_empty(), "{left:?}");
}

#[tokio::test]
async fn a_lambda_permission_for_another_account_is_removed_once_approved() {
    let (_moto, config, app, id) = incident().await;
    let iam = aws_sdk_iam::Client::new(&config);
    let lambda = aws_sdk_lambda::Client::new(&config);
    seed::function(&iam, &lambda, "billing-export").await;
    for (sid, principal) in [
        ("x-account", ATTACKER),
        ("own-events", "events.amazonaws.com"),
    ] {
        lambda
            .add_permission()
            .function_name("billing-export")
            .statement_id(sid)
            .action("lambda:InvokeFunction")
            .principal(principal)
            .send()
            .await
            .unwrap();
    }

    let p = propose(
        &app,
        &id,
        "remove-permission us-east-1 billing-export x-account",
    )
    .await;
    let text = message_of(&app, &p).text;
    assert!(
        text.contains("Remove statement `x-account` from the resource policy of Lambda function `billing-export`"),
        "{text}"
    );
    let done = approve(&app, &p).await;
    assert_eq!(done.state, ProposalState::Done, "{:?}", done.outcome);
    let kept = app.store.evidence_of(&p.id).await.unwrap().unwrap();
    assert_eq!(kept.described["Statement"]["Sid"], "x-account");
    let policy = lambda
        .get_policy()
        .function_name("billing-export")
        .send()
        .await
        .unwrap();
    let policy = policy.policy().unwrap();
    assert!(!policy.contains("x-account"), "{policy}");
    assert!(
        policy.contains("own-events"),
        "only that statement goes: {policy}"
    );

    refused(
        &app,
        &id,
        "remove-permission us-east-1 billing-export x-account",
        "has no permission statement `x-account`",
    )
    .await;
}

#[tokio::test]
async fn an_inbound_rule_open_to_the_internet_is_revoked_once_approved() {
    let (_moto, config, app, id) = incident().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let group = ec2
        .create_security_group()
        .group_name("web")
        .description("web")
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_string();
    let opened = ec2
        .authorize_security_group_ingress()
        .group_id(&group)
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .cidr_ip("0.0.0.0/0")
        .send()
        .await
        .unwrap();
    let rule = opened.security_group_rules()[0]
        .security_group_rule_id()
        .unwrap()
        .to_string();

    let p = propose(&app, &id, &format!("revoke-rule us-east-1 {group} {rule}")).await;
    let text = message_of(&app, &p).text;
    assert!(
        text.contains(&format!(
            "Revoke inbound rule `{rule}` of security group `{group}`"
        )),
        "{text}"
    );
    let done = approve(&app, &p).await;
    assert_eq!(done.state, ProposalState::Done, "{:?}", done.outcome);
    let kept = app.store.evidence_of(&p.id).await.unwrap().unwrap();
    assert_eq!(kept.described["CidrIpv4"], "0.0.0.0/0");
    assert_eq!(kept.described["FromPort"], 22);
    let left = ec2
        .describe_security_group_rules()
        .security_group_rule_ids(&rule)
        .send()
        .await;
    assert!(
        left.map(|l| l.security_group_rules().is_empty())
            .unwrap_or(true),
        "the rule is gone"
    );
}
