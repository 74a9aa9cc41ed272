//! The owned socket types.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use socket2::{Domain, SockRef, Socket, Type};

use crate::error::{Result, SaferRingError, Subject};
use crate::fd::SharedFd;

/// Options for [`TcpListener::bind`].
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::net::{ListenOptions, TcpListener};
/// let options = ListenOptions { backlog: 16, ..ListenOptions::default() };
/// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), options)?;
/// assert_ne!(listener.local_addr()?.port(), 0);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ListenOptions {
    /// `SO_REUSEADDR` (default on).
    pub reuse_address: bool,
    /// `SO_REUSEPORT`, for one listener per thread on the same port (default off).
    pub reuse_port: bool,
    /// `listen(2)` backlog (default 1024).
    pub backlog: i32,
}

impl Default for ListenOptions {
    fn default() -> Self {
        Self {
            reuse_address: true,
            reuse_port: false,
            backlog: 1024,
        }
    }
}

/// The error of `op` (`bind`, and the `socket` and `setsockopt` calls it makes) on `to`:
/// the message names the address and, for the usual errnos, what to do.
fn bind_err(
    op: &'static str,
    to: impl Into<Subject>,
) -> impl FnOnce(std::io::Error) -> SaferRingError {
    move |e| SaferRingError::os(op, e).concerning(to.into())
}

/// Implements the shared plumbing of a socket type wrapping a [`SharedFd`].
macro_rules! socket_type {
    ($(#[$doc:meta])* $name:ident, $std:ty, $(#[$into_std_doc:meta])*) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            fd: SharedFd,
        }

        impl $name {
            pub(crate) fn from_owned(fd: OwnedFd) -> Self {
                Self { fd: SharedFd::new(fd) }
            }

            pub(crate) fn shared(&self) -> SharedFd {
                self.fd.clone()
            }

            /// Takes the fd back if no operation holds it.
            $(#[$into_std_doc])*
            pub fn try_into_std(self) -> std::result::Result<$std, Self> {
                self.fd.try_unwrap().map(<$std>::from).map_err(|fd| Self { fd })
            }
        }

        impl From<$std> for $name {
            fn from(socket: $std) -> Self {
                Self::from_owned(OwnedFd::from(socket))
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.fd.raw()
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.fd.as_owned().as_fd()
            }
        }

        impl crate::fd::sealed::Sealed for $name {}

        impl crate::fd::AsTarget for $name {
            #[inline]
            fn target(&self) -> crate::fd::Target {
                crate::fd::Target::fd(self.shared())
            }
        }
    };
}

socket_type!(
    /// A listening TCP socket. Accept connections with [`Ring::accept`](crate::Ring::accept).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::net::{ListenOptions, TcpListener};
    /// let ring = safer_ring::Ring::new(8)?;
    /// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
    /// let client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let (conn, peer) = ring.accept(&listener).submit()?.wait()?;
    /// assert_eq!(peer, Some(client.local_addr()?));
    /// assert_eq!(conn.peer_addr()?, client.local_addr()?);
    /// # Ok(()) }
    /// ```
    TcpListener,
    std::net::TcpListener,
    // The docs of `try_into_std`:
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::net::{ListenOptions, TcpListener};
    /// let ring = safer_ring::Ring::new(4)?;
    /// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
    /// let addr = listener.local_addr()?;
    /// let accept = ring.accept(&listener).submit()?;
    /// let listener = listener.try_into_std().expect_err("the accept holds the fd");
    /// let _client = std::net::TcpStream::connect(addr)?;
    /// accept.wait()?;
    /// let listener: std::net::TcpListener = listener.try_into_std().expect("no operation holds it");
    /// assert_eq!(listener.local_addr()?, addr);
    /// # Ok(()) }
    /// ```
);
socket_type!(
    /// A TCP connection. Use with [`Ring::send`](crate::Ring::send),
    /// [`Ring::recv`](crate::Ring::recv), or `read`/`write`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::io::Read;
    /// use safer_ring::net::TcpStream;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// // Connected through the ring, or converted from a `std` stream.
    /// let stream: TcpStream = ring.connect(listener.local_addr()?).submit()?.wait()?;
    /// stream.set_nodelay(true)?;
    /// let (mut peer, _) = listener.accept()?;
    /// let (n, _buf) = ring.send(&stream, b"hi".to_vec()).submit()?.wait();
    /// assert_eq!(n?, 2);
    /// let mut got = [0u8; 2];
    /// peer.read_exact(&mut got)?;
    /// assert_eq!(&got, b"hi");
    /// let std_stream = stream.try_into_std().expect("no operation holds it");
    /// # drop(std_stream);
    /// # Ok(()) }
    /// ```
    TcpStream,
    std::net::TcpStream,
    // The docs of `try_into_std`:
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::io::{Read, Write};
    /// let ring = safer_ring::Ring::new(4)?;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = ring.connect(listener.local_addr()?).submit()?.wait()?;
    /// let (mut peer, _) = listener.accept()?;
    /// let recv = ring.recv(&stream, Vec::with_capacity(8)).submit()?;
    /// let stream = stream.try_into_std().expect_err("the recv holds the fd");
    /// peer.write_all(b"x")?;
    /// assert_eq!(recv.wait().0?, 1);
    /// let mut stream: std::net::TcpStream = stream.try_into_std().expect("no operation holds it");
    /// stream.write_all(b"std")?; // blocking `std` I/O from here on
    /// let mut got = [0u8; 3];
    /// peer.read_exact(&mut got)?;
    /// assert_eq!(&got, b"std");
    /// # Ok(()) }
    /// ```
);
socket_type!(
    /// A UDP socket. Use with [`Ring::send_to`](crate::Ring::send_to) and
    /// [`Ring::recv_from`](crate::Ring::recv_from).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::net::UdpSocket;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let a = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// let b = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// ring.send_to(&a, b"datagram".to_vec(), b.local_addr()?).submit()?.wait().0?;
    /// let (got, buf) = ring.recv_from(&b, Vec::with_capacity(64)).submit()?.wait();
    /// let (n, from) = got?;
    /// assert_eq!((&buf[..n], from), (&b"datagram"[..], Some(a.local_addr()?)));
    /// # Ok(()) }
    /// ```
    UdpSocket,
    std::net::UdpSocket,
    // The docs of `try_into_std`:
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::net::UdpSocket;
    /// let ring = safer_ring::Ring::new(4)?;
    /// let socket = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// let addr = socket.local_addr()?;
    /// let recv = ring.recv_from(&socket, Vec::with_capacity(8)).submit()?;
    /// let socket = socket.try_into_std().expect_err("the recv_from holds the fd");
    /// let sender = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// sender.send_to(b"x", addr)?;
    /// assert_eq!(recv.wait().0?.0, 1);
    /// let socket: std::net::UdpSocket = socket.try_into_std().expect("no operation holds it");
    /// assert_eq!(socket.local_addr()?, addr);
    /// # Ok(()) }
    /// ```
);
socket_type!(
    /// A listening Unix stream socket.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::net::UnixListener;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("sock");
    /// let listener = UnixListener::bind(&path)?;
    /// let _client = std::os::unix::net::UnixStream::connect(&path)?;
    /// let (conn, _addr) = ring.accept_unix(&listener).submit()?.wait()?;
    /// # drop(conn);
    /// # Ok(()) }
    /// ```
    UnixListener,
    std::os::unix::net::UnixListener,
    // The docs of `try_into_std`:
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::net::UnixListener;
    /// let ring = safer_ring::Ring::new(4)?;
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("sock");
    /// let listener = UnixListener::bind(&path)?;
    /// let accept = ring.accept_unix(&listener).submit()?;
    /// let listener = listener.try_into_std().expect_err("the accept holds the fd");
    /// let _client = std::os::unix::net::UnixStream::connect(&path)?;
    /// accept.wait()?;
    /// let listener: std::os::unix::net::UnixListener =
    ///     listener.try_into_std().expect("no operation holds it");
    /// assert_eq!(listener.local_addr()?.as_pathname(), Some(path.as_path()));
    /// # Ok(()) }
    /// ```
);
socket_type!(
    /// A Unix stream connection.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::net::UnixListener;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("sock");
    /// let listener = UnixListener::bind(&path)?;
    /// let client = ring.connect_unix(&path).submit()?.wait()?;
    /// let (server, _) = ring.accept_unix(&listener).submit()?.wait()?;
    /// ring.send(&client, b"local".to_vec()).submit()?.wait().0?;
    /// let (n, buf) = ring.recv(&server, Vec::with_capacity(8)).submit()?.wait();
    /// assert_eq!(&buf[..n?], b"local");
    /// # Ok(()) }
    /// ```
    UnixStream,
    std::os::unix::net::UnixStream,
    // The docs of `try_into_std`:
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::io::{Read, Write};
    /// let ring = safer_ring::Ring::new(4)?;
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("sock");
    /// let listener = std::os::unix::net::UnixListener::bind(&path)?;
    /// let stream = ring.connect_unix(&path).submit()?.wait()?;
    /// let (mut peer, _) = listener.accept()?;
    /// let recv = ring.recv(&stream, Vec::with_capacity(8)).submit()?;
    /// let stream = stream.try_into_std().expect_err("the recv holds the fd");
    /// peer.write_all(b"x")?;
    /// assert_eq!(recv.wait().0?, 1);
    /// let mut stream: std::os::unix::net::UnixStream =
    ///     stream.try_into_std().expect("no operation holds it");
    /// stream.write_all(b"std")?; // blocking `std` I/O from here on
    /// let mut got = [0u8; 3];
    /// peer.read_exact(&mut got)?;
    /// assert_eq!(&got, b"std");
    /// # Ok(()) }
    /// ```
);

impl TcpListener {
    /// Binds and listens on `addr` with `options`.
    ///
    /// # Errors
    /// `EADDRINUSE` and friends, named in the message (see [`SaferRingError::Os`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::net::{ListenOptions, TcpListener};
    /// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
    /// let addr = listener.local_addr()?;
    /// // The port is taken: the error says so, naming the address.
    /// let err = TcpListener::bind(addr, ListenOptions::default()).unwrap_err();
    /// assert_eq!(err.raw_os_error(), Some(libc::EADDRINUSE));
    /// assert!(err.to_string().contains(&addr.to_string()));
    /// // With `SO_REUSEPORT` on each of them, listeners share a port.
    /// let shared = ListenOptions { reuse_port: true, ..ListenOptions::default() };
    /// let a = TcpListener::bind("127.0.0.1:0".parse().unwrap(), shared)?;
    /// let b = TcpListener::bind(a.local_addr()?, shared)?;
    /// assert_eq!(a.local_addr()?, b.local_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn bind(addr: SocketAddr, options: ListenOptions) -> Result<Self> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)
            .map_err(bind_err("bind", addr))?;
        Self::listen_on("bind", socket, addr, options)
    }

    /// As [`bind`](Self::bind), with the socket created through `ring`'s `socket` operation
    /// where the kernel has it (Linux 5.19), and by `socket(2)` where it does not.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::net::{ListenOptions, TcpListener};
    /// let ring = safer_ring::Ring::new(4)?;
    /// let listener =
    ///     TcpListener::bind_with(&ring, "127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
    /// assert_ne!(listener.local_addr()?.port(), 0);
    /// # Ok(()) }
    /// ```
    pub fn bind_with(ring: &crate::Ring, addr: SocketAddr, options: ListenOptions) -> Result<Self> {
        let domain = Domain::for_address(addr);
        let socket = if ring.opcodes().contains(io_uring::opcode::Socket::CODE) {
            let made = ring.socket(domain, Type::STREAM).submit()?.wait();
            Socket::from(made.map_err(|e| e.concerning(addr.into()))?)
        } else {
            Socket::new(domain, Type::STREAM, None).map_err(bind_err("bind_with", addr))?
        };
        Self::listen_on("bind_with", socket, addr, options)
    }

    /// Sets the options, binds and listens: `op` (the method called) names any failure.
    fn listen_on(
        op: &'static str,
        socket: Socket,
        addr: SocketAddr,
        options: ListenOptions,
    ) -> Result<Self> {
        socket
            .set_reuse_address(options.reuse_address)
            .and_then(|()| socket.set_reuse_port(options.reuse_port))
            .and_then(|()| socket.bind(&addr.into()))
            .and_then(|()| socket.listen(options.backlog))
            .map_err(bind_err(op, addr))?;
        Ok(Self::from_owned(socket.into()))
    }

    /// The address it listens on.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::net::{ListenOptions, TcpListener};
    /// let ring = safer_ring::Ring::new(4)?;
    /// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
    /// let addr = listener.local_addr()?;
    /// assert_ne!(addr.port(), 0); // port 0 asked the kernel to pick one
    /// let client = std::net::TcpStream::connect(addr)?;
    /// assert_eq!(client.peer_addr()?, addr);
    /// ring.accept(&listener).submit()?.wait()?;
    /// # Ok(()) }
    /// ```
    pub fn local_addr(&self) -> Result<SocketAddr> {
        local_ip_addr(&self.fd)
    }
}

impl TcpStream {
    /// Sets `TCP_NODELAY` (no Nagle delay for small writes).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = ring.connect(listener.local_addr()?).submit()?.wait()?;
    /// stream.set_nodelay(true)?;
    /// assert!(socket2::SockRef::from(&stream).tcp_nodelay()?);
    /// stream.set_nodelay(false)?;
    /// assert!(!socket2::SockRef::from(&stream).tcp_nodelay()?);
    /// # Ok(()) }
    /// ```
    pub fn set_nodelay(&self, on: bool) -> Result<()> {
        SockRef::from(self.fd.as_owned())
            .set_tcp_nodelay(on)
            .map_err(|e| SaferRingError::os("set_nodelay", e))
    }

    /// The local address.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::net::{ListenOptions, TcpListener};
    /// let ring = safer_ring::Ring::new(4)?;
    /// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
    /// let client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let (conn, peer) = ring.accept(&listener).submit()?.wait()?;
    /// assert_eq!(conn.local_addr()?, listener.local_addr()?); // the listener's port
    /// assert_eq!(peer, Some(client.local_addr()?));
    /// # Ok(()) }
    /// ```
    pub fn local_addr(&self) -> Result<SocketAddr> {
        local_ip_addr(&self.fd)
    }

    /// The peer's address.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = ring.connect(listener.local_addr()?).submit()?.wait()?;
    /// let (_peer, client_addr) = listener.accept()?;
    /// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
    /// assert_eq!(stream.local_addr()?, client_addr);
    /// # Ok(()) }
    /// ```
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        SockRef::from(self.fd.as_owned())
            .peer_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .ok_or(SaferRingError::InvalidArgument("not a connected IP socket"))
    }
}

impl UdpSocket {
    /// Binds a UDP socket to `addr`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::net::UdpSocket;
    /// let a = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// assert!(a.local_addr()?.ip().is_loopback());
    /// // The address is taken: the error says so, naming it.
    /// let err = UdpSocket::bind(a.local_addr()?).unwrap_err();
    /// assert_eq!(err.raw_os_error(), Some(libc::EADDRINUSE));
    /// assert!(err.to_string().contains(&a.local_addr()?.to_string()));
    /// # Ok(()) }
    /// ```
    pub fn bind(addr: SocketAddr) -> Result<Self> {
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, None)
            .and_then(|socket| socket.bind(&addr.into()).map(|()| socket))
            .map_err(bind_err("bind", addr))?;
        Ok(Self::from_owned(socket.into()))
    }

    /// The local address.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::net::UdpSocket;
    /// let ring = safer_ring::Ring::new(4)?;
    /// let socket = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// let addr = socket.local_addr()?;
    /// assert_ne!(addr.port(), 0); // the port the kernel picked
    /// let sender = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// sender.send_to(b"here", addr)?;
    /// let (got, buf) = ring.recv_from(&socket, Vec::with_capacity(8)).submit()?.wait();
    /// assert_eq!(&buf[..got?.0], b"here");
    /// # Ok(()) }
    /// ```
    pub fn local_addr(&self) -> Result<SocketAddr> {
        local_ip_addr(&self.fd)
    }
}

impl UnixListener {
    /// Binds and listens on the filesystem path `path`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::net::UnixListener;
    /// use std::os::unix::fs::FileTypeExt;
    /// let ring = safer_ring::Ring::new(4)?;
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("sock");
    /// let listener = UnixListener::bind(&path)?;
    /// assert!(std::fs::metadata(&path)?.file_type().is_socket());
    /// // The path is taken now.
    /// let err = UnixListener::bind(&path).unwrap_err();
    /// assert_eq!(err.raw_os_error(), Some(libc::EADDRINUSE));
    /// let _client = ring.connect_unix(&path).submit()?.wait()?;
    /// ring.accept_unix(&listener).submit()?.wait()?;
    /// # Ok(()) }
    /// ```
    pub fn bind(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        std::os::unix::net::UnixListener::bind(path)
            .map(Self::from)
            .map_err(bind_err("bind", path))
    }
}

fn local_ip_addr(fd: &SharedFd) -> Result<SocketAddr> {
    SockRef::from(fd.as_owned())
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .ok_or(SaferRingError::InvalidArgument("not an IP socket"))
}
