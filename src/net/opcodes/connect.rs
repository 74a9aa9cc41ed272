//! Setting up connections: `socket`, `accept`, `connect`.
#![allow(unsafe_code)]

use io_uring::opcode;
use io_uring::squeue::Entry;

use crate::error::{Result, SaferRingError, Subject};
use crate::op::cqe_result;
use crate::ring::slots::CqeResult;

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use crate::fd::SharedFd;
use crate::net::{AddrBuf, TcpStream, UnixStream};
use crate::op::OpCode;

/// What an accepted connection becomes, per listener kind (sealed).
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::net::opcodes::{Accept, Accepted};
/// use safer_ring::net::{ListenOptions, TcpListener, UnixListener};
/// use safer_ring::op::Op;
/// // One function for both kinds of listener; `S::Addr` is the peer's address type.
/// fn accept_one<S: Accepted>(op: Op<'_, Accept<S>>) -> safer_ring::Result<(S, S::Addr)> {
///     op.submit()?.wait()
/// }
/// let ring = safer_ring::Ring::new(8)?;
/// let tcp = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
/// let client = std::net::TcpStream::connect(tcp.local_addr()?)?;
/// let (_conn, peer) = accept_one(ring.accept(&tcp))?;
/// assert_eq!(peer, Some(client.local_addr()?)); // TCP: `Option<SocketAddr>`
/// let dir = tempfile::tempdir()?;
/// let unix = UnixListener::bind(dir.path().join("sock"))?;
/// let _client = std::os::unix::net::UnixStream::connect(dir.path().join("sock"))?;
/// let (_conn, peer) = accept_one(ring.accept_unix(&unix))?;
/// assert!(peer.is_unix()); // Unix: a `socket2::SockAddr`
/// # Ok(()) }
/// ```
pub trait Accepted: 'static + Sized + crate::fd::sealed::Sealed {
    /// The peer's address type.
    type Addr;
    /// The ring method that accepts it, for errors.
    #[doc(hidden)]
    const METHOD: &'static str;
    /// Wraps the accepted fd and the address the kernel wrote.
    #[doc(hidden)]
    fn from_accept(fd: OwnedFd, addr: socket2::SockAddr) -> (Self, Self::Addr);
}

impl Accepted for TcpStream {
    type Addr = Option<SocketAddr>;
    const METHOD: &'static str = "accept";
    fn from_accept(fd: OwnedFd, addr: socket2::SockAddr) -> (Self, Self::Addr) {
        (Self::from_owned(fd), addr.as_socket())
    }
}

impl Accepted for UnixStream {
    type Addr = socket2::SockAddr;
    const METHOD: &'static str = "accept_unix";
    fn from_accept(fd: OwnedFd, addr: socket2::SockAddr) -> (Self, Self::Addr) {
        (Self::from_owned(fd), addr)
    }
}

/// `accept`: one connection from a listener.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::net::{ListenOptions, TcpListener, TcpStream, opcodes::Accept};
/// use safer_ring::op::Op;
/// use std::net::SocketAddr;
/// let ring = safer_ring::Ring::new(8)?;
/// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
/// let op: Op<'_, Accept<TcpStream>> = ring.accept(&listener);
/// let client = std::net::TcpStream::connect(listener.local_addr()?)?;
/// let (stream, peer): (TcpStream, Option<SocketAddr>) = op.submit()?.wait()?;
/// assert_eq!(peer, Some(client.local_addr()?));
/// assert_eq!(stream.peer_addr()?, client.local_addr()?);
/// # Ok(()) }
/// ```
pub struct Accept<S> {
    pub(crate) fd: SharedFd,
    pub(crate) addr: Box<AddrBuf>,
    pub(crate) _kind: PhantomData<fn() -> S>,
}

// SAFETY: invariants 1, 6 — the address buffer and its length are boxed in `self`; the
// listener's fd is held open by `self.fd`.
unsafe impl<S: Accepted> OpCode for Accept<S> {
    type Output = Result<(S, S::Addr)>;
    const NAME: &'static str = S::METHOD;
    const CODE: u8 = opcode::Accept::CODE;

    #[cfg(feature = "tracing")]
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        Some(self.fd.raw())
    }

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
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::net::{TcpStream, opcodes::Connect};
/// use safer_ring::op::Op;
/// let ring = safer_ring::Ring::new(8)?;
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let op: Op<'_, Connect<TcpStream>> = ring.connect(listener.local_addr()?);
/// let stream: TcpStream = op.submit()?.wait()?;
/// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
/// // An address that cannot be used is refused when submitted, nothing sent to the kernel.
/// let too_long = format!("/tmp/{}", "x".repeat(200)); // longer than a `sockaddr_un` holds
/// let refused = ring.connect_unix(&too_long).submit().unwrap_err();
/// assert_eq!(refused.error().raw_os_error(), Some(libc::ENAMETOOLONG));
/// # Ok(()) }
/// ```
pub struct Connect<S> {
    /// The fresh socket, or the errno that prevented creating it.
    pub(crate) socket: std::result::Result<SharedFd, i32>,
    pub(crate) addr: Box<AddrBuf>,
    /// What was asked for, for errors (also when `addr` cannot hold it).
    pub(crate) to: Subject,
    pub(crate) _kind: PhantomData<fn() -> S>,
}

// SAFETY: invariants 1, 6 — the address is boxed in `self`; the socket's fd is held open by
// `self.socket` until the final CQE.
unsafe impl<S: From<OwnedFd> + 'static> OpCode for Connect<S> {
    type Output = Result<S>;
    const NAME: &'static str = "connect";
    const CODE: u8 = opcode::Connect::CODE;

    fn name(&self) -> &'static str {
        match self.to {
            Subject::Path(_) => "connect_unix",
            _ => Self::NAME,
        }
    }

    #[cfg(feature = "tracing")]
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.socket.as_ref().ok().map(SharedFd::raw)
    }

    fn sqe(&mut self) -> Entry {
        let fd = self.socket.as_ref().map_or(-1, SharedFd::raw);
        opcode::Connect::new(io_uring::types::Fd(fd), self.addr.ptr(), self.addr.len()).build()
    }

    fn complete(self, cqe: CqeResult) -> Self::Output {
        if let Err(e) = cqe_result(self.name(), cqe) {
            return Err(e.concerning(self.to));
        }
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

    fn validate(&mut self, _ring: &crate::Ring) -> Result<()> {
        match self.socket {
            Ok(_) => Ok(()),
            Err(errno) => {
                let err = std::io::Error::from_raw_os_error(errno);
                Err(SaferRingError::os(self.name(), err).concerning(self.to.clone()))
            }
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

/// `socket`: creates a socket through the ring (`IORING_OP_SOCKET`, Linux 5.19).
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::net::opcodes::SocketOp;
/// use safer_ring::op::Op;
/// use socket2::{Domain, Socket, Type};
/// let ring = safer_ring::Ring::new(4)?;
/// let op: Op<'_, SocketOp> = ring.socket(Domain::UNIX, Type::STREAM);
/// let fd: std::os::fd::OwnedFd = op.submit()?.wait()?;
/// let socket = Socket::from(fd);
/// assert_eq!(socket.domain()?, Domain::UNIX);
/// assert_eq!(socket.r#type()?, Type::STREAM);
/// # Ok(()) }
/// ```
pub struct SocketOp {
    pub(crate) domain: i32,
    pub(crate) ty: i32,
    pub(crate) protocol: i32,
    /// The socket `socket(2)` made, on a ring without the opcode (or told to do without):
    /// the submission is then a NOP that hands it over.
    pub(crate) made: Option<std::io::Result<OwnedFd>>,
}

// SAFETY: names no memory and no fd (the fallback's NOP neither).
unsafe impl OpCode for SocketOp {
    type Output = Result<OwnedFd>;
    const NAME: &'static str = "socket";
    const CODE: u8 = opcode::Socket::CODE;

    fn validate(&mut self, ring: &crate::Ring) -> Result<()> {
        if self.made.is_none() && !ring.has(crate::probe::Capability::SocketOp) {
            let (domain, ty) = (self.domain.into(), self.ty.into());
            let made = socket2::Socket::new(domain, ty, Some(self.protocol.into()));
            self.made = Some(made.map(OwnedFd::from));
        }
        Ok(())
    }

    fn opcode(&self) -> u8 {
        match self.made {
            Some(_) => opcode::Nop::CODE,
            None => Self::CODE,
        }
    }

    fn sqe(&mut self) -> Entry {
        match self.made {
            Some(_) => opcode::Nop::new().build(),
            None => opcode::Socket::new(self.domain, self.ty | libc::SOCK_CLOEXEC, self.protocol)
                .build(),
        }
    }

    fn complete(self, cqe: CqeResult) -> Self::Output {
        if let Some(made) = self.made {
            return made.map_err(|e| SaferRingError::os(Self::NAME, e));
        }
        let fd = cqe_result(Self::NAME, cqe)?;
        // SAFETY: invariant 6 — a successful socket CQE carries a new fd nobody else owns;
        // owning it closes it exactly once, also when the operation was abandoned.
        Ok(unsafe { crate::sys::own_fd(fd as i32) })
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        Err(error)
    }
}
