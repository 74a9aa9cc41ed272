//! Multishot operations as [`Stream`]s: one SQE, many completions.
//!
//! The stream arms its operation on first poll and yields one item per CQE. When the kernel
//! ends the multishot (a CQE without `IORING_CQE_F_MORE`) the stream re-arms it on the next
//! poll, unless it ended with an error, which is yielded and ends the stream — except errors
//! an operation declares passing: some re-arm silently (`ENOBUFS`, a provided-buffer ring
//! running dry; a connection aborted before it was accepted), some are yielded and the next
//! poll arms again (out of fds).
//!
//! Dropping the stream is safe at any point: the operation moves into its slot, a cancel of
//! every request with its `user_data` is queued, and every CQE that still arrives is handed to
//! the parked operation (an accepted fd is closed, a buffer returned); the slot is freed only
//! at the CQE without `F_MORE` (invariants 1, 3).
#![allow(unsafe_code)]

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use io_uring::squeue::Entry;

use crate::error::SaferRingError;
use crate::ring::Ring;
use crate::ring::is_backpressure;
use crate::ring::parked::{Finish, Parked};
use crate::ring::slots::{CqeResult, SlotKey, is_final};

/// A multishot io_uring operation: how to build its SQE and turn each CQE into an item.
/// Implemented by the operations behind the crate's streams ([`OpStream`]):
/// [`Ring::ticks`](crate::Ring::ticks), [`Ring::accept_multi`](crate::Ring::accept_multi),
/// [`Ring::recv_multi`](crate::Ring::recv_multi).
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use std::time::Duration;
/// use futures::StreamExt;
/// use safer_ring::op::{MultiShot, OpStream};
/// /// The first `n` items of any multishot stream, with the operation's name.
/// async fn first<T: MultiShot>(s: OpStream<'_, T>, n: usize) -> (&'static str, Vec<T::Item>) {
///     (T::NAME, s.take(n).collect().await)
/// }
/// let ring = safer_ring::Ring::new(8)?;
/// let (name, ticks) = ring.block_on(first(ring.ticks(Duration::from_millis(1), 3), 5));
/// assert_eq!(name, "ticks");
/// assert_eq!(ticks.len(), 3); // the timer was asked for three expirations
/// assert!(ticks.iter().all(Result::is_ok));
/// # Ok(()) }
/// ```
///
/// # Safety
///
/// As [`OpCode`](crate::OpCode): every pointer and fd in the SQE must be owned by `self`
/// and stable across moves; the ring keeps `self` alive until the CQE without `F_MORE`.
pub unsafe trait MultiShot: 'static {
    /// What each completion yields.
    type Item;
    /// The operation's name, used in error messages.
    const NAME: &'static str;
    /// The io_uring opcode (for probing kernel support).
    const CODE: u8;

    /// Builds the SQE (its `user_data` is set by the ring).
    fn sqe(&mut self) -> Entry;

    /// The plain fd the SQE names, for the `tracing` feature's events (`None`: none, or a
    /// registered file).
    #[cfg(feature = "tracing")]
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }

    /// Turns one CQE into an item (taking ownership of what it carries); `None` ends the
    /// stream without an item (a receive reporting end of stream).
    fn item(&mut self, cqe: CqeResult) -> Option<Self::Item>;

    /// The item for a failure before or outside the kernel.
    fn fail(&mut self, error: SaferRingError) -> Self::Item;

    /// Whether a final CQE with this errno re-arms the stream silently instead of ending it.
    fn rearm_on(&self, _errno: i32) -> bool {
        false
    }

    /// Whether the stream goes on after yielding a final CQE's error (the next poll arms
    /// again) instead of ending: errors that say "not now" rather than "never".
    fn survives(&self, _errno: i32) -> bool {
        false
    }

    /// Checks arguments before each arming and binds what depends on the arming `ring` (a
    /// registered file's use count, a buffer ring of another ring refused).
    fn validate(&mut self, _ring: &Ring) -> crate::Result<()> {
        Ok(())
    }

    /// Whether the operation is over for good once its final CQE was taken (one operation
    /// reporting through several CQEs, such as a zero-copy send): the stream then ends instead
    /// of re-arming.
    fn finished(&self) -> bool {
        false
    }

    /// Whether arming now makes sense; if not, `waker` is woken when it does (a buffer
    /// ring with no free buffer).
    fn can_arm(&self, _waker: &std::task::Waker) -> bool {
        true
    }
}

/// An abandoned multishot operation parked in its slot.
struct ParkedStream<T>(T);

impl<T: MultiShot> Finish for ParkedStream<T> {
    fn finish(mut self: Box<Self>, cqe: CqeResult) {
        drop(self.0.item(cqe));
    }

    fn item(&mut self, cqe: CqeResult) {
        drop(self.0.item(cqe));
    }
}

/// A multishot operation as a [`Stream`]: arms on first poll, one item per CQE, re-arms when
/// the kernel ends it, cancels (and parks what it holds) when dropped.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use futures::StreamExt;
/// use std::time::Duration;
/// let ring = safer_ring::Ring::new(8)?;
/// let mut ticks = ring.ticks(Duration::from_millis(1), 0); // an OpStream, forever
/// let first_two: Vec<_> = ring.block_on((&mut ticks).take(2).collect());
/// assert_eq!(first_two.len(), 2);
/// drop(ticks); // cancels the timer
/// # Ok(()) }
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct OpStream<'ring, T: MultiShot> {
    ring: &'ring Ring,
    op: Option<T>,
    key: Option<SlotKey>,
    done: bool,
}

// No field is structurally pinned.
impl<T: MultiShot> Unpin for OpStream<'_, T> {}

impl<'ring, T: MultiShot> OpStream<'ring, T> {
    pub(crate) fn new(ring: &'ring Ring, op: T) -> Self {
        Self {
            ring,
            op: Some(op),
            key: None,
            done: false,
        }
    }

    /// Arms the operation; `Err(Some(item))` ends the stream with that item.
    fn arm(&mut self, cx: &Context<'_>) -> Result<(), Option<T::Item>> {
        let op = self.op.as_mut().expect("op present while the stream lives");
        let checked = super::opcode::runnable(self.ring, T::CODE, T::NAME)
            .and_then(|()| op.validate(self.ring));
        if let Err(e) = checked {
            self.done = true;
            return Err(Some(op.fail(e)));
        }
        if !op.can_arm(cx.waker()) {
            return Err(None);
        }
        // `push_stream` runs no user code: the key is recorded before anything can unwind,
        // so dropping the stream always parks what the kernel holds (invariant 11).
        // SAFETY: invariants 1–4, 11 — `MultiShot`'s contract makes the SQE point only into
        // memory `op` owns; `op` stays in this stream until the final CQE, moves into the slot
        // when the stream is dropped (invariant 3), or leaks with it (invariant 4).
        match unsafe { self.ring.push_stream(&mut op.sqe()) } {
            Ok(key) => {
                self.key = Some(key);
                #[cfg(feature = "tracing")]
                if self.ring.tracing() {
                    self.ring.trace_start(key, T::NAME, op.fd());
                }
                self.ring.sqes_queued();
                Ok(())
            }
            Err(e) if is_backpressure(&e) => {
                self.ring.wait_for_turn(cx.waker());
                Err(None)
            }
            Err(e) => {
                self.done = true;
                Err(Some(op.fail(e)))
            }
        }
    }
}

impl<T: MultiShot> Stream for OpStream<'_, T> {
    type Item = T::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T::Item>> {
        loop {
            if self.done && self.key.is_none() {
                return Poll::Ready(None);
            }
            let Some(key) = self.key else {
                match self.arm(cx) {
                    Ok(()) => continue,
                    Err(None) => return Poll::Pending,
                    Err(Some(item)) => return Poll::Ready(Some(item)),
                }
            };
            let cqe = match self.ring.poll_stream(key, cx.waker()) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    // Final CQE taken: re-arm on the next turn, unless the operation is over.
                    self.key = None;
                    self.done |= self.op.as_ref().is_some_and(T::finished);
                    continue;
                }
                Poll::Ready(Some(cqe)) => cqe,
            };
            let this = &mut *self;
            let op = this.op.as_mut().expect("op present while the stream lives");
            if is_final(cqe) && cqe.res < 0 {
                if op.rearm_on(-cqe.res) {
                    continue;
                }
                this.done = !op.survives(-cqe.res);
            }
            match op.item(cqe) {
                Some(item) => return Poll::Ready(Some(item)),
                None => this.done = true,
            }
        }
    }
}

impl<T: MultiShot> Drop for OpStream<'_, T> {
    fn drop(&mut self) {
        if let (Some(key), Some(op)) = (self.key.take(), self.op.take()) {
            self.ring.abandon_stream(key, Parked::new(ParkedStream(op)));
        }
    }
}
