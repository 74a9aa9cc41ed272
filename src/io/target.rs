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
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// use std::future::IntoFuture;
/// use std::rc::Rc;
/// use safer_ring::{File, Ring, io::{IoTarget, RingIo}};
/// use safer_ring::net::{ListenOptions, TcpListener};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// /// Writes `data` to `to`, then reads as many bytes back from `from`, whatever they wrap.
/// async fn round_trip(
///     mut to: RingIo<impl IoTarget>,
///     mut from: RingIo<impl IoTarget>,
///     data: &[u8],
/// ) -> std::io::Result<Vec<u8>> {
///     to.write_all(data).await?;
///     to.shutdown().await?; // flushes (and closes a socket's write side)
///     let mut back = vec![0; data.len()];
///     from.read_exact(&mut back).await?;
///     Ok(back)
/// }
///
/// let ring = Rc::new(Ring::new(16)?);
/// let std_file = tempfile::tempfile()?;
/// let to = RingIo::new(&ring, File::from(std_file.try_clone()?));
/// let from = RingIo::new(&ring, File::from(std_file));
/// assert_eq!(ring.block_on(round_trip(to, from, b"a file"))?, b"a file");
///
/// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
/// let addr = listener.local_addr()?;
/// let back = ring.block_on(async {
///     let (client, server) =
///         futures::join!(ring.connect(addr).into_future(), ring.accept(&listener).into_future());
///     let (client, server) = (RingIo::new(&ring, client?), RingIo::new(&ring, server?.0));
///     round_trip(client, server, b"a socket").await
/// })?;
/// assert_eq!(back, b"a socket");
/// # Ok(()) }
/// ```
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
