//! Network operations: accept, connect, send, recv, sendmsg/recvmsg with peer addresses,
//! shutdown. Every address and `msghdr` the kernel touches is boxed inside the operation.
#![allow(unsafe_code)]

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use io_uring::opcode;
use io_uring::squeue::Entry;

use super::opcode::cqe_result;
use super::{BufResult, OpCode};
use crate::buf::{IoBuf, IoBufMut};
use crate::error::{Result, SaferRingError};
use crate::fd::SharedFd;
use crate::net::{AddrBuf, TcpStream, UnixStream};
use crate::registry::{Target, with_target};
use crate::ring::slots::CqeResult;

/// What an accepted connection becomes, per listener kind (sealed).
pub trait Accepted: 'static + Sized + crate::registry::target::sealed::Sealed {
    /// The peer's address type.
    type Addr;
    /// Wraps the accepted fd and the address the kernel wrote.
    #[doc(hidden)]
    fn from_accept(fd: OwnedFd, addr: socket2::SockAddr) -> (Self, Self::Addr);
}

impl Accepted for TcpStream {
    type Addr = Option<SocketAddr>;
    fn from_accept(fd: OwnedFd, addr: socket2::SockAddr) -> (Self, Self::Addr) {
        (Self::from_owned(fd), addr.as_socket())
    }
}

impl Accepted for UnixStream {
    type Addr = socket2::SockAddr;
    fn from_accept(fd: OwnedFd, addr: socket2::SockAddr) -> (Self, Self::Addr) {
        (Self::from_owned(fd), addr)
    }
}

/// `accept`: one connection from a listener.
pub struct Accept<S> {
    pub(crate) fd: SharedFd,
    pub(crate) addr: Box<AddrBuf>,
    pub(crate) _kind: PhantomData<fn() -> S>,
}

// SAFETY: invariants 1, 6 — the address buffer and its length are boxed in `self`; the
// listener's fd is held open by `self.fd`.
unsafe impl<S: Accepted> OpCode for Accept<S> {
    type Output = Result<(S, S::Addr)>;
    const NAME: &'static str = "accept";
    const CODE: u8 = opcode::Accept::CODE;

    fn sqe(&mut self) -> Entry {
        opcode::Accept::new(self.fd.target(), self.addr.mut_ptr(), self.addr.len_mut())
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }

    fn complete(self, cqe: CqeResult) -> Self::Output {
        let fd = cqe_result(Self::NAME, cqe)?;
        // SAFETY: invariant 6 — a successful accept CQE carries a new fd nobody else owns;
        // owning it here closes it exactly once, also when the accept was abandoned.
        let fd = unsafe { crate::sys::own_fd(fd as i32) };
        Ok(S::from_accept(fd, self.addr.to_sock_addr()))
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        Err(error)
    }
}

/// `connect`: connects a fresh socket, which becomes the stream.
pub struct Connect<S> {
    /// The fresh socket, or the errno that prevented creating it.
    pub(crate) socket: std::result::Result<SharedFd, i32>,
    pub(crate) addr: Box<AddrBuf>,
    pub(crate) _kind: PhantomData<fn() -> S>,
}

// SAFETY: invariants 1, 6 — the address is boxed in `self`; the socket's fd is held open by
// `self.socket` until the final CQE.
unsafe impl<S: From<OwnedFd> + 'static> OpCode for Connect<S> {
    type Output = Result<S>;
    const NAME: &'static str = "connect";
    const CODE: u8 = opcode::Connect::CODE;

    fn sqe(&mut self) -> Entry {
        let fd = self.socket.as_ref().map_or(-1, SharedFd::raw);
        opcode::Connect::new(io_uring::types::Fd(fd), self.addr.ptr(), self.addr.len()).build()
    }

    fn complete(self, cqe: CqeResult) -> Self::Output {
        cqe_result(Self::NAME, cqe)?;
        let socket = self
            .socket
            .map_err(|_| SaferRingError::InvalidArgument("no socket"))?;
        match socket.try_unwrap() {
            Ok(fd) => Ok(S::from(fd)),
            Err(_) => Err(SaferRingError::InUse { what: "socket" }),
        }
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        Err(error)
    }

    fn validate(&self) -> Result<()> {
        match self.socket {
            Ok(_) => Ok(()),
            Err(errno) => Err(crate::net::bind_err(std::io::Error::from_raw_os_error(
                errno,
            ))),
        }
    }
}

impl From<OwnedFd> for TcpStream {
    fn from(fd: OwnedFd) -> Self {
        Self::from_owned(fd)
    }
}

impl From<OwnedFd> for UnixStream {
    fn from(fd: OwnedFd) -> Self {
        Self::from_owned(fd)
    }
}

/// `send` of a buffer's initialised bytes (with `MSG_NOSIGNAL`: a closed peer is `EPIPE`,
/// never `SIGPIPE`).
pub struct Send<B> {
    pub(crate) fd: Target,
    pub(crate) buf: B,
}

impl<B> Send<B> {
    /// The buffer, back from an operation that was never submitted.
    pub fn into_buf(self) -> B {
        self.buf
    }
}

// SAFETY: invariants 1, 2, 6 — points into `buf`'s stable heap memory within `bytes_init`;
// the target is kept valid by `self.fd`.
unsafe impl<B: IoBuf> OpCode for Send<B> {
    type Output = BufResult<usize, B>;
    const NAME: &'static str = "send";
    const CODE: u8 = opcode::Send::CODE;

    fn sqe(&mut self) -> Entry {
        let (ptr, len) = (self.buf.stable_ptr(), self.buf.bytes_init() as u32);
        with_target!(self.fd, |fd| opcode::Send::new(fd, ptr, len)
            .flags(libc::MSG_NOSIGNAL)
            .build())
    }

    fn complete(self, cqe: CqeResult) -> Self::Output {
        (cqe_result(Self::NAME, cqe).map(|n| n as usize), self.buf)
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        (Err(error), self.buf)
    }

    fn validate(&self) -> Result<()> {
        self.fd.validate()
    }
}

/// `recv` into a buffer. `Ok(0)` means the peer closed the connection.
pub struct Recv<B> {
    pub(crate) fd: Target,
    pub(crate) buf: B,
}

impl<B> Recv<B> {
    /// The buffer, back from an operation that was never submitted.
    pub fn into_buf(self) -> B {
        self.buf
    }
}

// SAFETY: invariants 1, 2, 6 — points into `buf`'s stable heap memory within `bytes_total`.
unsafe impl<B: IoBufMut> OpCode for Recv<B> {
    type Output = BufResult<usize, B>;
    const NAME: &'static str = "recv";
    const CODE: u8 = opcode::Recv::CODE;

    fn sqe(&mut self) -> Entry {
        let len = u32::try_from(self.buf.bytes_total()).unwrap_or(u32::MAX);
        let ptr = self.buf.stable_mut_ptr();
        with_target!(self.fd, |fd| opcode::Recv::new(fd, ptr, len).build())
    }

    fn complete(self, cqe: CqeResult) -> Self::Output {
        super::opcode::filled(Self::NAME, cqe, self.buf, 0)
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        (Err(error), self.buf)
    }

    fn validate(&self) -> Result<()> {
        self.fd.validate()
    }

    fn on_submitted(&mut self) {
        self.buf.on_taken();
    }
}

/// The `msghdr`, its one iovec and the peer address, boxed together.
pub(crate) struct Msg {
    hdr: libc::msghdr,
    iov: libc::iovec,
    addr: Box<AddrBuf>,
}

impl Msg {
    pub fn new(addr: Box<AddrBuf>) -> Box<Self> {
        // SAFETY: `msghdr` is a plain C struct for which all-zero bytes are valid (null
        // pointers, zero lengths).
        let hdr = unsafe { std::mem::zeroed() };
        Box::new(Self {
            hdr,
            iov: libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            },
            addr,
        })
    }

    /// Points the header at this box's iovec and address (stable: all inside the box).
    fn wire(&mut self, base: *mut u8, len: usize) -> *mut libc::msghdr {
        self.iov = libc::iovec {
            iov_base: base.cast(),
            iov_len: len,
        };
        self.hdr.msg_name = self.addr.mut_ptr().cast();
        self.hdr.msg_namelen = self.addr.len();
        self.hdr.msg_iov = &raw mut self.iov;
        self.hdr.msg_iovlen = 1;
        &raw mut self.hdr
    }
}

/// `sendmsg` of a buffer to a peer address (UDP `send_to`).
pub struct SendTo<B> {
    pub(crate) fd: Target,
    pub(crate) buf: B,
    pub(crate) msg: Box<Msg>,
}

// SAFETY: invariants 1, 2, 6 — the msghdr, iovec and address are boxed in `self.msg`; the
// iovec points into `buf`'s stable memory; `self.fd` holds the socket open.
unsafe impl<B: IoBuf> OpCode for SendTo<B> {
    type Output = BufResult<usize, B>;
    const NAME: &'static str = "sendmsg";
    const CODE: u8 = opcode::SendMsg::CODE;

    fn sqe(&mut self) -> Entry {
        let (ptr, len) = (self.buf.stable_ptr().cast_mut(), self.buf.bytes_init());
        let hdr = self.msg.wire(ptr, len);
        with_target!(self.fd, |fd| opcode::SendMsg::new(fd, hdr)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build())
    }

    fn complete(self, cqe: CqeResult) -> Self::Output {
        (cqe_result(Self::NAME, cqe).map(|n| n as usize), self.buf)
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        (Err(error), self.buf)
    }

    fn validate(&self) -> Result<()> {
        self.fd.validate()
    }
}

/// `recvmsg` into a buffer, with the sender's address (UDP `recv_from`).
pub struct RecvFrom<B> {
    pub(crate) fd: Target,
    pub(crate) buf: B,
    pub(crate) msg: Box<Msg>,
}

// SAFETY: invariants 1, 2, 6 — as `SendTo`; the kernel writes the buffer and the boxed
// address.
unsafe impl<B: IoBufMut> OpCode for RecvFrom<B> {
    type Output = BufResult<(usize, Option<SocketAddr>), B>;
    const NAME: &'static str = "recvmsg";
    const CODE: u8 = opcode::RecvMsg::CODE;

    fn sqe(&mut self) -> Entry {
        let (ptr, len) = (self.buf.stable_mut_ptr(), self.buf.bytes_total());
        let hdr = self.msg.wire(ptr, len);
        with_target!(self.fd, |fd| opcode::RecvMsg::new(fd, hdr).build())
    }

    fn complete(mut self, cqe: CqeResult) -> Self::Output {
        match cqe_result(Self::NAME, cqe) {
            Ok(n) => {
                // SAFETY: the kernel reported writing `n` bytes at the buffer's start.
                unsafe { self.buf.set_init(n as usize) };
                self.msg.addr.set_len(self.msg.hdr.msg_namelen);
                (Ok((n as usize, self.msg.addr.to_socket_addr())), self.buf)
            }
            Err(e) => (Err(e), self.buf),
        }
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        (Err(error), self.buf)
    }

    fn validate(&self) -> Result<()> {
        self.fd.validate()
    }

    fn on_submitted(&mut self) {
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
    const NAME: &'static str = "shutdown";
    const CODE: u8 = opcode::Shutdown::CODE;

    fn sqe(&mut self) -> Entry {
        with_target!(self.fd, |fd| opcode::Shutdown::new(fd, self.how).build())
    }

    fn complete(self, cqe: CqeResult) -> Self::Output {
        cqe_result(Self::NAME, cqe).map(drop)
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        Err(error)
    }

    fn validate(&self) -> Result<()> {
        self.fd.validate()
    }
}

/// Multishot `accept`: one SQE, a connection per CQE.
pub struct AcceptMulti {
    pub(crate) fd: SharedFd,
}

// SAFETY: invariant 6 — names only the listener's fd, held open by `self.fd`; no memory.
unsafe impl super::MultiShot for AcceptMulti {
    type Item = Result<TcpStream>;
    const NAME: &'static str = "accept_multishot";
    const CODE: u8 = opcode::AcceptMulti::CODE;

    fn sqe(&mut self) -> Entry {
        opcode::AcceptMulti::new(self.fd.target())
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }

    fn item(&mut self, cqe: CqeResult) -> Option<Self::Item> {
        Some(cqe_result(Self::NAME, cqe).map(|fd| {
            // SAFETY: invariant 6 — each successful CQE carries a new fd nobody else owns;
            // owning it closes it exactly once, also when the stream was dropped.
            TcpStream::from_owned(unsafe { crate::sys::own_fd(fd as i32) })
        }))
    }

    fn fail(&mut self, error: SaferRingError) -> Self::Item {
        Err(error)
    }
}

/// Multishot `recv` into a provided-buffer ring: a [`BufChunk`] per CQE.
///
/// [`BufChunk`]: crate::buf::BufChunk
pub struct RecvMulti {
    pub(crate) fd: Target,
    pub(crate) bufs: std::rc::Rc<crate::buf::BufRingInner>,
}

// SAFETY: invariants 1, 6, 8 — the SQE names no memory of its own: the kernel picks buffers
// from the registered ring, whose memory the ring (and `self.bufs`) keep alive; the target is
// kept valid by `self.fd`.
unsafe impl super::MultiShot for RecvMulti {
    type Item = Result<crate::buf::BufChunk>;
    const NAME: &'static str = "recv_multishot";
    const CODE: u8 = opcode::RecvMulti::CODE;

    fn sqe(&mut self) -> Entry {
        let bgid = self.bufs.bgid();
        with_target!(self.fd, |fd| opcode::RecvMulti::new(fd, bgid).build())
    }

    fn item(&mut self, cqe: CqeResult) -> Option<Self::Item> {
        let chunk = io_uring::cqueue::buffer_select(cqe.flags)
            .map(|bid| self.bufs.take(bid, usize::try_from(cqe.res).unwrap_or(0)));
        match cqe_result(Self::NAME, cqe) {
            Ok(0) => None, // the peer closed: end of stream (any buffer goes straight back)
            Ok(_) => chunk.map(Ok),
            Err(e) => Some(Err(e)),
        }
    }

    fn fail(&mut self, error: SaferRingError) -> Self::Item {
        Err(error)
    }

    fn rearm_on(&self, errno: i32) -> bool {
        errno == libc::ENOBUFS
    }

    fn validate(&self, ring: &crate::Ring) -> Result<()> {
        self.fd.validate()?;
        if self.bufs.ring_id() != ring.id() {
            return Err(SaferRingError::RingMismatch {
                what: "buffer ring",
            });
        }
        Ok(())
    }

    fn can_arm(&self, waker: &std::task::Waker) -> bool {
        self.bufs.has_buffers(waker)
    }
}

/// What a zero-copy send reports, CQE by CQE.
pub enum ZcEvent<B> {
    /// The send completed; the kernel may still read the buffer (a notification follows).
    Sent,
    /// The kernel is done with the buffer: the send's result and the buffer, the caller's
    /// again (after the notification CQE, or after the only CQE of a send that failed).
    Done(Result<usize>, B),
}

/// `send_zc`: zero-copy send. The kernel reads the buffer's pages directly until its
/// notification CQE, so the buffer is held until then (invariant 1).
pub struct SendZc<B> {
    pub(crate) fd: Target,
    pub(crate) buf: Option<B>,
    pub(crate) sent: Option<Result<usize>>,
}

// SAFETY: invariants 1, 2, 6 — the SQE points into `buf`'s stable heap memory, which this
// operation owns until the final CQE (the notification, or the only CQE when the send fails
// without one); the target is kept valid by `self.fd`.
unsafe impl<B: IoBuf> super::MultiShot for SendZc<B> {
    type Item = ZcEvent<B>;
    const NAME: &'static str = "send_zc";
    const CODE: u8 = opcode::SendZc::CODE;

    fn sqe(&mut self) -> Entry {
        let buf = self
            .buf
            .as_ref()
            .expect("buffer held until the notification");
        let (ptr, len) = (buf.stable_ptr(), buf.bytes_init() as u32);
        with_target!(self.fd, |fd| opcode::SendZc::new(fd, ptr, len)
            .flags(libc::MSG_NOSIGNAL)
            .build())
    }

    fn item(&mut self, cqe: CqeResult) -> Option<Self::Item> {
        if !io_uring::cqueue::notif(cqe.flags) {
            self.sent = Some(cqe_result(Self::NAME, cqe).map(|n| n as usize));
            if !crate::ring::slots::is_final(cqe) {
                return Some(ZcEvent::Sent);
            }
        }
        let sent = self
            .sent
            .take()
            .unwrap_or(Err(SaferRingError::InvalidArgument(
                "send_zc notification without a send result",
            )));
        self.buf.take().map(|buf| ZcEvent::Done(sent, buf))
    }

    fn fail(&mut self, error: SaferRingError) -> Self::Item {
        let buf = self
            .buf
            .take()
            .expect("buffer held until the operation ends");
        ZcEvent::Done(Err(error), buf)
    }

    fn validate(&self, _ring: &crate::Ring) -> Result<()> {
        self.fd.validate()
    }
}

/// `socket`: creates a socket through the ring (`IORING_OP_SOCKET`, Linux 5.19).
pub struct SocketOp {
    pub(crate) domain: i32,
    pub(crate) ty: i32,
    pub(crate) protocol: i32,
}

// SAFETY: names no memory and no fd.
unsafe impl OpCode for SocketOp {
    type Output = Result<OwnedFd>;
    const NAME: &'static str = "socket";
    const CODE: u8 = opcode::Socket::CODE;

    fn sqe(&mut self) -> Entry {
        opcode::Socket::new(self.domain, self.ty | libc::SOCK_CLOEXEC, self.protocol).build()
    }

    fn complete(self, cqe: CqeResult) -> Self::Output {
        let fd = cqe_result(Self::NAME, cqe).map_err(|e| match e.raw_os_error() {
            Some(errno @ (libc::EMFILE | libc::ENFILE)) => {
                crate::net::bind_err(std::io::Error::from_raw_os_error(errno))
            }
            _ => e,
        })?;
        // SAFETY: invariant 6 — a successful socket CQE carries a new fd nobody else owns;
        // owning it closes it exactly once, also when the operation was abandoned.
        Ok(unsafe { crate::sys::own_fd(fd as i32) })
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        Err(error)
    }
}
