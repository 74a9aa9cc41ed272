//! Work a reap leaves for after the core's borrow ends: wakers to wake, parked resources to
//! release, replaced wakers to drop. All of it is user code, which may re-enter the ring or
//! panic (invariant 11), so it runs only once the core is consistent and unborrowed.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::task::Waker;

use super::parked::Release;

/// Work to do after the core's borrow is released: wake wakers, finish parked resources,
/// drop replaced wakers. All of it runs user code, which may re-enter the ring or panic.
#[derive(Default)]
pub(crate) struct AfterReap {
    pub wakers: VecDeque<Waker>,
    pub releases: Vec<Release>,
    pub garbage: Vec<Waker>,
}

/// The payload of a panic caught while running user code, to be resumed later.
pub(crate) type Panic = Box<dyn std::any::Any + Send + 'static>;

impl AfterReap {
    /// Room for a typical turn's work, so that swapping this with the ring's spare
    /// ([`Ring::with_core`](super::Ring::with_core)) does not allocate once warmed up on either
    /// side.
    pub fn with_room() -> Self {
        Self {
            wakers: VecDeque::with_capacity(64),
            releases: Vec::with_capacity(16),
            garbage: Vec::with_capacity(16),
        }
    }

    /// Whether there is nothing to do.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.wakers.is_empty() && self.releases.is_empty() && self.garbage.is_empty()
    }

    /// Runs all the deferred work. Call with no borrow of the core held. A panic from one
    /// item (a waker, a buffer's `Drop`) does not skip the rest: every item still runs and
    /// the first panic is returned, for the caller to resume once the ring is consistent
    /// (invariant 11).
    pub fn run(&mut self) -> Option<Panic> {
        let mut first = None;
        loop {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_items())) {
                Ok(()) => return first,
                Err(panic) => {
                    first.get_or_insert(panic);
                }
            }
        }
    }

    /// Items are popped one by one (no `Drain` to finish), so after a panic the rest are
    /// still here: wakers in completion order, releases and garbage in any order.
    fn run_items(&mut self) {
        while let Some(waker) = self.wakers.pop_front() {
            waker.wake();
        }
        while let Some(release) = self.releases.pop() {
            release.run();
        }
        while let Some(waker) = self.garbage.pop() {
            drop(waker);
        }
    }
}
