//! [`Sleep`]: a kernel timer as an operation.
#![allow(unsafe_code)]

use std::time::{Duration, Instant};

use io_uring::opcode;
use io_uring::squeue::Entry;
use io_uring::types::Timespec;

use crate::error::{Result, SaferRingError};
use crate::op::{Op, OpCode, Operation};
use crate::ring::Ring;
use crate::ring::slots::CqeResult;

/// A timer (`IORING_OP_TIMEOUT` with no completion count): completes once `duration` has
/// passed. Its timespec lives on the heap inside the operation until the final CQE.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use std::time::{Duration, Instant};
/// let ring = safer_ring::Ring::new(4)?;
/// let start = Instant::now();
/// ring.sleep(Duration::from_millis(2)).submit()?.wait()?; // a Sleep operation
/// assert!(start.elapsed() >= Duration::from_millis(2));
/// # Ok(()) }
/// ```
pub struct Sleep {
    timespec: Box<Timespec>,
}

// SAFETY: invariant 1 — the SQE points at the boxed timespec `self` owns (a stable heap
// address); it names no fd.
unsafe impl OpCode for Sleep {
    type Output = Result<()>;
    const NAME: &'static str = "sleep";
    const CODE: u8 = opcode::Timeout::CODE;

    fn sqe(&mut self) -> Entry {
        opcode::Timeout::new(&raw const *self.timespec).build()
    }

    /// The timer firing is `-ETIME`: success. Anything else (a cancel, `EINVAL`) is the error.
    fn complete(self, cqe: CqeResult) -> Self::Output {
        match cqe.res() {
            res if res == -libc::ETIME || res >= 0 => Ok(()),
            res => Err(SaferRingError::from_cqe(Self::NAME, res)),
        }
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        Err(error)
    }
}

impl Ring {
    /// Sleeps for `duration` on a kernel timer (`IORING_OP_TIMEOUT`). `.await` it under
    /// [`block_on`](Ring::block_on) or tokio, or `submit()` and `wait()`: the thread waits in
    /// the kernel, using no CPU. Dropping it cancels the timer.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::time::Duration;
    /// let ring = safer_ring::Ring::new(8)?;
    /// ring.sleep(Duration::from_millis(5)).submit()?.wait()?;
    /// # Ok(()) }
    /// ```
    pub fn sleep(&self, duration: Duration) -> Op<'_, Sleep> {
        let timespec = Box::new(Timespec::from(duration));
        Operation::build(self, Sleep { timespec })
    }

    /// Sleeps until `deadline` (at once if it has passed). The time left is taken when this
    /// is called, so build it right before submitting or awaiting it.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::time::{Duration, Instant};
    /// let ring = safer_ring::Ring::new(4)?;
    /// let deadline = Instant::now() + Duration::from_millis(3);
    /// ring.block_on(ring.sleep_until(deadline))?;
    /// assert!(Instant::now() >= deadline);
    /// # Ok(()) }
    /// ```
    pub fn sleep_until(&self, deadline: Instant) -> Op<'_, Sleep> {
        self.sleep(deadline.saturating_duration_since(Instant::now()))
    }
}
