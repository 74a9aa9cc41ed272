//! [`Batch`]: any number of operations of one type, submitted together, with `after` edges
//! between them forming a DAG. Runs of single-parent edges become kernel links; an entry
//! with several parents waits in the batch until all of them completed.
#![allow(unsafe_code)]

use std::future::IntoFuture;
use std::task::{Poll, Waker};

use super::group::{self, Group, GroupFuture, InFlightGroup};
use super::landing::{Landing, Link};
use super::plan::Plan;
use super::{Op, OpCode};
use crate::error::{Result, SaferRingError, SubmitError};
use crate::ring::slots::SlotKey;
use crate::ring::{Ring, is_backpressure};

/// An entry of a [`Batch`], for [`Batch::after`] and to index its output.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// let ring = safer_ring::Ring::new(8)?;
/// let mut batch = ring.batch();
/// let first = batch.push(ring.nop());
/// let second = batch.push(ring.nop());
/// batch.after(second, first);
/// assert_eq!((first.index(), second.index()), (0, 1));
/// let outputs = batch.submit()?.wait();
/// assert!(outputs[second.index()].is_ok());
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId(pub(super) usize);

impl EntryId {
    /// The entry's index: its position in [`BatchInFlight::wait`]'s output.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(8)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// ring.write_at(&file, b"abcd".to_vec(), 0).submit()?.wait().0?;
    /// let mut batch = ring.batch();
    /// let ids: Vec<_> = (0..4)
    ///     .map(|i| batch.push(ring.read_at(&file, Vec::with_capacity(1), i)))
    ///     .collect();
    /// let outputs = batch.submit()?.wait();
    /// assert_eq!(outputs[ids[2].index()].1, b"c"); // the read at offset 2
    /// # Ok(()) }
    /// ```
    pub fn index(self) -> usize {
        self.0
    }
}

/// Operations of one type submitted together, each owning its buffers, with optional
/// dependencies: [`after`](Batch::after) edges, which must form a DAG (a cycle is refused at
/// [`submit`](Batch::submit)). Entries with no edges all reach the kernel in one
/// `io_uring_enter`; a chain of single-parent edges becomes one soft-linked kernel chain; an
/// entry with several parents starts when the last of them completed.
///
/// An entry runs only if every entry it depends on succeeded: if one failed, it (and what
/// depends on it) reports [`CancelledByChain`](SaferRingError::CancelledByChain) with its
/// buffer back. (Inside a linked run, a short transfer also breaks the link, as the kernel
/// decides; between runs only an error does.)
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// let ring = safer_ring::Ring::new(16)?;
/// let file = safer_ring::File::from(tempfile::tempfile()?);
/// let mut batch = ring.batch();
/// let a = batch.push(ring.write_at(&file, b"aa".to_vec(), 0));
/// let b = batch.push(ring.write_at(&file, b"bb".to_vec(), 2));
/// let ab = batch.push(ring.write_at(&file, b"!".to_vec(), 4));
/// batch.after(ab, a).after(ab, b); // the last write starts after both others
/// let results = batch.submit()?.wait();
/// assert!(results.iter().all(|(res, _)| res.is_ok()));
/// # Ok(()) }
/// ```
#[must_use = "a batch does nothing until submitted or awaited"]
pub struct Batch<'ring, T: OpCode> {
    ring: &'ring Ring,
    ops: Vec<Op<'ring, T>>,
    /// `(entry, parent)`: `entry` starts after `parent` completed.
    edges: Vec<(usize, usize)>,
}

impl<T: OpCode> std::fmt::Debug for Batch<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("op", &T::NAME)
            .field("entries", &self.ops.len())
            .field("edges", &self.edges.len())
            .finish_non_exhaustive()
    }
}

impl Ring {
    /// An empty [`Batch`] of operations of one type on this ring.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(64)?;
    /// let mut batch = ring.batch();
    /// for _ in 0..32 {
    ///     batch.push(ring.nop());
    /// }
    /// let outputs = ring.block_on(batch); // one system call for all 32
    /// assert!(outputs.iter().all(Result::is_ok));
    /// # Ok(()) }
    /// ```
    pub fn batch<T: OpCode>(&self) -> Batch<'_, T> {
        Batch {
            ring: self,
            ops: Vec::new(),
            edges: Vec::new(),
        }
    }
}

impl<'ring, T: OpCode> Batch<'ring, T> {
    /// Adds an operation; its output will be at [`EntryId::index`] of the batch's output.
    /// Entries are numbered in the order they were pushed.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(8)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// let mut batch = ring.batch();
    /// let short = batch.push(ring.write_at(&file, b"ab".to_vec(), 0));
    /// let long = batch.push(ring.write_at(&file, b"cdef".to_vec(), 2));
    /// assert_eq!((short.index(), long.index()), (0, 1));
    /// let outputs = batch.submit()?.wait();
    /// let (n, buf) = &outputs[long.index()];
    /// assert_eq!((*n.as_ref().unwrap(), &buf[..]), (4, &b"cdef"[..]));
    /// # Ok(()) }
    /// ```
    pub fn push(&mut self, op: Op<'ring, T>) -> EntryId {
        self.ops.push(op);
        EntryId(self.ops.len() - 1)
    }

    /// Makes `entry` start only after `parent` completed successfully; if `parent` fails,
    /// `entry` does not run and reports
    /// [`CancelledByChain`](SaferRingError::CancelledByChain) with its buffer back.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{File, SaferRingError};
    /// let ring = safer_ring::Ring::new(8)?;
    /// let tmp = tempfile::NamedTempFile::new()?;
    /// let read_only = File::from(std::fs::File::open(tmp.path())?);
    /// let log = File::from(tempfile::tempfile()?);
    /// let mut batch = ring.batch();
    /// let save = batch.push(ring.write_at(&read_only, b"data".to_vec(), 0)); // fails: EBADF
    /// let note = batch.push(ring.write_at(&log, b"saved".to_vec(), 0));
    /// batch.after(note, save);
    /// let mut outputs = batch.submit()?.wait();
    /// let (noted, buf) = outputs.remove(note.index());
    /// assert!(matches!(noted, Err(SaferRingError::CancelledByChain { failed_entry: 0, .. })));
    /// assert_eq!(buf, b"saved");
    /// assert!(ring.statx_file(&log).submit()?.wait()?.is_empty()); // never written
    /// # Ok(()) }
    /// ```
    pub fn after(&mut self, entry: EntryId, parent: EntryId) -> &mut Self {
        self.edges.push((entry.0, parent.0));
        self
    }

    /// Entries in the batch.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(8)?;
    /// let mut batch = ring.batch();
    /// assert_eq!(batch.len(), 0);
    /// batch.push(ring.nop());
    /// batch.push(ring.nop());
    /// assert_eq!(batch.len(), 2);
    /// assert_eq!(batch.submit()?.wait().len(), 2); // one output per entry
    /// # Ok(()) }
    /// ```
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch has no entries. An empty batch submits and completes at once,
    /// with no outputs.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::op::Nop;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let batch = ring.batch::<Nop>();
    /// assert!(batch.is_empty());
    /// assert!(batch.submit()?.wait().is_empty());
    /// let mut batch = ring.batch();
    /// batch.push(ring.nop());
    /// assert!(!batch.is_empty());
    /// # drop(batch);
    /// # Ok(()) }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Checks every entry and the edges, then queues every entry that depends on nothing
    /// (the rest follow as their parents complete).
    ///
    /// # Errors
    /// The batch comes back whole if its edges form a cycle or name an entry of another
    /// batch ([`InvalidArgument`](SaferRingError::InvalidArgument)), an entry belongs to
    /// another ring, or an entry is refused (unsupported, invalid).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::SaferRingError;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let mut batch = ring.batch();
    /// let (a, b) = (batch.push(ring.nop()), batch.push(ring.nop()));
    /// batch.after(a, b).after(b, a); // a cycle
    /// let err = batch.submit().unwrap_err();
    /// assert!(matches!(err.error(), SaferRingError::InvalidArgument(_)));
    /// assert_eq!(ring.in_flight(), 0); // nothing was queued
    ///
    /// let mut batch = err.into_inner(); // the batch comes back whole
    /// assert_eq!(batch.len(), 2);
    /// batch.push(ring.nop());
    /// # drop(batch);
    /// # Ok(()) }
    /// ```
    pub fn submit(mut self) -> Result<BatchInFlight<'ring, T>, SubmitError<Self>> {
        let cap = self.ring.capacity().min(32);
        let plan = match Plan::new(self.ops.len(), &self.edges, cap) {
            Ok(plan) => plan,
            Err(error) => return Err(SubmitError::new(error, self)),
        };
        if let Err(error) = self.check() {
            return Err(SubmitError::new(error, self));
        }
        let mut flight = BatchInFlight {
            ring: self.ring,
            entries: self.ops.into_iter().map(Entry::Waiting).collect(),
            plan,
            landed: 0,
            stalled: false,
        };
        flight.pump();
        Ok(flight)
    }

    fn check(&mut self) -> Result<()> {
        for op in &mut self.ops {
            if !std::ptr::eq(op.ring(), self.ring) {
                let what = "an entry of the batch";
                return Err(SaferRingError::RingMismatch { what });
            }
            op.check()?;
        }
        Ok(())
    }
}

impl<T: OpCode> SubmitError<Batch<'_, T>> {
    /// Every entry's output as if it had failed with this error (the first entry gets the
    /// error, the others `CancelledByChain`); every buffer comes back.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::SaferRingError;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// let mut batch = ring.batch();
    /// let a = batch.push(ring.write_at(&file, b"first".to_vec(), 0));
    /// let b = batch.push(ring.write_at(&file, b"second".to_vec(), 5));
    /// batch.after(a, b).after(b, a); // a cycle: refused
    /// let outputs = batch.submit().unwrap_err().into_output();
    /// assert!(matches!(outputs[0].0, Err(SaferRingError::InvalidArgument(_))));
    /// assert!(matches!(outputs[1].0, Err(SaferRingError::CancelledByChain { .. })));
    /// assert_eq!((&outputs[0].1[..], &outputs[1].1[..]), (&b"first"[..], &b"second"[..]));
    /// # Ok(()) }
    /// ```
    pub fn into_output(self) -> Vec<T::Output> {
        let (error, batch) = self.into_parts();
        let mut error = Some(error);
        batch
            .ops
            .into_iter()
            .map(|op| {
                let name = op.name();
                op.fail(error.take().unwrap_or(SaferRingError::CancelledByChain {
                    op: name,
                    failed_entry: 0,
                }))
            })
            .collect()
    }
}

/// An entry of a submitted batch.
enum Entry<'ring, T: OpCode> {
    /// Not pushed yet: waiting for its parents.
    Waiting(Op<'ring, T>),
    /// Pushed (or landed).
    Pushed(Landing<'ring, T>),
}

/// A submitted [`Batch`]: [`wait`](Self::wait) for it or `.await` it. Dropping it cancels
/// what is in flight (its buffers parked until their CQEs) and drops what never started.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// let ring = safer_ring::Ring::new(8)?;
/// let file = safer_ring::File::from(tempfile::tempfile()?);
/// let mut batch = ring.batch();
/// for i in 0..3u64 {
///     batch.push(ring.write_at(&file, vec![b'0' + i as u8], i));
/// }
/// let in_flight = batch.submit()?; // BatchInFlight
/// let results = ring.block_on(in_flight); // or `.wait()`
/// assert_eq!(results.len(), 3);
/// # Ok(()) }
/// ```
#[must_use = "dropping a submitted batch cancels it"]
pub struct BatchInFlight<'ring, T: OpCode> {
    ring: &'ring Ring,
    entries: Vec<Entry<'ring, T>>,
    plan: Plan,
    landed: usize,
    /// A ready run found no room in the ring (retried at the next turn).
    stalled: bool,
}

impl<T: OpCode> std::fmt::Debug for BatchInFlight<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchInFlight")
            .field("entries", &self.entries.len())
            .field("landed", &self.landed)
            .finish_non_exhaustive()
    }
}

impl<'ring, T: OpCode> BatchInFlight<'ring, T> {
    /// Pushes every run whose parents have all completed, until the ring has no room.
    fn pump(&mut self) {
        self.stalled = false;
        while let Some(run) = self.plan.next_ready() {
            if let Some(failed) = self.plan.failed_parent(run) {
                self.fail_run(run, failed);
                continue;
            }
            match self.push_run(run) {
                Ok(()) => {}
                Err(error) if is_backpressure(&error) => {
                    self.plan.retry_later(run);
                    self.stalled = true;
                    return;
                }
                Err(error) => self.fail_run_with(run, error),
            }
        }
    }

    /// Queues one run as a linked group.
    fn push_run(&mut self, run: usize) -> Result<()> {
        let nodes = self.plan.nodes(run).to_vec();
        for &i in &nodes {
            // User code (buffer hooks) runs before any SQE of the run is queued (invariant 11).
            self.waiting(i).before_submit();
        }
        let last = nodes.len() - 1;
        let mut sqes: Vec<_> = nodes
            .iter()
            .enumerate()
            .map(|(pos, &i)| {
                let link = if pos < last { Link::Soft } else { Link::None };
                self.waiting(i).sqe(link.flag())
            })
            .collect();
        let mut keys = vec![SlotKey::default(); nodes.len()];
        // Every SQE was built by its entry's `OpCode::sqe`: it names only memory and fds that
        // entry owns. `push_group` runs no user code and queues all or none; on success each
        // entry moves at once into a `Submitted` state (below), which keeps it until its final
        // CQE (dropped: parked in its slot; forgotten with the batch: leaked).
        // SAFETY: invariants 1, 2, 6 (memory and fds owned by the entries), 3, 4, 11.
        unsafe { self.ring.push_group(&mut sqes, &mut keys) }?;
        for (&i, key) in nodes.iter().zip(keys) {
            let Entry::Waiting(op) = self.take(i) else {
                unreachable!("checked as waiting")
            };
            self.entries[i] = Entry::Pushed(Landing::Flying(op.into_submitted(key)));
        }
        self.ring.sqes_queued(); // user code: every entry is owned by now
        Ok(())
    }

    fn waiting(&mut self, i: usize) -> &mut Op<'ring, T> {
        match &mut self.entries[i] {
            Entry::Waiting(op) => op,
            Entry::Pushed(_) => unreachable!("entry {i} pushed twice"),
        }
    }

    /// Moves entry `i` out (leaving a landed-and-taken placeholder).
    fn take(&mut self, i: usize) -> Entry<'ring, T> {
        std::mem::replace(&mut self.entries[i], Entry::Pushed(Landing::Taken))
    }

    /// A run that cannot start because entry `failed`, which it depends on, failed.
    fn fail_run(&mut self, run: usize, failed: usize) {
        for i in self.plan.nodes(run).to_vec() {
            self.fail_entry(i, |op| SaferRingError::CancelledByChain {
                op,
                failed_entry: failed,
            });
        }
    }

    /// A run the ring refused: its first entry gets `error`, the others `CancelledByChain`.
    fn fail_run_with(&mut self, run: usize, error: SaferRingError) {
        let nodes = self.plan.nodes(run).to_vec();
        self.fail_entry(nodes[0], |_| error);
        for &i in &nodes[1..] {
            let failed_entry = nodes[0];
            self.fail_entry(i, |op| SaferRingError::CancelledByChain {
                op,
                failed_entry,
            });
        }
    }

    /// Fails entry `i` with the error `error` makes of its name.
    fn fail_entry(&mut self, i: usize, error: impl FnOnce(&'static str) -> SaferRingError) {
        let Entry::Waiting(op) = self.take(i) else {
            unreachable!("only waiting entries fail unrun")
        };
        let error = error(op.name());
        self.entries[i] = Entry::Pushed(Landing::Landed(op.fail(error)));
        self.landed += 1;
        self.plan.landed(i, true);
    }

    /// Takes every CQE that arrived, run by run in order, and starts what they unblocked.
    fn poll_entries(&mut self, waker: Option<&Waker>) -> Poll<Vec<T::Output>> {
        loop {
            let mut progress = false;
            for run in 0..self.plan.runs() {
                while let Some(i) = self.plan.next_in_run(run) {
                    let mut failed = false;
                    let (breaks, pos, previous) = self.plan.breaks(run);
                    let Entry::Pushed(landing) = &mut self.entries[i] else {
                        unreachable!("a pushed run's entries are pushed")
                    };
                    let landed = landing.land(waker, |cqe, op| {
                        failed = cqe.res() < 0;
                        breaks.verdict(Link::Soft, (pos, previous), op, cqe)
                    });
                    if !landed {
                        break;
                    }
                    self.landed += 1;
                    self.plan.landed(i, failed);
                    progress = true;
                }
            }
            if self.landed == self.entries.len() {
                return Poll::Ready(self.outputs());
            }
            if progress || self.plan.has_ready() {
                self.pump();
            }
            if !progress {
                return Poll::Pending;
            }
        }
    }

    fn outputs(&mut self) -> Vec<T::Output> {
        let entries = std::mem::take(&mut self.entries);
        entries
            .into_iter()
            .map(|entry| match entry {
                Entry::Pushed(mut landing) => landing.take(),
                Entry::Waiting(_) => unreachable!("every entry landed"),
            })
            .collect()
    }

    /// Blocks until every entry completed (or was cancelled because one it depends on
    /// failed); returns the outputs in entry order.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(8)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// let mut batch = ring.batch();
    /// for (i, word) in ["ring", "of", "writes"].into_iter().enumerate() {
    ///     batch.push(ring.write_at(&file, word.as_bytes().to_vec(), 10 * i as u64));
    /// }
    /// let outputs = batch.submit()?.wait();
    /// let written: Vec<usize> = outputs.into_iter().map(|(n, _)| n.unwrap()).collect();
    /// assert_eq!(written, [4, 2, 6]); // in entry order
    /// # Ok(()) }
    /// ```
    ///
    /// # Panics
    /// If `io_uring_enter` fails for a reason other than an interruption (a broken ring).
    pub fn wait(self) -> Vec<T::Output> {
        group::wait(self, "a batch")
    }
}

/// The future of a [`Batch`] (or of a submitted one): `.await` it, or run it with
/// [`Ring::block_on`].
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use std::future::IntoFuture;
/// use safer_ring::op::{BatchFuture, Nop};
/// let ring = safer_ring::Ring::new(8)?;
/// let mut batch = ring.batch();
/// batch.push(ring.nop());
/// batch.push(ring.nop());
/// let future: BatchFuture<'_, Nop> = batch.into_future(); // submits when first polled
/// let outputs = ring.block_on(future);
/// assert_eq!(outputs.len(), 2);
/// assert!(outputs.into_iter().all(|res| res.is_ok()));
/// # Ok(()) }
/// ```
pub type BatchFuture<'ring, T> = GroupFuture<'ring, Batch<'ring, T>>;

impl<'ring, T: OpCode> Group<'ring> for Batch<'ring, T> {
    type InFlight = BatchInFlight<'ring, T>;
    type Output = Vec<T::Output>;

    fn ring(&self) -> &'ring Ring {
        self.ring
    }

    fn submit_group(self) -> Result<Self::InFlight, SubmitError<Self>> {
        self.submit()
    }

    fn refused(err: SubmitError<Self>) -> Self::Output {
        err.into_output()
    }
}

impl<'ring, T: OpCode> InFlightGroup<'ring> for BatchInFlight<'ring, T> {
    type Output = Vec<T::Output>;

    fn ring(&self) -> &'ring Ring {
        self.ring
    }

    fn poll_land(&mut self, waker: Option<&Waker>) -> Poll<Self::Output> {
        self.poll_entries(waker)
    }

    fn stalled(&self) -> bool {
        self.stalled
    }
}

impl<'ring, T: OpCode> IntoFuture for Batch<'ring, T> {
    type Output = Vec<T::Output>;
    type IntoFuture = BatchFuture<'ring, T>;

    fn into_future(self) -> Self::IntoFuture {
        GroupFuture::building(self)
    }
}

impl<'ring, T: OpCode> IntoFuture for BatchInFlight<'ring, T> {
    type Output = Vec<T::Output>;
    type IntoFuture = BatchFuture<'ring, T>;

    fn into_future(self) -> Self::IntoFuture {
        GroupFuture::in_flight(self)
    }
}
