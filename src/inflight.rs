//! A count of work under way, kept right however the work ends: the job slots containment keeps
//! for itself, and the listener's connections with a request under way.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts one piece of work in `count` until it is dropped.
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    pub fn start(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
