//! Files: the owned [`File`] handle, [`OpenOptions`], [`Metadata`], and the ring's file
//! operations ([`Ring::read_at`](crate::Ring::read_at) and friends).

mod exact;
mod file;
mod fixed;
mod metadata;
pub mod opcodes;
mod open_options;
mod ops;

pub use file::File;
pub use metadata::Metadata;
pub use open_options::OpenOptions;
