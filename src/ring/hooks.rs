//! The ring's surface for the layers above the driver: the notifier an outside reactor
//! installs, the state layers keep in the ring, the registration hook the registry borrows,
//! the executor's wake-up poll, the completion eventfd for outside reactors, and the handle
//! other rings wake this one through (`IORING_OP_MSG_RING`), and the files they send it.
#![forbid(unsafe_code)]

use std::any::Any;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;

use super::Ring;
use crate::error::{Result, SaferRingError};

/// Where another ring's `IORING_OP_MSG_RING` wakes this one: a duplicate of the ring's fd.
/// It keeps the kernel's ring alive while any message names it, even after the `Ring` is
/// dropped (a message then lands in a ring nobody reads, never in another that reused the fd
/// number), so a message holding it is sound at any time (invariant 6).
#[derive(Clone, Debug)]
pub(crate) struct MsgTarget(Arc<OwnedFd>);

impl MsgTarget {
    /// The fd a MSG_RING SQE names.
    pub(crate) fn raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// The `user_data` of the CQE a wake-up message posts in its target ring.
pub(crate) const MSG_WAKE_USER_DATA: u64 =
    super::slots::SlotKey::internal(super::core::tag::MSG_WAKE);

/// The `user_data` of the CQE a file sent by another ring posts here (its result: the slot).
pub(crate) const FILE_IN_USER_DATA: u64 =
    super::slots::SlotKey::internal(super::core::tag::FILE_IN);

/// What the ring calls when it queued SQEs: an outside reactor's hook (tokio's, in
/// `runtime/`), so its next turn submits them. Called with no borrow of the ring held, once
/// the SQEs' resources are owned by their operations (invariant 11): it may run user code.
pub(crate) trait Notifier {
    /// SQEs were queued.
    fn sqes_queued(&self);
}

impl Ring {
    /// Installs (or with `None` removes) the outside reactor's hook; returns the one it
    /// replaces, for the caller to drop with nothing borrowed.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn set_notifier(
        &self,
        notifier: Option<Rc<dyn Notifier>>,
    ) -> Option<Rc<dyn Notifier>> {
        self.has_notifier.set(notifier.is_some());
        self.notifier.replace(notifier)
    }

    /// The notifier now installed, if any.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn notifier(&self) -> Option<Rc<dyn Notifier>> {
        self.notifier.borrow().clone()
    }

    /// The state the layer owning `T` keeps in this ring, if any (see [`Layers`]).
    #[inline]
    pub(crate) fn layer<T: Any>(&self) -> Option<Rc<T>> {
        self.layers.get()
    }

    /// As [`layer`](Self::layer), made by `init` on first use.
    pub(crate) fn layer_or_init<T: Any>(&self, init: impl FnOnce() -> T) -> Rc<T> {
        self.layers.get_or_init(init)
    }

    /// Lends the registration interface (`io_uring_register`, or the fallback backend's
    /// tables) to the registry. `f` must not re-enter the ring (it is library code, never
    /// user code).
    pub(crate) fn registration<R>(
        &self,
        f: impl FnOnce(&super::registrar::Registrar<'_>) -> std::io::Result<R>,
    ) -> std::io::Result<R> {
        f(&self.core.borrow().registrar())
    }

    /// Arms the ring's wake-up poll on `fd` (the built-in executor's eventfd) unless armed.
    /// The ring keeps a reference to `fd` from then on, until it is gone.
    pub(crate) fn arm_wake_poll<F: AsFd + 'static>(&self, fd: &Arc<F>) -> Result<()> {
        self.with_core(|core| {
            core.wake_slot_waiters_if_capacity();
            core.arm_wake_poll(|| fd.clone())
        })
    }

    /// The slot of the next file another ring sent here ([`Ring::send_file`]), if one came;
    /// otherwise `waker` (if given) is woken when one does.
    pub(crate) fn poll_file_in(&self, waker: Option<&Waker>) -> Option<u32> {
        let taken = self.core.borrow_mut().take_file_in();
        if taken.is_some() {
            return taken;
        }
        let waker = waker?.clone(); // user code: outside the borrow
        let replaced = self.core.borrow_mut().set_file_in_waker(waker);
        drop(replaced);
        None
    }

    /// Wake-up poll CQEs since the last call.
    pub(crate) fn take_wake_cqes(&self) -> u32 {
        self.core.borrow_mut().take_wake_cqes()
    }

    /// Wakes every future waiting for a slot if capacity is free (before a reactor sleeps,
    /// so a waiter whose wake-up was consumed by a dropped future still makes progress).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn wake_capacity_waiters(&self) {
        self.with_core(|core| core.wake_slot_waiters_if_capacity());
    }

    /// The handle through which other rings wake this one (see [`MsgTarget`]).
    pub(crate) fn msg_target(&self) -> Result<MsgTarget> {
        crate::sys::dup_cloexec(self.as_raw_fd())
            .map(|fd| MsgTarget(Arc::new(fd)))
            .map_err(|e| SaferRingError::os("dup of the ring fd", e))
    }

    /// An eventfd the kernel signals whenever this ring has completion work (registered with
    /// `IORING_REGISTER_EVENTFD` on first use). Readable means: call [`Ring::turn`].
    ///
    /// An outside reactor (epoll, tokio's `AsyncFd`) watches it; here a plain `poll(2)`:
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::time::Duration;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let fd = ring.completion_eventfd()?;
    /// assert_eq!(ring.completion_eventfd()?, fd); // registered once: the same fd after
    /// let timer = ring.sleep(Duration::from_millis(1)).submit()?;
    /// ring.submit()?; // to the kernel now
    /// let mut pollfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    /// // SAFETY: one valid `pollfd`, for the duration of the call.
    /// let ready = unsafe { libc::poll(&mut pollfd, 1, 5_000) };
    /// assert_eq!(ready, 1, "the kernel signals the timer's completion work");
    /// assert_eq!(ring.turn(false)?, 1); // readable: turn the ring, it delivers the timer's CQE
    /// assert!(timer.try_complete().is_ok());
    /// # Ok(()) }
    /// ```
    pub fn completion_eventfd(&self) -> Result<RawFd> {
        if let Some(fd) = self.completion_fd.get() {
            return Ok(fd.as_raw_fd());
        }
        let fd = if self.core.borrow().is_emulated() {
            // The fallback's stand-in for the ring fd is that eventfd already.
            crate::sys::dup_cloexec(self.as_raw_fd())
                .map_err(|e| SaferRingError::os("completion_eventfd", e))?
        } else {
            let fd =
                crate::sys::eventfd().map_err(|e| SaferRingError::os("completion_eventfd", e))?;
            self.registration(|kernel| kernel.register_eventfd(fd.as_raw_fd()))
                .map_err(|e| SaferRingError::os("completion_eventfd", e))?;
            fd
        };
        Ok(self.completion_fd.get_or_init(|| fd).as_raw_fd())
    }
}
