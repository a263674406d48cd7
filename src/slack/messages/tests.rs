//! Every message, as people see it, pinned by snapshots; and Slack's limits checked on all.

use chrono::{TimeZone, Utc};

use super::*;
use crate::domain::command::parse;
use crate::domain::ids::{AccountId, IncidentId, SlackUserId};
use crate::domain::incident::{
    Actor, AttachedPolicy, KeySnapshot, KeyUsage, StepRecord, UserSnapshot,
};

fn t(min: u32, sec: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 23, min, sec).unwrap()
}

fn incident(state: IncidentState) -> Incident {
    Incident {
        id: IncidentId::parse("KL-00C0FFEE").unwrap(),
        key: AccessKeyId::parse("AKIAIOSFODNN7EXAMPLE").unwrap(),
        state,
        reason: Some("pushed to <public> repo & *more*".into()),
        requested_by: Actor::Slack(SlackUserId::parse("U0RESPONDER").unwrap()),
        opened_at: t(0, 0),
        fence_time: t(0, 0),
        contained_at: (state == IncidentState::Contained).then(|| t(0, 2)),
        account: Some(AccountId::parse("111111111111").unwrap()),
        user_name: Some("ci-deploy".into()),
        slack_channel: Some("C0KEYLEAK01".into()),
        slack_ts: None,
    }
}

fn snapshot() -> UserSnapshot {
    UserSnapshot {
        user_name: "ci-deploy".into(),
        user_arn: "arn:aws:iam::111111111111:user/ci-deploy".into(),
        access_keys: vec![
            KeySnapshot {
                id: "AKIAIOSFODNN7EXAMPLE".into(),
                active: true,
                created: None,
            },
            KeySnapshot {
                id: "AKIAOTHERKEY00000000".into(),
                active: true,
                created: None,
            },
        ],
        inline_policies: vec!["app-read".into()],
        attached_policies: vec![AttachedPolicy {
            name: "AWSCompromisedKeyQuarantineV3".into(),
            arn: "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3".into(),
        }],
        groups: vec!["deployers".into()],
        has_login_profile: false,
        mfa_devices: vec![],
    }
}

fn steps() -> Vec<StepRecord> {
    let rec = |kind, fact, rid: Option<&str>, sec| StepRecord {
        kind,
        status: StepStatus::Done,
        fact,
        request_id: rid.map(str::to_string),
        finished_at: t(0, sec),
        reply_ts: None,
    };
    vec![
        rec(
            StepKind::LocateAccount,
            StepFact::Located {
                account: "111111111111".into(),
                own_account: false,
            },
            Some("req-1"),
            1,
        ),
        rec(
            StepKind::LastUsed,
            StepFact::LastUsed(KeyUsage {
                user_name: Some("ci-deploy".into()),
                last_used: Some(t(0, 0)),
                service: Some("s3".into()),
                region: Some("eu-west-1".into()),
            }),
            Some("req-2"),
            1,
        ),
        rec(StepKind::Snapshot, StepFact::Snapshot(snapshot()), None, 1),
        rec(
            StepKind::DeactivateKey,
            StepFact::KeyDeactivated {
                user_name: "ci-deploy".into(),
                other_keys_untouched: vec!["AKIAOTHERKEY00000000".into()],
            },
            Some("req-4"),
            2,
        ),
        rec(
            StepKind::DenyAll,
            StepFact::DenyAttached {
                user_name: "ci-deploy".into(),
                policy_name: "keyleak-deny-all-KL-00C0FFEE".into(),
                managed_policy_arn: None,
            },
            Some("req-5"),
            2,
        ),
        rec(
            StepKind::SessionFence,
            StepFact::DenyAttached {
                user_name: "ci-deploy".into(),
                policy_name: "keyleak-session-fence-KL-00C0FFEE".into(),
                managed_policy_arn: Some(
                    "arn:aws:iam::111111111111:policy/keyleak-session-fence-KL-00C0FFEE".into(),
                ),
            },
            Some("req-6"),
            2,
        ),
        rec(
            StepKind::QuarantineCheck,
            StepFact::Quarantine {
                policies: vec!["AWSCompromisedKeyQuarantineV3".into()],
            },
            None,
            2,
        ),
    ]
}

/// Slack's limits: ≤ 50 blocks, section text ≤ 3000, and a non-empty fallback.
fn assert_within_limits(r: &Reply) {
    assert!(!r.text.is_empty());
    assert!(r.blocks.len() <= 50);
    let json = serde_json::to_value(&r.blocks).unwrap();
    for b in json.as_array().unwrap() {
        if let Some(text) = b["text"]["text"].as_str() {
            assert!(text.chars().count() <= 3000);
        }
    }
}

#[test]
fn the_incident_card_and_every_step_reply() {
    let i = incident(IncidentState::Contained);
    let card = incident_card(&i, &steps());
    assert_within_limits(&card);
    insta::assert_snapshot!("card_contained", card.text);
    let replies: Vec<String> = steps()
        .iter()
        .map(|s| {
            let r = step_reply(&i, s);
            assert_within_limits(&r);
            r.text
        })
        .collect();
    insta::assert_snapshot!("step_replies", replies.join("\n\n"));
}

#[test]
fn escalations_and_failures() {
    let i = incident(IncidentState::Escalated);
    let mk = |fact| StepRecord {
        kind: StepKind::Snapshot,
        status: StepStatus::Done,
        fact,
        request_id: None,
        finished_at: t(0, 1),
        reply_ts: None,
    };
    let root = step_reply(&i, &mk(StepFact::Escalated(Escalation::RootKey)));
    let temp = step_reply(&i, &mk(StepFact::Escalated(Escalation::TemporaryKey)));
    let mut failed = mk(StepFact::Failed {
        error: "AccessDenied: <script> not authorized".into(),
    });
    failed.status = StepStatus::Failed;
    let failed = step_reply(&i, &failed);
    for r in [&root, &temp, &failed] {
        assert_within_limits(r);
    }
    assert!(
        failed.text.contains("&lt;script&gt;"),
        "outside text is escaped"
    );
    insta::assert_snapshot!(
        "escalations",
        [root.text, temp.text, failed.text].join("\n\n")
    );
}

#[test]
fn command_replies() {
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let mut out = vec![];
    for text in [
        "nuke <!channel>",
        "contain",
        &format!("contain {secret}"),
        "contain akiaiosfodnn7example",
        "contain AKIA123",
        "contain AIDAJQABLZS4A3QDU576Q",
        "contain AKIA-OSFODNN7EXAMPLE",
        "contain ZZZZIOSFODNN7EXAMPLE",
        "status what?",
        "status a b",
    ] {
        let p = parse(text);
        let r = parse_error(p.command.as_ref().unwrap_err(), p.secret_pasted);
        assert_within_limits(&r);
        assert!(!r.text.contains(secret));
        out.push(format!("> {text}\n{}", r.text));
    }
    insta::assert_snapshot!("parse_errors", out.join("\n\n"));
    assert_within_limits(&help());
    assert_within_limits(&not_a_responder(false));
    assert!(not_a_responder(true).text.contains("secret access key"));
}

#[test]
fn the_open_incident_list_is_bounded_however_many_are_open() {
    let newest: Vec<Incident> = (0..OPEN_LIST_MAX)
        .map(|_| incident(IncidentState::Failed))
        .collect();
    let r = open_incidents(&newest, 4000);
    assert_within_limits(&r);
    assert!(r.text.starts_with("*4000 open incidents* — the 25 newest"));
}
