//! [`RingBuilder`] (also called [`RingConfig`]): ring size, setup flags, presets and
//! shutdown policy; [`RingSetup`]: what a built ring asked for and what the kernel granted.
#![forbid(unsafe_code)]

use std::time::Duration;

use io_uring::IoUring;

use super::Ring;
use super::backend::BackendMode;
use super::core::Core;
use super::emulated::Emulated;
use super::kernel::Backend as Kernels;
use crate::error::{Result, SaferRingError};
use crate::probe::{Capability, CapabilitySet};

/// The kernel's largest submission queue (`IORING_MAX_ENTRIES`).
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::ring::{MAX_CQ_ENTRIES, MAX_ENTRIES};
/// let ring = safer_ring::Ring::builder().entries(MAX_ENTRIES).build()?;
/// assert_eq!((ring.config().entries, ring.config().cq_entries), (MAX_ENTRIES, MAX_CQ_ENTRIES));
/// assert!(safer_ring::Ring::new(MAX_ENTRIES + 1).is_err());
/// # Ok(()) }
/// ```
pub const MAX_ENTRIES: u32 = 32_768;
/// The kernel's largest completion queue (`IORING_MAX_CQ_ENTRIES`; see [`MAX_ENTRIES`]).
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::ring::{MAX_CQ_ENTRIES, MAX_ENTRIES};
/// use safer_ring::{Ring, SaferRingError};
/// assert_eq!(MAX_CQ_ENTRIES, 2 * MAX_ENTRIES);
/// let ring = Ring::builder().entries(8).cq_entries(MAX_CQ_ENTRIES).build()?;
/// assert_eq!(ring.config().cq_entries, MAX_CQ_ENTRIES);
/// let err = Ring::builder().entries(8).cq_entries(MAX_CQ_ENTRIES + 1).build().unwrap_err();
/// let SaferRingError::TooLarge { option, max, .. } = err else { panic!("{err}") };
/// assert_eq!((option, max), ("cq_entries", u64::from(MAX_CQ_ENTRIES)));
/// # Ok(()) }
/// ```
pub const MAX_CQ_ENTRIES: u32 = 2 * MAX_ENTRIES;

/// The setup flags a ring was built with (what the kernel accepted).
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// let ring = safer_ring::Ring::new(8)?;
/// let flags = ring.setup_flags();
/// println!("single issuer: {}, defer taskrun: {}", flags.single_issuer, flags.defer_taskrun);
/// assert!(!flags.sqpoll && !flags.iopoll); // not asked for
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SetupFlags {
    /// `IORING_SETUP_SINGLE_ISSUER` (Linux 6.0): only the ring's thread submits.
    pub single_issuer: bool,
    /// `IORING_SETUP_DEFER_TASKRUN` (Linux 6.1): completion work runs only when the ring's
    /// thread asks for events, never interrupting it.
    pub defer_taskrun: bool,
    /// `IORING_SETUP_NO_SQARRAY` (Linux 6.6): SQEs are consumed in ring order, without the
    /// index array (one less memory read per SQE in the kernel).
    pub no_sqarray: bool,
    /// The ring fd is registered with `IORING_REGISTER_RING_FDS` (Linux 5.18), so each
    /// `io_uring_enter` skips the kernel's fd lookup. Per thread, at most 16 rings.
    pub registered_fd: bool,
    /// `IORING_SETUP_COOP_TASKRUN` (Linux 5.19): completion work never interrupts the ring's
    /// thread with an IPI; it runs at the next entry into the kernel.
    pub coop_taskrun: bool,
    /// `IORING_SETUP_SQPOLL`: a kernel thread takes SQEs from the queue as they appear, so
    /// submitting needs no system call while it is awake.
    pub sqpoll: bool,
    /// `IORING_SETUP_IOPOLL`: completions are polled from the device, not signalled by
    /// interrupts (reads and writes of `O_DIRECT` files on devices that support polling).
    pub iopoll: bool,
}

impl SetupFlags {
    /// The flags as the capabilities they grant.
    pub(crate) fn granted(self) -> CapabilitySet {
        [
            (self.single_issuer, Capability::SingleIssuer),
            (self.defer_taskrun, Capability::DeferTaskrun),
            (self.no_sqarray, Capability::NoSqArray),
            (self.registered_fd, Capability::RegisteredRingFd),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .fold(CapabilitySet::default(), |set, (_, c)| set.with(c))
    }
}

/// Options for a [`Ring`], and the presets for common workloads.
///
/// Each preset is a starting point whose every option can still be changed:
/// [`default`](RingBuilder::default) (what [`Ring::new`] builds),
/// [`low_latency`](RingBuilder::low_latency) (a kernel thread polls the submission queue),
/// [`throughput`](RingBuilder::throughput) (large queues, no interruptions) and
/// [`iopoll`](RingBuilder::iopoll) (polled completions, for `O_DIRECT` on fast devices).
/// [`build`](RingBuilder::build) refuses combinations the kernel would reject, naming both
/// options, and sizes past the kernel's maxima instead of letting the kernel cut them down;
/// [`Ring::config`] reads back what was asked for and what the kernel made of it.
///
/// The fields are the options (read them, or set them with the methods of the same name).
///
/// ```
/// use std::time::Duration;
/// # fn main() -> safer_ring::Result<()> {
/// let ring = safer_ring::Ring::builder()
///     .entries(64)
///     .cq_entries(256)
///     .defer_taskrun(true) // the default; falls back silently on kernels < 6.1
///     .max_in_flight(10_000) // not capped by the CQ: overflow is queued by the kernel
///     .shutdown_timeout(Duration::from_secs(2))
///     .build()?;
/// assert_eq!(ring.capacity(), 10_000);
/// assert_eq!(ring.config().requested.entries, 64);
/// assert_eq!(ring.config().cq_entries, 256);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RingBuilder {
    /// Submission queue entries (the kernel rounds up to a power of two). Default 256.
    pub entries: u32,
    /// Completion queue entries; `None`: twice the submission entries.
    pub cq_entries: Option<u32>,
    /// The most operations in flight at once (see [`max_in_flight`](Self::max_in_flight)).
    pub max_in_flight: usize,
    /// Ask for `SINGLE_ISSUER | DEFER_TASKRUN` (default `true`).
    pub defer_taskrun: bool,
    /// Ask for `COOP_TASKRUN` (default `false`).
    pub coop_taskrun: bool,
    /// `SQPOLL` with this idle time before the kernel thread sleeps; `None`: no `SQPOLL`.
    pub sqpoll: Option<Duration>,
    /// Ask for `IOPOLL` (default `false`).
    pub iopoll: bool,
    /// How long dropping the ring waits for in-flight operations. Default 10 s.
    pub shutdown_timeout: Duration,
    /// Capabilities to do without (see [`without`](Self::without)).
    pub without: CapabilitySet,
    /// The backend (see [`backend`](Self::backend)); `None`: `SAFER_RING_BACKEND`, or auto.
    pub backend: Option<BackendMode>,
}

/// The option names [`SaferRingError::Conflict`] and [`SaferRingError::TooLarge`] use.
mod option {
    pub const ENTRIES: &str = "entries";
    pub const CQ_ENTRIES: &str = "cq_entries";
    pub const SQPOLL: &str = "sqpoll";
    pub const DEFER_TASKRUN: &str = "defer_taskrun";
    pub const COOP_TASKRUN: &str = "coop_taskrun";
}

/// The default of [`RingBuilder::max_in_flight`].
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{DEFAULT_MAX_IN_FLIGHT, Ring, RingBuilder};
/// assert_eq!(RingBuilder::default().max_in_flight, DEFAULT_MAX_IN_FLIGHT);
/// let ring = Ring::new(8)?; // a 16-entry completion queue...
/// assert_eq!(ring.capacity(), DEFAULT_MAX_IN_FLIGHT); // ...does not cap it (NODROP, Linux 5.5)
/// # Ok(()) }
/// ```
pub const DEFAULT_MAX_IN_FLIGHT: usize = 65_536;

/// An alias of [`RingBuilder`], by the name the presets are asked for: one type, both names.
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// let ring = safer_ring::RingConfig::throughput().build()?;
/// assert_eq!(ring.config().requested, safer_ring::RingBuilder::throughput());
/// # Ok(()) }
/// ```
pub type RingConfig = RingBuilder;

impl Default for RingBuilder {
    /// 256 entries, a completion queue twice that, `SINGLE_ISSUER | DEFER_TASKRUN` where the
    /// kernel has them: the ring [`Ring::new`] builds.
    fn default() -> Self {
        Self {
            entries: 256,
            cq_entries: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            defer_taskrun: true,
            coop_taskrun: false,
            sqpoll: None,
            iopoll: false,
            shutdown_timeout: Duration::from_secs(10),
            without: CapabilitySet::default(),
            backend: None,
        }
    }
}

impl RingBuilder {
    /// The idle time of [`low_latency`](Self::low_latency)'s submission thread.
    ///
    /// ```
    /// use std::time::Duration;
    /// use safer_ring::RingBuilder;
    /// assert_eq!(RingBuilder::LOW_LATENCY_IDLE, Duration::from_millis(100));
    /// assert_eq!(RingBuilder::low_latency().sqpoll, Some(RingBuilder::LOW_LATENCY_IDLE));
    /// ```
    pub const LOW_LATENCY_IDLE: Duration = Duration::from_millis(100);

    /// Low latency: `SQPOLL` — a kernel thread picks up each SQE as it is written, so
    /// submitting costs no system call — with [`LOW_LATENCY_IDLE`](Self::LOW_LATENCY_IDLE)
    /// before it sleeps (it then needs one wake-up call). The thread spins on a core while
    /// awake: worth it where latency matters more than a core. Without `DEFER_TASKRUN`,
    /// which the kernel does not allow with `SQPOLL`.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::RingBuilder::low_latency().build()?;
    /// assert!(ring.config().flags.sqpoll);
    /// assert_eq!(ring.config().sqpoll_idle, Some(std::time::Duration::from_millis(100)));
    /// ring.nop().submit()?.wait()?;
    /// # Ok(()) }
    /// ```
    pub fn low_latency() -> Self {
        Self::default()
            .defer_taskrun(false)
            .sqpoll(Self::LOW_LATENCY_IDLE)
    }

    /// Throughput: large queues (4,096 submission and 16,384 completion entries, so big
    /// batches go in one call and bursts of completions wait in the ring, not in the
    /// kernel's overflow list), and completion work that never interrupts the ring's thread
    /// (`SINGLE_ISSUER | DEFER_TASKRUN | COOP_TASKRUN`).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::RingBuilder::throughput().build()?;
    /// assert_eq!((ring.config().entries, ring.config().cq_entries), (4096, 16_384));
    /// assert!(ring.config().flags.defer_taskrun && ring.config().flags.coop_taskrun);
    /// # Ok(()) }
    /// ```
    pub fn throughput() -> Self {
        Self::default()
            .entries(4096)
            .cq_entries(16_384)
            .coop_taskrun(true)
    }

    /// Polled I/O: `IOPOLL`, for reads and writes of files opened with `O_DIRECT` on a
    /// device that supports polling (NVMe with poll queues): the ring spins on the device
    /// instead of waiting for its interrupt. Such a ring runs nothing else: any other
    /// operation is refused at submission ([`SaferRingError::Conflict`]), and a read or write
    /// of a file without `O_DIRECT`, or on a filesystem that cannot poll, fails with
    /// `EOPNOTSUPP`.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::RingBuilder::iopoll().build()?;
    /// assert!(ring.config().flags.iopoll);
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let err = ring.accept(&listener.into()).submit().unwrap_err();
    /// assert!(err.to_string().contains("iopoll cannot be combined with accept"), "{err}");
    /// # Ok(()) }
    /// ```
    pub fn iopoll() -> Self {
        Self::default().iopoll_on(true)
    }

    /// Submission queue entries (rounded up to a power of two by the kernel; at most
    /// [`MAX_ENTRIES`]). Default 256.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{Ring, SaferRingError};
    /// let ring = Ring::builder().entries(48).build()?;
    /// assert_eq!(ring.config().requested.entries, 48);
    /// assert_eq!(ring.config().entries, 64); // rounded up to a power of two
    /// assert!(matches!(
    ///     Ring::builder().entries(0).build(),
    ///     Err(SaferRingError::InvalidArgument(_))
    /// ));
    /// # Ok(()) }
    /// ```
    pub fn entries(mut self, entries: u32) -> Self {
        self.entries = entries;
        self
    }

    /// Completion queue entries (at least the submission entries, at most
    /// [`MAX_CQ_ENTRIES`]). Default: twice the submission entries. More operations than
    /// this may be in flight: completions that find the queue full wait in the kernel
    /// (`IORING_FEAT_NODROP`) until the ring reaps.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{Ring, SaferRingError};
    /// let ring = Ring::builder().entries(8).cq_entries(100).build()?;
    /// assert_eq!(ring.config().cq_entries, 128); // rounded up to a power of two
    /// let err = Ring::builder().entries(64).cq_entries(32).build().unwrap_err();
    /// assert!(matches!(err, SaferRingError::Conflict { first: "cq_entries", .. }), "{err}");
    /// // More in flight than the CQ holds: the kernel keeps the overflow, nothing is lost.
    /// let small = Ring::builder().entries(4).cq_entries(4).build()?;
    /// let nops: Vec<_> = (0..16).map(|_| small.nop().submit()).collect::<Result<_, _>>()?;
    /// for nop in nops {
    ///     nop.wait()?;
    /// }
    /// assert_eq!(small.stats().completed, 16);
    /// # Ok(()) }
    /// ```
    pub fn cq_entries(mut self, cq_entries: u32) -> Self {
        self.cq_entries = Some(cq_entries);
        self
    }

    /// The most operations in flight at once (streams included), the ring's back-pressure
    /// limit: past it, a future waits for a slot and the sync API returns the operation with
    /// [`SlotTableFull`](SaferRingError::SlotTableFull). A quarter of it is kept for
    /// one-shot operations, so streams (a multishot recv per connection) can never
    /// starve them. Default [`DEFAULT_MAX_IN_FLIGHT`]; on a kernel without
    /// `IORING_FEAT_NODROP` (before 5.5) it is capped at the CQ size.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::time::Duration;
    /// use safer_ring::{Ring, SaferRingError};
    /// let ring = Ring::builder().max_in_flight(2).build()?;
    /// assert_eq!(ring.capacity(), 2);
    /// let timers = [
    ///     ring.sleep(Duration::from_secs(10)).submit()?,
    ///     ring.sleep(Duration::from_secs(10)).submit()?,
    /// ];
    /// let err = ring.nop().submit().unwrap_err(); // the sync API: refused, handed back
    /// assert!(matches!(err.error(), SaferRingError::SlotTableFull { limit: 2, .. }), "{err}");
    /// drop(timers); // cancelled
    /// # Ok(()) }
    /// ```
    pub fn max_in_flight(mut self, limit: usize) -> Self {
        self.max_in_flight = limit;
        self
    }

    /// Ask for `SINGLE_ISSUER | DEFER_TASKRUN` (default `true`). Kernels without them get a
    /// ring without them, silently; [`Ring::setup_flags`] tells which you got. Either way the
    /// ring also asks for `NO_SQARRAY` and registers its fd where the kernel has them.
    /// Not with [`sqpoll`](Self::sqpoll).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::time::Duration;
    /// use safer_ring::Ring;
    /// assert!(Ring::new(8)?.setup_flags().defer_taskrun); // the default (Linux 6.1+)
    /// let ring = Ring::builder().defer_taskrun(false).build()?;
    /// assert!(!ring.setup_flags().defer_taskrun && !ring.setup_flags().single_issuer);
    /// // `SQPOLL` needs it off.
    /// assert!(Ring::builder().sqpoll(Duration::from_millis(10)).build().is_err());
    /// let sqpoll = Ring::builder().defer_taskrun(false).sqpoll(Duration::from_millis(10));
    /// let sqpoll = sqpoll.build()?;
    /// assert!(sqpoll.setup_flags().sqpoll);
    /// # Ok(()) }
    /// ```
    pub fn defer_taskrun(mut self, on: bool) -> Self {
        self.defer_taskrun = on;
        self
    }

    /// Ask for `COOP_TASKRUN` (Linux 5.19; default `false`): the kernel never interrupts the
    /// ring's thread to run completion work. Kernels without it get a ring without it, as
    /// with [`defer_taskrun`](Self::defer_taskrun). Not with [`sqpoll`](Self::sqpoll).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::builder().coop_taskrun(true).build()?;
    /// assert!(ring.config().flags.coop_taskrun); // Linux 5.19+
    /// # Ok(()) }
    /// ```
    pub fn coop_taskrun(mut self, on: bool) -> Self {
        self.coop_taskrun = on;
        self
    }

    /// `SQPOLL`: a kernel thread submits SQEs as they are queued, sleeping after `idle`
    /// without work (whole milliseconds: a fraction rounds up, and
    /// [`RingSetup::sqpoll_idle`] shows what the kernel was given). Never dropped silently:
    /// a kernel that refuses it fails [`build`](Self::build). Combine with
    /// `defer_taskrun(false)` (the kernel forbids `SQPOLL | DEFER_TASKRUN`).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::time::Duration;
    /// let ring = safer_ring::Ring::builder()
    ///     .defer_taskrun(false)
    ///     .sqpoll(Duration::from_millis(20))
    ///     .build()?;
    /// assert_eq!(ring.config().sqpoll_idle, Some(Duration::from_millis(20)));
    /// ring.nop().submit()?.wait()?;
    /// # Ok(()) }
    /// ```
    pub fn sqpoll(mut self, idle: Duration) -> Self {
        self.sqpoll = Some(idle);
        self
    }

    /// `IOPOLL` on or off (see [`iopoll`](Self::iopoll), the preset). Never dropped
    /// silently: a kernel that refuses it fails [`build`](Self::build).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::RingBuilder::throughput().iopoll_on(true).build()?;
    /// assert!(ring.config().flags.iopoll && ring.config().flags.defer_taskrun);
    /// # Ok(()) }
    /// ```
    pub fn iopoll_on(mut self, on: bool) -> Self {
        self.iopoll = on;
        self
    }

    /// How long dropping the ring waits for in-flight operations to finish after cancelling
    /// them. If it runs out, their memory is leaked, never freed under the kernel. Default 10 s.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::time::{Duration, Instant};
    /// let ring = safer_ring::Ring::builder().shutdown_timeout(Duration::from_secs(2)).build()?;
    /// assert_eq!(ring.config().requested.shutdown_timeout, Duration::from_secs(2));
    /// drop(ring.sleep(Duration::from_secs(60)).submit()?); // abandoned in flight
    /// let started = Instant::now();
    /// let report = ring.shutdown(); // cancels it and waits for its final completion
    /// assert!(!report.timed_out && report.leaked == 0, "{report:?}");
    /// assert!(started.elapsed() < Duration::from_secs(2));
    /// # Ok(()) }
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Pretend the kernel lacks `capability`: the ring takes the path it takes on a kernel
    /// without it (see [`Capability`]'s variants), with the same API. For tests of the
    /// degraded paths, and for fleets of mixed kernels that want one behaviour everywhere.
    /// The environment variable `SAFER_RING_WITHOUT` (comma-separated
    /// [names](Capability::name)) adds to what this asks, for every ring the process builds.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::probe::Capability;
    /// let ring = safer_ring::Ring::builder().without(Capability::DeferTaskrun).build()?;
    /// assert!(!ring.setup_flags().defer_taskrun); // as on a kernel before 6.1
    /// assert!(!ring.capabilities().has(Capability::DeferTaskrun));
    /// assert!(ring.capabilities().without().contains(Capability::DeferTaskrun));
    /// ring.nop().submit()?.wait()?; // the same API
    /// # Ok(()) }
    /// ```
    pub fn without(mut self, capability: Capability) -> Self {
        self.without = self.without.with(capability);
        self
    }

    /// Which backend to run on. Without this call, the environment variable
    /// `SAFER_RING_BACKEND` (`auto`, `io_uring`, `fallback`) decides, so a whole program (a
    /// CI job, a container image) can choose without code changes; without it,
    /// [`BackendMode::Auto`]: io_uring, or the fallback where io_uring cannot be set up.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{Backend, BackendMode, File, Ring};
    /// let ring = Ring::builder().backend(BackendMode::Fallback).build()?;
    /// assert_eq!(ring.backend(), Backend::Fallback);
    /// let file = File::from(tempfile::tempfile()?);
    /// ring.write_at(&file, b"emulated".to_vec(), 0).submit()?.wait().0?;
    /// let (n, buf) = ring.read_at(&file, Vec::with_capacity(16), 0).submit()?.wait();
    /// assert_eq!(&buf[..n?], b"emulated");
    /// // Strict: io_uring or an error, never the fallback.
    /// let uring = Ring::builder().backend(BackendMode::IoUring).build()?;
    /// assert_eq!(uring.backend(), Backend::IoUring);
    /// # Ok(()) }
    /// ```
    pub fn backend(mut self, mode: BackendMode) -> Self {
        self.backend = Some(mode);
        self
    }

    /// Builds the ring.
    ///
    /// # Errors
    /// [`SaferRingError::InvalidArgument`] for zero entries, or an unknown name in
    /// `SAFER_RING_WITHOUT`; [`SaferRingError::TooLarge`] for queues past the kernel's
    /// maxima ([`MAX_ENTRIES`], [`MAX_CQ_ENTRIES`]: refused, not silently cut down);
    /// [`SaferRingError::Conflict`], naming both options, for `cq_entries < entries`,
    /// `sqpoll` with `defer_taskrun` or `coop_taskrun`;
    /// [`SaferRingError::Unavailable`] when io_uring is missing, forbidden, or short of locked
    /// memory, with what to do about it.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{Ring, RingBuilder, SaferRingError};
    /// let err = Ring::new(u32::MAX).unwrap_err();
    /// assert!(matches!(err, SaferRingError::TooLarge { max: 32_768, .. }), "{err}");
    /// let err = RingBuilder::default().sqpoll(std::time::Duration::from_millis(10)).build();
    /// assert_eq!(
    ///     err.unwrap_err().to_string(),
    ///     "sqpoll cannot be combined with defer_taskrun: the kernel runs an SQPOLL ring's \
    ///      completion work in its submission thread, which DEFER_TASKRUN rules out; \
    ///      call .defer_taskrun(false)"
    /// );
    /// # Ok(()) }
    /// ```
    pub fn build(self) -> Result<Ring> {
        let cq = self.check()?;
        let sqpoll_idle = self.sqpoll.map(idle_ms).transpose()?;
        let without = self.without_from_env()?;
        let mode = match self.backend {
            Some(mode) => mode,
            None => BackendMode::from_env()?.unwrap_or_default(),
        };
        if mode == BackendMode::Fallback {
            #[cfg(feature = "tracing")]
            super::trace::fallback_chosen(None);
            return self.build_fallback(cq);
        }
        match self.build_uring(cq, without, sqpoll_idle) {
            Err(e) if mode.falls_back_on(&e) => {
                #[cfg(feature = "tracing")]
                super::trace::fallback_chosen(Some(&e));
                self.build_fallback(cq)
            }
            built => built,
        }
    }

    /// A ring on the fallback backend: nothing of what it cannot emulate is a capability.
    fn build_fallback(&self, cq_entries: u32) -> Result<Ring> {
        let emulated = Emulated::new(self.entries)
            .map_err(|e| SaferRingError::os("setting up the fallback backend", e))?;
        let core = Core::new(Kernels::Emulated(emulated), self.max_in_flight);
        let setup = RingSetup {
            entries: self.entries,
            cq_entries,
            flags: SetupFlags::default(),
            sqpoll_idle: None,
            max_in_flight: core.limit(),
            requested: self.clone(),
        };
        let features = crate::probe::Features::default();
        Ok(Ring::from_parts(
            core,
            setup,
            features,
            CapabilitySet::all(),
        ))
    }

    /// A ring on io_uring, with the best setup flags the kernel takes.
    fn build_uring(
        &self,
        cq: u32,
        without: CapabilitySet,
        sqpoll_idle: Option<u32>,
    ) -> Result<Ring> {
        let mut last = None;
        for mut flags in self.candidates(without) {
            match self.try_build(cq, flags, sqpoll_idle) {
                Ok(uring) => {
                    let features = crate::probe::Features::from_params(uring.params());
                    let (entries, cq_entries) =
                        (uring.params().sq_entries(), uring.params().cq_entries());
                    let register = !without.contains(Capability::RegisteredRingFd);
                    let uring = super::kernel::Uring::new(uring, register, flags.sqpoll)
                        .map_err(|e| SaferRingError::os("mmap (the io_uring queues)", e))?;
                    let core = Core::new(Kernels::Uring(uring), self.max_in_flight);
                    flags.registered_fd = core.fd_registered();
                    let setup = RingSetup {
                        entries,
                        cq_entries,
                        flags,
                        sqpoll_idle: sqpoll_idle.map(|ms| Duration::from_millis(ms.into())),
                        max_in_flight: core.limit(),
                        requested: self.clone(),
                    };
                    let ring = Ring::from_parts(core, setup, features, without);
                    #[cfg(feature = "tracing")]
                    ring.trace_setup();
                    return Ok(ring);
                }
                // A flag this kernel does not know: try the next set.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
                Err(e) => return Err(SaferRingError::from_setup(e)),
            }
        }
        Err(SaferRingError::from_setup(
            last.expect("at least one flag set was tried"),
        ))
    }

    /// Checks the options against each other and the kernel's maxima; returns the CQ size.
    fn check(&self) -> Result<u32> {
        if self.entries == 0 {
            return Err(SaferRingError::InvalidArgument(
                "a ring needs at least one entry",
            ));
        }
        if self.max_in_flight == 0 {
            return Err(SaferRingError::InvalidArgument(
                "max_in_flight must be at least 1",
            ));
        }
        too_large(option::ENTRIES, self.entries, MAX_ENTRIES)?;
        let cq = self.cq_entries.unwrap_or(self.entries.saturating_mul(2));
        too_large(option::CQ_ENTRIES, cq, MAX_CQ_ENTRIES)?;
        if cq < self.entries {
            return Err(conflict(
                option::CQ_ENTRIES,
                option::ENTRIES,
                "the completion queue must be at least as large as the submission queue",
            ));
        }
        if self.sqpoll.is_some() && self.defer_taskrun {
            return Err(conflict(
                option::SQPOLL,
                option::DEFER_TASKRUN,
                "the kernel runs an SQPOLL ring's completion work in its submission thread, \
                 which DEFER_TASKRUN rules out; call .defer_taskrun(false)",
            ));
        }
        if self.sqpoll.is_some() && self.coop_taskrun {
            return Err(conflict(
                option::SQPOLL,
                option::COOP_TASKRUN,
                "an SQPOLL ring has no submitting thread for COOP_TASKRUN to spare from \
                 interruptions, and the kernel refuses the pair; call .coop_taskrun(false)",
            ));
        }
        Ok(cq)
    }

    /// The flag sets to try, best first: each kernel takes the first it knows. The optional
    /// flags fall away one group at a time; `SQPOLL` and `IOPOLL`, asked for explicitly, are
    /// in every set. Flags the builder was told to do without are never asked for.
    fn candidates(&self, without: CapabilitySet) -> impl Iterator<Item = SetupFlags> + use<> {
        let defer = self.defer_taskrun;
        let required = SetupFlags {
            sqpoll: self.sqpoll.is_some(),
            iopoll: self.iopoll,
            ..SetupFlags::default()
        };
        let all = SetupFlags {
            single_issuer: defer && !without.contains(Capability::SingleIssuer),
            defer_taskrun: defer && !without.contains(Capability::DeferTaskrun),
            no_sqarray: !without.contains(Capability::NoSqArray),
            coop_taskrun: self.coop_taskrun,
            ..required
        };
        let without_sqarray = SetupFlags {
            no_sqarray: false,
            ..all
        };
        let coop_only = SetupFlags {
            coop_taskrun: self.coop_taskrun,
            ..required
        };
        [all, without_sqarray, coop_only, required].into_iter()
    }

    /// What to do without: this builder's mask and `SAFER_RING_WITHOUT`'s.
    fn without_from_env(&self) -> Result<CapabilitySet> {
        let env = CapabilitySet::from_env()?;
        Ok(Capability::ALL
            .into_iter()
            .filter(|c| env.contains(*c))
            .fold(self.without, CapabilitySet::with))
    }

    fn try_build(
        &self,
        cq: u32,
        flags: SetupFlags,
        sqpoll_idle: Option<u32>,
    ) -> std::io::Result<IoUring> {
        let mut builder = IoUring::builder();
        builder.setup_cqsize(cq);
        if flags.single_issuer {
            builder.setup_single_issuer();
        }
        if flags.defer_taskrun {
            builder.setup_defer_taskrun();
        }
        if flags.no_sqarray {
            builder.setup_no_sqarray();
        }
        if flags.coop_taskrun {
            builder.setup_coop_taskrun();
        }
        if let (true, Some(idle)) = (flags.sqpoll, sqpoll_idle) {
            builder.setup_sqpoll(idle);
        }
        if flags.iopoll {
            builder.setup_iopoll();
        }
        builder.build(self.entries)
    }
}

/// [`SaferRingError::TooLarge`] if `requested` is past `max`.
fn too_large(option: &'static str, requested: u32, max: u32) -> Result<()> {
    match requested > max {
        true => Err(SaferRingError::TooLarge {
            option,
            requested: requested.into(),
            max: max.into(),
        }),
        false => Ok(()),
    }
}

fn conflict(first: &'static str, second: &'static str, why: &'static str) -> SaferRingError {
    SaferRingError::Conflict { first, second, why }
}

/// The SQPOLL idle time in whole milliseconds, rounded up (the kernel takes milliseconds,
/// and reads 0 as its own default of a second).
fn idle_ms(idle: Duration) -> Result<u32> {
    let ms = idle.as_nanos().div_ceil(1_000_000).max(1);
    u32::try_from(ms).map_err(|_| SaferRingError::TooLarge {
        option: "sqpoll idle (ms)",
        requested: u64::try_from(ms).unwrap_or(u64::MAX),
        max: u32::MAX.into(),
    })
}

/// What a ring was asked for, and what the kernel made of it ([`Ring::config`]).
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// let ring = safer_ring::Ring::builder().entries(100).build()?;
/// let config = ring.config();
/// assert_eq!(config.requested.entries, 100);
/// assert_eq!(config.entries, 128); // rounded up to a power of two
/// assert_eq!(config.cq_entries, 256); // twice what was asked, rounded up
/// assert_eq!(config.flags, ring.setup_flags());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RingSetup {
    /// The options the ring was built with.
    pub requested: RingBuilder,
    /// Submission queue entries the kernel made.
    pub entries: u32,
    /// Completion queue entries the kernel made.
    pub cq_entries: u32,
    /// The setup flags the kernel accepted.
    pub flags: SetupFlags,
    /// The `SQPOLL` idle time the kernel was given (whole milliseconds), if `SQPOLL`.
    pub sqpoll_idle: Option<Duration>,
    /// The in-flight limit the ring enforces (the request, or the CQ size on kernels
    /// without `IORING_FEAT_NODROP`).
    pub max_in_flight: usize,
}
