//! The few raw system interfaces the safe layers need, each behind a safe function.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Takes ownership of an fd the kernel just created for us (an `openat` CQE result).
///
/// # Safety
///
/// `fd` must be a freshly created open fd that nothing else owns or will close.
pub(crate) unsafe fn own_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: forwarded from this function's contract (invariant 6: the new fd has exactly
    // one owner, so it is closed exactly once).
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// A zeroed `statx` buffer for the kernel to fill.
pub(crate) fn zeroed_statx() -> Box<libc::statx> {
    // SAFETY: `statx` is a plain C struct of integers, for which all-zero bytes are valid.
    Box::new(unsafe { std::mem::zeroed() })
}

/// A non-blocking, close-on-exec eventfd.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: `eventfd` takes no pointers; a non-negative result is a new fd we own.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nobody else (invariant 6).
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds one to an eventfd counter (a wake-up). Errors (counter saturated) are harmless.
pub(crate) fn eventfd_signal(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live local to an fd the caller keeps open.
    let _ = unsafe { libc::write(fd, (&raw const one).cast(), 8) };
}

/// Resets an eventfd counter. `EAGAIN` (already zero) is fine.
pub(crate) fn eventfd_drain(fd: RawFd) {
    let mut value: u64 = 0;
    // SAFETY: reads at most 8 bytes into a live local from an fd the caller keeps open.
    let _ = unsafe { libc::read(fd, (&raw mut value).cast(), 8) };
}
