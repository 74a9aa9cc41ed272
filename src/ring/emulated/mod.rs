//! The fallback backend: io_uring's submission/completion contract emulated in user space,
//! for machines where `io_uring_setup` fails (`ENOSYS`, or `EPERM` from a seccomp profile or
//! `kernel.io_uring_disabled`) or when asked (`SAFER_RING_BACKEND=fallback`).
//!
//! The core pushes the same SQEs and drains the same CQEs as with the kernel; here worker
//! threads (grown on demand, like io_uring's io-wq) try each SQE without blocking
//! ([`attempt`]); one that must wait for a socket, pipe or timer is parked in the ring's
//! epoll reactor ([`reactor`]), which tries again when the fd is ready, so an idle connection
//! holds no thread. A linked chain runs in order on one worker ([`exec`]), its waits `ppoll`s
//! that a cancel interrupts through the request's eventfd. Cancels, link timeouts and ring
//! drop behave as with the kernel: every SQE gets exactly its CQEs, and its memory is touched
//! only before them.
//!
//! Registrations are kept in its own tables ([`tables`]): registered files (each slot a
//! duplicate of the file, as the kernel holds its own reference), registered buffers (a
//! fixed-buffer read is a plain read checked against them) and provided-buffer rings (the
//! one-shot receive picks its buffer from them as the kernel does). What it does not emulate
//! (multishot accept/recv, zero-copy send, `MSG_RING` and file mailboxes, the `socket`
//! opcode, direct descriptors from open/accept) is missing from its opcode set and
//! capabilities, so the layers above take their degraded paths, exactly as on an old kernel.

mod attempt;
mod exec;
mod reactor;
mod sqe;
mod submit;
mod tables;
mod workers;

use io_uring::opcode;

use self::sqe::Sqe;
pub(crate) use self::submit::Emulated;
pub(crate) use self::tables::Tables;
use crate::probe::OpcodeSet;

/// `IORING_CQE_F_MORE`: more CQEs will follow for this request.
const CQE_F_MORE: u32 = 1 << 1;
/// `IORING_POLL_ADD_MULTI` in a poll's `len`.
const POLL_ADD_MULTI: u32 = 1;

/// The opcodes this backend runs.
pub(crate) fn opcodes() -> OpcodeSet {
    OpcodeSet::of(&[
        opcode::Nop::CODE,
        opcode::Read::CODE,
        opcode::Write::CODE,
        opcode::ReadFixed::CODE,
        opcode::WriteFixed::CODE,
        opcode::Readv::CODE,
        opcode::Writev::CODE,
        opcode::Fsync::CODE,
        opcode::Fallocate::CODE,
        opcode::OpenAt::CODE,
        opcode::Close::CODE,
        opcode::Statx::CODE,
        opcode::Splice::CODE,
        opcode::Timeout::CODE,
        opcode::LinkTimeout::CODE,
        opcode::AsyncCancel::CODE,
        opcode::PollAdd::CODE,
        opcode::Accept::CODE,
        opcode::Connect::CODE,
        opcode::Send::CODE,
        opcode::Recv::CODE,
        opcode::SendMsg::CODE,
        opcode::RecvMsg::CODE,
        opcode::Shutdown::CODE,
    ])
}

/// Whether `sqe`'s result breaks a soft link: an error, or fewer bytes than asked for by an
/// operation the kernel fails links on short counts for.
fn breaks_link(sqe: &Sqe, res: i32) -> bool {
    if res < 0 {
        return true;
    }
    let short = (res as u32) < sqe.len;
    let waitall = sqe.op_flags as i32 & libc::MSG_WAITALL != 0;
    match sqe.opcode {
        opcode::Read::CODE | opcode::Write::CODE | opcode::Splice::CODE => short,
        opcode::Send::CODE | opcode::Recv::CODE => short && waitall,
        _ => false,
    }
}
