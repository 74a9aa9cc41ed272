//! The [`OpCode`] trait and the one list of every opcode this library supports.
#![allow(unsafe_code)]

use io_uring::opcode;
use io_uring::squeue::Entry;

use crate::error::{Result, SaferRingError};
use crate::ring::slots::CqeResult;

/// One kind of io_uring operation: how to build its SQE and turn its CQE into an output.
///
/// Implemented by this crate for every supported opcode (see [`SUPPORTED_OPCODES`]); it is
/// public so that a user can add an opcode the crate lacks, which requires `unsafe`.
///
/// # Safety
///
/// Every pointer [`sqe`](OpCode::sqe) puts into the entry must point into memory owned by
/// `self` at an address that does not change when `self` is moved (heap memory: a buffer,
/// a boxed struct), and every fd it names must be held open by `self` (invariants 1, 2, 6).
/// The ring keeps `self` alive until the final CQE, or leaks it.
pub unsafe trait OpCode: 'static {
    /// What the operation produces (for buffer operations, `(Result<_>, buffer)`).
    type Output;
    /// The operation's name, used in error messages: the method that makes it.
    const NAME: &'static str;
    /// The io_uring opcode (for probing kernel support).
    const CODE: u8;

    /// This operation's name in errors: the method that made it, where one opcode serves
    /// several (`read` and `read_at`); [`NAME`](OpCode::NAME) by default.
    fn name(&self) -> &'static str {
        Self::NAME
    }

    /// Builds the SQE (its `user_data` is set by the ring).
    fn sqe(&mut self) -> Entry;

    /// The plain fd the SQE names, for the `tracing` feature's events (`None`: none, or a
    /// registered file).
    #[cfg(feature = "tracing")]
    fn fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }

    /// Turns the final CQE into the output.
    fn complete(self, cqe: CqeResult) -> Self::Output;

    /// The output for an operation that never reached the kernel.
    fn fail(self, error: SaferRingError) -> Self::Output;

    /// Checks arguments before submission, and binds what depends on the submitting `ring`
    /// (a registered file's use count is taken on that ring's table, invariant 12).
    fn validate(&mut self, _ring: &crate::Ring) -> Result<()> {
        Ok(())
    }

    /// The opcode this submission uses, asked after [`validate`](OpCode::validate): `CODE`,
    /// unless the operation chose a fallback for this ring (a `socket(2)` made in
    /// `validate`, completed by a NOP).
    fn opcode(&self) -> u8 {
        Self::CODE
    }

    /// Called right before the SQE is queued, after [`validate`](OpCode::validate), on each
    /// attempt to submit (buffers advance their generation here). A panic here is safe:
    /// nothing has reached the kernel yet.
    fn before_submit(&mut self) {}
}

/// Turns a CQE result into `Ok(res)` or the errno error for operation `op`.
#[inline]
pub(crate) fn cqe_result(op: &'static str, cqe: CqeResult) -> Result<u32> {
    u32::try_from(cqe.res).map_err(|_| SaferRingError::from_cqe(op, cqe.res))
}

/// The output of a read into `buf` at byte `pos`: on success the buffer's first `pos + n`
/// bytes are marked initialised and `n` is reported. A count past the buffer's end (which the
/// kernel never reports for the length it was given) is refused, never believed.
pub(crate) fn filled<B: crate::buf::IoBufMut>(
    op: &'static str,
    cqe: CqeResult,
    mut buf: B,
    pos: usize,
) -> (Result<usize>, B) {
    let room = buf.bytes_total().saturating_sub(pos);
    match cqe_result(op, cqe) {
        Ok(n) if n as usize <= room => {
            // SAFETY: the kernel reported writing `n` bytes at `pos`, within the buffer's
            // `bytes_total` (checked); the bytes before `pos` were filled by earlier reads of
            // the same loop (or `pos` is 0).
            unsafe { buf.set_init(pos + n as usize) };
            (Ok(n as usize), buf)
        }
        Ok(_) => (
            Err(SaferRingError::InvalidArgument(
                "completion reports more bytes than the buffer holds",
            )),
            buf,
        ),
        Err(e) => (Err(e), buf),
    }
}

/// Whether `ring` can run opcode `code` (of the operation `name`): its kernel has it, and
/// an `IOPOLL` ring takes it.
#[inline]
pub(crate) fn runnable(ring: &crate::Ring, code: u8, name: &'static str) -> Result<()> {
    if !ring.opcodes().contains(code) {
        return Err(SaferRingError::Unsupported { op: name });
    }
    if ring.setup_flags().iopoll && !polls(code) {
        return Err(SaferRingError::Conflict {
            first: "iopoll",
            second: name,
            why: "an IOPOLL ring runs only reads and writes (of O_DIRECT files on a device \
                  that supports polling); use a ring without IOPOLL for the rest",
        });
    }
    Ok(())
}

/// Whether an `IOPOLL` ring can run `code`: the kernel takes only reads and writes there
/// (and NOPs); anything else it fails with `EINVAL`.
fn polls(code: u8) -> bool {
    [
        opcode::Nop::CODE,
        opcode::Read::CODE,
        opcode::Write::CODE,
        opcode::Readv::CODE,
        opcode::Writev::CODE,
        opcode::ReadFixed::CODE,
        opcode::WriteFixed::CODE,
    ]
    .contains(&code)
}

/// Every opcode this library supports, by name and io_uring code. The probe checks these
/// against the running kernel.
pub const SUPPORTED_OPCODES: &[(&str, u8)] = &[
    ("nop", opcode::Nop::CODE),
    ("read", opcode::Read::CODE),
    ("write", opcode::Write::CODE),
    ("readv", opcode::Readv::CODE),
    ("read_fixed", opcode::ReadFixed::CODE),
    ("write_fixed", opcode::WriteFixed::CODE),
    ("writev", opcode::Writev::CODE),
    ("fsync", opcode::Fsync::CODE),
    ("openat", opcode::OpenAt::CODE),
    ("close", opcode::Close::CODE),
    ("statx", opcode::Statx::CODE),
    ("fallocate", opcode::Fallocate::CODE),
    ("splice", opcode::Splice::CODE),
    ("accept", opcode::Accept::CODE),
    ("accept_multishot", opcode::AcceptMulti::CODE),
    ("connect", opcode::Connect::CODE),
    ("send", opcode::Send::CODE),
    ("send_zc", opcode::SendZc::CODE),
    ("recv", opcode::Recv::CODE),
    ("recv_multishot", opcode::RecvMulti::CODE),
    ("sendmsg", opcode::SendMsg::CODE),
    ("recvmsg", opcode::RecvMsg::CODE),
    ("shutdown", opcode::Shutdown::CODE),
    ("socket", opcode::Socket::CODE),
    ("async_cancel", opcode::AsyncCancel::CODE),
    ("poll_add", opcode::PollAdd::CODE),
    ("timeout", opcode::Timeout::CODE),
    ("link_timeout", opcode::LinkTimeout::CODE),
    ("msg_ring", opcode::MsgRingData::CODE),
];
