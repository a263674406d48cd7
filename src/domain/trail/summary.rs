//! The numbers a responder reads first: how much, since when, from where, and what kind.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Category, TrailEvent, classify};

/// A value and how many events had it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub value: String,
    pub count: usize,
}

/// One key's share of the activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyActivity {
    pub key: String,
    pub events: usize,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub events: usize,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    pub keys: Vec<KeyActivity>,
    pub source_ips: Vec<Tally>,
    pub user_agents: Vec<Tally>,
    pub regions: Vec<Tally>,
    pub accounts: Vec<Tally>,
    /// Events per category; an event may count in two (see `classify`).
    pub categories: Vec<(Category, usize)>,
    /// The calls AWS refused, by name.
    pub denied: Vec<Tally>,
    /// Calls that failed for another reason.
    pub errors: usize,
}

fn tally<'a>(values: impl Iterator<Item = &'a str>) -> Vec<Tally> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    let mut out: Vec<Tally> = counts
        .into_iter()
        .map(|(v, count)| Tally {
            value: v.to_string(),
            count,
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    out
}

pub fn summarize(events: &[TrailEvent]) -> Summary {
    let mut keys: BTreeMap<&str, KeyActivity> = BTreeMap::new();
    let mut categories: BTreeMap<Category, usize> = BTreeMap::new();
    for e in events {
        let key = e.identity.access_key_id.as_deref().unwrap_or("(none)");
        let k = keys.entry(key).or_insert_with(|| KeyActivity {
            key: key.to_string(),
            events: 0,
            first: e.time,
            last: e.time,
        });
        k.events += 1;
        k.first = k.first.min(e.time);
        k.last = k.last.max(e.time);
        for c in classify(e) {
            *categories.entry(c).or_default() += 1;
        }
    }
    let mut keys: Vec<KeyActivity> = keys.into_values().collect();
    keys.sort_by_key(|k| k.first);
    Summary {
        events: events.len(),
        first: events.iter().map(|e| e.time).min(),
        last: events.iter().map(|e| e.time).max(),
        keys,
        source_ips: tally(events.iter().filter_map(|e| e.source_ip.as_deref())),
        user_agents: tally(events.iter().filter_map(|e| e.user_agent.as_deref())),
        regions: tally(events.iter().map(|e| e.region.as_str())),
        accounts: tally(events.iter().filter_map(TrailEvent::account)),
        categories: categories.into_iter().collect(),
        denied: tally(
            events
                .iter()
                .filter(|e| e.denied())
                .map(|e| e.name.as_str()),
        ),
        errors: events
            .iter()
            .filter(|e| e.error_code.is_some() && !e.denied())
            .count(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{self, event};
    use super::*;

    #[test]
    fn counts_add_up_per_key_place_and_category() {
        let events: Vec<TrailEvent> = [
            fixtures::GET_CALLER_IDENTITY,
            fixtures::LIST_USERS,
            fixtures::LIST_ROLES_DENIED,
            fixtures::CREATE_USER,
            fixtures::CREATE_ACCESS_KEY,
            fixtures::ASSUME_ROLE,
            fixtures::RUN_INSTANCES,
            fixtures::STOP_LOGGING,
        ]
        .iter()
        .map(|t| event(t))
        .collect();
        let s = summarize(&events);
        assert_eq!(s.events, 8);
        assert_eq!(s.first.unwrap().to_rfc3339(), "2026-11-20T14:50:58+00:00");
        assert_eq!(s.last.unwrap().to_rfc3339(), "2026-11-20T15:14:02+00:00");
        let keys: Vec<(&str, usize)> = s.keys.iter().map(|k| (k.key.as_str(), k.events)).collect();
        assert_eq!(
            keys,
            [("AKIAIOSFODNN7EXAMPLE", 6), ("ASIAI44QH8DHBEXAMPLE", 2)]
        );
        assert_eq!(
            s.source_ips[0],
            Tally {
                value: "192.0.2.101".into(),
                count: 6
            }
        );
        assert_eq!(s.regions.len(), 3);
        assert_eq!(
            s.denied,
            [Tally {
                value: "ListRoles".into(),
                count: 1
            }]
        );
        assert_eq!(s.errors, 0);
        let cat = |c| s.categories.iter().find(|(k, _)| *k == c).map(|(_, n)| *n);
        assert_eq!(cat(Category::Discovery), Some(2));
        assert_eq!(cat(Category::Persistence), Some(2));
        assert_eq!(cat(Category::CredentialAccess), Some(2));
        assert_eq!(cat(Category::DefenseEvasion), Some(1));
        assert_eq!(cat(Category::Impact), Some(1));
        assert_eq!(cat(Category::DeniedProbing), Some(1));
    }

    #[test]
    fn nothing_found_is_an_empty_summary() {
        assert_eq!(summarize(&[]), Summary::default());
    }
}
