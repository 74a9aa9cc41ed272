//! Dropping a ring with operations in flight (invariant 5).
//!
//! Shutdown cancels everything the kernel holds, then reaps until every slot has had its
//! final CQE, releasing parked resources as their CQEs arrive. The wait is bounded: if the
//! bound runs out, whatever is still parked is leaked, never freed under the kernel.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use super::Ring;
use super::after_reap::Panic;
use super::core::Wait;

/// What happened when a ring shut down; returned by [`Ring::shutdown`].
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// let ring = safer_ring::Ring::new(8)?;
/// let report = ring.shutdown(); // nothing in flight
/// assert_eq!((report.in_flight, report.leaked, report.timed_out), (0, 0, false));
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Operations the kernel held when shutdown began.
    pub in_flight: usize,
    /// Abandoned operations whose resources were released after their final CQE.
    pub released: u64,
    /// Parked resources leaked because the kernel had not finished within the timeout.
    pub leaked: usize,
    /// Whether the shutdown timeout ran out.
    pub timed_out: bool,
}

/// Longest single sleep while waiting for shutdown completions.
const SHUTDOWN_POLL: Duration = Duration::from_millis(50);

impl Ring {
    /// Shuts the ring down now and reports how: cancels every in-flight operation, waits for
    /// their final completions (bounded by the builder's shutdown timeout), releases their
    /// resources. Dropping the ring does the same, silently.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(8)?;
    /// let (r, _w) = std::io::pipe()?;
    /// let r = safer_ring::File::from(std::os::fd::OwnedFd::from(r));
    /// let read = ring.read(&r, vec![0u8; 64]).submit()?;
    /// drop(read); // abandoned mid-flight: the buffer is parked in the ring
    /// let report = ring.shutdown();
    /// assert_eq!(report.in_flight, 1);
    /// assert_eq!(report.released, 1);
    /// assert!(!report.timed_out);
    /// # Ok(()) }
    /// ```
    pub fn shutdown(self) -> ShutdownReport {
        let (report, panic) = self.shutdown_guarded();
        if let Some(panic) = panic {
            std::panic::resume_unwind(panic);
        }
        report
    }

    /// [`shutdown_now`](Self::shutdown_now), never unwinding past freeing: if anything in it
    /// panics anyway, every parked resource is leaked before the panic is returned.
    fn shutdown_guarded(&self) -> (ShutdownReport, Option<Panic>) {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.shutdown_now())) {
            Ok(done) => done,
            Err(panic) => {
                self.leak_kernel_memory();
                (ShutdownReport::default(), Some(panic))
            }
        }
    }

    /// Cancels, reaps until the kernel owes nothing (or the timeout runs out), releases.
    /// User code run on the way (wakers, releases) may panic: the shutdown goes on regardless,
    /// and the first such panic is returned for the caller to resume (invariant 11).
    fn shutdown_now(&self) -> (ShutdownReport, Option<Panic>) {
        self.shut_down.set(true);
        let mut first_panic = None;
        let (in_flight, released_before) = {
            let core = self.core.borrow();
            (core.ops_in_kernel(), core.stats().released)
        };
        let mut report = ShutdownReport {
            in_flight,
            ..ShutdownReport::default()
        };
        self.core.borrow_mut().cancel_everything();
        keep_first(&mut first_panic, self.run_deferred());
        // `None`: no bound (a timeout too large for the clock waits as long as it takes).
        let deadline = Instant::now().checked_add(self.config.requested.shutdown_timeout);
        while self.core.borrow().anything_in_kernel() {
            let step = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left.min(SHUTDOWN_POLL),
                    _ => {
                        report.timed_out = true;
                        break;
                    }
                },
                None => SHUTDOWN_POLL,
            };
            let res = self.core.borrow_mut().turn(Wait::Timeout(step));
            keep_first(&mut first_panic, self.run_deferred());
            if res.is_err() {
                report.timed_out = true;
                break;
            }
        }
        report.released = self.core.borrow().stats().released - released_before;
        if report.timed_out {
            report.leaked = self.leak_kernel_memory();
        }
        (report, first_panic)
    }

    /// Leaks everything the kernel may still touch (invariant 5: leak, never free): parked
    /// resources and every layer's state (registered buffers, buffer rings, the executor).
    /// Returns the number of parked operations leaked.
    fn leak_kernel_memory(&self) -> usize {
        let parked = match self.core.try_borrow_mut() {
            Ok(mut core) => core.take_all_parked(),
            Err(_) => Vec::new(),
        };
        let leaked = parked.len();
        parked.into_iter().for_each(std::mem::forget);
        self.layers.leak();
        leaked
    }
}

/// Keeps the first of several caught panics.
fn keep_first(first: &mut Option<Panic>, panic: Option<Panic>) {
    if let Some(panic) = panic {
        first.get_or_insert(panic);
    }
}

impl Drop for Ring {
    /// Shuts down (see [`Ring::shutdown`]). A panic from user code during it is resumed only
    /// after the kernel is done with every parked resource, and never while the thread is
    /// already unwinding (that would abort).
    fn drop(&mut self) {
        if self.shut_down.get() {
            return;
        }
        let (_, panic) = self.shutdown_guarded();
        if let Some(panic) = panic.filter(|_| !std::thread::panicking()) {
            std::panic::resume_unwind(panic);
        }
    }
}
