//! The kernel as the driver core sees it: a submission queue to push to, one `enter` call,
//! a completion queue to drain. [`Uring`] is the real one (an `io_uring` instance, its fd
//! registered for this thread where the kernel allows); [`Emulated`] the fallback backend
//! (`ring/emulated/`: the same contract run by worker threads with plain system calls), and
//! [`Backend`] whichever of the two a ring was built with. The core's own tests drive the
//! same core through a fake completion source (`ring/fake_kernel.rs`), with no kernel at all.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use io_uring::{EnterFlags, IoUring, squeue};

use super::emulated::Emulated;
use super::mapped::Queues;
use super::slots::CqeResult;

/// What the core needs from a kernel.
pub(crate) trait Kernel {
    /// Queues `entry`; `false` if the submission queue is full.
    ///
    /// # Safety
    ///
    /// As [`Core::push_op`](super::core::Core::push_op): every pointer and fd in `entry` stays
    /// valid until its final CQE (invariants 1–6).
    unsafe fn push(&mut self, entry: &squeue::Entry) -> bool;

    /// SQEs queued and not yet submitted.
    fn queued(&mut self) -> u32;

    /// Whether a kernel thread takes queued SQEs without a call (`SQPOLL`, awake, with room).
    fn submits_by_itself(&mut self) -> bool {
        false
    }

    /// Free entries in the submission queue, and its size.
    fn sq_room(&mut self) -> (usize, usize);

    /// `io_uring_enter`: submits `to_submit` SQEs and, if `get_events`, runs completion work
    /// and waits for `min_complete` CQEs (at most `timeout`, if given).
    ///
    /// # Safety
    ///
    /// Every queued SQE names memory and fds kept valid until its final CQE (invariants 1–6).
    unsafe fn enter(
        &mut self,
        to_submit: u32,
        min_complete: u32,
        get_events: bool,
        timeout: Option<Duration>,
    ) -> io::Result<usize>;

    /// Whether completions wait in the kernel's overflow list (the CQ was full).
    fn cq_overflow(&mut self) -> bool;

    /// Hands every CQE in the completion queue now to `f`, in order, as `(user_data, result)`.
    fn drain(&mut self, f: impl FnMut(u64, CqeResult));
}

/// The real kernel: an `io_uring` instance.
pub(crate) struct Uring {
    /// The queues as the hot path writes and reads them.
    queues: Queues,
    uring: IoUring,
    /// The ring's index in this thread's registered-ring table, if registered: passed to
    /// `io_uring_enter` instead of the fd, it saves the kernel an fd lookup per call.
    registered_index: Option<u32>,
    /// `IORING_SETUP_SQPOLL`: a kernel thread takes the SQEs; entering only wakes it.
    sqpoll: bool,
}

impl Uring {
    /// Wraps `uring` (set up with `SQPOLL` if `sqpoll`), registering its fd for this thread
    /// if `register` and the kernel allows (Linux 5.18; not past 16 rings on one thread: then
    /// the plain fd).
    pub fn new(uring: IoUring, register: bool, sqpoll: bool) -> io::Result<Self> {
        let queues = Queues::map(&uring)?;
        let registered_index = register
            .then(|| crate::sys::register_ring_fd(uring.as_raw_fd()).ok())
            .flatten();
        Ok(Self {
            queues,
            uring,
            registered_index,
            sqpoll,
        })
    }

    /// The `IORING_ENTER_SQ_*` flags an `SQPOLL` ring needs to submit now: wake the thread
    /// if it sleeps, wait for room if the queue is full. `None`: it needs no call at all.
    fn sqpoll_flags(&mut self) -> Option<u32> {
        let mut flags = 0;
        if self.queues.sq_need_wakeup() {
            flags |= EnterFlags::SQ_WAKEUP.bits();
        }
        if self.queues.sq_room().0 == 0 {
            flags |= EnterFlags::SQ_WAIT.bits();
        }
        (flags != 0).then_some(flags)
    }

    /// Completion-queue entries, and whether the kernel keeps overflowing CQEs
    /// (`IORING_FEAT_NODROP`).
    pub fn cq_entries(&self) -> (usize, bool) {
        let params = self.uring.params();
        (params.cq_entries() as usize, params.is_feature_nodrop())
    }

    /// Whether the ring fd is registered.
    pub fn fd_registered(&self) -> bool {
        self.registered_index.is_some()
    }

    /// The ring's fd.
    pub fn fd(&self) -> RawFd {
        self.uring.as_raw_fd()
    }

    /// The kernel's registration interface (`io_uring_register`).
    pub fn submitter(&self) -> io_uring::Submitter<'_> {
        self.uring.submitter()
    }
}

impl Kernel for Uring {
    #[inline]
    unsafe fn push(&mut self, entry: &squeue::Entry) -> bool {
        // SAFETY: forwarded from this function's contract (invariants 1–6).
        unsafe { self.queues.push(entry) }
    }

    #[inline]
    fn queued(&mut self) -> u32 {
        self.queues.publish()
    }

    fn submits_by_itself(&mut self) -> bool {
        self.sqpoll && self.sqpoll_flags().is_none()
    }

    fn sq_room(&mut self) -> (usize, usize) {
        self.queues.sq_room()
    }

    unsafe fn enter(
        &mut self,
        to_submit: u32,
        min_complete: u32,
        get_events: bool,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let mut flags = if get_events {
            EnterFlags::GETEVENTS.bits()
        } else {
            0
        };
        self.queues.publish();
        if self.sqpoll {
            // The kernel's thread takes the SQEs; a call only wakes it or waits for room.
            flags |= self.sqpoll_flags().unwrap_or(0);
        }
        let (fd, flags) = match self.registered_index {
            Some(index) => (index as RawFd, flags | EnterFlags::REGISTERED_RING.bits()),
            None => (self.uring.as_raw_fd(), flags),
        };
        // SAFETY: forwarded from this function's contract (invariants 1–6).
        unsafe { crate::sys::io_uring_enter(fd, to_submit, min_complete, flags, timeout) }
    }

    #[inline]
    fn cq_overflow(&mut self) -> bool {
        self.queues.cq_overflow()
    }

    #[inline]
    fn drain(&mut self, f: impl FnMut(u64, CqeResult)) {
        self.queues.drain(f);
    }
}

impl Drop for Uring {
    /// Releases the thread's registered-ring index (it holds a reference to the ring file, so
    /// the ring would otherwise outlive its fd until the thread exits). `Ring` is `!Send`, so
    /// this runs on the registering thread.
    fn drop(&mut self) {
        if let Some(index) = self.registered_index.take() {
            let _ = crate::sys::unregister_ring_fd(self.uring.as_raw_fd(), index);
        }
    }
}

/// The kernel a ring was built with: io_uring, or the fallback backend.
#[allow(clippy::large_enum_variant)] // one per ring; a box would put a pointer chase on every push
pub(crate) enum Backend {
    Uring(Uring),
    Emulated(Emulated),
}

impl Backend {
    /// Completion-queue entries, and whether overflowing CQEs are kept, not dropped.
    pub fn cq_entries(&self) -> (usize, bool) {
        match self {
            Self::Uring(uring) => uring.cq_entries(),
            // Its queue grows as needed: twice the SQ, as io_uring's default, sizes the table.
            Self::Emulated(emulated) => (2 * emulated.sq_room_total(), true),
        }
    }

    /// Whether the ring fd is registered.
    pub fn fd_registered(&self) -> bool {
        matches!(self, Self::Uring(uring) if uring.fd_registered())
    }

    /// The ring's fd; for the fallback, an eventfd readable while CQEs wait.
    pub fn fd(&self) -> RawFd {
        match self {
            Self::Uring(uring) => uring.fd(),
            Self::Emulated(emulated) => emulated.fd(),
        }
    }

    /// The registration interface: the kernel's, or the fallback's tables.
    pub fn registrar(&self) -> super::registrar::Registrar<'_> {
        match self {
            Self::Uring(uring) => {
                super::registrar::Registrar::Kernel(uring.submitter(), uring.fd())
            }
            Self::Emulated(emulated) => super::registrar::Registrar::Emulated(emulated.tables()),
        }
    }

    /// The opcodes this backend runs.
    pub fn opcodes(&self) -> crate::probe::OpcodeSet {
        match self {
            Self::Uring(uring) => crate::probe::OpcodeSet::probe(&uring.submitter()),
            Self::Emulated(_) => super::emulated::opcodes(),
        }
    }
}

impl Kernel for Backend {
    #[inline]
    unsafe fn push(&mut self, entry: &squeue::Entry) -> bool {
        match self {
            // SAFETY: forwarded from this function's contract (invariants 1–6).
            Self::Uring(k) => unsafe { k.push(entry) },
            // SAFETY: as above.
            Self::Emulated(k) => unsafe { k.push(entry) },
        }
    }

    #[inline]
    fn queued(&mut self) -> u32 {
        match self {
            Self::Uring(k) => k.queued(),
            Self::Emulated(k) => k.queued(),
        }
    }

    #[inline]
    fn submits_by_itself(&mut self) -> bool {
        match self {
            Self::Uring(k) => k.submits_by_itself(),
            Self::Emulated(k) => k.submits_by_itself(),
        }
    }

    fn sq_room(&mut self) -> (usize, usize) {
        match self {
            Self::Uring(k) => k.sq_room(),
            Self::Emulated(k) => k.sq_room(),
        }
    }

    unsafe fn enter(
        &mut self,
        to_submit: u32,
        min_complete: u32,
        get_events: bool,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        match self {
            // SAFETY: forwarded from this function's contract (invariants 1–6).
            Self::Uring(k) => unsafe { k.enter(to_submit, min_complete, get_events, timeout) },
            // SAFETY: as above.
            Self::Emulated(k) => unsafe { k.enter(to_submit, min_complete, get_events, timeout) },
        }
    }

    #[inline]
    fn cq_overflow(&mut self) -> bool {
        match self {
            Self::Uring(k) => k.cq_overflow(),
            Self::Emulated(k) => k.cq_overflow(),
        }
    }

    #[inline]
    fn drain(&mut self, f: impl FnMut(u64, CqeResult)) {
        match self {
            Self::Uring(k) => k.drain(f),
            Self::Emulated(k) => k.drain(f),
        }
    }
}
