//! The post-incident report, restore and the incident room's messages, pinned by snapshots.

use std::collections::HashMap;

use super::forensics_tests::{events, findings};
use super::incident::{button_of, card_buttons, card_cleans_up};
use super::tests::{assert_within_limits, incident, render, snapshot, steps, t};
use super::*;
use crate::domain::answer::{Cause, CloseRefusal, ReportRefusal, RestoreOutcome, RestoreRefusal};
use crate::domain::approval::{Action, MessageRef, Outcome, Proposal, ProposalState};
use crate::domain::ids::{IncidentId, ProposalId, SlackUserId};
use crate::domain::incident::{Actor, KeySnapshot};
use crate::domain::report::ReportInput;
use crate::domain::restore::Handover;
use crate::domain::trail::summary::Summary;
use crate::store::AuditEntry;

fn user(s: &str) -> SlackUserId {
    SlackUserId::parse(s).unwrap()
}

fn proposal(n: u32, action: Action, state: ProposalState, outcome: Option<Outcome>) -> Proposal {
    let approved = matches!(state, ProposalState::Done | ProposalState::Failed);
    Proposal {
        id: ProposalId::parse(&format!("PR-00000000A{n}")).unwrap(),
        incident: IncidentId::parse("KL-00C0FFEE").unwrap(),
        hash: action.params_hash(),
        action,
        requested_by: user("U0RESPONDER"),
        created_at: t(6, n),
        expires_at: t(36, n),
        state,
        approvals: if approved {
            vec![user("U0APPROVER")]
        } else {
            vec![]
        },
        required: 1,
        message: Some(MessageRef {
            channel: "C0ROOM00001".into(),
            ts: format!("1763850000.00010{n}"),
        }),
        decided_by: (state != ProposalState::Pending).then(|| {
            if approved {
                "slack:U0APPROVER"
            } else {
                "slack:U0ONCALLER"
            }
            .into()
        }),
        decided_at: (state != ProposalState::Pending).then(|| t(7, n)),
        outcome,
    }
}

fn proposals() -> Vec<Proposal> {
    let account = "111111111111".to_string();
    let key = |k: &str| Action::DeleteAccessKey {
        account: account.clone(),
        user: "ci-deploy".into(),
        key: k.into(),
    };
    vec![
        proposal(
            1,
            key("AKIAIOSFODNN7EXAMPLE"),
            ProposalState::Done,
            Some(Outcome::Done {
                request_ids: vec!["7a62c49f-347e-4fc4-9331-6e8eEXAMPLE".into()],
            }),
        ),
        proposal(
            2,
            key("AKIABACKDOOR00000000"),
            ProposalState::Rejected,
            Some(Outcome::Rejected {
                reason: Some("it is | the data team's".into()),
            }),
        ),
        proposal(3, key("AKIAPENDING000000000"), ProposalState::Pending, None),
    ]
}

fn audit() -> Vec<AuditEntry> {
    let row = |min, actor: &str, action: &str, detail: &str| AuditEntry {
        at: t(min, 0),
        actor: actor.into(),
        action: crate::domain::audit::AuditAction::from_name(action),
        incident_id: Some(IncidentId::parse("KL-00C0FFEE").unwrap()),
        detail: detail.into(),
        origin: "test".into(),
    };
    vec![
        row(
            0,
            "slack:U0RESPONDER",
            "contain.open",
            "key AKIAIOSFODNN7EXAMPLE",
        ),
        row(7, "slack:U0APPROVER", "proposal.approved", "PR-00000000A1"),
        row(8, "keyleak", "proposal.done", "PR-00000000A1"),
        row(
            9,
            "slack:U0RESPONDER",
            "incident.close",
            "closed from contained",
        ),
    ]
}

#[test]
fn the_report_in_full() {
    let mut i = incident(IncidentState::Closed);
    i.contained_at = Some(t(0, 2));
    i.slack_channel = Some("C0ROOM00001".into());
    i.slack_ts = Some("1763850000.000001".into());
    let mut snap = snapshot();
    snap.has_login_profile = true;
    snap.access_keys[1] = KeySnapshot {
        created: Some(t(0, 0) - chrono::Duration::days(400)),
        ..snap.access_keys[1].clone()
    };
    let mut steps = steps();
    steps[0].reply_ts = Some("1763850000.000002".into());
    let links: HashMap<String, String> = [
        (
            "1763850000.000001",
            "https://x.slack.com/archives/C0ROOM00001/p1763850000000001",
        ),
        (
            "1763850000.000002",
            "https://x.slack.com/archives/C0ROOM00001/p1763850000000002",
        ),
        (
            "1763850000.000101",
            "https://x.slack.com/archives/C0ROOM00001/p1763850000000101",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let (mut findings, mut events, proposals, audit) = (findings(), events(), proposals(), audit());
    let mut kept = crate::domain::evidence::Evidence::new(
        proposals[0].id.clone(),
        t(9, 0),
        proposals[0].action.clone(),
        serde_json::json!({"UserName": "backdoor-admin", "Tags": {}}),
    );
    kept.copy = Some(crate::domain::evidence::EvidenceCopy {
        bucket: "ir-evidence".into(),
        key: format!("keyleak/{}/{}.json", i.id, proposals[0].id),
        version_id: Some("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY".into()),
        lock_mode: Some("COMPLIANCE".into()),
        locked_until: Some(t(9, 0) + chrono::Duration::days(365)),
    });
    let evidence = vec![kept];
    findings.archive = Some(crate::domain::trail::findings::ArchiveScanned {
        location: "s3://org-trail-logs/ct".into(),
        files: 40,
        bytes: 40_000_000,
        integrity: crate::domain::trail::findings::ArchiveIntegrity {
            digests: 3,
            verified: 36,
            altered: 1,
            ..Default::default()
        },
        aggregated: 0,
    });
    if let Some(last) = events.last_mut() {
        last.provenance = crate::domain::trail::Provenance::ArchiveVerified;
    }
    let md = report_markdown(
        &ReportInput {
            incident: &i,
            steps: &steps,
            proposals: &proposals,
            evidence: &evidence,
            findings: Some(&findings),
            events: &events,
            audit: &audit,
            snapshot: Some(&snap),
            links: &links,
            now: t(10, 0),
        },
        "KL-00C0FFEE-activity.png",
    );
    insta::assert_snapshot!(md);
}

/// The report of an incident with nothing but its steps: no forensics, proposals or audit.
fn report_before_forensics(i: &Incident, steps: &[StepRecord]) -> String {
    report_markdown(
        &ReportInput {
            incident: i,
            steps,
            proposals: &[],
            evidence: &[],
            findings: None,
            events: &[],
            audit: &[],
            snapshot: None,
            links: &HashMap::new(),
            now: t(10, 0),
        },
        "KL-00C0FFEE-activity.png",
    )
}

#[test]
fn a_report_before_forensics_says_so() {
    let md = report_before_forensics(&incident(IncidentState::Failed), &[]);
    assert!(md.contains("Not investigated: run `/keyleak investigate KL-00C0FFEE`"));
    assert!(md.contains("| Contained | not yet | — |"));
    assert!(md.contains("it has not been fully contained"));
}

#[test]
fn the_room_and_its_answers() {
    let i = incident(IncidentState::Contained);
    let id = i.id.clone();
    let by = Actor::Slack(user("U0RESPONDER"));
    let replies = [
        room_announcement(&i, "C0ROOM00001"),
        room_unavailable("restricted_action"),
        invite_failed(&[user("U0GONE"), user("U0LEFT")], "user_not_found"),
        report_queued(&i),
        report_refused(&id, &ReportRefusal::NoThread),
        report_shared(&i),
        closed(&i),
        close_refused(
            &id,
            &CloseRefusal::NotNow(crate::domain::verbs::Disallowed {
                verb: crate::domain::verbs::Verb::Close,
                state: IncidentState::Containing,
                why: crate::domain::verbs::NotNow::Containing,
            }),
        ),
        close_refused(
            &id,
            &CloseRefusal::NotNow(crate::domain::verbs::Disallowed {
                verb: crate::domain::verbs::Verb::Close,
                state: IncidentState::Closed,
                why: crate::domain::verbs::NotNow::Closed,
            }),
        ),
        closed_note(
            &i,
            Some(&by),
            Some("https://x.slack.com/files/U0BOT/F1/KL-00C0FFEE-report.md"),
            None,
        ),
        closed_note(&i, None, None, None),
        closed_note(&i, Some(&by), None, Some("A honeytoken: a decoy key")),
    ];
    for r in &replies {
        assert_within_limits(r);
    }
    let shown: Vec<String> = replies.iter().map(render).collect();
    insta::assert_snapshot!(shown.join("\n---\n"));
    insta::assert_snapshot!(
        [
            report_comment(&i, false, false),
            report_comment(&i, true, true),
            room_topic(&i)
        ]
        .join("\n---\n")
    );
}

#[test]
fn the_topic_stays_within_slacks_limit() {
    let mut i = incident(IncidentState::Escalated);
    i.user_name = Some("u".repeat(300));
    assert_eq!(room_topic(&i).chars().count(), 250);
    assert!(room_topic(&i).starts_with("NEEDS A PERSON"));
}

#[test]
fn restores_in_words() {
    let i = incident(IncidentState::Contained);
    let id = i.id.clone();
    let places = crate::domain::trail::summary::summarize(&events());
    let good = Handover {
        key_id: "AKIANEWKEY0000000001".into(),
        secret_arn: "arn:aws:secretsmanager:us-east-1:111111111111:secret:keyleak/KL-00C0FFEE/ci-deploy-AbCdEf".into(),
        verified: Ok("arn:aws:iam::111111111111:user/ci-deploy".into()),
    };
    let unverified = Handover {
        verified: Err(
            "InvalidClientTokenId: The security token included in the request is invalid".into(),
        ),
        ..good.clone()
    };
    let nothing = crate::domain::trail::summary::Summary::default();
    let outcome = |h: Option<&Handover>, lift, places: &Summary| RestoreOutcome {
        handover: h.cloned(),
        lift_proposed: lift,
        places: places.clone(),
    };
    let replies = [
        restore_queued(&i, true),
        restore_queued(&i, false),
        restore_summary(&i, &outcome(Some(&good), true, &places)),
        restore_summary(&i, &outcome(Some(&unverified), false, &nothing)),
        restore_summary(&i, &outcome(None, true, &places)),
        restore_done(&i, &outcome(Some(&good), true, &places)),
        restore_busy(&i),
        restore_at_key_limit(&i, true),
        restore_at_key_limit(&i, false),
        restore_refused(
            &id,
            &RestoreRefusal::NotNow(crate::domain::verbs::Disallowed {
                verb: crate::domain::verbs::Verb::Restore,
                state: IncidentState::Failed,
                why: crate::domain::verbs::NotNow::NotContained,
            }),
        ),
        restore_refused(
            &id,
            &RestoreRefusal::NotNow(crate::domain::verbs::Disallowed {
                verb: crate::domain::verbs::Verb::Restore,
                state: IncidentState::Contained,
                why: crate::domain::verbs::NotNow::TemporaryKey,
            }),
        ),
        restore_refused(&id, &RestoreRefusal::NoUser),
        restore_failed(
            &id,
            &Cause::Aws(
                "access denied: not authorized to perform secretsmanager:CreateSecret".into(),
            ),
        ),
        report_failed(&id, &Cause::Slack("not_in_channel".into())),
        report_failed(&id, &Cause::Store),
        restore_failed(&id, &Cause::Internal),
    ];
    for r in &replies {
        assert_within_limits(r);
    }
    let shown: Vec<String> = replies.iter().map(render).collect();
    insta::assert_snapshot!(shown.join("\n---\n"));
    for r in &replies {
        assert!(!r.text.contains("SecretAccessKey"));
    }
}

#[test]
fn the_card_offers_what_the_state_allows() {
    let shown: Vec<String> = [
        IncidentState::Triage,
        IncidentState::Containing,
        IncidentState::Contained,
        IncidentState::Escalated,
        IncidentState::Failed,
        IncidentState::Closed,
    ]
    .into_iter()
    .map(|s| {
        let card = incident_card(&incident(s), &steps());
        assert_within_limits(&card);
        let buttons: Vec<String> = render(&card)
            .lines()
            .filter(|l| l.starts_with('['))
            .map(str::to_string)
            .collect();
        format!("{}: {}", s.as_str(), buttons.join(" "))
    })
    .collect();
    insta::assert_snapshot!(shown.join("\n"));
    for action in [INVESTIGATE, PROPOSE_CLEANUP, RESTORE, REPORT, CLOSE] {
        assert!(card_command(action, "KL-00C0FFEE").is_some(), "{action}");
        assert!(card_command(action, "KL-nope").is_none(), "{action}");
    }
    assert!(card_command("incident.nope", "KL-00C0FFEE").is_none());
    assert!(card_command(CONTAIN, "AKIAIOSFODNN7EXAMPLE").is_some());
    assert!(card_command(CONTAIN, "KL-00C0FFEE").is_none());
    assert!(card_command(DISMISS, "KL-00C0FFEE|honeytoken").is_some());
    assert!(
        card_command(DISMISS, "KL-00C0FFEE|anything").is_none(),
        "only the menu's reasons"
    );
}

/// Every button the card offers is a verb the table allows in that state for that key, and
/// every verb it allows has its button (but the leaked key's cleanup where it cannot apply).
#[test]
fn the_card_and_the_table_agree_in_every_state() {
    use crate::domain::verbs::{Verb, allowed};
    let states = [
        IncidentState::Containing,
        IncidentState::Contained,
        IncidentState::Escalated,
        IncidentState::Failed,
        IncidentState::Closed,
    ];
    for key in ["AKIAIOSFODNN7EXAMPLE", "ASIAI44QH8DHBEXAMPLE"] {
        for state in states {
            let mut i = incident(state);
            i.key = crate::domain::ids::AccessKeyId::parse(key).unwrap();
            let shown: Vec<String> = card_buttons(&i)
                .iter()
                .map(|b| serde_json::to_value(b).unwrap()["action_id"].to_string())
                .collect();
            let wanted: Vec<String> = Verb::ALL
                .into_iter()
                .filter(|v| allowed(*v, state, i.key.kind()).is_ok())
                .filter(|v| *v != Verb::Cleanup || card_cleans_up(&i))
                .map(|v| format!("{:?}", button_of(v).1))
                .collect();
            assert_eq!(shown, wanted, "{key} {state:?}");
        }
    }
}

#[test]
fn activity_after_containment_in_words() {
    let mut i = incident(IncidentState::Contained);
    let late = events();
    let denied_only: Vec<_> = late.iter().filter(|e| e.denied()).cloned().collect();
    // A way back in and a blinding: the responders are called by name, these first.
    use crate::domain::trail::fixtures;
    let mut alarming = fixtures::log(fixtures::PERSISTENCE);
    alarming.retain(|e| e.name == "ConsoleLogin");
    alarming.push(fixtures::event(fixtures::STOP_LOGGING));
    alarming.extend(denied_only.iter().cloned());
    let people = [
        SlackUserId::parse("U0RESPOND1").unwrap(),
        SlackUserId::parse("U0APPROVE2").unwrap(),
    ];
    let replies = [
        late_activity(&i, &late, &[]),
        late_activity(&i, &denied_only, &[]),
        late_activity(&i, &alarming, &people),
    ];
    assert!(
        replies[2]
            .text
            .starts_with(":rotating_light: <@U0RESPOND1> <@U0APPROVE2> *Act now")
    );
    for r in &replies {
        assert_within_limits(r);
    }
    i.late_activity = Some(t(30, 0));
    let card = incident_card(&i, &steps());
    assert!(card.text.contains("Activity after containment"));
    assert!(room_topic(&i).starts_with("ACTIVITY AFTER CONTAINMENT · CONTAINED"));
    let shown: Vec<String> = replies.iter().map(render).collect();
    insta::assert_snapshot!(shown.join("\n---\n"));
}

/// A Health event that says where the key was found, then a GuardDuty finding.
fn two_signals() -> Vec<crate::domain::signal::Signal> {
    use crate::domain::signal::{Signal, Source, Strength};
    let signal = |source, kind: &str, strength, severity, evidence: &[(&str, &str)], at| Signal {
        source,
        delivery: "d".into(),
        reference: "r".into(),
        key: AccessKeyId::parse("AKIAIOSFODNN7EXAMPLE").unwrap(),
        account: None,
        user: None,
        strength,
        kind: kind.into(),
        severity,
        evidence: evidence
            .iter()
            .map(|(l, v)| ((*l).into(), (*v).into()))
            .collect(),
        exposed_at: (source == Source::AwsHealth).then(|| t(0, 0) - chrono::Duration::hours(3)),
        received_at: at,
    };
    vec![
        signal(
            Source::AwsHealth,
            "AWS_RISK_CREDENTIALS_EXPOSED",
            Strength::Confirmed,
            None,
            &[("found at", "https://github.com/<org>/repo")],
            t(0, 0),
        ),
        signal(
            Source::GuardDuty,
            "UnauthorizedAccess:IAMUser/TorIPCaller",
            Strength::Suspected,
            Some(5.0),
            &[("remote IP", "198.51.100.7"), ("country", "NL")],
            t(4, 10),
        ),
    ]
}

/// A triage card: every signal with where it came from and when, why none contained the key,
/// the key's previous incident, and Contain and Dismiss.
#[test]
fn a_triage_card_shows_the_signals_and_why_it_waits() {
    use crate::domain::signal::{Exception, Hold};
    let mut i = incident(IncidentState::Triage);
    i.requested_by = Actor::Signal("aws-health:arn:aws:health:global::event/RISK/X".into());
    i.follows = IncidentId::parse("KL-0000BEEF").ok();
    i.signals = two_signals();
    let mut shown = vec![];
    for hold in [
        Hold::PolicyOff,
        Hold::OnlyConfirmed,
        Hold::BelowSeverity {
            severity: 5.0,
            minimum: 7.0,
        },
        Hold::Excepted {
            exception: Exception::User {
                name: "break-glass".into(),
            },
        },
    ] {
        i.hold = Some(hold);
        let card = incident_card(&i, &steps()[..2]);
        assert_within_limits(&card);
        shown.push(render(&card));
    }
    insta::assert_snapshot!(shown.join("\n---\n"));
}

/// Each signal's own reply in the thread (the second says it joined), and the report's list
/// of every signal.
#[test]
fn signals_in_the_thread_and_the_report() {
    let mut i = incident(IncidentState::Contained);
    i.signals = two_signals();
    let mut shown = vec![];
    for (n, s) in i.signals.iter().enumerate() {
        let reply = signal_reply(&i, s, n + 1);
        assert_within_limits(&reply);
        shown.push(render(&reply));
    }
    let md = report_before_forensics(&i, &steps());
    let section = md
        .split("\n## ")
        .find(|s| s.starts_with("Signals"))
        .unwrap();
    shown.push(section.to_string());
    insta::assert_snapshot!(shown.join("\n---\n"));
}

/// A key in an account keyleak cannot reach: the step, the card and the requester's answer
/// give the escalation, for both causes, and the card still offers Contain.
#[test]
fn an_unreachable_account_is_escalated_with_what_to_do() {
    let mut i = incident(IncidentState::Failed);
    i.account = None;
    let mut shown = vec![];
    for role_refused in [
        None,
        Some("AccessDenied: not authorized to perform sts:AssumeRole".into()),
    ] {
        let step = StepRecord {
            kind: StepKind::LocateAccount,
            status: StepStatus::Failed,
            fact: StepFact::Unreachable {
                account: "222222222222".into(),
                role_refused,
            },
            request_id: None,
            finished_at: t(0, 0),
            reply_ts: None,
        };
        let reply = step_reply(&i, &step);
        assert_within_limits(&reply);
        shown.push(render(&reply));
        let answer = contain_outcome(&i, std::slice::from_ref(&step));
        assert!(
            answer.text.contains("keyleak *cannot act there*"),
            "{}",
            answer.text
        );
        let card = render(&incident_card(&i, std::slice::from_ref(&step)));
        assert!(card.contains("[Contain"), "{card}");
    }
    insta::assert_snapshot!(shown.join("\n---\n"));
}

fn reach() -> crate::domain::reach::Reach {
    use crate::domain::reach::*;
    let verdict = |action: &str, decision: Decision, by: &[&str]| ActionVerdict {
        action: action.into(),
        decision,
        decided_by: by.iter().map(|s| s.to_string()).collect(),
    };
    Reach {
        assessed_at: t(0, 3),
        policies: vec![
            PolicySource::Inline {
                name: "app-read".into(),
            },
            PolicySource::GroupManaged {
                group: "deployers".into(),
                name: "PowerUserAccess".into(),
                arn: "arn:aws:iam::aws:policy/PowerUserAccess".into(),
            },
        ],
        boundary: Some("arn:aws:iam::111111111111:policy/deploy-boundary".into()),
        left_out: vec![
            LeftOut {
                policy: "AWSCompromisedKeyQuarantineV3".into(),
                why: Omission::AwsQuarantine,
            },
            LeftOut {
                policy: "old-inline".into(),
                why: Omission::Gone,
            },
        ],
        actions: Known::Known(vec![
            verdict(
                "iam:CreateAccessKey",
                Decision::Conditional {
                    keys: vec!["aws:MultiFactorAuthPresent".into()],
                },
                &[],
            ),
            verdict("iam:PassRole", Decision::ExplicitDeny, &["app-read"]),
            verdict(
                "s3:GetObject",
                Decision::Allowed,
                &["app-read", "group deployers: PowerUserAccess"],
            ),
            verdict(
                "secretsmanager:GetSecretValue",
                Decision::Allowed,
                &["group deployers: PowerUserAccess"],
            ),
            verdict(
                "ec2:RunInstances",
                Decision::Allowed,
                &["group deployers: PowerUserAccess"],
            ),
            verdict("iam:AttachUserPolicy", Decision::ImplicitDeny, &[]),
        ]),
        services: Known::Unknown {
            why: "access denied: not authorized to perform: iam:GenerateServiceLastAccessedDetails"
                .into(),
        },
    }
}

#[test]
fn what_the_key_could_do_on_the_card_in_the_thread_and_in_the_report() {
    let mut i = incident(IncidentState::Contained);
    i.reach = Some(reach());
    let card = incident_card(&i, &steps());
    let reply = reach_reply(&i, i.reach.as_ref().unwrap());
    assert_within_limits(&reply);
    let md = report_before_forensics(&i, &[]);
    let section = md
        .split("\n## ")
        .find(|s| s.starts_with("What the key could do"))
        .unwrap();
    let line = render(&card)
        .lines()
        .find(|l| l.starts_with("*What it could do:*"))
        .unwrap()
        .to_string();
    insta::assert_snapshot!(format!(
        "{line}\n\n--- thread ---\n{}\n--- report ---\n## {section}",
        render(&reply)
    ));
}

#[test]
fn a_simulator_that_did_not_answer_is_unknown_on_the_card() {
    let mut r = reach();
    r.actions = crate::domain::reach::Known::Unknown {
        why: "access denied: iam:SimulateCustomPolicy".into(),
    };
    assert_eq!(
        super::reach::card_line(&r),
        "*What it could do:* :grey_question: unknown — IAM's policy simulator did not answer \
         (access denied: iam:SimulateCustomPolicy)"
    );
}
