//! Classification throughput, run with
//! `cargo bench --bench classify [EVENTS]` (default 1,000,000).
//!
//! Builds a timeline of `EVENTS` events in the mix a busy leaked key leaves (mostly reads and
//! data events, a few per cent of the technique families' records from
//! `tests/fixtures/cloudtrail/techniques`), then times over the same events, interleaved
//! rounds, median of five:
//! - the classifier as it was before techniques (`classify_baseline.rs`, kept verbatim);
//! - today's `classify` (tactics from techniques, then the tables);
//! - the footprint (techniques, targets, rotate list, blinding) over the whole timeline, which
//!   forensics computes once per investigation.
//!
//! It prints events per second, the ratio to the baseline, and the process's peak RSS
//! (`VmHWM`) after building the timeline and after all rounds.

mod classify_baseline;

use std::hint::black_box;
use std::time::Instant;

use keyleak::domain::trail::footprint::footprint;
use keyleak::domain::trail::{TrailEvent, classify, parse_record};

const ROUNDS: usize = 5;

fn fixture(path: &str) -> String {
    let p = format!(
        "{}/tests/fixtures/cloudtrail/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// One record of each published shape: the everyday calls, then every technique family's.
fn templates() -> (Vec<TrailEvent>, Vec<TrailEvent>) {
    let everyday: Vec<TrailEvent> = [
        "list_users.json",
        "get_caller_identity.json",
        "assume_role.json",
        "list_roles_denied.json",
        "run_instances.json",
    ]
    .iter()
    .map(|f| parse_record(&fixture(f)).unwrap())
    .collect();
    let mut techniques = Vec::new();
    for family in [
        "persistence",
        "exfiltration",
        "credential_access",
        "defense_evasion",
        "impact",
        "execution",
    ] {
        let file: serde_json::Value =
            serde_json::from_str(&fixture(&format!("techniques/{family}.json"))).unwrap();
        for r in file["Records"].as_array().unwrap() {
            techniques.push(parse_record(&r.to_string()).unwrap());
        }
    }
    (everyday, techniques)
}

/// `n` events: 97 % everyday calls under varied names (reads, data events), 3 % techniques.
fn timeline(n: usize) -> Vec<TrailEvent> {
    let (everyday, techniques) = templates();
    let names = [
        "DescribeInstances",
        "GetObject",
        "ListBuckets",
        "Decrypt",
        "PutObject",
        "GetCallerIdentity",
        "DescribeSecurityGroups",
        "ListRoles",
    ];
    (0..n)
        .map(|i| {
            let mut e = if i % 33 == 0 {
                techniques[(i / 33) % techniques.len()].clone()
            } else {
                let mut e = everyday[i % everyday.len()].clone();
                e.name = names[i % names.len()].to_string();
                e
            };
            e.event_id = format!("{i:016x}");
            e
        })
        .collect()
}

fn vm_hwm_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let events = timeline(n);
    println!(
        "timeline: {n} events; peak RSS after building it: {:.0} MB",
        vm_hwm_mb()
    );

    let (mut baseline, mut today, mut whole) = (vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let mut c = 0usize;
        for e in &events {
            c += black_box(classify_baseline::classify(e)).len();
        }
        black_box(c);
        baseline.push(n as f64 / t.elapsed().as_secs_f64());

        let t = Instant::now();
        let mut c = 0usize;
        for e in &events {
            c += black_box(classify(e)).len();
        }
        black_box(c);
        today.push(n as f64 / t.elapsed().as_secs_f64());

        let t = Instant::now();
        let f = black_box(footprint(&events));
        black_box(f.techniques.len());
        whole.push(n as f64 / t.elapsed().as_secs_f64());
    }
    let (b, t, w) = (median(baseline), median(today), median(whole));
    println!("baseline classifier: {:>12.0} events/s", b);
    println!(
        "classify today:      {:>12.0} events/s ({:.2}x the baseline's time)",
        t,
        b / t
    );
    println!(
        "footprint:           {:>12.0} events/s ({:.2}x the baseline's time)",
        w,
        b / w
    );
    println!("peak RSS after all rounds: {:.0} MB", vm_hwm_mb());
}
