//! The technique catalogue against the families' published-shape records.

use super::super::fixtures::{self, log};
use super::super::{Category, classify};
use super::*;

/// Each family's records, in file order, show these techniques (one each).
#[test]
fn every_technique_family_is_named_from_its_records() {
    let families: [(&str, Vec<Technique>); 6] = [
        (
            fixtures::PERSISTENCE,
            vec![
                NewUser,
                AdminPolicyAttached,
                AccessKeyForAnotherUser,
                ConsolePassword,
                ConsolePassword,
                RoleTrustOpenedOutside,
                RoleTrustingOutside,
                FunctionSharedOutside,
                FunctionChanged,
                FunctionChanged,
                FunctionChanged,
                RolesAnywhere,
                RolesAnywhere,
                IdentityProvider,
                IdentityProvider,
                FederationToken,
                ConsoleSigninToken,
                ConsoleLogin,
                KeyReactivated,
            ],
        ),
        (
            fixtures::EXFILTRATION,
            vec![
                SnapshotShared,
                SnapshotShared,
                ImageShared,
                DbSnapshotShared,
                BucketOpened,
                BucketOpened,
                BucketOpened,
                FirewallOpened,
            ],
        ),
        (
            fixtures::CREDENTIAL_ACCESS,
            vec![
                SecretRead,
                SecretRead,
                ParameterDecrypted,
                ParameterDecrypted,
                WindowsPasswordRead,
                UserDataRead,
            ],
        ),
        (
            fixtures::DEFENSE_EVASION,
            vec![
                TrailStopped,
                TrailDeleted,
                TrailChanged,
                LogBucketLifecycle,
                GuardDutyDisabled,
                GuardDutyDisabled,
                FlowLogsDeleted,
                DnsLogsDeleted,
                ConfigStopped,
                LeftOrganization,
            ],
        ),
        (
            fixtures::IMPACT,
            vec![
                ModelAccessEnabled,
                ModelAccessEnabled,
                ModelInvoked,
                EmailAbuse,
                EmailAbuse,
                MassDeletion,
                ReEncryption,
                ComputeLaunched,
            ],
        ),
        (
            fixtures::EXECUTION,
            vec![
                RunCommand,
                ShellSession,
                UserDataChanged,
                InstanceStarted,
                SshKeyPushed,
                SshKeyPushed,
                SerialConsoleEnabled,
            ],
        ),
    ];
    for (text, want) in families {
        let events = log(text);
        let got: Vec<Vec<Technique>> = events.iter().map(techniques).collect();
        let want: Vec<Vec<Technique>> = want.into_iter().map(|t| vec![t]).collect();
        assert_eq!(got, want);
        for e in &events {
            let categories = classify(e);
            for t in techniques(e) {
                assert!(
                    t.tactics().iter().all(|c| categories.contains(c)),
                    "{}: {categories:?}",
                    e.name
                );
            }
        }
    }
}

/// A refused call changed nothing: no technique, denied probing only, as IAM and EC2
/// each write the refusal.
#[test]
fn refused_calls_are_probing_only() {
    for e in log(fixtures::ERRORS) {
        assert!(techniques(&e).is_empty(), "{}", e.name);
        assert_eq!(classify(&e), [Category::DeniedProbing]);
    }
}

/// `InvokeModel` is a read-only event, yet it is the attack (LLM-jacking).
#[test]
fn invoking_a_model_is_impact_not_discovery() {
    let e = log(fixtures::IMPACT)
        .into_iter()
        .find(|e| e.name == "InvokeModel")
        .unwrap();
    assert_eq!(e.read_only, Some(true));
    assert_eq!(classify(&e), [Category::Impact]);
}

/// The request decides: a trust policy naming the own account, a Lambda permission for an
/// AWS service, a security group opened to one address, a key made for oneself.
#[test]
fn changes_inside_the_account_are_not_called_outside() {
    let mut persistence = log(fixtures::PERSISTENCE);
    let trust = persistence
        .iter_mut()
        .find(|e| e.name == "UpdateAssumeRolePolicy")
        .unwrap();
    trust.request["policyDocument"] = serde_json::Value::String(
        r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}"#.into(),
    );
    assert_eq!(techniques(trust), [RoleTrustChanged]);
    let permission = persistence
        .iter_mut()
        .find(|e| e.name == "AddPermission20150331v2")
        .unwrap();
    permission.request["principal"] = "s3.amazonaws.com".into();
    assert!(techniques(permission).is_empty());
    let key = persistence
        .iter_mut()
        .find(|e| e.name == "CreateAccessKey")
        .unwrap();
    key.request["userName"] = "ci-deploy".into();
    assert!(techniques(key).is_empty());
    let mut exfil = log(fixtures::EXFILTRATION);
    let sg = exfil
        .iter_mut()
        .find(|e| e.name == "AuthorizeSecurityGroupIngress")
        .unwrap();
    sg.request["ipPermissions"]["items"][0]["ipRanges"]["items"][0]["cidrIp"] =
        "203.0.113.7/32".into();
    assert!(techniques(sg).is_empty());
}

#[test]
fn accelerated_families_are_told_apart() {
    for t in [
        "p4d.24xlarge",
        "g5.48xlarge",
        "inf2.xlarge",
        "trn1.32xlarge",
    ] {
        assert!(accelerated(t), "{t}");
    }
    for t in ["t3.micro", "m5.large", "c7g.xlarge", "r6i.2xlarge"] {
        assert!(!accelerated(t), "{t}");
    }
}
