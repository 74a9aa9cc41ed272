//! [`RingIo`]: a stream or file with its reader, writer and position, and the poll methods
//! the trait impls (`tokio.rs`, `futures_io.rs`) forward to.
#![forbid(unsafe_code)]

use std::future::Future;
use std::io::{self, SeekFrom};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};

use super::reader::Reader;
use super::target::IoTarget;
use super::writer::{StartWrite, Writer};
use crate::fs::File;
use crate::net::opcodes::ShutdownOp;
use crate::op::OwnedOp;
use crate::ring::Ring;

/// The default size of each of an adapter's four buffers (two for reads, two for writes):
/// 16 KiB. In `tokio::io::copy` over loopback, 64 KiB buffers were no faster.
///
/// # Examples
///
/// ```
/// use safer_ring::io::DEFAULT_BUFFER_SIZE;
/// assert_eq!(DEFAULT_BUFFER_SIZE, 16 << 10);
/// ```
pub const DEFAULT_BUFFER_SIZE: usize = 16 * 1024;

/// A [`TcpStream`](crate::net::TcpStream), [`UnixStream`](crate::net::UnixStream) or
/// [`File`] with tokio's (and, with the `futures-io` feature, `futures-io`'s) `AsyncRead`,
/// `AsyncBufRead` and `AsyncWrite` — `AsyncSeek` too for a file — on a ring it holds by `Rc`.
/// See the [module docs](crate::io).
///
/// # Examples
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// use std::rc::Rc;
/// use safer_ring::{File, Ring, io::RingIo};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// let ring = Rc::new(Ring::new(8)?);
/// let mut io = RingIo::new(&ring, File::from(tempfile::tempfile()?));
/// let text = ring.block_on(async {
///     io.write_all(b"through the adapter").await?;
///     io.flush().await?;
///     let mut text = String::new();
///     let mut reader = RingIo::new(&ring, File::from(io.get_ref().try_clone_std()?));
///     reader.read_to_string(&mut text).await?;
///     Ok::<_, std::io::Error>(text)
/// })?;
/// assert_eq!(text, "through the adapter");
/// # Ok(()) }
/// ```
pub struct RingIo<S: IoTarget> {
    ring: Rc<Ring>,
    io: S,
    /// Files: the offset of the next byte read or written. Sockets: unused.
    pos: u64,
    reader: Reader<S::Read>,
    writer: Writer<S::Write>,
    close: Close,
    /// The seek tokio's `AsyncSeek::start_seek` asked for, until `poll_complete` does it.
    #[cfg(feature = "tokio")]
    pub(super) seek: Option<SeekFrom>,
}

// No field is structurally pinned: the operations' memory lives on the heap.
impl<S: IoTarget> Unpin for RingIo<S> {}

/// Where the write side's shutdown is.
enum Close {
    Open,
    Closing(OwnedOp<ShutdownOp>),
    Closed,
}

impl<S: IoTarget> RingIo<S> {
    /// Wraps `io` for I/O on `ring` with [`DEFAULT_BUFFER_SIZE`] buffers. A file starts at
    /// offset 0 (the fd's own position is neither used nor moved).
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use std::io::{Read, Seek, SeekFrom};
    /// use std::rc::Rc;
    /// use safer_ring::{File, Ring, io::RingIo};
    /// use tokio::io::AsyncWriteExt;
    /// let ring = Rc::new(Ring::new(8)?);
    /// let mut std_file = tempfile::tempfile()?;
    /// std_file.seek(SeekFrom::Start(3))?; // the fd's position: not used
    /// let mut io = RingIo::new(&ring, File::from(std_file.try_clone()?));
    /// ring.block_on(async {
    ///     io.write_all(b"at zero").await?;
    ///     io.flush().await
    /// })?;
    /// assert_eq!(std_file.stream_position()?, 3); // ...nor moved
    /// let mut text = String::new();
    /// std_file.rewind()?;
    /// std_file.read_to_string(&mut text)?;
    /// assert_eq!(text, "at zero");
    /// # Ok(()) }
    /// ```
    pub fn new(ring: &Rc<Ring>, io: S) -> Self {
        Self::with_capacity(ring, io, DEFAULT_BUFFER_SIZE, DEFAULT_BUFFER_SIZE)
    }

    /// As [`new`](Self::new) with reads of up to `read` bytes (two buffers: one being taken,
    /// one filling) and up to `write` bytes accepted ahead of the kernel (two buffers: one
    /// filling, one in flight). Buffers are allocated at the first reads and writes and
    /// reused after.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use std::rc::Rc;
    /// use safer_ring::{File, Ring, io::RingIo};
    /// use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
    /// let ring = Rc::new(Ring::new(8)?);
    /// // Tiny buffers: 10 KiB go through in many small reads and writes, all of it.
    /// let mut io = RingIo::with_capacity(&ring, File::from(tempfile::tempfile()?), 64, 128);
    /// let data: Vec<u8> = (0..10_240u32).map(|i| (i % 251) as u8).collect();
    /// let back = ring.block_on(async {
    ///     io.write_all(&data).await?;
    ///     io.rewind().await?;
    ///     let mut back = Vec::new();
    ///     io.read_to_end(&mut back).await?;
    ///     Ok::<_, std::io::Error>(back)
    /// })?;
    /// assert_eq!(back, data);
    /// # Ok(()) }
    /// ```
    pub fn with_capacity(ring: &Rc<Ring>, io: S, read: usize, write: usize) -> Self {
        Self {
            ring: ring.clone(),
            io,
            pos: 0,
            reader: Reader::new(read),
            writer: Writer::new(write),
            close: Close::Open,
            #[cfg(feature = "tokio")]
            seek: None,
        }
    }

    /// The wrapped stream or file.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use std::os::fd::AsRawFd;
    /// use std::rc::Rc;
    /// use safer_ring::{File, Ring, io::RingIo};
    /// let ring = Rc::new(Ring::new(4)?);
    /// let file = File::from(tempfile::tempfile()?);
    /// let fd = file.as_raw_fd();
    /// let io = RingIo::new(&ring, file);
    /// assert_eq!(io.get_ref().as_raw_fd(), fd);
    /// io.get_ref().try_clone_std()?.set_len(7)?; // blocking calls on the wrapped file
    /// assert_eq!(ring.statx_file(io.get_ref()).submit()?.wait()?.len(), 7);
    /// # Ok(()) }
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The ring its operations run on.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use std::rc::Rc;
    /// use safer_ring::{File, Ring, io::RingIo};
    /// let ring = Rc::new(Ring::new(4)?);
    /// let io = RingIo::new(&ring, File::from(tempfile::tempfile()?));
    /// assert!(Rc::ptr_eq(io.ring(), &ring));
    /// assert_eq!(Rc::strong_count(&ring), 2); // the adapter holds one
    /// io.ring().nop().submit()?.wait()?;
    /// # Ok(()) }
    /// ```
    pub fn ring(&self) -> &Rc<Ring> {
        &self.ring
    }

    /// The bytes read ahead and not taken yet, reading more when there are none: empty at
    /// end of stream. A file first finishes its pending writes, so reads see them.
    pub(super) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        if S::POSITIONED && !self.writer.is_flushed() {
            ready!(self.poll_flush(cx))?;
        }
        let (ring, io, pos) = (&self.ring, &self.io, self.pos);
        self.reader
            .poll_fill(cx, pos, |buf, at| OwnedOp::new(ring, io.read_op(buf, at)))
    }

    /// Marks `n` bytes of [`poll_fill`](Self::poll_fill)'s as read.
    pub(super) fn consume(&mut self, n: usize) {
        self.reader.consume(n);
        self.pos += n as u64;
    }

    /// Reads up to `room` bytes, handing them to `put`; 0 at end of stream (or for no room).
    pub(super) fn poll_read_with(
        &mut self,
        cx: &mut Context<'_>,
        room: usize,
        put: impl FnOnce(&[u8]),
    ) -> Poll<io::Result<usize>> {
        if room == 0 {
            return Poll::Ready(Ok(0));
        }
        let data = ready!(self.poll_fill(cx))?;
        let n = room.min(data.len());
        put(&data[..n]);
        self.consume(n);
        Poll::Ready(Ok(n))
    }

    /// Accepts some of `data` for writing behind (see the [module docs](crate::io)). A file
    /// drops what it read ahead: the write goes where the reader stopped.
    pub(super) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if S::POSITIONED && !self.reader.is_empty() {
            self.reader.discard();
        }
        let start = writes(&self.ring, &self.io);
        let n = ready!(self.writer.poll_write(cx, data, self.pos, start))?;
        self.pos += n as u64;
        Poll::Ready(Ok(n))
    }

    /// Ready once every accepted byte is written, or with the error that stopped it.
    pub(super) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.writer.poll_flush(cx, writes(&self.ring, &self.io))
    }

    /// Flushes, then closes the write side of a socket (the peer reads end of stream).
    pub(super) fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_flush(cx))?;
        loop {
            match &mut self.close {
                Close::Open => {
                    self.close = match self.io.shutdown_op() {
                        Some(op) => Close::Closing(OwnedOp::new(&self.ring, op)),
                        None => Close::Closed,
                    };
                }
                Close::Closing(op) => {
                    let res = ready!(Pin::new(op).poll(cx));
                    self.close = Close::Closed;
                    return Poll::Ready(res.map_err(io::Error::from));
                }
                Close::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

/// How the writer starts a write of `io` on `ring`.
fn writes<'a, S: IoTarget>(ring: &'a Rc<Ring>, io: &'a S) -> impl StartWrite<S::Write> + 'a {
    |buf, from, at| OwnedOp::new(ring, io.write_op(buf, from, at))
}

impl RingIo<File> {
    /// The offset of the next byte read or written.
    ///
    /// ```
    /// # fn main() -> std::io::Result<()> {
    /// use std::io::SeekFrom;
    /// use std::rc::Rc;
    /// use safer_ring::{File, Ring, io::RingIo};
    /// use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
    /// let ring = Rc::new(Ring::new(8)?);
    /// let mut io = RingIo::new(&ring, File::from(tempfile::tempfile()?));
    /// assert_eq!(io.position(), 0);
    /// ring.block_on(async {
    ///     io.write_all(b"0123456789").await?;
    ///     assert_eq!(io.position(), 10); // accepted bytes count, flushed or not
    ///     io.seek(SeekFrom::Start(4)).await?;
    ///     let mut two = [0u8; 2];
    ///     io.read_exact(&mut two).await?;
    ///     assert_eq!((&two, io.position()), (b"45", 6));
    ///     Ok::<_, std::io::Error>(())
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Moves the position after finishing pending writes and dropping what was read ahead.
    /// `SeekFrom::End` asks the file's size (`fstat` on a duplicate of the fd).
    pub(super) fn poll_seek(
        &mut self,
        cx: &mut Context<'_>,
        to: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        ready!(self.poll_flush(cx))?;
        self.reader.discard();
        let (base, delta) = match to {
            SeekFrom::Start(n) => (n, 0),
            SeekFrom::Current(d) => (self.pos, d),
            SeekFrom::End(d) => (self.io.try_clone_std()?.metadata()?.len(), d),
        };
        let pos = base.checked_add_signed(delta).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek to a negative or overflowing offset",
            )
        })?;
        self.pos = pos;
        Poll::Ready(Ok(pos))
    }
}

impl<S: IoTarget + std::fmt::Debug> std::fmt::Debug for RingIo<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingIo")
            .field("io", &self.io)
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::OwnedFd;
    use std::task::Waker;

    use super::*;

    /// Polls `f` with a no-op waker, turning the ring between polls (waiting for a
    /// completion if `wait`), until it is ready or `turns` turns have passed.
    fn poll_until<T>(
        ring: &Ring,
        turns: usize,
        wait: bool,
        mut f: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..turns {
            if let Poll::Ready(out) = f(&mut cx) {
                return Poll::Ready(out);
            }
            ring.turn(wait).unwrap();
        }
        Poll::Pending
    }

    #[test]
    fn writes_to_a_full_pipe_stop_after_two_buffers() {
        let ring = Rc::new(Ring::new(8).unwrap());
        let (reader, writer) = std::io::pipe().unwrap();
        let pipe_room = 65536; // Linux's default pipe capacity
        let mut io = RingIo::with_capacity(&ring, File::from(OwnedFd::from(writer)), 16, 4096);
        let chunk = [3u8; 1000];
        let mut accepted = 0;
        while let Poll::Ready(n) = poll_until(&ring, 100, false, |cx| io.poll_write(cx, &chunk)) {
            accepted += n.unwrap();
            assert!(accepted <= pipe_room + 2 * 4096, "accepted {accepted}");
        }
        assert!(
            accepted > pipe_room,
            "one buffer in flight, one filling: {accepted}"
        );
        drop(reader); // the write in flight fails: EPIPE, reported by the flush
        let flushed = poll_until(&ring, 100, true, |cx| io.poll_flush(cx));
        let Poll::Ready(Err(e)) = flushed else {
            panic!("the failed write must be reported: {flushed:?}")
        };
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn a_file_reads_its_pending_writes_and_writes_where_the_reader_stopped() {
        let ring = Rc::new(Ring::new(8).unwrap());
        let mut io = RingIo::with_capacity(&ring, File::from(tempfile::tempfile().unwrap()), 4, 64);
        let write = |io: &mut RingIo<File>, data: &[u8]| {
            assert_eq!(
                poll_until(&ring, 100, true, |cx| io.poll_write(cx, data)).map(Result::unwrap),
                Poll::Ready(data.len())
            );
        };
        write(&mut io, b"abcdefgh");
        assert_eq!(io.position(), 8);
        io.pos = 2; // as a seek would, once flushed
        let mut got = Vec::new();
        let read = poll_until(&ring, 100, true, |cx| {
            io.poll_read_with(cx, 3, |d| got.extend_from_slice(d))
        });
        assert_eq!(
            (read.map(Result::unwrap), &got[..]),
            (Poll::Ready(3), &b"cde"[..])
        );
        write(&mut io, b"XY"); // drops the read-ahead, goes at offset 5
        assert!(poll_until(&ring, 100, true, |cx| io.poll_flush(cx)).is_ready());
        let mut file = io.get_ref().try_clone_std().unwrap();
        let mut all = String::new();
        std::io::Read::read_to_string(&mut file, &mut all).unwrap();
        assert_eq!(all, "abcdeXYh");
    }
}
