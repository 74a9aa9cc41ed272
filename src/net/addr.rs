//! Socket addresses on the heap, for the kernel to read or fill.
#![allow(unsafe_code)]

use std::net::SocketAddr;

use socket2::{SockAddr, SockAddrStorage};

use crate::error::{SaferRingError, Subject};

const STORAGE_LEN: libc::socklen_t = std::mem::size_of::<libc::sockaddr_storage>() as _;

/// An address buffer owned by an operation (always boxed, so the kernel's pointers into it
/// stay valid while the operation moves): a `sockaddr_storage` and its length.
pub(crate) struct AddrBuf {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl AddrBuf {
    /// Empty, for the kernel to fill (accept, recvmsg).
    pub fn empty() -> Box<Self> {
        Box::new(Self {
            // SAFETY: `sockaddr_storage` is a plain C struct; all-zero bytes are valid.
            storage: unsafe { std::mem::zeroed() },
            len: STORAGE_LEN,
        })
    }

    /// Holding `addr`, for the kernel to read (connect, sendmsg).
    pub fn from_addr(addr: &SockAddr) -> Box<Self> {
        let mut buf = Self::empty();
        let len = addr.len().min(STORAGE_LEN);
        // SAFETY: copies `len <= size_of(sockaddr_storage)` bytes from a live `SockAddr` into
        // our own storage; the two do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                addr.as_ptr().cast::<u8>(),
                (&raw mut buf.storage).cast::<u8>(),
                len as usize,
            );
        }
        buf.len = len;
        buf
    }

    pub fn ptr(&self) -> *const libc::sockaddr {
        (&raw const self.storage).cast()
    }

    pub fn mut_ptr(&mut self) -> *mut libc::sockaddr {
        (&raw mut self.storage).cast()
    }

    pub fn len(&self) -> libc::socklen_t {
        self.len
    }

    pub fn len_mut(&mut self) -> *mut libc::socklen_t {
        &raw mut self.len
    }

    pub fn set_len(&mut self, len: libc::socklen_t) {
        self.len = len.min(STORAGE_LEN);
    }

    /// The address the kernel wrote.
    pub fn to_sock_addr(&self) -> SockAddr {
        let mut storage = SockAddrStorage::zeroed();
        // SAFETY: `SockAddrStorage` wraps a `sockaddr_storage`, so viewing it as one is exact.
        *unsafe { storage.view_as::<libc::sockaddr_storage>() } = self.storage;
        // SAFETY: the storage holds a kernel-written (or zeroed) address and the length never
        // exceeds its size (`set_len` clamps; the kernel respects the limit it was given).
        unsafe { SockAddr::new(storage, self.len.min(STORAGE_LEN)) }
    }

    /// `err`, naming this address (an IP address, or a Unix socket's path).
    pub fn name_in(&self, err: SaferRingError) -> SaferRingError {
        match subject_of(&self.to_sock_addr()) {
            Some(subject) => err.concerning(subject),
            None => err,
        }
    }

    /// As an IP socket address, if it is one.
    pub fn to_socket_addr(&self) -> Option<SocketAddr> {
        self.to_sock_addr().as_socket()
    }
}

/// What an error about `addr` names: the IP address, or the Unix socket's path.
pub(crate) fn subject_of(addr: &SockAddr) -> Option<Subject> {
    match addr.as_socket() {
        Some(ip) => Some(Subject::Addr(ip)),
        None => addr.as_pathname().map(|p| Subject::Path(p.to_owned())),
    }
}
