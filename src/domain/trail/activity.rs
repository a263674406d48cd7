//! Calls per hour by category: what the report's chart draws.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use super::TrailEvent;
use super::classify::{Category, classify};

/// The most hours drawn: two weeks of bars still read at the chart's width. A longer history
/// keeps its last two weeks, which hold the containment.
pub const MAX_HOURS: usize = 14 * 24;

#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    /// The first hour drawn (UTC, on the hour).
    pub start: DateTime<Utc>,
    /// One row per hour from `start`; one column per `Category::ALL` entry.
    pub counts: Vec<[u32; Category::ALL.len()]>,
    /// Calls outside the hours drawn.
    pub left_out: usize,
    /// Hours from `start` to the containment, when it is in the window.
    pub contained: Option<f64>,
    /// Hours from `start` to each signal's arrival in the window, in order.
    pub signals: Vec<f64>,
}

impl Activity {
    pub fn total(&self) -> u32 {
        self.counts.iter().flatten().sum()
    }

    pub fn busiest_hour(&self) -> u32 {
        self.counts
            .iter()
            .map(|c| c.iter().sum())
            .max()
            .unwrap_or(0)
    }
}

/// Buckets every call by hour and by its first category; the window runs from the hour of the
/// first call or signal to the hour after the last call, signal or the containment.
pub fn hourly(
    events: &[TrailEvent],
    contained_at: Option<DateTime<Utc>>,
    signals: &[DateTime<Utc>],
) -> Activity {
    let hour = TimeDelta::hours(1);
    let floor = |t: DateTime<Utc>| t.duration_trunc(hour).unwrap_or(t);
    let times = || events.iter().map(|e| e.time).chain(signals.iter().copied());
    let first = times().min();
    let end = times().chain(contained_at).max();
    let (Some(first), Some(end)) = (first.or(contained_at), end) else {
        return Activity {
            start: DateTime::<Utc>::UNIX_EPOCH,
            counts: vec![],
            left_out: 0,
            contained: None,
            signals: vec![],
        };
    };
    let end = floor(end) + hour;
    let start = floor(first).max(end - hour * MAX_HOURS as i32);
    let hours = ((end - start).num_hours().max(1)) as usize;
    let mut counts = vec![[0u32; Category::ALL.len()]; hours];
    let mut left_out = 0;
    for e in events {
        let at = (e.time - start).num_hours();
        let Some(row) = usize::try_from(at).ok().and_then(|h| counts.get_mut(h)) else {
            left_out += 1;
            continue;
        };
        let category = classify(e).first().copied().unwrap_or(Category::Other);
        let column = Category::ALL
            .iter()
            .position(|c| *c == category)
            .unwrap_or(Category::ALL.len() - 1);
        row[column] += 1;
    }
    let place = |t: DateTime<Utc>| (t >= start).then(|| (t - start).num_seconds() as f64 / 3600.0);
    Activity {
        start,
        counts,
        left_out,
        contained: contained_at.and_then(place),
        signals: signals.iter().filter_map(|t| place(*t)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::trail::fixtures::{self, CREATE_USER, LIST_USERS};
    use chrono::TimeZone;

    fn event(record: &str, time: DateTime<Utc>) -> TrailEvent {
        TrailEvent {
            time,
            ..fixtures::event(record)
        }
    }

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, h, m, 0).unwrap()
    }

    #[test]
    fn calls_are_counted_per_hour_and_category_with_the_containment_placed() {
        let events = vec![
            event(LIST_USERS, at(9, 5)),
            event(LIST_USERS, at(9, 50)),
            event(CREATE_USER, at(11, 0)),
        ];
        let a = hourly(&events, Some(at(11, 30)), &[]);
        assert_eq!(a.start, at(9, 0));
        assert_eq!(a.counts.len(), 3, "09:00, 10:00 and 11:00");
        assert_eq!(a.counts[0].iter().sum::<u32>(), 2);
        assert_eq!(a.counts[1].iter().sum::<u32>(), 0);
        let persistence = Category::ALL
            .iter()
            .position(|c| *c == Category::Persistence)
            .unwrap();
        assert_eq!(a.counts[2][persistence], 1);
        assert_eq!(a.contained, Some(2.5));
        assert_eq!((a.total(), a.busiest_hour(), a.left_out), (3, 2, 0));
    }

    #[test]
    fn a_long_history_keeps_its_last_two_weeks() {
        let old = at(0, 0) - TimeDelta::days(40);
        let events = [event(LIST_USERS, old), event(LIST_USERS, at(8, 0))];
        let a = hourly(&events, Some(at(9, 0)), &[]);
        assert_eq!(a.counts.len(), MAX_HOURS);
        assert_eq!((a.total(), a.left_out), (1, 1));
        assert!(a.contained.is_some());
    }

    #[test]
    fn no_calls_at_all_draws_only_the_containment() {
        let a = hourly(&[], Some(at(10, 15)), &[]);
        assert_eq!(a.counts.len(), 1);
        assert_eq!(a.total(), 0);
        assert_eq!(a.contained, Some(0.25));
        assert!(hourly(&[], None, &[]).counts.is_empty());
    }

    #[test]
    fn signals_are_placed_and_widen_the_window() {
        let events = [event(LIST_USERS, at(9, 5))];
        // GitHub saw the key an hour before any call; AWS Health said so later.
        let a = hourly(&events, Some(at(10, 0)), &[at(8, 30), at(9, 45)]);
        assert_eq!(a.start, at(8, 0));
        assert_eq!(a.counts.len(), 3, "08:00 to 10:00");
        assert_eq!(a.signals, vec![0.5, 1.75]);
        assert_eq!(a.contained, Some(2.0));
    }
}
