use super::*;

#[test]
fn nothing_named_means_the_leaked_key() {
    assert_eq!(parse_target(&[]), Ok(Target::LeakedKey));
}

#[test]
fn each_kind_parses() {
    assert_eq!(
        parse_target(&["delete-user", "backdoor-admin"]),
        Ok(Target::User {
            user: "backdoor-admin".into()
        })
    );
    assert_eq!(
        parse_target(&["DELETE-KEY", "AKIAIOSFODNN7EXAMPLE"]),
        Ok(Target::AccessKey {
            key: "AKIAIOSFODNN7EXAMPLE".into()
        })
    );
    assert_eq!(
        parse_target(&[
            "terminate",
            "us-east-1",
            "i-0123456789abcdef0",
            "--snapshot",
            "i-01234567"
        ]),
        Ok(Target::Instances {
            region: "us-east-1".into(),
            ids: vec!["i-0123456789abcdef0".into(), "i-01234567".into()],
            snapshot: true,
        })
    );
    assert_eq!(
        parse_target(&["delete-policy", "arn:aws:iam::111111111111:policy/x/y"]),
        Ok(Target::Policy {
            arn: "arn:aws:iam::111111111111:policy/x/y".into()
        })
    );
    assert_eq!(
        parse_target(&["delete-ssh-key", "backdoor", "APKAEIBAERJR2EXAMPLE"]),
        Ok(Target::Credential {
            user: "backdoor".into(),
            credential: UserCredential::SshKey {
                id: "APKAEIBAERJR2EXAMPLE".into()
            }
        })
    );
    assert_eq!(
        parse_target(&[
            "remove-mfa",
            "backdoor",
            "arn:aws:iam::111122223333:mfa/backdoor"
        ]),
        Ok(Target::Credential {
            user: "backdoor".into(),
            credential: UserCredential::MfaDevice {
                serial: "arn:aws:iam::111122223333:mfa/backdoor".into()
            }
        })
    );
    assert_eq!(
        parse_target(&["delete-function", "eu-west-1", "miner_1"]),
        Ok(Target::Function {
            region: "eu-west-1".into(),
            name: "miner_1".into()
        })
    );
}

#[test]
fn bad_targets_say_what_is_wrong() {
    use TargetError::*;
    assert!(matches!(parse_target(&["nuke"]), Err(UnknownKind(_))));
    assert!(matches!(
        parse_target(&["delete-user"]),
        Err(Missing { .. })
    ));
    assert!(matches!(
        parse_target(&["delete-user", "a", "b"]),
        Err(TooMany { .. })
    ));
    assert!(matches!(
        parse_target(&["delete-user", "<@U1>"]),
        Err(BadName(_))
    ));
    assert!(matches!(
        parse_target(&["delete-key", "ASIAIOSFODNN7EXAMPLE"]),
        Err(TemporaryKey(_))
    ));
    assert!(matches!(
        parse_target(&[
            "delete-policy",
            "arn:aws:iam::aws:policy/AdministratorAccess"
        ]),
        Err(BadPolicyArn(_))
    ));
    assert!(matches!(
        parse_target(&["terminate", "mars-1", "i-01234567"]),
        Err(BadRegion(_))
    ));
    assert!(matches!(
        parse_target(&["terminate", "us-east-1", "i-xyz"]),
        Err(BadInstance(_))
    ));
    let many: Vec<String> = (0..51).map(|n| format!("i-{n:08x}")).collect();
    let mut args = vec!["terminate", "us-east-1"];
    args.extend(many.iter().map(String::as_str));
    assert_eq!(parse_target(&args), Err(TooManyInstances));
    assert!(matches!(
        parse_target(&["delete-function", "us-east-1", "a:b"]),
        Err(BadFunction(_))
    ));
    assert!(matches!(
        parse_target(&["delete-ssh-key", "backdoor"]),
        Err(Missing { .. })
    ));
    assert!(matches!(
        parse_target(&["unshare-snapshot", "us-east-1", "ami-0abcdef1234567890"]),
        Err(BadShared(_))
    ));
    assert_eq!(
        parse_target(&[
            "remove-permission",
            "us-east-1",
            "billing-export",
            "x-account"
        ]),
        Ok(Target::FunctionPermission {
            region: "us-east-1".into(),
            function: "billing-export".into(),
            statement: "x-account".into()
        })
    );
    assert!(matches!(
        parse_target(&["remove-permission", "us-east-1", "billing-export", "a b"]),
        Err(BadStatement(_))
    ));
    assert_eq!(
        parse_target(&[
            "revoke-rule",
            "us-east-1",
            "sg-0123456789abcdef0",
            "sgr-0a1b2c3d4e5f6a7b8"
        ]),
        Ok(Target::IngressRule {
            region: "us-east-1".into(),
            group: "sg-0123456789abcdef0".into(),
            rule: "sgr-0a1b2c3d4e5f6a7b8".into()
        })
    );
    assert!(matches!(
        parse_target(&[
            "revoke-rule",
            "us-east-1",
            "sgr-0a1b2c3d4e5f6a7b8",
            "sg-01234567"
        ]),
        Err(BadRule(_))
    ));
    assert_eq!(
        parse_target(&["unshare-image", "eu-west-1", "ami-0abcdef1234567890"]),
        Ok(Target::Unshare {
            region: "eu-west-1".into(),
            shared: Shared::Image {
                id: "ami-0abcdef1234567890".into()
            }
        })
    );
    assert!(matches!(
        parse_target(&["delete-signing-certificate", "backdoor", "<script>"]),
        Err(BadCredentialId(_))
    ));
    assert!(matches!(
        parse_target(&["delete-service-credential", "backdoor", "ACCA1", "x"]),
        Err(TooMany { .. })
    ));
}

#[test]
fn policies_and_rds_snapshots_parse() {
    assert_eq!(
        parse_target(&[
            "remove-trust",
            "deploy-role",
            "444455556666",
            "arn:aws:iam::444455556666:root",
            "444455556666"
        ]),
        Ok(Target::Grant {
            on: Grantor::RoleTrust {
                role: "deploy-role".into()
            },
            principals: vec![
                "444455556666".into(),
                "arn:aws:iam::444455556666:root".into()
            ]
        })
    );
    assert_eq!(
        parse_target(&["remove-bucket-grant", "acme-exports", "*"]),
        Ok(Target::Grant {
            on: Grantor::BucketPolicy {
                bucket: "acme-exports".into()
            },
            principals: vec!["*".into()]
        })
    );
    assert_eq!(
        parse_target(&["block-public-access", "logs.acme.example"]),
        Ok(Target::BlockPublicAccess {
            bucket: "logs.acme.example".into()
        })
    );
    assert_eq!(
        parse_target(&["unshare-db-cluster-snapshot", "us-east-1", "aurora-1"]),
        Ok(Target::Unshare {
            region: "us-east-1".into(),
            shared: Shared::DbClusterSnapshot {
                id: "aurora-1".into()
            }
        })
    );
    for (args, bad) in [
        (&["remove-trust", "deploy-role"][..], "missing principals"),
        (&["remove-trust", "deploy-role", "4444"], "short account"),
        (
            &["remove-trust", "deploy-role", "arn:aws:iam::x:root"],
            "no account",
        ),
        (&["remove-bucket-grant", "Acme", "*"], "upper case"),
        (&["remove-bucket-grant", "-acme", "*"], "leading hyphen"),
        (&["block-public-access"], "no bucket"),
        (
            &["unshare-db-snapshot", "us-east-1", "prod--db"],
            "double hyphen",
        ),
        (
            &["unshare-db-snapshot", "us-east-1", "1prod"],
            "leading digit",
        ),
    ] {
        assert!(parse_target(args).is_err(), "{bad}: {args:?}");
    }
    let many: Vec<String> = (0..=MAX_PRINCIPALS)
        .map(|n| format!("44445555{n:04}"))
        .collect();
    let mut args = vec!["remove-trust", "r"];
    args.extend(many.iter().map(String::as_str));
    assert_eq!(parse_target(&args), Err(TargetError::TooManyPrincipals));
}
