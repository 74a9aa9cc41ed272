//! # safer-ring: safe, fast io_uring for Rust
//!
//! `safer-ring` gives safe Rust full access to Linux io_uring without use-after-free, double
//! free, data races or I/O on the wrong file — not by dropping a future mid-flight, not by
//! `mem::forget`, not by dropping the ring — while costing little over hand-written unsafe
//! code on the [`io-uring`](https://docs.rs/io-uring) crate.
//!
//! The model: **buffers are passed by ownership** and handed back with the result; an
//! operation dropped mid-flight **parks its resources in the ring** until the kernel's final
//! completion; the ring's drop **cancels and waits** for everything in flight.
//!
//! ```
//! use safer_ring::{File, Ring};
//! # fn main() -> safer_ring::Result<()> {
//! let ring = Ring::new(32)?;
//! let file = File::from(tempfile::tempfile()?);
//!
//! // Synchronous: build, submit, wait. The buffer comes back with the result.
//! let (written, buf) = ring.write_at(&file, b"hello, ring".to_vec(), 0).submit()?.wait();
//! assert_eq!(written?, 11);
//!
//! // Asynchronous: `.await` any operation under the built-in executor (or tokio).
//! let text = ring.block_on(async {
//!     let (n, mut buf) = ring.read_at(&file, buf, 0).await;
//!     let n = n?;
//!     buf.truncate(n);
//!     Ok::<_, safer_ring::SaferRingError>(String::from_utf8(buf).unwrap())
//! })?;
//! assert_eq!(text, "hello, ring");
//! # Ok(()) }
//! ```
//!
//! ## Guides
//! - [`docs::guide`]: from `Cargo.toml` (`safer-ring = "0.1"`, the features) to a TCP echo
//!   server — buffers and what a drop mid-flight does, files, sockets, multishot and buffer
//!   rings, chains, batches, timeouts, cancellation, pools and registration, [`RingPool`],
//!   errors, presets, the fallback backend (`SAFER_RING_BACKEND`).
//! - [`docs::why_safe`]: the twelve invariants, each with the tests that fail if it breaks.
//! - [`docs::coming_from`]: tokio-uring, monoio, tokio and the `io-uring` crate side by side.
//! - [`docs::tokio`]: inside a tokio program — `Ring::drive` on a current-thread runtime or a
//!   `LocalSet`, [`RingPool`] from the multi-thread runtime, the `AsyncRead`/`AsyncWrite`
//!   adapters, and what not to do.
//!
//! ## Layers
//! - [`ring`]: the [`Ring`], its slot table (index + generation), back-pressure, shutdown.
//! - [`buf`]: the [`IoBuf`]/[`IoBufMut`] ownership traits, [`PinnedBuffer`], the thread-safe
//!   [`BufferPool`], provided-buffer rings ([`BufRing`]).
//! - [`op`]: type-state [`Operation`]s (`Building → Submitted → Completed`), futures, and
//!   multishot streams ([`op::OpStream`]).
//! - [`registry`]: registered files ([`RegisteredFd`]) and a registered pool (fixed buffers).
//! - [`fs`]: [`File`] and the file operations; [`net`]: sockets and network operations.
//! - [`io`]: [`RingIo`](io::RingIo), tokio's (and `futures-io`'s) `AsyncRead`/`AsyncWrite`
//!   for ring sockets and files.
//! - [`time`]: kernel timers ([`Ring::sleep`], [`Ring::sleep_until`]).
//! - [`probe`]: what the kernel supports.
//! - `runtime`: [`Ring::block_on`] with tasks ([`spawn`]) and tokio integration
//!   ([`Ring::drive`]).
//!
//! ## Soundness
//! `SAFETY.md` ([`docs::why_safe`] here) states the contract (twelve invariants) and maps
//! each to its tests; every
//! `unsafe` block names the invariant it relies on and lives in a leaf file where the kernel
//! meets memory (the ring's push and enter, the buffer traits, each opcode's SQE, registered
//! memory, socket addresses, `sys.rs`, and the fd entry points in `fs/file.rs` and
//! `runtime/tokio.rs`).
#![doc(test(attr(deny(warnings))))]
#![deny(rustdoc::broken_intra_doc_links)]
#![cfg(target_os = "linux")]

pub use io_uring;

pub mod buf;
pub mod docs;
pub mod error;
mod fd;
pub mod fs;
#[cfg(any(feature = "tokio", feature = "futures-io"))]
pub mod io;
pub mod net;
pub mod op;
pub mod probe;
pub mod registry;
pub mod ring;
mod runtime;
mod sync;
mod sys;
pub mod time;

pub use buf::{BufChunk, BufRing, BufferPool, IoBuf, IoBufMut, PinnedBuffer, PooledBuffer};
pub use error::{Result, SaferRingError, SubmitError, Unavailable};
pub use fd::{AsTarget, RegisteredFd, Target};
pub use fs::{File, Metadata, OpenOptions};
pub use op::{BufResult, Building, Completed, OpCode, OpFuture, Operation, Submitted};
pub use probe::{Features, OpcodeSet};
pub use registry::FileMailbox;
pub use ring::slots::CqeResult;
pub use ring::{
    Backend, BackendMode, DEFAULT_MAX_IN_FLIGHT, Ring, RingBuilder, RingConfig, RingId, RingSetup,
    RingStats, SetupFlags, ShutdownReport,
};
#[cfg(feature = "tokio")]
pub use runtime::Drive;
/// Internals exposed to the loom models only (`--cfg safer_ring_loom`).
#[cfg(safer_ring_loom)]
#[doc(hidden)]
pub use runtime::WakeFlag;
pub use runtime::{
    JoinError, JoinHandle, Placement, PoolError, PoolHandle, RingPool, RingPoolBuilder,
    WorkerStats, spawn,
};
