//! The steps a running instance has done so far, for progress displays.
//!
//! The executor opens a [`Publish`] scope on the worker thread around a run with a shared
//! counter; the interaction loop stores its step count there (a relaxed store, at most once
//! every [`PUBLISH_EVERY`] steps and at each outer-loop turn, never per step) and another
//! thread reads it whenever it likes. Outside a scope nothing is stored.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The loop publishes its step count at most this often (steps), and at least every
/// `CHECK_EVERY` steps of the loop.
pub const PUBLISH_EVERY: u64 = 256;

thread_local! {
    static COUNTER: RefCell<Option<Arc<AtomicU64>>> = const { RefCell::new(None) };
}

/// While alive, runs on this thread publish their step count to `counter`.
pub struct Publish {
    previous: Option<Arc<AtomicU64>>,
}

impl Publish {
    /// Opens a scope on this thread.
    pub fn new(counter: Arc<AtomicU64>) -> Publish {
        let previous = COUNTER.with(|c| c.replace(Some(counter)));
        Publish { previous }
    }
}

impl Drop for Publish {
    fn drop(&mut self) {
        let previous = self.previous.take();
        COUNTER.with(|c| *c.borrow_mut() = previous);
    }
}

/// The counter of this thread's scope, if any (read once per run).
pub(crate) fn current() -> Option<Arc<AtomicU64>> {
    COUNTER.with(|c| c.borrow().clone())
}

/// The loop's side: stores `t` when it moved on by [`PUBLISH_EVERY`] since the last store.
pub(crate) struct Publisher {
    counter: Option<Arc<AtomicU64>>,
    next: u64,
}

impl Publisher {
    pub(crate) fn new() -> Publisher {
        let counter = current();
        if let Some(c) = &counter {
            c.store(0, Ordering::Relaxed);
        }
        Publisher { counter, next: 0 }
    }

    /// Publishes `t` if due.
    #[inline]
    pub(crate) fn tick(&mut self, t: u64) {
        if t >= self.next {
            self.next = t + PUBLISH_EVERY;
            if let Some(c) = &self.counter {
                c.store(t, Ordering::Relaxed);
            }
        }
    }

    /// Publishes `t` now (the end of the run).
    pub(crate) fn last(&mut self, t: u64) {
        if let Some(c) = &self.counter {
            c.store(t, Ordering::Relaxed);
        }
    }
}
