//! [`Operation`] and its states: the type-state machine every operation goes through, and
//! the one place an SQE built from an operation is pushed (`submit`).
#![allow(unsafe_code)]

use std::mem::ManuallyDrop;

use super::OpCode;
use super::options::SqeOptions;
use crate::error::{Result, SubmitError};
use crate::ring::Ring;
use crate::ring::parked::{Finish, Parked};
use crate::ring::slots::{CqeResult, SlotKey};

/// An operation being built: what every ring method returns.
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{File, fs::opcodes::Write, op::Op};
/// /// Builds (does not submit) a write of `text` at the end of what `file` holds.
/// fn append<'r>(
///     ring: &'r safer_ring::Ring,
///     file: &File,
///     text: &str,
/// ) -> std::io::Result<Op<'r, Write<Vec<u8>>>> {
///     let len = file.try_clone_std()?.metadata()?.len();
///     Ok(ring.write_at(file, text.as_bytes().to_vec(), len))
/// }
/// let ring = safer_ring::Ring::new(4)?;
/// let file = File::from(tempfile::tempfile()?);
/// append(&ring, &file, "one ")?.submit()?.wait().0?;
/// append(&ring, &file, "two")?.submit()?.wait().0?;
/// let (n, buf) = ring.read_at(&file, Vec::with_capacity(16), 0).submit()?.wait();
/// assert_eq!(&buf[..n?], b"one two");
/// # Ok(()) }
/// ```
pub type Op<'ring, T> = Operation<'ring, Building<T>>;

/// A buffer handed back with the result of the operation that used it.
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::BufResult;
/// let ring = safer_ring::Ring::new(4)?;
/// let file = safer_ring::File::from(tempfile::tempfile()?);
/// let written: BufResult<usize, Vec<u8>> =
///     ring.write_at(&file, b"mine".to_vec(), 0).submit()?.wait();
/// let (res, buf) = written;
/// assert_eq!((res?, buf), (4, b"mine".to_vec())); // the result, and the buffer back
/// let read: BufResult<usize, Vec<u8>> =
///     ring.read_at(&file, Vec::with_capacity(8), 0).submit()?.wait();
/// let (res, buf) = read;
/// assert_eq!(&buf[..res?], b"mine");
/// # Ok(()) }
/// ```
pub type BufResult<T, B> = (Result<T>, B);

mod sealed {
    pub trait Sealed {}
}

/// The states of an [`Operation`]. Sealed: only [`Building`], [`Submitted`], [`Completed`].
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{Operation, Ring, op::State};
/// /// Code for an operation in any state.
/// fn belongs_to<S: State>(op: &Operation<'_, S>, ring: &Ring) -> bool {
///     std::ptr::eq(op.ring(), ring)
/// }
/// let (ring, other) = (Ring::new(4)?, Ring::new(4)?);
/// let building = ring.nop();
/// assert!(belongs_to(&building, &ring) && !belongs_to(&building, &other));
/// let submitted = building.submit()?;
/// assert!(belongs_to(&submitted, &ring));
/// let completed = submitted.wait_completed();
/// assert!(belongs_to(&completed, &ring));
/// # Ok(()) }
/// ```
pub trait State: sealed::Sealed {
    /// Called when an operation in this state is dropped.
    #[doc(hidden)]
    fn abandon(self, ring: &Ring);
}

/// An operation being configured; nothing has reached the kernel yet.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{Building, Operation, fs::opcodes::Read};
/// let ring = safer_ring::Ring::new(4)?;
/// let file = safer_ring::File::from(tempfile::tempfile()?);
/// // Options are set while building; nothing has reached the kernel yet.
/// let op: Operation<'_, Building<Read<Vec<u8>>>> = ring.read(&file, Vec::with_capacity(8)).async_hint();
/// assert_eq!(ring.in_flight(), 0);
/// let (n, _buf) = op.submit()?.wait();
/// assert_eq!(n?, 0); // an empty file
/// # Ok(()) }
/// ```
pub struct Building<T: OpCode> {
    pub(super) op: T,
    pub(super) opts: SqeOptions,
}

/// An operation queued for, or held by, the kernel.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// let ring = safer_ring::Ring::new(4)?;
/// let (reader, _writer) = std::io::pipe()?;
/// let reader = safer_ring::File::from(std::os::fd::OwnedFd::from(reader));
/// let read = ring.read(&reader, vec![0u8; 16]).submit()?; // Operation<Submitted<Read<_>>>
/// // Poll without blocking: handed back while the kernel holds it.
/// let read = read.try_complete().expect_err("nothing to read yet");
/// drop(read); // safe: parked in its slot and cancelled
/// # Ok(()) }
/// ```
pub struct Submitted<T: OpCode> {
    key: SlotKey,
    op: T,
}

/// A finished operation holding its output.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// let ring = safer_ring::Ring::new(4)?;
/// let done = ring.nop().submit()?.wait_completed(); // Operation<Completed<Result<()>>>
/// assert!(done.output().is_ok());
/// done.into_output()?;
/// # Ok(()) }
/// ```
pub struct Completed<O> {
    output: O,
}

impl<T: OpCode> sealed::Sealed for Building<T> {}
impl<T: OpCode> sealed::Sealed for Submitted<T> {}
impl<O> sealed::Sealed for Completed<O> {}

impl<T: OpCode> State for Building<T> {
    fn abandon(self, _ring: &Ring) {}
}

impl<O> State for Completed<O> {
    fn abandon(self, _ring: &Ring) {}
}

impl<T: OpCode> State for Submitted<T> {
    /// Dropped mid-flight: the operation (buffers, fds, iovecs) moves into its slot, an async
    /// cancel is queued, and the slot finishes and releases it at the final CQE (invariant 3).
    fn abandon(self, ring: &Ring) {
        ring.abandon_op(self.key, Parked::new(ParkedOp(self.op)));
    }
}

/// An abandoned operation waiting in its slot for the final CQE.
struct ParkedOp<T>(T);

impl<T: OpCode> Finish for ParkedOp<T> {
    #[inline]
    fn finish(self: Box<Self>, cqe: CqeResult) {
        // Completing processes what the kernel produced (an opened fd gets closed, a read
        // buffer gets its length) and dropping the output releases it all.
        drop(self.0.complete(cqe));
    }
}

/// An io_uring operation in state `S` on a ring that outlives it.
///
/// See the [module docs](crate::op) for the lifecycle.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// let ring = safer_ring::Ring::new(8)?;
/// let file = safer_ring::File::from(tempfile::tempfile()?);
/// let building = ring.write_at(&file, b"states".to_vec(), 0); // Building
/// let submitted = building.submit()?; //                            Submitted
/// let completed = submitted.wait_completed(); //                    Completed
/// let (n, buf) = completed.into_output();
/// assert_eq!((n?, buf.len()), (6, 6));
/// # Ok(()) }
/// ```
#[must_use = "an operation does nothing until submitted or awaited"]
pub struct Operation<'ring, S: State> {
    ring: &'ring Ring,
    /// Moved out exactly once: by a transition ([`Operation::into_state`], which skips
    /// `Drop`) or by `Drop` (which abandons it).
    pub(super) state: ManuallyDrop<S>,
}

impl<'ring, S: State> Operation<'ring, S> {
    #[inline]
    pub(super) fn new(ring: &'ring Ring, state: S) -> Self {
        Self {
            ring,
            state: ManuallyDrop::new(state),
        }
    }

    /// Consumes the operation for a transition: its state moves on, nothing is abandoned.
    #[inline]
    pub(super) fn into_state(self) -> S {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: invariants 3 and 4 — the state owns every resource the kernel may use, so
        // it must move out exactly once. `this` is never dropped nor used again, so this is
        // the only move out of it (the other, in `Drop`, cannot run for `this`).
        unsafe { ManuallyDrop::take(&mut this.state) }
    }

    #[inline]
    fn state_ref(&self) -> &S {
        &self.state
    }

    /// The ring this operation belongs to, in any state.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let op = ring.nop().submit()?;
    /// assert!(std::ptr::eq(op.ring(), &ring));
    /// assert_eq!(op.ring().in_flight(), 1);
    /// op.wait()?;
    /// # Ok(()) }
    /// ```
    pub fn ring(&self) -> &'ring Ring {
        self.ring
    }
}

impl<S: State> std::fmt::Debug for Operation<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operation")
            .field("state", &std::any::type_name::<S>())
            .finish_non_exhaustive()
    }
}

impl<S: State> Drop for Operation<'_, S> {
    fn drop(&mut self) {
        // SAFETY: invariants 3 and 4 — `drop` runs at most once and never after `into_state`
        // (which wraps the operation in `ManuallyDrop`), so the state is still here and is
        // moved out exactly once, to be abandoned (parked in its slot if in flight).
        let state = unsafe { ManuallyDrop::take(&mut self.state) };
        state.abandon(self.ring);
    }
}

impl<'ring, T: OpCode> Operation<'ring, Building<T>> {
    #[inline]
    pub(crate) fn build(ring: &'ring Ring, op: T) -> Self {
        Self::new(
            ring,
            Building {
                op,
                opts: SqeOptions::default(),
            },
        )
    }

    fn opts_mut(&mut self) -> &mut SqeOptions {
        &mut self.state.opts
    }

    /// Ask the kernel to run this operation asynchronously (in its worker pool) instead of
    /// trying it inline first (`IOSQE_ASYNC`). Useful for operations known to block. The
    /// result is the same.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// ring.write_at(&file, b"punted".to_vec(), 0).async_hint().submit()?.wait().0?;
    /// let (n, buf) = ring.read_at(&file, Vec::with_capacity(8), 0).async_hint().submit()?.wait();
    /// assert_eq!(&buf[..n?], b"punted");
    /// # Ok(()) }
    /// ```
    pub fn async_hint(mut self) -> Self {
        self.opts_mut().async_hint = true;
        self
    }

    /// Starts the operation only once every operation submitted before it has completed, and
    /// holds back those submitted after it until it has (`IOSQE_IO_DRAIN`): a barrier.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(8)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// let write = ring.write_at(&file, b"data".to_vec(), 0).submit()?;
    /// let sync = ring.fsync(&file).drain().submit()?; // runs after the write
    /// assert_eq!(write.wait().0?, 4);
    /// sync.wait()?;
    /// # Ok(()) }
    /// ```
    pub fn drain(mut self) -> Self {
        self.opts_mut().drain = true;
        self
    }

    /// Queues the operation. It reaches the kernel at the next flush ([`Ring::submit`], a
    /// wait, or an executor turn).
    ///
    /// # Errors
    /// The operation comes back whole inside [`SubmitError`] when the ring is at its
    /// in-flight limit ([`SlotTableFull`](crate::SaferRingError::SlotTableFull)), the queue
    /// cannot be flushed, or an argument is invalid.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::SaferRingError;
    /// let ring = safer_ring::Ring::new(4)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// let op = ring.write_at(&file, b"queued".to_vec(), 0).submit()?;
    /// assert_eq!(ring.in_flight(), 1);
    /// assert_eq!(op.wait().0?, 6);
    /// let bad = ring.open("a\0path", safer_ring::OpenOptions::new()); // refused, not queued
    /// let err = bad.submit().unwrap_err();
    /// assert!(matches!(err.error(), SaferRingError::InvalidArgument(_)));
    /// assert_eq!(ring.in_flight(), 0);
    /// # Ok(()) }
    /// ```
    #[inline(always)]
    pub fn submit(mut self) -> Result<Operation<'ring, Submitted<T>>, SubmitError<Self>> {
        let ring = self.ring;
        if let Err(error) = self.check() {
            return Err(Self::refused(error, self));
        }
        // Built in place: the operation moves once, into its `Submitted` state. User code
        // (buffer hooks, `IoBuf` methods) runs only before the push: a panic there unwinds
        // with nothing queued and drops the building operation (invariant 11).
        let state = &mut *self.state;
        state.op.before_submit();
        let mut entry = state.op.sqe();
        state.opts.apply(&mut entry);
        // `OpCode`'s contract makes every pointer in `entry` point into heap memory owned by
        // `op`, stable across moves, and every fd a handle `op` holds. `push_op` runs no user
        // code; on success `op` moves at once into the `Submitted` state, which keeps it until
        // the final CQE: its owner completes it, dropping it (also in an unwind) parks `op` in
        // the slot, forgetting it leaks `op` with its memory.
        // SAFETY: invariants 1, 2, 6 (memory and fds owned by `op`), 3, 4 (kept or leaked), 11.
        match unsafe { ring.push_op(&mut entry) } {
            Ok(key) => {
                let op = self.into_state().op;
                let submitted = Operation::new(ring, Submitted { key, op });
                #[cfg(feature = "tracing")]
                if ring.tracing() {
                    trace_start(ring, key, &submitted.state_ref().op);
                }
                ring.sqes_queued(); // user code: the operation is owned by now
                Ok(submitted)
            }
            Err(error) => Err(Self::refused(error, self)),
        }
    }

    /// The operation handed back whole with the reason it was not submitted.
    #[cold]
    #[inline(never)]
    fn refused(error: crate::SaferRingError, op: Self) -> SubmitError<Self> {
        SubmitError::new(error, op)
    }

    /// Consumes the operation without submitting it, producing the output it would have had
    /// if it failed with `error` (hands the buffer back).
    pub(crate) fn fail(self, error: crate::SaferRingError) -> T::Output {
        self.into_state().op.fail(error)
    }

    /// The operation's name in errors (see [`OpCode::name`]).
    pub(super) fn name(&self) -> &'static str {
        self.state_ref().op.name()
    }

    /// What [`submit`](Self::submit) checks before anything runs: the kernel has the
    /// opcode, the arguments are valid for this ring (and bound to it).
    #[inline]
    pub(super) fn check(&mut self) -> Result<()> {
        check(self.ring, &mut self.state.op)
    }

    /// The buffer hooks `submit` runs right before the push (user code: call it before any
    /// SQE of the group is queued).
    pub(super) fn before_submit(&mut self) {
        self.state.op.before_submit();
    }

    /// The operation's SQE with its options and `extra` flags (a link) applied.
    pub(super) fn sqe(&mut self, extra: io_uring::squeue::Flags) -> io_uring::squeue::Entry {
        let mut entry = self.state.op.sqe();
        self.state.opts.apply(&mut entry);
        entry.flags(extra)
    }

    /// The operation in flight in `key`'s slot, once its SQE (from [`sqe`](Self::sqe)) was
    /// pushed there: from here on the `Submitted` state owns it until the final CQE.
    pub(super) fn into_submitted(self, key: SlotKey) -> Operation<'ring, Submitted<T>> {
        let ring = self.ring;
        let Building { op, .. } = self.into_state();
        #[cfg(feature = "tracing")]
        if ring.tracing() {
            trace_start(ring, key, &op);
        }
        Operation::new(ring, Submitted { key, op })
    }
}

/// Records the start of `key`'s operation `op` for its `tracing` events (out of line: the
/// push path only checks [`Ring::tracing`]).
#[cfg(feature = "tracing")]
#[cold]
#[inline(never)]
fn trace_start<T: OpCode>(ring: &Ring, key: SlotKey, op: &T) {
    ring.trace_start(key, op.name(), op.fd());
}

/// The checks before a push: `op`'s arguments are valid on `ring`, which can run it.
#[inline]
fn check<T: OpCode>(ring: &Ring, op: &mut T) -> Result<()> {
    op.validate(ring)?;
    super::opcode::runnable(ring, op.opcode(), op.name())
}

impl<T: OpCode> SubmitError<Operation<'_, Building<T>>> {
    /// The output the operation would have had if it failed with this error: for buffer
    /// operations `(Err(error), buffer)`, the buffer handed back unchanged.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::builder().max_in_flight(2).build()?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// let (empty, _writer) = std::io::pipe()?;
    /// let empty = safer_ring::File::from(std::os::fd::OwnedFd::from(empty));
    /// let held: Vec<_> = (0..ring.capacity()) // reads that wait: the ring is at its limit
    ///     .map(|_| ring.read(&empty, vec![0; 8]).submit())
    ///     .collect::<Result<_, _>>()?;
    /// let err = ring.write_at(&file, b"kept".to_vec(), 0).submit().unwrap_err();
    /// let (res, buf) = err.into_output();
    /// assert!(res.is_err());
    /// assert_eq!(buf, b"kept");
    /// # drop(held);
    /// # Ok(()) }
    /// ```
    pub fn into_output(self) -> T::Output {
        let (error, op) = self.into_parts();
        op.fail(error)
    }
}

impl<'ring, T: OpCode> Operation<'ring, Submitted<T>> {
    /// The operation's name in errors (see [`OpCode::name`]).
    pub(super) fn name(&self) -> &'static str {
        self.state_ref().op.name()
    }

    #[inline(always)]
    pub(super) fn finish(self, cqe: CqeResult) -> T::Output {
        self.into_state().op.complete(cqe)
    }

    /// The output for an operation whose final CQE was taken but which did not run (a chain
    /// broke before it, its timeout fired): `error`, with its buffers handed back.
    pub(super) fn finish_as(self, error: crate::SaferRingError) -> T::Output {
        self.into_state().op.fail(error)
    }

    /// Asks the kernel to cancel the operation (`IORING_OP_ASYNC_CANCEL`) and hands it back
    /// to be waited for or awaited: its output is what the kernel did before the cancel took
    /// effect — a read that had already completed returns its bytes, one that had not
    /// returns `ECANCELED` and its buffer. Nothing is lost either way.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(8)?;
    /// let (reader, _writer) = std::io::pipe()?;
    /// let reader = safer_ring::File::from(std::os::fd::OwnedFd::from(reader));
    /// let read = ring.read(&reader, vec![0; 8]).submit()?;
    /// let (res, buf) = read.cancel().wait();
    /// assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
    /// assert_eq!(buf.capacity(), 8, "the buffer comes back");
    /// # Ok(()) }
    /// ```
    pub fn cancel(self) -> Self {
        self.ring.cancel_op(self.key());
        self
    }

    #[inline]
    pub(super) fn key(&self) -> SlotKey {
        self.state_ref().key
    }

    /// Completes the operation if its CQE has arrived (flushing and reaping once, without
    /// blocking); otherwise hands it back unchanged.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::io::Write;
    /// let ring = safer_ring::Ring::new(4)?;
    /// let (reader, mut writer) = std::io::pipe()?;
    /// let reader = safer_ring::File::from(std::os::fd::OwnedFd::from(reader));
    /// let read = ring.read(&reader, Vec::with_capacity(8)).submit()?;
    /// let mut read = read.try_complete().expect_err("nothing written yet: still pending");
    /// writer.write_all(b"now")?;
    /// let done = loop {
    ///     match read.try_complete() {
    ///         Ok(done) => break done,
    ///         Err(pending) => read = pending, // not yet: poll again
    ///     }
    /// };
    /// let (n, buf) = done.into_output();
    /// assert_eq!(&buf[..n?], b"now");
    /// # Ok(()) }
    /// ```
    pub fn try_complete(self) -> Result<Operation<'ring, Completed<T::Output>>, Self> {
        let ring = self.ring;
        let cqe = match ring.poll_op(self.key(), None) {
            Some(cqe) => cqe,
            None => {
                // An enter failure leaves the operation pending; report it as not done.
                let _ = ring.turn(false);
                match ring.poll_op(self.key(), None) {
                    Some(cqe) => cqe,
                    None => return Err(self),
                }
            }
        };
        let output = self.finish(cqe);
        Ok(Operation::new(ring, Completed { output }))
    }

    /// Blocks the thread until the operation completes and returns its output (with the
    /// buffer, for buffer operations).
    ///
    /// # Panics
    /// If `io_uring_enter` fails for a reason other than an interruption — which would mean
    /// the ring itself is broken (safe code cannot cause this).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::io::Write;
    /// let ring = safer_ring::Ring::new(4)?;
    /// let (reader, mut writer) = std::io::pipe()?;
    /// let reader = safer_ring::File::from(std::os::fd::OwnedFd::from(reader));
    /// let read = ring.read(&reader, Vec::with_capacity(8)).submit()?;
    /// let feeder = std::thread::spawn(move || writer.write_all(b"later"));
    /// let (n, buf) = read.wait(); // blocks until the other thread wrote
    /// assert_eq!(&buf[..n?], b"later");
    /// feeder.join().unwrap()?;
    /// # Ok(()) }
    /// ```
    #[inline(always)]
    pub fn wait(self) -> T::Output {
        match self.ring.wait_op(self.key()) {
            Ok(cqe) => self.finish(cqe),
            Err(e) => panic!("cannot wait for {}: {e}", T::NAME),
        }
    }

    /// As [`wait`](Self::wait), keeping the [`Completed`] type-state.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{Completed, Operation};
    /// let ring = safer_ring::Ring::new(4)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// let done: Operation<'_, Completed<_>> =
    ///     ring.write_at(&file, b"kept".to_vec(), 0).submit()?.wait_completed();
    /// assert_eq!(*done.output().0.as_ref().unwrap(), 4); // look first...
    /// let (_, buf) = done.into_output(); // ...then take it
    /// assert_eq!(buf, b"kept");
    /// # Ok(()) }
    /// ```
    pub fn wait_completed(self) -> Operation<'ring, Completed<T::Output>> {
        let ring = self.ring;
        Operation::new(
            ring,
            Completed {
                output: self.wait(),
            },
        )
    }
}

impl<O> Operation<'_, Completed<O>> {
    /// The output (for buffer operations, `(result, buffer)`), taken once.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// ring.write_at(&file, b"output".to_vec(), 0).submit()?.wait().0?;
    /// let done = ring.read_at(&file, Vec::with_capacity(8), 0).submit()?.wait_completed();
    /// let (n, buf) = done.into_output();
    /// assert_eq!(&buf[..n?], b"output");
    /// # Ok(()) }
    /// ```
    pub fn into_output(self) -> O {
        self.into_state().output
    }

    /// A reference to the output, leaving it in place.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// let done = ring.read_at(&file, Vec::with_capacity(8), 0).submit()?.wait_completed();
    /// let (res, buf) = done.output();
    /// assert_eq!((*res.as_ref().unwrap(), buf.len()), (0, 0)); // an empty file
    /// assert_eq!(done.output().1.capacity(), 8); // still there
    /// # drop(done.into_output());
    /// # Ok(()) }
    /// ```
    pub fn output(&self) -> &O {
        &self.state_ref().output
    }
}

#[cfg(test)]
mod tests {
    use super::{Building, Operation};
    use crate::{BufferPool, File, Ring, SaferRingError};

    /// Moves an operation built on one ring to another, which safe code cannot do: the
    /// submitting ring must still refuse it (invariant 12, defence in depth).
    fn moved<'b, T: super::OpCode>(
        op: Operation<'_, Building<T>>,
        to: &'b Ring,
    ) -> Operation<'b, Building<T>> {
        Operation::new(to, op.into_state())
    }

    /// Rings A and B with one registered-file slot each, and a file for each (B's with a
    /// std handle to look at it).
    fn two_rings() -> (Ring, Ring, File, File, std::fs::File) {
        let (a, b) = (Ring::new(4).unwrap(), Ring::new(4).unwrap());
        a.register_files(1).unwrap();
        b.register_files(1).unwrap();
        let fa = File::from(tempfile::tempfile().unwrap());
        let std_b = tempfile::tempfile().unwrap();
        let fb = File::from(std_b.try_clone().unwrap());
        (a, b, fa, fb, std_b)
    }

    #[test]
    fn a_registered_file_of_one_ring_is_refused_by_another() {
        let (a, b, fa, fb, std_b) = two_rings();
        let on_a = a.register_file(&fa).unwrap();
        let _on_b = b.register_file(&fb).unwrap(); // same slot index on ring B
        let op = moved(a.write_at(&on_a, b"for a".to_vec(), 0), &b);
        let err = op.submit().unwrap_err();
        assert!(
            matches!(err.error(), SaferRingError::RingMismatch { .. }),
            "{err}"
        );
        let (_, buf) = err.into_output();
        assert_eq!(buf, b"for a", "the buffer comes back");
        assert_eq!((b.in_flight(), std_b.metadata().unwrap().len()), (0, 0));
    }

    #[test]
    fn a_buffer_claim_of_one_ring_is_refused_by_another() {
        let (a, b, fa, ..) = two_rings();
        let (pool_a, pool_b) = (
            BufferPool::new(1, 4096).unwrap(),
            BufferPool::new(1, 4096).unwrap(),
        );
        a.register_pool(&pool_a).unwrap();
        b.register_pool(&pool_b).unwrap();
        let op = moved(a.read_fixed_at(&fa, pool_a.try_get().unwrap(), 0), &b);
        let err = op.submit().unwrap_err();
        assert!(
            matches!(err.error(), SaferRingError::RingMismatch { .. }),
            "{err}"
        );
        drop(err.into_output());
        assert_eq!((b.in_flight(), pool_a.stats().in_use), (0, 0));
    }
}
