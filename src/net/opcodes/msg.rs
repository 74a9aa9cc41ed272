//! Datagrams with peer addresses: `sendmsg` / `recvmsg` with a boxed `msghdr`.
#![allow(unsafe_code)]

use io_uring::opcode;
use io_uring::squeue::Entry;

use crate::error::{Result, SaferRingError};
use crate::fd::{Target, with_target};
use crate::op::cqe_result;
use crate::ring::slots::CqeResult;

use std::net::SocketAddr;

use crate::buf::{IoBuf, IoBufMut};
use crate::net::AddrBuf;
use crate::op::{BufResult, OpCode};

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
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::net::{UdpSocket, opcodes::SendTo};
/// use safer_ring::op::Op;
/// let ring = safer_ring::Ring::new(8)?;
/// let a = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
/// let b = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// # b.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
/// let op: Op<'_, SendTo<Vec<u8>>> = ring.send_to(&a, b"to b".to_vec(), b.local_addr()?);
/// let (sent, buf) = op.submit()?.wait();
/// assert_eq!(sent?, 4);
/// assert_eq!(buf, b"to b"); // the buffer comes back
/// let mut got = [0u8; 8];
/// let (n, from) = b.recv_from(&mut got)?;
/// assert_eq!((&got[..n], from), (&b"to b"[..], a.local_addr()?));
/// # Ok(()) }
/// ```
pub struct SendTo<B> {
    pub(crate) fd: Target,
    pub(crate) buf: B,
    pub(crate) msg: Box<Msg>,
}

// SAFETY: invariants 1, 2, 6 — the msghdr, iovec and address are boxed in `self.msg`; the
// iovec points into `buf`'s stable memory; `self.fd` holds the socket open.
unsafe impl<B: IoBuf> OpCode for SendTo<B> {
    type Output = BufResult<usize, B>;
    const NAME: &'static str = "send_to";
    const CODE: u8 = opcode::SendMsg::CODE;

    #[cfg(feature = "tracing")]
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.fd.raw_fd()
    }

    fn sqe(&mut self) -> Entry {
        let (ptr, len) = (self.buf.stable_ptr().cast_mut(), self.buf.bytes_init());
        let hdr = self.msg.wire(ptr, len);
        with_target!(self.fd, |fd| opcode::SendMsg::new(fd, hdr)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build())
    }

    fn complete(self, cqe: CqeResult) -> Self::Output {
        let sent = cqe_result(Self::NAME, cqe).map_err(|e| self.msg.addr.name_in(e));
        (sent.map(|n| n as usize), self.buf)
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        (Err(error), self.buf)
    }

    fn validate(&mut self, ring: &crate::Ring) -> Result<()> {
        self.fd.bind(ring)
    }
}

/// `recvmsg` into a buffer, with the sender's address (UDP `recv_from`).
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::net::{UdpSocket, opcodes::RecvFrom};
/// use safer_ring::op::Op;
/// use std::net::SocketAddr;
/// let ring = safer_ring::Ring::new(8)?;
/// let socket = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
/// let op: Op<'_, RecvFrom<Vec<u8>>> = ring.recv_from(&socket, Vec::with_capacity(16));
/// let waiting = op.submit()?;
/// let sender = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// sender.send_to(b"hello", socket.local_addr()?)?;
/// let (got, buf): (safer_ring::Result<(usize, Option<SocketAddr>)>, Vec<u8>) = waiting.wait();
/// let (n, from) = got?;
/// assert_eq!((&buf[..n], from), (&b"hello"[..], Some(sender.local_addr()?)));
/// # Ok(()) }
/// ```
pub struct RecvFrom<B> {
    pub(crate) fd: Target,
    pub(crate) buf: B,
    pub(crate) msg: Box<Msg>,
}

// SAFETY: invariants 1, 2, 6 — as `SendTo`; the kernel writes the buffer and the boxed
// address.
unsafe impl<B: IoBufMut> OpCode for RecvFrom<B> {
    type Output = BufResult<(usize, Option<SocketAddr>), B>;
    const NAME: &'static str = "recv_from";
    const CODE: u8 = opcode::RecvMsg::CODE;

    #[cfg(feature = "tracing")]
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.fd.raw_fd()
    }

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

    fn validate(&mut self, ring: &crate::Ring) -> Result<()> {
        self.fd.bind(ring)
    }

    fn before_submit(&mut self) {
        self.buf.on_taken();
    }
}
