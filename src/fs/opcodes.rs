//! File operations: the opcodes behind [`Ring::read_at`](crate::Ring::read_at),
//! [`Ring::write_at`](crate::Ring::write_at) and friends, with the fixed-buffer ones
//! ([`ReadFixed`], [`WriteFixed`]).
#![allow(unsafe_code)]

use std::ffi::CString;
use std::os::fd::{IntoRawFd, OwnedFd};

use io_uring::opcode;
use io_uring::squeue::Entry;
use io_uring::types::{self, FsyncFlags};

pub use super::fixed::{ReadFixed, WriteFixed};
use super::{File, Metadata};
use crate::buf::{IoBuf, IoBufMut, clamp_len};
use crate::error::{Result, SaferRingError, Subject};
use crate::fd::{SharedFd, Target, with_target};
use crate::op::{BufResult, OpCode, Positioned, cqe_result, filled};
use crate::ring::slots::CqeResult;

/// Offset meaning "the file's current position" (and advance it).
pub(crate) const CURRENT_POSITION: u64 = u64::MAX;

/// `read` / `read_at` into an owned buffer, from byte `buf_pos` of the buffer on: what
/// [`Ring::read`](crate::Ring::read) and [`Ring::read_at`](crate::Ring::read_at) build. Its
/// errors name the method that made it.
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{File, Ring, fs::opcodes::Read, op::Op};
/// let ring = Ring::new(4)?;
/// let file = File::from(tempfile::tempfile()?);
/// ring.write_at(&file, b"abc".to_vec(), 0).submit()?.wait().0?;
/// let op: Op<'_, Read<Vec<u8>>> = ring.read_at(&file, Vec::with_capacity(8), 1);
/// let (n, buf) = op.submit()?.wait();
/// assert_eq!((n?, &buf[..]), (2, &b"bc"[..]));
/// let (reader, writer) = std::io::pipe()?;
/// drop(reader);
/// let write_only = File::from(std::os::fd::OwnedFd::from(writer));
/// let (res, _buf) = ring.read(&write_only, Vec::with_capacity(8)).submit()?.wait();
/// let err = res.unwrap_err();
/// assert_eq!(err.raw_os_error(), Some(libc::EBADF));
/// assert!(err.to_string().starts_with("read failed"), "{err}");
/// # Ok(()) }
/// ```
pub struct Read<B> {
    /// The method that made it, for errors (`read`, `read_at`, `read_exact_at`).
    pub(crate) op: &'static str,
    pub(crate) fd: Target,
    pub(crate) buf: B,
    pub(crate) offset: u64,
    pub(crate) buf_pos: usize,
}

// SAFETY: invariants 1, 2, 6 — the SQE points into `buf`'s heap memory (stable by `IoBufMut`'s
// contract) within its `bytes_total`, and names the fd `self.fd` holds open.
unsafe impl<B: IoBufMut> OpCode for Read<B> {
    type Output = BufResult<usize, B>;
    const NAME: &'static str = "read_at";
    const CODE: u8 = opcode::Read::CODE;

    fn name(&self) -> &'static str {
        self.op
    }

    #[cfg(feature = "tracing")]
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.fd.raw_fd()
    }

    #[inline]
    fn sqe(&mut self) -> Entry {
        let len = clamp_len(self.buf.bytes_total() - self.buf_pos);
        let ptr = self.buf.stable_mut_ptr().wrapping_add(self.buf_pos);
        with_target!(self.fd, |fd| opcode::Read::new(fd, ptr, len)
            .offset(self.offset)
            .build())
    }

    #[inline]
    fn complete(self, cqe: CqeResult) -> Self::Output {
        filled(self.op, cqe, self.buf, self.buf_pos)
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        (Err(error), self.buf)
    }

    #[inline]
    fn validate(&mut self, ring: &crate::Ring) -> Result<()> {
        self.fd.bind(ring)?;
        if self.buf_pos >= self.buf.bytes_total() && self.buf.bytes_total() > 0 {
            return Err(SaferRingError::InvalidArgument(
                "read buffer has no room left",
            ));
        }
        Ok(())
    }

    #[inline]
    fn before_submit(&mut self) {
        self.buf.on_taken();
    }
}

impl<B: IoBufMut> Positioned for Read<B> {
    fn set_offset(&mut self, offset: u64) {
        self.offset = offset;
    }
}

/// `write` / `write_at` from an owned buffer's initialised bytes, from byte `buf_pos` on:
/// what [`Ring::write`](crate::Ring::write) and [`Ring::write_at`](crate::Ring::write_at)
/// build.
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{File, Ring, fs::opcodes::Write, op::Op};
/// let ring = Ring::new(4)?;
/// let file = File::from(tempfile::tempfile()?);
/// let boxed: Box<[u8]> = Box::from(&b"boxed bytes"[..]);
/// let op: Op<'_, Write<Box<[u8]>>> = ring.write_at(&file, boxed, 0);
/// let (n, buf) = op.submit()?.wait();
/// assert_eq!((n?, &buf[..]), (11, &b"boxed bytes"[..])); // the buffer comes back
/// let (res, _) = ring.write_at(&file, Vec::<u8>::new(), 0).submit()?.wait();
/// assert_eq!(res?, 0); // nothing initialised, nothing written
/// # Ok(()) }
/// ```
pub struct Write<B> {
    /// The method that made it, for errors (`write`, `write_at`, `write_all_at`).
    pub(crate) op: &'static str,
    pub(crate) fd: Target,
    pub(crate) buf: B,
    pub(crate) offset: u64,
    pub(crate) buf_pos: usize,
}

// SAFETY: invariants 1, 2, 6 — the SQE points into `buf`'s heap memory (stable by `IoBuf`'s
// contract) within its `bytes_init`, and names the fd `self.fd` holds open.
unsafe impl<B: IoBuf> OpCode for Write<B> {
    type Output = BufResult<usize, B>;
    const NAME: &'static str = "write_at";
    const CODE: u8 = opcode::Write::CODE;

    fn name(&self) -> &'static str {
        self.op
    }

    #[cfg(feature = "tracing")]
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.fd.raw_fd()
    }

    #[inline]
    fn sqe(&mut self) -> Entry {
        let len = clamp_len(self.buf.bytes_init().saturating_sub(self.buf_pos));
        let ptr = self.buf.stable_ptr().wrapping_add(self.buf_pos);
        with_target!(self.fd, |fd| opcode::Write::new(fd, ptr, len)
            .offset(self.offset)
            .build())
    }

    #[inline]
    fn complete(self, cqe: CqeResult) -> Self::Output {
        (cqe_result(self.op, cqe).map(|n| n as usize), self.buf)
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        (Err(error), self.buf)
    }

    #[inline]
    fn validate(&mut self, ring: &crate::Ring) -> Result<()> {
        self.fd.bind(ring)
    }
}

impl<B: IoBuf> Positioned for Write<B> {
    fn set_offset(&mut self, offset: u64) {
        self.offset = offset;
    }
}

/// Positioned vectored read into several owned buffers: what
/// [`Ring::readv_at`](crate::Ring::readv_at) builds. Refused at submission with no buffer or
/// more than 1024 (`UIO_MAXIOV`).
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{File, Ring, fs::opcodes::Readv, op::Op};
/// let ring = Ring::new(4)?;
/// let file = File::from(tempfile::tempfile()?);
/// ring.write_at(&file, b"abc".to_vec(), 0).submit()?.wait().0?;
/// let bufs = vec![Vec::with_capacity(2), Vec::with_capacity(2)];
/// let op: Op<'_, Readv<Vec<u8>>> = ring.readv_at(&file, bufs, 0);
/// let (n, bufs) = op.submit()?.wait();
/// assert_eq!(n?, 3);
/// assert_eq!(bufs, [b"ab".to_vec(), b"c".to_vec()]); // filled in order
/// let none: Vec<Vec<u8>> = Vec::new();
/// let err = ring.readv_at(&file, none, 0).submit().unwrap_err();
/// assert!(matches!(err.error(), safer_ring::SaferRingError::InvalidArgument(_)));
/// # Ok(()) }
/// ```
pub struct Readv<B> {
    pub(crate) fd: Target,
    pub(crate) bufs: Vec<B>,
    pub(crate) iovecs: Vec<libc::iovec>,
    pub(crate) offset: u64,
}

// SAFETY: invariants 1, 2, 6 — the iovec array is a heap Vec owned by `self` and not touched
// after `sqe`; each iovec points into one of `bufs`' stable heap memory within `bytes_total`.
unsafe impl<B: IoBufMut> OpCode for Readv<B> {
    type Output = BufResult<usize, Vec<B>>;
    const NAME: &'static str = "readv_at";
    const CODE: u8 = opcode::Readv::CODE;

    #[cfg(feature = "tracing")]
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.fd.raw_fd()
    }

    fn sqe(&mut self) -> Entry {
        self.iovecs.clear();
        self.iovecs
            .extend(self.bufs.iter_mut().map(|b| libc::iovec {
                iov_base: b.stable_mut_ptr().cast(),
                iov_len: b.bytes_total(),
            }));
        let (iov, n) = (self.iovecs.as_ptr(), self.iovecs.len() as u32);
        with_target!(self.fd, |fd| opcode::Readv::new(fd, iov, n)
            .offset(self.offset)
            .build())
    }

    fn complete(mut self, cqe: CqeResult) -> Self::Output {
        let n = match cqe_result(Self::NAME, cqe) {
            Ok(n) => n as usize,
            Err(e) => return (Err(e), self.bufs),
        };
        let mut left = n;
        for buf in &mut self.bufs {
            let filled = left.min(buf.bytes_total());
            // SAFETY: the kernel filled the iovecs in order with `n` bytes in total, so this
            // buffer's first `filled` bytes are initialised.
            unsafe { buf.set_init(filled) };
            left -= filled;
        }
        (Ok(n), self.bufs)
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        (Err(error), self.bufs)
    }

    fn validate(&mut self, ring: &crate::Ring) -> Result<()> {
        self.fd.bind(ring)?;
        validate_iov_count(self.bufs.len())
    }

    fn before_submit(&mut self) {
        self.bufs.iter_mut().for_each(IoBufMut::on_taken);
    }
}

/// Positioned vectored write from several owned buffers: what
/// [`Ring::writev_at`](crate::Ring::writev_at) builds.
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{File, Ring, fs::opcodes::Writev, op::Op};
/// let ring = Ring::new(4)?;
/// let file = File::from(tempfile::tempfile()?);
/// let bufs = vec![b"ab".to_vec(), b"cd".to_vec()];
/// let op: Op<'_, Writev<Vec<u8>>> = ring.writev_at(&file, bufs, 0);
/// let (n, bufs) = op.submit()?.wait();
/// assert_eq!((n?, bufs.len()), (4, 2)); // the buffers come back
/// let (n, buf) = ring.read_at(&file, Vec::with_capacity(8), 0).submit()?.wait();
/// assert_eq!(&buf[..n?], b"abcd");
/// # Ok(()) }
/// ```
pub struct Writev<B> {
    pub(crate) fd: Target,
    pub(crate) bufs: Vec<B>,
    pub(crate) iovecs: Vec<libc::iovec>,
    pub(crate) offset: u64,
}

// SAFETY: invariants 1, 2, 6 — as `Readv`, reading `bytes_init` bytes of each buffer.
unsafe impl<B: IoBuf> OpCode for Writev<B> {
    type Output = BufResult<usize, Vec<B>>;
    const NAME: &'static str = "writev_at";
    const CODE: u8 = opcode::Writev::CODE;

    #[cfg(feature = "tracing")]
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.fd.raw_fd()
    }

    fn sqe(&mut self) -> Entry {
        self.iovecs.clear();
        self.iovecs.extend(self.bufs.iter().map(|b| libc::iovec {
            iov_base: b.stable_ptr().cast_mut().cast(),
            iov_len: b.bytes_init(),
        }));
        let (iov, n) = (self.iovecs.as_ptr(), self.iovecs.len() as u32);
        with_target!(self.fd, |fd| opcode::Writev::new(fd, iov, n)
            .offset(self.offset)
            .build())
    }

    fn complete(self, cqe: CqeResult) -> Self::Output {
        (cqe_result(Self::NAME, cqe).map(|n| n as usize), self.bufs)
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        (Err(error), self.bufs)
    }

    fn validate(&mut self, ring: &crate::Ring) -> Result<()> {
        self.fd.bind(ring)?;
        validate_iov_count(self.bufs.len())
    }
}

fn validate_iov_count(n: usize) -> Result<()> {
    match n {
        0 => Err(SaferRingError::InvalidArgument(
            "vectored I/O needs at least one buffer",
        )),
        n if n > libc::UIO_MAXIOV as usize => Err(SaferRingError::InvalidArgument(
            "vectored I/O takes at most 1024 buffers (UIO_MAXIOV)",
        )),
        _ => Ok(()),
    }
}

/// `fsync` or `fdatasync`: what [`Ring::fsync`](crate::Ring::fsync) and
/// [`Ring::fdatasync`](crate::Ring::fdatasync) build.
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{File, Ring, fs::opcodes::Fsync, op::Op};
/// let ring = Ring::new(4)?;
/// let file = File::from(tempfile::tempfile()?);
/// let sync: Op<'_, Fsync> = ring.fsync(&file);
/// let datasync: Op<'_, Fsync> = ring.fdatasync(&file);
/// sync.submit()?.wait()?;
/// datasync.submit()?.wait()?;
/// let (reader, _writer) = std::io::pipe()?; // a pipe cannot be synced
/// let pipe = File::from(std::os::fd::OwnedFd::from(reader));
/// let err = ring.fdatasync(&pipe).submit()?.wait().unwrap_err();
/// assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
/// assert!(err.to_string().starts_with("fdatasync failed"), "{err}");
/// # Ok(()) }
/// ```
pub struct Fsync {
    pub(crate) fd: Target,
    pub(crate) datasync: bool,
}

// SAFETY: invariant 6 — names only the fd `self.fd` holds open.
unsafe impl OpCode for Fsync {
    type Output = Result<()>;
    const NAME: &'static str = "fsync";
    const CODE: u8 = opcode::Fsync::CODE;

    fn name(&self) -> &'static str {
        if self.datasync {
            "fdatasync"
        } else {
            Self::NAME
        }
    }

    #[cfg(feature = "tracing")]
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.fd.raw_fd()
    }

    fn sqe(&mut self) -> Entry {
        let flags = if self.datasync {
            FsyncFlags::DATASYNC
        } else {
            FsyncFlags::empty()
        };
        with_target!(self.fd, |fd| opcode::Fsync::new(fd).flags(flags).build())
    }

    fn complete(self, cqe: CqeResult) -> Self::Output {
        cqe_result(self.name(), cqe).map(drop)
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        Err(error)
    }

    fn validate(&mut self, ring: &crate::Ring) -> Result<()> {
        self.fd.bind(ring)
    }
}

/// `fallocate`: allocate (or with `mode`, punch or zero) a byte range: what
/// [`Ring::fallocate`](crate::Ring::fallocate) builds.
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{File, Ring, fs::opcodes::Fallocate, op::Op};
/// let ring = Ring::new(4)?;
/// let file = File::from(tempfile::tempfile()?);
/// let op: Op<'_, Fallocate> = ring.fallocate(&file, 0, 8192, 0);
/// op.submit()?.wait()?;
/// assert_eq!(ring.statx_file(&file).submit()?.wait()?.len(), 8192);
/// # Ok(()) }
/// ```
pub struct Fallocate {
    pub(crate) fd: Target,
    pub(crate) offset: u64,
    pub(crate) len: u64,
    pub(crate) mode: i32,
}

// SAFETY: invariant 6 — names only the fd `self.fd` holds open.
unsafe impl OpCode for Fallocate {
    type Output = Result<()>;
    const NAME: &'static str = "fallocate";
    const CODE: u8 = opcode::Fallocate::CODE;

    #[cfg(feature = "tracing")]
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.fd.raw_fd()
    }

    fn sqe(&mut self) -> Entry {
        with_target!(self.fd, |fd| opcode::Fallocate::new(fd, self.len)
            .offset(self.offset)
            .mode(self.mode)
            .build())
    }

    fn complete(self, cqe: CqeResult) -> Self::Output {
        cqe_result(Self::NAME, cqe).map(drop)
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        Err(error)
    }

    fn validate(&mut self, ring: &crate::Ring) -> Result<()> {
        self.fd.bind(ring)
    }
}

/// `splice`: moves up to `len` bytes from `fd_in` to `fd_out`, one of them a pipe, inside
/// the kernel (no copy through user memory). An offset of `-1` means "the fd's position"
/// (required for the pipe's side). What [`Ring::splice`](crate::Ring::splice) builds.
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use std::io::Write;
/// use safer_ring::{File, Ring, fs::opcodes::Splice, op::Op};
/// let ring = Ring::new(4)?;
/// let file = File::from(tempfile::tempfile()?);
/// let (rx, mut tx) = std::io::pipe()?;
/// tx.write_all(b"from the pipe")?;
/// let rx = File::from(std::os::fd::OwnedFd::from(rx));
/// let op: Op<'_, Splice> = ring.splice(&rx, None, &file, Some(3), 64);
/// assert_eq!(op.submit()?.wait()?, 13);
/// let (n, buf) = ring.read_at(&file, Vec::with_capacity(32), 3).submit()?.wait();
/// assert_eq!(&buf[..n?], b"from the pipe");
/// # Ok(()) }
/// ```
pub struct Splice {
    pub(crate) fd_in: Target,
    pub(crate) off_in: i64,
    pub(crate) fd_out: Target,
    pub(crate) off_out: i64,
    pub(crate) len: u32,
}

// SAFETY: invariant 6 — names only the two fds `fd_in` and `fd_out` hold open; no memory.
unsafe impl OpCode for Splice {
    type Output = Result<usize>;
    const NAME: &'static str = "splice";
    const CODE: u8 = opcode::Splice::CODE;

    #[cfg(feature = "tracing")]
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.fd_in.raw_fd()
    }

    fn sqe(&mut self) -> Entry {
        let (off_in, off_out, len) = (self.off_in, self.off_out, self.len);
        with_target!(self.fd_in, |fd_in| with_target!(self.fd_out, |fd_out| {
            opcode::Splice::new(fd_in, off_in, fd_out, off_out, len).build()
        }))
    }

    fn complete(self, cqe: CqeResult) -> Self::Output {
        cqe_result(Self::NAME, cqe).map(|n| n as usize)
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        Err(error)
    }

    fn validate(&mut self, ring: &crate::Ring) -> Result<()> {
        if self.off_in < -1 || self.off_out < -1 {
            return Err(SaferRingError::InvalidArgument(
                "splice offset past i64::MAX",
            ));
        }
        self.fd_in.bind(ring)?;
        self.fd_out.bind(ring)
    }
}

/// A path for the kernel: NUL-terminated, on the heap. A path with an interior NUL is kept
/// as an error and refused at submission.
pub(crate) struct KernelPath(std::result::Result<CString, ()>);

impl KernelPath {
    pub fn new(path: &std::path::Path) -> Self {
        use std::os::unix::ffi::OsStrExt;
        Self(CString::new(path.as_os_str().as_bytes()).map_err(drop))
    }

    fn ptr(&self) -> *const libc::c_char {
        self.0.as_ref().map_or(c"".as_ptr(), |p| p.as_ptr())
    }

    fn validate(&self) -> Result<()> {
        self.0
            .as_ref()
            .map(drop)
            .map_err(|()| SaferRingError::InvalidArgument("path contains a NUL byte"))
    }

    /// `err`, naming this path (a path refused for its NUL byte never reaches the kernel).
    fn name_in(&self, err: SaferRingError) -> SaferRingError {
        use std::os::unix::ffi::OsStrExt;
        match &self.0 {
            Ok(path) => err.concerning(Subject::Path(
                std::ffi::OsStr::from_bytes(path.as_bytes()).into(),
            )),
            Err(()) => err,
        }
    }
}

/// `openat`: opens a path (relative to the current directory, or to `dir`): what
/// [`Ring::open`](crate::Ring::open) and [`Ring::open_at`](crate::Ring::open_at) build. Its
/// output is the [`File`]; its errors name the path.
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{OpenOptions, Ring, fs::opcodes::OpenAt, op::Op};
/// let ring = Ring::new(4)?;
/// let dir = tempfile::tempdir()?;
/// let missing = dir.path().join("missing.txt");
/// let op: Op<'_, OpenAt> = ring.open(&missing, OpenOptions::new());
/// let err = op.submit()?.wait().unwrap_err();
/// assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
/// assert!(err.to_string().contains("missing.txt"), "{err}");
/// let file = ring.open(&missing, OpenOptions::new().write(true).create(true)).submit()?.wait()?;
/// assert!(ring.statx_file(&file).submit()?.wait()?.is_file());
/// # Ok(()) }
/// ```
pub struct OpenAt {
    /// The method that made it, for errors (`open`, `open_at`).
    pub(crate) op: &'static str,
    pub(crate) dir: Option<SharedFd>,
    pub(crate) path: KernelPath,
    pub(crate) flags: i32,
    pub(crate) mode: libc::mode_t,
}

fn dir_target(dir: &Option<SharedFd>) -> types::Fd {
    dir.as_ref()
        .map_or(types::Fd(libc::AT_FDCWD), SharedFd::target)
}

// SAFETY: invariants 1, 6 — the path is a heap CString owned by `self`; the directory fd, if
// any, is held open by `self.dir`.
unsafe impl OpCode for OpenAt {
    type Output = Result<File>;
    const NAME: &'static str = "open";
    const CODE: u8 = opcode::OpenAt::CODE;

    fn name(&self) -> &'static str {
        self.op
    }

    fn sqe(&mut self) -> Entry {
        opcode::OpenAt::new(dir_target(&self.dir), self.path.ptr())
            .flags(self.flags | libc::O_CLOEXEC)
            .mode(self.mode)
            .build()
    }

    fn complete(self, cqe: CqeResult) -> Self::Output {
        let fd = cqe_result(self.op, cqe).map_err(|e| self.path.name_in(e))?;
        // SAFETY: a successful openat CQE carries a new fd that nothing else owns; owning it
        // here means it is closed exactly once, even if the operation was abandoned.
        Ok(File::from(unsafe { crate::sys::own_fd(fd as i32) }))
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        Err(error)
    }

    fn validate(&mut self, _ring: &crate::Ring) -> Result<()> {
        self.path.validate()
    }
}

/// `statx`: file metadata by path, or of an open file: what
/// [`Ring::statx`](crate::Ring::statx) and [`Ring::statx_file`](crate::Ring::statx_file)
/// build. Its output is the [`Metadata`].
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{File, Ring, fs::opcodes::Statx, op::Op};
/// let ring = Ring::new(4)?;
/// let file = tempfile::NamedTempFile::new()?;
/// std::fs::write(file.path(), b"12345")?;
/// let by_path: Op<'_, Statx> = ring.statx(file.path());
/// let open = File::from(file.reopen()?);
/// let by_fd: Op<'_, Statx> = ring.statx_file(&open);
/// let (a, b) = (by_path.submit()?.wait()?, by_fd.submit()?.wait()?);
/// assert_eq!((a.len(), b.len()), (5, 5));
/// assert_eq!(a.raw().stx_ino, b.raw().stx_ino);
/// # Ok(()) }
/// ```
pub struct Statx {
    pub(crate) dir: Option<SharedFd>,
    pub(crate) path: KernelPath,
    pub(crate) flags: i32,
    pub(crate) buf: Box<libc::statx>,
}

// SAFETY: invariants 1, 6 — the path and the statx buffer are heap allocations owned by
// `self`; the fd, if any, is held open by `self.dir`.
unsafe impl OpCode for Statx {
    type Output = Result<Metadata>;
    const NAME: &'static str = "statx";
    const CODE: u8 = opcode::Statx::CODE;

    fn name(&self) -> &'static str {
        if self.flags & libc::AT_EMPTY_PATH != 0 {
            "statx_file"
        } else {
            Self::NAME
        }
    }

    fn sqe(&mut self) -> Entry {
        let buf: *mut libc::statx = &mut *self.buf;
        opcode::Statx::new(dir_target(&self.dir), self.path.ptr(), buf.cast())
            .flags(self.flags)
            .mask(libc::STATX_BASIC_STATS)
            .build()
    }

    fn complete(self, cqe: CqeResult) -> Self::Output {
        if let Err(e) = cqe_result(self.name(), cqe) {
            return Err(match self.dir {
                Some(_) => e, // an open file: no path to name
                None => self.path.name_in(e),
            });
        }
        Ok(Metadata::from_statx(self.buf))
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        Err(error)
    }

    fn validate(&mut self, _ring: &crate::Ring) -> Result<()> {
        self.path.validate()
    }
}

/// `close`: closes a file the caller owned exclusively: what
/// [`Ring::close`](crate::Ring::close) builds.
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use std::io::Read;
/// use safer_ring::{File, Ring, fs::opcodes::Close, op::Op};
/// let ring = Ring::new(4)?;
/// let (mut reader, writer) = std::io::pipe()?;
/// let writer = File::from(std::os::fd::OwnedFd::from(writer));
/// let op: Op<'_, Close> = ring.close(writer)?;
/// op.submit()?.wait()?;
/// let mut rest = Vec::new();
/// assert_eq!(reader.read_to_end(&mut rest)?, 0); // the write end is closed: end of file
/// # Ok(()) }
/// ```
pub struct Close {
    pub(crate) fd: Option<OwnedFd>,
}

// SAFETY: invariant 6 — the fd is owned exclusively by `self` (no other handle or operation
// can name it), so closing it cannot race another operation on the same number.
unsafe impl OpCode for Close {
    type Output = Result<()>;
    const NAME: &'static str = "close";
    const CODE: u8 = opcode::Close::CODE;

    fn sqe(&mut self) -> Entry {
        let fd = self.fd.as_ref().map_or(-1, std::os::fd::AsRawFd::as_raw_fd);
        opcode::Close::new(types::Fd(fd)).build()
    }

    fn complete(mut self, cqe: CqeResult) -> Self::Output {
        // The kernel released the fd (Linux frees the number even when close reports an
        // error), so it must not be closed again.
        let _ = self.fd.take().map(IntoRawFd::into_raw_fd);
        cqe_result(Self::NAME, cqe).map(drop)
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        Err(error)
    }
}
