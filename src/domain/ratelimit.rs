//! How many commands one person may send in a minute: a responder whose script or hand runs
//! away must not bury the real containment under junk.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};

use super::ids::SlackUserId;

/// A sliding one-minute window per person. Only people already on the roster are counted, so
/// its size is bounded by the roster.
#[derive(Debug)]
pub struct PerMinute {
    limit: usize,
    seen: HashMap<SlackUserId, VecDeque<DateTime<Utc>>>,
}

impl PerMinute {
    pub fn new(limit: u32) -> Self {
        Self {
            limit: limit.max(1) as usize,
            seen: HashMap::new(),
        }
    }

    /// Counts the command when it is within the limit; otherwise how long until it would be.
    pub fn admit(&mut self, who: &SlackUserId, now: DateTime<Utc>) -> Result<(), Duration> {
        let window = Duration::minutes(1);
        let times = self.seen.entry(who.clone()).or_default();
        while times.front().is_some_and(|t| *t <= now - window) {
            times.pop_front();
        }
        match times.front() {
            Some(oldest) if times.len() >= self.limit => Err(*oldest + window - now),
            _ => {
                times.push_back(now);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(secs)
    }

    #[test]
    fn the_limit_is_per_person_and_per_sliding_minute() {
        let alice = SlackUserId::parse("U0ALICE01").unwrap();
        let bob = SlackUserId::parse("U0BOB0001").unwrap();
        let mut limit = PerMinute::new(3);
        for s in [0, 10, 20] {
            assert_eq!(limit.admit(&alice, at(s)), Ok(()));
        }
        assert_eq!(limit.admit(&alice, at(30)), Err(Duration::seconds(30)));
        assert_eq!(limit.admit(&bob, at(30)), Ok(()));
        // The first command leaves the window a minute after it was sent.
        assert_eq!(limit.admit(&alice, at(60)), Ok(()));
        assert_eq!(limit.admit(&alice, at(61)), Err(Duration::seconds(9)));
    }
}
