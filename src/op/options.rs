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

/// Operations that act at a file offset.
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
