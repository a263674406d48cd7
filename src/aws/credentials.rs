//! The user's credentials besides its access keys, listed with the snapshot. None of them is
//! needed to contain the key: a kind IAM will not list (an older policy without the action,
//! an emulator without the call) is recorded as unlisted, never a failed snapshot.

use aws_sdk_iam::types::StatusType;

use super::sdk::{classify, to_chrono};
use crate::domain::credentials::{
    Credential, OtherCredentials, OtherKind, ServiceCredential, Unlisted,
};

pub(super) async fn other_credentials(iam: &aws_sdk_iam::Client, user: &str) -> OtherCredentials {
    // One try each: the snapshot waits for these lists, and a peer that keeps failing them
    // (a 5xx retried with backoff) must not hold the key's cut-off back.
    let once = iam
        .config()
        .to_builder()
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        .build();
    let iam = &aws_sdk_iam::Client::from_conf(once);
    let (ssh, certificates, service) = tokio::join!(
        iam.list_ssh_public_keys()
            .user_name(user)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>(),
        iam.list_signing_certificates()
            .user_name(user)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>(),
        service_credentials(iam, user),
    );
    let mut out = OtherCredentials::default();
    let mut unlisted = |kind: OtherKind, why: String| out.unlisted.push(Unlisted { kind, why });
    let ssh_keys = match ssh {
        Ok(keys) => keys
            .iter()
            .map(|k| Credential {
                id: k.ssh_public_key_id().to_string(),
                active: k.status() == &StatusType::Active,
                uploaded: to_chrono(k.upload_date()),
            })
            .collect(),
        Err(e) => {
            unlisted(OtherKind::SshKeys, classify(e).to_string());
            vec![]
        }
    };
    let certificates = match certificates {
        // The certificate's body is public, but nobody needs it in a record: only its id.
        Ok(certs) => certs
            .iter()
            .map(|c| Credential {
                id: c.certificate_id().to_string(),
                active: c.status() == &StatusType::Active,
                uploaded: c.upload_date().and_then(to_chrono),
            })
            .collect(),
        Err(e) => {
            unlisted(OtherKind::Certificates, classify(e).to_string());
            vec![]
        }
    };
    let service = service.unwrap_or_else(|why| {
        unlisted(OtherKind::Service, why);
        vec![]
    });
    out.ssh_keys = ssh_keys;
    out.certificates = certificates;
    out.service = service;
    out
}

/// `ListServiceSpecificCredentials` has a marker but no paginator in the SDK: followed here.
async fn service_credentials(
    iam: &aws_sdk_iam::Client,
    user: &str,
) -> Result<Vec<ServiceCredential>, String> {
    let mut all = vec![];
    let mut marker: Option<String> = None;
    loop {
        let page = iam
            .list_service_specific_credentials()
            .user_name(user)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| classify(e).to_string())?;
        all.extend(page.service_specific_credentials().iter().map(|c| {
            ServiceCredential {
                id: c.service_specific_credential_id().to_string(),
                service: c.service_name().to_string(),
                name: c
                    .service_credential_alias()
                    .filter(|a| !a.is_empty())
                    .unwrap_or(c.service_user_name())
                    .to_string(),
                active: c.status() == &StatusType::Active,
                created: to_chrono(c.create_date()),
                expires: c.expiration_date().and_then(to_chrono),
            }
        }));
        match page.marker() {
            Some(m) if page.is_truncated() => marker = Some(m.to_string()),
            _ => return Ok(all),
        }
    }
}
