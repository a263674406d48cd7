//! The forensics message in each of its states, built from the published-format records.

use super::tests::{assert_within_limits, incident, render, t};
use super::*;
use crate::domain::answer::ProgressCounts;
use crate::domain::trail::TrailEvent;
use crate::domain::trail::findings::{
    FenceOutcome, Findings, KeySearched, LookupFailure, RoleFence,
};
use crate::domain::trail::fixtures::{self, event};
use crate::domain::trail::guardduty::{GuardDutyFinding, GuardDutyReport};
use crate::domain::trail::inventory::created;
use crate::domain::trail::pivot::{RoleKind, assumed_roles, minted};
use crate::domain::trail::summary::summarize;

pub(super) fn events() -> Vec<TrailEvent> {
    let mut all: Vec<TrailEvent> = [
        fixtures::GET_CALLER_IDENTITY,
        fixtures::LIST_USERS,
        fixtures::LIST_ROLES_DENIED,
        fixtures::CREATE_USER,
        fixtures::CREATE_ACCESS_KEY,
        fixtures::CREATE_LOGIN_PROFILE,
        fixtures::GET_SESSION_TOKEN,
        fixtures::ASSUME_ROLE,
        fixtures::RUN_INSTANCES,
        fixtures::STOP_LOGGING,
    ]
    .iter()
    .map(|f| event(f))
    .collect();
    all[1].user_agent = Some("<!channel> `curl` *bold* &amp;".into());
    all
}

pub(super) fn findings() -> Findings {
    let events = events();
    let minted: Vec<_> = events.iter().filter_map(minted).collect();
    let mut roles: Vec<RoleFence> = assumed_roles(&minted)
        .into_iter()
        .map(|role| RoleFence {
            role,
            outcome: FenceOutcome::Fenced {
                policy_name: "keyleak-session-fence-KL-00C0FFEE".into(),
                request_id: Some("0d9d4f62-8a1c-4b7e-a0f2-33f0aEXAMPLE".into()),
            },
        })
        .collect();
    let mut linked = roles[0].clone();
    linked.role.arn =
        "arn:aws:iam::111122223333:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"
            .into();
    linked.role.kind = RoleKind::ServiceLinked;
    linked.outcome = FenceOutcome::Manual {
        kind: RoleKind::ServiceLinked,
    };
    roles.push(linked);
    Findings {
        key: "AKIAIOSFODNN7EXAMPLE".into(),
        since: t(0, 0) - chrono::Duration::days(90),
        until: t(5, 0),
        finished_at: t(5, 40),
        regions: vec![
            "eu-central-1".into(),
            "eu-west-1".into(),
            "us-east-1".into(),
        ],
        searched: vec![
            KeySearched {
                key: "AKIAIOSFODNN7EXAMPLE".into(),
                account: "111122223333".into(),
                events: 8,
            },
            KeySearched {
                key: "ASIAJ7VT3PZVEXAMPLE0".into(),
                account: "111122223333".into(),
                events: 0,
            },
            KeySearched {
                key: "ASIAI44QH8DHBEXAMPLE".into(),
                account: "444455556666".into(),
                events: 2,
            },
        ],
        summary: summarize(&events),
        created: events.iter().flat_map(created).collect(),
        minted,
        roles,
        proposed: vec![crate::domain::cleanup::Target::User {
            user: "backdoor-admin".into(),
        }],
        manual: 2,
        failures: vec![],
        skipped: 0,
        skipped_reasons: vec![],
        pages: 9,
        throttled: 1,
        quarantine: vec!["AWSCompromisedKeyQuarantineV3".into()],
        guardduty: GuardDutyReport {
            findings: vec![
                guardduty_finding(
                    "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
                    8.0,
                ),
                guardduty_finding("Discovery:IAMUser/AnomalousBehavior", 5.0),
                guardduty_finding("Discovery:IAMUser/AnomalousBehavior", 5.0),
            ],
            without_detector: vec!["111122223333/eu-central-1".into()],
            failures: vec![],
        },
        archive: None,
        quarantined: vec![crate::domain::trail::findings::QuarantineAttached {
            policy: "AWSCompromisedKeyQuarantineV3".into(),
            at: t(1, 30),
        }],
        scope: crate::domain::trail::findings::Scope::Aws,
        footprint: crate::domain::trail::footprint::footprint(&events),
    }
}

fn guardduty_finding(kind: &str, severity: f64) -> GuardDutyFinding {
    GuardDutyFinding {
        id: format!("{kind}{severity}"),
        kind: kind.into(),
        severity,
        title: "API calls from outside AWS".into(),
        account: "111122223333".into(),
        region: "us-east-1".into(),
        key: Some("AKIAIOSFODNN7EXAMPLE".into()),
        first_seen: None,
        last_seen: None,
        count: 3,
        archived: false,
    }
}

#[test]
fn progress_then_summary_then_a_partial_one() {
    let inc = incident(IncidentState::Contained);
    let p = ProgressCounts {
        keys: 2,
        lookups: 34,
        lookups_done: 20,
        events: 1234,
    };
    let progress = investigation_progress(&inc, &p);
    let full = investigation_summary(inc.id.as_str(), &findings());
    let mut partial = findings();
    partial.failures.push(LookupFailure {
        key: "ASIAI44QH8DHBEXAMPLE".into(),
        account: "444455556666".into(),
        region: "every region".into(),
        error: "could not assume the responder role in account 444455556666: AccessDenied".into(),
    });
    partial.skipped = 3;
    partial.skipped_reasons = vec!["not a JSON object: EOF while parsing".into()];
    partial.quarantined.clear();
    partial.created[0].provenance = crate::domain::trail::Provenance::ArchiveUnverified;
    partial.archive = Some(crate::domain::trail::findings::ArchiveScanned {
        location: "s3://org-trail-logs/ct".into(),
        files: 1234,
        bytes: 987_654_321,
        integrity: crate::domain::trail::findings::ArchiveIntegrity {
            digests: 20,
            verified: 1200,
            altered: 1,
            deleted: 2,
            bad_digests: 0,
            notes: vec![crate::domain::trail::findings::IntegrityNote {
                file: Some("ct/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T1505Z_a1b2.json.gz".into()),
                why: "its content is not what CloudTrail delivered".into(),
            }],
        },
        aggregated: 12,
    });
    partial.guardduty.failures = vec![(
        "444455556666/us-east-1".into(),
        "access denied: AccessDeniedException: not authorized to perform guardduty:ListDetectors"
            .into(),
    )];
    let partial = investigation_summary(inc.id.as_str(), &partial);
    for r in [&progress, &full, &partial] {
        assert_within_limits(r);
    }
    let text = render(&full);
    assert!(!text.contains("<!channel>"), "quoted text cannot mention");
    assert!(text.contains("&lt;!channel&gt;"));
    insta::assert_snapshot!(
        "investigation",
        [
            render(&progress),
            text,
            render(&partial),
            timeline_comment(&inc, 13)
        ]
        .join("\n\n----\n\n")
    );
}

#[test]
fn a_long_inventory_stays_within_slacks_limits() {
    let mut f = findings();
    let one = f.created[0].clone();
    f.created = (0..500)
        .map(|n| {
            let mut c = one.clone();
            c.id = format!("user-{n}-{}", "x".repeat(60));
            c
        })
        .collect();
    f.summary.user_agents = (0..100)
        .map(|n| crate::domain::trail::summary::Tally {
            value: "A".repeat(5000) + &n.to_string(),
            count: n,
        })
        .collect();
    let r = investigation_summary("KL-00C0FFEE", &f);
    assert_within_limits(&r);
    assert!(render(&r).contains("and 485 more"));
}

#[test]
fn command_answers() {
    let inc = incident(IncidentState::Contained);
    let mut out = vec![
        render(&investigation_queued(&inc, Some(7))),
        render(&investigation_failed(
            &inc,
            &crate::domain::answer::Cause::Aws("AccessDenied: <nope>".into()),
        )),
        render(&investigation_refused(
            &crate::engine::InvestigateRefusal::NoSuchIncident(inc.id.clone()),
        )),
        render(&investigation_refused(
            &crate::engine::InvestigateRefusal::BeyondHistory { days: 400 },
        )),
    ];
    for text in [
        "investigate",
        "investigate AIDAJQABLZS4A3QDU576Q",
        "investigate KL-00C0FFEE --since 3651d",
    ] {
        let p = crate::domain::command::parse(text);
        out.push(format!(
            "> {text}\n{}",
            parse_error(p.command.as_ref().unwrap_err()).text
        ));
    }
    insta::assert_snapshot!("investigation_answers", out.join("\n\n"));
}
