//! The ring: one `io_uring` instance, its slot table, and the submit/reap loop.
//!
//! A [`Ring`] belongs to the thread that built it (`!Send`, `!Sync`); build one per thread for
//! multi-core work. All of its methods take `&self`, so operations borrowing the ring can be
//! created and completed in loops, in any order.
//!
//! ```
//! use safer_ring::Ring;
//! # fn main() -> safer_ring::Result<()> {
//! let ring = Ring::new(32)?;
//! let a = ring.nop().submit()?;
//! let b = ring.nop().submit()?;
//! b.wait()?; // completes in any order
//! a.wait()?;
//! assert_eq!(ring.stats().completed, 2);
//! # Ok(()) }
//! ```
//!
//! A ring cannot leave its thread:
//!
//! ```compile_fail
//! let ring = safer_ring::Ring::new(8).unwrap();
//! std::thread::spawn(move || drop(ring));
//! ```

mod after_reap;
mod backend;
mod builder;
mod core;
mod emulated;
#[cfg(test)]
mod fake_kernel;
mod hooks;
mod kernel;
mod layers;
mod lifecycle;
mod mapped;
pub(crate) mod parked;
mod push;
mod registrar;
mod shutdown;
pub(crate) mod slots;
mod stats;
#[cfg(feature = "tracing")]
mod trace;

use std::cell::{Cell, OnceCell, RefCell};
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) use after_reap::Panic;
pub use backend::{Backend, BackendMode};
pub use builder::{
    DEFAULT_MAX_IN_FLIGHT, MAX_CQ_ENTRIES, MAX_ENTRIES, RingBuilder, RingConfig, RingSetup,
    SetupFlags,
};
pub(crate) use hooks::{FILE_IN_USER_DATA, MSG_WAKE_USER_DATA, MsgTarget, Notifier};
pub use shutdown::ShutdownReport;
pub use stats::RingStats;

use self::after_reap::AfterReap;
use self::core::{Core, Wait};
use self::layers::Layers;
use crate::error::{Result, SaferRingError};

/// A unique identity for a ring, used to check that registered resources are used with the
/// ring they were registered with (invariant 8).
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// let a = safer_ring::Ring::new(4)?;
/// let b = safer_ring::Ring::new(4)?;
/// assert_ne!(a.id(), b.id());
/// assert_eq!(a.id(), a.id());
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RingId(u64);

impl RingId {
    fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// A safe io_uring instance.
///
/// Build with [`Ring::new`] or [`Ring::builder`]; start operations with its methods
/// ([`nop`](Ring::nop), [`read_at`](Ring::read_at), ...); drive them with
/// [`Operation::wait`](crate::Operation::wait), `.await` under [`Ring::block_on`], or from
/// tokio with [`Ring::drive`](Ring::drive).
///
/// Dropping the ring cancels every operation still in flight and waits (bounded by
/// [`RingBuilder::shutdown_timeout`]) for the kernel to finish with their memory before it is
/// freed; see [`Ring::shutdown`] for the report.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{File, Ring};
/// let ring = Ring::new(64)?;
/// let file = File::from(tempfile::tempfile()?);
/// // Sync: submit, then wait.
/// ring.write_at(&file, b"ring".to_vec(), 0).submit()?.wait().0?;
/// // Async: under the ring's executor.
/// let (n, buf) = ring.block_on(ring.read_at(&file, Vec::with_capacity(8), 0));
/// assert_eq!(&buf[..n?], b"ring");
/// println!("{:?} on {:?}: {:?}", ring.id(), ring.backend(), ring.stats());
/// # Ok(()) }
/// ```
pub struct Ring {
    core: RefCell<Core>,
    id: RingId,
    /// What the ring was asked for and got (the setup flags among it).
    config: RingSetup,
    opcodes: crate::probe::OpcodeSet,
    features: crate::probe::Features,
    kernel: crate::probe::KernelVersion,
    /// What the builder was told to do without (`SAFER_RING_WITHOUT` included).
    without: crate::probe::CapabilitySet,
    shut_down: Cell<bool>,
    /// Eventfd registered with the ring for outside reactors; dropped after the ring fd.
    completion_fd: OnceCell<OwnedFd>,
    /// Swapped with the core's deferred work in [`Ring::run_deferred`].
    spare_after: Cell<Option<AfterReap>>,
    /// The outside reactor's hook, if one drives the ring; `has_notifier` keeps the check
    /// on the submit path to one flag.
    notifier: RefCell<Option<Rc<dyn Notifier>>>,
    has_notifier: Cell<bool>,
    /// What the layers above keep here (registry resources, the executor): dropped after
    /// the core, once the kernel is done with their memory.
    layers: Layers,
    /// Capabilities whose degradation this ring warned about (`tracing`: once each).
    #[cfg(feature = "tracing")]
    warned: Cell<crate::probe::CapabilitySet>,
    /// Whether a subscriber took completion events at the last turn (`tracing`).
    #[cfg(feature = "tracing")]
    tracing: Cell<bool>,
    _not_send: PhantomData<*const ()>,
}

impl Ring {
    /// A ring with `entries` submission entries (completion queue twice that) and the default
    /// setup flags (`SINGLE_ISSUER | DEFER_TASKRUN` where the kernel has them).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(256)?;
    /// assert_eq!(ring.config().entries, 256);
    /// ring.nop().submit()?.wait()?;
    /// // More than the kernel allows is an error, not a silent clamp.
    /// assert!(safer_ring::Ring::new(u32::MAX).is_err());
    /// # Ok(()) }
    /// ```
    pub fn new(entries: u32) -> Result<Self> {
        Self::builder().entries(entries).build()
    }

    /// A builder for non-default settings.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{Ring, RingBuilder};
    /// assert_eq!(Ring::builder(), RingBuilder::default());
    /// let ring = Ring::builder().entries(16).max_in_flight(100).build()?;
    /// assert_eq!(ring.config().requested, Ring::builder().entries(16).max_in_flight(100));
    /// assert_eq!(ring.capacity(), 100);
    /// # Ok(()) }
    /// ```
    pub fn builder() -> RingBuilder {
        RingBuilder::default()
    }

    fn from_parts(
        core: Core,
        config: RingSetup,
        features: crate::probe::Features,
        without: crate::probe::CapabilitySet,
    ) -> Self {
        let opcodes = core.opcodes();
        Self {
            opcodes,
            features,
            kernel: crate::probe::KernelVersion::running(),
            without,
            core: RefCell::new(core),
            id: RingId::next(),
            config,
            shut_down: Cell::new(false),
            completion_fd: OnceCell::new(),
            spare_after: Cell::new(Some(AfterReap::with_room())),
            notifier: RefCell::new(None),
            has_notifier: Cell::new(false),
            layers: Layers::default(),
            #[cfg(feature = "tracing")]
            warned: Cell::new(crate::probe::CapabilitySet::default()),
            #[cfg(feature = "tracing")]
            tracing: Cell::new(trace::enabled()),
            _not_send: PhantomData,
        }
    }

    /// This ring's identity.
    ///
    /// A registered resource names its ring by this id; another ring refuses it:
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{File, Ring, SaferRingError};
    /// let (a, b) = (Ring::new(4)?, Ring::new(4)?);
    /// assert_ne!(a.id(), b.id());
    /// a.register_files(1)?;
    /// b.register_files(1)?;
    /// let fixed = a.register_file(&File::from(tempfile::tempfile()?))?;
    /// let err = b.fsync(&fixed).submit().unwrap_err();
    /// assert!(matches!(err.error(), SaferRingError::RingMismatch { .. }), "{err}");
    /// a.fsync(&fixed).submit()?.wait()?;
    /// # Ok(()) }
    /// ```
    pub fn id(&self) -> RingId {
        self.id
    }

    /// The setup flags the kernel accepted.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(8)?;
    /// let flags = ring.setup_flags();
    /// assert_eq!(flags, ring.config().flags);
    /// assert!(flags.single_issuer && flags.defer_taskrun); // the defaults, on Linux 6.1+
    /// assert!(!flags.sqpoll && !flags.iopoll); // not asked for
    /// # Ok(()) }
    /// ```
    pub fn setup_flags(&self) -> SetupFlags {
        self.config.flags
    }

    /// The options this ring was built with, and what the kernel granted (queue sizes after
    /// rounding, setup flags, the `SQPOLL` idle time).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(8)?;
    /// assert_eq!(ring.config().requested, safer_ring::RingBuilder::default().entries(8));
    /// assert_eq!((ring.config().entries, ring.config().cq_entries), (8, 16));
    /// # Ok(()) }
    /// ```
    pub fn config(&self) -> &RingSetup {
        &self.config
    }

    /// The opcodes this ring's kernel supports.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::op::SUPPORTED_OPCODES;
    /// let ring = safer_ring::Ring::new(4)?;
    /// let missing: Vec<&str> = SUPPORTED_OPCODES
    ///     .iter()
    ///     .filter(|(_, code)| !ring.opcodes().contains(*code))
    ///     .map(|(name, _)| *name)
    ///     .collect();
    /// assert!(missing.is_empty(), "this kernel lacks {missing:?}"); // Linux 6.1+ has them all
    /// # Ok(()) }
    /// ```
    pub fn opcodes(&self) -> crate::probe::OpcodeSet {
        self.opcodes
    }

    /// The `IORING_FEAT_*` flags the kernel reported when this ring was set up.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{BackendMode, Features, Ring};
    /// let ring = Ring::new(4)?;
    /// assert!(ring.features().contains("NODROP") && ring.features().contains("FAST_POLL"));
    /// // The fallback backend has no kernel ring, so no features.
    /// let fallback = Ring::builder().backend(BackendMode::Fallback).build()?;
    /// assert_eq!(fallback.features(), Features::default());
    /// # Ok(()) }
    /// ```
    pub fn features(&self) -> crate::probe::Features {
        self.features
    }

    /// What io_uring can do for this ring, by name (see [`Capabilities`]): operations whose
    /// capability is missing fall back to what the kernel has.
    ///
    /// [`Capabilities`]: crate::probe::Capabilities
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::probe::Capability;
    /// let ring = safer_ring::Ring::new(4)?;
    /// let caps = ring.capabilities();
    /// // The setup capabilities are the flags the kernel granted.
    /// assert_eq!(caps.has(Capability::DeferTaskrun), ring.setup_flags().defer_taskrun);
    /// assert_eq!(caps.has(Capability::NoSqArray), ring.setup_flags().no_sqarray);
    /// assert_eq!(caps.opcodes(), ring.opcodes());
    /// # Ok(()) }
    /// ```
    pub fn capabilities(&self) -> crate::probe::Capabilities {
        crate::probe::Capabilities {
            kernel: self.kernel,
            opcodes: self.opcodes,
            features: self.features,
            setup: self.config.flags.granted(),
            without: self.without,
        }
    }

    /// Whether this ring has `capability` (shorthand for `capabilities().has(..)`).
    #[inline]
    pub(crate) fn has(&self, capability: crate::probe::Capability) -> bool {
        let has = self.capabilities().has(capability);
        #[cfg(feature = "tracing")]
        if !has {
            self.trace_degraded(capability);
        }
        has
    }

    /// The backend this ring runs on: io_uring, or the fallback where io_uring could not be
    /// set up (see [`BackendMode`]).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{Backend, BackendMode, Ring};
    /// assert_eq!(Ring::new(4)?.backend(), Backend::IoUring); // io_uring works here
    /// let fallback = Ring::builder().backend(BackendMode::Fallback).build()?;
    /// assert_eq!(fallback.backend(), Backend::Fallback);
    /// # Ok(()) }
    /// ```
    pub fn backend(&self) -> Backend {
        match self.core.borrow().is_emulated() {
            true => Backend::Fallback,
            false => Backend::IoUring,
        }
    }

    /// Counters of the ring's work so far.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{File, Ring};
    /// let ring = Ring::new(8)?;
    /// let file = File::from(tempfile::tempfile()?);
    /// ring.write_at(&file, b"x".to_vec(), 0).submit()?.wait().0?;
    /// let (pipe, _writer) = std::io::pipe()?;
    /// let pipe = File::from(std::os::fd::OwnedFd::from(pipe));
    /// drop(ring.read(&pipe, vec![0; 8]).submit()?); // abandoned mid-flight
    /// let stats = ring.stats();
    /// assert_eq!((stats.submitted, stats.abandoned), (2, 1));
    /// assert!(stats.completed >= 1 && stats.enters >= 1);
    /// # Ok(()) }
    /// ```
    pub fn stats(&self) -> RingStats {
        self.core.borrow().stats()
    }

    /// Operations the kernel currently holds.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::time::Duration;
    /// let ring = safer_ring::Ring::new(8)?;
    /// assert_eq!(ring.in_flight(), 0);
    /// let timer = ring.sleep(Duration::from_millis(1)).submit()?;
    /// assert_eq!(ring.in_flight(), 1); // queued: the kernel will owe its completion
    /// timer.wait()?;
    /// assert_eq!(ring.in_flight(), 0);
    /// # Ok(()) }
    /// ```
    pub fn in_flight(&self) -> usize {
        self.core.borrow().ops_in_kernel()
    }

    /// Slots in use: operations in flight, abandoned ones awaiting their final CQE, and
    /// completed ones whose owner has not taken the result yet. Zero when everything is done.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(8)?;
    /// let nop = ring.nop().submit()?;
    /// ring.turn(true)?; // its completion arrives; the owner has not taken it yet
    /// assert_eq!((ring.in_flight(), ring.live_slots()), (0, 1));
    /// nop.wait()?;
    /// assert_eq!(ring.live_slots(), 0);
    /// # Ok(()) }
    /// ```
    pub fn live_slots(&self) -> usize {
        self.core.borrow().live_slots()
    }

    /// The most operations in flight at once ([`RingBuilder::max_in_flight`]); not capped
    /// by the completion queue's size.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{DEFAULT_MAX_IN_FLIGHT, Ring};
    /// let ring = Ring::builder().entries(8).max_in_flight(3).build()?;
    /// assert_eq!(ring.capacity(), 3);
    /// assert_eq!(ring.config().max_in_flight, 3);
    /// assert_eq!(Ring::new(8)?.capacity(), DEFAULT_MAX_IN_FLIGHT); // not capped by the CQ (16)
    /// # Ok(()) }
    /// ```
    pub fn capacity(&self) -> usize {
        self.core.borrow().limit()
    }

    /// Submits every queued SQE to the kernel now, without waiting. Operations are queued by
    /// `submit()` and reach the kernel at the next flush: a wait, an executor turn, or this.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(8)?;
    /// let nops: Vec<_> = (0..3).map(|_| ring.nop().submit()).collect::<Result<_, _>>()?;
    /// let enters = ring.stats().enters;
    /// assert_eq!(ring.submit()?, 3); // all three in one system call
    /// assert_eq!(ring.stats().enters, enters + 1);
    /// assert_eq!(ring.submit()?, 0); // nothing left queued
    /// for nop in nops {
    ///     nop.wait()?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn submit(&self) -> Result<usize> {
        self.with_core(|core| core.flush())
    }

    /// Tells the outside driver (if any) that SQEs are queued, then runs the work a push
    /// deferred (wakers of what its reap completed). Call only once every queued SQE's
    /// resources are owned by an operation or a slot (invariant 11): it runs user code.
    #[inline]
    pub(crate) fn sqes_queued(&self) {
        if self.has_notifier.get() {
            self.notify();
        }
        self.finish_deferred();
    }

    /// Calls the notifier, with no borrow held while it runs.
    #[cold]
    fn notify(&self) {
        let notifier = self.notifier.borrow().clone();
        if let Some(notifier) = notifier {
            notifier.sqes_queued();
        }
    }

    /// Submits queued SQEs, runs completion work and delivers every available completion
    /// (waking futures); if `wait` and the kernel holds anything, first blocks for at least one.
    /// Returns the number of CQEs delivered.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(8)?;
    /// let (a, b) = (ring.nop().submit()?, ring.nop().submit()?);
    /// assert_eq!(ring.turn(true)?, 2); // submitted, waited, both delivered
    /// assert_eq!(ring.turn(true)?, 0); // nothing in the kernel: returns at once
    /// assert!(a.try_complete().is_ok() && b.try_complete().is_ok());
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn turn(&self, wait: bool) -> Result<usize> {
        let wait = if wait { Wait::One } else { Wait::No };
        self.with_core(|core| core.turn(wait))
    }

    /// Runs `f` on the core, then the deferred work (wakers, releases of parked resources,
    /// replaced wakers) with the borrow released: all of it is user code, which may re-enter
    /// the ring or panic (invariant 11). `f` must leave every queued SQE's resources owned
    /// by an operation or a slot.
    ///
    /// # Panics
    /// Resumes the first panic of the deferred work, after all of it ran.
    #[inline]
    fn with_core<R>(&self, f: impl FnOnce(&mut Core) -> R) -> R {
        #[cfg(feature = "tracing")]
        let tracing = trace::enabled();
        #[cfg(feature = "tracing")]
        self.tracing.set(tracing);
        let out = f(&mut self.core.borrow_mut());
        self.finish_deferred();
        #[cfg(feature = "tracing")]
        if tracing {
            self.emit_traces();
        }
        out
    }

    /// Runs the deferred work, if any, and resumes its first panic.
    #[inline]
    fn finish_deferred(&self) {
        if !self.core.borrow().has_deferred() {
            return;
        }
        if let Some(panic) = self.run_deferred() {
            std::panic::resume_unwind(panic);
        }
    }

    /// Runs the deferred work with no borrow held and returns the first panic it raised
    /// (every item still ran). While the thread is already unwinding, leaves the work for the
    /// next turn instead: a second panic would abort.
    fn run_deferred(&self) -> Option<Panic> {
        if std::thread::panicking() {
            return None;
        }
        // Swap the work out for the ring's spare (empty, with capacity), so neither side is
        // built or dropped on this path. A nested call finds no spare and uses a new one.
        let mut after = self.spare_after.take().unwrap_or_default();
        self.core.borrow_mut().swap_deferred(&mut after);
        let panic = after.run();
        self.spare_after.set(Some(after));
        panic
    }

    /// Makes the next `pushes` SQE pushes find the submission queue full (fault injection).
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn inject_sq_full(&self, pushes: u32) {
        self.core.borrow_mut().inject_sq_full(pushes);
    }

    /// Delivers the next `count` operation completions as failures with `errno`, whatever
    /// the kernel said (fault injection). Use with operations whose success creates nothing
    /// (reads, writes, NOPs): an `openat` reported as failed would leak the fd it opened.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn inject_cqe_errors(&self, errno: i32, count: u32) {
        self.core.borrow_mut().inject_cqe_errors(errno, count);
    }

    /// Injects a raw NOP completion with an arbitrary `user_data` (stale-generation tests).
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn inject_raw_nop(&self, user_data: u64) -> Result<()> {
        self.with_core(|core| core.push_raw_nop(user_data))
    }
}

impl AsRawFd for Ring {
    fn as_raw_fd(&self) -> RawFd {
        self.core.borrow().fd()
    }
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("id", &self.id)
            .field("flags", &self.config.flags)
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

/// Errors that mean "no capacity now": the caller may wait and retry.
pub(crate) fn is_backpressure(err: &SaferRingError) -> bool {
    matches!(
        err,
        SaferRingError::SlotTableFull { .. } | SaferRingError::SubmissionQueueFull
    )
}

// Compile-time proof that `Ring` is neither `Send` nor `Sync`: if it were, the trait paths
// below would be ambiguous and this would not compile (the `static_assertions` trick).
const _: () = {
    trait AmbiguousIfImpl<A> {
        fn some_item() {}
    }
    impl<T: ?Sized> AmbiguousIfImpl<()> for T {}
    impl<T: ?Sized + Send> AmbiguousIfImpl<u8> for T {}
    impl<T: ?Sized + Sync> AmbiguousIfImpl<u16> for T {}
    let _ = <Ring as AmbiguousIfImpl<_>>::some_item;
};
