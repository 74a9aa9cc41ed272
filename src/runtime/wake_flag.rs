//! The sleep/wake handshake between an executor thread and wakers on any thread.
//!
//! One atomic with three states, changed only by read-modify-write operations (which are
//! totally ordered on one location under any memory model), so a wake-up can never be lost:
//! either the executor sees it before going to sleep, or the waker sees the executor asleep
//! and signals it. Model-checked in `tests/loom.rs`.
#![forbid(unsafe_code)]

use crate::sync::{AtomicU8, Ordering};

const IDLE: u8 = 0;
const WOKEN: u8 = 1;
const SLEEPING: u8 = 2;

/// See the module docs.
#[derive(Debug)]
pub struct WakeFlag(AtomicU8);

impl Default for WakeFlag {
    fn default() -> Self {
        Self::new()
    }
}

impl WakeFlag {
    /// Idle, not woken.
    pub fn new() -> Self {
        Self(AtomicU8::new(IDLE))
    }

    /// Executor, before polling: forget earlier wake-ups (the poll will see their effects).
    pub fn reset(&self) {
        self.0.store(IDLE, Ordering::SeqCst);
    }

    /// Whether a wake-up arrived since the last [`reset`](Self::reset).
    pub fn is_woken(&self) -> bool {
        self.0.load(Ordering::SeqCst) == WOKEN
    }

    /// Waker side: records the wake-up; returns `true` if the executor may be asleep and
    /// must be signalled.
    pub fn wake(&self) -> bool {
        self.0.swap(WOKEN, Ordering::AcqRel) == SLEEPING
    }

    /// Executor: about to sleep. Returns `false` (do not sleep) if a wake-up already arrived.
    pub fn begin_sleep(&self) -> bool {
        self.0
            .compare_exchange(IDLE, SLEEPING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Executor: awake again.
    pub fn end_sleep(&self) {
        let _ = self
            .0
            .compare_exchange(SLEEPING, IDLE, Ordering::AcqRel, Ordering::Acquire);
    }
}
