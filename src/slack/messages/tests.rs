//! Every message, as people see it, pinned by snapshots; and Slack's limits checked on all.

use chrono::{TimeZone, Utc};

use super::*;
use crate::domain::command::parse;
use crate::domain::ids::{AccountId, IncidentId, SlackUserId};
use crate::domain::incident::{
    Actor, AttachedPolicy, KeySnapshot, KeyUsage, StepRecord, UserSnapshot,
};

pub(super) fn t(min: u32, sec: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 23, min, sec).unwrap()
}

pub(super) fn incident(state: IncidentState) -> Incident {
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
        late_activity: None,
        hold: None,
        signals: vec![],
        signals_said: 0,
        reach: None,
        reach_ts: None,
        follows: None,
    }
}

pub(super) fn snapshot() -> UserSnapshot {
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
        other: Default::default(),
    }
}

pub(super) fn steps() -> Vec<StepRecord> {
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
pub(super) fn assert_within_limits(r: &Reply) {
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
fn an_unknown_key_and_a_responder_over_the_limit() {
    let i = incident(IncidentState::Closed);
    let unknown = StepRecord {
        kind: StepKind::LastUsed,
        status: StepStatus::Done,
        fact: StepFact::UnknownKey,
        request_id: None,
        finished_at: t(0, 1),
        reply_ts: None,
    };
    let answers = [
        contain_outcome(&i, std::slice::from_ref(&unknown)),
        rate_limited(30, 42),
    ];
    for r in &answers {
        assert_within_limits(r);
    }
    insta::assert_snapshot!(
        "unknown_key_and_rate_limit",
        answers.map(|r| r.text).join("\n\n")
    );
}

#[test]
fn control_characters_reach_a_terminal_escaped() {
    // A user agent an attacker chose, with a cursor move and a colour change.
    let hostile = "aws-cli/2.0\u{1b}[2J\u{1b}[31mok\u{7}\tnext\nline";
    assert_eq!(
        escape_controls(hostile),
        "aws-cli/2.0\\u{1b}[2J\\u{1b}[31mok\\u{7}\tnext\nline"
    );
    let r = Reply::plain(hostile);
    assert!(!r.terminal_text().contains('\u{1b}'));
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
        let r = with_secret_warning(
            parse_error(p.command.as_ref().unwrap_err()),
            p.secret_pasted,
        );
        assert_within_limits(&r);
        assert!(!r.text.contains(secret));
        out.push(format!("> {text}\n{}", r.text));
    }
    insta::assert_snapshot!("parse_errors", out.join("\n\n"));
    assert_within_limits(&help());
    assert_within_limits(&not_a_responder());
    assert!(
        with_secret_warning(not_a_responder(), true)
            .text
            .contains("secret access key")
    );
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

/// Blocks as a person reads them, buttons included, for snapshots.
pub(super) fn render(r: &Reply) -> String {
    let json = serde_json::to_value(&r.blocks).unwrap();
    let mut out = vec![];
    for b in json.as_array().unwrap() {
        match b["type"].as_str().unwrap() {
            "section" => out.push(b["text"]["text"].as_str().unwrap().to_string()),
            "context" => out.push(format!("({})", b["elements"][0]["text"].as_str().unwrap())),
            "actions" => {
                for e in b["elements"].as_array().unwrap() {
                    let confirm = e["confirm"]["text"]["text"]
                        .as_str()
                        .map(|c| format!(" confirm: {c:?}"))
                        .unwrap_or_default();
                    if e["type"] == "static_select" {
                        let options: Vec<String> = e["options"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|o| format!("{}={}", o["text"]["text"], o["value"]))
                            .collect();
                        out.push(format!(
                            "[menu {} → {}: {}{}]",
                            e["placeholder"]["text"].as_str().unwrap(),
                            e["action_id"].as_str().unwrap(),
                            options.join(" | "),
                            confirm
                        ));
                        continue;
                    }
                    out.push(format!(
                        "[{} → {}={}{}]",
                        e["text"]["text"].as_str().unwrap(),
                        e["action_id"].as_str().unwrap(),
                        e["value"].as_str().unwrap(),
                        confirm
                    ));
                }
            }
            other => out.push(format!("<{other}>")),
        }
    }
    out.join("\n")
}

mod proposals {
    use super::*;
    use crate::domain::answer::{CleanupRefusal, ClickResult};
    use crate::domain::approval::{
        Action, MessageRef, Outcome, Proposal, ProposalState, Refusal, UserHoldings,
    };
    use crate::domain::ids::ProposalId;

    fn user(s: &str) -> SlackUserId {
        SlackUserId::parse(s).unwrap()
    }

    fn proposal(action: Action, state: ProposalState, outcome: Option<Outcome>) -> Proposal {
        let decided = state != ProposalState::Pending;
        Proposal {
            id: ProposalId::parse("PR-00000000AB").unwrap(),
            incident: IncidentId::parse("KL-00C0FFEE").unwrap(),
            hash: action.params_hash(),
            action,
            requested_by: user("U0RESPONDER"),
            created_at: t(5, 0),
            expires_at: t(35, 0),
            state,
            approvals: if decided && state != ProposalState::Rejected {
                vec![user("U0APPROVER")]
            } else {
                vec![]
            },
            required: 1,
            message: Some(MessageRef {
                channel: "C0KEYLEAK01".into(),
                ts: "1.2".into(),
            }),
            decided_by: decided.then(|| "slack:U0APPROVER".into()),
            decided_at: decided.then(|| t(6, 0)),
            outcome,
        }
    }

    fn backdoor() -> Action {
        Action::DeleteUser {
            account: "111111111111".into(),
            user: "backdoor-admin".into(),
            holds: UserHoldings {
                managed_policies: vec![
                    "arn:aws:iam::aws:policy/AdministratorAccess".into(),
                    "arn:aws:iam::111111111111:policy/persist".into(),
                ],
                inline_policies: vec![],
                groups: vec!["admins".into()],
                access_keys: vec!["AKIABACKDOOR00000001".into()],
                login_profile: true,
                mfa_devices: vec![],
                ssh_keys: vec!["APKAEIBAERJR2EXAMPLE".into()],
                ..UserHoldings::default()
            },
        }
    }

    fn terminate() -> Action {
        Action::TerminateInstances {
            account: "111111111111".into(),
            region: "us-east-1".into(),
            instance_ids: vec![
                "i-0123456789abcdef0".into(),
                "i-0123456789abcdef1".into(),
                "i-0123456789abcdef2".into(),
            ],
            snapshot: true,
        }
    }

    #[test]
    fn a_proposal_through_its_life() {
        let i = incident(IncidentState::Contained);
        let cases = [
            proposal(backdoor(), ProposalState::Pending, None),
            proposal(terminate(), ProposalState::Executing, None),
            proposal(
                terminate(),
                ProposalState::Done,
                Some(Outcome::Done {
                    request_ids: vec!["req-9".into()],
                }),
            ),
            proposal(
                backdoor(),
                ProposalState::Failed,
                Some(Outcome::Changed {
                    found: vec!["access key AKIANEW".into()],
                }),
            ),
            proposal(
                backdoor(),
                ProposalState::Done,
                Some(Outcome::AlreadyGone {
                    request_ids: vec![],
                }),
            ),
            proposal(
                backdoor(),
                ProposalState::Rejected,
                Some(Outcome::Rejected {
                    reason: Some("<!channel> it is *ours*".into()),
                }),
            ),
            proposal(backdoor(), ProposalState::Expired, Some(Outcome::Expired)),
            proposal(
                Action::Unshare {
                    account: "111111111111".into(),
                    region: "us-east-1".into(),
                    shared: crate::domain::approval::Shared::Snapshot {
                        id: "snap-0123456789abcdef0".into(),
                    },
                    with: vec!["444455556666".into(), "all".into()],
                },
                ProposalState::Pending,
                None,
            ),
        ];
        let out: Vec<String> = cases
            .iter()
            .map(|p| {
                let r = super::super::proposal(&i, p);
                assert_within_limits(&r);
                let buttons = render(&r).contains('[');
                assert_eq!(buttons, p.state == ProposalState::Pending);
                render(&r)
            })
            .collect();
        assert!(out[5].contains("&lt;!channel&gt;"), "reasons are escaped");
        insta::assert_snapshot!("proposals", out.join("\n\n----\n\n"));
    }

    #[test]
    fn every_answer_to_a_click() {
        let pending = proposal(backdoor(), ProposalState::Pending, None);
        let approved = proposal(backdoor(), ProposalState::Executing, None);
        let rejected = proposal(backdoor(), ProposalState::Rejected, None);
        let expired = proposal(backdoor(), ProposalState::Expired, None);
        let refused = |refusal, p: &Proposal| ClickResult::Refused {
            refusal,
            proposal: p.clone(),
        };
        let results = [
            ClickResult::Approved {
                proposal: pending.clone(),
                more_needed: 0,
            },
            ClickResult::Approved {
                proposal: pending.clone(),
                more_needed: 1,
            },
            ClickResult::Rejected {
                proposal: rejected.clone(),
            },
            refused(Refusal::OwnProposal, &pending),
            refused(Refusal::NotAnApprover, &pending),
            refused(Refusal::AlreadyApprovedBy, &pending),
            refused(Refusal::NotPending(ProposalState::Executing), &approved),
            refused(Refusal::NotPending(ProposalState::Rejected), &rejected),
            refused(Refusal::Expired, &expired),
            refused(Refusal::Changed, &pending),
            refused(Refusal::NotItsMessage, &pending),
            refused(Refusal::StillPosting, &pending),
            ClickResult::UnknownProposal(pending.id.clone()),
            ClickResult::RosterUnavailable,
        ];
        let mut out: Vec<String> = results
            .iter()
            .map(|r| {
                let reply = click_result(r);
                assert_within_limits(&reply);
                reply.text
            })
            .collect();
        let i = incident(IncidentState::Contained);
        out.push(cleanup_refused(&CleanupRefusal::NotLocated(i.id.clone())).text);
        out.push(cleanup_queued(&i, &crate::domain::cleanup::Target::LeakedKey).text);
        insta::assert_snapshot!("click_answers", out.join("\n\n"));
    }

    #[test]
    fn cleanup_command_errors() {
        let mut out = vec![];
        for text in [
            "cleanup",
            "cleanup AKIAIOSFODNN7EXAMPLE",
            "cleanup KL-00C0FFEE nuke-it",
            "cleanup KL-00C0FFEE delete-user",
            "cleanup KL-00C0FFEE delete-user <@U123>",
            "cleanup KL-00C0FFEE delete-key ASIAIOSFODNN7EXAMPLE",
            "cleanup KL-00C0FFEE terminate us-east-1 i-nope",
            "cleanup KL-00C0FFEE delete-policy arn:aws:iam::aws:policy/AdministratorAccess",
            "cleanup KL-00C0FFEE remove-trust deploy-role",
            "cleanup KL-00C0FFEE remove-trust deploy-role evil.example.com",
            "cleanup KL-00C0FFEE remove-bucket-grant Acme_Exports *",
            "cleanup KL-00C0FFEE unshare-db-snapshot us-east-1 -prod",
            "rollback KL-00C0FFEE now",
            "reject",
            "reject KL-00C0FFEE",
        ] {
            let p = parse(text);
            let r = with_secret_warning(
                parse_error(p.command.as_ref().unwrap_err()),
                p.secret_pasted,
            );
            assert_within_limits(&r);
            out.push(format!("> {text}\n{}", r.text));
        }
        insta::assert_snapshot!("cleanup_parse_errors", out.join("\n\n"));
    }
}

#[test]
fn a_middle_cut_keeps_both_ends() {
    let agent = "aws-cli/2.15.30 Python/3.11.8 Linux/6.1 exe/x86_64.debian.12 prompt/off command/iam.list-users";
    let cut = cut_middle(agent, 60);
    assert_eq!(cut.chars().count(), 60);
    assert!(
        cut.starts_with("aws-cli/2.15.30") && cut.ends_with("command/iam.list-users"),
        "{cut}"
    );
    assert_eq!(cut_middle("short", 40), "short");
}
