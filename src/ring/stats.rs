//! [`RingStats`]: counters a ring keeps about its own work, and a gauge of what it holds.
#![forbid(unsafe_code)]

/// Counters of what a ring has done since it was built, and what it holds now
/// ([`in_flight`](Self::in_flight)): a snapshot, cheap to take at any time
/// ([`Ring::stats`](crate::Ring::stats)). Always kept, with or without the `tracing` feature:
/// each is a plain increment on a path that runs anyway.
///
/// Not here: io-wq punts (requests the kernel hands to its worker threads). User space does
/// not see them on Linux 6.18: neither the CQE nor any `io_uring_enter` result says; only the
/// `io_uring:io_uring_queue_async_work` tracepoint (perf, bpftrace, as root) counts them.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// let ring = safer_ring::Ring::new(8)?;
/// ring.nop().submit()?.wait()?;
/// let stats = ring.stats();
/// assert_eq!((stats.submitted, stats.completed, stats.abandoned), (1, 1, 0));
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RingStats {
    /// Operations pushed to the submission queue.
    pub submitted: u64,
    /// Operation completions delivered to their slots.
    pub completed: u64,
    /// Operations the kernel holds now (submitted, final completion not reaped yet): a gauge
    /// taken with the snapshot, as [`Ring::in_flight`](crate::Ring::in_flight).
    pub in_flight: u64,
    /// Operations the ring's own cancels took out of the kernel (their cancel's CQE said it
    /// found them; they complete with `ECANCELED`): [`Operation::cancel`], operations dropped
    /// mid-flight, and those still in flight at shutdown. Counted from the cancels' CQEs, so
    /// the completion path checks nothing; what `Ring::cancel_fd`/`cancel_all` cancel is
    /// their own result, and an operation a broken link cancels is not counted.
    ///
    /// [`Operation::cancel`]: crate::Operation::cancel
    pub cancelled: u64,
    /// Operations dropped while the kernel still held them (resources parked in the slot).
    pub abandoned: u64,
    /// Abandoned operations whose resources were released after their final CQE.
    pub released: u64,
    /// Async cancels pushed (for abandoned operations and at shutdown).
    pub cancels: u64,
    /// Cancels pushed again because the first found no request while the operation was
    /// still in flight (it was moving between the kernel's queues).
    pub cancel_retries: u64,
    /// Completions whose `user_data` named no live slot of that generation: ignored.
    pub stale_cqes: u64,
    /// `io_uring_enter` calls made.
    pub enters: u64,
    /// Times an SQE found the submission queue full, so the queue was flushed to the kernel
    /// (an extra `io_uring_enter`) before it could be queued: more SQEs queued between flushes
    /// than the queue holds. A chain that did not fit in the room left counts once.
    pub sq_full_waits: u64,
    /// Reaps that found completions waiting in the kernel's overflow list (more operations
    /// in flight than the CQ holds): they were moved in, none lost.
    pub cq_overflows: u64,
    /// Wake-ups other rings posted here with `IORING_OP_MSG_RING` (a
    /// [`RingPool`](crate::RingPool)'s workers waking each other without a syscall).
    pub msg_ring_wakes: u64,
    /// Registered files other rings sent here with `IORING_OP_MSG_RING`
    /// ([`Ring::send_file`](crate::Ring::send_file)).
    pub msg_ring_files: u64,
}
