//! Type-state operations: [`Building`] → [`Submitted`] → [`Completed`].
//!
//! A ring method such as [`Ring::read_at`](crate::Ring::read_at) returns an
//! `Operation<Building<_>>`. Options are set only while building;
//! [`submit`](Operation::submit) queues it and returns an `Operation<Submitted<_>>`, which can be [`wait`](Operation::wait)ed for,
//! [`try_complete`](Operation::try_complete)d, or dropped (safely: invariant 3). A building
//! operation can also be `.await`ed directly (it implements `IntoFuture`).
//!
//! ```
//! # fn main() -> safer_ring::Result<()> {
//! use safer_ring::Ring;
//! let ring = Ring::new(8)?;
//! let file = safer_ring::File::from(tempfile::tempfile()?);
//! let (n, _buf) = ring.write_at(&file, b"hello".to_vec(), 0).submit()?.wait();
//! assert_eq!(n?, 5);
//! let mut op = ring.read_at(&file, Vec::with_capacity(16), 0).submit()?;
//! let done = loop {
//!     match op.try_complete() {
//!         Ok(done) => break done,
//!         Err(pending) => op = pending,
//!     }
//! };
//! let (n, buf) = done.into_output();
//! assert_eq!(&buf[..n?], b"hello");
//! # Ok(()) }
//! ```
//!
//! A building operation is not a future; it must be submitted (or `.await`ed, which submits):
//!
//! ```compile_fail,E0277
//! # fn f(ring: &safer_ring::Ring) {
//! fn poll_it<F: std::future::Future>(_: F) {}
//! poll_it(ring.nop()); // error: `Operation<Building<Nop>>` is not a future
//! # }
//! ```
//!

//!
//! A completed operation's output can be taken only once:
//!
//! ```compile_fail,E0382
//! # fn f(ring: &safer_ring::Ring) -> safer_ring::Result<()> {
//! let done = ring.nop().submit()?.wait_completed();
//! let a = done.into_output();
//! let b = done.into_output(); // error: use of moved value
//! # Ok(()) }
//! ```
//!
//! # Life of an operation
//!
//! One read, from the call to the buffer coming back, naming each file on the way:
//!
//! 1. **Build.** [`Ring::read_at`](crate::Ring::read_at) (`fs/ops.rs`) makes an
//!    `Operation<Building<Read<B>>>` holding the buffer and the file's [`Target`](crate::Target)
//!    (`fd/target.rs`; for a [`File`](crate::File) a clone of its shared fd, `fd/shared.rs`).
//!    No syscall, nothing bound yet.
//! 2. **Submit.** [`Operation::submit`] (`op/operation.rs`) checks the opcode against the probe
//!    (`probe.rs`), runs `OpCode::validate` (`fs/opcodes.rs`; a registered file is bound to the
//!    submitting ring by `registry/target.rs`), then the buffer's hooks, then `OpCode::sqe`,
//!    which points the SQE into the buffer. `Ring::push_op` (`ring/push.rs`) takes a slot
//!    (`ring/slots.rs`, state `Submitted`) in the core (`ring/core.rs`), which writes the slot's
//!    index and generation into `user_data` and queues the SQE. The operation moves into its
//!    `Submitted` state, which owns it from here on; only then does the ring tell an outside
//!    reactor (its `Notifier`: tokio's, `runtime/driver_hook.rs`) and run deferred wakers.
//! 3. **Wait.** [`Operation::wait`] turns the ring until the slot completes; `.await` polls an
//!    [`OpFuture`] (`op/future.rs`), whose waker the slot keeps (state `Waiting`) while the
//!    executor (`runtime/block_on.rs`) sleeps. Either way the thread waits in `Core::enter`,
//!    the ring's one path into the kernel (`sys.rs` `io_uring_enter`), which also submits.
//! 4. **Complete.** `Core::reap` drains the completion queue; `SlotTable::complete` finds the
//!    slot by index and generation (a stale CQE is counted, never delivered), stores the CQE
//!    (state `Completed`) and hands back the waker, which `ring/after_reap.rs` wakes once the
//!    core's borrow has ended.
//! 5. **Take.** The owner polls again: the slot gives up the CQE and becomes vacant under a new
//!    generation; `Read::complete` (`fs/opcodes.rs`, through `op/opcode.rs` `filled`) marks the
//!    bytes the kernel wrote, never more than the buffer holds, and returns `(Ok(n), buffer)`.
//!
//! Dropped before step 5 instead, the operation moves whole into its slot (state
//! `Abandoned`, `ring/parked.rs`) and an async cancel is pushed; at the final CQE its buffer and
//! fd clone are released, outside every borrow. Dropping the ring cancels and drains every slot
//! first (`ring/shutdown.rs`). The invariants each step keeps are in `SAFETY.md`.
//!

mod batch;
mod cancel;
mod chain;
mod exact;
mod future;
mod group;
mod landing;
mod msg_ring;
mod nop;
mod opcode;
mod operation;
mod options;
#[cfg(any(feature = "tokio", feature = "futures-io"))]
mod owned;
mod plan;
mod stream;
mod timed;

pub use batch::{Batch, BatchFuture, BatchInFlight, EntryId};
pub use cancel::{CancelAll, CancelFd};
pub use chain::{Chain, ChainFuture, ChainInFlight, Entries};
pub(crate) use exact::until_done;
pub use future::OpFuture;
pub use group::GroupFuture;
pub use landing::Link;
pub use msg_ring::SendFile;
pub use nop::Nop;
pub use opcode::{OpCode, SUPPORTED_OPCODES};
pub(crate) use opcode::{cqe_result, filled};
pub use operation::{BufResult, Building, Completed, Op, Operation, State, Submitted};
pub use options::Positioned;
#[cfg(any(feature = "tokio", feature = "futures-io"))]
pub(crate) use owned::OwnedOp;
pub use stream::{MultiShot, OpStream};
pub use timed::{LinkTimeout, Timed, TimedFuture, TimedInFlight};
