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
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{File, PinnedBuffer, Ring};
    /// let buf = PinnedBuffer::new(16);
    /// assert_eq!((buf.len(), buf.capacity()), (0, 16));
    /// let ring = Ring::new(4)?;
    /// let file = File::from(tempfile::tempfile()?);
    /// ring.write_at(&file, b"abc".to_vec(), 0).submit()?.wait().0?;
    /// // A read fills it up to its capacity; `len` then counts the bytes read.
    /// let (n, buf) = ring.read_at(&file, buf, 0).submit()?.wait();
    /// assert_eq!(n?, 3);
    /// assert_eq!(buf.as_slice(), b"abc");
    /// # Ok(()) }
    /// ```
    pub fn new(capacity: usize) -> Self {
        Self {
            bytes: Box::into_pin(vec![0u8; capacity].into_boxed_slice()),
            len: 0,
            generation: 0,
        }
    }

    /// A buffer holding a copy of `data`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{File, PinnedBuffer, Ring};
    /// let buf = PinnedBuffer::from_slice(b"hello");
    /// assert_eq!((buf.len(), buf.capacity()), (5, 5));
    /// let ring = Ring::new(4)?;
    /// let file = File::from(tempfile::tempfile()?);
    /// let (n, _buf) = ring.write_at(&file, buf, 0).submit()?.wait();
    /// assert_eq!(n?, 5);
    /// let (n, back) = ring.read_at(&file, Vec::with_capacity(8), 0).submit()?.wait();
    /// assert_eq!(&back[..n?], b"hello");
    /// # Ok(()) }
    /// ```
    pub fn from_slice(data: &[u8]) -> Self {
        Self {
            bytes: Box::into_pin(data.to_vec().into_boxed_slice()),
            len: data.len(),
            generation: 0,
        }
    }

    /// The bytes holding data.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{File, PinnedBuffer, Ring};
    /// let buf = PinnedBuffer::new(8);
    /// assert!(buf.as_slice().is_empty()); // 8 bytes, none holding data yet
    /// let ring = Ring::new(4)?;
    /// let file = File::from(tempfile::tempfile()?);
    /// ring.write_at(&file, b"ring".to_vec(), 0).submit()?.wait().0?;
    /// let (n, buf) = ring.read_at(&file, buf, 0).submit()?.wait();
    /// n?;
    /// assert_eq!(buf.as_slice(), b"ring"); // only what the read filled
    /// # Ok(()) }
    /// ```
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The whole buffer, mutable (to fill it before a write).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{File, PinnedBuffer, Ring};
    /// let mut buf = PinnedBuffer::new(8);
    /// assert_eq!(buf.as_mut_capacity().len(), 8); // the whole buffer, not only the data
    /// buf.as_mut_capacity()[..5].copy_from_slice(b"bytes");
    /// buf.set_len(5); // a write sends the `len` bytes that hold data
    /// let ring = Ring::new(4)?;
    /// let file = File::from(tempfile::tempfile()?);
    /// let (n, _buf) = ring.write_at(&file, buf, 0).submit()?.wait();
    /// assert_eq!(n?, 5);
    /// let (n, back) = ring.read_at(&file, Vec::with_capacity(8), 0).submit()?.wait();
    /// assert_eq!(&back[..n?], b"bytes");
    /// # Ok(()) }
    /// ```
    pub fn as_mut_capacity(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    /// Bytes holding data.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{File, PinnedBuffer, Ring};
    /// assert_eq!(PinnedBuffer::from_slice(b"four").len(), 4);
    /// let ring = Ring::new(4)?;
    /// let file = File::from(tempfile::tempfile()?);
    /// ring.write_at(&file, b"hi".to_vec(), 0).submit()?.wait().0?;
    /// let (n, buf) = ring.read_at(&file, PinnedBuffer::new(16), 0).submit()?.wait();
    /// assert_eq!(buf.len(), n?); // what the kernel filled
    /// assert_eq!(buf.len(), 2);
    /// # Ok(()) }
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no bytes hold data.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{File, PinnedBuffer, Ring};
    /// assert!(PinnedBuffer::new(16).is_empty());
    /// assert!(!PinnedBuffer::from_slice(b"x").is_empty());
    /// let ring = Ring::new(4)?;
    /// let file = File::from(tempfile::tempfile()?); // empty: a read finds nothing
    /// let (n, buf) = ring.read_at(&file, PinnedBuffer::new(16), 0).submit()?.wait();
    /// assert_eq!(n?, 0);
    /// assert!(buf.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Total bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{File, PinnedBuffer, Ring};
    /// let ring = Ring::new(4)?;
    /// let file = File::from(tempfile::tempfile()?);
    /// ring.write_at(&file, b"abc".to_vec(), 0).submit()?.wait().0?;
    /// let (n, buf) = ring.read_at(&file, PinnedBuffer::new(16), 0).submit()?.wait();
    /// assert_eq!(n?, 3);
    /// assert_eq!((buf.len(), buf.capacity()), (3, 16)); // a short read leaves the capacity alone
    /// # Ok(()) }
    /// ```
    pub fn capacity(&self) -> usize {
        self.bytes.len()
    }

    /// Sets how many bytes hold data (after filling [`as_mut_capacity`](Self::as_mut_capacity)).
    ///
    /// # Panics
    /// If `len` exceeds the capacity.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{File, PinnedBuffer, Ring};
    /// let mut buf = PinnedBuffer::new(16);
    /// buf.as_mut_capacity()[..6].copy_from_slice(b"filled");
    /// buf.set_len(6);
    /// assert_eq!(buf.as_slice(), b"filled");
    /// let ring = Ring::new(4)?;
    /// let file = File::from(tempfile::tempfile()?);
    /// let (n, _buf) = ring.write_at(&file, buf, 0).submit()?.wait();
    /// assert_eq!(n?, 6); // the write sent exactly `len` bytes
    /// # Ok(()) }
    /// ```
    ///
    /// Beyond the capacity it panics:
    ///
    /// ```should_panic
    /// let mut buf = safer_ring::PinnedBuffer::new(4);
    /// buf.set_len(5);
    /// ```
    pub fn set_len(&mut self, len: usize) {
        assert!(len <= self.capacity(), "len {len} beyond capacity");
        self.len = len;
    }

    /// How many operations have taken this buffer.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{File, PinnedBuffer, Ring};
    /// let ring = Ring::new(4)?;
    /// let file = File::from(tempfile::tempfile()?);
    /// ring.write_at(&file, b"data".to_vec(), 0).submit()?.wait().0?;
    /// let mut buf = PinnedBuffer::new(8);
    /// assert_eq!(buf.generation(), 0);
    /// for use_count in 1..=2 {
    ///     let (n, back) = ring.read_at(&file, buf, 0).submit()?.wait();
    ///     assert_eq!(n?, 4);
    ///     assert_eq!(back.generation(), use_count); // one more for each read that took it
    ///     buf = back;
    /// }
    /// # Ok(()) }
    /// ```
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
