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
///
/// # Examples
///
/// A positioned read into a box the operation owns, of an fd it owns, run with
/// [`Ring::custom`](crate::Ring::custom):
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::os::fd::{AsRawFd, OwnedFd};
/// use safer_ring::io_uring::{opcode, squeue::Entry, types};
/// use safer_ring::{CqeResult, OpCode, SaferRingError};
///
/// /// Reads 16 bytes at `offset`.
/// struct ReadHead {
///     fd: OwnedFd,        // held open by the operation until its final CQE
///     buf: Box<[u8; 16]>, // heap memory: stays put when the operation moves
///     offset: u64,
/// }
///
/// // SAFETY: the SQE points only into `self.buf`, a heap allocation `self` owns, and
/// // names only `self.fd`, which `self` holds open.
/// #[allow(unsafe_code)]
/// unsafe impl OpCode for ReadHead {
///     type Output = (Result<usize, SaferRingError>, Box<[u8; 16]>);
///     const NAME: &'static str = "read_head";
///     const CODE: u8 = opcode::Read::CODE;
///
///     fn sqe(&mut self) -> Entry {
///         let fd = types::Fd(self.fd.as_raw_fd());
///         opcode::Read::new(fd, self.buf.as_mut_ptr(), 16).offset(self.offset).build()
///     }
///
///     fn complete(self, cqe: CqeResult) -> Self::Output {
///         let res = match cqe.res() {
///             n if n >= 0 => Ok(n as usize),
///             errno => {
///                 let errno = std::io::Error::from_raw_os_error(-errno);
///                 Err(SaferRingError::os(Self::NAME, errno))
///             }
///         };
///         (res, self.buf)
///     }
///
///     fn fail(self, error: SaferRingError) -> Self::Output {
///         (Err(error), self.buf) // never reached the kernel: the buffer comes back
///     }
/// }
///
/// let ring = safer_ring::Ring::new(4)?;
/// let file = tempfile::tempfile()?;
/// std::os::unix::fs::FileExt::write_all_at(&file, b"custom opcodes", 0)?;
/// let op = ReadHead { fd: OwnedFd::from(file), buf: Box::new([0; 16]), offset: 7 };
/// let (n, buf) = ring.custom(op).submit()?.wait();
/// assert_eq!(&buf[..n?], b"opcodes");
/// # Ok(()) }
/// ```
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
/// against the running kernel. (Variants of one opcode, such as `accept` and
/// `accept_multishot`, share its code.)
///
/// ```
/// # fn main() -> safer_ring::Result<()> {
/// use safer_ring::io_uring::opcode;
/// use safer_ring::op::SUPPORTED_OPCODES;
/// let ring = safer_ring::Ring::new(4)?;
/// assert_eq!(SUPPORTED_OPCODES[0], ("nop", opcode::Nop::CODE));
/// let lacking: Vec<&str> = SUPPORTED_OPCODES
///     .iter()
///     .filter(|&&(_, code)| !ring.opcodes().contains(code))
///     .map(|&(name, _)| name)
///     .collect();
/// println!("this kernel lacks {lacking:?}");
/// assert!(!lacking.contains(&"read") && !lacking.contains(&"write"));
/// let mut names: Vec<&str> = SUPPORTED_OPCODES.iter().map(|&(name, _)| name).collect();
/// names.sort_unstable();
/// names.dedup();
/// assert_eq!(names.len(), SUPPORTED_OPCODES.len()); // each named once
/// # Ok(()) }
/// ```
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
