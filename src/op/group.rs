//! What chains, batches and timed operations share: submit a group of SQEs, then land its
//! entries — blocking ([`wait`]) or as a future ([`GroupFuture`]).
#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::error::SubmitError;
use crate::ring::{Ring, is_backpressure};

/// A group being built (a chain, a batch, a timed operation). Implemented by this crate only.
#[doc(hidden)]
pub trait Group<'ring>: Sized {
    /// The group once submitted.
    type InFlight: InFlightGroup<'ring, Output = Self::Output>;
    /// What the group produces.
    type Output;
    /// The ring the group is built on.
    fn ring(&self) -> &'ring Ring;
    /// Queues the group.
    fn submit_group(self) -> Result<Self::InFlight, SubmitError<Self>>;
    /// The output of a group the ring refused (every buffer back).
    fn refused(err: SubmitError<Self>) -> Self::Output;
}

/// A submitted group. Implemented by this crate only.
#[doc(hidden)]
pub trait InFlightGroup<'ring> {
    /// What the group produces.
    type Output;
    /// The ring the group runs on.
    fn ring(&self) -> &'ring Ring;
    /// Takes every CQE that arrived (recording `waker` where one is missing); ready once the
    /// group is done.
    fn poll_land(&mut self, waker: Option<&Waker>) -> Poll<Self::Output>;
    /// Whether part of the group waits for room in the ring (retried at the next turn).
    fn stalled(&self) -> bool {
        false
    }
}

/// Blocks the thread until `group` is done.
///
/// # Panics
/// If `io_uring_enter` fails for a reason other than an interruption (a broken ring).
pub(crate) fn wait<'ring, G: InFlightGroup<'ring>>(mut group: G, what: &str) -> G::Output {
    loop {
        if let Poll::Ready(output) = group.poll_land(None) {
            return output;
        }
        if let Err(e) = group.ring().turn(true) {
            panic!("cannot wait for {what}: {e}");
        }
    }
}

/// The future of a chain, batch or timed operation: submits on first poll (waiting for room
/// while the ring is at its limit), then resolves to the group's output. Dropping it
/// mid-flight cancels what is in the kernel; the buffers stay parked until their CQEs.
/// [`BatchFuture`](super::BatchFuture), [`ChainFuture`](super::ChainFuture) and
/// [`TimedFuture`](super::TimedFuture) name it.
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use std::time::Duration;
/// let ring = safer_ring::Ring::new(8)?;
/// let file = safer_ring::File::from(tempfile::tempfile()?);
/// let (a, b, c) = ring.block_on(async {
///     // Each `.await` turns the group into a `GroupFuture`.
///     let ((w, _), (r, buf)) = ring
///         .chain((ring.write_at(&file, b"abc".to_vec(), 0), ring.read_at(&file, vec![0; 3], 0)))
///         .await;
///     let mut batch = ring.batch();
///     batch.push(ring.nop());
///     let nops = batch.await;
///     let timed = ring.nop().timeout(Duration::from_secs(5)).await;
///     (w.and(r).map(|_| buf), nops, timed)
/// });
/// assert_eq!(a?, b"abc");
/// assert!(b[0].is_ok() && c.is_ok());
/// # Ok(()) }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct GroupFuture<'ring, G: Group<'ring>> {
    stage: Stage<'ring, G>,
}

enum Stage<'ring, G: Group<'ring>> {
    Building(G),
    InFlight(G::InFlight),
    Done,
}

// No field is structurally pinned: every entry's memory is on the heap.
impl<'ring, G: Group<'ring>> Unpin for GroupFuture<'ring, G> {}

impl<'ring, G: Group<'ring>> GroupFuture<'ring, G> {
    pub(crate) fn building(group: G) -> Self {
        Self {
            stage: Stage::Building(group),
        }
    }

    pub(crate) fn in_flight(group: G::InFlight) -> Self {
        Self {
            stage: Stage::InFlight(group),
        }
    }

    /// Submits the group; `Some` is the poll's result when it could not be.
    fn start(&mut self, cx: &mut Context<'_>) -> Option<Poll<G::Output>> {
        let Stage::Building(group) = std::mem::replace(&mut self.stage, Stage::Done) else {
            unreachable!("start is called on building groups only")
        };
        let ring = group.ring();
        match group.submit_group() {
            Ok(flight) => {
                self.stage = Stage::InFlight(flight);
                None
            }
            Err(err) if is_backpressure(err.error()) => {
                self.stage = Stage::Building(err.into_inner());
                ring.wait_for_turn(cx.waker());
                Some(Poll::Pending)
            }
            Err(err) => Some(Poll::Ready(G::refused(err))),
        }
    }
}

impl<'ring, G: Group<'ring>> Future for GroupFuture<'ring, G> {
    type Output = G::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<G::Output> {
        if matches!(self.stage, Stage::Building(_)) {
            if let Some(poll) = self.start(cx) {
                return poll;
            }
        }
        let Stage::InFlight(flight) = &mut self.stage else {
            panic!("a chain, batch or timed operation polled after completion")
        };
        let poll = flight.poll_land(Some(cx.waker()));
        if poll.is_pending() && flight.stalled() {
            flight.ring().wait_for_turn(cx.waker());
        }
        if poll.is_ready() {
            self.stage = Stage::Done;
        }
        poll
    }
}
