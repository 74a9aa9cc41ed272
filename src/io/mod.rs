//! I/O adapters: [`RingIo`] gives a ring-backed [`TcpStream`](crate::net::TcpStream),
//! [`UnixStream`](crate::net::UnixStream) or [`File`](crate::File) tokio's `AsyncRead`,
//! `AsyncBufRead` and `AsyncWrite` (and `AsyncSeek` for a file) — and, with the `futures-io`
//! feature, the same traits of `futures-io` — so that code written for those traits runs on
//! the ring: `tokio::io::copy`, `BufReader::lines`, tokio-rustls, hyper through
//! `hyper_util::rt::TokioIo`.
//!
//! The kernel never sees the caller's buffers: an adapter owns its own (reused, so the
//! steady path allocates nothing) and copies.
//!
//! - **Reads** go into the adapter's buffer; what a read brought waits there until the
//!   caller takes it (`AsyncBufRead::poll_fill_buf` shows it without a copy), and meanwhile
//!   the next read is already in flight into a second buffer. The read in flight belongs to
//!   the adapter, not to the caller's future: a `read` future dropped by `tokio::select!` or
//!   a timeout loses no data — the next read gets it.
//! - **Writes** are write-behind: `poll_write` copies into the adapter's buffer, hands it to
//!   the kernel if nothing is in flight, and returns at once; it waits only when the buffer
//!   filling and the one in flight are both full (bounded memory: back-pressure).
//!   `poll_flush` waits until every accepted byte is written; `poll_shutdown` flushes, then
//!   shuts the socket's write side. A write that fails after its bytes were accepted is
//!   reported by the next `poll_write`, `poll_flush` or `poll_shutdown`, never swallowed;
//!   the bytes accepted after the last successful flush may then be lost.
//! - **Dropping** an adapter drops its operations in flight, which the ring parks until
//!   their completion (invariant 3) and cancels: as with tokio's `BufWriter`, bytes accepted
//!   but not yet flushed may be lost — flush (or shut down) first.
//! - **Files** keep their own offset (starting at 0): reads and writes go one after the
//!   other from it, a read first finishing pending writes; `AsyncSeek` moves it.
//! - **Errors** are `std::io::Error`s as `std` gives them: a closed peer reads as `Ok(0)`
//!   and writes as `BrokenPipe` (or `ConnectionReset`); the rest carry their errno.
//!
//! An adapter holds its ring by `Rc` (the ring is `!Send`), so it works under
//! [`Ring::block_on`](crate::Ring::block_on) and under tokio on a current-thread runtime or
//! a `LocalSet` beside [`Ring::drive`](crate::Ring::drive).
//!
//! ```
//! # fn main() -> std::io::Result<()> {
//! use std::future::IntoFuture;
//! use std::rc::Rc;
//! use safer_ring::Ring;
//! use safer_ring::io::RingIo;
//! use safer_ring::net::{ListenOptions, TcpListener};
//! use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
//!
//! let ring = Rc::new(Ring::new(16)?);
//! let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap(), ListenOptions::default())?;
//! let addr = listener.local_addr()?;
//! ring.block_on(async {
//!     let (client, server) =
//!         futures::join!(ring.connect(addr).into_future(), ring.accept(&listener).into_future());
//!     let mut client = RingIo::new(&ring, client?);
//!     let server = RingIo::new(&ring, server?.0);
//!     client.write_all(b"hello\nring\n").await?;
//!     client.shutdown().await?; // flushes, then the peer reads end of stream
//!     let mut lines = server.lines();
//!     assert_eq!(lines.next_line().await?.as_deref(), Some("hello"));
//!     assert_eq!(lines.next_line().await?.as_deref(), Some("ring"));
//!     assert_eq!(lines.next_line().await?, None);
//!     Ok(())
//! })
//! # }
//! ```
//!
//! Under tokio, the ring is driven by [`Ring::drive`](crate::Ring::drive) beside the work:
//!
//! ```
//! # fn main() -> std::io::Result<()> {
//! use std::rc::Rc;
//! use safer_ring::{File, Ring};
//! use safer_ring::io::RingIo;
//! use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
//!
//! let rt = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
//! let ring = Rc::new(Ring::new(16)?);
//! let mut file = RingIo::new(&ring, File::from(tempfile::tempfile()?));
//! let text = rt.block_on(ring.run_on_tokio(async {
//!     file.write_all(b"written behind").await?;
//!     file.rewind().await?; // finishes the writes first
//!     let mut text = String::new();
//!     file.read_to_string(&mut text).await?;
//!     Ok::<_, std::io::Error>(text)
//! }))??;
//! assert_eq!(text, "written behind");
//! # Ok(()) }
//! ```

mod reader;
mod ring_io;
mod target;
mod writer;

#[cfg(feature = "futures-io")]
mod futures_io;
#[cfg(feature = "tokio")]
mod tokio;

pub use ring_io::{DEFAULT_BUFFER_SIZE, RingIo};
pub use target::IoTarget;
