//! GuardDuty findings about the leaked key and its offspring (docs/aws.md, GuardDuty), read
//! the way a responder reads them: by family (`UnauthorizedAccess:IAMUser/`, …), since type
//! names change over time, and by severity.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One finding whose `resource.accessKeyDetails.accessKeyId` is a key of the incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardDutyFinding {
    pub id: String,
    /// GuardDuty's `type`, e.g. `UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS`.
    pub kind: String,
    pub severity: f64,
    pub title: String,
    pub account: String,
    pub region: String,
    pub key: Option<String>,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    /// How many times GuardDuty saw the activity behind the finding.
    pub count: u32,
    pub archived: bool,
}

/// GuardDuty's bands (Critical was added above High in 2024).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn of(score: f64) -> Self {
        match score {
            s if s >= 9.0 => Self::Critical,
            s if s >= 7.0 => Self::High,
            s if s >= 4.0 => Self::Medium,
            _ => Self::Low,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// The part of a finding type that stays stable: threat purpose and resource type, up to
/// and including the `/` (`Discovery:IAMUser/`). A type without one is its own family.
pub fn family(kind: &str) -> &str {
    kind.find('/').map_or(kind, |i| &kind[..=i])
}

/// Findings of one family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Family {
    pub family: String,
    pub findings: usize,
    pub highest: Severity,
    /// The distinct types seen, without the family prefix, most severe first.
    pub types: Vec<String>,
}

/// Families, most severe first, then the most findings.
pub fn families(findings: &[GuardDutyFinding]) -> Vec<Family> {
    let mut by: BTreeMap<&str, Vec<&GuardDutyFinding>> = BTreeMap::new();
    for f in findings {
        by.entry(family(&f.kind)).or_default().push(f);
    }
    let mut out: Vec<Family> = by
        .into_iter()
        .map(|(name, mut members)| {
            members.sort_by(|a, b| b.severity.total_cmp(&a.severity));
            let mut types: Vec<String> = vec![];
            for m in &members {
                let rest = m.kind[name.len()..].to_string();
                if !rest.is_empty() && !types.contains(&rest) {
                    types.push(rest);
                }
            }
            Family {
                family: name.to_string(),
                findings: members.len(),
                highest: Severity::of(members[0].severity),
                types,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.highest
            .cmp(&a.highest)
            .then(b.findings.cmp(&a.findings))
            .then_with(|| a.family.cmp(&b.family))
    });
    out
}

/// How many findings fall in each band, most severe band first; empty bands left out.
pub fn by_severity(findings: &[GuardDutyFinding]) -> Vec<(Severity, usize)> {
    let mut counts: BTreeMap<Severity, usize> = BTreeMap::new();
    for f in findings {
        *counts.entry(Severity::of(f.severity)).or_default() += 1;
    }
    counts.into_iter().rev().collect()
}

/// What GuardDuty said across the regions and accounts searched.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GuardDutyReport {
    pub findings: Vec<GuardDutyFinding>,
    /// `account/region` pairs with no detector: GuardDuty was not watching there.
    pub without_detector: Vec<String>,
    /// `account/region` pairs that could not be asked, with AWS's words.
    pub failures: Vec<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(kind: &str, severity: f64) -> GuardDutyFinding {
        GuardDutyFinding {
            id: format!("{kind}-{severity}"),
            kind: kind.into(),
            severity,
            title: String::new(),
            account: "111122223333".into(),
            region: "us-east-1".into(),
            key: None,
            first_seen: None,
            last_seen: None,
            count: 1,
            archived: false,
        }
    }

    #[test]
    fn severity_bands_follow_guardduty() {
        assert_eq!(Severity::of(1.0), Severity::Low);
        assert_eq!(Severity::of(3.9), Severity::Low);
        assert_eq!(Severity::of(4.0), Severity::Medium);
        assert_eq!(Severity::of(6.9), Severity::Medium);
        assert_eq!(Severity::of(7.0), Severity::High);
        assert_eq!(Severity::of(8.9), Severity::High);
        assert_eq!(Severity::of(9.0), Severity::Critical);
    }

    #[test]
    fn renamed_types_stay_in_their_family() {
        // AWS renamed …InstanceCredentialExfiltration to ….OutsideAWS / ….InsideAWS.
        assert_eq!(
            family("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration"),
            "UnauthorizedAccess:IAMUser/"
        );
        assert_eq!(
            family("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"),
            "UnauthorizedAccess:IAMUser/"
        );
        assert_eq!(
            family("AttackSequence:IAM/CompromisedCredentials"),
            "AttackSequence:IAM/"
        );
        assert_eq!(family("Odd"), "Odd");
    }

    #[test]
    fn families_are_ordered_by_severity_then_size() {
        let found = [
            finding("Discovery:IAMUser/AnomalousBehavior", 5.0),
            finding("Discovery:IAMUser/AnomalousBehavior", 5.0),
            finding("Discovery:IAMUser/AnomalousBehavior", 5.0),
            finding("AttackSequence:IAM/CompromisedCredentials", 9.5),
            finding("UnauthorizedAccess:IAMUser/TorIPCaller", 5.0),
            finding(
                "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
                8.0,
            ),
        ];
        let f = families(&found);
        let names: Vec<&str> = f.iter().map(|f| f.family.as_str()).collect();
        assert_eq!(
            names,
            [
                "AttackSequence:IAM/",
                "UnauthorizedAccess:IAMUser/",
                "Discovery:IAMUser/"
            ]
        );
        assert_eq!(f[1].highest, Severity::High);
        assert_eq!(
            f[1].types,
            ["InstanceCredentialExfiltration.OutsideAWS", "TorIPCaller"]
        );
        assert_eq!(f[2].findings, 3);
        assert_eq!(f[2].types, ["AnomalousBehavior"]);
        assert_eq!(
            by_severity(&found),
            [
                (Severity::Critical, 1),
                (Severity::High, 1),
                (Severity::Medium, 4)
            ]
        );
    }
}
