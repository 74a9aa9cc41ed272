//! [`RingBuilder`]: ring size, setup flags and shutdown policy.
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

/// The setup flags a ring was built with (what the kernel accepted).
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

    /// The flag sets to try, best first: each kernel takes the first it knows. Flags the
    /// builder was told to do without are never asked for.
    fn candidates(defer_taskrun: bool, without: CapabilitySet) -> impl Iterator<Item = Self> {
        let all = Self {
            single_issuer: defer_taskrun && !without.contains(Capability::SingleIssuer),
            defer_taskrun: defer_taskrun && !without.contains(Capability::DeferTaskrun),
            no_sqarray: !without.contains(Capability::NoSqArray),
            registered_fd: false,
        };
        let without_sqarray = Self {
            no_sqarray: false,
            ..all
        };
        [all, without_sqarray, Self::default()].into_iter()
    }
}

/// Builds a [`Ring`].
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
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct RingBuilder {
    entries: u32,
    cq_entries: Option<u32>,
    max_in_flight: usize,
    defer_taskrun: bool,
    shutdown_timeout: Duration,
    without: CapabilitySet,
    /// Set by [`backend`](Self::backend); otherwise `SAFER_RING_BACKEND`, or auto.
    backend: Option<BackendMode>,
}

/// The default of [`RingBuilder::max_in_flight`].
pub const DEFAULT_MAX_IN_FLIGHT: usize = 65_536;

impl Default for RingBuilder {
    fn default() -> Self {
        Self {
            entries: 256,
            cq_entries: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            defer_taskrun: true,
            shutdown_timeout: Duration::from_secs(10),
            without: CapabilitySet::default(),
            backend: None,
        }
    }
}

impl RingBuilder {
    /// Submission queue entries (rounded up to a power of two by the kernel). Default 256.
    pub fn entries(mut self, entries: u32) -> Self {
        self.entries = entries;
        self
    }

    /// Completion queue entries. Default: twice the submission entries. More operations than
    /// this may be in flight: completions that find the queue full wait in the kernel
    /// (`IORING_FEAT_NODROP`) until the ring reaps.
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
    pub fn max_in_flight(mut self, limit: usize) -> Self {
        self.max_in_flight = limit;
        self
    }

    /// Ask for `SINGLE_ISSUER | DEFER_TASKRUN` (default `true`). Kernels without them get a
    /// ring without them, silently; [`Ring::setup_flags`] tells which you got. Either way the
    /// ring also asks for `NO_SQARRAY` and registers its fd where the kernel has them.
    pub fn defer_taskrun(mut self, on: bool) -> Self {
        self.defer_taskrun = on;
        self
    }

    /// How long dropping the ring waits for in-flight operations to finish after cancelling
    /// them. If it runs out, their memory is leaked, never freed under the kernel. Default 10 s.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Pretend the kernel lacks `capability`: the ring takes the path it takes on a kernel
    /// without it (see [`Capability`]'s variants), with the same API. For tests of the
    /// degraded paths, and for fleets of mixed kernels that want one behaviour everywhere.
    /// The environment variable `SAFER_RING_WITHOUT` (comma-separated
    /// [names](Capability::name)) adds to what this asks, for every ring the process builds.
    pub fn without(mut self, capability: Capability) -> Self {
        self.without = self.without.with(capability);
        self
    }

    /// Which backend to run on. Without this call, the environment variable
    /// `SAFER_RING_BACKEND` (`auto`, `io_uring`, `fallback`) decides, so a whole program (a
    /// CI job, a container image) can choose without code changes; without it,
    /// [`BackendMode::Auto`]: io_uring, or the fallback where io_uring cannot be set up.
    pub fn backend(mut self, mode: BackendMode) -> Self {
        self.backend = Some(mode);
        self
    }

    /// Builds the ring.
    ///
    /// # Errors
    /// [`SaferRingError::InvalidArgument`] for zero entries, or an unknown name in
    /// `SAFER_RING_WITHOUT`;
    /// [`SaferRingError::Unavailable`] when io_uring is missing, forbidden, or short of locked
    /// memory, with what to do about it.
    pub fn build(self) -> Result<Ring> {
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
        let cq = self.cq_entries.unwrap_or(self.entries.saturating_mul(2));
        if cq < self.entries {
            return Err(SaferRingError::InvalidArgument(
                "cq_entries must be at least the submission entries",
            ));
        }
        let without = self.without_from_env()?;
        let mode = match self.backend {
            Some(mode) => mode,
            None => BackendMode::from_env()?.unwrap_or_default(),
        };
        if mode == BackendMode::Fallback {
            return self.build_fallback(without);
        }
        match self.build_uring(cq, without) {
            Err(e) if mode.falls_back_on(&e) => self.build_fallback(without),
            built => built,
        }
    }

    /// A ring on the fallback backend: nothing of what it cannot emulate is a capability.
    fn build_fallback(&self, without: CapabilitySet) -> Result<Ring> {
        let emulated = Emulated::new(self.entries)
            .map_err(|e| SaferRingError::os("setting up the fallback backend", e))?;
        let core = Core::new(Kernels::Emulated(emulated), self.max_in_flight);
        let without = Capability::ALL
            .into_iter()
            .fold(without, CapabilitySet::with);
        let rest = (without, self.shutdown_timeout);
        let features = crate::probe::Features::default();
        Ok(Ring::from_parts(
            core,
            SetupFlags::default(),
            features,
            rest,
        ))
    }

    /// A ring on io_uring, with the best setup flags the kernel takes.
    fn build_uring(&self, cq: u32, without: CapabilitySet) -> Result<Ring> {
        let mut last = None;
        for mut flags in SetupFlags::candidates(self.defer_taskrun, without) {
            match self.try_build(cq, flags) {
                Ok(uring) => {
                    let features = crate::probe::Features::from_params(uring.params());
                    let register = !without.contains(Capability::RegisteredRingFd);
                    let uring = super::kernel::Uring::new(uring, register);
                    let core = Core::new(Kernels::Uring(uring), self.max_in_flight);
                    flags.registered_fd = core.fd_registered();
                    let rest = (without, self.shutdown_timeout);
                    return Ok(Ring::from_parts(core, flags, features, rest));
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

    /// What to do without: this builder's mask and `SAFER_RING_WITHOUT`'s.
    fn without_from_env(&self) -> Result<CapabilitySet> {
        let env = CapabilitySet::from_env()?;
        Ok(Capability::ALL
            .into_iter()
            .filter(|c| env.contains(*c))
            .fold(self.without, CapabilitySet::with))
    }

    fn try_build(&self, cq: u32, flags: SetupFlags) -> std::io::Result<IoUring> {
        let mut builder = IoUring::builder();
        builder.setup_cqsize(cq).setup_clamp();
        if flags.single_issuer {
            builder.setup_single_issuer();
        }
        if flags.defer_taskrun {
            builder.setup_defer_taskrun();
        }
        if flags.no_sqarray {
            builder.setup_no_sqarray();
        }
        builder.build(self.entries)
    }
}
