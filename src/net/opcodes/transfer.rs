//! Moving bytes on a connection: `send`, `recv`, `shutdown`.
#![allow(unsafe_code)]

use io_uring::opcode;
use io_uring::squeue::Entry;

use crate::error::{Result, SaferRingError};
use crate::fd::{Target, with_target};
use crate::op::cqe_result;
use crate::ring::slots::CqeResult;

use crate::buf::{IoBuf, IoBufMut, clamp_len};
use crate::op::{BufResult, OpCode};

/// `send` of a buffer's initialised bytes from byte `buf_pos` on (with `MSG_NOSIGNAL`: a
/// closed peer is `EPIPE`, never `SIGPIPE`; with `wait_all`, `MSG_WAITALL`: the kernel retries
/// short sends itself).
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::net::opcodes::Send;
/// use safer_ring::op::Op;
/// let ring = safer_ring::Ring::new(8)?;
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let stream = ring.connect(listener.local_addr()?).submit()?.wait()?;
/// let (peer, _) = listener.accept()?;
/// let op: Op<'_, Send<Vec<u8>>> = ring.send(&stream, b"payload".to_vec());
/// let (n, buf) = op.submit()?.wait();
/// assert_eq!(n?, 7);
/// assert_eq!(buf, b"payload"); // the buffer comes back
/// // The peer gone: an error (`EPIPE` or `ECONNRESET`), never a `SIGPIPE` killing the process.
/// drop(peer);
/// let mut failed = None;
/// for _ in 0..100 {
///     if let Err(e) = ring.send(&stream, b"x".to_vec()).submit()?.wait().0 {
///         failed = e.raw_os_error();
///         break;
///     }
/// }
/// assert!(matches!(failed, Some(libc::EPIPE | libc::ECONNRESET)));
/// # Ok(()) }
/// ```
pub struct Send<B> {
    /// The method that made it, for errors (`send`, `send_all`).
    pub(crate) op: &'static str,
    pub(crate) fd: Target,
    pub(crate) buf: B,
    pub(crate) buf_pos: usize,
    pub(crate) wait_all: bool,
}

// SAFETY: invariants 1, 2, 6 — points into `buf`'s stable heap memory within `bytes_init`;
// the target is kept valid by `self.fd`.
unsafe impl<B: IoBuf> OpCode for Send<B> {
    type Output = BufResult<usize, B>;
    const NAME: &'static str = "send";
    const CODE: u8 = opcode::Send::CODE;

    fn name(&self) -> &'static str {
        self.op
    }

    #[cfg(feature = "tracing")]
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.fd.raw_fd()
    }

    #[inline]
    fn sqe(&mut self) -> Entry {
        let ptr = self.buf.stable_ptr().wrapping_add(self.buf_pos);
        let len = clamp_len(self.buf.bytes_init() - self.buf_pos);
        let flags = libc::MSG_NOSIGNAL | if self.wait_all { libc::MSG_WAITALL } else { 0 };
        with_target!(self.fd, |fd| opcode::Send::new(fd, ptr, len)
            .flags(flags)
            .build())
    }

    #[inline]
    fn complete(self, cqe: CqeResult) -> Self::Output {
        (cqe_result(self.op, cqe).map(|n| n as usize), self.buf)
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        (Err(error), self.buf)
    }

    #[inline]
    fn validate(&mut self, ring: &crate::Ring) -> Result<()> {
        self.fd.bind(ring)?;
        if self.buf_pos > self.buf.bytes_init() {
            return Err(SaferRingError::InvalidArgument(
                "send position past the buffer's bytes",
            ));
        }
        Ok(())
    }
}

/// `recv` into a buffer. `Ok(0)` means the peer closed the connection.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::net::opcodes::Recv;
/// use safer_ring::{PinnedBuffer, op::Op};
/// use std::io::Write;
/// let ring = safer_ring::Ring::new(8)?;
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let stream = ring.connect(listener.local_addr()?).submit()?.wait()?;
/// let (mut peer, _) = listener.accept()?;
/// peer.write_all(b"abcdef")?;
/// // Up to the buffer's capacity: the rest waits for the next receive.
/// let op: Op<'_, Recv<PinnedBuffer>> = ring.recv(&stream, PinnedBuffer::new(4));
/// let (n, buf) = op.submit()?.wait();
/// assert_eq!((n?, buf.as_slice()), (4, &b"abcd"[..]));
/// let (n, buf) = ring.recv(&stream, buf).submit()?.wait();
/// assert_eq!((n?, buf.as_slice()), (2, &b"ef"[..]));
/// drop(peer);
/// let (n, _) = ring.recv(&stream, buf).submit()?.wait();
/// assert_eq!(n?, 0); // the peer closed
/// # Ok(()) }
/// ```
pub struct Recv<B> {
    pub(crate) fd: Target,
    pub(crate) buf: B,
}

// SAFETY: invariants 1, 2, 6 — points into `buf`'s stable heap memory within `bytes_total`.
unsafe impl<B: IoBufMut> OpCode for Recv<B> {
    type Output = BufResult<usize, B>;
    const NAME: &'static str = "recv";
    const CODE: u8 = opcode::Recv::CODE;

    #[cfg(feature = "tracing")]
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.fd.raw_fd()
    }

    #[inline]
    fn sqe(&mut self) -> Entry {
        let len = clamp_len(self.buf.bytes_total());
        let ptr = self.buf.stable_mut_ptr();
        with_target!(self.fd, |fd| opcode::Recv::new(fd, ptr, len).build())
    }

    #[inline]
    fn complete(self, cqe: CqeResult) -> Self::Output {
        crate::op::filled(Self::NAME, cqe, self.buf, 0)
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        (Err(error), self.buf)
    }

    #[inline]
    fn validate(&mut self, ring: &crate::Ring) -> Result<()> {
        self.fd.bind(ring)
    }

    #[inline]
    fn before_submit(&mut self) {
        self.buf.on_taken();
    }
}

/// `shutdown` of one or both directions of a connection.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::net::{Shutdown, UdpSocket, opcodes::ShutdownOp};
/// use safer_ring::op::Op;
/// use std::io::Read;
/// let ring = safer_ring::Ring::new(8)?;
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let stream = ring.connect(listener.local_addr()?).submit()?.wait()?;
/// let (mut peer, _) = listener.accept()?;
/// let op: Op<'_, ShutdownOp> = ring.shutdown_socket(&stream, Shutdown::Write);
/// let done: safer_ring::Result<()> = op.submit()?.wait();
/// done?;
/// assert_eq!(peer.read_to_end(&mut Vec::new())?, 0);
/// // Nothing to shut down on a socket that is not connected.
/// let udp = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
/// let err = ring.shutdown_socket(&udp, Shutdown::Both).submit()?.wait().unwrap_err();
/// assert_eq!(err.raw_os_error(), Some(libc::ENOTCONN));
/// # Ok(()) }
/// ```
pub struct ShutdownOp {
    pub(crate) fd: Target,
    pub(crate) how: i32,
}

// SAFETY: invariant 6 — names only the target `self.fd` keeps valid.
unsafe impl OpCode for ShutdownOp {
    type Output = Result<()>;
    const NAME: &'static str = "shutdown_socket";
    const CODE: u8 = opcode::Shutdown::CODE;

    #[cfg(feature = "tracing")]
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.fd.raw_fd()
    }

    fn sqe(&mut self) -> Entry {
        with_target!(self.fd, |fd| opcode::Shutdown::new(fd, self.how).build())
    }

    fn complete(self, cqe: CqeResult) -> Self::Output {
        cqe_result(Self::NAME, cqe).map(drop)
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        Err(error)
    }

    fn validate(&mut self, ring: &crate::Ring) -> Result<()> {
        self.fd.bind(ring)
    }
}
