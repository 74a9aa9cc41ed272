//! The ring's network operations.
#![forbid(unsafe_code)]

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::Path;

use socket2::{Domain, SockAddr, Socket, Type};

use super::opcodes::{
    Accept, AcceptMulti, Connect, Msg, Recv, RecvFrom, RecvMulti, Send, SendTo, SendZc, ShutdownOp,
    SocketOp, ZcEvent,
};
use super::{AddrBuf, TcpListener, TcpStream, UnixListener, UnixStream};
use crate::buf::{IoBuf, IoBufMut};
use crate::error::Subject;
use crate::fd::AsTarget;
use crate::fd::SharedFd;
use crate::op::OpStream;
use crate::op::{BufResult, Op, Operation};
use crate::ring::Ring;

/// Which direction(s) [`Ring::shutdown_socket`] closes.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::net::Shutdown;
/// use std::io::{Read, Write};
/// let ring = safer_ring::Ring::new(8)?;
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let stream = ring.connect(listener.local_addr()?).submit()?.wait()?;
/// let (mut peer, _) = listener.accept()?;
/// // Closing the write side only: the peer sees the end of the stream...
/// ring.shutdown_socket(&stream, Shutdown::Write).submit()?.wait()?;
/// assert_eq!(peer.read_to_end(&mut Vec::new())?, 0);
/// // ...and can still send the other way.
/// peer.write_all(b"reply")?;
/// let (n, buf) = ring.recv(&stream, Vec::with_capacity(8)).submit()?.wait();
/// assert_eq!(&buf[..n?], b"reply");
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// No more receiving.
    Read,
    /// No more sending (the peer sees end of stream).
    Write,
    /// Both.
    Both,
}

/// A connect operation on a fresh socket. If the socket cannot be created (out of fds) or
/// the address is unusable, the errno is kept and submission reports it.
fn connect_op<S>(
    ring: &Ring,
    addr: Option<SockAddr>,
    to: Subject,
    domain: Domain,
) -> Op<'_, Connect<S>>
where
    S: From<std::os::fd::OwnedFd> + 'static,
{
    let empty = || SockAddr::from(SocketAddr::from(([0, 0, 0, 0], 0)));
    let socket = match &addr {
        None => Err(libc::ENAMETOOLONG),
        Some(_) => Socket::new(domain, Type::STREAM, None)
            .map(|s| SharedFd::new(s.into()))
            .map_err(|e| e.raw_os_error().unwrap_or(libc::EINVAL)),
    };
    Operation::build(
        ring,
        Connect {
            socket,
            addr: AddrBuf::from_addr(&addr.unwrap_or_else(empty)),
            to,
            _kind: PhantomData,
        },
    )
}

impl Ring {
    /// Creates a socket through the ring (`IORING_OP_SOCKET`, Linux 5.19; before, and
    /// without [`SocketOp`](crate::probe::Capability::SocketOp), by `socket(2)` when
    /// submitted); always close-on-exec. [`TcpListener::bind_with`] builds a listener on it.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use socket2::{Domain, Socket, Type};
    /// use std::net::SocketAddr;
    /// let ring = safer_ring::Ring::new(4)?;
    /// let fd = ring.socket(Domain::IPV4, Type::DGRAM).submit()?.wait()?;
    /// let socket = Socket::from(fd);
    /// assert_eq!(socket.r#type()?, Type::DGRAM);
    /// socket.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())?;
    /// let udp = safer_ring::net::UdpSocket::from(std::net::UdpSocket::from(socket));
    /// assert_ne!(udp.local_addr()?.port(), 0);
    /// # Ok(()) }
    /// ```
    pub fn socket(&self, domain: Domain, ty: Type) -> Op<'_, SocketOp> {
        Operation::build(
            self,
            SocketOp {
                domain: domain.into(),
                ty: ty.into(),
                protocol: 0,
                made: None,
            },
        )
    }

    /// Accepts one connection; resolves to the stream and the peer's address.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::net::{ListenOptions, TcpListener};
    /// let ring = safer_ring::Ring::new(8)?;
    /// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
    /// let client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let (stream, peer) = ring.accept(&listener).submit()?.wait()?;
    /// assert_eq!(peer, Some(client.local_addr()?));
    /// assert_eq!(stream.local_addr()?, listener.local_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn accept(&self, listener: &TcpListener) -> Op<'_, Accept<TcpStream>> {
        Operation::build(
            self,
            Accept {
                fd: listener.shared(),
                addr: AddrBuf::empty(),
                _kind: PhantomData,
            },
        )
    }

    /// Accepts connections as a stream (multishot accept): one SQE serves them all, and the
    /// stream re-arms it if the kernel ends it. A connection aborted before it was accepted is
    /// skipped. Out of fds (`EMFILE`, `ENFILE`) or memory, the error is yielded and the stream
    /// goes on: the next poll tries again, so wait for a connection to close (or back off)
    /// before polling again, as with `accept(2)`. Other errors end the stream. Dropping the
    /// stream cancels it; connections the kernel accepted after that are closed, never leaked.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use futures::StreamExt;
    /// use safer_ring::net::{ListenOptions, TcpListener};
    /// let ring = safer_ring::Ring::new(16)?;
    /// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
    /// let addr = listener.local_addr()?;
    /// let clients: Vec<_> = (0..3).map(|_| std::net::TcpStream::connect(addr)).collect();
    /// let accepted = ring.block_on(ring.accept_multi(&listener).take(3).collect::<Vec<_>>());
    /// assert_eq!(accepted.len(), 3);
    /// assert!(accepted.iter().all(Result::is_ok));
    /// # drop(clients); Ok(()) }
    /// ```
    pub fn accept_multi(&self, listener: &TcpListener) -> OpStream<'_, AcceptMulti> {
        OpStream::new(
            self,
            AcceptMulti {
                multishot: true,
                fd: listener.shared(),
            },
        )
    }

    /// Accepts one connection on a Unix listener.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::net::UnixListener;
    /// use std::io::Read;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("sock");
    /// let listener = UnixListener::bind(&path)?;
    /// let mut client = std::os::unix::net::UnixStream::connect(&path)?;
    /// let (conn, peer) = ring.accept_unix(&listener).submit()?.wait()?;
    /// assert!(peer.is_unix());
    /// assert!(peer.as_pathname().is_none()); // the client never bound a name
    /// ring.send(&conn, b"accepted".to_vec()).submit()?.wait().0?;
    /// let mut got = [0u8; 8];
    /// client.read_exact(&mut got)?;
    /// assert_eq!(&got, b"accepted");
    /// # Ok(()) }
    /// ```
    pub fn accept_unix(&self, listener: &UnixListener) -> Op<'_, Accept<UnixStream>> {
        Operation::build(
            self,
            Accept {
                fd: listener.shared(),
                addr: AddrBuf::empty(),
                _kind: PhantomData,
            },
        )
    }

    /// Connects to `addr` over TCP.
    ///
    /// # Errors
    /// `ECONNREFUSED` when nothing listens there, `ENETUNREACH`/`ETIMEDOUT` and friends, or
    /// `EMFILE` when out of fds (see [`SaferRingError::Os`](crate::SaferRingError::Os)).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::time::Duration;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// // With a kernel deadline, as any operation can have.
    /// let stream = ring.connect(listener.local_addr()?).timeout(Duration::from_secs(5)).submit()?.wait()?;
    /// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn connect(&self, addr: SocketAddr) -> Op<'_, Connect<TcpStream>> {
        connect_op(
            self,
            Some(addr.into()),
            addr.into(),
            Domain::for_address(addr),
        )
    }

    /// Connects to the Unix socket at `path`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::io::Read;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("sock");
    /// let listener = std::os::unix::net::UnixListener::bind(&path)?;
    /// let stream = ring.connect_unix(&path).submit()?.wait()?;
    /// let (mut peer, _) = listener.accept()?;
    /// ring.send(&stream, b"over unix".to_vec()).submit()?.wait().0?;
    /// let mut got = [0u8; 9];
    /// peer.read_exact(&mut got)?;
    /// assert_eq!(&got, b"over unix");
    /// // Nothing at the path: the error says so, and names it.
    /// let missing = dir.path().join("missing");
    /// let err = ring.connect_unix(&missing).submit()?.wait().unwrap_err();
    /// assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    /// assert!(err.to_string().contains("missing"));
    /// # Ok(()) }
    /// ```
    pub fn connect_unix(&self, path: impl AsRef<Path>) -> Op<'_, Connect<UnixStream>> {
        let path = path.as_ref();
        connect_op(self, SockAddr::unix(path).ok(), path.into(), Domain::UNIX)
    }

    /// Sends `buf`'s bytes on a connection. May send fewer (reported); a peer that closed
    /// the connection gives `EPIPE` or `ECONNRESET`, never `SIGPIPE`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::io::Read;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = ring.connect(listener.local_addr()?).submit()?.wait()?;
    /// let (mut peer, _) = listener.accept()?;
    /// let (n, _buf) = ring.send(&stream, b"sent".to_vec()).submit()?.wait();
    /// assert_eq!(n?, 4); // may be short in general: `send_all` loops
    /// let mut got = [0u8; 4];
    /// peer.read_exact(&mut got)?;
    /// assert_eq!(&got, b"sent");
    /// # Ok(()) }
    /// ```
    pub fn send<B: IoBuf>(&self, socket: &impl AsTarget, buf: B) -> Op<'_, Send<B>> {
        let fd = socket.target();
        let send = Send {
            op: "send",
            fd,
            buf,
            buf_pos: 0,
            wait_all: false,
        };
        Operation::build(self, send)
    }

    /// Sends all of `buf`'s bytes on a connection: the kernel retries short sends
    /// (`MSG_WAITALL`), and so does this loop if the kernel still stops early. The buffer
    /// comes back either way.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::net::{ListenOptions, TcpListener};
    /// use std::io::Read;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
    /// let mut peer = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let (conn, _) = ring.accept(&listener).submit()?.wait()?;
    /// let reader = std::thread::spawn(move || {
    ///     let mut got = Vec::new();
    ///     peer.read_to_end(&mut got).map(|_| got)
    /// });
    /// let (res, buf) = ring.block_on(ring.send_all(&conn, vec![9u8; 1 << 20]));
    /// res?;
    /// drop(conn); // the peer sees the end of the stream
    /// assert_eq!(reader.join().unwrap()?, buf);
    /// # Ok(()) }
    /// ```
    pub fn send_all<B: IoBuf>(
        &self,
        socket: &impl AsTarget,
        buf: B,
    ) -> impl Future<Output = BufResult<(), B>> {
        let total = buf.bytes_init();
        crate::op::until_done(self, "send_all", buf, total, move |buf, done| Send {
            op: "send_all",
            fd: socket.target(),
            buf,
            buf_pos: done,
            wait_all: true,
        })
    }

    /// Sends `buf` without copying it (`IORING_OP_SEND_ZC`): the kernel reads its pages
    /// directly, so the buffer comes back only after the kernel's notification that it is
    /// done with them — which, on a connection whose peer is not reading, can be much later
    /// than the send itself. Worth it for large buffers. Without
    /// [`SendZc`](crate::probe::Capability::SendZc) (before Linux 6.0, or masked), a plain
    /// `send`: the same result, the bytes copied.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::net::{ListenOptions, TcpListener};
    /// use std::io::Read;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
    /// let mut peer = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let (conn, _) = ring.accept(&listener).submit()?.wait()?;
    /// let reader = std::thread::spawn(move || {
    ///     let mut got = vec![0u8; 5];
    ///     peer.read_exact(&mut got).map(|()| got)
    /// });
    /// let (n, buf) = ring.block_on(ring.send_zc(&conn, b"hello".to_vec()));
    /// assert_eq!((n?, buf), (5, b"hello".to_vec()));
    /// assert_eq!(reader.join().unwrap()?, b"hello");
    /// # Ok(()) }
    /// ```
    pub async fn send_zc<B: IoBuf>(&self, socket: &impl AsTarget, buf: B) -> BufResult<usize, B> {
        if !self.has(crate::probe::Capability::SendZc) {
            return self.send(socket, buf).await; // the same bytes, copied by the kernel
        }
        let mut events = self.send_zc_events(socket, buf);
        loop {
            let next = std::future::poll_fn(|cx| {
                futures_core::Stream::poll_next(std::pin::Pin::new(&mut events), cx)
            });
            match next.await {
                Some(ZcEvent::Sent) => continue,
                Some(ZcEvent::Done(res, buf)) => return (res, buf),
                None => unreachable!("send_zc yields its buffer before its stream ends"),
            }
        }
    }

    /// [`send_zc`](Ring::send_zc) as its stream of events: [`ZcEvent::Sent`] when the send
    /// completes, then [`ZcEvent::Done`] with the buffer once the kernel's notification says
    /// it no longer reads it. Dropping the stream in between parks the buffer in the ring
    /// until the notification.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use futures::StreamExt;
    /// use safer_ring::net::{ListenOptions, TcpListener, ZcEvent};
    /// use std::io::Read;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
    /// let mut peer = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let (conn, _) = ring.accept(&listener).submit()?.wait()?;
    /// let events = ring.block_on(ring.send_zc_events(&conn, b"zero-copy".to_vec()).collect::<Vec<_>>());
    /// let mut events = events.into_iter();
    /// assert!(matches!(events.next(), Some(ZcEvent::Sent))); // sent; the kernel may still read it
    /// let Some(ZcEvent::Done(n, buf)) = events.next() else { panic!("no Done event") };
    /// assert_eq!((n?, buf), (9, b"zero-copy".to_vec())); // done with it: the buffer is back
    /// assert!(events.next().is_none());
    /// let mut got = [0u8; 9];
    /// peer.read_exact(&mut got)?;
    /// assert_eq!(&got, b"zero-copy");
    /// # Ok(()) }
    /// ```
    pub fn send_zc_events<B: IoBuf>(
        &self,
        socket: &impl AsTarget,
        buf: B,
    ) -> OpStream<'_, SendZc<B>> {
        OpStream::new(
            self,
            SendZc {
                fd: socket.target(),
                buf: Some(buf),
                sent: None,
            },
        )
    }

    /// Receives into `buf` (up to its capacity). `Ok(0)`: the peer closed the connection.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::io::Write;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = ring.connect(listener.local_addr()?).submit()?.wait()?;
    /// let (mut peer, _) = listener.accept()?;
    /// peer.write_all(b"received")?;
    /// let (n, buf) = ring.recv(&stream, Vec::with_capacity(64)).submit()?.wait();
    /// assert_eq!(&buf[..n?], b"received");
    /// drop(peer);
    /// let (n, _) = ring.recv(&stream, buf).submit()?.wait();
    /// assert_eq!(n?, 0); // the peer closed
    /// # Ok(()) }
    /// ```
    pub fn recv<B: IoBufMut>(&self, socket: &impl AsTarget, buf: B) -> Op<'_, Recv<B>> {
        let fd = socket.target();
        Operation::build(self, Recv { fd, buf })
    }

    /// Receives as a stream of [`BufChunk`](crate::buf::BufChunk)s from a provided-buffer ring
    /// (multishot recv): the kernel picks a buffer per arrival. When the ring runs dry
    /// (`ENOBUFS`) the stream waits until a chunk (of any stream on the ring) is dropped and
    /// re-arms, losing nothing; several streams may wait on one ring;
    /// the peer closing ends the stream. Dropping the stream cancels it; every buffer the
    /// kernel fills after that goes back to the ring.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use futures::StreamExt;
    /// use safer_ring::net::{ListenOptions, TcpListener};
    /// use std::io::Write;
    /// let ring = safer_ring::Ring::new(16)?;
    /// let bufs = ring.register_buf_ring(8, 4096)?;
    /// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
    /// let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let (conn, _) = ring.accept(&listener).submit()?.wait()?;
    /// client.write_all(b"hello, ")?;
    /// client.write_all(b"stream")?;
    /// drop(client); // the peer closing ends the stream
    /// let chunks = ring.block_on(ring.recv_multi(&conn, &bufs).collect::<Vec<_>>());
    /// let mut got = Vec::new();
    /// for chunk in chunks {
    ///     got.extend_from_slice(&chunk?);
    /// }
    /// assert_eq!(got, b"hello, stream");
    /// assert_eq!(bufs.available(), 8); // every chunk dropped: its buffer back in the ring
    /// # Ok(()) }
    /// ```
    pub fn recv_multi(
        &self,
        socket: &impl AsTarget,
        bufs: &crate::buf::BufRing,
    ) -> OpStream<'_, RecvMulti> {
        OpStream::new(
            self,
            RecvMulti {
                multishot: true,
                fd: socket.target(),
                bufs: bufs.inner().clone(),
                gate: crate::buf::ArmGate::new(bufs.inner()),
            },
        )
    }

    /// Sends a datagram to `addr`.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{net::UdpSocket, Ring};
    /// let ring = Ring::new(8)?;
    /// let a = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// let b = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// ring.send_to(&a, b"hi".to_vec(), b.local_addr()?).submit()?.wait().0?;
    /// let (got, buf) = ring.recv_from(&b, Vec::with_capacity(8)).submit()?.wait();
    /// let (n, from) = got?;
    /// assert_eq!((&buf[..n], from), (&b"hi"[..], Some(a.local_addr()?)));
    /// # Ok(()) }
    /// ```
    pub fn send_to<B: IoBuf>(
        &self,
        socket: &impl AsTarget,
        buf: B,
        addr: SocketAddr,
    ) -> Op<'_, SendTo<B>> {
        Operation::build(
            self,
            SendTo {
                fd: socket.target(),
                buf,
                msg: Msg::new(AddrBuf::from_addr(&addr.into())),
            },
        )
    }

    /// Receives a datagram and the sender's address.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::net::UdpSocket;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let socket = UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
    /// let sender = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// sender.send_to(b"one", socket.local_addr()?)?;
    /// sender.send_to(b"two", socket.local_addr()?)?;
    /// // One datagram per receive, with who sent it.
    /// let (got, buf) = ring.recv_from(&socket, Vec::with_capacity(64)).submit()?.wait();
    /// let (n, from) = got?;
    /// assert_eq!((&buf[..n], from), (&b"one"[..], Some(sender.local_addr()?)));
    /// let (got, buf) = ring.recv_from(&socket, buf).submit()?.wait();
    /// assert_eq!(&buf[..got?.0], b"two");
    /// # Ok(()) }
    /// ```
    pub fn recv_from<B: IoBufMut>(&self, socket: &impl AsTarget, buf: B) -> Op<'_, RecvFrom<B>> {
        Operation::build(
            self,
            RecvFrom {
                fd: socket.target(),
                buf,
                msg: Msg::new(AddrBuf::empty()),
            },
        )
    }

    /// Shuts down one or both directions of a connection.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::net::Shutdown;
    /// use std::io::Read;
    /// let ring = safer_ring::Ring::new(8)?;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = ring.connect(listener.local_addr()?).submit()?.wait()?;
    /// let (mut peer, _) = listener.accept()?;
    /// ring.shutdown_socket(&stream, Shutdown::Both).submit()?.wait()?;
    /// assert_eq!(peer.read_to_end(&mut Vec::new())?, 0); // the peer sees the end
    /// let (sent, _) = ring.send(&stream, b"late".to_vec()).submit()?.wait();
    /// assert_eq!(sent.unwrap_err().raw_os_error(), Some(libc::EPIPE)); // no more sending
    /// let (n, _) = ring.recv(&stream, Vec::with_capacity(8)).submit()?.wait();
    /// assert_eq!(n?, 0); // no more receiving
    /// # Ok(()) }
    /// ```
    pub fn shutdown_socket(&self, socket: &impl AsTarget, how: Shutdown) -> Op<'_, ShutdownOp> {
        let how = match how {
            Shutdown::Read => libc::SHUT_RD,
            Shutdown::Write => libc::SHUT_WR,
            Shutdown::Both => libc::SHUT_RDWR,
        };
        let fd = socket.target();
        Operation::build(self, ShutdownOp { fd, how })
    }
}
