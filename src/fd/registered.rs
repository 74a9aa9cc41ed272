//! [`RegisteredFd`]: a handle to one registration in one ring's file table.
#![forbid(unsafe_code)]

use crate::ring::RingId;

/// A file registered with one ring's file table (a "fixed file").
///
/// Cheap to clone; every clone names the same registration. Pass it wherever an operation
/// takes a file (`ring.read_at(&fixed, ..)`). Made by
/// [`Ring::register_file`](crate::Ring::register_file).
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{File, Ring};
/// let ring = Ring::new(8)?;
/// ring.register_files(8)?;
/// let file = File::from(tempfile::tempfile()?);
/// let fixed = ring.register_file(&file)?;
/// drop(file); // the registration keeps its own reference to the open file
/// ring.write_at(&fixed, b"fixed file".to_vec(), 0).submit()?.wait().0?;
/// let (n, buf) = ring.read_at(&fixed, Vec::with_capacity(16), 0).submit()?.wait();
/// assert_eq!(&buf[..n?], b"fixed file");
/// ring.unregister_file(&fixed)?;
/// // A stale handle is refused, never pointed at another file.
/// assert!(ring.read_at(&fixed, Vec::with_capacity(16), 0).submit().is_err());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredFd {
    pub(crate) ring: RingId,
    /// The table it was registered in: every `register_files` call starts a new epoch.
    pub(crate) epoch: u64,
    pub(crate) index: u32,
    pub(crate) generation: u64,
}

impl RegisteredFd {
    /// The slot index in the ring's file table.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{File, Ring};
    /// let ring = Ring::new(8)?;
    /// ring.register_files(4)?;
    /// let (a, b) = (File::from(tempfile::tempfile()?), File::from(tempfile::tempfile()?));
    /// let (fixed_a, fixed_b) = (ring.register_file(&a)?, ring.register_file(&b)?);
    /// assert_eq!((fixed_a.index(), fixed_b.index()), (0, 1)); // the first free slots
    /// ring.unregister_file(&fixed_a)?;
    /// let again = ring.register_file(&a)?;
    /// assert_eq!(again.index(), 0); // the slot is reused...
    /// assert_ne!(again, fixed_a); // ...by a new registration: the old handle stays stale
    /// # Ok(()) }
    /// ```
    pub fn index(&self) -> u32 {
        self.index
    }
}
