//! [`RingBuilder`]: ring size, setup flags and shutdown policy.

use std::time::Duration;

use io_uring::IoUring;

use super::Ring;
use super::core::Core;
use crate::error::{Result, SaferRingError};

/// The setup flags a ring was built with (what the kernel accepted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SetupFlags {
    /// `IORING_SETUP_SINGLE_ISSUER` (Linux 6.0): only the ring's thread submits.
    pub single_issuer: bool,
    /// `IORING_SETUP_DEFER_TASKRUN` (Linux 6.1): completion work runs only when the ring's
    /// thread asks for events, never interrupting it.
    pub defer_taskrun: bool,
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
///     .shutdown_timeout(Duration::from_secs(2))
///     .build()?;
/// assert_eq!(ring.capacity(), 256);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct RingBuilder {
    entries: u32,
    cq_entries: Option<u32>,
    defer_taskrun: bool,
    shutdown_timeout: Duration,
}

impl Default for RingBuilder {
    fn default() -> Self {
        Self {
            entries: 256,
            cq_entries: None,
            defer_taskrun: true,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

impl RingBuilder {
    /// Submission queue entries (rounded up to a power of two by the kernel). Default 256.
    pub fn entries(mut self, entries: u32) -> Self {
        self.entries = entries;
        self
    }

    /// Completion queue entries; also the most operations in flight at once. Default: twice
    /// the submission entries.
    pub fn cq_entries(mut self, cq_entries: u32) -> Self {
        self.cq_entries = Some(cq_entries);
        self
    }

    /// Ask for `SINGLE_ISSUER | DEFER_TASKRUN` (default `true`). Kernels without them get a
    /// ring without them, silently; [`Ring::setup_flags`] tells which you got.
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

    /// Builds the ring.
    ///
    /// # Errors
    /// [`SaferRingError::InvalidArgument`] for zero entries;
    /// [`SaferRingError::Unavailable`] when io_uring is missing, forbidden, or short of locked
    /// memory, with what to do about it.
    pub fn build(self) -> Result<Ring> {
        if self.entries == 0 {
            return Err(SaferRingError::InvalidArgument(
                "a ring needs at least one entry",
            ));
        }
        let cq = self.cq_entries.unwrap_or(self.entries.saturating_mul(2));
        if cq < self.entries {
            return Err(SaferRingError::InvalidArgument(
                "cq_entries must be at least the submission entries",
            ));
        }
        let mut flags = SetupFlags {
            single_issuer: self.defer_taskrun,
            defer_taskrun: self.defer_taskrun,
        };
        let uring = match self.try_build(cq, flags) {
            Err(e) if flags.defer_taskrun && e.raw_os_error() == Some(libc::EINVAL) => {
                flags = SetupFlags::default();
                self.try_build(cq, flags)
            }
            other => other,
        }
        .map_err(SaferRingError::from_setup)?;
        Ok(Ring::from_parts(
            Core::new(uring),
            flags,
            self.shutdown_timeout,
        ))
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
        builder.build(self.entries)
    }
}
