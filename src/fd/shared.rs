//! [`SharedFd`]: a file descriptor kept open by every operation that uses it (invariant 6).
#![forbid(unsafe_code)]

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;

/// An owned fd shared between its handle (`File`, socket) and the operations using it.
///
/// The fd is closed when the last holder drops it — never while an operation that names it
/// is in flight, because the operation (or its parked slot) holds a clone until its final
/// CQE. So an fd number cannot be closed and reused under an in-flight operation.
#[derive(Clone, Debug)]
pub(crate) struct SharedFd(Arc<OwnedFd>);

impl SharedFd {
    pub fn new(fd: OwnedFd) -> Self {
        Self(Arc::new(fd))
    }

    /// The fd for an SQE.
    pub fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// The `io_uring` target for an SQE.
    pub fn target(&self) -> io_uring::types::Fd {
        io_uring::types::Fd(self.raw())
    }

    /// The owned fd, if no operation or other handle holds it.
    pub fn try_unwrap(self) -> Result<OwnedFd, Self> {
        Arc::try_unwrap(self.0).map_err(Self)
    }

    /// Borrow the owned fd.
    pub fn as_owned(&self) -> &OwnedFd {
        &self.0
    }
}
