//! The ring's file operations.
#![forbid(unsafe_code)]

use std::path::Path;

use super::opcodes::{
    CURRENT_POSITION, Close, Fallocate, Fsync, KernelPath, OpenAt, Read, ReadFixed, Readv, Splice,
    Statx, Write, WriteFixed, Writev,
};
use super::{File, OpenOptions};
use crate::buf::PooledBuffer;
use crate::buf::{IoBuf, IoBufMut};
use crate::error::SubmitError;
use crate::fd::AsTarget;
use crate::op::Operation;
use crate::ring::Ring;

pub use crate::op::Op;

impl Ring {
    /// Reads into `buf` at the file's current position (pipes, sockets, sequential files).
    /// Fills up to `buf.bytes_total()` bytes; the buffer comes back with its length set to
    /// the bytes read. A short read is reported as such; 0 means end of file.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::io::Write;
    /// let ring = safer_ring::Ring::new(4)?;
    /// let (reader, mut writer) = std::io::pipe()?;
    /// let reader = safer_ring::File::from(std::os::fd::OwnedFd::from(reader));
    /// writer.write_all(b"from a pipe")?;
    /// let (n, buf) = ring.read(&reader, Vec::with_capacity(64)).submit()?.wait();
    /// assert_eq!(&buf[..n?], b"from a pipe");
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn read<B: IoBufMut>(&self, file: &impl AsTarget, buf: B) -> Op<'_, Read<B>> {
        self.read_named("read", file, buf, CURRENT_POSITION)
    }

    /// Reads into `buf` at `offset` (a positioned read, `pread`).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// ring.write_at(&file, b"0123456789".to_vec(), 0).submit()?.wait().0?;
    /// let (n, buf) = ring.read_at(&file, Vec::with_capacity(4), 6).submit()?.wait();
    /// assert_eq!(n?, 4);
    /// assert_eq!(buf, b"6789");
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn read_at<B: IoBufMut>(
        &self,
        file: &impl AsTarget,
        buf: B,
        offset: u64,
    ) -> Op<'_, Read<B>> {
        self.read_named("read_at", file, buf, offset)
    }

    #[inline]
    fn read_named<B: IoBufMut>(
        &self,
        op: &'static str,
        file: &impl AsTarget,
        buf: B,
        offset: u64,
    ) -> Op<'_, Read<B>> {
        let fd = file.target();
        Operation::build(
            self,
            Read {
                op,
                fd,
                buf,
                offset,
                buf_pos: 0,
            },
        )
    }

    /// Writes `buf`'s initialised bytes at the file's current position.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::io::Read;
    /// let ring = safer_ring::Ring::new(4)?;
    /// let (mut reader, writer) = std::io::pipe()?;
    /// let writer = safer_ring::File::from(std::os::fd::OwnedFd::from(writer));
    /// let (n, _buf) = ring.write(&writer, b"into a pipe".to_vec()).submit()?.wait();
    /// assert_eq!(n?, 11);
    /// drop(writer);
    /// let mut got = String::new();
    /// reader.read_to_string(&mut got)?;
    /// assert_eq!(got, "into a pipe");
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn write<B: IoBuf>(&self, file: &impl AsTarget, buf: B) -> Op<'_, Write<B>> {
        self.write_named("write", file, buf, CURRENT_POSITION)
    }

    /// Writes `buf`'s initialised bytes at `offset` (`pwrite`). May write fewer bytes than
    /// asked (reported); see [`write_all_at`](Ring::write_all_at).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// let (n, buf) = ring.write_at(&file, b"at offset 4".to_vec(), 4).submit()?.wait();
    /// assert_eq!(n?, buf.len()); // may be short in general: `write_all_at` loops
    /// assert_eq!(ring.statx_file(&file).submit()?.wait()?.len(), 15);
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn write_at<B: IoBuf>(
        &self,
        file: &impl AsTarget,
        buf: B,
        offset: u64,
    ) -> Op<'_, Write<B>> {
        self.write_named("write_at", file, buf, offset)
    }

    #[inline]
    fn write_named<B: IoBuf>(
        &self,
        op: &'static str,
        file: &impl AsTarget,
        buf: B,
        offset: u64,
    ) -> Op<'_, Write<B>> {
        let fd = file.target();
        Operation::build(
            self,
            Write {
                op,
                fd,
                buf,
                offset,
                buf_pos: 0,
            },
        )
    }

    /// Reads into a buffer of the pool registered with this ring (`READ_FIXED`): the kernel
    /// skips mapping the buffer's pages per operation. See [`Ring::register_pool`].
    ///
    /// # Errors
    /// Submission fails with [`RingMismatch`](crate::SaferRingError::RingMismatch) if `buf`'s
    /// pool is not the one registered with this ring (the buffer comes back).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{BufferPool, File, Ring, SaferRingError};
    /// let ring = Ring::new(4)?;
    /// let file = File::from(tempfile::tempfile()?);
    /// ring.write_at(&file, b"0123456789".to_vec(), 0).submit()?.wait().0?;
    /// let pool = BufferPool::new(2, 4096)?;
    /// ring.register_pool(&pool)?;
    /// let (n, buf) = ring.read_fixed_at(&file, pool.try_get().unwrap(), 4).submit()?.wait();
    /// assert_eq!(n?, 6);
    /// assert_eq!(buf.as_slice(), b"456789");
    ///
    /// let unregistered = BufferPool::new(1, 4096)?;
    /// let buf = unregistered.try_get().unwrap();
    /// let err = ring.read_fixed_at(&file, buf, 0).submit().unwrap_err();
    /// assert!(matches!(err.error(), SaferRingError::RingMismatch { .. }));
    /// let (_, buf) = err.into_output(); // the buffer comes back
    /// assert_eq!(buf.index(), 0);
    /// # Ok(()) }
    /// ```
    pub fn read_fixed_at(
        &self,
        file: &impl AsTarget,
        buf: PooledBuffer,
        offset: u64,
    ) -> Op<'_, ReadFixed> {
        let fd = file.target();
        Operation::build(
            self,
            ReadFixed {
                fd,
                buf,
                offset,
                claim: None,
            },
        )
    }

    /// Writes a registered pool buffer's data (its [`len`](PooledBuffer::len) bytes) at
    /// `offset` (`WRITE_FIXED`). The errors are [`read_fixed_at`](Ring::read_fixed_at)'s.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use std::io::Read;
    /// use safer_ring::{BufferPool, File, Ring};
    /// let ring = Ring::new(4)?;
    /// let pool = BufferPool::new(2, 4096)?;
    /// ring.register_pool(&pool)?;
    /// let mut std_file = tempfile::tempfile()?;
    /// let file = File::from(std_file.try_clone()?);
    /// let mut buf = pool.try_get().unwrap();
    /// buf.as_mut_capacity()[..5].copy_from_slice(b"fixed");
    /// buf.set_len(5);
    /// let (n, _buf) = ring.write_fixed_at(&file, buf, 0).submit()?.wait();
    /// assert_eq!(n?, 5);
    /// let mut text = String::new();
    /// std_file.read_to_string(&mut text)?;
    /// assert_eq!(text, "fixed");
    /// # Ok(()) }
    /// ```
    pub fn write_fixed_at(
        &self,
        file: &impl AsTarget,
        buf: PooledBuffer,
        offset: u64,
    ) -> Op<'_, WriteFixed> {
        let fd = file.target();
        Operation::build(
            self,
            WriteFixed {
                fd,
                buf,
                offset,
                claim: None,
            },
        )
    }

    /// Reads into several buffers in order at `offset` (`preadv`).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// ring.write_at(&file, b"abcdef".to_vec(), 0).submit()?.wait().0?;
    /// let bufs = vec![Vec::with_capacity(2), Vec::with_capacity(4)];
    /// let (n, bufs) = ring.readv_at(&file, bufs, 0).submit()?.wait();
    /// assert_eq!(n?, 6);
    /// assert_eq!(bufs, [b"ab".to_vec(), b"cdef".to_vec()]);
    /// # Ok(()) }
    /// ```
    pub fn readv_at<B: IoBufMut>(
        &self,
        file: &impl AsTarget,
        bufs: Vec<B>,
        offset: u64,
    ) -> Op<'_, Readv<B>> {
        let iovecs = Vec::with_capacity(bufs.len());
        let fd = file.target();
        Operation::build(
            self,
            Readv {
                fd,
                bufs,
                iovecs,
                offset,
            },
        )
    }

    /// Writes several buffers in order at `offset` (`pwritev`): each buffer's initialised
    /// bytes, one after the other. Refused at submission with no buffer or more than 1024.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// let bufs = vec![b"head ".to_vec(), Vec::new(), b"tail".to_vec()];
    /// let (n, bufs) = ring.writev_at(&file, bufs, 2).submit()?.wait();
    /// assert_eq!((n?, bufs.len()), (9, 3));
    /// let (n, buf) = ring.read_at(&file, Vec::with_capacity(16), 0).submit()?.wait();
    /// assert_eq!(&buf[..n?], b"\0\0head tail");
    /// # Ok(()) }
    /// ```
    pub fn writev_at<B: IoBuf>(
        &self,
        file: &impl AsTarget,
        bufs: Vec<B>,
        offset: u64,
    ) -> Op<'_, Writev<B>> {
        let iovecs = Vec::with_capacity(bufs.len());
        let fd = file.target();
        Operation::build(
            self,
            Writev {
                fd,
                bufs,
                iovecs,
                offset,
            },
        )
    }

    /// Flushes the file's data and metadata to storage (`fsync`).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// ring.write_at(&file, b"durable".to_vec(), 0).submit()?.wait().0?;
    /// ring.fsync(&file).submit()?.wait()?;
    /// let (reader, _writer) = std::io::pipe()?;
    /// let pipe = safer_ring::File::from(std::os::fd::OwnedFd::from(reader));
    /// let err = ring.fsync(&pipe).submit()?.wait().unwrap_err(); // nothing to sync
    /// assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    /// # Ok(()) }
    /// ```
    pub fn fsync(&self, file: &impl AsTarget) -> Op<'_, Fsync> {
        let fd = file.target();
        Operation::build(
            self,
            Fsync {
                fd,
                datasync: false,
            },
        )
    }

    /// Flushes the file's data (and metadata needed to read it) to storage (`fdatasync`).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(8)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// // Write, then sync the data once the write succeeded.
    /// let ((n, _), synced) = ring
    ///     .chain((ring.write_at(&file, b"data".to_vec(), 0), ring.fdatasync(&file)))
    ///     .submit()?
    ///     .wait();
    /// assert_eq!((n?, synced?), (4, ()));
    /// # Ok(()) }
    /// ```
    pub fn fdatasync(&self, file: &impl AsTarget) -> Op<'_, Fsync> {
        let fd = file.target();
        Operation::build(self, Fsync { fd, datasync: true })
    }

    /// Allocates (or, with `mode`, punches or zeroes) `len` bytes at `offset` (`fallocate`).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// // Reserve space without changing the size, then grow the file.
    /// ring.fallocate(&file, 0, 1 << 20, libc::FALLOC_FL_KEEP_SIZE).submit()?.wait()?;
    /// assert_eq!(ring.statx_file(&file).submit()?.wait()?.len(), 0);
    /// ring.fallocate(&file, 0, 4096, 0).submit()?.wait()?;
    /// assert_eq!(ring.statx_file(&file).submit()?.wait()?.len(), 4096);
    /// let err = ring.fallocate(&file, 0, 0, 0).submit()?.wait().unwrap_err();
    /// assert_eq!(err.raw_os_error(), Some(libc::EINVAL)); // an empty range
    /// # Ok(()) }
    /// ```
    pub fn fallocate(
        &self,
        file: &impl AsTarget,
        offset: u64,
        len: u64,
        mode: i32,
    ) -> Op<'_, Fallocate> {
        let fd = file.target();
        Operation::build(
            self,
            Fallocate {
                fd,
                offset,
                len,
                mode,
            },
        )
    }

    /// Moves up to `len` bytes from `from` to `to` inside the kernel (`splice`); one of the
    /// two must be a pipe. `None` for an offset means the fd's current position (required for
    /// the pipe). Returns the bytes moved; 0 at end of input. Linked after another splice
    /// (see [`Ring::chain`]), a short splice cancels the next entry.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::io::Read;
    /// let ring = safer_ring::Ring::new(4)?;
    /// let file = safer_ring::File::from(tempfile::tempfile()?);
    /// ring.write_at(&file, b"spliced".to_vec(), 0).submit()?.wait().0?;
    /// let (mut rx, tx) = std::io::pipe()?;
    /// let tx = safer_ring::File::from(std::os::fd::OwnedFd::from(tx));
    /// assert_eq!(ring.splice(&file, Some(0), &tx, None, 64).submit()?.wait()?, 7);
    /// drop(tx);
    /// let mut out = String::new();
    /// rx.read_to_string(&mut out)?;
    /// assert_eq!(out, "spliced");
    /// # Ok(()) }
    /// ```
    pub fn splice(
        &self,
        from: &impl AsTarget,
        from_offset: Option<u64>,
        to: &impl AsTarget,
        to_offset: Option<u64>,
        len: u32,
    ) -> Op<'_, Splice> {
        let offset = |o: Option<u64>| o.map_or(-1, |o| i64::try_from(o).unwrap_or(i64::MIN));
        Operation::build(
            self,
            Splice {
                fd_in: from.target(),
                off_in: offset(from_offset),
                fd_out: to.target(),
                off_out: offset(to_offset),
                len,
            },
        )
    }

    /// Opens `path` (relative paths from the current directory). The file is always opened
    /// close-on-exec. A path containing a NUL byte is refused at submission.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{OpenOptions, Ring};
    /// let ring = Ring::new(4)?;
    /// let dir = tempfile::tempdir()?;
    /// let opts = OpenOptions::new().write(true).create(true);
    /// let file = ring.open(dir.path().join("new.txt"), opts).submit()?.wait()?;
    /// ring.write_at(&file, b"hi".to_vec(), 0).submit()?.wait().0?;
    /// assert_eq!(ring.statx_file(&file).submit()?.wait()?.len(), 2);
    /// # Ok(()) }
    /// ```
    pub fn open(&self, path: impl AsRef<Path>, options: OpenOptions) -> Op<'_, OpenAt> {
        open_op(self, "open", None, path.as_ref(), options)
    }

    /// Opens `path` relative to the directory `dir` (`openat`); absolute paths ignore `dir`.
    /// `None` for `dir` is the current directory, as [`open`](Ring::open).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{File, OpenOptions, Ring};
    /// let ring = Ring::new(4)?;
    /// let tmp = tempfile::tempdir()?;
    /// let dir = File::from(std::fs::File::open(tmp.path())?);
    /// let opts = OpenOptions::new().write(true).create_new(true);
    /// let file = ring.open_at(Some(&dir), "inside.txt", opts).submit()?.wait()?;
    /// ring.write_at(&file, b"relative".to_vec(), 0).submit()?.wait().0?;
    /// assert_eq!(std::fs::read(tmp.path().join("inside.txt"))?, b"relative");
    /// # Ok(()) }
    /// ```
    pub fn open_at(
        &self,
        dir: Option<&File>,
        path: impl AsRef<Path>,
        options: OpenOptions,
    ) -> Op<'_, OpenAt> {
        open_op(self, "open_at", dir, path.as_ref(), options)
    }

    /// Metadata of the file at `path` (`statx`), following symlinks. Errors name the path.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("target"), b"12345")?;
    /// std::os::unix::fs::symlink("target", dir.path().join("link"))?;
    /// let meta = ring.statx(dir.path().join("link")).submit()?.wait()?;
    /// assert_eq!((meta.is_file(), meta.len()), (true, 5)); // the link's target
    /// let err = ring.statx(dir.path().join("gone")).submit()?.wait().unwrap_err();
    /// assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    /// assert!(err.to_string().contains("gone"), "{err}");
    /// # Ok(()) }
    /// ```
    pub fn statx(&self, path: impl AsRef<Path>) -> Op<'_, Statx> {
        Operation::build(
            self,
            Statx {
                dir: None,
                path: KernelPath::new(path.as_ref()),
                flags: 0,
                buf: crate::sys::zeroed_statx(),
            },
        )
    }

    /// Metadata of an open file (`statx` with `AT_EMPTY_PATH`).
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// let tmp = tempfile::NamedTempFile::new()?;
    /// let file = safer_ring::File::from(tmp.reopen()?);
    /// tmp.close()?; // removes the path: the open file still has metadata
    /// ring.write_at(&file, b"unlinked".to_vec(), 0).submit()?.wait().0?;
    /// let meta = ring.statx_file(&file).submit()?.wait()?;
    /// assert_eq!((meta.is_file(), meta.len(), meta.raw().stx_nlink), (true, 8, 0));
    /// # Ok(()) }
    /// ```
    pub fn statx_file(&self, file: &File) -> Op<'_, Statx> {
        Operation::build(
            self,
            Statx {
                dir: Some(file.shared()),
                path: KernelPath::new(Path::new("")),
                flags: libc::AT_EMPTY_PATH,
                buf: crate::sys::zeroed_statx(),
            },
        )
    }

    /// Closes `file` through the ring.
    ///
    /// # Errors
    /// If an operation still holds the file, closing now would race it (invariant 6): the
    /// file comes back in [`SubmitError`] with [`InUse`](crate::SaferRingError::InUse).
    /// (Dropping a `File` instead always works: the close is deferred until the last
    /// operation using it completes.)
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::{File, SaferRingError};
    /// let ring = safer_ring::Ring::new(4)?;
    /// let (reader, _writer) = std::io::pipe()?;
    /// let reader = File::from(std::os::fd::OwnedFd::from(reader));
    /// let read = ring.read(&reader, vec![0u8; 8]).submit()?; // holds the file
    /// let err = ring.close(reader).unwrap_err();
    /// assert!(matches!(err.error(), SaferRingError::InUse { .. }));
    /// let reader = err.into_inner(); // the file comes back
    /// let (res, _buf) = read.cancel().wait();
    /// assert!(res.is_err());
    /// ring.close(reader)?.submit()?.wait()?; // nothing holds it now
    /// # Ok(()) }
    /// ```
    pub fn close(&self, file: File) -> Result<Op<'_, Close>, SubmitError<File>> {
        match file.try_into_owned_fd() {
            Ok(fd) => Ok(Operation::build(self, Close { fd: Some(fd) })),
            Err(file) => Err(SubmitError::new(
                crate::SaferRingError::InUse { what: "file" },
                file,
            )),
        }
    }
}

/// The `openat` behind [`Ring::open`] and [`Ring::open_at`] (`op` names which, in errors).
fn open_op<'ring>(
    ring: &'ring Ring,
    op: &'static str,
    dir: Option<&File>,
    path: &Path,
    options: OpenOptions,
) -> Op<'ring, OpenAt> {
    Operation::build(
        ring,
        OpenAt {
            op,
            dir: dir.map(File::shared),
            path: KernelPath::new(path),
            flags: options.flags(),
            mode: options.mode_bits(),
        },
    )
}
