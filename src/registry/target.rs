//! [`Target`]: the file an operation acts on, by fd or by registered index.

use super::RegisteredFd;
use super::files::SlotUse;
use crate::error::{Result, SaferRingError};
use crate::fd::SharedFd;
use crate::fs::File;
use crate::ring::Ring;

/// What an operation names in its SQE, and what keeps it valid until the final CQE: a
/// shared fd handle (invariant 6) or a use count on a registered slot (invariant 8).
pub struct Target(pub(crate) Kind);

pub(crate) enum Kind {
    Fd(SharedFd),
    Fixed(SlotUse),
    /// The handle could not be used with this ring; submission reports why.
    Invalid(Invalid),
}

/// Why a registered handle was refused.
#[derive(Clone, Copy)]
pub(crate) enum Invalid {
    OtherRing,
    Stale,
}

impl Invalid {
    pub fn of(err: &SaferRingError) -> Self {
        match err {
            SaferRingError::Stale { .. } => Self::Stale,
            _ => Self::OtherRing,
        }
    }

    pub fn error(self) -> SaferRingError {
        let what = "registered file";
        match self {
            Self::OtherRing => SaferRingError::RingMismatch { what },
            Self::Stale => SaferRingError::Stale { what },
        }
    }
}

impl Target {
    /// A plain fd target.
    pub(crate) fn fd(fd: SharedFd) -> Self {
        Self(Kind::Fd(fd))
    }

    /// Refuses submission with a handle this ring cannot use.
    pub(crate) fn validate(&self) -> Result<()> {
        match &self.0 {
            Kind::Invalid(why) => Err(why.error()),
            _ => Ok(()),
        }
    }
}

/// Builds an SQE naming `$target` as either a plain fd or a fixed (registered) file.
macro_rules! with_target {
    ($target:expr, |$fd:ident| $build:expr) => {
        match &$target.0 {
            $crate::registry::Kind::Fd(shared) => {
                let $fd = io_uring::types::Fd(shared.raw());
                $build
            }
            $crate::registry::Kind::Fixed(slot) => {
                let $fd = io_uring::types::Fixed(slot.index());
                $build
            }
            $crate::registry::Kind::Invalid(_) => {
                let $fd = io_uring::types::Fd(-1);
                $build
            }
        }
    };
}
pub(crate) use with_target;

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// Something an operation can act on: a [`File`] or a [`RegisteredFd`].
pub trait AsTarget: sealed::Sealed {
    /// The target for an operation on `ring`.
    #[doc(hidden)]
    fn target(&self, ring: &Ring) -> Target;
}

impl sealed::Sealed for File {}
impl sealed::Sealed for RegisteredFd {}

impl AsTarget for File {
    #[inline]
    fn target(&self, _ring: &Ring) -> Target {
        Target(Kind::Fd(self.shared()))
    }
}

impl AsTarget for RegisteredFd {
    fn target(&self, ring: &Ring) -> Target {
        match ring.acquire_file(self) {
            Ok(slot) => Target(Kind::Fixed(slot)),
            Err(e) => Target(Kind::Invalid(Invalid::of(&e))),
        }
    }
}
