use super::super::fixtures::{self, event};
use super::*;

fn all(texts: &[&str]) -> Vec<Created> {
    texts.iter().flat_map(|t| created(&event(t))).collect()
}

#[test]
fn the_published_records_yield_what_they_created() {
    let inv = all(&[
        fixtures::CREATE_USER,
        fixtures::CREATE_ACCESS_KEY,
        fixtures::CREATE_LOGIN_PROFILE,
        fixtures::RUN_INSTANCES,
        fixtures::LIST_USERS,
    ]);
    let got: Vec<(ResourceKind, &str, Option<&str>, &str)> = inv
        .iter()
        .map(|c| (c.kind, c.id.as_str(), c.owner.as_deref(), c.region.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (ResourceKind::User, "backdoor-admin", None, "us-east-1"),
            (
                ResourceKind::AccessKey,
                "AKIAI44QH8DHBEXAMPLE",
                Some("backdoor-admin"),
                "us-east-1"
            ),
            (
                ResourceKind::LoginProfile,
                "backdoor-admin",
                Some("backdoor-admin"),
                "us-east-1"
            ),
            (
                ResourceKind::Instance,
                "i-0a1b2c3d4e5f60001",
                None,
                "eu-west-1"
            ),
            (
                ResourceKind::Instance,
                "i-0a1b2c3d4e5f60002",
                None,
                "eu-west-1"
            ),
        ]
    );
    assert_eq!(inv[3].account.as_deref(), Some("444455556666"));
}

#[test]
fn a_failed_create_created_nothing() {
    let mut e = event(fixtures::CREATE_USER);
    e.error_code = Some("AccessDenied".into());
    assert!(created(&e).is_empty());
}

#[test]
fn a_snapshot_opened_to_everyone_is_listed_with_whom() {
    let mut e = event(fixtures::CREATE_USER);
    e.name = "ModifySnapshotAttribute".into();
    e.request = serde_json::json!({
        "snapshotId": "snap-0123456789abcdef0",
        "attributeType": "CREATE_VOLUME_PERMISSION",
        "createVolumePermission": {"add": {"items": [{"group": "all"}, {"userId": "999988887777"}]}}
    });
    let c = created(&e);
    assert_eq!(c[0].kind, ResourceKind::SnapshotShared);
    assert_eq!(
        c[0].detail.as_deref(),
        Some("shared with all, 999988887777")
    );
}

#[test]
fn what_was_shared_out_becomes_a_proposal_to_unshare_it() {
    let shared: Vec<Created> = fixtures::log(fixtures::EXFILTRATION)
        .iter()
        .filter(|e| e.name == "ModifyImageAttribute" || e.name == "ModifySnapshotAttribute")
        .flat_map(created)
        .collect();
    let image = shared
        .iter()
        .find(|c| c.kind == ResourceKind::ImageShared)
        .expect("the AMI shared with the attacker's account");
    assert_eq!(image.id, "ami-0abcdef1234567890");
    assert_eq!(image.detail.as_deref(), Some("shared with 444455556666"));
    let account = image.account.clone().unwrap();
    let (targets, manual) = cleanup_targets(&shared, &account);
    assert!(manual.is_empty(), "{manual:?}");
    assert!(targets.contains(&Target::Unshare {
        region: image.region.clone(),
        shared: Shared::Image {
            id: "ami-0abcdef1234567890".into()
        }
    }));
    assert!(
        targets.iter().any(|t| matches!(
            t,
            Target::Unshare {
                shared: Shared::Snapshot { .. },
                ..
            }
        )),
        "{targets:?}"
    );
}

#[test]
fn a_trust_and_a_bucket_opened_to_others_become_proposals_to_close_them() {
    let made: Vec<Created> = [fixtures::PERSISTENCE, fixtures::EXFILTRATION]
        .into_iter()
        .flat_map(fixtures::log)
        .flat_map(|e| created(&e))
        .filter(|c| {
            matches!(
                c.kind,
                ResourceKind::TrustOpened
                    | ResourceKind::BucketPolicyOpened
                    | ResourceKind::BucketAclOpened
                    | ResourceKind::PublicAccessBlockLifted
                    | ResourceKind::DbSnapshotShared
            )
        })
        .collect();
    let details: Vec<(ResourceKind, &str, Option<&str>)> = made
        .iter()
        .map(|c| (c.kind, c.id.as_str(), c.detail.as_deref()))
        .collect();
    assert_eq!(
        details,
        [
            (
                ResourceKind::TrustOpened,
                "deploy-role",
                Some("trusts arn:aws:iam::444455556666:root")
            ),
            (
                ResourceKind::DbSnapshotShared,
                "prod-db-2026-11-19",
                Some("shared with all")
            ),
            (
                ResourceKind::BucketPolicyOpened,
                "acme-exports",
                Some("lets in *")
            ),
            (ResourceKind::BucketAclOpened, "acme-exports", None),
            (ResourceKind::PublicAccessBlockLifted, "acme-exports", None),
        ]
    );
    let (targets, manual) = cleanup_targets(&made, "111122223333");
    assert!(manual.is_empty(), "{manual:?}");
    assert_eq!(
        targets,
        [
            Target::Grant {
                on: Grantor::RoleTrust {
                    role: "deploy-role".into()
                },
                principals: vec!["arn:aws:iam::444455556666:root".into()]
            },
            Target::Unshare {
                region: "us-east-1".into(),
                shared: Shared::DbSnapshot {
                    id: "prod-db-2026-11-19".into()
                }
            },
            Target::Grant {
                on: Grantor::BucketPolicy {
                    bucket: "acme-exports".into()
                },
                principals: vec!["*".into()]
            },
            Target::BlockPublicAccess {
                bucket: "acme-exports".into()
            },
        ]
    );
}

#[test]
fn a_rule_open_to_the_internet_becomes_a_proposal_to_revoke_it() {
    let made: Vec<Created> = fixtures::log(fixtures::EXFILTRATION)
        .iter()
        .flat_map(created)
        .filter(|c| c.kind == ResourceKind::IngressRule)
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(
        made[0].detail.as_deref(),
        Some("tcp port 22 from 0.0.0.0/0")
    );
    let (targets, _) = cleanup_targets(&made, "111122223333");
    assert_eq!(
        targets,
        [Target::IngressRule {
            region: "us-east-1".into(),
            group: "sg-0123456789abcdef0".into(),
            rule: "sgr-0a1b2c3d4e5f6a7b8".into()
        }]
    );
}

#[test]
fn a_lambda_permission_for_another_account_becomes_a_proposal_to_remove_it() {
    let made: Vec<Created> = fixtures::log(fixtures::PERSISTENCE)
        .iter()
        .flat_map(created)
        .filter(|c| c.kind == ResourceKind::FunctionPermission)
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(made[0].detail.as_deref(), Some("for 444455556666"));
    let (targets, _) = cleanup_targets(&made, "111122223333");
    assert_eq!(
        targets,
        [Target::FunctionPermission {
            region: "us-east-1".into(),
            function: "billing-export".into(),
            statement: "x-account".into()
        }]
    );
}

#[test]
fn cleanup_targets_fold_a_users_keys_into_the_user_and_leave_other_accounts_to_people() {
    let mut inv = all(&[
        fixtures::CREATE_USER,
        fixtures::CREATE_ACCESS_KEY,
        fixtures::CREATE_LOGIN_PROFILE,
        fixtures::RUN_INSTANCES,
    ]);
    let mut stray = inv[1].clone();
    stray.id = "AKIAJ7VT3PZVEXAMPLE0".into();
    stray.owner = Some("ci-deploy".into());
    inv.push(stray);
    let (targets, manual) = cleanup_targets(&inv, "111122223333");
    assert_eq!(
        targets,
        [
            Target::User {
                user: "backdoor-admin".into()
            },
            Target::AccessKey {
                key: "AKIAJ7VT3PZVEXAMPLE0".into()
            },
        ]
    );
    assert_eq!(manual.len(), 2, "the instances are in the role's account");
    let (targets, _) = cleanup_targets(&inv, "444455556666");
    assert_eq!(
        targets,
        [Target::Instances {
            region: "eu-west-1".into(),
            ids: vec!["i-0a1b2c3d4e5f60001".into(), "i-0a1b2c3d4e5f60002".into()],
            snapshot: false,
        }]
    );
}
