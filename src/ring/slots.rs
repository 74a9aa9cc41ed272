//! The slot table: one entry per operation the ring tracks, keyed by index + generation.
//!
//! This is the pure lifecycle at the centre of the ring: no syscalls, no
//! `unsafe`, no kernel. The driver feeds it completions; tests can drive it directly.
//!
//! ```text
//!             insert                 complete(cqe)
//!   Vacant ───────────▶ Submitted ───────────────▶ Completed(cqe) ──take──▶ Vacant (gen+1)
//!                          │  ▲ poll(waker)              ▲
//!                          ▼  │                          │ complete(cqe)
//!                        Waiting(waker) ─────────────────┘ (wakes the waker)
//!   Submitted/Waiting ──abandon(parked)──▶ Abandoned(parked) ──final cqe──▶ Vacant (gen+1),
//!                                                                           parked released
//!
//!   multishot:  insert_stream ──▶ Streaming ──cqe (F_MORE)──▶ queued item ... ──final cqe──▶
//!               ended; the owner drains the queue, then the slot is vacant. Abandoned streams
//!               hand every later CQE to the parked operation (close an fd, return a buffer)
//!               and become vacant only at the CQE without F_MORE.
//! ```
//!
//! Invariant 7 (completions can't be confused) lives here: a CQE whose `user_data` does not
//! name a live slot of the same generation is reported as stale and never delivered.
//! Invariant 3 (drop mid-flight) lives here too: an abandoned slot keeps its parked resources
//! until the final CQE, and only then becomes vacant.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::task::Waker;

use super::parked::{Parked, Release};

/// The bits of a completion queue entry the lifecycle needs.
///
/// Made only by the ring from the kernel's completion queue (invariant 12): its fields are
/// private, so no safe code outside this crate can hand an operation a result of its own
/// making (a read "of 4096 bytes" into a 1-byte buffer, an open "returning" another file's fd).
///
/// # Examples
///
/// An [`OpCode`](crate::OpCode) of one's own receives it:
///
/// ```
/// use safer_ring::{CqeResult, OpCode, SaferRingError, io_uring};
///
/// /// A NOP whose output is its completion, raw.
/// struct RawNop;
///
/// // SAFETY: the SQE names no memory and no fd.
/// unsafe impl OpCode for RawNop {
///     type Output = Result<CqeResult, SaferRingError>;
///     const NAME: &'static str = "raw_nop";
///     const CODE: u8 = io_uring::opcode::Nop::CODE;
///     fn sqe(&mut self) -> io_uring::squeue::Entry {
///         io_uring::opcode::Nop::new().build()
///     }
///     fn complete(self, cqe: CqeResult) -> Self::Output {
///         Ok(cqe)
///     }
///     fn fail(self, error: SaferRingError) -> Self::Output {
///         Err(error)
///     }
/// }
///
/// # fn main() -> safer_ring::Result<()> {
/// let ring = safer_ring::Ring::new(4)?;
/// let cqe = ring.custom(RawNop).submit()?.wait()?;
/// assert_eq!((cqe.res(), cqe.flags()), (0, 0));
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CqeResult {
    pub(crate) res: i32,
    pub(crate) flags: u32,
}

impl CqeResult {
    /// The kernel's result: a count or handle when `>= 0`, a negated errno when `< 0`.
    ///
    /// ```
    /// use safer_ring::{CqeResult, OpCode, SaferRingError, io_uring};
    ///
    /// /// `close(-1)`: a completion that is an error.
    /// struct CloseNothing;
    ///
    /// // SAFETY: the SQE names no memory, and fd -1, which is no file.
    /// unsafe impl OpCode for CloseNothing {
    ///     type Output = i32;
    ///     const NAME: &'static str = "close_nothing";
    ///     const CODE: u8 = io_uring::opcode::Close::CODE;
    ///     fn sqe(&mut self) -> io_uring::squeue::Entry {
    ///         io_uring::opcode::Close::new(io_uring::types::Fd(-1)).build()
    ///     }
    ///     fn complete(self, cqe: CqeResult) -> i32 {
    ///         cqe.res()
    ///     }
    ///     fn fail(self, error: SaferRingError) -> i32 {
    ///         -error.raw_os_error().unwrap_or(libc::EINVAL)
    ///     }
    /// }
    ///
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// assert_eq!(ring.custom(CloseNothing).submit()?.wait(), -libc::EBADF); // a negated errno
    /// # Ok(()) }
    /// ```
    pub fn res(&self) -> i32 {
        self.res
    }

    /// The CQE flags (`IORING_CQE_F_*`).
    ///
    /// ```
    /// # use safer_ring::{CqeResult, OpCode, SaferRingError, io_uring};
    /// # struct RawNop;
    /// # // SAFETY: the SQE names no memory and no fd.
    /// # unsafe impl OpCode for RawNop {
    /// #     type Output = Result<CqeResult, SaferRingError>;
    /// #     const NAME: &'static str = "raw_nop";
    /// #     const CODE: u8 = io_uring::opcode::Nop::CODE;
    /// #     fn sqe(&mut self) -> io_uring::squeue::Entry {
    /// #         io_uring::opcode::Nop::new().build()
    /// #     }
    /// #     fn complete(self, cqe: CqeResult) -> Self::Output {
    /// #         Ok(cqe)
    /// #     }
    /// #     fn fail(self, error: SaferRingError) -> Self::Output {
    /// #         Err(error)
    /// #     }
    /// # }
    /// # fn main() -> safer_ring::Result<()> {
    /// // `RawNop`: a NOP whose output is its `CqeResult` (see `CqeResult`'s example).
    /// let ring = safer_ring::Ring::new(4)?;
    /// let cqe = ring.custom(RawNop).submit()?.wait()?;
    /// assert!(!io_uring::cqueue::more(cqe.flags())); // a one-shot's completion is its last
    /// assert_eq!(io_uring::cqueue::buffer_select(cqe.flags()), None); // no provided buffer
    /// # Ok(()) }
    /// ```
    pub fn flags(&self) -> u32 {
        self.flags
    }
}

/// Identifies one operation: slot index plus the slot's generation when it was handed out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SlotKey {
    index: u32,
    generation: u32,
}

/// Slot index reserved for the ring's own SQEs (cancels, wake-ups); never handed out.
pub(crate) const INTERNAL_INDEX: u32 = u32::MAX;

impl SlotKey {
    /// Packs the key into the 64-bit `user_data` of an SQE.
    #[inline]
    pub fn user_data(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    /// Unpacks a `user_data` value.
    #[inline]
    pub fn from_user_data(user_data: u64) -> Self {
        Self {
            index: user_data as u32,
            generation: (user_data >> 32) as u32,
        }
    }

    /// `user_data` for one of the ring's internal SQEs, tagged so it can never name a slot.
    pub(crate) const fn internal(tag: u32) -> u64 {
        ((tag as u64) << 32) | INTERNAL_INDEX as u64
    }

    /// The slot's index in the table.
    #[inline]
    pub(crate) fn index(self) -> u32 {
        self.index
    }

    /// Whether this key is one of the ring's internal tags.
    #[inline]
    pub(crate) fn is_internal(self) -> bool {
        self.index == INTERNAL_INDEX
    }

    /// The internal tag (meaningful only when [`is_internal`](Self::is_internal)).
    pub(crate) fn tag(self) -> u32 {
        self.generation
    }
}

/// Where a slot is in its lifecycle, carrying exactly the data of that phase: a completion
/// only when completed, resources only when abandoned, so no impossible combination (a waker
/// beside a result, resources in a live slot) can be built.
enum State {
    /// Free; the next free slot (the free list), or `INTERNAL_INDEX`.
    Vacant { next_free: u32 },
    /// In the kernel; the owner is not waiting (sync API, or not polled yet).
    Submitted,
    /// In the kernel; the owner waits with this waker.
    Waiting(Waker),
    /// The CQE arrived; the owner has not taken it.
    Completed(CqeResult),
    /// A multishot operation whose owner is still listening (out of line: slots stay small).
    Streaming(Box<Stream>),
    /// The owner let go mid-flight: its resources wait here for the final CQE (invariant 3).
    Abandoned(Parked),
    /// As `Abandoned`, for a stream: with its CQEs not yet handed to the resources.
    AbandonedStream(Box<(Parked, VecDeque<CqeResult>)>),
}

impl State {
    /// Whether the kernel may still hold the slot's operation.
    fn in_kernel(&self) -> bool {
        match self {
            State::Submitted
            | State::Waiting(_)
            | State::Abandoned(_)
            | State::AbandonedStream(_) => true,
            State::Streaming(stream) => !stream.ended,
            State::Vacant { .. } | State::Completed(_) => false,
        }
    }

    /// Whether the state owns nothing (no waker, no resources).
    fn is_plain(&self) -> bool {
        matches!(
            self,
            State::Vacant { .. } | State::Submitted | State::Completed(_)
        )
    }

    /// Overwrites a state the caller matched as plain with `new`, skipping the drop glue on
    /// the hot path (a plain state owns nothing; were it not plain, this would leak its
    /// contents, never free them).
    #[inline]
    fn overwrite_plain(&mut self, new: State) {
        let old = std::mem::replace(self, new);
        debug_assert!(old.is_plain(), "overwrote a state that owns something");
        std::mem::forget(old);
    }
}

/// A stream slot's CQEs not yet taken, its owner's waker, whether the final CQE came.
#[derive(Default)]
struct Stream {
    queue: VecDeque<CqeResult>,
    waker: Option<Waker>,
    ended: bool,
}

struct Slot {
    generation: u32,
    state: State,
}

/// Whether a CQE is the last one for its request (no `IORING_CQE_F_MORE`).
pub fn is_final(cqe: CqeResult) -> bool {
    !io_uring::cqueue::more(cqe.flags)
}

/// What the table did with a completion; the driver acts on it after releasing its borrow.
#[must_use]
pub enum Delivery {
    /// Stored for its owner, who has not registered a waker (sync API or not yet polled).
    Stored,
    /// Stored; this waker must be woken.
    Wake(Waker),
    /// The owner had abandoned the operation: this was its final CQE, the slot is vacant again,
    /// and the parked resources must now be finished and released (outside every borrow).
    Release(Release),
    /// No live slot of that generation: ignored and counted.
    Stale,
    /// A multishot CQE queued for its owner (wake `waker`); `last` if it was the final one.
    Item {
        /// The CQE had no `F_MORE`: the kernel holds the operation no longer.
        last: bool,
        /// The owner's waker, if it was waiting.
        waker: Option<Waker>,
    },
    /// A non-final CQE of an abandoned multishot operation, queued in its slot; its parked
    /// resources get it (close the fd, return the buffer) with the final CQE.
    Absorbed,
}

/// What [`SlotTable::abandon`] did. Each carries the owner's old waker, if any, to be dropped
/// outside the table's borrow (dropping a waker runs user code).
#[must_use]
pub enum Abandon {
    /// The kernel still holds the operation; its resources are parked until the final CQE.
    /// The caller should push an async cancel for this key.
    Parked(Option<Waker>),
    /// The final CQE had already arrived: the slot is vacant; run the release now.
    Done(Release, Option<Waker>),
}

/// What [`SlotTable::poll`] / [`SlotTable::poll_next`] found.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub enum Polled<T> {
    /// The result (single-shot: the CQE; stream: the next CQE or the end).
    Ready(T),
    /// Not yet; the owner's waker is the one stored.
    Pending,
    /// Not yet, and the stored waker is not the caller's: clone it outside the borrow and
    /// [`store_waker`](SlotTable::store_waker) it, then poll again.
    NeedsWaker,
}

/// The table of operation slots. Grows when every slot is taken, never shrinks; vacant slots
/// are reused through a free list, so the steady state allocates nothing.
pub struct SlotTable {
    slots: Vec<Slot>,
    /// First vacant slot, or `INTERNAL_INDEX` when none.
    free_head: u32,
    live: usize,
}

impl Default for SlotTable {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl SlotTable {
    /// An empty table with room for `capacity` slots before it has to grow.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            slots: Vec::with_capacity(capacity),
            free_head: INTERNAL_INDEX,
            live: 0,
        }
    }

    /// Slots currently in use (submitted, waiting, completed-not-taken or abandoned).
    pub fn live(&self) -> usize {
        self.live
    }

    /// The key of slot `index` if its owner abandoned it and the kernel still holds it, and
    /// whether it is a stream.
    pub fn abandoned_at(&self, index: u32) -> Option<(SlotKey, bool)> {
        let slot = self.slots.get(index as usize)?;
        let stream = match &slot.state {
            State::Abandoned(_) => false,
            State::AbandonedStream(_) => true,
            _ => return None,
        };
        let generation = slot.generation;
        Some((SlotKey { index, generation }, stream))
    }

    /// Keys of every slot the kernel may still hold (submitted, waiting or abandoned).
    pub fn in_kernel(&self) -> impl Iterator<Item = SlotKey> + '_ {
        self.slots.iter().enumerate().filter_map(|(index, slot)| {
            slot.state.in_kernel().then_some(SlotKey {
                index: index as u32,
                generation: slot.generation,
            })
        })
    }

    /// Whether the kernel may still hold `key`'s operation (its slot not reused since).
    pub fn holds(&self, key: SlotKey) -> bool {
        let slot = self.slots.get(key.index as usize);
        slot.is_some_and(|s| s.generation == key.generation && s.state.in_kernel())
    }

    /// Takes a vacant slot for a new operation.
    #[inline]
    pub fn insert(&mut self) -> SlotKey {
        self.insert_as(State::Submitted)
    }

    /// Takes a vacant slot for a multishot operation.
    pub fn insert_stream(&mut self) -> SlotKey {
        self.insert_as(State::Streaming(Box::default()))
    }

    #[inline]
    fn insert_as(&mut self, state: State) -> SlotKey {
        self.live += 1;
        let index = self.free_head;
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return self.grow(state);
        };
        let State::Vacant { next_free } = slot.state else {
            unreachable!("the free list points at a live slot")
        };
        self.free_head = next_free;
        slot.state.overwrite_plain(state);
        SlotKey {
            index,
            generation: slot.generation,
        }
    }

    /// The owner of a stream asks for its next CQE: `Ready(Some)` for a queued one,
    /// `Ready(None)` (and the slot is vacant) once the final CQE was taken; otherwise pending,
    /// asking for `waker` if it is not the stored one.
    pub fn poll_next(&mut self, key: SlotKey, waker: &Waker) -> Polled<Option<CqeResult>> {
        let slot = self
            .slot_mut(key)
            .expect("polling a stream slot that is not live");
        let State::Streaming(stream) = &mut slot.state else {
            unreachable!("polled a slot that is not a live stream")
        };
        if let Some(cqe) = stream.queue.pop_front() {
            return Polled::Ready(Some(cqe));
        }
        if stream.ended {
            self.vacate(key.index);
            return Polled::Ready(None);
        }
        match &stream.waker {
            Some(current) if current.will_wake(waker) => Polled::Pending,
            _ => Polled::NeedsWaker,
        }
    }

    /// Stores the owner's waker (cloned outside the borrow after [`Polled::NeedsWaker`]):
    /// `Ok` with the one it replaces, to be dropped outside the borrow. A slot that completed
    /// meanwhile refuses it (`Err` hands it back): the next poll returns the result.
    pub fn store_waker(&mut self, key: SlotKey, waker: Waker) -> Result<Option<Waker>, Waker> {
        let Some(slot) = self.slot_mut(key) else {
            return Err(waker);
        };
        match &mut slot.state {
            State::Submitted => {
                slot.state.overwrite_plain(State::Waiting(waker));
                Ok(None)
            }
            State::Waiting(current) => Ok(Some(std::mem::replace(current, waker))),
            State::Streaming(stream) if !stream.ended && stream.queue.is_empty() => {
                Ok(stream.waker.replace(waker))
            }
            _ => Err(waker),
        }
    }

    #[cold]
    fn grow(&mut self, state: State) -> SlotKey {
        let index = u32::try_from(self.slots.len())
            .ok()
            .filter(|&i| i != INTERNAL_INDEX)
            .expect("slot table exceeds u32::MAX - 1 entries");
        self.slots.push(Slot {
            generation: 0,
            state,
        });
        SlotKey {
            index,
            generation: 0,
        }
    }

    #[inline]
    fn slot_mut(&mut self, key: SlotKey) -> Option<&mut Slot> {
        self.slots
            .get_mut(key.index as usize)
            .filter(|slot| slot.generation == key.generation)
    }

    /// Makes a slot vacant under a new generation, returning the state it had.
    #[inline]
    fn vacate(&mut self, index: u32) -> State {
        let next_free = self.release_index(index);
        let slot = &mut self.slots[index as usize];
        std::mem::replace(&mut slot.state, State::Vacant { next_free })
    }

    /// As [`vacate`](Self::vacate), for a slot the caller matched as plain (nothing to drop).
    #[inline]
    fn vacate_plain(&mut self, index: u32) {
        let next_free = self.release_index(index);
        let slot = &mut self.slots[index as usize];
        slot.state.overwrite_plain(State::Vacant { next_free });
    }

    /// Bumps `index`'s generation and puts it on the free list; returns the old list head.
    #[inline]
    fn release_index(&mut self, index: u32) -> u32 {
        let slot = &mut self.slots[index as usize];
        slot.generation = slot.generation.wrapping_add(1);
        self.live -= 1;
        std::mem::replace(&mut self.free_head, index)
    }

    /// Frees a slot whose SQE never reached the submission queue.
    pub fn remove_unsubmitted(&mut self, key: SlotKey) {
        let slot = self
            .slot_mut(key)
            .expect("removing a slot that is not live");
        debug_assert!(matches!(slot.state, State::Submitted | State::Streaming(_)));
        drop(self.vacate(key.index));
    }

    /// The owner asks for its result: takes it (vacating the slot) if the CQE arrived;
    /// otherwise pending, asking for `waker` (if any) when it is not the stored one.
    #[inline]
    pub fn poll(&mut self, key: SlotKey, waker: Option<&Waker>) -> Polled<CqeResult> {
        let slot = self.slot_mut(key).expect("polling a slot that is not live");
        match (&slot.state, waker) {
            (State::Completed(cqe), _) => {
                let cqe = *cqe;
                self.vacate_plain(key.index);
                Polled::Ready(cqe)
            }
            (State::Submitted | State::Waiting(_), None) => Polled::Pending,
            (State::Waiting(current), Some(waker)) if current.will_wake(waker) => Polled::Pending,
            (State::Submitted | State::Waiting(_), Some(_)) => Polled::NeedsWaker,
            (
                State::Vacant { .. }
                | State::Abandoned(_)
                | State::AbandonedStream(_)
                | State::Streaming(_),
                _,
            ) => unreachable!("owner polled a slot it no longer owns"),
        }
    }

    /// Delivers a completion for `user_data` (single-shot slots take one; stream slots take
    /// any number until the final one).
    #[inline]
    pub fn complete(&mut self, user_data: u64, cqe: CqeResult) -> Delivery {
        let key = SlotKey::from_user_data(user_data);
        let Some(slot) = self.slot_mut(key) else {
            return Delivery::Stale;
        };
        match &mut slot.state {
            State::Submitted => {
                slot.state.overwrite_plain(State::Completed(cqe));
                Delivery::Stored
            }
            State::Waiting(_) => match std::mem::replace(&mut slot.state, State::Completed(cqe)) {
                State::Waiting(waker) => Delivery::Wake(waker),
                _ => unreachable!("matched as waiting"),
            },
            State::Streaming(stream) if !stream.ended => {
                let last = is_final(cqe);
                stream.queue.push_back(cqe);
                stream.ended = last;
                Delivery::Item {
                    last,
                    waker: stream.waker.take(),
                }
            }
            State::AbandonedStream(rest) if !is_final(cqe) => {
                rest.1.push_back(cqe);
                Delivery::Absorbed
            }
            State::Abandoned(_) | State::AbandonedStream(_) => match self.vacate(key.index) {
                State::Abandoned(parked) => {
                    Delivery::Release(Release::new(parked, VecDeque::new(), Some(cqe)))
                }
                State::AbandonedStream(rest) => {
                    let (parked, items) = *rest;
                    Delivery::Release(Release::new(parked, items, Some(cqe)))
                }
                _ => unreachable!("matched as abandoned"),
            },
            State::Vacant { .. } | State::Completed(_) | State::Streaming(_) => Delivery::Stale,
        }
    }

    /// The owner gave up on the operation (dropped it mid-flight); `parked` holds every
    /// resource the kernel may still touch.
    /// Queued stream CQEs stay queued for the parked operation, which gets them with the final
    /// CQE outside the borrow (they may carry fds to close and buffers to return).
    pub fn abandon(&mut self, key: SlotKey, parked: Parked) -> Abandon {
        let slot = self
            .slot_mut(key)
            .expect("abandoning a slot that is not live");
        let held = match &slot.state {
            State::Submitted | State::Waiting(_) => true,
            State::Streaming(stream) => !stream.ended,
            State::Completed(_) => false,
            State::Vacant { .. } | State::Abandoned(_) | State::AbandonedStream(_) => {
                unreachable!("abandoning a slot twice")
            }
        };
        if !held {
            return match self.vacate(key.index) {
                State::Completed(cqe) => {
                    Abandon::Done(Release::new(parked, VecDeque::new(), Some(cqe)), None)
                }
                State::Streaming(stream) => {
                    let Stream {
                        mut queue, waker, ..
                    } = *stream;
                    let last = queue.pop_back();
                    Abandon::Done(Release::new(parked, queue, last), waker)
                }
                _ => unreachable!("matched as done"),
            };
        }
        let live = std::mem::replace(&mut slot.state, State::Vacant { next_free: 0 });
        let (state, waker) = match live {
            State::Waiting(waker) => (State::Abandoned(parked), Some(waker)),
            State::Streaming(stream) => {
                let Stream { queue, waker, .. } = *stream;
                (State::AbandonedStream(Box::new((parked, queue))), waker)
            }
            _ => (State::Abandoned(parked), None),
        };
        slot.state = state;
        Abandon::Parked(waker)
    }

    /// Takes every parked resource whose CQE never came (ring shutdown gave up waiting), so
    /// the caller can leak them rather than free memory the kernel may still write.
    pub fn take_all_parked(&mut self) -> Vec<Parked> {
        let mut parked = Vec::new();
        for index in 0..self.slots.len() {
            let state = &self.slots[index].state;
            if matches!(state, State::Abandoned(_) | State::AbandonedStream(_)) {
                match self.vacate(index as u32) {
                    State::Abandoned(p) => parked.push(p),
                    State::AbandonedStream(rest) => parked.push(rest.0),
                    _ => unreachable!("matched as abandoned"),
                }
            }
        }
        parked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::parked::park_fn;
    use std::cell::Cell;
    use std::rc::Rc;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Poll, Wake};

    const OK: CqeResult = CqeResult { res: 7, flags: 0 };

    /// What the ring does on a poll: stores a clone of the waker when asked, polls again.
    fn poll(table: &mut SlotTable, key: SlotKey, waker: Option<&Waker>) -> Option<CqeResult> {
        loop {
            match table.poll(key, waker) {
                Polled::Ready(cqe) => return Some(cqe),
                Polled::Pending => return None,
                Polled::NeedsWaker => {
                    if table.store_waker(key, waker.unwrap().clone()).is_ok() {
                        return None;
                    }
                }
            }
        }
    }

    /// As [`poll`], for a stream slot.
    fn poll_next(table: &mut SlotTable, key: SlotKey, waker: &Waker) -> Poll<Option<CqeResult>> {
        loop {
            match table.poll_next(key, waker) {
                Polled::Ready(next) => return Poll::Ready(next),
                Polled::Pending => return Poll::Pending,
                Polled::NeedsWaker => {
                    if table.store_waker(key, waker.clone()).is_ok() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }

    struct CountWake(AtomicUsize);
    impl Wake for CountWake {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn user_data_round_trips_and_internal_tags_never_name_a_slot() {
        let key = SlotKey {
            index: 5,
            generation: 9,
        };
        assert_eq!(SlotKey::from_user_data(key.user_data()), key);
        let internal = SlotKey::from_user_data(SlotKey::internal(3));
        assert!(internal.is_internal());
        assert_eq!(internal.tag(), 3);
        let mut table = SlotTable::default();
        assert!(matches!(
            table.complete(SlotKey::internal(0), OK),
            Delivery::Stale
        ));
    }

    #[test]
    fn completion_is_stored_then_taken_once() {
        let mut table = SlotTable::default();
        let key = table.insert();
        assert_eq!(poll(&mut table, key, None), None);
        assert!(matches!(
            table.complete(key.user_data(), OK),
            Delivery::Stored
        ));
        assert_eq!(poll(&mut table, key, None), Some(OK));
        assert_eq!(table.live(), 0);
    }

    #[test]
    fn waiting_owner_is_woken_once() {
        let counter = Arc::new(CountWake(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut table = SlotTable::default();
        let key = table.insert();
        assert_eq!(poll(&mut table, key, Some(&waker)), None);
        assert_eq!(poll(&mut table, key, Some(&waker)), None);
        let Delivery::Wake(w) = table.complete(key.user_data(), OK) else {
            panic!("expected a wake")
        };
        w.wake();
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert_eq!(poll(&mut table, key, Some(&waker)), Some(OK));
    }

    #[test]
    fn stale_generation_is_counted_never_delivered() {
        let mut table = SlotTable::default();
        let old = table.insert();
        assert!(matches!(
            table.complete(old.user_data(), OK),
            Delivery::Stored
        ));
        assert_eq!(poll(&mut table, old, None), Some(OK));
        let new = table.insert();
        assert_eq!(new.index, old.index, "vacant slot is reused");
        assert_ne!(new.generation, old.generation);
        assert!(matches!(
            table.complete(old.user_data(), OK),
            Delivery::Stale
        ));
        assert_eq!(poll(&mut table, new, None), None, "stale CQE not delivered");
        // A second CQE for an already-completed single-shot op is stale too.
        assert!(matches!(
            table.complete(new.user_data(), OK),
            Delivery::Stored
        ));
        assert!(matches!(
            table.complete(new.user_data(), OK),
            Delivery::Stale
        ));
    }

    #[test]
    fn abandoned_resources_are_held_until_the_final_cqe() {
        let released = Rc::new(Cell::new(0));
        let mut table = SlotTable::default();
        let key = table.insert();
        let r = released.clone();
        assert!(matches!(
            table.abandon(key, park_fn(move |_| r.set(r.get() + 1))),
            Abandon::Parked(None)
        ));
        assert_eq!(
            table.live(),
            1,
            "slot stays taken while the kernel holds it"
        );
        assert_eq!(table.in_kernel().count(), 1);
        let Delivery::Release(release) = table.complete(key.user_data(), OK) else {
            panic!("expected release")
        };
        assert_eq!(released.get(), 0);
        release.run();
        assert_eq!(released.get(), 1);
        assert_eq!(table.live(), 0);
    }

    #[test]
    fn abandon_after_completion_releases_at_once() {
        let mut table = SlotTable::default();
        let key = table.insert();
        assert!(matches!(
            table.complete(key.user_data(), OK),
            Delivery::Stored
        ));
        assert!(matches!(
            table.abandon(key, park_fn(|_| {})),
            Abandon::Done(_, None)
        ));
        assert_eq!(table.live(), 0);
    }

    #[test]
    fn free_list_reuses_every_slot() {
        let mut table = SlotTable::default();
        let keys: Vec<_> = (0..4).map(|_| table.insert()).collect();
        for key in &keys {
            assert!(matches!(
                table.complete(key.user_data(), OK),
                Delivery::Stored
            ));
            assert_eq!(poll(&mut table, *key, None), Some(OK));
        }
        let again: Vec<_> = (0..4).map(|_| table.insert()).collect();
        let mut indexes: Vec<_> = again.iter().map(|k| k.index).collect();
        indexes.sort_unstable();
        assert_eq!(indexes, vec![0, 1, 2, 3]);
        assert_eq!(table.slots.len(), 4, "no growth when slots are free");
    }

    /// `IORING_CQE_F_MORE`.
    const MORE: u32 = 1 << 1;

    #[test]
    fn stream_slot_queues_items_until_the_final_cqe() {
        let counter = Arc::new(CountWake(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut table = SlotTable::default();
        let key = table.insert_stream();
        assert!(poll_next(&mut table, key, &waker).is_pending());
        let item = CqeResult {
            res: 1,
            flags: MORE,
        };
        let Delivery::Item {
            last: false,
            waker: Some(w),
        } = table.complete(key.user_data(), item)
        else {
            panic!("expected a non-final item that wakes the owner")
        };
        w.wake();
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        let last = CqeResult { res: 2, flags: 0 };
        assert!(matches!(
            table.complete(key.user_data(), last),
            Delivery::Item { last: true, .. }
        ));
        assert!(matches!(
            table.complete(key.user_data(), last),
            Delivery::Stale
        ));
        assert_eq!(poll_next(&mut table, key, &waker), Poll::Ready(Some(item)));
        assert_eq!(poll_next(&mut table, key, &waker), Poll::Ready(Some(last)));
        assert_eq!(table.live(), 1);
        assert_eq!(poll_next(&mut table, key, &waker), Poll::Ready(None));
        assert_eq!(table.live(), 0);
    }

    #[test]
    fn abandoned_stream_hands_every_cqe_to_its_parked_operation() {
        let seen = Rc::new(Cell::new(0));
        let mut table = SlotTable::default();
        let key = table.insert_stream();
        let queued = CqeResult {
            res: 5,
            flags: MORE,
        };
        assert!(matches!(
            table.complete(key.user_data(), queued),
            Delivery::Item { .. }
        ));
        // The owner drops the stream with one item still queued.
        let s = seen.clone();
        let parked = crate::ring::parked::park_items(move || s.set(s.get() + 1));
        assert!(matches!(table.abandon(key, parked), Abandon::Parked(None)));
        assert_eq!(
            seen.get(),
            0,
            "queued items wait in the slot (no user code under a borrow)"
        );
        let later = CqeResult {
            res: 6,
            flags: MORE,
        };
        assert!(matches!(
            table.complete(key.user_data(), later),
            Delivery::Absorbed
        ));
        assert_eq!(seen.get(), 0);
        assert_eq!(table.live(), 1, "slot held until the final CQE");
        let Delivery::Release(release) = table.complete(
            key.user_data(),
            CqeResult {
                res: -125,
                flags: 0,
            },
        ) else {
            panic!("final CQE releases")
        };
        release.run();
        assert_eq!(seen.get(), 3, "both items, then the final CQE");
        assert_eq!(table.live(), 0);
    }

    mod model {
        //! The slot table against a plain model, over random operation sequences.
        use super::*;
        use proptest::prelude::*;
        use std::collections::HashMap;

        #[derive(Clone, Debug)]
        enum Step {
            Insert,
            Complete(usize, i32),
            Poll(usize, bool),
            Abandon(usize),
            Stale(u64),
        }

        #[derive(Clone, Copy, Debug, PartialEq)]
        enum Model {
            InKernel { waiting: bool },
            Done(i32),
            Abandoned,
        }

        fn step() -> impl Strategy<Value = Step> {
            prop_oneof![
                3 => Just(Step::Insert),
                3 => (0usize..16, -5i32..100).prop_map(|(i, r)| Step::Complete(i, r)),
                2 => (0usize..16, any::<bool>()).prop_map(|(i, w)| Step::Poll(i, w)),
                1 => (0usize..16).prop_map(Step::Abandon),
                1 => any::<u64>().prop_map(Step::Stale),
            ]
        }

        fn run(steps: Vec<Step>) {
            let counter = Arc::new(CountWake(AtomicUsize::new(0)));
            let waker = Waker::from(counter.clone());
            let released = Rc::new(Cell::new(0usize));
            let mut table = SlotTable::default();
            let mut keys: Vec<SlotKey> = Vec::new();
            let mut model: HashMap<SlotKey, Model> = HashMap::new();
            let mut parked_total = 0;
            for s in steps {
                match s {
                    Step::Insert => {
                        let key = table.insert();
                        assert!(!model.contains_key(&key), "a live key was handed out again");
                        model.insert(key, Model::InKernel { waiting: false });
                        keys.push(key);
                    }
                    Step::Complete(i, res) if i < keys.len() => {
                        let key = keys[i];
                        let cqe = CqeResult { res, flags: 0 };
                        let delivery = table.complete(key.user_data(), cqe);
                        match (model.get(&key).copied(), delivery) {
                            (Some(Model::InKernel { waiting: false }), Delivery::Stored) => {
                                model.insert(key, Model::Done(res));
                            }
                            (Some(Model::InKernel { waiting: true }), Delivery::Wake(w)) => {
                                w.wake();
                                model.insert(key, Model::Done(res));
                            }
                            (Some(Model::Abandoned), Delivery::Release(release)) => {
                                release.run();
                                model.remove(&key);
                            }
                            (Some(Model::Done(_)) | None, Delivery::Stale) => {}
                            (m, d) => panic!("model {m:?} but table said {}", describe(&d)),
                        }
                    }
                    Step::Poll(i, with_waker) if i < keys.len() => {
                        let key = keys[i];
                        match model.get(&key).copied() {
                            Some(Model::InKernel { waiting }) => {
                                let w = with_waker.then_some(&waker);
                                assert_eq!(poll(&mut table, key, w), None);
                                model.insert(
                                    key,
                                    Model::InKernel {
                                        waiting: waiting || with_waker,
                                    },
                                );
                            }
                            Some(Model::Done(res)) => {
                                assert_eq!(
                                    poll(&mut table, key, None),
                                    Some(CqeResult { res, flags: 0 })
                                );
                                model.remove(&key);
                            }
                            Some(Model::Abandoned) | None => {}
                        }
                    }
                    Step::Abandon(i) if i < keys.len() => {
                        let key = keys[i];
                        let r = released.clone();
                        let park = park_fn(move |_| r.set(r.get() + 1));
                        match model.get(&key).copied() {
                            Some(Model::InKernel { .. }) => {
                                parked_total += 1;
                                assert!(matches!(table.abandon(key, park), Abandon::Parked(_)));
                                model.insert(key, Model::Abandoned);
                            }
                            Some(Model::Done(_)) => {
                                parked_total += 1;
                                let Abandon::Done(release, _) = table.abandon(key, park) else {
                                    panic!("completed slot must release at once");
                                };
                                release.run();
                                model.remove(&key);
                            }
                            Some(Model::Abandoned) | None => {}
                        }
                    }
                    Step::Stale(ud) => {
                        let key = SlotKey::from_user_data(ud);
                        if !model.contains_key(&key) {
                            assert!(matches!(
                                table.complete(ud, CqeResult { res: 0, flags: 0 }),
                                Delivery::Stale
                            ));
                        }
                    }
                    _ => {}
                }
                assert_eq!(table.live(), model.len(), "live slots match the model");
            }
            let still_parked = model.values().filter(|m| **m == Model::Abandoned).count();
            assert_eq!(
                released.get() + still_parked,
                parked_total,
                "each parked value released once"
            );
            assert_eq!(table.take_all_parked().len(), still_parked);
        }

        fn describe(d: &Delivery) -> &'static str {
            match d {
                Delivery::Stored => "stored",
                Delivery::Wake(_) => "wake",
                Delivery::Release(..) => "release",
                Delivery::Stale => "stale",
                Delivery::Item { .. } => "item",
                Delivery::Absorbed => "absorbed",
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
            #[test]
            fn slot_table_matches_the_model(steps in prop::collection::vec(step(), 1..200)) {
                run(steps);
            }
        }
    }
}

#[cfg(test)]
mod size {
    #[test]
    fn a_slot_is_small() {
        // Four slots per cache line pair at most: the state is one enum, streams out of line.
        let size = std::mem::size_of::<super::Slot>();
        assert!(size <= 32, "a slot grew to {size} bytes");
    }
}
