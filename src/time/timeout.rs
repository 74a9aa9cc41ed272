//! [`Timeout`]: a deadline for any future of the ring, on a kernel timer.
#![forbid(unsafe_code)]

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::Sleep;
use crate::error::{Result, SaferRingError};
use crate::op::OpFuture;
use crate::ring::Ring;

/// A future with a deadline, made by [`Ring::timeout`]: `Ok` with the future's output if it
/// finished in time, `Err(TimedOut)` otherwise — the future is then dropped, which cancels
/// whatever it had in flight (its buffers parked until their CQEs, not handed back: to get a
/// buffer back from an operation that timed out, give the operation itself a
/// [`timeout`](crate::Operation::timeout)).
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use std::time::Duration;
/// let ring = safer_ring::Ring::new(4)?;
/// let work = async { ring.nop().await };
/// ring.block_on(ring.timeout(Duration::from_secs(1), work))??; // in time: the output
/// # Ok(()) }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Timeout<'ring, F> {
    future: Option<Pin<Box<F>>>,
    /// `None` once the timer failed (at ring shutdown): the future then runs on unbounded.
    timer: Option<OpFuture<'ring, Sleep>>,
}

impl<F> std::fmt::Debug for Timeout<'_, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timeout").finish_non_exhaustive()
    }
}

impl Ring {
    /// Runs `future` with a deadline of `duration` on a kernel timer; see [`Timeout`].
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::time::Duration;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let slow = ring.sleep(Duration::from_secs(10));
    /// let res = ring.block_on(ring.timeout(Duration::from_millis(5), slow));
    /// assert!(matches!(res, Err(safer_ring::SaferRingError::TimedOut { .. })));
    /// let fast = async { 7 };
    /// assert_eq!(ring.block_on(ring.timeout(Duration::from_secs(10), fast))?, 7);
    /// # Ok(()) }
    /// ```
    pub fn timeout<F: IntoFuture>(
        &self,
        duration: Duration,
        future: F,
    ) -> Timeout<'_, F::IntoFuture> {
        Timeout {
            future: Some(Box::pin(future.into_future())),
            timer: Some(self.sleep(duration).into_future()),
        }
    }
}

impl<F: Future> Future for Timeout<'_, F> {
    type Output = Result<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self
            .future
            .as_mut()
            .expect("Timeout polled after completion");
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            self.future = None;
            return Poll::Ready(Ok(output));
        }
        let Some(timer) = self.timer.as_mut() else {
            return Poll::Pending;
        };
        match Pin::new(timer).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) => {
                self.future = None; // cancels what it had in flight
                Poll::Ready(Err(SaferRingError::TimedOut { op: "future" }))
            }
            Poll::Ready(Err(_)) => {
                self.timer = None;
                Poll::Pending
            }
        }
    }
}
