//! [`RingStats`]: counters a ring keeps about its own work.
#![forbid(unsafe_code)]

/// Counters of what a ring has done since it was built. Cheap to read at any time.
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
