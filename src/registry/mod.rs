//! Registered resources: files (fixed descriptors) registered with one ring.
//!
//! A registered file is named in SQEs by its index in the ring's file table instead of its
//! fd, which saves the kernel an fd lookup and reference per operation. Safety rests on
//! invariant 8: a [`RegisteredFd`] carries its ring's identity and its slot's generation, and
//! every operation using it holds a use count on the slot until its final CQE, so
//!
//! - using a handle with another ring is [`RingMismatch`](crate::SaferRingError::RingMismatch);
//! - unregistering a slot that an in-flight operation uses is **refused** with
//!   [`InUse`](crate::SaferRingError::InUse) (never deferred: the caller decides when to
//!   retry), so the slot is never handed out again before that operation's CQE;
//! - a handle to a slot that was unregistered (or whose table was replaced) is
//!   [`Stale`](crate::SaferRingError::Stale).
//!
//! ```
//! # fn main() -> safer_ring::Result<()> {
//! use safer_ring::{File, Ring};
//! let ring = Ring::new(8)?;
//! ring.register_files(4)?;
//! let file = File::from(tempfile::tempfile()?);
//! let fixed = ring.register_file(&file)?;
//! ring.write_at(&fixed, b"via a fixed file".to_vec(), 0).submit()?.wait().0?;
//! let (n, buf) = ring.read_at(&fixed, Vec::with_capacity(32), 0).submit()?.wait();
//! assert_eq!(&buf[..n?], b"via a fixed file");
//! ring.unregister_file(&fixed)?;
//! # Ok(()) }
//! ```

mod buf_rings;
mod buffers;
mod files;
mod mailbox;
mod resources;
mod target;

pub use crate::fd::RegisteredFd;
pub use mailbox::{FileMailbox, ReceiveFile};
