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
//! A completed operation's output can be taken only once:
//!
//! ```compile_fail,E0382
//! # fn f(ring: &safer_ring::Ring) -> safer_ring::Result<()> {
//! let done = ring.nop().submit()?.wait_completed();
//! let a = done.into_output();
//! let b = done.into_output(); // error: use of moved value
//! # Ok(()) }
//! ```

mod future;
mod nop;
mod opcode;
mod operation;
mod options;
mod stream;

pub use future::OpFuture;
pub use nop::Nop;
pub use opcode::{OpCode, SUPPORTED_OPCODES};
pub(crate) use opcode::{cqe_result, filled, progress};
pub use operation::{BufResult, Building, Completed, Op, Operation, State, Submitted};
pub use options::Positioned;
pub use stream::{MultiShot, OpStream};
