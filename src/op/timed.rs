//! [`Timed`]: any operation with a kernel deadline — the operation linked to an
//! `IORING_OP_LINK_TIMEOUT` that owns its timespec. If the timer fires first the kernel
//! cancels the operation, which then reports [`TimedOut`](SaferRingError::TimedOut) **with
//! its buffer back**; if the operation finishes first the timer is cancelled.
#![allow(unsafe_code)]

use std::future::IntoFuture;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use io_uring::opcode;
use io_uring::squeue::Entry;
use io_uring::types::Timespec;

use super::chain::Chain;
use super::group::{self, Group, GroupFuture, InFlightGroup};
use super::landing::Landing;
use super::{Building, Op, OpCode, Operation};
use crate::error::{Result, SaferRingError, SubmitError};
use crate::ring::Ring;
use crate::ring::slots::CqeResult;

/// A link timeout: the deadline of the operation linked before it. Its timespec lives on
/// the heap inside the operation until its final CQE. Not built alone: [`Operation::timeout`]
/// and [`Operation::deadline`] pair it with the operation they bound (a [`Timed`]), which
/// takes one slot more than the operation alone.
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use std::time::Duration;
/// use safer_ring::{OpCode, op::LinkTimeout};
/// let ring = safer_ring::Ring::new(8)?;
/// let (reader, _writer) = std::io::pipe()?;
/// let reader = safer_ring::File::from(std::os::fd::OwnedFd::from(reader));
/// let timed = ring.read(&reader, vec![0u8; 8]).timeout(Duration::from_millis(5)).submit()?;
/// assert_eq!(ring.in_flight(), 2); // the read and its link timeout
/// assert!(timed.wait().0.is_err()); // the timer fired
/// assert_eq!(ring.in_flight(), 0);
/// assert_eq!(<LinkTimeout as OpCode>::NAME, "timeout");
/// # Ok(()) }
/// ```
pub struct LinkTimeout {
    timespec: Box<Timespec>,
}

// SAFETY: invariant 1 — the SQE points at the boxed timespec `self` owns (a stable heap
// address); it names no fd.
unsafe impl OpCode for LinkTimeout {
    /// `true` if the timer fired, `false` if the operation finished first.
    type Output = Result<bool>;
    const NAME: &'static str = "timeout";
    const CODE: u8 = opcode::LinkTimeout::CODE;

    fn sqe(&mut self) -> Entry {
        opcode::LinkTimeout::new(&raw const *self.timespec).build()
    }

    fn complete(self, cqe: CqeResult) -> Self::Output {
        match cqe.res() {
            res if res == -libc::ETIME => Ok(true),
            res if res == -libc::ECANCELED || res >= 0 => Ok(false),
            res => Err(SaferRingError::from_cqe(Self::NAME, res)),
        }
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        Err(error)
    }
}

type Pair<'ring, T> = (Op<'ring, T>, Op<'ring, LinkTimeout>);

/// An operation with a deadline, built by [`Operation::timeout`] or
/// [`Operation::deadline`]: `submit()` and `wait()` it, or `.await` it. Its output is the
/// operation's own; a fired timeout makes it `Err(TimedOut)` with the buffer handed back.
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use std::time::Duration;
/// let ring = safer_ring::Ring::new(8)?;
/// let (reader, _writer) = std::io::pipe()?; // nothing will ever be written
/// let reader = safer_ring::File::from(std::os::fd::OwnedFd::from(reader));
/// let (res, buf) = ring.read(&reader, vec![0; 64]).timeout(Duration::from_millis(10)).submit()?.wait();
/// assert!(matches!(res, Err(safer_ring::SaferRingError::TimedOut { op: "read" })));
/// assert_eq!(buf.len(), 64, "the buffer comes back");
/// # Ok(()) }
/// ```
#[must_use = "an operation does nothing until submitted or awaited"]
pub struct Timed<'ring, T: OpCode> {
    chain: Chain<'ring, Pair<'ring, T>>,
}

impl<T: OpCode> std::fmt::Debug for Timed<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timed")
            .field("op", &T::NAME)
            .finish_non_exhaustive()
    }
}

impl<'ring, T: OpCode> Operation<'ring, Building<T>> {
    /// Gives the operation a deadline `duration` from its submission (a link timeout): if it
    /// has not completed by then the kernel cancels it and it reports
    /// [`TimedOut`](SaferRingError::TimedOut), with its buffer back. Works on any operation:
    /// a connect, accept or recv with a deadline, a read of a pipe that may stay empty.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::io::Write;
    /// use std::time::Duration;
    /// use safer_ring::SaferRingError;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let (reader, mut writer) = std::io::pipe()?;
    /// let reader = safer_ring::File::from(std::os::fd::OwnedFd::from(reader));
    /// writer.write_all(b"in time")?;
    /// let timed = ring.read(&reader, Vec::with_capacity(16)).timeout(Duration::from_secs(5));
    /// let (n, buf) = timed.submit()?.wait();
    /// assert_eq!(&buf[..n?], b"in time"); // done first: the timer is cancelled
    /// let (res, buf) = ring.read(&reader, buf).timeout(Duration::from_millis(5)).submit()?.wait();
    /// assert!(matches!(res, Err(SaferRingError::TimedOut { op: "read" })));
    /// assert_eq!(buf.capacity(), 16); // the buffer comes back
    /// # Ok(()) }
    /// ```
    pub fn timeout(self, duration: Duration) -> Timed<'ring, T> {
        let ring = self.ring();
        let timer = Operation::build(
            ring,
            LinkTimeout {
                timespec: Box::new(Timespec::from(duration)),
            },
        );
        Timed {
            chain: ring.chain((self, timer)),
        }
    }

    /// As [`timeout`](Self::timeout), with the deadline as an instant (the time left is
    /// taken now). A deadline already past times the operation out at once, unless it
    /// completes inline first.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::time::{Duration, Instant};
    /// let ring = safer_ring::Ring::new(8)?;
    /// let (reader, _writer) = std::io::pipe()?;
    /// let reader = safer_ring::File::from(std::os::fd::OwnedFd::from(reader));
    /// let deadline = Instant::now() + Duration::from_millis(5);
    /// // Two reads sharing one deadline.
    /// let (a, _) = ring.read(&reader, vec![0u8; 4]).deadline(deadline).submit()?.wait();
    /// let (b, _) = ring.read(&reader, vec![0u8; 4]).deadline(deadline).submit()?.wait();
    /// assert!(Instant::now() >= deadline);
    /// assert_eq!(a.unwrap_err().raw_os_error(), Some(libc::ETIMEDOUT));
    /// assert_eq!(b.unwrap_err().raw_os_error(), Some(libc::ETIMEDOUT));
    /// # Ok(()) }
    /// ```
    pub fn deadline(self, deadline: Instant) -> Timed<'ring, T> {
        self.timeout(deadline.saturating_duration_since(Instant::now()))
    }
}

impl<'ring, T: OpCode> Timed<'ring, T> {
    /// Queues the operation and its timer as one linked pair.
    ///
    /// # Errors
    /// As [`Operation::submit`]; the operation comes back inside the error
    /// ([`SubmitError::into_output`] hands its buffer back).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::time::Duration;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// let timed = ring.write_at(&file, b"bounded".to_vec(), 0).timeout(Duration::from_secs(5));
    /// let in_flight = timed.submit()?; // the write and its timer, linked
    /// let (n, _buf) = in_flight.wait();
    /// assert_eq!(n?, 7);
    /// # Ok(()) }
    /// ```
    pub fn submit(self) -> Result<TimedInFlight<'ring, T>, SubmitError<Self>> {
        let ring = Group::ring(&self.chain);
        match self.chain.submit() {
            Ok(flight) => {
                let (op, timer) = flight.into_landings();
                Ok(TimedInFlight {
                    ring,
                    op,
                    timer,
                    fired: None,
                })
            }
            Err(err) => {
                let (error, chain) = err.into_parts();
                Err(SubmitError::new(error, Self { chain }))
            }
        }
    }
}

impl<T: OpCode> SubmitError<Timed<'_, T>> {
    /// The operation's output as if it had failed with this error (its buffer back).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::time::Duration;
    /// use safer_ring::SaferRingError;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// let too_many = vec![vec![0u8; 1]; 1025]; // more buffers than the kernel takes
    /// let timed = ring.readv_at(&file, too_many, 0).timeout(Duration::from_secs(1));
    /// let (res, bufs) = timed.submit().unwrap_err().into_output();
    /// assert!(matches!(res, Err(SaferRingError::InvalidArgument(_))));
    /// assert_eq!(bufs.len(), 1025); // every buffer back
    /// # Ok(()) }
    /// ```
    pub fn into_output(self) -> T::Output {
        let (error, timed) = self.into_parts();
        SubmitError::new(error, timed.chain).into_output().0
    }
}

/// A submitted [`Timed`] operation. Dropping it mid-flight cancels both the operation and
/// its timer; their memory stays parked until their CQEs.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use std::time::Duration;
/// let ring = safer_ring::Ring::new(8)?;
/// let in_flight = ring.nop().timeout(Duration::from_secs(5)).submit()?; // TimedInFlight
/// in_flight.wait()?; // finished first: the timer is cancelled
/// # Ok(()) }
/// ```
#[must_use = "dropping a submitted operation cancels it"]
pub struct TimedInFlight<'ring, T: OpCode> {
    ring: &'ring Ring,
    op: Landing<'ring, T>,
    timer: Landing<'ring, LinkTimeout>,
    /// Whether the timer fired, once its CQE was taken.
    fired: Option<bool>,
}

impl<T: OpCode> std::fmt::Debug for TimedInFlight<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimedInFlight")
            .field("op", &T::NAME)
            .field("fired", &self.fired)
            .finish_non_exhaustive()
    }
}

impl<T: OpCode> TimedInFlight<'_, T> {
    /// Blocks until the operation completed or timed out; returns its output.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::io::Write;
    /// use std::time::{Duration, Instant};
    /// let ring = safer_ring::Ring::new(8)?;
    /// let (reader, mut writer) = std::io::pipe()?;
    /// let reader = safer_ring::File::from(std::os::fd::OwnedFd::from(reader));
    /// let timed = ring.read(&reader, Vec::with_capacity(8)).timeout(Duration::from_secs(5));
    /// let in_flight = timed.submit()?;
    /// let start = Instant::now();
    /// writer.write_all(b"soon")?;
    /// let (n, buf) = in_flight.wait(); // returns with the data, not at the deadline
    /// assert_eq!(&buf[..n?], b"soon");
    /// assert!(start.elapsed() < Duration::from_secs(5));
    /// # Ok(()) }
    /// ```
    ///
    /// # Panics
    /// If `io_uring_enter` fails for a reason other than an interruption (a broken ring).
    pub fn wait(self) -> T::Output {
        group::wait(self, T::NAME)
    }
}

impl<'ring, T: OpCode> InFlightGroup<'ring> for TimedInFlight<'ring, T> {
    type Output = T::Output;

    fn ring(&self) -> &'ring Ring {
        self.ring
    }

    /// The timer's CQE first (the kernel always posts one: `-ETIME` if it fired,
    /// `-ECANCELED` if the operation finished first), then the operation's: cancelled by a
    /// timer that fired means timed out.
    fn poll_land(&mut self, waker: Option<&Waker>) -> Poll<T::Output> {
        let fired = match self.fired {
            Some(fired) => fired,
            None => {
                if !self.timer.land(waker, |_, _| None) {
                    return Poll::Pending;
                }
                let fired = matches!(self.timer.take(), Ok(true));
                *self.fired.insert(fired)
            }
        };
        let timed_out = |cqe: CqeResult, op| {
            (fired && cqe.res() == -libc::ECANCELED).then_some(SaferRingError::TimedOut { op })
        };
        if !self.op.land(waker, timed_out) {
            return Poll::Pending;
        }
        Poll::Ready(self.op.take())
    }
}

impl<'ring, T: OpCode> Group<'ring> for Timed<'ring, T> {
    type InFlight = TimedInFlight<'ring, T>;
    type Output = T::Output;

    fn ring(&self) -> &'ring Ring {
        Group::ring(&self.chain)
    }

    fn submit_group(self) -> Result<Self::InFlight, SubmitError<Self>> {
        self.submit()
    }

    fn refused(err: SubmitError<Self>) -> T::Output {
        err.into_output()
    }
}

/// The future of a [`Timed`] operation (or of a submitted one): `.await` it, or run it
/// with [`Ring::block_on`].
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use std::future::IntoFuture;
/// use std::time::Duration;
/// use safer_ring::{SaferRingError, fs::opcodes::Read, op::TimedFuture};
/// let ring = safer_ring::Ring::new(8)?;
/// let (reader, _writer) = std::io::pipe()?;
/// let reader = safer_ring::File::from(std::os::fd::OwnedFd::from(reader));
/// let timed = ring.read(&reader, vec![0u8; 8]).timeout(Duration::from_millis(5));
/// let future: TimedFuture<'_, Read<Vec<u8>>> = timed.into_future();
/// let (res, buf) = ring.block_on(future);
/// assert!(matches!(res, Err(SaferRingError::TimedOut { .. })));
/// assert_eq!(buf.len(), 8);
/// # Ok(()) }
/// ```
pub type TimedFuture<'ring, T> = GroupFuture<'ring, Timed<'ring, T>>;

impl<'ring, T: OpCode> IntoFuture for Timed<'ring, T> {
    type Output = T::Output;
    type IntoFuture = TimedFuture<'ring, T>;

    fn into_future(self) -> Self::IntoFuture {
        GroupFuture::building(self)
    }
}

impl<'ring, T: OpCode> IntoFuture for TimedInFlight<'ring, T> {
    type Output = T::Output;
    type IntoFuture = TimedFuture<'ring, T>;

    fn into_future(self) -> Self::IntoFuture {
        GroupFuture::in_flight(self)
    }
}
