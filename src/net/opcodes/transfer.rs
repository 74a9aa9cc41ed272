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
