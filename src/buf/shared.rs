//! [`SharedBuf`]: one buffer used by several operations of a chain — a linked read into it
//! and a write out of it — owned by all of them together, handed back once the last is done.
#![allow(unsafe_code)]

use std::cell::{Ref, RefCell, RefMut};
use std::rc::Rc;

use super::{IoBuf, IoBufMut};

/// A buffer several operations own together: each gets a clone of the handle, the bytes are
/// freed only when the last clone goes — after every operation holding one has had its final
/// CQE (or was dropped and released by its slot). Its contents are reachable only through
/// [`try_unwrap`](Self::try_unwrap), which succeeds once no operation holds it: safe code can
/// never look at the bytes while the kernel may write them (invariants 1, 2).
///
/// Meant for linked chains, where the kernel orders the entries: a read into the buffer,
/// then a write of it (the write's length is the buffer's initialised length when the chain
/// is submitted — start from `vec![0; n]`). Operations sharing a buffer *without* a link run
/// concurrently, and then what the buffer holds is unspecified (never unsound).
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::buf::SharedBuf;
/// let ring = safer_ring::Ring::new(8)?;
/// let src = safer_ring::File::from(tempfile::tempfile()?);
/// let dst = safer_ring::File::from(tempfile::tempfile()?);
/// ring.write_at(&src, b"linked copy".to_vec(), 0).submit()?.wait().0?;
/// let buf = SharedBuf::new(vec![0u8; 11]);
/// let ((read, buf), (wrote, other)) = ring
///     .chain((ring.read_at(&src, buf.clone(), 0), ring.write_at(&dst, buf, 0)))
///     .submit()?
///     .wait();
/// assert_eq!((read?, wrote?), (11, 11));
/// drop(other);
/// assert_eq!(buf.try_unwrap().ok().unwrap(), b"linked copy");
/// # Ok(()) }
/// ```
pub struct SharedBuf<B> {
    inner: Rc<RefCell<B>>,
}

impl<B: IoBuf> SharedBuf<B> {
    /// Shares `buf`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{File, Ring, buf::SharedBuf};
    /// let ring = Ring::new(4)?;
    /// let file = File::from(tempfile::tempfile()?);
    /// ring.write_at(&file, b"shared".to_vec(), 0).submit()?.wait().0?;
    /// let buf = SharedBuf::new(vec![0u8; 6]);
    /// let (n, buf) = ring.read_at(&file, buf, 0).submit()?.wait();
    /// assert_eq!(n?, 6);
    /// assert_eq!(buf.try_unwrap().unwrap(), b"shared"); // the only handle: the buffer back
    /// # Ok(()) }
    /// ```
    pub fn new(buf: B) -> Self {
        Self {
            inner: Rc::new(RefCell::new(buf)),
        }
    }

    /// The buffer, if this is the last handle (every operation that held one is done);
    /// otherwise the handle back.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{File, Ring, buf::SharedBuf};
    /// let ring = Ring::new(4)?;
    /// let file = File::from(tempfile::tempfile()?);
    /// let buf = SharedBuf::new(b"both".to_vec());
    /// let write = ring.write_at(&file, buf.clone(), 0).submit()?;
    /// let buf = buf.try_unwrap().expect_err("the write holds a handle");
    /// let (n, held) = write.wait();
    /// assert_eq!(n?, 4);
    /// drop(held); // the write's handle
    /// assert_eq!(buf.try_unwrap().expect("the last handle"), b"both");
    /// # Ok(()) }
    /// ```
    pub fn try_unwrap(self) -> Result<B, Self> {
        Rc::try_unwrap(self.inner)
            .map(RefCell::into_inner)
            .map_err(|inner| Self { inner })
    }

    /// The buffer behind the handle, for the trait methods below only. A buffer hook that
    /// reached another handle of the same buffer while one of these is held (user code in
    /// `on_taken` or `set_init`) panics here rather than alias it.
    fn get(&self) -> Ref<'_, B> {
        self.inner.borrow()
    }

    fn get_mut(&self) -> RefMut<'_, B> {
        self.inner.borrow_mut()
    }
}

impl<B> Clone for SharedBuf<B> {
    /// Another handle on the same bytes (no copy).
    fn clone(&self) -> Self {
        Self {
            inner: Rc::clone(&self.inner),
        }
    }
}

impl<B> std::fmt::Debug for SharedBuf<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedBuf")
            .field("handles", &Rc::strong_count(&self.inner))
            .finish_non_exhaustive()
    }
}

// SAFETY: invariants 1, 2 — the bytes are `B`'s, stable by `B`'s own contract; they are
// freed only when the last handle goes, and every operation holding a handle keeps it until
// its final CQE.
unsafe impl<B: IoBuf> IoBuf for SharedBuf<B> {
    fn stable_ptr(&self) -> *const u8 {
        self.get().stable_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.get().bytes_init()
    }

    fn bytes_total(&self) -> usize {
        self.get().bytes_total()
    }
}

// SAFETY: as `IoBuf`; `set_init` forwards the caller's guarantee to `B`.
unsafe impl<B: IoBufMut> IoBufMut for SharedBuf<B> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.get_mut().stable_mut_ptr()
    }

    unsafe fn set_init(&mut self, len: usize) {
        // SAFETY: forwarded from the caller (the first `len` bytes are initialised).
        unsafe { self.get_mut().set_init(len) }
    }

    fn on_taken(&mut self) {
        self.get_mut().on_taken();
    }
}
