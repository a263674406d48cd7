//! What the attacker opened to others: whom a snapshot or an image is shared with and
//! taking that back, and the statements of a Lambda function's resource policy.

use serde_json::{Value, json};

use super::AwsError;
use super::actions::Trail;
use super::evidence::{tags, time};
use super::sdk::{Clients, classify};
use crate::domain::approval::{Outcome, Shared};

/// RDS's attribute for the accounts that may restore a snapshot (`all`: everyone).
const RESTORE: &str = "restore";

/// Whom a snapshot's create-volume permission, an image's launch permission or an RDS
/// snapshot's `restore` attribute names.
pub(super) async fn shared_with(
    c: &Clients,
    region: &str,
    shared: &Shared,
) -> Result<Vec<String>, AwsError> {
    use aws_sdk_ec2::types::{ImageAttributeName, SnapshotAttributeName};
    let group = |g: Option<&aws_sdk_ec2::types::PermissionGroup>| g.map(|g| g.as_str().to_string());
    let restore = |name: Option<&str>, values: &[String]| {
        if name == Some(RESTORE) {
            values.to_vec()
        } else {
            vec![]
        }
    };
    Ok(match shared {
        Shared::Snapshot { id } => c
            .ec2(region)
            .describe_snapshot_attribute()
            .snapshot_id(id)
            .attribute(SnapshotAttributeName::CreateVolumePermission)
            .send()
            .await
            .map_err(classify)?
            .create_volume_permissions()
            .iter()
            .filter_map(|p| p.user_id().map(str::to_string).or_else(|| group(p.group())))
            .collect(),
        Shared::Image { id } => c
            .ec2(region)
            .describe_image_attribute()
            .image_id(id)
            .attribute(ImageAttributeName::LaunchPermission)
            .send()
            .await
            .map_err(classify)?
            .launch_permissions()
            .iter()
            .filter_map(|p| {
                p.user_id()
                    .or(p.organization_arn())
                    .or(p.organizational_unit_arn())
                    .map(str::to_string)
                    .or_else(|| group(p.group()))
            })
            .collect(),
        Shared::DbSnapshot { id } => c
            .rds(region)
            .describe_db_snapshot_attributes()
            .db_snapshot_identifier(id)
            .send()
            .await
            .map_err(classify)?
            .db_snapshot_attributes_result()
            .map(|r| r.db_snapshot_attributes())
            .unwrap_or_default()
            .iter()
            .flat_map(|a| restore(a.attribute_name(), a.attribute_values()))
            .collect(),
        Shared::DbClusterSnapshot { id } => c
            .rds(region)
            .describe_db_cluster_snapshot_attributes()
            .db_cluster_snapshot_identifier(id)
            .send()
            .await
            .map_err(classify)?
            .db_cluster_snapshot_attributes_result()
            .map(|r| r.db_cluster_snapshot_attributes())
            .unwrap_or_default()
            .iter()
            .flat_map(|a| restore(a.attribute_name(), a.attribute_values()))
            .collect(),
    })
}

/// Removes the approved accounts from the permission; those shared since are left to a
/// proposal of their own, which the approvers will see.
pub(super) async fn unshare(
    c: &Clients,
    region: &str,
    shared: &Shared,
    approved: &[String],
    t: &mut Trail,
) -> Result<Outcome, AwsError> {
    use aws_sdk_ec2::types::{
        LaunchPermission, LaunchPermissionModifications, OperationType, PermissionGroup,
        SnapshotAttributeName,
    };
    let now = match shared_with(c, region, shared).await {
        Ok(now) => now,
        Err(AwsError::NoSuchEntity(_)) => return Ok(t.gone()),
        Err(e) => return Err(e),
    };
    let still: Vec<String> = approved
        .iter()
        .filter(|w| now.contains(w))
        .cloned()
        .collect();
    if still.is_empty() {
        return Ok(t.gone());
    }
    let everyone = |w: &str| w == PermissionGroup::All.as_str();
    match shared {
        Shared::Snapshot { id } => {
            let (groups, accounts): (Vec<String>, Vec<String>) =
                still.into_iter().partition(|w| everyone(w));
            let out = c
                .ec2(region)
                .modify_snapshot_attribute()
                .snapshot_id(id)
                .attribute(SnapshotAttributeName::CreateVolumePermission)
                .operation_type(OperationType::Remove)
                .set_user_ids(Some(accounts))
                .set_group_names(Some(groups))
                .send()
                .await
                .map_err(classify)?;
            t.note(&out);
        }
        Shared::Image { id } => {
            let remove = still
                .iter()
                .map(|w| {
                    let p = LaunchPermission::builder();
                    if everyone(w) {
                        p.group(PermissionGroup::All).build()
                    } else if w.contains(":organizational-unit/") {
                        p.organizational_unit_arn(w.as_str()).build()
                    } else if w.starts_with("arn:") {
                        p.organization_arn(w.as_str()).build()
                    } else {
                        p.user_id(w.as_str()).build()
                    }
                })
                .collect();
            let out = c
                .ec2(region)
                .modify_image_attribute()
                .image_id(id)
                .launch_permission(
                    LaunchPermissionModifications::builder()
                        .set_remove(Some(remove))
                        .build(),
                )
                .send()
                .await
                .map_err(classify)?;
            t.note(&out);
        }
        Shared::DbSnapshot { id } => {
            let out = c
                .rds(region)
                .modify_db_snapshot_attribute()
                .db_snapshot_identifier(id)
                .attribute_name(RESTORE)
                .set_values_to_remove(Some(still))
                .send()
                .await
                .map_err(classify)?;
            t.note(&out);
        }
        Shared::DbClusterSnapshot { id } => {
            let out = c
                .rds(region)
                .modify_db_cluster_snapshot_attribute()
                .db_cluster_snapshot_identifier(id)
                .attribute_name(RESTORE)
                .set_values_to_remove(Some(still))
                .send()
                .await
                .map_err(classify)?;
            t.note(&out);
        }
    }
    Ok(t.done())
}

/// The snapshot or image and whom it is shared with now.
pub(super) async fn describe_shared(
    c: &Clients,
    region: &str,
    shared: &Shared,
) -> Result<Value, AwsError> {
    let with = shared_with(c, region, shared).await?;
    let described = match shared {
        Shared::Snapshot { id } => {
            let out = c
                .ec2(region)
                .describe_snapshots()
                .snapshot_ids(id)
                .send()
                .await
                .map_err(classify)?;
            out.snapshots().first().map(|s| {
                json!({
                    "SnapshotId": id,
                    "VolumeId": s.volume_id(),
                    "VolumeSize": s.volume_size(),
                    "OwnerId": s.owner_id(),
                    "StartTime": time(s.start_time()),
                    "Encrypted": s.encrypted(),
                    "KmsKeyId": s.kms_key_id(),
                    "Description": s.description(),
                    "Tags": tags(s.tags().iter().filter_map(|t| Some((t.key()?, t.value()?)))),
                })
            })
        }
        Shared::Image { id } => {
            let out = c
                .ec2(region)
                .describe_images()
                .image_ids(id)
                .send()
                .await
                .map_err(classify)?;
            out.images().first().map(|i| {
                json!({
                    "ImageId": id,
                    "Name": i.name(),
                    "OwnerId": i.owner_id(),
                    "CreationDate": i.creation_date(),
                    "Public": i.public(),
                    "Snapshots": i.block_device_mappings().iter()
                        .filter_map(|b| b.ebs().and_then(|e| e.snapshot_id()))
                        .collect::<Vec<_>>(),
                    "Tags": tags(i.tags().iter().filter_map(|t| Some((t.key()?, t.value()?)))),
                })
            })
        }
        Shared::DbSnapshot { id } => {
            let out = c
                .rds(region)
                .describe_db_snapshots()
                .db_snapshot_identifier(id)
                .send()
                .await
                .map_err(classify)?;
            out.db_snapshots().first().map(|s| {
                json!({
                    "DBSnapshotIdentifier": id,
                    "DBInstanceIdentifier": s.db_instance_identifier(),
                    "Engine": s.engine(),
                    "AllocatedStorage": s.allocated_storage(),
                    "SnapshotCreateTime": time(s.snapshot_create_time()),
                    "Encrypted": s.encrypted(),
                    "KmsKeyId": s.kms_key_id(),
                    "DBSnapshotArn": s.db_snapshot_arn(),
                })
            })
        }
        Shared::DbClusterSnapshot { id } => {
            let out = c
                .rds(region)
                .describe_db_cluster_snapshots()
                .db_cluster_snapshot_identifier(id)
                .send()
                .await
                .map_err(classify)?;
            out.db_cluster_snapshots().first().map(|s| {
                json!({
                    "DBClusterSnapshotIdentifier": id,
                    "DBClusterIdentifier": s.db_cluster_identifier(),
                    "Engine": s.engine(),
                    "AllocatedStorage": s.allocated_storage(),
                    "SnapshotCreateTime": time(s.snapshot_create_time()),
                    "StorageEncrypted": s.storage_encrypted(),
                    "KmsKeyId": s.kms_key_id(),
                    "DBClusterSnapshotArn": s.db_cluster_snapshot_arn(),
                })
            })
        }
    };
    Ok(match described {
        Some(mut v) => {
            v["SharedWith"] = json!(with);
            v
        }
        None => json!({ "found": false }),
    })
}

/// The statement of this id in the function's resource policy; `None` when the function, its
/// policy or the statement is gone.
pub(super) async fn function_statement(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    statement: &str,
) -> Result<Option<serde_json::Value>, AwsError> {
    let policy = match lambda.get_policy().function_name(function).send().await {
        Ok(out) => out.policy().unwrap_or_default().to_string(),
        Err(e) => match classify(e) {
            AwsError::NoSuchEntity(_) => return Ok(None),
            other => return Err(other),
        },
    };
    let document: serde_json::Value = serde_json::from_str(&policy)
        .map_err(|e| AwsError::Other(format!("the function's policy is not JSON: {e}")))?;
    Ok(document
        .get("Statement")
        .and_then(|s| s.as_array())
        .and_then(|all| {
            all.iter()
                .find(|s| s.get("Sid").and_then(|id| id.as_str()) == Some(statement))
        })
        .cloned())
}

/// The group's inbound rule of this id; `None` when the group or the rule is gone.
pub(super) async fn ingress_rule(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
    rule: &str,
) -> Result<Option<serde_json::Value>, AwsError> {
    let out = match ec2
        .describe_security_group_rules()
        .security_group_rule_ids(rule)
        .send()
        .await
        .map_err(classify)
    {
        Ok(out) => out,
        Err(AwsError::NoSuchEntity(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(out
        .security_group_rules()
        .iter()
        .find(|r| r.group_id() == Some(group) && r.is_egress() == Some(false))
        .map(|r| {
            serde_json::json!({
                "GroupId": group,
                "SecurityGroupRuleId": rule,
                "IpProtocol": r.ip_protocol(),
                "FromPort": r.from_port(),
                "ToPort": r.to_port(),
                "CidrIpv4": r.cidr_ipv4(),
                "CidrIpv6": r.cidr_ipv6(),
                "Description": r.description(),
            })
        }))
}

/// Revokes one inbound rule by its id; gone when the rule or its group is.
pub(super) async fn revoke_ingress(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
    rule: &str,
    t: &mut Trail,
) -> Result<Outcome, AwsError> {
    if ingress_rule(ec2, group, rule).await?.is_none() {
        return Ok(t.gone());
    }
    let out = ec2
        .revoke_security_group_ingress()
        .group_id(group)
        .security_group_rule_ids(rule)
        .send()
        .await
        .map_err(classify)?;
    t.note(&out);
    Ok(t.done())
}
