//! [`Registrar`]: what the registry registers through — the kernel's `io_uring_register`,
//! or the fallback backend's own tables (`emulated/tables.rs`) — under the same calls.
#![allow(unsafe_code)] // forwards the unsafe registrations of memory

use std::io;
use std::os::fd::RawFd;

use super::emulated::Tables;

/// The registration interface of one ring, lent to the registry for one call.
pub(crate) enum Registrar<'a> {
    /// io_uring's, and the ring's fd (for the calls the `io-uring` crate does not wrap).
    Kernel(io_uring::Submitter<'a>, RawFd),
    /// The fallback's.
    Emulated(&'a Tables),
}

fn on_fallback(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{what} is not available on the fallback backend (it needs io_uring itself)"),
    )
}

impl Registrar<'_> {
    /// A sparse file table of `nr` slots.
    pub fn register_files_sparse(&self, nr: u32) -> io::Result<()> {
        match self {
            Self::Kernel(kernel, _) => kernel.register_files_sparse(nr),
            Self::Emulated(tables) => tables.register_files_sparse(nr),
        }
    }

    /// Removes the file table.
    pub fn unregister_files(&self) -> io::Result<()> {
        match self {
            Self::Kernel(kernel, _) => kernel.unregister_files(),
            Self::Emulated(tables) => tables.unregister_files(),
        }
    }

    /// Points slots `offset..` at `fds` (`-1` empties a slot).
    pub fn register_files_update(&self, offset: u32, fds: &[RawFd]) -> io::Result<usize> {
        match self {
            Self::Kernel(kernel, _) => kernel.register_files_update(offset, fds),
            Self::Emulated(tables) => tables.register_files_update(offset, fds),
        }
    }

    /// Registers `iovecs` as fixed buffers.
    ///
    /// # Safety
    ///
    /// The memory stays valid until it is unregistered or the ring is gone (invariants 1, 8).
    pub unsafe fn register_buffers(&self, iovecs: &[libc::iovec]) -> io::Result<()> {
        match self {
            // SAFETY: forwarded from this function's contract.
            Self::Kernel(kernel, _) => unsafe { kernel.register_buffers(iovecs) },
            Self::Emulated(tables) => tables.register_buffers(iovecs),
        }
    }

    /// Removes the fixed buffers.
    pub fn unregister_buffers(&self) -> io::Result<()> {
        match self {
            Self::Kernel(kernel, _) => kernel.unregister_buffers(),
            Self::Emulated(tables) => tables.unregister_buffers(),
        }
    }

    /// Registers a provided-buffer ring of `count` entries at `addr` as group `bgid`.
    ///
    /// # Safety
    ///
    /// The entries (and the buffers they name) stay valid while registered (invariants 1, 8).
    pub unsafe fn register_buf_ring_with_flags(
        &self,
        addr: u64,
        count: u16,
        bgid: u16,
        flags: u16,
    ) -> io::Result<()> {
        match self {
            // SAFETY: forwarded from this function's contract.
            Self::Kernel(kernel, _) => unsafe {
                kernel.register_buf_ring_with_flags(addr, count, bgid, flags)
            },
            Self::Emulated(tables) => tables.register_buf_ring(addr, count, bgid, flags),
        }
    }

    /// Has the kernel signal `fd` on completions (the fallback's ring fd is such an eventfd
    /// already: not asked of it).
    pub fn register_eventfd(&self, fd: RawFd) -> io::Result<()> {
        match self {
            Self::Kernel(kernel, _) => kernel.register_eventfd(fd),
            Self::Emulated(_) => Err(on_fallback("IORING_REGISTER_EVENTFD")),
        }
    }

    /// Restricts the slots the kernel picks for incoming files to `off..off + len`.
    pub fn register_file_alloc_range(&self, off: u32, len: u32) -> io::Result<()> {
        match self {
            Self::Kernel(_, fd) => crate::sys::register_file_alloc_range(*fd, off, len),
            Self::Emulated(_) => Err(on_fallback(
                "a file mailbox (files sent between rings by IORING_OP_MSG_RING)",
            )),
        }
    }
}
