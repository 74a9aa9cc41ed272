//! [`RegisteredFd`]: a handle to one registration in one ring's file table.
#![forbid(unsafe_code)]

use crate::ring::RingId;

/// A file registered with one ring's file table (a "fixed file").
///
/// Cheap to clone; every clone names the same registration. Pass it wherever an operation
/// takes a file (`ring.read_at(&fixed, ..)`). Made by
/// [`Ring::register_file`](crate::Ring::register_file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredFd {
    pub(crate) ring: RingId,
    /// The table it was registered in: every `register_files` call starts a new epoch.
    pub(crate) epoch: u64,
    pub(crate) index: u32,
    pub(crate) generation: u64,
}

impl RegisteredFd {
    /// The slot index in the ring's file table.
    pub fn index(&self) -> u32 {
        self.index
    }
}
