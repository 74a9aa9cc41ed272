//! [`File`]: an owned fd that operations keep open while they run.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::fd::{AsTarget, SharedFd, Target, sealed};

/// An open file (or pipe, or any fd) for use with a [`Ring`](crate::Ring).
///
/// Every operation on a `File` holds a shared handle to its fd until the operation's final
/// completion, so dropping the `File` while operations are in flight defers the close until
/// they are done: an fd number is never closed and reused under an in-flight operation
/// (invariant 6). Converts from the `std` types.
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// let std_file = tempfile::tempfile()?;
/// let file = safer_ring::File::from(std_file);
/// # let _ = file; Ok(()) }
/// ```
#[derive(Debug)]
pub struct File {
    fd: SharedFd,
}

impl File {
    pub(crate) fn shared(&self) -> SharedFd {
        self.fd.clone()
    }

    /// Takes the fd back if no operation holds it; otherwise returns the file unchanged.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::io::Read;
    /// let ring = safer_ring::Ring::new(4)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// ring.write_at(&file, b"owned again".to_vec(), 0).submit()?.wait().0?;
    /// let fd = file.try_into_owned_fd().expect("no operation holds the fd");
    /// let mut text = String::new();
    /// std::fs::File::from(fd).read_to_string(&mut text)?;
    /// assert_eq!(text, "owned again");
    /// # Ok(()) }
    /// ```
    pub fn try_into_owned_fd(self) -> Result<OwnedFd, Self> {
        self.fd.try_unwrap().map_err(|fd| Self { fd })
    }

    /// Converts into a `std::fs::File` if no operation holds the fd.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::io::Write;
    /// let ring = safer_ring::Ring::new(4)?;
    /// let (reader, mut writer) = std::io::pipe()?;
    /// let reader = safer_ring::File::from(std::os::fd::OwnedFd::from(reader));
    /// let read = ring.read(&reader, Vec::with_capacity(8)).submit()?;
    /// // The read in flight holds the fd: the file comes back unchanged.
    /// let reader = reader.try_into_std().expect_err("a read holds the fd");
    /// writer.write_all(b"x")?;
    /// let (n, buf) = read.wait();
    /// assert_eq!((n?, &buf[..]), (1, &b"x"[..]));
    /// let _std: std::fs::File = reader.try_into_std().expect("the read is done");
    /// # Ok(()) }
    /// ```
    pub fn try_into_std(self) -> Result<std::fs::File, Self> {
        self.try_into_owned_fd().map(std::fs::File::from)
    }

    /// A `std::fs::File` sharing this file's open file description (`dup`), for blocking
    /// calls such as `metadata` or `set_len` alongside the ring.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// ring.write_at(&file, vec![0u8; 100], 0).submit()?.wait().0?;
    /// let std_file = file.try_clone_std()?;
    /// assert_eq!(std_file.metadata()?.len(), 100);
    /// std_file.set_len(10)?; // the same file: the ring sees it
    /// assert_eq!(ring.statx_file(&file).submit()?.wait()?.len(), 10);
    /// # Ok(()) }
    /// ```
    pub fn try_clone_std(&self) -> std::io::Result<std::fs::File> {
        self.fd.as_owned().try_clone().map(std::fs::File::from)
    }
}

impl From<OwnedFd> for File {
    fn from(fd: OwnedFd) -> Self {
        Self {
            fd: SharedFd::new(fd),
        }
    }
}

impl From<std::fs::File> for File {
    fn from(file: std::fs::File) -> Self {
        Self::from(OwnedFd::from(file))
    }
}

impl FromRawFd for File {
    /// # Safety
    /// `fd` must be an open fd that nothing else owns or will close (raw fds enter only
    /// through this `unsafe` constructor: invariant 6).
    #[allow(unsafe_code)]
    unsafe fn from_raw_fd(fd: RawFd) -> Self {
        // SAFETY: forwarded from this function's contract (invariant 6).
        Self::from(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_owned().as_fd()
    }
}

impl sealed::Sealed for File {}

impl AsTarget for File {
    #[inline]
    fn target(&self) -> Target {
        Target::fd(self.shared())
    }
}
