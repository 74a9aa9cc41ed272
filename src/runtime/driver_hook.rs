//! The hook an outside reactor (tokio's, through [`Ring::drive`](crate::Ring::drive)) leaves
//! in the ring as its [`Notifier`]: a waker to call when SQEs were queued, so the driver's
//! next turn submits them.
//!
//! The ring calls it only once every resource of the SQEs just queued is owned by their
//! operations or slots, and with no borrow of the ring held (invariant 11): the waker is user
//! code, and may panic or call back into the ring.
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::task::Waker;

use crate::ring::Notifier;

/// The driver's waker, and whether it was woken since the driver last ran.
#[derive(Default)]
pub(crate) struct DriverHook {
    waker: Cell<Option<Waker>>,
    /// Woken since the driver's last turn: one wake per turn, however many SQEs are queued.
    notified: Cell<bool>,
}

impl DriverHook {
    /// The driver is about to run a turn with `waker`: it will submit whatever is queued.
    /// Returns the waker it replaces, for the caller to drop.
    pub fn turn_starts(&self, waker: &Waker) -> Option<Waker> {
        self.notified.set(false);
        let old = self.waker.take();
        match old {
            Some(current) if current.will_wake(waker) => {
                self.waker.set(Some(current));
                None
            }
            old => {
                self.waker.set(Some(waker.clone()));
                old
            }
        }
    }

    /// The driver is gone: the waker, for the caller to drop.
    pub fn clear(&self) -> Option<Waker> {
        self.waker.take()
    }

    fn wake(&self) {
        let Some(waker) = self.waker.take() else {
            return;
        };
        self.notified.set(true);
        waker.wake_by_ref();
        // Put back unless the wake registered another driver meanwhile.
        if let Some(newer) = self.waker.replace(Some(waker)) {
            drop(self.waker.replace(Some(newer)));
        }
    }
}

impl Notifier for DriverHook {
    /// Wakes the driver, once per turn. Taken out of its cell while it runs, so a waker that
    /// re-enters the ring finds the hook consistent (and a panic drops it).
    fn sqes_queued(&self) {
        if !self.notified.get() {
            self.wake();
        }
    }
}
