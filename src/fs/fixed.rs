//! Fixed-buffer operations: `READ_FIXED` / `WRITE_FIXED` on a registered [`BufferPool`]'s
//! buffers.
//!
//! [`BufferPool`]: crate::BufferPool
#![allow(unsafe_code)]

use io_uring::opcode;
use io_uring::squeue::Entry;

use crate::buf::{IoBuf, IoBufMut, PooledBuffer, clamp_len};
use crate::error::{Result, SaferRingError};
use crate::fd::{Claim, Target, with_target};
use crate::op::{BufResult, OpCode, Positioned, cqe_result, filled};
use crate::ring::slots::CqeResult;

/// The registration claim on the submitting ring, taken by [`bind`] at submission.
pub(crate) type PoolClaim = Option<Claim>;

/// Claims the registration of `buf`'s pool on `ring`, the ring submitting the operation
/// (invariants 8, 12); a claim from an earlier attempt is released first.
fn bind(claim: &mut PoolClaim, buf: &PooledBuffer, ring: &crate::Ring) -> Result<()> {
    *claim = None;
    *claim = Some(ring.acquire_buffer(buf)?);
    Ok(())
}

/// `read_fixed_at` into a registered pool buffer: what
/// [`Ring::read_fixed_at`](crate::Ring::read_fixed_at) builds. The output is the count read
/// and the buffer, its length set to that count.
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{BufferPool, File, Ring, fs::opcodes::ReadFixed, op::Op};
/// let ring = Ring::new(4)?;
/// let pool = BufferPool::new(2, 4096)?;
/// ring.register_pool(&pool)?;
/// let file = File::from(tempfile::tempfile()?);
/// ring.write_at(&file, b"registered".to_vec(), 0).submit()?.wait().0?;
/// let op: Op<'_, ReadFixed> = ring.read_fixed_at(&file, pool.try_get().unwrap(), 0);
/// let (n, buf) = op.submit()?.wait();
/// assert_eq!(n?, 10);
/// assert_eq!(buf.as_slice(), b"registered");
/// # Ok(()) }
/// ```
pub struct ReadFixed {
    pub(crate) fd: Target,
    pub(crate) buf: PooledBuffer,
    pub(crate) offset: u64,
    pub(crate) claim: PoolClaim,
}

// SAFETY: invariants 1, 2, 6, 8 — the SQE points into the pooled buffer's registered memory
// (owned by `buf`, stable, kept registered while `claim` counts this operation) and names a
// target `fd` keeps valid.
unsafe impl OpCode for ReadFixed {
    type Output = BufResult<usize, PooledBuffer>;
    const NAME: &'static str = "read_fixed_at";
    const CODE: u8 = opcode::ReadFixed::CODE;

    #[cfg(feature = "tracing")]
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.fd.raw_fd()
    }

    #[inline]
    fn sqe(&mut self) -> Entry {
        let len = clamp_len(self.buf.bytes_total());
        let (ptr, index) = (self.buf.stable_mut_ptr(), self.buf.index() as u16);
        with_target!(self.fd, |fd| opcode::ReadFixed::new(fd, ptr, len, index)
            .offset(self.offset)
            .build())
    }

    #[inline]
    fn complete(self, cqe: CqeResult) -> Self::Output {
        filled(Self::NAME, cqe, self.buf, 0)
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        (Err(error), self.buf)
    }

    #[inline]
    fn validate(&mut self, ring: &crate::Ring) -> Result<()> {
        self.fd.bind(ring)?;
        bind(&mut self.claim, &self.buf, ring)
    }
}

impl Positioned for ReadFixed {
    fn set_offset(&mut self, offset: u64) {
        self.offset = offset;
    }
}

/// `write_fixed_at` from a registered pool buffer's initialised bytes: what
/// [`Ring::write_fixed_at`](crate::Ring::write_fixed_at) builds. The output is the count
/// written and the buffer.
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{BufferPool, File, Ring, fs::opcodes::WriteFixed, op::Op};
/// let ring = Ring::new(4)?;
/// let pool = BufferPool::new(2, 4096)?;
/// ring.register_pool(&pool)?;
/// let file = File::from(tempfile::tempfile()?);
/// let mut buf = pool.try_get().unwrap();
/// buf.as_mut_capacity()[..4].copy_from_slice(b"pool");
/// buf.set_len(4); // only the initialised bytes are written
/// let op: Op<'_, WriteFixed> = ring.write_fixed_at(&file, buf, 2);
/// let (n, _buf) = op.submit()?.wait();
/// assert_eq!(n?, 4);
/// assert_eq!(ring.statx_file(&file).submit()?.wait()?.len(), 6);
/// # Ok(()) }
/// ```
pub struct WriteFixed {
    pub(crate) fd: Target,
    pub(crate) buf: PooledBuffer,
    pub(crate) offset: u64,
    pub(crate) claim: PoolClaim,
}

// SAFETY: invariants 1, 2, 6, 8 — as `ReadFixed`, reading `bytes_init` bytes.
unsafe impl OpCode for WriteFixed {
    type Output = BufResult<usize, PooledBuffer>;
    const NAME: &'static str = "write_fixed_at";
    const CODE: u8 = opcode::WriteFixed::CODE;

    #[cfg(feature = "tracing")]
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.fd.raw_fd()
    }

    #[inline]
    fn sqe(&mut self) -> Entry {
        let len = clamp_len(self.buf.bytes_init());
        let (ptr, index) = (self.buf.stable_ptr(), self.buf.index() as u16);
        with_target!(self.fd, |fd| opcode::WriteFixed::new(fd, ptr, len, index)
            .offset(self.offset)
            .build())
    }

    #[inline]
    fn complete(self, cqe: CqeResult) -> Self::Output {
        (cqe_result(Self::NAME, cqe).map(|n| n as usize), self.buf)
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        (Err(error), self.buf)
    }

    #[inline]
    fn validate(&mut self, ring: &crate::Ring) -> Result<()> {
        self.fd.bind(ring)?;
        bind(&mut self.claim, &self.buf, ring)
    }
}

impl Positioned for WriteFixed {
    fn set_offset(&mut self, offset: u64) {
        self.offset = offset;
    }
}
