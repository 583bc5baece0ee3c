//! Event ids this process already settled, so that a retry after a lost acknowledgement write
//! (a status conflict right after delivery) settles the event again without sending it twice.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// Settled event ids kept by default; far more than the events in flight at any moment.
pub const DEFAULT_CAPACITY: usize = 65_536;

/// A bounded set of event ids, oldest forgotten first.
#[derive(Debug)]
pub struct RecentlySettled {
    capacity: usize,
    inner: Mutex<(HashSet<String>, VecDeque<String>)>,
}

impl RecentlySettled {
    /// Remembers at most `capacity` ids.
    pub fn new(capacity: usize) -> Self {
        RecentlySettled {
            capacity: capacity.max(1),
            inner: Mutex::new(Default::default()),
        }
    }

    /// Whether `id` was settled recently.
    pub fn contains(&self, id: &str) -> bool {
        self.inner.lock().map(|g| g.0.contains(id)).unwrap_or(false)
    }

    /// Records `id` as settled.
    pub fn insert(&self, id: &str) {
        let Ok(mut guard) = self.inner.lock() else {
            return;
        };
        let (set, order) = &mut *guard;
        if !set.insert(id.to_owned()) {
            return;
        }
        order.push_back(id.to_owned());
        while order.len() > self.capacity {
            if let Some(old) = order.pop_front() {
                set.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_and_forgets_the_oldest() {
        let r = RecentlySettled::new(2);
        r.insert("a");
        r.insert("b");
        r.insert("a");
        assert!(r.contains("a") && r.contains("b"));
        r.insert("c");
        assert!(!r.contains("a"), "the oldest is forgotten first");
        assert!(r.contains("b") && r.contains("c"));
    }
}
