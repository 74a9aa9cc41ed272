//! Driving a ring from tokio's reactor, inside an ordinary tokio program.
//!
//! [`Ring::drive`] returns a future that never finishes on its own: it registers an eventfd
//! with the ring (`IORING_REGISTER_EVENTFD`) and that eventfd with tokio (`AsyncFd`), and
//! whenever the ring has completion work — or operations were queued — it submits and reaps,
//! waking the tasks whose operations completed.
//!
//! Why an eventfd and not the ring fd: with `DEFER_TASKRUN` the kernel posts CQEs only when
//! the ring's own thread asks for events, so the ring fd never becomes readable on its own.
//! The kernel does signal a registered eventfd when completion work is queued, which is
//! what wakes the driver (`tests/tokio_driver.rs` proves every completion gets through). Run it beside
//! your work on a current-thread runtime or a `LocalSet` (the ring is `!Send`). Idle costs
//! nothing: the task sleeps in tokio's epoll wait like any other.
#![allow(unsafe_code)]

use std::convert::Infallible;
use std::future::Future;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::driver_hook::DriverHook;
use crate::error::{Result, SaferRingError};
use crate::ring::{Notifier, Ring};

/// The ring's registered eventfd, borrowed for tokio's reactor.
struct EventFd(RawFd);

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// The future returned by [`Ring::drive`].
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// let rt = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
/// let ring = safer_ring::Ring::new(8)?;
/// rt.block_on(async {
///     let drive = ring.drive(); // a Drive: polled beside the work, never finishes on its own
///     tokio::select! {
///         done = ring.nop() => done,
///         err = drive => err.map(|never| match never {}),
///     }
/// })?;
/// # Ok(()) }
/// ```
#[must_use = "the ring is only driven while this future is polled"]
pub struct Drive<'ring> {
    ring: &'ring Ring,
    fd: Option<AsyncFd<EventFd>>,
    /// This driver's hook, installed in the ring as its notifier at the first poll.
    hook: Rc<DriverHook>,
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
            hook: Rc::default(),
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
            match register(ring) {
                Ok(fd) => self.fd = Some(fd),
                Err(e) => return Poll::Ready(Err(e)),
            }
            drop(ring.set_notifier(Some(self.hook.clone())));
        }
        // This turn submits whatever is queued; the waker it replaces is dropped here, with
        // nothing borrowed.
        drop(self.hook.turn_starts(cx.waker()));
        let fd = self.fd.as_ref().expect("registered above");
        loop {
            if let Err(e) = ring.turn(false) {
                return Poll::Ready(Err(e));
            }
            ring.wake_capacity_waiters();
            match fd.poll_read_ready(cx) {
                Poll::Ready(Ok(mut guard)) => {
                    guard.clear_ready();
                    crate::sys::eventfd_drain(fd.get_ref().0);
                }
                Poll::Ready(Err(e)) => {
                    return Poll::Ready(Err(SaferRingError::os("drive", e)));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Registers the ring's eventfd (once per ring) and hands it to tokio's reactor.
fn register(ring: &Ring) -> Result<AsyncFd<EventFd>> {
    let raw = ring.completion_eventfd()?;
    // SAFETY: invariant 6 — the eventfd is owned by the ring and stays open, naming the same
    // eventfd, for as long as the `Drive` holding this registration borrows the ring.
    unsafe { AsyncFd::register_with_interest(EventFd(raw), Interest::READABLE) }
        .map_err(|e| SaferRingError::os("drive", e.into_parts().1))
}

impl Drop for Drive<'_> {
    fn drop(&mut self) {
        let ours: Rc<dyn Notifier> = self.hook.clone();
        if self
            .ring
            .notifier()
            .is_some_and(|current| Rc::ptr_eq(&current, &ours))
        {
            drop(self.ring.set_notifier(None));
        }
        drop(self.hook.clear());
    }
}
