//! A cheap "stop learning now" check for the agents' planning loops.
//!
//! The interaction loop opens a [`Scope`] around the agent's learning calls (updates, episode
//! ends) with the run's learning deadline (its time limit) and interrupt flag (SIGINT/SIGTERM).
//! Planning loops (posterior sampling, value iteration, extended value iteration) call
//! [`requested`] once per sweep or sampled row and, when it says so, give up and keep their
//! previous plan: the time limit and interrupts then take effect within one sweep, whatever the
//! agent does, instead of at the next step. Outside a scope (the regret policy, a frozen agent,
//! another thread) [`requested`] is always false, so a computation that must finish does.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

#[derive(Clone, Copy)]
struct Active {
    deadline: Option<Instant>,
    interrupt: *const AtomicBool,
}

thread_local! {
    static ACTIVE: Cell<Option<Active>> = const { Cell::new(None) };
    static HIT: Cell<bool> = const { Cell::new(false) };
}

/// While alive, [`requested`] on this thread checks `deadline` and `interrupt`.
pub struct Scope<'a> {
    _flag: std::marker::PhantomData<&'a AtomicBool>,
    previous: Option<Active>,
}

impl<'a> Scope<'a> {
    /// Opens a scope on this thread.
    pub fn new(deadline: Option<Instant>, interrupt: &'a AtomicBool) -> Scope<'a> {
        let previous = ACTIVE.with(|a| {
            a.replace(Some(Active {
                deadline,
                interrupt: interrupt as *const AtomicBool,
            }))
        });
        Scope {
            _flag: std::marker::PhantomData,
            previous,
        }
    }
}

impl Drop for Scope<'_> {
    fn drop(&mut self) {
        ACTIVE.with(|a| a.set(self.previous));
    }
}

/// Whether the learning of the current run must stop now (its time limit passed or it was
/// interrupted). Costs a clock read; call it once per sweep, not per entry.
pub fn requested() -> bool {
    let hit = ACTIVE.with(|a| match a.get() {
        None => false,
        Some(act) => {
            // SAFETY: `interrupt` comes from the `&'a AtomicBool` of a live `Scope<'a>` on this
            // thread (the scope restores the previous value when dropped), so it is valid here.
            let flag = unsafe { &*act.interrupt };
            flag.load(Ordering::Relaxed) || act.deadline.is_some_and(|d| Instant::now() >= d)
        }
    });
    if hit {
        HIT.with(|h| h.set(true));
    }
    hit
}

/// Whether [`requested`] said yes since the last call of this function (the loop asks after
/// each learning call, to freeze at once).
pub fn take_hit() -> bool {
    HIT.with(|h| h.replace(false))
}
