//! [`PinnedBuffer`]: an owned, pinned, reusable buffer with a generation counter.
#![allow(unsafe_code)]

use std::pin::Pin;

use super::{IoBuf, IoBufMut};

/// An owned buffer whose bytes never move, reusable across operations in a loop.
///
/// Pass it to an operation by value; the result hands it back with [`len`](Self::len) set to
/// the bytes the kernel filled. Each time an operation takes it, its
/// [`generation`](Self::generation) advances, so code that keeps notes about a buffer can
/// tell which use they belong to.
///
/// ```
/// use safer_ring::{PinnedBuffer, Ring};
/// # fn main() -> safer_ring::Result<()> {
/// let ring = Ring::new(8)?;
/// let (r, w) = std::io::pipe()?;
/// let (r, w) = (safer_ring::File::from(std::fs::File::from(std::os::fd::OwnedFd::from(r))),
///               safer_ring::File::from(std::fs::File::from(std::os::fd::OwnedFd::from(w))));
/// let mut buf = PinnedBuffer::new(16);
/// for round in 0..3u8 {
///     let (n, _) = ring.write(&w, vec![round; 4]).submit()?.wait();
///     assert_eq!(n?, 4);
///     let (n, back) = ring.read(&r, buf).submit()?.wait();
///     assert_eq!(n?, 4);
///     assert_eq!(back.as_slice(), &[round; 4]);
///     assert_eq!(back.generation(), u64::from(round) + 1);
///     buf = back;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PinnedBuffer {
    bytes: Pin<Box<[u8]>>,
    len: usize,
    generation: u64,
}

impl PinnedBuffer {
    /// A zeroed buffer of `capacity` bytes, holding no data yet.
    pub fn new(capacity: usize) -> Self {
        Self {
            bytes: Box::into_pin(vec![0u8; capacity].into_boxed_slice()),
            len: 0,
            generation: 0,
        }
    }

    /// A buffer holding a copy of `data`.
    pub fn from_slice(data: &[u8]) -> Self {
        Self {
            bytes: Box::into_pin(data.to_vec().into_boxed_slice()),
            len: data.len(),
            generation: 0,
        }
    }

    /// The bytes holding data.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The whole buffer, mutable (to fill it before a write).
    pub fn as_mut_capacity(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    /// Bytes holding data.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no bytes hold data.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Total bytes.
    pub fn capacity(&self) -> usize {
        self.bytes.len()
    }

    /// Sets how many bytes hold data (after filling [`as_mut_capacity`](Self::as_mut_capacity)).
    ///
    /// # Panics
    /// If `len` exceeds the capacity.
    pub fn set_len(&mut self, len: usize) {
        assert!(len <= self.capacity(), "len {len} beyond capacity");
        self.len = len;
    }

    /// How many operations have taken this buffer.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

// SAFETY: invariants 1, 2 — the bytes are a pinned heap allocation owned by `self`; moving
// the `PinnedBuffer` moves only the box pointer.
unsafe impl IoBuf for PinnedBuffer {
    fn stable_ptr(&self) -> *const u8 {
        self.bytes.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.bytes.len()
    }
}

// SAFETY: invariants 1, 2 — as for `IoBuf`; the whole allocation is initialised and writable.
unsafe impl IoBufMut for PinnedBuffer {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.bytes.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, len: usize) {
        self.set_len(len);
    }
    fn on_taken(&mut self) {
        self.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_advances_when_taken() {
        let mut b = PinnedBuffer::from_slice(b"abc");
        assert_eq!(b.generation(), 0);
        b.on_taken();
        b.on_taken();
        assert_eq!(b.generation(), 2);
        assert_eq!(b.as_slice(), b"abc");
    }

    #[test]
    #[should_panic(expected = "beyond capacity")]
    fn set_len_beyond_capacity_panics() {
        PinnedBuffer::new(4).set_len(5);
    }
}
