//! Buffers passed to the kernel by ownership (invariant 2).
//!
//! An operation takes its buffer by value and hands it back with the result, so the buffer
//! cannot be read, written, moved or freed by safe code while the kernel holds it. The traits
//! here say which types qualify: their bytes live at a heap address that does not change when
//! the value itself moves.
//!
//! ```
//! use safer_ring::buf::IoBuf;
//! let v: Vec<u8> = Vec::with_capacity(4096);
//! assert_eq!(v.bytes_init(), 0);
//! assert_eq!(v.bytes_total(), 4096);
//! ```
//!
//! Borrowed slices and stack arrays are not buffers (they are not `'static`, or their address
//! moves with them):
//!
//! ```compile_fail
//! use safer_ring::buf::IoBufMut;
//! fn takes<B: IoBufMut>(_: B) {}
//! let mut stack = [0u8; 16];
//! takes(&mut stack[..]);
//! ```
mod io_buf;
pub mod numa;
mod pinned;
mod pool;
mod provided;
mod region;
mod shared;

pub use io_buf::{IoBuf, IoBufMut};
pub use pinned::PinnedBuffer;
pub(crate) use pool::Shared as PoolShared;
pub use pool::{BufferPool, GetBuffer, PoolStats, PooledBuffer};
pub(crate) use provided::ArmGate;
pub(crate) use provided::Inner as BufRingInner;
pub use provided::{BufChunk, BufRing};
pub use shared::SharedBuf;

/// A buffer length as an SQE's 32-bit length: clamped to `u32::MAX`, so a buffer of 4 GiB or
/// more gives an honest short count (as a large `write(2)` does) instead of its length
/// modulo 2^32.
pub(crate) fn clamp_len(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_of_4_gib_and_more_clamp_to_u32_max() {
        assert_eq!(clamp_len(10), 10);
        assert_eq!(clamp_len(u32::MAX as usize), u32::MAX);
        assert_eq!(clamp_len(u32::MAX as usize + 11), u32::MAX);
        assert_eq!(clamp_len(usize::MAX), u32::MAX);
    }
}
