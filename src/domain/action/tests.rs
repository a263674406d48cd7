use super::*;

/// One action of every kind, each holding something of every sort.
fn every_action() -> Vec<Action> {
    let a = || "111122223333".to_string();
    let s = |x: &str| x.to_string();
    let user_holds = UserHoldings {
        managed_policies: vec![s("p")],
        inline_policies: vec![s("i")],
        groups: vec![s("g")],
        access_keys: vec![s("k")],
        login_profile: true,
        mfa_devices: vec![s("m")],
        ssh_keys: vec![s("s")],
        certificates: vec![s("c")],
        service_credentials: vec![s("sc")],
    };
    let role_holds = RoleHoldings {
        managed_policies: vec![s("p")],
        inline_policies: vec![s("i")],
        instance_profiles: vec![s("ip")],
    };
    let policy_holds = PolicyHoldings {
        users: vec![s("u")],
        roles: vec![s("r")],
        groups: vec![s("g")],
        other_versions: vec![s("v1")],
    };
    let shared = [
        Shared::Snapshot { id: s("snap") },
        Shared::Image { id: s("ami") },
        Shared::DbSnapshot { id: s("db") },
        Shared::DbClusterSnapshot { id: s("cl") },
    ];
    let credentials = [
        UserCredential::SshKey { id: s("s") },
        UserCredential::SigningCertificate { id: s("c") },
        UserCredential::ServiceSpecific { id: s("sc") },
        UserCredential::MfaDevice { serial: s("m") },
    ];
    let grants = [
        (Grantor::RoleTrust { role: s("r") }, Some(s("{}"))),
        (Grantor::BucketPolicy { bucket: s("b") }, Some(s("{}"))),
        (Grantor::BucketPolicy { bucket: s("b") }, None),
    ];
    let mut all = vec![
        Action::DeleteAccessKey {
            account: a(),
            user: s("u"),
            key: s("k"),
        },
        Action::DeleteLoginProfile {
            account: a(),
            user: s("u"),
        },
        Action::DeleteUser {
            account: a(),
            user: s("u"),
            holds: user_holds,
        },
        Action::DeleteRole {
            account: a(),
            role: s("r"),
            holds: role_holds,
        },
        Action::DeletePolicy {
            account: a(),
            arn: s("arn"),
            holds: policy_holds,
        },
        Action::TerminateInstances {
            account: a(),
            region: s("us-east-1"),
            instance_ids: vec![s("i")],
            snapshot: true,
        },
        Action::DeleteFunction {
            account: a(),
            region: s("us-east-1"),
            name: s("f"),
        },
        Action::RevokeIngress {
            account: a(),
            region: s("us-east-1"),
            group: s("sg"),
            rule: s("sgr"),
        },
        Action::RemoveFunctionPermission {
            account: a(),
            region: s("us-east-1"),
            function: s("f"),
            statement: s("x"),
        },
        Action::BlockPublicAccess {
            account: a(),
            bucket: s("b"),
        },
        Action::ReactivateKey {
            account: a(),
            user: s("u"),
            key: s("k"),
        },
        Action::RemoveDenyAll {
            account: a(),
            user: s("u"),
            policy_name: s("d"),
        },
    ];
    all.extend(shared.into_iter().map(|shared| Action::Unshare {
        account: a(),
        region: s("us-east-1"),
        shared,
        with: vec![s("all")],
    }));
    all.extend(
        credentials
            .into_iter()
            .map(|credential| Action::DeleteUserCredential {
                account: a(),
                user: s("u"),
                credential,
            }),
    );
    all.extend(grants.into_iter().map(|(on, after)| Action::RemoveGrant {
        account: a(),
        on,
        principals: vec![s("*")],
        before: s("{}"),
        after,
    }));
    all
}

/// Every AWS operation an action may make is one the bot's published policy allows: a
/// cleanup that AWS refuses half-way is the worst way to learn a permission is missing.
#[test]
fn the_published_policy_allows_every_call_of_every_action() {
    let policy: serde_json::Value =
        serde_json::from_str(include_str!("../../../manifests/iam-policy.json")).unwrap();
    let allowed: Vec<&str> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(|s| match &s["Action"] {
            serde_json::Value::String(a) => vec![a.as_str()],
            serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str()).collect(),
            _ => vec![],
        })
        .collect();
    for action in every_action() {
        let calls = action.calls();
        assert!(!calls.is_empty(), "{action:?}");
        for call in calls {
            assert!(
                allowed.contains(&call),
                "{call} ({action:?}) is not allowed"
            );
        }
    }
}

#[test]
fn holdings_beyond_the_approved_ones_are_named() {
    let approved = UserHoldings {
        access_keys: vec!["AKIAOLD".into()],
        ..UserHoldings::default()
    };
    let now = UserHoldings {
        access_keys: vec!["AKIAOLD".into(), "AKIANEW".into()],
        login_profile: true,
        ..UserHoldings::default()
    };
    assert_eq!(
        now.beyond(&approved),
        vec![
            "access key AKIANEW".to_string(),
            "a console password".into()
        ]
    );
    assert!(approved.beyond(&now).is_empty(), "less is fine: it is gone");
}

#[test]
fn a_proposal_from_before_the_other_credentials_keeps_its_hash() {
    // A DeleteUser action as stored before SSH keys, certificates and service-specific
    // credentials were held: read and written back, it hashes as it was approved.
    let stored = r#"{"action":"delete_user","account":"111111111111","user":"backdoor","holds":{"managed_policies":[],"inline_policies":[],"groups":[],"access_keys":["AKIAOLD"],"login_profile":false,"mfa_devices":[]}}"#;
    let action: Action = serde_json::from_str(stored).unwrap();
    assert_eq!(serde_json::to_string(&action).unwrap(), stored);
}

#[test]
fn the_hash_binds_every_parameter() {
    let base = Action::delete_access_key(
        &AccountId::parse("111111111111").unwrap(),
        "ci-deploy",
        &AccessKeyId::parse("AKIAIOSFODNN7EXAMPLE").unwrap(),
    );
    assert_eq!(base.params_hash(), base.clone().params_hash());
    let Action::DeleteAccessKey { account, user, .. } = base.clone() else {
        unreachable!()
    };
    let other_key = Action::DeleteAccessKey {
        account,
        user,
        key: "AKIAOTHERKEY00000000".into(),
    };
    assert_ne!(base.params_hash(), other_key.params_hash());
    assert_eq!(base.params_hash().len(), 64);
}
