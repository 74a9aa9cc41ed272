//! `.await` for operations: [`OpFuture`].
#![forbid(unsafe_code)]

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{Building, OpCode, Operation, Submitted};
use crate::ring::is_backpressure;

/// The future of an operation: submits on first poll, resolves to the operation's output.
///
/// Dropping it mid-flight is safe and cheap (invariant 3); forgetting it leaks (invariant 4).
/// When the ring is at its in-flight limit the future waits for a free slot instead of
/// failing.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use std::future::IntoFuture;
/// let ring = safer_ring::Ring::new(8)?;
/// let a = ring.nop().into_future(); // an OpFuture: submits on first poll
/// let b = ring.nop().into_future();
/// let (a, b) = ring.block_on(async { futures::join!(a, b) });
/// a?;
/// b?;
/// # Ok(()) }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct OpFuture<'ring, T: OpCode> {
    stage: Stage<'ring, T>,
}

enum Stage<'ring, T: OpCode> {
    Building(Operation<'ring, Building<T>>),
    Submitted(Operation<'ring, Submitted<T>>),
    Done,
}

/// An [`OpFuture`]'s state without its ring borrow, kept by [`OwnedOp`](super::OwnedOp)
/// between polls. A submitted one owns what the kernel uses, so it must go back into a
/// future before it is dropped (then dropping the future parks it, invariant 3): only
/// `OwnedOp` holds one, and its `Drop` puts it back.
#[cfg(any(feature = "tokio", feature = "futures-io"))]
pub(super) enum Parts<T: OpCode> {
    Building(Building<T>),
    Submitted(Submitted<T>),
}

// No field is structurally pinned: the operation's memory lives on the heap.
impl<T: OpCode> Unpin for OpFuture<'_, T> {}

impl<'ring, T: OpCode> IntoFuture for Operation<'ring, Building<T>> {
    type Output = T::Output;
    type IntoFuture = OpFuture<'ring, T>;

    fn into_future(self) -> Self::IntoFuture {
        OpFuture {
            stage: Stage::Building(self),
        }
    }
}

impl<'ring, T: OpCode> IntoFuture for Operation<'ring, Submitted<T>> {
    type Output = T::Output;
    type IntoFuture = OpFuture<'ring, T>;

    fn into_future(self) -> Self::IntoFuture {
        OpFuture {
            stage: Stage::Submitted(self),
        }
    }
}

#[cfg(any(feature = "tokio", feature = "futures-io"))]
impl<'ring, T: OpCode> OpFuture<'ring, T> {
    /// The future of `parts` on `ring`, the ring they were built on.
    pub(super) fn from_parts(ring: &'ring crate::Ring, parts: Parts<T>) -> Self {
        let stage = match parts {
            Parts::Building(state) => Stage::Building(Operation::new(ring, state)),
            Parts::Submitted(state) => Stage::Submitted(Operation::new(ring, state)),
        };
        Self { stage }
    }

    /// Takes the future apart for [`from_parts`](Self::from_parts); `None` once it is done.
    pub(super) fn into_parts(self) -> Option<Parts<T>> {
        match self.stage {
            Stage::Building(op) => Some(Parts::Building(op.into_state())),
            Stage::Submitted(op) => Some(Parts::Submitted(op.into_state())),
            Stage::Done => None,
        }
    }
}

impl<'ring, T: OpCode> OpFuture<'ring, T> {
    /// Submits a building operation. `None` once it is submitted; otherwise the poll result:
    /// pending while the ring has no room, or the operation's failure.
    fn start(&mut self, cx: &mut Context<'_>) -> Option<Poll<T::Output>> {
        let Stage::Building(op) = std::mem::replace(&mut self.stage, Stage::Done) else {
            unreachable!("start is called on building operations only")
        };
        let ring = op.ring();
        match op.submit() {
            Ok(submitted) => {
                self.stage = Stage::Submitted(submitted);
                None
            }
            Err(err) if is_backpressure(err.error()) => {
                let queue_full = matches!(err.error(), crate::SaferRingError::SubmissionQueueFull);
                self.stage = Stage::Building(err.into_inner());
                // A full SQ always waits for the next turn (no spinning); a full slot table
                // waits only while it is still full.
                if queue_full {
                    ring.wait_for_turn(cx.waker());
                    Some(Poll::Pending)
                } else if ring.wait_for_capacity(cx.waker()) {
                    Some(Poll::Pending)
                } else {
                    self.start(cx)
                }
            }
            Err(err) => {
                let (error, op) = err.into_parts();
                Some(Poll::Ready(op.fail(error)))
            }
        }
    }
}

impl<T: OpCode> Future for OpFuture<'_, T> {
    type Output = T::Output;

    #[inline(always)]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        if matches!(self.stage, Stage::Building(_)) {
            if let Some(poll) = self.start(cx) {
                return poll;
            }
        }
        let Stage::Submitted(op) = &self.stage else {
            panic!("OpFuture polled after completion")
        };
        let Some(cqe) = op.ring().poll_op(op.key(), Some(cx.waker())) else {
            return Poll::Pending;
        };
        let Stage::Submitted(op) = std::mem::replace(&mut self.stage, Stage::Done) else {
            unreachable!("matched above")
        };
        Poll::Ready(op.finish(cqe))
    }
}
