//! Dropping a ring with operations in flight (invariant 5).
//!
//! Shutdown cancels everything the kernel holds, then reaps until every slot has had its
//! final CQE, releasing parked resources as their CQEs arrive. The wait is bounded: if the
//! bound runs out, whatever is still parked is leaked, never freed under the kernel.

use std::time::{Duration, Instant};

use super::Ring;

/// What happened when a ring shut down; returned by [`Ring::shutdown`].
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
        self.shutdown_now()
    }

    fn shutdown_now(&self) -> ShutdownReport {
        self.shut_down.set(true);
        let (in_flight, released_before) = {
            let core = self.core.borrow();
            (core.ops_in_kernel, core.stats.released)
        };
        let mut report = ShutdownReport {
            in_flight,
            ..ShutdownReport::default()
        };
        self.with_core(|core| {
            if core.anything_in_kernel() && core.cancel_all().is_err() {
                let keys: Vec<_> = core.slots.in_kernel().collect();
                keys.into_iter().for_each(|key| core.cancel(key));
            }
        });
        let deadline = Instant::now() + self.shutdown_timeout;
        while self.core.borrow().anything_in_kernel() {
            let now = Instant::now();
            if now >= deadline {
                report.timed_out = true;
                break;
            }
            let step = (deadline - now).min(SHUTDOWN_POLL);
            let res = self.with_core(|core| {
                core.enter_timeout(step)?;
                core.reap();
                crate::Result::<()>::Ok(())
            });
            if res.is_err() {
                report.timed_out = true;
                break;
            }
        }
        let mut core = self.core.borrow_mut();
        report.released = core.stats.released - released_before;
        if report.timed_out {
            let parked = core.slots.take_all_parked();
            report.leaked = parked.len();
            parked.into_iter().for_each(std::mem::forget);
            // The wake-up eventfd may still be polled by the kernel: leak it too.
            if let Some(executor) = self.executor.borrow_mut().take() {
                std::mem::forget(executor);
            }
        }
        report
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        if !self.shut_down.get() && self.core.borrow().anything_in_kernel() {
            self.shutdown_now();
        }
    }
}
