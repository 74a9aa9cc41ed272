//! Zero-copy send: the buffer comes back only with the kernel's notification.
#![allow(unsafe_code)]

use io_uring::opcode;
use io_uring::squeue::Entry;

use crate::error::{Result, SaferRingError};
use crate::fd::{Target, with_target};
use crate::op::cqe_result;
use crate::ring::slots::CqeResult;

use crate::buf::{IoBuf, clamp_len};
use crate::op::MultiShot;

/// What a zero-copy send reports, CQE by CQE.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use futures::StreamExt;
/// use safer_ring::net::{ListenOptions, TcpListener, ZcEvent};
/// let ring = safer_ring::Ring::new(8)?;
/// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
/// let _peer = std::net::TcpStream::connect(listener.local_addr()?)?;
/// let (conn, _) = ring.accept(&listener).submit()?.wait()?;
/// let mut events = ring.send_zc_events(&conn, vec![7u8; 64]);
/// // First the send's completion, the buffer still the kernel's...
/// assert!(matches!(ring.block_on(events.next()), Some(ZcEvent::Sent)));
/// // ...then the notification, with the result and the buffer.
/// match ring.block_on(events.next()) {
///     Some(ZcEvent::Done(Ok(64), buf)) => assert_eq!(buf, vec![7u8; 64]),
///     other => panic!("expected Done: {other:?}"),
/// }
/// assert!(ring.block_on(events.next()).is_none());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub enum ZcEvent<B> {
    /// The send completed; the kernel may still read the buffer (a notification follows).
    Sent,
    /// The kernel is done with the buffer: the send's result and the buffer, the caller's
    /// again (after the notification CQE, or after the only CQE of a send that failed).
    Done(Result<usize>, B),
}

/// `send_zc`: zero-copy send. The kernel reads the buffer's pages directly until its
/// notification CQE, so the buffer is held until then (invariant 1).
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use futures::StreamExt;
/// use safer_ring::net::{ListenOptions, TcpListener, ZcEvent, opcodes::SendZc};
/// use safer_ring::op::OpStream;
/// use std::io::Read;
/// let ring = safer_ring::Ring::new(8)?;
/// let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
/// let mut peer = std::net::TcpStream::connect(listener.local_addr()?)?;
/// let (conn, _) = ring.accept(&listener).submit()?.wait()?;
/// let reader = std::thread::spawn(move || {
///     let mut got = Vec::new();
///     peer.read_to_end(&mut got).map(|_| got)
/// });
/// let stream: OpStream<'_, SendZc<Vec<u8>>> = ring.send_zc_events(&conn, vec![3u8; 1 << 16]);
/// let last = ring.block_on(stream.fold(None, |_, event| async move { Some(event) }));
/// let Some(ZcEvent::Done(n, buf)) = last else { panic!("the stream ends with Done") };
/// let n = n?;
/// assert!(n > 0 && n <= buf.len()); // may be short, as any send
/// drop(conn); // the reader sees the end of the stream
/// assert_eq!(reader.join().unwrap()?, buf[..n]);
/// # Ok(()) }
/// ```
pub struct SendZc<B> {
    pub(crate) fd: Target,
    pub(crate) buf: Option<B>,
    pub(crate) sent: Option<Result<usize>>,
}

// SAFETY: invariants 1, 2, 6 — the SQE points into `buf`'s stable heap memory, which this
// operation owns until the final CQE (the notification, or the only CQE when the send fails
// without one); the target is kept valid by `self.fd`.
unsafe impl<B: IoBuf> MultiShot for SendZc<B> {
    type Item = ZcEvent<B>;
    const NAME: &'static str = "send_zc";
    const CODE: u8 = opcode::SendZc::CODE;

    #[cfg(feature = "tracing")]
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.fd.raw_fd()
    }

    fn sqe(&mut self) -> Entry {
        let buf = self
            .buf
            .as_ref()
            .expect("buffer held until the notification");
        let (ptr, len) = (buf.stable_ptr(), clamp_len(buf.bytes_init()));
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

    fn validate(&mut self, ring: &crate::Ring) -> Result<()> {
        if !ring.has(crate::probe::Capability::SendZc) {
            return Err(SaferRingError::Unsupported { op: Self::NAME });
        }
        self.fd.bind(ring)
    }

    fn finished(&self) -> bool {
        self.buf.is_none()
    }
}
