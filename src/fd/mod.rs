//! What an operation names its file by, and what keeps that valid until the final CQE: the
//! shared owned fd ([`SharedFd`], invariant 6), a registered file's handle ([`RegisteredFd`])
//! with its use-count [`Claim`] (invariant 8), and [`Target`], one or the other, for any
//! [`AsTarget`]. Below `fs`, `net` and `registry`, which all build on it.

mod claim;
mod registered;
mod shared;
mod target;

pub(crate) use claim::Claim;
pub use registered::RegisteredFd;
pub(crate) use shared::SharedFd;
pub use target::{AsTarget, Target};
pub(crate) use target::{Kind, sealed, with_target};
