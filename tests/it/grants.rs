//! What the attacker let in through policies, against moto: the attacker's account taken out
//! of a role's trust beside the owner's, a public bucket policy deleted, a lifted public access
//! block put back on, an RDS snapshot unshared — each behind the two-person rule, with the
//! evidence of what it was, and refused when there is nothing to take back.

use crate::exposure::{ATTACKER, incident};
use crate::support;

use aws_sdk_s3::types::PublicAccessBlockConfiguration;
use keyleak::domain::approval::{Outcome, ProposalState};
use support::proposals::*;

/// The owner's trust (EC2) with the attacker's account added beside it, as Stratus Red Team's
/// `aws.persistence.iam-backdoor-role` leaves a role; or the attacker's statement alone.
fn backdoored_trust(with_owner: bool) -> String {
    let owner = serde_json::json!({"Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"});
    let attacker = serde_json::json!({"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ATTACKER}:root")}, "Action": "sts:AssumeRole"});
    let statements = if with_owner {
        vec![owner, attacker]
    } else {
        vec![attacker]
    };
    serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

async fn trust_of(iam: &aws_sdk_iam::Client, role: &str) -> String {
    let out = iam.get_role().role_name(role).send().await.unwrap();
    let doc = out.role().unwrap().assume_role_policy_document().unwrap();
    percent_encoding::percent_decode_str(doc)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

#[tokio::test]
async fn the_attackers_account_leaves_a_roles_trust_and_the_owners_stays() {
    let (_moto, config, app, id) = incident().await;
    let iam = aws_sdk_iam::Client::new(&config);
    iam.create_role()
        .role_name("deploy-role")
        .assume_role_policy_document(backdoored_trust(true))
        .send()
        .await
        .unwrap();

    let p = propose(&app, &id, &format!("remove-trust deploy-role {ATTACKER}")).await;
    let text = message_of(&app, &p).text;
    assert!(
        text.contains(&format!(
            "Take `{ATTACKER}` out of the trust policy of role `deploy-role`"
        )) && text.contains("1 statement kept unchanged"),
        "{text}"
    );
    let done = approve(&app, &p).await;
    assert_eq!(done.state, ProposalState::Done, "{:?}", done.outcome);
    let trust = trust_of(&iam, "deploy-role").await;
    assert!(!trust.contains(ATTACKER), "{trust}");
    assert!(trust.contains("ec2.amazonaws.com"), "{trust}");
    let kept = app.store.evidence_of(&p.id).await.unwrap().unwrap();
    assert!(kept.described["Policy"].to_string().contains(ATTACKER));

    // Nothing of the attacker's left: refused, nothing proposed.
    refused(
        &app,
        &id,
        &format!("remove-trust deploy-role {ATTACKER}"),
        "lets in none of",
    )
    .await;

    // A role only the attacker may assume trusts no one after; one changed since it was
    // proposed is left alone.
    let only = backdoored_trust(false);
    for role in ["support-access", "changed-since"] {
        iam.create_role()
            .role_name(role)
            .assume_role_policy_document(&only)
            .send()
            .await
            .unwrap();
    }
    let p = propose(
        &app,
        &id,
        &format!("remove-trust support-access {ATTACKER}"),
    )
    .await;
    assert!(message_of(&app, &p).text.contains("trust no one"));
    let done = approve(&app, &p).await;
    assert_eq!(done.state, ProposalState::Done, "{:?}", done.outcome);
    assert!(
        trust_of(&iam, "support-access")
            .await
            .contains("KeyleakTrustsNoOne")
    );

    let p = propose(&app, &id, &format!("remove-trust changed-since {ATTACKER}")).await;
    iam.update_assume_role_policy()
        .role_name("changed-since")
        .policy_document(backdoored_trust(true))
        .send()
        .await
        .unwrap();
    let stopped = approve(&app, &p).await;
    assert!(
        matches!(stopped.outcome, Some(Outcome::Changed { .. })),
        "{:?}",
        stopped.outcome
    );
    assert!(trust_of(&iam, "changed-since").await.contains(ATTACKER));
}

#[tokio::test]
async fn a_public_bucket_is_closed_and_a_shared_db_snapshot_unshared() {
    let (_moto, config, app, id) = incident().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket("acme-exports")
        .send()
        .await
        .unwrap();
    // The policy of the exfiltration fixture's PutBucketPolicy.
    let public = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Public","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::acme-exports/*"}]}"#;
    s3.put_bucket_policy()
        .bucket("acme-exports")
        .policy(public)
        .send()
        .await
        .unwrap();
    s3.put_public_access_block()
        .bucket("acme-exports")
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(false)
                .ignore_public_acls(false)
                .block_public_policy(false)
                .restrict_public_buckets(false)
                .build(),
        )
        .send()
        .await
        .unwrap();

    let p = propose(&app, &id, "remove-bucket-grant acme-exports *").await;
    let text = message_of(&app, &p).text;
    assert!(
        text.contains("Take `*` (everyone) out of the policy of bucket `acme-exports`")
            && text.contains("the policy is deleted"),
        "{text}"
    );
    let done = approve(&app, &p).await;
    assert_eq!(done.state, ProposalState::Done, "{:?}", done.outcome);
    let gone = s3.get_bucket_policy().bucket("acme-exports").send().await;
    assert!(gone.is_err(), "{gone:?}");
    let kept = app.store.evidence_of(&p.id).await.unwrap().unwrap();
    assert_eq!(kept.described["Policy"]["Statement"][0]["Sid"], "Public");

    let p = propose(&app, &id, "block-public-access acme-exports").await;
    let done = approve(&app, &p).await;
    assert_eq!(done.state, ProposalState::Done, "{:?}", done.outcome);
    let block = s3
        .get_public_access_block()
        .bucket("acme-exports")
        .send()
        .await
        .unwrap();
    let c = block.public_access_block_configuration().unwrap();
    assert_eq!(
        [
            c.block_public_acls(),
            c.ignore_public_acls(),
            c.block_public_policy(),
            c.restrict_public_buckets()
        ],
        [Some(true); 4]
    );
    let kept = app.store.evidence_of(&p.id).await.unwrap().unwrap();
    assert_eq!(
        kept.described["PublicAccessBlockConfiguration"]["BlockPublicPolicy"],
        false
    );
    refused(
        &app,
        &id,
        "block-public-access acme-exports",
        "already blocks all public access",
    )
    .await;

    // The RDS snapshot of the exfiltration fixture, restorable by everyone and the attacker.
    let rds = aws_sdk_rds::Client::new(&config);
    rds.create_db_instance()
        .db_instance_identifier("prod-db")
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .allocated_storage(20)
        .master_username("admin")
        .master_user_password("not-a-secret-1")
        .send()
        .await
        .unwrap();
    rds.create_db_snapshot()
        .db_instance_identifier("prod-db")
        .db_snapshot_identifier("prod-db-2026-11-19")
        .send()
        .await
        .unwrap();
    rds.modify_db_snapshot_attribute()
        .db_snapshot_identifier("prod-db-2026-11-19")
        .attribute_name("restore")
        .values_to_add("all")
        .values_to_add(ATTACKER)
        .send()
        .await
        .unwrap();
    let p = propose(
        &app,
        &id,
        "unshare-db-snapshot us-east-1 prod-db-2026-11-19",
    )
    .await;
    let text = message_of(&app, &p).text;
    assert!(
        text.contains("Stop sharing RDS snapshot `prod-db-2026-11-19` in us-east-1")
            && text.contains("`all` (everyone)"),
        "{text}"
    );
    let done = approve(&app, &p).await;
    assert_eq!(done.state, ProposalState::Done, "{:?}", done.outcome);
    let left = rds
        .describe_db_snapshot_attributes()
        .db_snapshot_identifier("prod-db-2026-11-19")
        .send()
        .await
        .unwrap();
    let restore: Vec<&String> = left
        .db_snapshot_attributes_result()
        .unwrap()
        .db_snapshot_attributes()
        .iter()
        .filter(|a| a.attribute_name() == Some("restore"))
        .flat_map(|a| a.attribute_values())
        .collect();
    assert!(restore.is_empty(), "{restore:?}");
    let kept = app.store.evidence_of(&p.id).await.unwrap().unwrap();
    assert_eq!(kept.described["Engine"], "postgres");
    assert_eq!(kept.described["SharedWith"].as_array().unwrap().len(), 2);
}
