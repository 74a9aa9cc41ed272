//! [`OpenOptions`]: how [`Ring::open`](crate::Ring::open) opens a file.
#![forbid(unsafe_code)]

/// Flags for opening a file, as `std::fs::OpenOptions` (which does not expose its flags).
///
/// ```
/// use safer_ring::OpenOptions;
/// let opts = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600);
/// # let _ = opts;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    custom_flags: i32,
    mode: libc::mode_t,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl OpenOptions {
    /// Read-only, mode `0o666` (before umask) for created files.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{OpenOptions, Ring};
    /// let ring = Ring::new(4)?;
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("data.txt");
    /// std::fs::write(&path, b"existing")?;
    /// let file = ring.open(&path, OpenOptions::new()).submit()?.wait()?;
    /// let (n, buf) = ring.read_at(&file, Vec::with_capacity(16), 0).submit()?.wait();
    /// assert_eq!(&buf[..n?], b"existing");
    /// let (res, _) = ring.write_at(&file, b"no".to_vec(), 0).submit()?.wait();
    /// assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EBADF)); // read-only
    /// # Ok(()) }
    /// ```
    pub fn new() -> Self {
        Self {
            read: true,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            custom_flags: 0,
            mode: 0o666,
        }
    }

    /// Open for reading (on by default). Turned off with [`write`](Self::write) on, the file
    /// is opened write-only.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{OpenOptions, Ring};
    /// let ring = Ring::new(4)?;
    /// let dir = tempfile::tempdir()?;
    /// let opts = OpenOptions::new().read(false).write(true).create(true);
    /// let file = ring.open(dir.path().join("w.txt"), opts).submit()?.wait()?;
    /// assert_eq!(ring.write_at(&file, b"ok".to_vec(), 0).submit()?.wait().0?, 2);
    /// let (res, _) = ring.read_at(&file, Vec::with_capacity(2), 0).submit()?.wait();
    /// assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EBADF)); // write-only
    /// # Ok(()) }
    /// ```
    pub fn read(mut self, on: bool) -> Self {
        self.read = on;
        self
    }

    /// Open for writing (with [`read`](Self::read) on, the default: read-write).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{OpenOptions, Ring};
    /// let ring = Ring::new(4)?;
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("rw.txt");
    /// std::fs::write(&path, b"old")?;
    /// let file = ring.open(&path, OpenOptions::new().write(true)).submit()?.wait()?;
    /// ring.write_at(&file, b"new".to_vec(), 0).submit()?.wait().0?;
    /// let (n, buf) = ring.read_at(&file, Vec::with_capacity(8), 0).submit()?.wait();
    /// assert_eq!(&buf[..n?], b"new");
    /// # Ok(()) }
    /// ```
    pub fn write(mut self, on: bool) -> Self {
        self.write = on;
        self
    }

    /// Append to the end (`O_APPEND`); implies write.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{OpenOptions, Ring};
    /// let ring = Ring::new(4)?;
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("log.txt");
    /// std::fs::write(&path, b"one\n")?;
    /// let file = ring.open(&path, OpenOptions::new().append(true)).submit()?.wait()?;
    /// ring.write(&file, b"two\n".to_vec()).submit()?.wait().0?; // at the end, always
    /// assert_eq!(std::fs::read_to_string(&path)?, "one\ntwo\n");
    /// # Ok(()) }
    /// ```
    pub fn append(mut self, on: bool) -> Self {
        self.append = on;
        self
    }

    /// Truncate to zero length (`O_TRUNC`).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{OpenOptions, Ring};
    /// let ring = Ring::new(4)?;
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("t.txt");
    /// std::fs::write(&path, b"old contents")?;
    /// let opts = OpenOptions::new().write(true).truncate(true);
    /// let file = ring.open(&path, opts).submit()?.wait()?;
    /// assert_eq!(ring.statx_file(&file).submit()?.wait()?.len(), 0);
    /// # Ok(()) }
    /// ```
    pub fn truncate(mut self, on: bool) -> Self {
        self.truncate = on;
        self
    }

    /// Create if missing (`O_CREAT`).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{OpenOptions, Ring};
    /// let ring = Ring::new(4)?;
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("new.txt");
    /// let err = ring.open(&path, OpenOptions::new().write(true)).submit()?.wait().unwrap_err();
    /// assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    /// let opts = OpenOptions::new().write(true).create(true);
    /// ring.open(&path, opts).submit()?.wait()?;
    /// ring.open(&path, opts).submit()?.wait()?; // it exists now: opened again
    /// assert!(path.is_file());
    /// # Ok(()) }
    /// ```
    pub fn create(mut self, on: bool) -> Self {
        self.create = on;
        self
    }

    /// Create, failing if it exists (`O_CREAT | O_EXCL`).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{OpenOptions, Ring};
    /// let ring = Ring::new(4)?;
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("lock");
    /// let opts = OpenOptions::new().write(true).create_new(true);
    /// ring.open(&path, opts).submit()?.wait()?;
    /// let err = ring.open(&path, opts).submit()?.wait().unwrap_err();
    /// assert_eq!(err.raw_os_error(), Some(libc::EEXIST));
    /// # Ok(()) }
    /// ```
    pub fn create_new(mut self, on: bool) -> Self {
        self.create_new = on;
        self
    }

    /// Extra `O_*` flags (e.g. `libc::O_DIRECT`).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{OpenOptions, Ring};
    /// let ring = Ring::new(4)?;
    /// let dir = tempfile::tempdir()?;
    /// let only_dirs = OpenOptions::new().custom_flags(libc::O_DIRECTORY);
    /// let opened = ring.open(dir.path(), only_dirs).submit()?.wait()?;
    /// assert!(ring.statx_file(&opened).submit()?.wait()?.is_dir());
    /// let path = dir.path().join("plain.txt");
    /// std::fs::write(&path, b"")?;
    /// let err = ring.open(&path, only_dirs).submit()?.wait().unwrap_err();
    /// assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR));
    /// # Ok(()) }
    /// ```
    pub fn custom_flags(mut self, flags: i32) -> Self {
        self.custom_flags = flags;
        self
    }

    /// Permission bits for a created file (the process's umask still applies; it usually
    /// leaves the owner's bits alone).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{OpenOptions, Ring};
    /// let ring = Ring::new(4)?;
    /// let dir = tempfile::tempdir()?;
    /// let opts = OpenOptions::new().write(true).create(true).mode(0o600);
    /// let file = ring.open(dir.path().join("secret"), opts).submit()?.wait()?;
    /// assert_eq!(ring.statx_file(&file).submit()?.wait()?.permissions(), 0o600);
    /// # Ok(()) }
    /// ```
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode as libc::mode_t;
        self
    }

    pub(crate) fn flags(&self) -> i32 {
        let access = match (self.read, self.write || self.append) {
            (_, false) => libc::O_RDONLY,
            (false, true) => libc::O_WRONLY,
            (true, true) => libc::O_RDWR,
        };
        let mut flags = access | self.custom_flags;
        if self.append {
            flags |= libc::O_APPEND;
        }
        if self.truncate {
            flags |= libc::O_TRUNC;
        }
        if self.create_new {
            flags |= libc::O_CREAT | libc::O_EXCL;
        } else if self.create {
            flags |= libc::O_CREAT;
        }
        flags
    }

    pub(crate) fn mode_bits(&self) -> libc::mode_t {
        self.mode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_match_posix() {
        assert_eq!(OpenOptions::new().flags(), libc::O_RDONLY);
        let w = OpenOptions::new()
            .read(false)
            .write(true)
            .create(true)
            .truncate(true);
        assert_eq!(w.flags(), libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC);
        let rw = OpenOptions::new().append(true).create_new(true);
        assert_eq!(
            rw.flags(),
            libc::O_RDWR | libc::O_APPEND | libc::O_CREAT | libc::O_EXCL
        );
    }
}
