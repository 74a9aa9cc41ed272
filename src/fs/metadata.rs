//! [`Metadata`]: what `statx` reports about a file.
#![forbid(unsafe_code)]

/// File metadata from a `statx` operation.
///
/// # Examples
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// let ring = safer_ring::Ring::new(4)?;
/// let dir = tempfile::tempdir()?;
/// let meta = ring.statx(dir.path()).submit()?.wait()?;
/// assert!(meta.is_dir() && !meta.is_file());
/// let file = safer_ring::File::from(tempfile::tempfile()?);
/// ring.write_at(&file, vec![1u8; 10], 0).submit()?.wait().0?;
/// let meta = ring.statx_file(&file).submit()?.wait()?;
/// assert_eq!((meta.len(), meta.is_file()), (10, true));
/// println!("mode {:o}, block size {}", meta.permissions(), meta.block_size());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Metadata(Box<libc::statx>);

impl Metadata {
    pub(crate) fn from_statx(raw: Box<libc::statx>) -> Self {
        Self(raw)
    }

    /// Size in bytes.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// ring.write_at(&file, vec![1u8; 10], 90).submit()?.wait().0?;
    /// assert_eq!(ring.statx_file(&file).submit()?.wait()?.len(), 100);
    /// # Ok(()) }
    /// ```
    pub fn len(&self) -> u64 {
        self.0.stx_size
    }

    /// Whether the size is zero.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// assert!(ring.statx_file(&file).submit()?.wait()?.is_empty());
    /// ring.write_at(&file, b"x".to_vec(), 0).submit()?.wait().0?;
    /// assert!(!ring.statx_file(&file).submit()?.wait()?.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this is a regular file.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let file = tempfile::NamedTempFile::new()?;
    /// assert!(ring.statx(file.path()).submit()?.wait()?.is_file());
    /// let (reader, _writer) = std::io::pipe()?; // a pipe is neither file nor directory
    /// let pipe = safer_ring::File::from(std::os::fd::OwnedFd::from(reader));
    /// let meta = ring.statx_file(&pipe).submit()?.wait()?;
    /// assert!(!meta.is_file() && !meta.is_dir());
    /// # Ok(()) }
    /// ```
    pub fn is_file(&self) -> bool {
        self.file_type() == libc::S_IFREG
    }

    /// Whether this is a directory.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let dir = tempfile::tempdir()?;
    /// assert!(ring.statx(dir.path()).submit()?.wait()?.is_dir());
    /// std::fs::write(dir.path().join("f"), b"")?;
    /// assert!(!ring.statx(dir.path().join("f")).submit()?.wait()?.is_dir());
    /// # Ok(()) }
    /// ```
    pub fn is_dir(&self) -> bool {
        self.file_type() == libc::S_IFDIR
    }

    /// Permission bits (`0o7777`).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::os::unix::fs::PermissionsExt;
    /// let ring = safer_ring::Ring::new(4)?;
    /// let file = tempfile::NamedTempFile::new()?;
    /// std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o640))?;
    /// assert_eq!(ring.statx(file.path()).submit()?.wait()?.permissions(), 0o640);
    /// # Ok(()) }
    /// ```
    pub fn permissions(&self) -> u32 {
        u32::from(self.0.stx_mode) & 0o7777
    }

    /// Preferred I/O block size.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::os::unix::fs::MetadataExt;
    /// let ring = safer_ring::Ring::new(4)?;
    /// let file = tempfile::NamedTempFile::new()?;
    /// let meta = ring.statx(file.path()).submit()?.wait()?;
    /// assert_eq!(u64::from(meta.block_size()), std::fs::metadata(file.path())?.blksize());
    /// assert!(meta.block_size() > 0);
    /// # Ok(()) }
    /// ```
    pub fn block_size(&self) -> u32 {
        self.0.stx_blksize
    }

    /// Modification time, seconds since the epoch.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::time::{Duration, UNIX_EPOCH};
    /// let ring = safer_ring::Ring::new(4)?;
    /// let std_file = tempfile::tempfile()?;
    /// std_file.set_modified(UNIX_EPOCH + Duration::from_secs(1_000_000_000))?;
    /// let file = safer_ring::File::from(std_file);
    /// assert_eq!(ring.statx_file(&file).submit()?.wait()?.modified_secs(), 1_000_000_000);
    /// # Ok(()) }
    /// ```
    pub fn modified_secs(&self) -> i64 {
        self.0.stx_mtime.tv_sec
    }

    /// The raw `statx` record, for the fields this type has no method for.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::os::unix::fs::MetadataExt;
    /// let ring = safer_ring::Ring::new(4)?;
    /// let file = tempfile::NamedTempFile::new()?;
    /// let meta = ring.statx(file.path()).submit()?.wait()?;
    /// let raw: &libc::statx = meta.raw();
    /// let std_meta = std::fs::metadata(file.path())?;
    /// assert_eq!((raw.stx_ino, u64::from(raw.stx_nlink)), (std_meta.ino(), std_meta.nlink()));
    /// # Ok(()) }
    /// ```
    pub fn raw(&self) -> &libc::statx {
        &self.0
    }

    fn file_type(&self) -> u32 {
        u32::from(self.0.stx_mode) & libc::S_IFMT
    }
}

impl std::fmt::Debug for Metadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metadata")
            .field("len", &self.len())
            .field("is_file", &self.is_file())
            .field("is_dir", &self.is_dir())
            .field("permissions", &format_args!("{:o}", self.permissions()))
            .finish()
    }
}
