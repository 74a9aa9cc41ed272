//! The ring's two unsafe entry points: queue a one-shot operation's SQE, queue a stream's.
//! Their contract is the kernel's use of the memory and fds the SQE names (invariants 1–6);
//! neither runs user code (invariant 11).
#![allow(unsafe_code)]

use super::Ring;
use super::slots::SlotKey;
use crate::error::Result;

impl Ring {
    /// Queues an operation's SQE, making room by reaping once if the ring is at its limit.
    /// Runs no user code: what the reap found to do waits for the next turn, so the caller
    /// can make the operation owned (by its `Submitted` state) before anything can unwind.
    ///
    /// # Safety
    ///
    /// As [`Core::push_op`]: `entry` points only into memory owned by the caller's operation,
    /// which is kept alive (by its owner, its slot, or a leak) until the final CQE.
    #[inline(always)]
    pub(crate) unsafe fn push_op(&self, entry: &mut io_uring::squeue::Entry) -> Result<SlotKey> {
        // SAFETY: forwarded from this function's contract.
        match unsafe { self.core.borrow_mut().try_push_op(entry) } {
            Some(key) => Ok(key),
            // SAFETY: forwarded from this function's contract.
            None => unsafe { self.push_op_slow(entry) },
        }
    }

    /// [`Ring::push_op`] when the ring is at its limit or the SQ is full.
    ///
    /// # Safety
    ///
    /// As [`Ring::push_op`].
    #[cold]
    unsafe fn push_op_slow(&self, entry: &mut io_uring::squeue::Entry) -> Result<SlotKey> {
        let mut core = self.core.borrow_mut();
        core.make_room()?;
        // SAFETY: forwarded from this function's contract.
        unsafe { core.push_op(entry) }
    }

    /// Queues `entries` as one group of consecutive SQEs (a linked chain), making room by
    /// reaping once if the ring is at its limit; `keys` receives their slots. Runs no user
    /// code, as [`Ring::push_op`]. All or nothing.
    ///
    /// # Safety
    ///
    /// As [`Ring::push_op`], for every entry.
    pub(crate) unsafe fn push_group(
        &self,
        entries: &mut [io_uring::squeue::Entry],
        keys: &mut [SlotKey],
    ) -> Result<()> {
        let mut core = self.core.borrow_mut();
        if !core.has_room_for(entries.len()) {
            core.reap_now()?;
        }
        // SAFETY: forwarded from this function's contract.
        unsafe { core.push_group(entries, keys) }
    }

    /// Queues a multishot operation's SQE in a stream slot.
    ///
    /// # Safety
    ///
    /// As [`Ring::push_op`], until the final CQE (without `F_MORE`).
    /// Runs no user code, as [`Ring::push_op`].
    pub(crate) unsafe fn push_stream(
        &self,
        entry: &mut io_uring::squeue::Entry,
    ) -> Result<SlotKey> {
        let mut core = self.core.borrow_mut();
        if !core.has_stream_capacity() {
            core.reap_now()?;
        }
        // SAFETY: forwarded from this function's contract.
        unsafe { core.push_stream(entry) }
    }
}
