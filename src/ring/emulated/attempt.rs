//! The requests that wait on a socket or pipe, as attempts: each tries its system call once
//! without blocking and says whether it is done or which readiness it waits for. A worker
//! runs the first attempt; a request that must wait is parked in the reactor
//! (`reactor.rs`), which runs the next attempt when its fd is ready, so no thread is held
//! while a connection is idle. A request in a chain waits on its worker instead
//! (`exec.rs`), as its successors must run after it on that worker.
#![allow(unsafe_code)]

use std::os::fd::RawFd;
use std::time::Instant;

use io_uring::opcode;

use super::exec::{at_offset, deadline_of, fcntl_flags, is_storage, result, set_fcntl_flags};
use super::sqe::{Sqe, flags};
use super::tables::Tables;

/// What one attempt came to.
pub(super) enum Step {
    /// The CQE's result and flags.
    Done(i32, u32),
    /// Not ready: try again once the fd has these `poll` events.
    Wait(RawFd, i16),
    /// A timer: done (`-ETIME`) at this instant, unless cancelled first.
    Until(Instant),
    /// Not an operation that waits for readiness (or on a file that is always ready, such
    /// as a regular file missing the page cache): run on a worker, where it may block.
    Blocking,
}

/// One attempt at `sqe`, its fds resolved. `done` is the progress of a `MSG_WAITALL`
/// stream across attempts (bytes moved so far; 0 at first).
///
/// # Safety
///
/// As for the kernel: every pointer in `sqe` names memory its submitter keeps valid (and
/// unaliased, for what the operation writes) until the CQE is posted, and every fd stays
/// open until then (invariants 1–6).
pub(super) unsafe fn attempt(sqe: &Sqe, tables: &Tables, done: &mut usize) -> Step {
    if sqe.flags & flags::BUFFER_SELECT != 0 {
        // SAFETY: forwarded from this function's contract.
        return unsafe { recv_selected(sqe, tables) };
    }
    // Every arm: SAFETY: forwarded from this function's contract.
    match sqe.opcode {
        opcode::Read::CODE
        | opcode::ReadFixed::CODE
        | opcode::Write::CODE
        | opcode::WriteFixed::CODE => {
            let iov = libc::iovec {
                iov_base: sqe.addr as *mut libc::c_void,
                iov_len: sqe.len as usize,
            };
            let read = matches!(sqe.opcode, opcode::Read::CODE | opcode::ReadFixed::CODE);
            // SAFETY: see above; `iov` is a live local naming the SQE's buffer.
            unsafe { transfer(sqe.fd, (&iov, 1), sqe.off, read) }
        }
        opcode::Readv::CODE | opcode::Writev::CODE => {
            let iovs = (sqe.addr as *const libc::iovec, sqe.len as i32);
            // SAFETY: see above.
            unsafe { transfer(sqe.fd, iovs, sqe.off, sqe.opcode == opcode::Readv::CODE) }
        }
        // SAFETY: see above.
        opcode::Send::CODE | opcode::Recv::CODE if sqe.ioprio == 0 => unsafe { stream(sqe, done) },
        // SAFETY: see above.
        opcode::SendMsg::CODE | opcode::RecvMsg::CODE => unsafe { msg(sqe) },
        opcode::Accept::CODE if sqe.ioprio == 0 && sqe.splice_fd_in == 0 => {
            // SAFETY: see above.
            unsafe { accept(sqe) }
        }
        opcode::PollAdd::CODE => poll(sqe),
        // SAFETY: see above.
        opcode::Timeout::CODE => unsafe { timeout(sqe) },
        _ => Step::Blocking,
    }
}

/// The result of a request cancelled while it waited: what a `MSG_WAITALL` stream moved
/// before, else `-ECANCELED`.
pub(super) fn cancelled(done: usize) -> i32 {
    if done > 0 {
        done.min(i32::MAX as usize) as i32
    } else {
        -libc::ECANCELED
    }
}

/// `preadv2`/`pwritev2` with `RWF_NOWAIT`. Would block: on a pipe or socket, wait for
/// readiness; on a regular file or block device (a page-cache miss), or where `RWF_NOWAIT`
/// is not supported, the worker's call that may block.
///
/// # Safety
///
/// `iovs` names that many iovecs, each naming memory valid (writable, to read) until the
/// CQE (invariant 1).
unsafe fn transfer(fd: RawFd, (iov, n): (*const libc::iovec, i32), off: u64, read: bool) -> Step {
    let off = off as libc::off_t; // u64::MAX is -1: the file position
    let res = if read {
        // SAFETY: by this function's contract.
        let call = |off, flags| unsafe { libc::preadv2(fd, iov, n, off, flags) };
        result(at_offset(off, call)(libc::RWF_NOWAIT))
    } else {
        // SAFETY: by this function's contract.
        let call = |off, flags| unsafe { libc::pwritev2(fd, iov, n, off, flags) };
        result(at_offset(off, call)(libc::RWF_NOWAIT))
    };
    match res {
        e if e == -libc::EAGAIN && !is_storage(fd) => {
            Step::Wait(fd, if read { libc::POLLIN } else { libc::POLLOUT })
        }
        e if e == -libc::EAGAIN || e == -libc::EOPNOTSUPP => Step::Blocking,
        res => Step::Done(res, 0),
    }
}

/// `IORING_OP_SEND` / `IORING_OP_RECV`: once, or with `MSG_WAITALL` until all `len` bytes
/// moved (or the peer closed, or an error after some bytes: their count).
///
/// # Safety
///
/// As [`attempt`]: `addr` names `len` bytes (writable, for a receive) until the CQE.
unsafe fn stream(sqe: &Sqe, done: &mut usize) -> Step {
    let (fd, len) = (sqe.fd, sqe.len as usize);
    let all = sqe.op_flags as i32 & libc::MSG_WAITALL != 0;
    let flags = (sqe.op_flags as i32 | libc::MSG_DONTWAIT) & !libc::MSG_WAITALL;
    let send = sqe.opcode == opcode::Send::CODE;
    loop {
        let at = (sqe.addr as *mut u8).wrapping_add(*done).cast();
        let res = result(if send {
            // SAFETY: invariant 1 — `done < len` bytes into the submitter's buffer.
            unsafe { libc::send(fd, at, len - *done, flags) }
        } else {
            // SAFETY: as above; the buffer is the request's to write until the CQE.
            unsafe { libc::recv(fd, at, len - *done, flags) }
        });
        match res {
            e if e == -libc::EAGAIN => {
                return Step::Wait(fd, if send { libc::POLLOUT } else { libc::POLLIN });
            }
            n if n > 0 && all && *done + (n as usize) < len => *done += n as usize,
            n if n >= 0 => {
                return Step::Done(((*done + n as usize).min(i32::MAX as usize)) as i32, 0);
            }
            err if *done == 0 => return Step::Done(err, 0),
            _ => return Step::Done(cancelled(*done), 0),
        }
    }
}

/// `IORING_OP_SENDMSG` / `IORING_OP_RECVMSG`.
///
/// # Safety
///
/// As [`attempt`]: `addr` names a `msghdr` (and all it points to) valid until the CQE.
unsafe fn msg(sqe: &Sqe) -> Step {
    let (fd, flags) = (sqe.fd, sqe.op_flags as i32 | libc::MSG_DONTWAIT);
    let (res, events) = if sqe.opcode == opcode::SendMsg::CODE {
        // SAFETY: invariant 1 — the message is the submitter's until the CQE.
        let ret = unsafe { libc::sendmsg(fd, sqe.addr as *const libc::msghdr, flags) };
        (result(ret), libc::POLLOUT)
    } else {
        // SAFETY: as above.
        let ret = unsafe { libc::recvmsg(fd, sqe.addr as *mut libc::msghdr, flags) };
        (result(ret), libc::POLLIN)
    };
    if res == -libc::EAGAIN {
        return Step::Wait(fd, events);
    }
    Step::Done(res, 0)
}

/// `IORING_OP_ACCEPT` (one shot). `accept4` has no per-call "do not block", so the
/// listener is made non-blocking (and stays so: the operations here never depend on that
/// flag); the connection gets the flags the SQE asks for.
///
/// # Safety
///
/// As [`attempt`]: `addr`/`off` are null or name a socket address buffer and its length.
unsafe fn accept(sqe: &Sqe) -> Step {
    let fl = fcntl_flags(sqe.fd);
    if fl >= 0 && fl & libc::O_NONBLOCK == 0 {
        set_fcntl_flags(sqe.fd, fl | libc::O_NONBLOCK);
    }
    let (peer, peer_len) = (sqe.addr as *mut libc::sockaddr, sqe.off as *mut u32);
    // SAFETY: by this function's contract (invariant 1).
    let conn = unsafe { libc::accept4(sqe.fd, peer, peer_len, sqe.op_flags as i32) };
    match result(conn as isize) {
        e if e == -libc::EAGAIN => Step::Wait(sqe.fd, libc::POLLIN),
        res => Step::Done(res, 0),
    }
}

/// `IORING_OP_TIMEOUT` (relative, or `IORING_TIMEOUT_ABS` on the monotonic clock): when it
/// fires (`-ETIME` then; `-ECANCELED` when cancelled first).
///
/// # Safety
///
/// `sqe.addr` points to a `__kernel_timespec` valid until the CQE.
unsafe fn timeout(sqe: &Sqe) -> Step {
    // SAFETY: by this function's contract.
    let ts = unsafe { *(sqe.addr as *const libc::timespec) };
    match deadline_of(&ts, sqe.op_flags & 1 != 0) {
        None => Step::Done(-libc::EINVAL, 0),
        Some(at) if at <= Instant::now() => Step::Done(-libc::ETIME, 0),
        Some(at) => Step::Until(at),
    }
}

/// `IORING_OP_POLL_ADD`: the events that are ready, if any is.
fn poll(sqe: &Sqe) -> Step {
    let events = sqe.op_flags as i16;
    let mut fd = libc::pollfd {
        fd: sqe.fd,
        events,
        revents: 0,
    };
    // SAFETY: a live local; no wait (timeout 0).
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    match n {
        n if n < 0 => Step::Done(result(n as isize), 0),
        0 => Step::Wait(sqe.fd, events),
        _ => Step::Done(i32::from(fd.revents as u16), 0),
    }
}

/// A one-shot `IORING_OP_RECV` into a buffer picked from the SQE's provided-buffer group
/// (`IOSQE_BUFFER_SELECT`): the result and the CQE flags naming the buffer.
///
/// # Safety
///
/// As [`attempt`]; the group's ring and buffers are registered memory the library keeps
/// alive (invariant 8).
unsafe fn recv_selected(sqe: &Sqe, tables: &Tables) -> Step {
    if sqe.opcode != opcode::Recv::CODE || sqe.ioprio != 0 {
        return Step::Done(-libc::EINVAL, 0); // only the one-shot receive selects buffers here
    }
    let flags = (sqe.op_flags as i32 | libc::MSG_DONTWAIT) & !libc::MSG_WAITALL;
    let recv = |addr: u64, len: u32| {
        let len = if sqe.len == 0 { len } else { len.min(sqe.len) };
        // SAFETY: invariants 1, 8 — a provided buffer of `len` bytes, this request's until
        // its CQE hands it back.
        result(unsafe { libc::recv(sqe.fd, addr as *mut libc::c_void, len as usize, flags) })
    };
    // SAFETY: forwarded from this function's contract.
    let (res, cqe_flags) = unsafe { tables.with_selected(sqe.buf_index, recv) };
    if res == -libc::EAGAIN {
        return Step::Wait(sqe.fd, libc::POLLIN);
    }
    Step::Done(res, cqe_flags)
}
