//! [`Target`]: the file an operation acts on, by fd or by registered index.
//!
//! A registered handle is *bound* when the operation is submitted, against the ring that
//! submits it (invariant 12; `Target::bind` in the registry): the handle's ring id, table
//! epoch and slot generation are checked there, and the use count that keeps the slot
//! registered (invariant 8) is taken on that ring's table. Building an operation resolves
//! nothing.
#![forbid(unsafe_code)]

use super::{Claim, RegisteredFd, SharedFd};

/// What an operation names in its SQE, and what keeps it valid until the final CQE: a
/// shared fd handle (invariant 6) or a use count on a registered slot (invariant 8).
///
/// Made by [`AsTarget`] when an operation is built; never by hand.
///
/// # Examples
///
/// An operation holds its file open, so the fd number cannot be reused under it:
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{File, Ring, SaferRingError};
/// let ring = Ring::new(8)?;
/// let file = File::from(tempfile::tempfile()?);
/// ring.write_at(&file, b"target".to_vec(), 0).submit()?.wait().0?;
/// let read = ring.read_at(&file, Vec::with_capacity(8), 0); // holds the file's Target
/// drop(file); // the fd stays open until the read is done with it
/// let (n, buf) = read.submit()?.wait();
/// assert_eq!(&buf[..n?], b"target");
///
/// // A registered file's target is bound when the operation is submitted.
/// ring.register_files(1)?;
/// let fixed = ring.register_file(&tempfile::tempfile()?)?;
/// let sync = ring.fsync(&fixed);
/// ring.unregister_file(&fixed)?;
/// let err = sync.submit().unwrap_err();
/// assert!(matches!(err.error(), SaferRingError::Stale { .. }), "{err}");
/// # Ok(()) }
/// ```
pub struct Target(pub(crate) Kind);

pub(crate) enum Kind {
    Fd(SharedFd),
    /// A registered file; `claim` is taken on the submitting ring by [`Target::bind`].
    Fixed {
        handle: RegisteredFd,
        claim: Option<Claim>,
    },
}

impl Target {
    /// A plain fd target.
    pub(crate) fn fd(fd: SharedFd) -> Self {
        Self(Kind::Fd(fd))
    }

    /// The plain fd, for tracing events (`None` for a registered file).
    #[cfg(feature = "tracing")]
    pub(crate) fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        match &self.0 {
            Kind::Fd(shared) => Some(shared.raw()),
            Kind::Fixed { .. } => None,
        }
    }
}

/// Builds an SQE naming `$target` as either a plain fd or a fixed (registered) file. A fixed
/// target must have been bound ([`Target::bind`]) by the submitting ring first.
macro_rules! with_target {
    ($target:expr, |$fd:ident| $build:expr) => {
        match &$target.0 {
            $crate::fd::Kind::Fd(shared) => {
                let $fd = io_uring::types::Fd(shared.raw());
                $build
            }
            $crate::fd::Kind::Fixed { claim, .. } => {
                let slot = claim
                    .as_ref()
                    .expect("a registered target is bound before its SQE is built");
                let $fd = io_uring::types::Fixed(slot.index());
                $build
            }
        }
    };
}
pub(crate) use with_target;

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// Something an operation can act on: a [`File`](crate::File), a socket, or a
/// [`RegisteredFd`].
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{AsTarget, File, Ring};
/// // Generic over files, sockets and registered files alike.
/// fn sync_it(ring: &Ring, file: &impl AsTarget) -> safer_ring::Result<()> {
///     ring.fsync(file).submit()?.wait()
/// }
/// let ring = Ring::new(8)?;
/// let file = File::from(tempfile::tempfile()?);
/// sync_it(&ring, &file)?;
/// ring.register_files(1)?;
/// sync_it(&ring, &ring.register_file(&file)?)?;
/// # Ok(()) }
/// ```
pub trait AsTarget: sealed::Sealed {
    /// The target for an operation (bound to a ring when submitted).
    #[doc(hidden)]
    fn target(&self) -> Target;
}

impl sealed::Sealed for RegisteredFd {}

impl AsTarget for RegisteredFd {
    fn target(&self) -> Target {
        Target(Kind::Fixed {
            handle: self.clone(),
            claim: None,
        })
    }
}
