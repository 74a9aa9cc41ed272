//! Options set on an operation while it is being built.
#![forbid(unsafe_code)]

use io_uring::squeue::{Entry, Flags};

use super::{Building, OpCode, Operation};

/// SQE options common to every operation. Later options (links, timeouts, fixed files and
/// buffers) extend this struct; [`SqeOptions::apply`] is the one place they reach the SQE.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SqeOptions {
    pub async_hint: bool,
    pub drain: bool,
}

impl SqeOptions {
    /// Applies the options to a freshly built SQE.
    #[inline]
    pub fn apply(self, entry: &mut Entry) {
        if self.async_hint || self.drain {
            self.set_flags(entry);
        }
    }

    #[cold]
    fn set_flags(self, entry: &mut Entry) {
        let mut flags = Flags::empty();
        flags.set(Flags::ASYNC, self.async_hint);
        flags.set(Flags::IO_DRAIN, self.drain);
        *entry = entry.clone().flags(flags);
    }
}

/// Operations that act at a file offset, which [`Operation::offset`] sets while building:
/// reads and writes, vectored or with registered buffers.
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::op::{Op, Positioned};
/// /// Moves any positioned operation `by` bytes further into the file.
/// fn skip<T: Positioned>(op: Op<'_, T>, from: u64, by: u64) -> Op<'_, T> {
///     op.offset(from + by)
/// }
/// let ring = safer_ring::Ring::new(4)?;
/// let file = safer_ring::File::from(tempfile::tempfile()?);
/// skip(ring.write_at(&file, b"tail".to_vec(), 0), 0, 4).submit()?.wait().0?;
/// let (n, buf) = skip(ring.read_at(&file, Vec::with_capacity(8), 0), 2, 2).submit()?.wait();
/// assert_eq!(&buf[..n?], b"tail");
/// assert_eq!(ring.statx_file(&file).submit()?.wait()?.len(), 8);
/// # Ok(()) }
/// ```
pub trait Positioned: OpCode {
    /// Sets the file offset.
    #[doc(hidden)]
    fn set_offset(&mut self, offset: u64);
}

impl<T: Positioned> Operation<'_, Building<T>> {
    /// Sets the file offset the operation acts at (builder option).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// ring.write_at(&file, b"abcdef".to_vec(), 0).submit()?.wait().0?;
    /// let (n, buf) = ring.read_at(&file, vec![0; 3], 0).offset(3).submit()?.wait();
    /// assert_eq!(&buf[..n?], b"def");
    /// # Ok(()) }
    /// ```
    pub fn offset(mut self, offset: u64) -> Self {
        self.state.op.set_offset(offset);
        self
    }
}
