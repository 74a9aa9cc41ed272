//! The driver core: its kernel (the `io_uring` instance, `kernel.rs`), the slot table and the
//! submit/reap loop, back-pressure and cancellation.
//!
//! Every SQE reaches the kernel through [`Core::push`], and every wait through
//! [`Core::enter`]: the two `unsafe` calls of the ring. Everything else here is bookkeeping.
//! The fields are private: the rest of `ring/` goes through the methods below, and nothing
//! outside `ring/` sees the core at all. Generic over the kernel, so that its tests drive the
//! same code through a fake completion source (`fake_kernel.rs`).
#![allow(unsafe_code)]

use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use io_uring::{opcode, squeue, types};

use super::after_reap::AfterReap;
use super::kernel::{Backend, Kernel};
use super::parked::Parked;
use super::slots::{Abandon, CqeResult, Delivery, Polled, SlotKey, SlotTable};
use super::stats::RingStats;
use crate::error::{Result, SaferRingError};

/// Tags for the ring's own SQEs (`user_data` with the internal slot index).
pub(crate) mod tag {
    /// An async cancel issued at shutdown.
    pub const CANCEL: u32 = 1;
    /// Set in the tag of an async cancel of one operation; the other bits are its slot index.
    pub const CANCEL_OF: u32 = 1 << 31;
    /// The executor's wake-up eventfd poll.
    pub const WAKE: u32 = 2;
    /// A wake-up another ring posted here with `IORING_OP_MSG_RING` (no SQE of ours).
    pub const MSG_WAKE: u32 = 3;
    /// A file another ring installed in this ring's file table with `IORING_OP_MSG_RING`
    /// (the CQE's result is the slot).
    pub const FILE_IN: u32 = 4;
}

/// The `user_data` of an async cancel of `key`'s operation: internal, naming its slot.
fn cancel_user_data(key: SlotKey) -> u64 {
    debug_assert!(key.index() < tag::CANCEL_OF, "slot indexes fit in 31 bits");
    SlotKey::internal(tag::CANCEL_OF | key.index())
}

/// Cancels that found nothing to cancel while their operation was still in flight.
#[derive(Default)]
struct MissedCancels {
    /// Slots whose cancel came back `ENOENT` since the last reap.
    slots: Vec<u32>,
    /// Abandoned operations cancelled again, and how often.
    retried: Vec<(SlotKey, u8)>,
    /// Operations their owner cancelled (`Operation::cancel`, a chain's or batch's cancel)
    /// while it still owns them: retried as abandoned ones are, while still in flight.
    requested: Vec<SlotKey>,
}

impl MissedCancels {
    /// Retries per operation: enough for a request to settle in a queue a cancel searches.
    const RETRIES: u8 = 8;

    /// Counts a retry for `key`; `false` once it had its share.
    fn may_retry(&mut self, key: SlotKey) -> bool {
        match self.retried.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) if *n >= Self::RETRIES => false,
            Some((_, n)) => {
                *n += 1;
                true
            }
            None => {
                self.retried.push((key, 1));
                true
            }
        }
    }
}

/// Files other rings installed in this ring's table: their slots, in arrival order, and the
/// waker of the one who waits for the next.
#[derive(Default)]
struct FilesIn {
    slots: VecDeque<u32>,
    waker: Option<Waker>,
}

/// A multishot poll the ring keeps on a wake-up eventfd of the layer above (the built-in
/// executor's), so a sleeping `io_uring_enter` returns when another thread signals it.
#[derive(Default)]
struct WakePoll {
    /// The polled fd, held by the ring from the first arming on, so it stays open until
    /// after the poll's final CQE whatever the layer above does (invariant 6).
    fd: Option<Arc<dyn AsFd>>,
    /// The poll is in the kernel.
    armed: bool,
    /// Wake-up CQEs seen since last taken.
    cqes: u32,
}

pub(crate) struct Core<K: Kernel = Backend> {
    kernel: K,
    slots: SlotTable,
    /// Operations (not internal SQEs) the kernel holds: what back-pressure counts.
    ops_in_kernel: usize,
    /// Internal SQEs (cancels, wake poll) whose final CQE is still due.
    internal_in_kernel: usize,
    /// Most operations the kernel may hold at once (`RingBuilder::max_in_flight`).
    limit: usize,
    /// Cancels that found no SQ space; pushed at the next flush.
    pending_cancels: Vec<SlotKey>,
    /// Slots whose cancel found no request (`ENOENT`), and the cancels retried per slot.
    missed_cancels: MissedCancels,
    /// Futures waiting for an operation slot to free up.
    slot_waiters: VecDeque<Waker>,
    stats: RingStats,
    /// Work the last reap or abandon left for after the borrow (see [`AfterReap`]).
    scratch: AfterReap,
    wake: WakePoll,
    files_in: FilesIn,
    /// Start times of the operations in flight, for their completion events.
    #[cfg(feature = "tracing")]
    tracer: super::trace::Tracer,
    /// Test hook: this many upcoming pushes see a full submission queue.
    #[cfg(feature = "test-hooks")]
    fault_sq_full: u32,
    /// Test hook: the next `.1` operation completions are delivered as `-.0`.
    #[cfg(feature = "test-hooks")]
    fault_cqe: (i32, u32),
}

impl Core {
    /// A core around its backend, taking up to `max_in_flight` operations (the CQ size on
    /// a kernel that could drop overflowing CQEs).
    pub fn new(backend: Backend, max_in_flight: usize) -> Self {
        let (cq, nodrop) = backend.cq_entries();
        let limit = if nodrop {
            max_in_flight
        } else {
            max_in_flight.min(cq)
        };
        Self::with_kernel(backend, limit, cq)
    }

    /// Whether the ring fd is registered for this thread.
    pub fn fd_registered(&self) -> bool {
        self.kernel.fd_registered()
    }

    /// The ring's fd.
    pub fn fd(&self) -> RawFd {
        self.kernel.fd()
    }

    /// The registration interface (`io_uring_register`, or the fallback's tables), lent to
    /// the registry.
    pub fn registrar(&self) -> super::registrar::Registrar<'_> {
        self.kernel.registrar()
    }

    /// The opcodes the backend runs.
    pub fn opcodes(&self) -> crate::probe::OpcodeSet {
        self.kernel.opcodes()
    }

    /// Whether this is the fallback backend.
    pub fn is_emulated(&self) -> bool {
        matches!(self.kernel, Backend::Emulated(_))
    }
}

impl<K: Kernel> Core<K> {
    /// The kernel behind the core (the fake one, in the core's tests).
    #[cfg(test)]
    pub fn kernel(&mut self) -> &mut K {
        &mut self.kernel
    }

    /// A core around `kernel` taking up to `limit` operations, with room for `cq` slots
    /// before the table grows.
    pub fn with_kernel(kernel: K, limit: usize, cq: usize) -> Self {
        Self {
            kernel,
            slots: SlotTable::with_capacity(limit.min(cq)),
            ops_in_kernel: 0,
            internal_in_kernel: 0,
            limit,
            pending_cancels: Vec::new(),
            missed_cancels: MissedCancels::default(),
            slot_waiters: VecDeque::new(),
            stats: RingStats::default(),
            scratch: AfterReap::with_room(),
            wake: WakePoll::default(),
            files_in: FilesIn::default(),
            #[cfg(feature = "tracing")]
            tracer: super::trace::Tracer::default(),
            #[cfg(feature = "test-hooks")]
            fault_sq_full: 0,
            #[cfg(feature = "test-hooks")]
            fault_cqe: (0, 0),
        }
    }

    /// Counters so far, and the operations in flight now.
    pub fn stats(&self) -> RingStats {
        RingStats {
            in_flight: self.ops_in_kernel as u64,
            ..self.stats
        }
    }

    /// The start times of the operations in flight (`tracing`).
    #[cfg(feature = "tracing")]
    pub fn tracer(&mut self) -> &mut super::trace::Tracer {
        &mut self.tracer
    }

    /// Operations the kernel holds.
    pub fn ops_in_kernel(&self) -> usize {
        self.ops_in_kernel
    }

    /// Slots in use (see [`SlotTable::live`]).
    pub fn live_slots(&self) -> usize {
        self.slots.live()
    }

    /// Most operations in flight at once.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Whether a reap or abandon left work for after the borrow.
    #[inline]
    pub fn has_deferred(&self) -> bool {
        !self.scratch.is_empty()
    }

    /// Swaps the deferred work with `spare` (empty), for running with the borrow released.
    #[inline]
    pub fn swap_deferred(&mut self, spare: &mut AfterReap) {
        std::mem::swap(spare, &mut self.scratch);
    }

    /// Takes `key`'s completion if it arrived (see [`SlotTable::poll`]).
    #[inline]
    pub fn poll(&mut self, key: SlotKey, waker: Option<&Waker>) -> Polled<CqeResult> {
        self.slots.poll(key, waker)
    }

    /// The next CQE of a stream slot (see [`SlotTable::poll_next`]).
    pub fn poll_next(&mut self, key: SlotKey, waker: &Waker) -> Polled<Option<CqeResult>> {
        self.slots.poll_next(key, waker)
    }

    /// Stores `waker` in `key`'s slot (see [`SlotTable::store_waker`]): the caller drops
    /// what comes back, the replaced or refused waker, after the borrow.
    pub fn store_waker(&mut self, key: SlotKey, waker: Waker) -> Result<Option<Waker>, Waker> {
        self.slots.store_waker(key, waker)
    }

    /// Queues `waker` to be woken when an operation slot frees up (or at the next turn).
    pub fn wait_for_turn(&mut self, waker: Waker) {
        self.slot_waiters.push_back(waker);
    }

    /// Takes every parked resource out of the table (for shutdown to leak, never free).
    pub fn take_all_parked(&mut self) -> Vec<Parked> {
        self.slots.take_all_parked()
    }

    /// Test hook: the next `pushes` pushes find the SQ full.
    #[cfg(feature = "test-hooks")]
    pub fn inject_sq_full(&mut self, pushes: u32) {
        self.fault_sq_full = pushes;
    }

    /// Test hook: the next `count` operation completions report `-errno`.
    #[cfg(feature = "test-hooks")]
    pub fn inject_cqe_errors(&mut self, errno: i32, count: u32) {
        self.fault_cqe = (errno, count);
    }

    /// Whether another operation may enter the kernel now.
    #[inline]
    pub fn has_capacity(&self) -> bool {
        self.ops_in_kernel < self.limit
    }

    /// Whether `n` more operations may enter the kernel now.
    #[inline]
    pub fn has_room_for(&self, n: usize) -> bool {
        self.ops_in_kernel + n <= self.limit
    }

    /// Whether another stream may enter the kernel now: streams leave a quarter of the
    /// limit to one-shot operations, which therefore always progress.
    pub fn has_stream_capacity(&self) -> bool {
        self.ops_in_kernel < self.limit - self.limit / 4
    }

    /// The hot path of [`Core::push_op`]: queues `entry` if there is capacity and SQ room,
    /// otherwise returns `None` and changes nothing (the caller takes the slow path).
    ///
    /// # Safety
    ///
    /// As [`Core::push_op`].
    #[inline(always)]
    pub unsafe fn try_push_op(&mut self, entry: &mut squeue::Entry) -> Option<SlotKey> {
        #[cfg(feature = "test-hooks")]
        if self.fault_sq_full > 0 {
            return None;
        }
        if !self.has_capacity() {
            return None;
        }
        let key = self.slots.insert();
        entry.set_user_data(key.user_data());
        // SAFETY: forwarded from this function's contract (invariants 1–4, 6).
        if !unsafe { self.kernel.push(entry) } {
            self.slots.remove_unsubmitted(key);
            return None;
        }
        self.ops_in_kernel += 1;
        self.stats.submitted += 1;
        Some(key)
    }

    /// Pushes `entry` for a new slot. On success the SQE is queued (it reaches the kernel at
    /// the next `enter`) and the returned key names its slot.
    ///
    /// # Safety
    ///
    /// Every pointer in `entry` must point into memory owned by the operation that built it,
    /// at an address stable across moves, and the operation must from now on be kept alive
    /// until the slot's final CQE: by its owner, by the slot ([`Core::abandon`]) or leaked
    /// (invariants 1–4); every fd in `entry` must stay open that long (invariant 6).
    pub unsafe fn push_op(&mut self, entry: &mut squeue::Entry) -> Result<SlotKey> {
        // SAFETY: forwarded from this function's contract.
        unsafe { self.push_in(entry, SlotTable::insert) }
    }

    /// As [`Core::push_op`], for a multishot operation in a stream slot.
    ///
    /// # Safety
    ///
    /// As [`Core::push_op`], until the CQE without `F_MORE`.
    pub unsafe fn push_stream(&mut self, entry: &mut squeue::Entry) -> Result<SlotKey> {
        if !self.has_stream_capacity() {
            return Err(self.full());
        }
        // SAFETY: forwarded from this function's contract.
        unsafe { self.push_in(entry, SlotTable::insert_stream) }
    }

    /// Pushes `entries` as consecutive SQEs of one submission, one slot each, writing their
    /// keys to `keys` (a linked chain must reach the kernel whole: a flush between two of its
    /// SQEs would cut it). All or nothing: on an error nothing was queued.
    ///
    /// # Safety
    ///
    /// As [`Core::push_op`], for every entry.
    pub unsafe fn push_group(
        &mut self,
        entries: &mut [squeue::Entry],
        keys: &mut [SlotKey],
    ) -> Result<()> {
        let n = entries.len();
        if n > self.limit || n > self.kernel.sq_room().1 {
            return Err(SaferRingError::InvalidArgument(
                "a chain longer than the ring's in-flight limit or submission queue",
            ));
        }
        if self.ops_in_kernel + n > self.limit {
            return Err(self.full());
        }
        if self.kernel.sq_room().0 < n {
            self.stats.sq_full_waits += 1;
            self.flush()?;
        }
        if self.kernel.sq_room().0 < n {
            self.reap_now()?; // EBUSY: the kernel took none of them yet
        }
        if self.kernel.sq_room().0 < n {
            return Err(SaferRingError::SubmissionQueueFull);
        }
        for (entry, key) in entries.iter_mut().zip(keys.iter_mut()) {
            *key = self.slots.insert();
            entry.set_user_data(key.user_data());
            // SAFETY: forwarded from this function's contract (invariants 1–4, 6).
            let pushed = unsafe { self.kernel.push(entry) };
            assert!(pushed, "the submission queue had room for the whole group");
            self.ops_in_kernel += 1;
            self.stats.submitted += 1;
        }
        Ok(())
    }

    /// The back-pressure error at the limit.
    fn full(&self) -> SaferRingError {
        SaferRingError::SlotTableFull {
            in_flight: self.ops_in_kernel,
            limit: self.limit,
        }
    }

    /// # Safety
    ///
    /// As [`Core::push_op`].
    unsafe fn push_in(
        &mut self,
        entry: &mut squeue::Entry,
        insert: fn(&mut SlotTable) -> SlotKey,
    ) -> Result<SlotKey> {
        if !self.has_capacity() {
            return Err(self.full());
        }
        let key = insert(&mut self.slots);
        entry.set_user_data(key.user_data());
        // SAFETY: forwarded from this function's contract (invariants 1–4, 6).
        match unsafe { self.push(entry) } {
            Ok(()) => {
                self.ops_in_kernel += 1;
                self.stats.submitted += 1;
                Ok(key)
            }
            Err(err) => {
                self.slots.remove_unsubmitted(key);
                Err(err)
            }
        }
    }

    /// Pushes an SQE, flushing the queue to the kernel first if it is full.
    ///
    /// # Safety
    ///
    /// As [`Core::push_op`].
    #[inline]
    unsafe fn push(&mut self, entry: &squeue::Entry) -> Result<()> {
        #[cfg(feature = "test-hooks")]
        if self.fault_sq_full > 0 {
            self.fault_sq_full -= 1;
            return Err(SaferRingError::SubmissionQueueFull);
        }
        for attempt in 0..3 {
            // SAFETY: the caller guarantees the memory and fds `entry` names stay valid until
            // its final CQE (invariants 1–4, 6).
            if unsafe { self.kernel.push(entry) } {
                return Ok(());
            }
            if attempt == 0 {
                self.stats.sq_full_waits += 1;
                self.flush()?;
            } else {
                // The kernel refused the batch (`EBUSY`: completions it cannot post yet):
                // reap, which also moves its overflow list in, then try again. What the reap
                // finds to do waits in `scratch`: no user code runs here.
                self.reap_now()?;
            }
        }
        Err(SaferRingError::SubmissionQueueFull)
    }

    /// Pushes an internal SQE (cancel, wake poll) that names no user memory.
    fn push_internal(&mut self, entry: squeue::Entry) -> Result<()> {
        // SAFETY: internal entries carry no pointers to user memory: an async cancel names
        // only a `user_data`; the wake poll names the ring's own eventfd, which the ring keeps
        // open until after its final CQE (invariant 6).
        unsafe { self.push(&entry) }?;
        self.internal_in_kernel += 1;
        Ok(())
    }

    /// Pushes an async cancel for `key`, or remembers it if the SQ cannot take it now.
    pub fn cancel(&mut self, key: SlotKey) {
        let entry = opcode::AsyncCancel::new(key.user_data())
            .build()
            .user_data(cancel_user_data(key));
        match self.push_internal(entry) {
            Ok(()) => self.stats.cancels += 1,
            Err(_) => self.pending_cancels.push(key),
        }
    }

    /// As [`cancel`](Self::cancel), for an operation its owner cancels and keeps: a cancel
    /// that misses it (an entry linked behind one still running has not started yet, so
    /// nothing finds it) is pushed again, as for an abandoned operation.
    pub fn cancel_owned(&mut self, key: SlotKey) {
        let requested = &mut self.missed_cancels.requested;
        if requested.len() >= 64 {
            let slots = &self.slots;
            requested.retain(|k| slots.holds(*k));
        }
        requested.push(key);
        self.cancel(key);
    }

    /// Cancels again the abandoned operations whose cancel missed them: a request moving
    /// between the kernel's queues (a poll that fired, on its way to a worker thread) is
    /// invisible to a cancel for that moment, and one that then blocks in a worker (a pipe
    /// read on Linux 6.1) would hold its slot until its file does something. A few retries
    /// per operation, each at the next submit; an operation the kernel already finished has
    /// left its abandoned state and is not retried. The same for operations their owner
    /// cancelled ([`cancel_owned`](Self::cancel_owned)) while still in flight.
    fn retry_missed_cancels(&mut self) {
        for index in std::mem::take(&mut self.missed_cancels.slots) {
            let requested = &self.missed_cancels.requested;
            let owned = requested
                .iter()
                .copied()
                .rfind(|k| k.index() == index && self.slots.holds(*k));
            let Some((key, stream)) = self.slots.abandoned_at(index).or(owned.map(|k| (k, false)))
            else {
                continue;
            };
            if !self.missed_cancels.may_retry(key) {
                continue;
            }
            self.stats.cancel_retries += 1;
            if stream {
                self.cancel_all_of(key);
            } else {
                self.cancel(key);
            }
        }
        let slots = &self.slots;
        let retried = &mut self.missed_cancels.retried;
        retried.retain(|(key, _)| slots.holds(*key));
        self.missed_cancels.requested.retain(|k| slots.holds(*k));
    }

    /// Pushes a cancel of every request carrying `key` (multishot streams).
    fn cancel_all_of(&mut self, key: SlotKey) {
        let entry =
            opcode::AsyncCancel2::new(types::CancelBuilder::user_data(key.user_data()).all())
                .build()
                .user_data(cancel_user_data(key));
        match self.push_internal(entry) {
            Ok(()) => self.stats.cancels += 1,
            Err(_) => self.pending_cancels.push(key),
        }
    }

    /// Cancels everything the kernel holds (shutdown): one cancel matching every request,
    /// or one per slot if the SQ cannot take it.
    pub fn cancel_everything(&mut self) {
        if !self.anything_in_kernel() {
            return;
        }
        let entry = opcode::AsyncCancel2::new(types::CancelBuilder::any())
            .build()
            .user_data(SlotKey::internal(tag::CANCEL));
        if self.push_internal(entry).is_ok() {
            self.stats.cancels += 1;
            return;
        }
        let keys: Vec<_> = self.slots.in_kernel().collect();
        keys.into_iter().for_each(|key| self.cancel(key));
    }

    /// Arms the multishot wake-up poll unless it is armed, on the fd the first call's `fd`
    /// gave (kept by the ring until it is gone).
    pub fn arm_wake_poll(&mut self, fd: impl FnOnce() -> Arc<dyn AsFd>) -> Result<()> {
        if self.wake.armed {
            return Ok(());
        }
        let raw = self.wake.fd.get_or_insert_with(fd).as_fd().as_raw_fd();
        let entry = opcode::PollAdd::new(types::Fd(raw), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(SlotKey::internal(tag::WAKE));
        self.push_internal(entry)?;
        self.wake.armed = true;
        Ok(())
    }

    /// Wake-up poll CQEs since the last call.
    pub fn take_wake_cqes(&mut self) -> u32 {
        std::mem::take(&mut self.wake.cqes)
    }

    /// Pushes a raw NOP with any `user_data` (test hook: stale or foreign completions).
    #[cfg(feature = "test-hooks")]
    pub fn push_raw_nop(&mut self, user_data: u64) -> Result<()> {
        // SAFETY: a NOP names no memory and no fd.
        unsafe { self.push(&opcode::Nop::new().build().user_data(user_data)) }
    }

    /// Moves an abandoned operation's resources into its slot and cancels it. A multishot
    /// operation is cancelled with `IORING_ASYNC_CANCEL_ALL` on its `user_data`, so every
    /// request it armed goes.
    pub fn abandon(&mut self, key: SlotKey, parked: Parked, multishot: bool) {
        self.stats.abandoned += 1;
        let waker = match self.slots.abandon(key, parked) {
            Abandon::Parked(waker) => {
                if multishot {
                    self.cancel_all_of(key);
                } else {
                    self.cancel(key);
                }
                waker
            }
            Abandon::Done(release, waker) => {
                self.stats.released += 1;
                self.scratch.releases.push(release);
                waker
            }
        };
        self.scratch.garbage.extend(waker);
    }

    /// Makes room for one more operation if the ring is at its limit: submits and reaps once.
    /// What the reap finds to do (wakers, releases) stays in `scratch` for the next turn.
    pub fn make_room(&mut self) -> Result<()> {
        if !self.has_capacity() {
            self.reap_now()?;
        }
        Ok(())
    }

    /// Submits, runs completion work and reaps once, without waiting.
    pub fn reap_now(&mut self) -> Result<()> {
        self.enter(Wait::No)?;
        self.reap();
        Ok(())
    }

    /// Submits queued SQEs without waiting or reaping.
    pub fn flush(&mut self) -> Result<usize> {
        self.enter(Wait::SubmitOnly)
    }

    /// Submits, then waits as `wait` says (only if the kernel owes a CQE: never forever on
    /// nothing), and delivers every CQE that arrived. Returns the CQEs delivered.
    #[inline]
    pub fn turn(&mut self, wait: Wait) -> Result<usize> {
        let wait = match wait {
            Wait::One | Wait::Timeout(_) if !self.anything_in_kernel() => Wait::No,
            // Work left by a push or an unwind may wake a task: never block before it ran.
            Wait::One | Wait::Timeout(_) if self.has_deferred() => Wait::No,
            wait => wait,
        };
        self.enter(wait)?;
        Ok(self.reap())
    }

    /// `io_uring_enter`, the ring's one path into the kernel: submits every queued SQE and,
    /// unless [`Wait::SubmitOnly`], runs deferred completion work and waits as `wait` says.
    fn enter(&mut self, wait: Wait) -> Result<usize> {
        self.retry_pending_cancels();
        let to_submit = self.kernel.queued();
        let (min_complete, timeout, get_events) = match wait {
            Wait::SubmitOnly if to_submit == 0 => return Ok(0),
            // `SQPOLL`: the kernel's thread is awake and takes them without a call.
            Wait::SubmitOnly if self.kernel.submits_by_itself() => return Ok(to_submit as usize),
            Wait::SubmitOnly => (0, None, false),
            Wait::No => (0, None, true),
            Wait::One => (1, None, true),
            Wait::Timeout(t) => (1, Some(t), true),
        };
        self.stats.enters += 1;
        // SAFETY: the kernel reads only SQEs pushed through `push`, whose memory and fds their
        // owners or slots keep valid (invariants 1–6).
        let res = unsafe {
            self.kernel
                .enter(to_submit, min_complete, get_events, timeout)
        };
        match res {
            Ok(n) => Ok(n),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINTR | libc::EAGAIN | libc::EBUSY | libc::ETIME)
                ) =>
            {
                Ok(0)
            }
            Err(e) => Err(SaferRingError::os("io_uring_enter", e)),
        }
    }

    fn retry_pending_cancels(&mut self) {
        if self.pending_cancels.is_empty() {
            return;
        }
        for key in std::mem::take(&mut self.pending_cancels) {
            self.cancel(key);
        }
    }

    /// Drains the completion queue into the slot table. Wakers to wake and resources to
    /// release are left in `self.scratch` for [`AfterReap::run`]. Returns the CQEs seen.
    #[inline]
    pub fn reap(&mut self) -> usize {
        let mut seen = self.reap_cq();
        if !self.missed_cancels.slots.is_empty() {
            self.retry_missed_cancels();
        }
        // Completions that found the CQ full wait in the kernel's overflow list (no drop:
        // `IORING_FEAT_NODROP`); an enter with GETEVENTS moves them in as room frees up.
        while self.kernel.cq_overflow() {
            self.stats.cq_overflows += 1;
            let _ = self.enter(Wait::No);
            let more = self.reap_cq();
            if more == 0 {
                break;
            }
            seen += more;
        }
        seen
    }

    /// Drains what is in the completion queue now (see [`Core::reap`]).
    #[inline]
    fn reap_cq(&mut self) -> usize {
        let mut seen = 0;
        let mut freed = 0;
        self.kernel.drain(|user_data, result| {
            seen += 1;
            let key = SlotKey::from_user_data(user_data);
            if key.is_internal() {
                Self::internal_cqe(
                    &mut self.internal_in_kernel,
                    &mut self.wake,
                    &mut self.stats,
                    (
                        &mut self.files_in,
                        &mut self.scratch,
                        &mut self.missed_cancels.slots,
                    ),
                    key,
                    result,
                );
                return;
            }
            #[cfg(feature = "test-hooks")]
            let result = match &mut self.fault_cqe {
                (errno, n @ 1..) => {
                    *n -= 1;
                    CqeResult {
                        res: -*errno,
                        flags: result.flags,
                    }
                }
                _ => result,
            };
            #[cfg(feature = "tracing")]
            self.tracer.cqe(key, result);
            match self.slots.complete(user_data, result) {
                Delivery::Stored => freed += 1,
                Delivery::Wake(waker) => {
                    freed += 1;
                    self.scratch.wakers.push_back(waker);
                }
                Delivery::Release(release) => {
                    freed += 1;
                    self.stats.released += 1;
                    self.scratch.releases.push(release);
                }
                Delivery::Item { last, waker } => {
                    freed += usize::from(last);
                    self.scratch.wakers.extend(waker);
                }
                Delivery::Absorbed => {}
                Delivery::Stale => self.stats.stale_cqes += 1,
            }
        });
        self.ops_in_kernel -= freed;
        self.stats.completed += freed as u64;
        if freed > 0 && !self.slot_waiters.is_empty() {
            let n = freed.min(self.slot_waiters.len());
            self.scratch.wakers.extend(self.slot_waiters.drain(..n));
        }
        seen
    }

    fn internal_cqe(
        internal: &mut usize,
        wake: &mut WakePoll,
        stats: &mut RingStats,
        (files_in, scratch, missed): (&mut FilesIn, &mut AfterReap, &mut Vec<u32>),
        key: SlotKey,
        cqe: CqeResult,
    ) {
        let more = io_uring::cqueue::more(cqe.flags);
        match key.tag() {
            tag::WAKE => {
                wake.cqes += 1;
                if !more {
                    *internal -= 1;
                    wake.armed = false;
                }
            }
            tag::CANCEL => {
                *internal -= 1;
                stats.cancelled += cancelled_by(cqe);
            }
            t if t & tag::CANCEL_OF != 0 => {
                *internal -= 1;
                stats.cancelled += cancelled_by(cqe);
                if cqe.res == -libc::ENOENT {
                    missed.push(t & !tag::CANCEL_OF);
                }
            }
            // The CQE itself woke the ring; whoever sent it marked what to run.
            tag::MSG_WAKE => stats.msg_ring_wakes += 1,
            tag::FILE_IN if cqe.res >= 0 => {
                stats.msg_ring_files += 1;
                files_in.slots.push_back(cqe.res as u32);
                scratch.wakers.extend(files_in.waker.take());
            }
            _ => stats.stale_cqes += 1,
        }
    }

    /// The slot of the oldest file another ring installed here and nobody took yet.
    pub fn take_file_in(&mut self) -> Option<u32> {
        self.files_in.slots.pop_front()
    }

    /// Who to wake when a file arrives; returns the waker it replaces (for the caller to drop
    /// outside the borrow: dropping a waker runs user code).
    pub fn set_file_in_waker(&mut self, waker: Waker) -> Option<Waker> {
        self.files_in.waker.replace(waker)
    }

    /// Wakes every future waiting for a slot if capacity is free (called before sleeping, so
    /// a waiter whose wake-up was consumed by a dropped future still makes progress).
    pub fn wake_slot_waiters_if_capacity(&mut self) {
        if self.has_capacity() && !self.slot_waiters.is_empty() {
            self.scratch.wakers.extend(self.slot_waiters.drain(..));
        }
    }

    /// Whether the kernel owes any CQE at all.
    pub fn anything_in_kernel(&self) -> bool {
        self.ops_in_kernel + self.internal_in_kernel > 0
    }
}

/// The requests an async cancel's CQE says it cancelled: one for a cancel of one request
/// (`0`), the count for a cancel of all or any (`IORING_ASYNC_CANCEL_ALL`/`ANY`), none for
/// an error (`ENOENT`: not found; `EALREADY`: already running, it completes by itself).
fn cancelled_by(cqe: CqeResult) -> u64 {
    u64::try_from(cqe.res).map_or(0, |n| n.max(1))
}

/// How long [`Core::enter`] waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Submit only: no completion work, no wait.
    SubmitOnly,
    /// Submit and run completion work, without waiting.
    No,
    /// Block until at least one CQE.
    One,
    /// Block until at least one CQE or the time is up.
    Timeout(Duration),
}
