//! The no-op, the ring's own operation (it names no file), and user-defined opcodes.
#![allow(unsafe_code)]

use io_uring::opcode;
use io_uring::squeue::Entry;

use super::opcode::cqe_result;
use super::{Op, OpCode, Operation};
use crate::error::{Result, SaferRingError};
use crate::ring::Ring;
use crate::ring::slots::CqeResult;

/// A no-op: completes at once. Measures the ring's own overhead. What [`Ring::nop`] builds.
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::{OpCode, op::{Nop, Op}};
/// let ring = safer_ring::Ring::new(4)?;
/// let op: Op<'_, Nop> = ring.nop();
/// let before = ring.stats().submitted;
/// op.submit()?.wait()?;
/// assert_eq!(ring.stats().submitted, before + 1);
/// assert_eq!(<Nop as OpCode>::NAME, "nop");
/// # Ok(()) }
/// ```
pub struct Nop;

// SAFETY: a NOP names no memory and no fd.
unsafe impl OpCode for Nop {
    type Output = Result<()>;
    const NAME: &'static str = "nop";
    const CODE: u8 = opcode::Nop::CODE;

    #[inline]
    fn sqe(&mut self) -> Entry {
        opcode::Nop::new().build()
    }

    #[inline]
    fn complete(self, cqe: CqeResult) -> Self::Output {
        cqe_result(Self::NAME, cqe).map(drop)
    }

    fn fail(self, error: SaferRingError) -> Self::Output {
        Err(error)
    }
}

impl Ring {
    /// A no-op; completes at once. Useful to measure overhead or to wake the ring.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// let ring = safer_ring::Ring::new(4)?;
    /// ring.nop().submit()?.wait()?;
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn nop(&self) -> Op<'_, Nop> {
        Operation::build(self, Nop)
    }

    /// Starts an operation of a user-defined opcode (see [`OpCode`]): it is built, submitted
    /// and waited for as the crate's own.
    ///
    /// ```
    /// # fn main() -> safer_ring::Result<()> {
    /// use safer_ring::io_uring::{opcode, squeue::Entry};
    /// use safer_ring::{CqeResult, OpCode, SaferRingError};
    ///
    /// /// A NOP carrying a tag back through the kernel.
    /// struct Tagged(u32);
    ///
    /// // SAFETY: a NOP names no memory and no fd.
    /// #[allow(unsafe_code)]
    /// unsafe impl OpCode for Tagged {
    ///     type Output = Result<u32, SaferRingError>;
    ///     const NAME: &'static str = "tagged_nop";
    ///     const CODE: u8 = opcode::Nop::CODE;
    ///     fn sqe(&mut self) -> Entry {
    ///         opcode::Nop::new().build()
    ///     }
    ///     fn complete(self, cqe: CqeResult) -> Self::Output {
    ///         assert_eq!(cqe.res(), 0);
    ///         Ok(self.0)
    ///     }
    ///     fn fail(self, error: SaferRingError) -> Self::Output {
    ///         Err(error)
    ///     }
    /// }
    ///
    /// let ring = safer_ring::Ring::new(4)?;
    /// assert_eq!(ring.custom(Tagged(7)).submit()?.wait()?, 7);
    /// assert_eq!(ring.block_on(ring.custom(Tagged(8)))?, 8); // or `.await` it
    /// # Ok(()) }
    /// ```
    pub fn custom<T: crate::OpCode>(&self, op: T) -> Op<'_, T> {
        Operation::build(self, op)
    }
}
