//! Multishot network operations: accept and recv (into a provided-buffer ring).
#![allow(unsafe_code)]

use io_uring::opcode;
use io_uring::squeue::Entry;

use crate::error::{Result, SaferRingError};
use crate::fd::{Target, with_target};
use crate::op::cqe_result;
use crate::ring::slots::CqeResult;

use crate::fd::SharedFd;
use crate::net::TcpStream;
use crate::op::MultiShot;
use crate::probe::Capability;

/// Multishot `accept`: one SQE, a connection per CQE — or, on a ring without
/// [`MultishotAccept`](Capability::MultishotAccept), a one-shot accept the stream re-arms
/// after each connection.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use futures::StreamExt;
/// use safer_ring::net::{ListenOptions, TcpListener, TcpStream, opcodes::AcceptMulti};
/// use safer_ring::op::OpStream;
/// let ring = safer_ring::Ring::new(8)?;
/// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
/// let a = std::net::TcpStream::connect(listener.local_addr()?)?;
/// let b = std::net::TcpStream::connect(listener.local_addr()?)?;
/// let stream: OpStream<'_, AcceptMulti> = ring.accept_multi(&listener);
/// let conns: Vec<safer_ring::Result<TcpStream>> = ring.block_on(stream.take(2).collect());
/// let mut peers = conns.into_iter().map(|c| c?.peer_addr()).collect::<safer_ring::Result<Vec<_>>>()?;
/// peers.sort();
/// let mut clients = vec![a.local_addr()?, b.local_addr()?];
/// clients.sort();
/// assert_eq!(peers, clients); // one connection per item
/// # Ok(()) }
/// ```
pub struct AcceptMulti {
    pub(crate) fd: SharedFd,
    /// Whether the arming ring has multishot accept (set by `validate`).
    pub(crate) multishot: bool,
}

// SAFETY: invariant 6 — names only the listener's fd, held open by `self.fd`; no memory (the
// one-shot form asks for no peer address).
unsafe impl MultiShot for AcceptMulti {
    type Item = Result<TcpStream>;
    const NAME: &'static str = "accept_multi";
    const CODE: u8 = opcode::AcceptMulti::CODE;

    #[cfg(feature = "tracing")]
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        Some(self.fd.raw())
    }

    fn sqe(&mut self) -> Entry {
        let fd = self.fd.target();
        if !self.multishot {
            let none = (std::ptr::null_mut(), std::ptr::null_mut());
            return opcode::Accept::new(fd, none.0, none.1)
                .flags(libc::SOCK_CLOEXEC)
                .build();
        }
        opcode::AcceptMulti::new(fd)
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }

    fn validate(&mut self, ring: &crate::Ring) -> Result<()> {
        self.multishot = ring.has(Capability::MultishotAccept);
        Ok(())
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

    /// A connection that failed before it was accepted concerns only itself: accept(2) asks
    /// to treat these like `EAGAIN`.
    fn rearm_on(&self, errno: i32) -> bool {
        matches!(
            errno,
            libc::ECONNABORTED
                | libc::EPROTO
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
                | libc::EINTR
        )
    }

    /// Out of fds or memory: yielded (the server decides when to try again, for instance
    /// once a connection closed), and the listener stays armed for the next poll.
    fn survives(&self, errno: i32) -> bool {
        matches!(
            errno,
            libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM
        )
    }
}

/// Multishot `recv` into a provided-buffer ring: a [`BufChunk`] per CQE — or, on a ring
/// without [`MultishotRecv`](Capability::MultishotRecv), a one-shot receive from the buffer
/// ring that the stream re-arms after each message.
///
/// [`BufChunk`]: crate::buf::BufChunk
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use futures::StreamExt;
/// use safer_ring::net::{ListenOptions, TcpListener, opcodes::RecvMulti};
/// use safer_ring::op::OpStream;
/// use std::io::Write;
/// let ring = safer_ring::Ring::new(8)?;
/// let bufs = ring.register_buf_ring(4, 4096)?;
/// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
/// let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
/// let (conn, _) = ring.accept(&listener).submit()?.wait()?;
/// client.write_all(b"multi")?;
/// let mut stream: OpStream<'_, RecvMulti> = ring.recv_multi(&conn, &bufs);
/// let chunk = ring.block_on(stream.next()).unwrap()?;
/// assert_eq!(&chunk[..], b"multi");
/// // A buffer ring registered with another ring cannot be used here.
/// let other = safer_ring::Ring::new(4)?;
/// let foreign = other.register_buf_ring(4, 4096)?;
/// let err = ring.block_on(ring.recv_multi(&conn, &foreign).next()).unwrap().unwrap_err();
/// assert!(matches!(err, safer_ring::SaferRingError::RingMismatch { .. }));
/// # Ok(()) }
/// ```
pub struct RecvMulti {
    /// Whether the arming ring has multishot receive (set by `validate`).
    pub(crate) multishot: bool,
    pub(crate) fd: Target,
    pub(crate) bufs: std::rc::Rc<crate::buf::BufRingInner>,
    /// When to arm: not again into `ENOBUFS` before a buffer is provided back.
    pub(crate) gate: crate::buf::ArmGate,
}

// SAFETY: invariants 1, 6, 8 — the SQE names no memory of its own: the kernel picks buffers
// from the registered ring, whose memory the ring (and `self.bufs`) keep alive; the target is
// kept valid by `self.fd`.
unsafe impl MultiShot for RecvMulti {
    type Item = Result<crate::buf::BufChunk>;
    const NAME: &'static str = "recv_multi";
    const CODE: u8 = opcode::RecvMulti::CODE;

    #[cfg(feature = "tracing")]
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.fd.raw_fd()
    }

    fn sqe(&mut self) -> Entry {
        let bgid = self.bufs.bgid();
        if !self.multishot {
            // Length 0 with a selected buffer: the kernel takes the buffer's length.
            let none = std::ptr::null_mut();
            let recv = with_target!(self.fd, |fd| opcode::Recv::new(fd, none, 0)
                .buf_group(bgid)
                .build());
            return recv.flags(io_uring::squeue::Flags::BUFFER_SELECT);
        }
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
        let starved = errno == libc::ENOBUFS;
        if starved {
            // Re-armed, but only once a buffer was provided since this arming (`can_arm`).
            self.gate.starved();
        }
        starved
    }

    fn validate(&mut self, ring: &crate::Ring) -> Result<()> {
        self.fd.bind(ring)?;
        self.multishot = ring.has(Capability::MultishotRecv);
        if self.bufs.ring_id() != ring.id() {
            return Err(SaferRingError::RingMismatch {
                what: "buffer ring",
            });
        }
        Ok(())
    }

    fn can_arm(&self, waker: &std::task::Waker) -> bool {
        self.gate.can_arm(waker)
    }
}
