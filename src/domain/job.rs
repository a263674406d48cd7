//! The durable work a worker claims from the store: what to do and what it acts on, as one
//! value, so a job's kind and its request can never disagree.

use serde::{Deserialize, Serialize};

use super::cleanup::Target;
use super::ids::ProposalId;

/// A job's work. People are kept as they are stored (`Actor::to_stored`, a Slack user id),
/// the form the audit log uses too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Work {
    /// The containment playbook, or a triage run of its read-only steps; the forensics that
    /// follows looks back `investigate_days` when the requester chose the window.
    Contain {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        investigate_days: Option<u32>,
    },
    /// Look up the target in AWS and post one proposal per action.
    Propose(ProposeRequest),
    /// Carry out an approved proposal.
    Execute { proposal: ProposalId },
    /// Forensics: CloudTrail lookups, role fences, cleanup proposals.
    Investigate(InvestigateRequest),
    /// The post-incident report and its chart, uploaded to the incident's thread.
    Report,
    /// Says in the thread that the incident is closed (or dismissed, with the reason), and
    /// redraws the card.
    Close {
        by: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dismissed: Option<String>,
    },
    /// A new key through Secrets Manager when asked, and the deny-all's lifting proposed.
    Restore(RestoreRequest),
    /// One CloudTrail poll after containment.
    Monitor,
    /// What the key could do: the policy simulator over the snapshot's policies, and Access
    /// Advisor, once the snapshot is recorded.
    Assess,
    /// Says containment in Slack: the room or thread, the steps not yet said, the card, and
    /// (when `last`) the requester's answer. Apart from the playbook, so that containment
    /// never waits on Slack; retried while Slack does not answer.
    Announce { last: bool },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposeRequest {
    pub target: Target,
    pub requested_by: String,
    pub origin: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvestigateRequest {
    pub days: u32,
    /// None when asked from the command line.
    pub requested_by: Option<String>,
    pub origin: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreRequest {
    pub new_key: bool,
    pub requested_by: String,
}

impl Work {
    pub fn kind(&self) -> JobKind {
        match self {
            Self::Contain { .. } => JobKind::Contain,
            Self::Propose(_) => JobKind::Propose,
            Self::Execute { .. } => JobKind::Execute,
            Self::Investigate(_) => JobKind::Investigate,
            Self::Report => JobKind::Report,
            Self::Close { .. } => JobKind::Close,
            Self::Restore(_) => JobKind::Restore,
            Self::Monitor => JobKind::Monitor,
            Self::Assess => JobKind::Assess,
            Self::Announce { .. } => JobKind::Announce,
        }
    }
}

/// What kind of work a job is: what the queue schedules by (containment first, one
/// announcement at a time per incident) and what a give-up note names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Contain,
    Propose,
    Execute,
    Investigate,
    Report,
    Close,
    Restore,
    Monitor,
    Assess,
    Announce,
}

impl JobKind {
    pub const ALL: [JobKind; 10] = [
        Self::Contain,
        Self::Propose,
        Self::Execute,
        Self::Investigate,
        Self::Report,
        Self::Close,
        Self::Restore,
        Self::Monitor,
        Self::Assess,
        Self::Announce,
    ];

    /// The name the store keeps and `Work`'s tag.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Contain => "contain",
            Self::Propose => "propose",
            Self::Execute => "execute",
            Self::Investigate => "investigate",
            Self::Report => "report",
            Self::Close => "close",
            Self::Restore => "restore",
            Self::Monitor => "monitor",
            Self::Assess => "assess",
            Self::Announce => "announce",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tag serde writes is the kind's stored name: the store splits a job into the two.
    #[test]
    fn the_tag_is_the_kind() {
        let every = [
            Work::Contain {
                investigate_days: None,
            },
            Work::Contain {
                investigate_days: Some(400),
            },
            Work::Propose(ProposeRequest {
                target: Target::Instances {
                    region: "us-east-1".into(),
                    ids: vec!["i-0123456789abcdef0".into()],
                    snapshot: false,
                },
                requested_by: "U1".into(),
                origin: "o".into(),
            }),
            Work::Execute {
                proposal: ProposalId::from_random(1),
            },
            Work::Investigate(InvestigateRequest {
                days: 7,
                requested_by: None,
                origin: "o".into(),
            }),
            Work::Report,
            Work::Close {
                by: None,
                dismissed: Some("a honeytoken".into()),
            },
            Work::Restore(RestoreRequest {
                new_key: true,
                requested_by: "U1".into(),
            }),
            Work::Monitor,
            Work::Assess,
            Work::Announce { last: true },
        ];
        for w in every {
            let json = serde_json::to_value(&w).unwrap();
            assert_eq!(json["kind"], w.kind().as_str());
            assert_eq!(serde_json::from_value::<Work>(json).unwrap(), w);
        }
    }
}
