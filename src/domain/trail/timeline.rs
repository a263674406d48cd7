//! The full event timeline as files for the incident thread: CSV for a spreadsheet, JSON for
//! tools. Both hold the redacted records only (see [`super::redact`]), oldest first.
//!
//! Every text field comes from the attacker's requests (user agents, names, error messages),
//! so the CSV neutralises cells a spreadsheet would run as formulas.

use serde::Serialize;

use super::technique::{Technique, techniques};
use super::{Category, TrailEvent, classify};

const COLUMNS: [&str; 17] = [
    "event_time",
    "event_id",
    "account",
    "region",
    "event_source",
    "event_name",
    "categories",
    // `name (ATT&CK id)` of each technique the event shows.
    "techniques",
    "access_key_id",
    "principal_arn",
    "source_ip",
    "user_agent",
    "error_code",
    "error_message",
    "request_parameters",
    "response_elements",
    // Where the event was read: LookupEvents, or an archive file and whether a signed digest
    // vouches for it.
    "source",
];

/// A cell a spreadsheet would evaluate (`=HYPERLINK(…)`, `+cmd|…`) is kept as text.
fn cell(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_string(),
    }
}

fn categories(e: &TrailEvent) -> String {
    classify(e)
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

fn technique_names(e: &TrailEvent) -> String {
    techniques(e)
        .iter()
        .map(|t| format!("{} ({})", t.name(), t.attack_id()))
        .collect::<Vec<_>>()
        .join("; ")
}

fn json_or_empty(v: &serde_json::Value) -> String {
    if v.is_null() {
        String::new()
    } else {
        v.to_string()
    }
}

fn row(e: &TrailEvent) -> [String; 17] {
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    [
        e.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        e.event_id.clone(),
        e.account().unwrap_or_default().to_string(),
        e.region.clone(),
        e.source.clone(),
        e.name.clone(),
        categories(e),
        technique_names(e),
        opt(&e.identity.access_key_id),
        opt(&e.identity.arn),
        opt(&e.source_ip),
        opt(&e.user_agent),
        opt(&e.error_code),
        opt(&e.error_message),
        json_or_empty(&e.request),
        json_or_empty(&e.response),
        e.provenance.as_str().to_string(),
    ]
}

/// The timeline as CSV with a header row.
pub fn to_csv(events: &[TrailEvent]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record(COLUMNS)?;
    for e in events {
        w.write_record(row(e).iter().map(|c| cell(c)))?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

#[derive(Serialize)]
struct Entry<'a> {
    #[serde(flatten)]
    event: &'a TrailEvent,
    categories: Vec<Category>,
    techniques: Vec<Technique>,
}

#[derive(Serialize)]
struct Document<'a> {
    incident: &'a str,
    key: &'a str,
    events: Vec<Entry<'a>>,
}

/// The timeline as one JSON document: the incident, the leaked key and every event with its
/// categories.
pub fn to_json(incident: &str, key: &str, events: &[TrailEvent]) -> serde_json::Result<Vec<u8>> {
    let doc = Document {
        incident,
        key,
        events: events
            .iter()
            .map(|event| Entry {
                event,
                categories: classify(event),
                techniques: techniques(event),
            })
            .collect(),
    };
    serde_json::to_vec_pretty(&doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::trail::fixtures::{self, event};

    #[test]
    fn csv_has_a_header_and_a_row_per_event_and_quotes_what_needs_it() {
        let mut e = event(fixtures::LIST_USERS);
        e.user_agent = Some("curl, \"quoted\"\nnext line".into());
        let csv =
            String::from_utf8(to_csv(&[e.clone(), event(fixtures::CREATE_USER)]).unwrap()).unwrap();
        let mut r = csv::Reader::from_reader(csv.as_bytes());
        assert_eq!(r.headers().unwrap().len(), COLUMNS.len());
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0][5], "ListUsers");
        assert_eq!(&rows[0][6], "discovery");
        assert_eq!(&rows[0][11], "curl, \"quoted\"\nnext line");
        assert_eq!(&rows[1][6], "persistence");
        assert_eq!(&rows[1][7], "IAM user created (T1136.003)");
        assert_eq!(&rows[1][16], "LookupEvents");
    }

    #[test]
    fn attacker_text_cannot_become_a_spreadsheet_formula() {
        let mut e = event(fixtures::LIST_USERS);
        e.user_agent = Some("=HYPERLINK(\"http://evil.example\",\"x\")".into());
        e.error_message = Some("+cmd|' /C calc'!A0".into());
        let csv = String::from_utf8(to_csv(&[e]).unwrap()).unwrap();
        let mut r = csv::Reader::from_reader(csv.as_bytes());
        let row = r.records().next().unwrap().unwrap();
        assert!(row[11].starts_with("'="), "{}", &row[11]);
        assert!(row[13].starts_with("'+"), "{}", &row[13]);
    }

    #[test]
    fn json_carries_every_event_with_its_categories() {
        let events = [
            event(fixtures::STOP_LOGGING),
            event(fixtures::RUN_INSTANCES),
        ];
        let doc: serde_json::Value = serde_json::from_slice(
            &to_json("KL-00C0FFEE", "AKIAIOSFODNN7EXAMPLE", &events).unwrap(),
        )
        .unwrap();
        assert_eq!(doc["incident"], "KL-00C0FFEE");
        assert_eq!(doc["events"].as_array().unwrap().len(), 2);
        assert_eq!(doc["events"][0]["name"], "StopLogging");
        assert_eq!(doc["events"][0]["categories"][0], "defense_evasion");
        assert_eq!(doc["events"][1]["categories"][0], "impact");
        assert_eq!(doc["events"][0]["techniques"][0], "trail_stopped");
    }
}
