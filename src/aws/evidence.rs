//! Evidence before deletion: what AWS says a cleanup's target is just before it is destroyed,
//! as JSON in AWS's own field names, and the copy written to the evidence bucket.

use aws_sdk_ec2::types::{Filter, InstanceAttributeName};
use serde_json::{Map, Value, json};

use super::AwsError;
use super::sdk::{Clients, classify, to_chrono, user_snapshot};
use crate::domain::approval::{Action, UserCredential};
use crate::domain::evidence::EvidenceCopy;

/// What the action is about to destroy, as AWS describes it now. A target already gone is
/// said so (`"found": false`): the action will find it gone too.
pub(super) async fn describe(c: &Clients, action: &Action) -> Result<Value, AwsError> {
    let described = match action {
        Action::DeleteAccessKey { user, key, .. } => access_key(&c.iam, user, key).await,
        Action::DeleteLoginProfile { user, .. } => login_profile(&c.iam, user).await,
        Action::DeleteUser { user, .. } => user_described(&c.iam, user).await,
        Action::DeleteRole { role, .. } => role_described(&c.iam, role).await,
        Action::DeletePolicy { arn, .. } => policy_described(&c.iam, arn).await,
        Action::TerminateInstances {
            region,
            instance_ids,
            snapshot,
            ..
        } => {
            let ec2 = c.ec2(region);
            let mut described = instances(&ec2, instance_ids).await?;
            if *snapshot {
                described["EvidenceSnapshots"] = snapshot_volumes(&ec2, instance_ids).await?;
            }
            Ok(described)
        }
        Action::DeleteFunction { region, name, .. } => function(&c.lambda(region), name).await,
        Action::DeleteUserCredential {
            user, credential, ..
        } => user_credential(&c.iam, user, credential).await,
        Action::Unshare { region, shared, .. } => {
            super::exposure::describe_shared(c, region, shared).await
        }
        Action::RemoveGrant { on, .. } => Ok(match super::grants::document(c, on).await? {
            Some(doc) => json!({ "Grantor": on, "Policy": document(&doc) }),
            None => json!({ "Grantor": on, "Policy": null }),
        }),
        Action::BlockPublicAccess { bucket, .. } => {
            let s3 = super::archive::client(&c.config, bucket).await;
            Ok(json!({
                "Bucket": bucket,
                "PublicAccessBlockConfiguration":
                    super::grants::public_access_block(&s3, bucket).await?,
            }))
        }
        Action::RevokeIngress {
            region,
            group,
            rule,
            ..
        } => Ok(super::exposure::ingress_rule(&c.ec2(region), group, rule)
            .await?
            .unwrap_or_else(|| json!({ "found": false }))),
        Action::RemoveFunctionPermission {
            region,
            function,
            statement,
            ..
        } => {
            let found =
                super::exposure::function_statement(&c.lambda(region), function, statement).await?;
            Ok(found.map_or_else(
                || json!({ "found": false }),
                |s| json!({ "FunctionName": function, "Statement": s }),
            ))
        }
        Action::ReactivateKey { .. } | Action::RemoveDenyAll { .. } => Ok(Value::Null),
    };
    match described {
        Err(AwsError::NoSuchEntity(_)) => Ok(json!({ "found": false })),
        other => other,
    }
}

pub(super) fn time(t: Option<&aws_smithy_types::DateTime>) -> Value {
    t.and_then(to_chrono)
        .map_or(Value::Null, |t| Value::String(t.to_rfc3339()))
}

/// A policy document as JSON: IAM returns them URL-encoded; one that does not parse is kept
/// as the text it is.
pub(super) fn document(raw: &str) -> Value {
    let text = super::reach::decoded(raw).unwrap_or_else(|_| raw.to_string());
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

pub(super) fn tags<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    Value::Object(
        pairs
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect::<Map<_, _>>(),
    )
}

async fn access_key(iam: &aws_sdk_iam::Client, user: &str, key: &str) -> Result<Value, AwsError> {
    let keys = iam
        .list_access_keys()
        .user_name(user)
        .send()
        .await
        .map_err(classify)?;
    let Some(k) = keys
        .access_key_metadata()
        .iter()
        .find(|k| k.access_key_id() == Some(key))
    else {
        return Ok(json!({ "found": false }));
    };
    let used = iam
        .get_access_key_last_used()
        .access_key_id(key)
        .send()
        .await
        .map_err(classify)?;
    let last = used.access_key_last_used();
    Ok(json!({
        "UserName": user,
        "AccessKeyId": key,
        "Status": k.status().map(|s| s.as_str()),
        "CreateDate": time(k.create_date()),
        "LastUsed": {
            "Date": time(last.and_then(|l| l.last_used_date())),
            "ServiceName": last.map(|l| l.service_name()),
            "Region": last.map(|l| l.region()),
        },
    }))
}

async fn login_profile(iam: &aws_sdk_iam::Client, user: &str) -> Result<Value, AwsError> {
    let out = iam
        .get_login_profile()
        .user_name(user)
        .send()
        .await
        .map_err(classify)?;
    let p = out.login_profile();
    Ok(json!({
        "UserName": user,
        "CreateDate": time(p.map(|p| p.create_date())),
        "PasswordResetRequired": p.map(|p| p.password_reset_required()),
    }))
}

/// The credential as IAM lists it (an SSH key's public body and a certificate's body are
/// public; a service-specific credential's password is never returned by a list).
async fn user_credential(
    iam: &aws_sdk_iam::Client,
    user: &str,
    credential: &UserCredential,
) -> Result<Value, AwsError> {
    let found = match credential {
        UserCredential::SshKey { id } => iam
            .get_ssh_public_key()
            .user_name(user)
            .ssh_public_key_id(id)
            .encoding(aws_sdk_iam::types::EncodingType::Ssh)
            .send()
            .await
            .map_err(classify)?
            .ssh_public_key()
            .map(|k| {
                json!({
                    "SSHPublicKeyId": k.ssh_public_key_id(),
                    "Fingerprint": k.fingerprint(),
                    "SSHPublicKeyBody": k.ssh_public_key_body(),
                    "Status": k.status().as_str(),
                    "UploadDate": time(k.upload_date()),
                })
            }),
        UserCredential::SigningCertificate { id } => iam
            .list_signing_certificates()
            .user_name(user)
            .send()
            .await
            .map_err(classify)?
            .certificates()
            .iter()
            .find(|c| c.certificate_id() == id)
            .map(|c| {
                json!({
                    "CertificateId": c.certificate_id(),
                    "CertificateBody": c.certificate_body(),
                    "Status": c.status().as_str(),
                    "UploadDate": time(c.upload_date()),
                })
            }),
        UserCredential::ServiceSpecific { id } => iam
            .list_service_specific_credentials()
            .user_name(user)
            .send()
            .await
            .map_err(classify)?
            .service_specific_credentials()
            .iter()
            .find(|c| c.service_specific_credential_id() == id)
            .map(|c| {
                json!({
                    "ServiceSpecificCredentialId": id,
                    "ServiceName": c.service_name(),
                    "ServiceUserName": c.service_user_name(),
                    "Status": c.status().as_str(),
                    "CreateDate": time(Some(c.create_date())),
                })
            }),
        UserCredential::MfaDevice { serial } => iam
            .list_mfa_devices()
            .user_name(user)
            .send()
            .await
            .map_err(classify)?
            .mfa_devices()
            .iter()
            .find(|m| m.serial_number() == serial)
            .map(|m| {
                json!({
                    "SerialNumber": serial,
                    "EnableDate": time(Some(m.enable_date())),
                })
            }),
    };
    Ok(match found {
        Some(mut v) => {
            v["UserName"] = json!(user);
            v
        }
        None => json!({ "found": false }),
    })
}

/// Each inline policy's document, by name, as `get` reads it.
async fn inline_documents<'a, F, Fut>(names: &'a [String], get: F) -> Result<Value, AwsError>
where
    F: Fn(&'a str) -> Fut,
    Fut: std::future::Future<Output = Result<String, AwsError>>,
{
    let mut documents = Map::new();
    for name in names {
        documents.insert(name.clone(), document(&get(name).await?));
    }
    Ok(Value::Object(documents))
}

async fn user_described(iam: &aws_sdk_iam::Client, user: &str) -> Result<Value, AwsError> {
    let got = iam
        .get_user()
        .user_name(user)
        .send()
        .await
        .map_err(classify)?;
    let u = got.user();
    let held = user_snapshot(iam, user).await?;
    let inline = inline_documents(&held.inline_policies, |name| async move {
        let out = iam.get_user_policy().user_name(user).policy_name(name);
        let out = out.send().await.map_err(classify)?;
        Ok(out.policy_document().to_string())
    })
    .await?;
    let tagged = iam
        .list_user_tags()
        .user_name(user)
        .send()
        .await
        .map_err(classify)?;
    Ok(json!({
        "UserName": user,
        "Arn": u.map(|u| u.arn()),
        "UserId": u.map(|u| u.user_id()),
        "Path": u.map(|u| u.path()),
        "CreateDate": time(u.map(|u| u.create_date())),
        "PasswordLastUsed": time(u.and_then(|u| u.password_last_used())),
        "PermissionsBoundary": u
            .and_then(|u| u.permissions_boundary())
            .and_then(|b| b.permissions_boundary_arn()),
        "Tags": tags(tagged.tags().iter().map(|t| (t.key(), t.value()))),
        "Holdings": held,
        "InlinePolicies": inline,
    }))
}

async fn role_described(iam: &aws_sdk_iam::Client, role: &str) -> Result<Value, AwsError> {
    let got = iam
        .get_role()
        .role_name(role)
        .send()
        .await
        .map_err(classify)?;
    let r = got.role();
    let held = super::actions::role_holdings(iam, role).await?;
    let inline = inline_documents(&held.inline_policies, |name| async move {
        let out = iam.get_role_policy().role_name(role).policy_name(name);
        let out = out.send().await.map_err(classify)?;
        Ok(out.policy_document().to_string())
    })
    .await?;
    let tagged = iam
        .list_role_tags()
        .role_name(role)
        .send()
        .await
        .map_err(classify)?;
    Ok(json!({
        "RoleName": role,
        "Arn": r.map(|r| r.arn()),
        "RoleId": r.map(|r| r.role_id()),
        "Path": r.map(|r| r.path()),
        "CreateDate": time(r.map(|r| r.create_date())),
        "Description": r.and_then(|r| r.description()),
        "MaxSessionDuration": r.and_then(|r| r.max_session_duration()),
        "AssumeRolePolicyDocument": r
            .and_then(|r| r.assume_role_policy_document())
            .map(document),
        "PermissionsBoundary": r
            .and_then(|r| r.permissions_boundary())
            .and_then(|b| b.permissions_boundary_arn()),
        "Tags": tags(tagged.tags().iter().map(|t| (t.key(), t.value()))),
        "Holdings": held,
        "InlinePolicies": inline,
    }))
}

async fn policy_described(iam: &aws_sdk_iam::Client, arn: &str) -> Result<Value, AwsError> {
    let got = iam
        .get_policy()
        .policy_arn(arn)
        .send()
        .await
        .map_err(classify)?;
    let p = got.policy();
    let listed = iam
        .list_policy_versions()
        .policy_arn(arn)
        .send()
        .await
        .map_err(classify)?;
    let mut versions = vec![];
    for v in listed.versions() {
        let Some(id) = v.version_id() else { continue };
        let out = iam
            .get_policy_version()
            .policy_arn(arn)
            .version_id(id)
            .send()
            .await
            .map_err(classify)?;
        versions.push(json!({
            "VersionId": id,
            "IsDefaultVersion": v.is_default_version(),
            "CreateDate": time(v.create_date()),
            "Document": out.policy_version().and_then(|v| v.document()).map(document),
        }));
    }
    let held = super::actions::policy_holdings(iam, arn).await?;
    Ok(json!({
        "Arn": arn,
        "PolicyName": p.and_then(|p| p.policy_name()),
        "Description": p.and_then(|p| p.description()),
        "CreateDate": time(p.and_then(|p| p.create_date())),
        "UpdateDate": time(p.and_then(|p| p.update_date())),
        "Tags": tags(p.map(|p| p.tags()).unwrap_or_default().iter().map(|t| (t.key(), t.value()))),
        "Versions": versions,
        "AttachedTo": held,
    }))
}

/// A crash-consistent snapshot of every EBS volume of each instance, tagged for the
/// responders. EBS takes a snapshot at the moment it is asked for ("the snapshot is created
/// immediately, but it remains in the pending state until all of data has been transferred",
/// AWS's "Create Amazon EBS snapshots"), so termination need not wait for it.
async fn snapshot_volumes(ec2: &aws_sdk_ec2::Client, ids: &[String]) -> Result<Value, AwsError> {
    use aws_sdk_ec2::types::{
        CopyTagsFromSource, InstanceSpecification, ResourceType, Tag, TagSpecification,
    };
    let mut taken = vec![];
    for id in ids {
        let out = ec2
            .create_snapshots()
            .instance_specification(InstanceSpecification::builder().instance_id(id).build())
            .description(format!("keyleak: evidence of {id} before termination"))
            .copy_tags_from_source(CopyTagsFromSource::Volume)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Snapshot)
                    .tags(Tag::builder().key("keyleak:evidence-of").value(id).build())
                    .build(),
            )
            .send()
            .await
            .map_err(classify)?;
        taken.push(json!({
            "InstanceId": id,
            "Snapshots": out.snapshots().iter().map(|s| json!({
                "SnapshotId": s.snapshot_id(),
                "VolumeId": s.volume_id(),
                "State": s.state().map(|s| s.as_str()),
                "StartTime": time(s.start_time()),
            })).collect::<Vec<_>>(),
        }));
    }
    Ok(Value::Array(taken))
}

async fn instances(ec2: &aws_sdk_ec2::Client, ids: &[String]) -> Result<Value, AwsError> {
    let out = ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("instance-id")
                .set_values(Some(ids.to_vec()))
                .build(),
        )
        .send()
        .await
        .map_err(classify)?;
    let mut described = vec![];
    for i in out.reservations().iter().flat_map(|r| r.instances()) {
        let Some(id) = i.instance_id() else { continue };
        let user_data = ec2
            .describe_instance_attribute()
            .instance_id(id)
            .attribute(InstanceAttributeName::UserData)
            .send()
            .await
            .map_err(classify)?;
        described.push(json!({
            "InstanceId": id,
            "InstanceType": i.instance_type().map(|t| t.as_str()),
            "State": i.state().and_then(|s| s.name()).map(|n| n.as_str()),
            "LaunchTime": time(i.launch_time()),
            "ImageId": i.image_id(),
            "KeyName": i.key_name(),
            "IamInstanceProfile": i.iam_instance_profile().and_then(|p| p.arn()),
            "SubnetId": i.subnet_id(),
            "VpcId": i.vpc_id(),
            "PrivateIpAddress": i.private_ip_address(),
            "PublicIpAddress": i.public_ip_address(),
            "SecurityGroups": i.security_groups().iter().map(|g| g.group_id()).collect::<Vec<_>>(),
            "BlockDeviceMappings": i.block_device_mappings().iter().map(|b| json!({
                "DeviceName": b.device_name(),
                "VolumeId": b.ebs().and_then(|e| e.volume_id()),
            })).collect::<Vec<_>>(),
            "Tags": tags(i.tags().iter().filter_map(|t| Some((t.key()?, t.value()?)))),
            // Base64, as EC2 gives it: what the instance ran at boot.
            "UserData": user_data.user_data().and_then(|u| u.value()),
        }));
    }
    Ok(json!({ "Instances": described }))
}

async fn function(lambda: &aws_sdk_lambda::Client, name: &str) -> Result<Value, AwsError> {
    let got = lambda
        .get_function()
        .function_name(name)
        .send()
        .await
        .map_err(classify)?;
    let f = got.configuration();
    let policy = match lambda.get_policy().function_name(name).send().await {
        Ok(p) => p.policy().map(document),
        Err(e) => match classify(e) {
            AwsError::NoSuchEntity(_) => None,
            other => return Err(other),
        },
    };
    Ok(json!({
        "FunctionName": name,
        "FunctionArn": f.and_then(|f| f.function_arn()),
        "Runtime": f.and_then(|f| f.runtime()).map(|r| r.as_str()),
        "Role": f.and_then(|f| f.role()),
        "Handler": f.and_then(|f| f.handler()),
        "CodeSha256": f.and_then(|f| f.code_sha256()),
        "CodeSize": f.map(|f| f.code_size()),
        "LastModified": f.and_then(|f| f.last_modified()),
        "Timeout": f.and_then(|f| f.timeout()),
        "MemorySize": f.and_then(|f| f.memory_size()),
        // Names only: the values are the function's own secrets, not evidence keyleak needs.
        "EnvironmentVariableNames": f
            .and_then(|f| f.environment())
            .and_then(|e| e.variables())
            .map(|v| {
                let mut names: Vec<&String> = v.keys().collect();
                names.sort();
                names
            }),
        "Layers": f.map(|f| f.layers().iter().map(|l| l.arn()).collect::<Vec<_>>()),
        "ResourcePolicy": policy,
        "Tags": got.tags().map(|t| tags(t.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
    }))
}

/// Writes the evidence to the bucket with its SHA-256 checked by S3 (which object lock
/// requires), and reads back the version and the retention the bucket's default lock gave it.
pub(super) async fn put_copy(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
) -> Result<EvidenceCopy, AwsError> {
    let put = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
        .body(body.into())
        .send()
        .await
        .map_err(classify)?;
    let head = s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(put.version_id().map(str::to_string))
        .send()
        .await
        .map_err(classify)?;
    Ok(EvidenceCopy {
        bucket: bucket.to_string(),
        key: key.to_string(),
        version_id: put.version_id().map(str::to_string),
        lock_mode: head.object_lock_mode().map(|m| m.as_str().to_string()),
        locked_until: head.object_lock_retain_until_date().and_then(to_chrono),
    })
}
