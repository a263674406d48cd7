//! The kinds of durable work a worker claims from the store.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Contain,
    /// Look up cleanup targets in AWS and post one proposal per action.
    Propose,
    /// Carry out an approved proposal.
    Execute,
    /// Forensics: CloudTrail lookups, role fences, cleanup proposals.
    Investigate,
    /// The post-incident report and its chart, uploaded to the incident's thread.
    Report,
    /// Says in the thread that the incident is closed, and redraws the card.
    Close,
    /// A new key through Secrets Manager when asked, and the deny-all's lifting proposed.
    Restore,
    /// One CloudTrail poll after containment.
    Monitor,
    /// Says containment in Slack: the room or thread, the steps not yet said, the card, and
    /// (at the end) the requester's answer. Apart from the playbook, so that containment never
    /// waits on Slack; retried while Slack does not answer.
    Announce,
}

impl JobKind {
    const ALL: [JobKind; 9] = [
        Self::Contain,
        Self::Propose,
        Self::Execute,
        Self::Investigate,
        Self::Report,
        Self::Close,
        Self::Restore,
        Self::Monitor,
        Self::Announce,
    ];

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
            Self::Announce => "announce",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}
