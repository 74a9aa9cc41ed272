//! Driving a ring from tokio's reactor, inside an ordinary tokio program.
//!
//! [`Ring::drive`] returns a future that never finishes on its own: it registers the ring's
//! fd with tokio (`AsyncFd`), and whenever the ring has completions — or operations were
//! queued — it submits and reaps, waking the tasks whose operations completed. Run it beside
//! your work on a current-thread runtime or a `LocalSet` (the ring is `!Send`). Idle costs
//! nothing: the task sleeps in tokio's epoll wait like any other.
#![allow(unsafe_code)]

use std::convert::Infallible;
use std::future::Future;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::error::{Result, SaferRingError};
use crate::ring::Ring;

/// The ring fd, borrowed for tokio's reactor.
struct RingFd(RawFd);

impl AsRawFd for RingFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// The future returned by [`Ring::drive`].
#[must_use = "the ring is only driven while this future is polled"]
pub struct Drive<'ring> {
    ring: &'ring Ring,
    fd: Option<AsyncFd<RingFd>>,
}

impl Ring {
    /// Drives this ring from the current tokio runtime until dropped.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::Ring;
    /// let rt = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    /// rt.block_on(async {
    ///     let ring = Ring::new(8)?;
    ///     let file = safer_ring::File::from(tempfile::tempfile()?);
    ///     let work = async {
    ///         let (n, _) = ring.write_at(&file, b"from tokio".to_vec(), 0).await;
    ///         n
    ///     };
    ///     tokio::select! {
    ///         n = work => assert_eq!(n?, 10),
    ///         res = ring.drive() => { res?; }
    ///     }
    ///     Ok(())
    /// })
    /// # }
    /// ```
    pub fn drive(&self) -> Drive<'_> {
        Drive {
            ring: self,
            fd: None,
        }
    }

    /// Runs `future` on the current tokio runtime while driving this ring.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let rt = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let out = rt.block_on(ring.run_on_tokio(async { ring.nop().await }))?;
    /// out?;
    /// # Ok(()) }
    /// ```
    pub async fn run_on_tokio<F: Future>(&self, future: F) -> Result<F::Output> {
        let mut future = std::pin::pin!(future);
        let mut drive = self.drive();
        std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = future.as_mut().poll(cx) {
                return Poll::Ready(Ok(out));
            }
            match Pin::new(&mut drive).poll(cx) {
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Ready(Ok(never)) => match never {},
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }
}

impl Future for Drive<'_> {
    type Output = Result<Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let ring = self.ring;
        if self.fd.is_none() {
            let fd = RingFd(ring.as_raw_fd());
            // SAFETY (invariant 6): the ring fd stays open and names the same ring for as long
            // as this `Drive` borrows the ring, and the registration ends when it drops.
            match unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) } {
                Ok(fd) => self.fd = Some(fd),
                Err(e) => {
                    return Poll::Ready(Err(SaferRingError::os("tokio register", e.into_parts().1)));
                }
            }
        }
        ring.with_core(|core| match &core.driver_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => core.driver_waker = Some(cx.waker().clone()),
        });
        let fd = self.fd.as_ref().expect("registered above");
        loop {
            if let Err(e) = ring.turn(false) {
                return Poll::Ready(Err(e));
            }
            ring.with_core(|core| core.wake_slot_waiters_if_capacity());
            match fd.poll_read_ready(cx) {
                Poll::Ready(Ok(mut guard)) => guard.clear_ready(),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(SaferRingError::os("tokio poll", e))),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Drop for Drive<'_> {
    fn drop(&mut self) {
        self.ring.with_core(|core| core.driver_waker = None);
    }
}
