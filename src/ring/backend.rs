//! Which backend runs a ring's operations: io_uring, or the fallback that emulates it with
//! worker threads and plain system calls where io_uring cannot be set up.
#![forbid(unsafe_code)]

use crate::error::{Result, SaferRingError, Unavailable};

/// The backend a ring runs on ([`Ring::backend`](crate::Ring::backend)).
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::probe::Capability;
/// use safer_ring::{Backend, BackendMode, Ring};
/// let uring = Ring::builder().backend(BackendMode::IoUring).build()?;
/// let fallback = Ring::builder().backend(BackendMode::Fallback).build()?;
/// assert_eq!((uring.backend(), fallback.backend()), (Backend::IoUring, Backend::Fallback));
/// for ring in [&uring, &fallback] {
///     ring.nop().submit()?.wait()?; // the same operations on both
/// }
/// // What the fallback cannot emulate is missing from its capabilities.
/// assert!(!fallback.capabilities().has(Capability::MsgRing));
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// The kernel's io_uring.
    IoUring,
    /// The fallback: the same operations run by worker threads with plain system calls
    /// (what io_uring cannot emulate this way — registered files and buffers, buffer rings,
    /// multishot, zero-copy send, `MSG_RING` — is missing from its capabilities, and the
    /// operations that use it take their degraded paths or say it is unsupported).
    Fallback,
}

/// How [`RingBuilder::backend`](crate::RingBuilder::backend) picks the backend.
///
/// ```
/// use safer_ring::{Backend, BackendMode, Ring};
/// # fn main() -> safer_ring::Result<()> {
/// let ring = Ring::builder().backend(BackendMode::Fallback).build()?;
/// assert_eq!(ring.backend(), Backend::Fallback);
/// assert_eq!(ring.nop().submit()?.wait()?, ());
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendMode {
    /// io_uring; the fallback where io_uring cannot be set up at all: the kernel lacks it
    /// (`ENOSYS`) or it is forbidden (`EPERM`: a seccomp profile such as a container
    /// runtime's default, or `kernel.io_uring_disabled`).
    #[default]
    Auto,
    /// io_uring or an error (strict: never the fallback).
    IoUring,
    /// The fallback, always.
    Fallback,
}

impl BackendMode {
    /// The name `SAFER_RING_BACKEND` spells it with.
    ///
    /// ```
    /// use safer_ring::BackendMode;
    /// assert_eq!(BackendMode::default().name(), "auto");
    /// assert_eq!(BackendMode::IoUring.name(), "io_uring");
    /// assert_eq!(BackendMode::Fallback.name(), "fallback");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::IoUring => "io_uring",
            Self::Fallback => "fallback",
        }
    }

    /// The mode the environment variable `SAFER_RING_BACKEND` asks for (`auto`,
    /// `io_uring`, `fallback`), if it is set.
    pub(crate) fn from_env() -> Result<Option<Self>> {
        let Ok(value) = std::env::var("SAFER_RING_BACKEND") else {
            return Ok(None);
        };
        [Self::Auto, Self::IoUring, Self::Fallback]
            .into_iter()
            .find(|m| m.name() == value.trim())
            .map(Some)
            .ok_or(SaferRingError::InvalidArgument(
                "SAFER_RING_BACKEND must be auto, io_uring or fallback",
            ))
    }

    /// Whether setting up io_uring failing with `err` sends this mode to the fallback.
    ///
    /// ```
    /// use safer_ring::{BackendMode, SaferRingError, Unavailable};
    /// let forbidden = SaferRingError::Unavailable(Unavailable::NotPermitted);
    /// assert!(BackendMode::Auto.falls_back_on(&forbidden));
    /// assert!(!BackendMode::IoUring.falls_back_on(&forbidden));
    /// let memlock = SaferRingError::Unavailable(Unavailable::MemlockTooLow);
    /// assert!(!BackendMode::Auto.falls_back_on(&memlock)); // io_uring is there: say so
    /// ```
    pub fn falls_back_on(self, err: &SaferRingError) -> bool {
        self == Self::Auto
            && matches!(
                err,
                SaferRingError::Unavailable(
                    Unavailable::KernelLacksIoUring | Unavailable::NotPermitted
                )
            )
    }
}
