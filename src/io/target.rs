//! What a [`RingIo`](super::RingIo) can wrap — [`TcpStream`], [`UnixStream`], [`File`] — and
//! the read, write and shutdown operation each uses.
#![forbid(unsafe_code)]

use crate::fd::AsTarget;
use crate::fs::File;
use crate::fs::opcodes::{Read, Write};
use crate::net::opcodes::{Recv, Send, ShutdownOp};
use crate::net::{TcpStream, UnixStream};
use crate::op::{BufResult, OpCode};

/// A handle a [`RingIo`](super::RingIo) can wrap: [`TcpStream`], [`UnixStream`] or [`File`].
/// Sealed.
pub trait IoTarget: sealed::Target {}

pub(super) mod sealed {
    use super::*;

    /// The operations behind an adapter's reads, writes and shutdown.
    pub trait Target: AsTarget {
        /// Reads into the adapter's buffer.
        type Read: OpCode<Output = BufResult<usize, Vec<u8>>>;
        /// Writes the adapter's buffer.
        type Write: OpCode<Output = BufResult<usize, Vec<u8>>>;
        /// Files: operations name the offset the adapter keeps. Sockets have none.
        const POSITIONED: bool;
        /// Reads into `buf` (up to its capacity) at `offset`.
        fn read_op(&self, buf: Vec<u8>, offset: u64) -> Self::Read;
        /// Writes `buf`'s bytes from `from` on, at `offset` (the offset of byte `from`).
        fn write_op(&self, buf: Vec<u8>, from: usize, offset: u64) -> Self::Write;
        /// Closes the write side (sockets); `None` where there is none to close.
        fn shutdown_op(&self) -> Option<ShutdownOp>;
    }
}

/// Sockets receive and send (`MSG_NOSIGNAL`: a closed peer is `EPIPE`, never `SIGPIPE`), the
/// kernel retrying short sends (`MSG_WAITALL`).
macro_rules! socket_target {
    ($($name:ty),*) => {$(
        impl IoTarget for $name {}

        impl sealed::Target for $name {
            type Read = Recv<Vec<u8>>;
            type Write = Send<Vec<u8>>;
            const POSITIONED: bool = false;

            fn read_op(&self, buf: Vec<u8>, _offset: u64) -> Self::Read {
                Recv { fd: self.target(), buf }
            }

            fn write_op(&self, buf: Vec<u8>, from: usize, _offset: u64) -> Self::Write {
                Send { op: "poll_write", fd: self.target(), buf, buf_pos: from, wait_all: true }
            }

            fn shutdown_op(&self) -> Option<ShutdownOp> {
                Some(ShutdownOp { fd: self.target(), how: libc::SHUT_WR })
            }
        }
    )*};
}

socket_target!(TcpStream, UnixStream);

impl IoTarget for File {}

impl sealed::Target for File {
    type Read = Read<Vec<u8>>;
    type Write = Write<Vec<u8>>;
    const POSITIONED: bool = true;

    fn read_op(&self, buf: Vec<u8>, offset: u64) -> Self::Read {
        Read {
            op: "poll_read",
            fd: self.target(),
            buf,
            offset,
            buf_pos: 0,
        }
    }

    fn write_op(&self, buf: Vec<u8>, from: usize, offset: u64) -> Self::Write {
        Write {
            op: "poll_write",
            fd: self.target(),
            buf,
            offset,
            buf_pos: from,
        }
    }

    fn shutdown_op(&self) -> Option<ShutdownOp> {
        None
    }
}
