//! [`IoBuf`] and [`IoBufMut`]: the buffer types the kernel may use, and their impls for
//! `Vec<u8>` and `Box<[u8]>`.
#![allow(unsafe_code)]

/// A buffer the kernel may read from.
///
/// # Safety
///
/// Implementors guarantee that [`stable_ptr`](IoBuf::stable_ptr) points to at least
/// [`bytes_total`](IoBuf::bytes_total) bytes, of which the first
/// [`bytes_init`](IoBuf::bytes_init) are initialised; that this memory stays valid and at the
/// same address when the value is moved, for as long as the value is not dropped; and that
/// nothing but the holder of the value accesses it (invariants 1 and 2 of `SAFETY.md`).
///
/// # Examples
///
/// ```
/// use safer_ring::IoBuf;
/// // Generic over every owned buffer type.
/// fn describe(buf: &impl IoBuf) -> (usize, usize) {
///     (buf.bytes_init(), buf.bytes_total())
/// }
/// let mut v = Vec::with_capacity(64);
/// v.extend_from_slice(b"data");
/// assert_eq!(describe(&v), (4, 64));
/// assert_eq!(describe(&vec![0u8; 8].into_boxed_slice()), (8, 8));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an owned I/O buffer",
    label = "the kernel may use this buffer after the call returns, so it must be owned",
    note = "pass an owned buffer (`Vec<u8>`, `Box<[u8]>`, `PinnedBuffer`, `PooledBuffer`); it comes back with the result"
)]
pub unsafe trait IoBuf: 'static {
    /// Start of the buffer's memory; stable across moves of `self`.
    fn stable_ptr(&self) -> *const u8;
    /// Bytes that hold data (what a write sends).
    fn bytes_init(&self) -> usize;
    /// Bytes of memory available (what a read may fill).
    fn bytes_total(&self) -> usize;
}

/// A buffer the kernel may write into.
///
/// # Safety
///
/// As [`IoBuf`], and [`stable_mut_ptr`](IoBufMut::stable_mut_ptr) points to the same memory
/// with write access.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{File, IoBufMut, Ring};
/// // A read into any writable owned buffer; it comes back with the bytes' count.
/// fn read_start<B: IoBufMut>(ring: &Ring, file: &File, buf: B) -> safer_ring::Result<(usize, B)> {
///     let (n, buf) = ring.read_at(file, buf, 0).submit()?.wait();
///     Ok((n?, buf))
/// }
/// let ring = Ring::new(4)?;
/// let file = File::from(tempfile::tempfile()?);
/// ring.write_at(&file, b"xyz".to_vec(), 0).submit()?.wait().0?;
/// let (n, v) = read_start(&ring, &file, Vec::with_capacity(8))?;
/// assert_eq!(&v[..n], b"xyz");
/// let (n, pinned) = read_start(&ring, &file, safer_ring::PinnedBuffer::new(8))?;
/// assert_eq!(&pinned.as_slice()[..n], b"xyz");
/// # Ok(()) }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an owned, writable I/O buffer",
    label = "the kernel may write this buffer after the call returns, so it must be owned",
    note = "pass an owned buffer (`Vec<u8>`, `Box<[u8]>`, `PinnedBuffer`, `PooledBuffer`); it comes back with the result"
)]
pub unsafe trait IoBufMut: IoBuf {
    /// Writable start of the buffer's memory; stable across moves of `self`.
    fn stable_mut_ptr(&mut self) -> *mut u8;

    /// Records that the first `len` bytes now hold data written by the kernel.
    ///
    /// # Safety
    ///
    /// The first `len` bytes (`len <= bytes_total()`) must be initialised.
    unsafe fn set_init(&mut self, len: usize);

    /// Called once each time an operation takes the buffer. [`PinnedBuffer`](super::PinnedBuffer) advances its
    /// generation here; other buffers do nothing.
    fn on_taken(&mut self) {}
}

// SAFETY: invariants 1, 2 — a Vec's bytes are on the heap and do not move when the Vec moves;
// only the owner (the operation, then the slot) can reach them while the kernel uses them.
unsafe impl IoBuf for Vec<u8> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: invariants 1, 2 — as for `IoBuf`; the spare capacity is owned, writable heap memory.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, len: usize) {
        debug_assert!(len <= self.capacity());
        // SAFETY: the caller guarantees the first `len <= capacity` bytes are initialised.
        unsafe { self.set_len(len) }
    }
}

// SAFETY: invariants 1, 2 — a boxed slice's bytes are on the heap and do not move with the box.
unsafe impl IoBuf for Box<[u8]> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: invariants 1, 2 — as for `IoBuf`; a boxed slice is always fully initialised.
unsafe impl IoBufMut for Box<[u8]> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, _len: usize) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec_pointer_is_stable_across_moves() {
        let v = vec![1u8; 64];
        let ptr = v.stable_ptr();
        let moved = Box::new(v);
        assert_eq!(moved.stable_ptr(), ptr);
    }

    #[test]
    fn vec_set_init_reports_filled_length() {
        let mut v: Vec<u8> = Vec::with_capacity(16);
        v.spare_capacity_mut()[..4].fill(std::mem::MaybeUninit::new(9));
        // SAFETY: four bytes were just initialised.
        unsafe { v.set_init(4) };
        assert_eq!(v, vec![9; 4]);
        let b: Box<[u8]> = vec![0u8; 8].into_boxed_slice();
        assert_eq!((b.bytes_init(), b.bytes_total()), (8, 8));
    }
}
