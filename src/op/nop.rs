//! The no-op, the ring's own operation (it names no file), and user-defined opcodes.
#![allow(unsafe_code)]

use io_uring::opcode;
use io_uring::squeue::Entry;

use super::opcode::cqe_result;
use super::{Op, OpCode, Operation};
use crate::error::{Result, SaferRingError};
use crate::ring::Ring;
use crate::ring::slots::CqeResult;

/// A no-op: completes at once. Measures the ring's own overhead.
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

    /// Starts an operation of a user-defined opcode (see [`OpCode`]).
    pub fn custom<T: crate::OpCode>(&self, op: T) -> Op<'_, T> {
        Operation::build(self, op)
    }
}
