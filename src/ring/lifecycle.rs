//! The ring's surface for operations and streams (`op/`): poll for a completion, wait for
//! it, wait for capacity, abandon mid-flight. The pushes that start them are in `push.rs`.
#![forbid(unsafe_code)]

use std::task::Waker;

use super::Ring;
use super::parked::Parked;
use super::slots::{CqeResult, Polled, SlotKey};
use crate::error::Result;

impl Ring {
    /// Takes the completion for `key` if it arrived; otherwise records `waker`.
    #[inline(always)]
    pub(crate) fn poll_op(&self, key: SlotKey, waker: Option<&Waker>) -> Option<CqeResult> {
        // Bound first: the borrow must end before the slow path borrows again.
        let polled = self.core.borrow_mut().poll(key, waker);
        match polled {
            Polled::Ready(cqe) => Some(cqe),
            Polled::Pending => None,
            Polled::NeedsWaker => self.poll_op_storing(key, waker),
        }
    }

    /// [`poll_op`](Self::poll_op) when the slot needs (a new clone of) the waker.
    #[cold]
    #[inline(never)]
    fn poll_op_storing(&self, key: SlotKey, waker: Option<&Waker>) -> Option<CqeResult> {
        let waker = waker.expect("asked only when a waker was given");
        loop {
            if self.store_waker(key, waker) {
                return None;
            }
            let polled = self.core.borrow_mut().poll(key, Some(waker));
            match polled {
                Polled::Ready(cqe) => return Some(cqe),
                Polled::Pending => return None,
                Polled::NeedsWaker => {}
            }
        }
    }

    /// Stores a clone of `waker` in `key`'s slot; cloning and dropping the waker it replaces
    /// happen outside the borrow (both run user code). `false`: the slot completed meanwhile
    /// and refused it, so the caller polls again. (Never loop on `will_wake`: two clones of
    /// one waker may compare unequal.)
    #[cold]
    fn store_waker(&self, key: SlotKey, waker: &Waker) -> bool {
        let clone = waker.clone();
        // Bound to a local so that the waker coming back drops after the borrow ends.
        let stored = self.core.borrow_mut().store_waker(key, clone);
        stored.is_ok()
    }

    /// Blocks until the completion for `key` arrives.
    #[inline(always)]
    pub(crate) fn wait_op(&self, key: SlotKey) -> Result<CqeResult> {
        match self.poll_op(key, None) {
            Some(cqe) => Ok(cqe),
            None => self.wait_op_turning(key),
        }
    }

    /// [`wait_op`](Self::wait_op) when the completion has not arrived yet: turns the ring
    /// until it has.
    #[inline(never)]
    fn wait_op_turning(&self, key: SlotKey) -> Result<CqeResult> {
        loop {
            self.turn(true)?;
            if let Some(cqe) = self.poll_op(key, None) {
                return Ok(cqe);
            }
        }
    }

    /// Parks an abandoned operation's resources in its slot and cancels it (invariant 3).
    pub(crate) fn abandon_op(&self, key: SlotKey, parked: Parked) {
        self.with_core(|core| core.abandon(key, parked, false));
        self.sqes_queued();
    }

    /// Asks the kernel to cancel `key`'s operation; its owner still takes the final CQE.
    pub(crate) fn cancel_op(&self, key: SlotKey) {
        self.with_core(|core| core.cancel_owned(key));
        self.sqes_queued();
    }

    /// As [`abandon_op`](Self::abandon_op), for a multishot stream.
    pub(crate) fn abandon_stream(&self, key: SlotKey, parked: Parked) {
        self.with_core(|core| core.abandon(key, parked, true));
        self.sqes_queued();
    }

    /// The next CQE of a stream slot, or `None` once its final CQE was taken.
    pub(crate) fn poll_stream(
        &self,
        key: SlotKey,
        waker: &Waker,
    ) -> std::task::Poll<Option<CqeResult>> {
        loop {
            match self.core.borrow_mut().poll_next(key, waker) {
                Polled::Ready(next) => return std::task::Poll::Ready(next),
                Polled::Pending => return std::task::Poll::Pending,
                Polled::NeedsWaker => {}
            }
            if self.store_waker(key, waker) {
                return std::task::Poll::Pending;
            }
        }
    }

    /// Registers a future that is waiting for capacity; it is woken when a slot frees.
    pub(crate) fn wait_for_capacity(&self, waker: &Waker) -> bool {
        if self.core.borrow().has_capacity() {
            return false;
        }
        self.wait_for_turn(waker);
        true
    }

    /// Registers a future to be woken at the next executor turn (after a full SQ). The waker
    /// is cloned before the borrow (user code).
    pub(crate) fn wait_for_turn(&self, waker: &Waker) {
        let clone = waker.clone();
        self.core.borrow_mut().wait_for_turn(clone);
    }
}
