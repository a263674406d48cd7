//! The ASIA playbook's messages, pinned by a snapshot.

use super::tests::{assert_within_limits, incident, render, t};
use super::*;
use crate::domain::ids::AccountId;
use crate::domain::incident::{Issuer, KeyOrigin, MintingEvent, StepRecord};

fn temporary(state: IncidentState) -> Incident {
    Incident {
        key: AccessKeyId::parse("ASIAI44QH8DHBEXAMPLE").unwrap(),
        user_name: None,
        ..incident(state)
    }
}

fn record(kind: StepKind, fact: StepFact) -> StepRecord {
    StepRecord {
        kind,
        status: StepStatus::Done,
        fact,
        request_id: Some("7a62c49f-347e-4fc4-9331-6e8eEXAMPLE".into()),
        finished_at: t(0, 3),
        reply_ts: None,
    }
}

fn role() -> Issuer {
    Issuer::Role {
        arn: "arn:aws:iam::444455556666:role/ops-admin".into(),
        account: "444455556666".into(),
    }
}

fn user() -> Issuer {
    Issuer::User {
        name: "ci-deploy".into(),
        account: "111111111111".into(),
    }
}

#[test]
fn every_step_of_the_temporary_playbook() {
    let i = temporary(IncidentState::Contained);
    let minted = MintingEvent {
        name: "AssumeRole".into(),
        event_id: "dEXAMPLE-ac7f-466c-a608-4ac8dEXAMPLE".into(),
        at: t(0, 1),
        region: "us-east-1".into(),
        parent_key: Some("ASIAJ7VT3PZVEXAMPLE0".into()),
        caller_account: Some("111111111111".into()),
        source_ip: Some("192.0.2.101".into()),
    };
    let facts = [
        (
            StepKind::FindOrigin,
            StepFact::Origin(KeyOrigin {
                issuer: role(),
                event: Some(minted),
            }),
        ),
        (
            StepKind::FindOrigin,
            StepFact::Origin(KeyOrigin {
                issuer: user(),
                event: None,
            }),
        ),
        (
            StepKind::FenceSessions,
            StepFact::SessionsFenced {
                issuer: role(),
                policy_name: "keyleak-session-fence-KL-00C0FFEE".into(),
                managed_policy_arn: None,
            },
        ),
        (
            StepKind::FenceSessions,
            StepFact::SessionsFenced {
                issuer: user(),
                policy_name: "keyleak-session-fence-KL-00C0FFEE".into(),
                managed_policy_arn: Some(
                    "arn:aws:iam::111111111111:policy/keyleak-session-fence-KL-00C0FFEE".into(),
                ),
            },
        ),
        (
            StepKind::ContainParent,
            StepFact::ParentQueued {
                key: "ASIAJ7VT3PZVEXAMPLE0".into(),
                incident: "KL-0BADF00D".into(),
            },
        ),
        (
            StepKind::ContainParent,
            StepFact::ParentQueued {
                key: "AKIAIOSFODNN7EXAMPLE".into(),
                incident: "KL-0DEFACED".into(),
            },
        ),
        (StepKind::ContainParent, StepFact::NoParent),
        (
            StepKind::FenceSessions,
            StepFact::Escalated(Escalation::ServiceLinkedRole),
        ),
        (
            StepKind::FenceSessions,
            StepFact::Escalated(Escalation::IdentityCenterRole),
        ),
        (
            StepKind::FindOrigin,
            StepFact::Escalated(Escalation::TemporaryKey),
        ),
    ];
    let mut out = vec![];
    for (kind, fact) in facts {
        let r = step_reply(&i, &record(kind, fact));
        assert_within_limits(&r);
        out.push(render(&r));
    }
    let steps: Vec<StepRecord> = StepKind::TEMPORARY
        .iter()
        .map(|k| record(*k, StepFact::NoParent))
        .collect();
    let card = incident_card(&i, &steps);
    assert_within_limits(&card);
    out.push(render(&card));
    out.push(render(&contain_outcome(&i, &steps)));
    out.push(plan_temporary(
        &i.key,
        &AccountId::parse("444455556666").unwrap(),
    ));
    insta::assert_snapshot!("temporary_playbook", out.join("\n\n----\n\n"));
}
