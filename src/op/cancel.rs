//! Cancellation by file and of everything: [`Ring::cancel_fd`] and [`Ring::cancel_all`],
//! operations whose output is how many requests the kernel cancelled. (One operation is
//! cancelled with [`Operation::cancel`](super::Operation::cancel).) Every cancelled operation
//! still completes, with `ECANCELED` and its buffers back.
#![allow(unsafe_code)]

use io_uring::opcode;
use io_uring::squeue::Entry;
use io_uring::types::CancelBuilder;

use super::opcode::cqe_result;
use super::{Op, OpCode, Operation};
use crate::error::{Result, SaferRingError};
use crate::fd::{AsTarget, Target, with_target};
use crate::ring::Ring;
use crate::ring::slots::CqeResult;

/// `IORING_OP_ASYNC_CANCEL` with `IORING_ASYNC_CANCEL_ALL` for every request on one fd:
/// what [`Ring::cancel_fd`] builds. Its output is how many requests it cancelled.
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{File, op::{CancelFd, Op}};
/// let ring = safer_ring::Ring::new(8)?;
/// use std::os::fd::OwnedFd;
/// let (a, _wa) = std::io::pipe()?;
/// let (b, _wb) = std::io::pipe()?;
/// let (a, b) = (File::from(OwnedFd::from(a)), File::from(OwnedFd::from(b)));
/// let on_a = ring.read(&a, vec![0u8; 4]).submit()?;
/// let on_b = ring.read(&b, vec![0u8; 4]).submit()?;
/// let cancel: Op<'_, CancelFd> = ring.cancel_fd(&a);
/// assert_eq!(cancel.submit()?.wait()?, 1); // only the read of `a`
/// assert_eq!(on_a.wait().0.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
/// let on_b = on_b.try_complete().expect_err("the read of `b` still waits");
/// assert_eq!(ring.cancel_fd(&a).submit()?.wait()?, 0); // nothing left on `a`
/// # drop(on_b);
/// # Ok(()) }
/// ```
pub struct CancelFd {
    fd: Target,
}

/// `IORING_OP_ASYNC_CANCEL` with `IORING_ASYNC_CANCEL_ANY | ALL`: every request in the ring,
/// what [`Ring::cancel_all`] builds. Its output is how many requests it cancelled.
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::op::{CancelAll, Op};
/// let ring = safer_ring::Ring::new(8)?;
/// let (reader, _writer) = std::io::pipe()?;
/// let reader = safer_ring::File::from(std::os::fd::OwnedFd::from(reader));
/// let reads: Vec<_> = (0..2)
///     .map(|_| ring.read(&reader, vec![0u8; 4]).submit())
///     .collect::<Result<_, _>>()?;
/// let cancel: Op<'_, CancelAll> = ring.cancel_all();
/// assert_eq!(cancel.submit()?.wait()?, 2); // no executor here: only the two reads
/// for read in reads {
///     assert_eq!(read.wait().0.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
/// }
/// # Ok(()) }
/// ```
pub struct CancelAll;

/// The count of a cancel that matches many requests; none matching is a count of zero.
fn cancelled(op: &'static str, cqe: CqeResult) -> Result<usize> {
    match cqe.res() {
        res if res == -libc::ENOENT => Ok(0),
        _ => cqe_result(op, cqe).map(|n| n as usize),
    }
}

// SAFETY: a cancel names no memory; the fd it matches on is held open by `self.fd`
// (invariant 6), so the number cannot name another file meanwhile.
unsafe impl OpCode for CancelFd {
    type Output = Result<usize>;
    const NAME: &'static str = "cancel_fd";
    const CODE: u8 = opcode::AsyncCancel::CODE;

    #[cfg(feature = "tracing")]
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.fd.raw_fd()
    }

    fn sqe(&mut self) -> Entry {
        with_target!(self.fd, |fd| opcode::AsyncCancel2::new(
            CancelBuilder::fd(fd).all()
        )
        .build())
    }

    fn complete(self, cqe: CqeResult) -> Self::Output {
        cancelled(Self::NAME, cqe)
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        Err(error)
    }

    fn validate(&mut self, ring: &Ring) -> Result<()> {
        self.fd.bind(ring)
    }
}

// SAFETY: a cancel names no memory and no fd.
unsafe impl OpCode for CancelAll {
    type Output = Result<usize>;
    const NAME: &'static str = "cancel_all";
    const CODE: u8 = opcode::AsyncCancel::CODE;

    fn sqe(&mut self) -> Entry {
        opcode::AsyncCancel2::new(CancelBuilder::any()).build()
    }

    fn complete(self, cqe: CqeResult) -> Self::Output {
        cancelled(Self::NAME, cqe)
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        Err(error)
    }
}

impl Ring {
    /// Cancels every operation of this ring on `fd` (Linux 5.19); the output is how many
    /// the kernel cancelled. Each of them completes with `ECANCELED`, its buffer back.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(8)?;
    /// let (reader, _writer) = std::io::pipe()?;
    /// let reader = safer_ring::File::from(std::os::fd::OwnedFd::from(reader));
    /// let reads: Vec<_> = (0..3).map(|_| ring.read(&reader, vec![0; 8]).submit()).collect::<Result<_, _>>()?;
    /// assert_eq!(ring.cancel_fd(&reader).submit()?.wait()?, 3);
    /// for read in reads {
    ///     let (res, _buf) = read.wait();
    ///     assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
    /// }
    /// # Ok(()) }
    /// ```
    pub fn cancel_fd(&self, fd: &impl AsTarget) -> Op<'_, CancelFd> {
        Operation::build(self, CancelFd { fd: fd.target() })
    }

    /// Cancels every request this ring has in the kernel; the output is how many were
    /// cancelled — the ring's own requests included (the built-in executor's wake-up poll,
    /// which it re-arms).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(8)?;
    /// let (reader, _writer) = std::io::pipe()?;
    /// let reader = safer_ring::File::from(std::os::fd::OwnedFd::from(reader));
    /// let read = ring.read(&reader, vec![0u8; 8]).submit()?;
    /// assert!(ring.cancel_all().submit()?.wait()? >= 1);
    /// let (res, _buf) = read.wait();
    /// assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
    /// # Ok(()) }
    /// ```
    pub fn cancel_all(&self) -> Op<'_, CancelAll> {
        Operation::build(self, CancelAll)
    }
}
