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
    pub fn len(&self) -> u64 {
        self.0.stx_size
    }

    /// Whether the size is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.file_type() == libc::S_IFREG
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type() == libc::S_IFDIR
    }

    /// Permission bits (`0o7777`).
    pub fn permissions(&self) -> u32 {
        u32::from(self.0.stx_mode) & 0o7777
    }

    /// Preferred I/O block size.
    pub fn block_size(&self) -> u32 {
        self.0.stx_blksize
    }

    /// Modification time, seconds since the epoch.
    pub fn modified_secs(&self) -> i64 {
        self.0.stx_mtime.tv_sec
    }

    /// The raw `statx` record.
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
