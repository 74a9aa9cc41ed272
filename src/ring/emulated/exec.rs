//! One SQE run as the kernel would, by plain system calls on a worker thread (with
//! `attempt.rs`, the emulated backend's only contact with memory it does not own): first an
//! attempt that does not block; a request that must wait is handed back to be parked in the
//! reactor, or — in a chain — waits here in a `ppoll` that also watches the request's cancel
//! eventfd, so a cancel (or a linked timeout's deadline) ends it, as the kernel's cancel ends
//! a request parked on a socket or pipe. What cannot wait for readiness (files, `openat`,
//! `fsync`, `connect`, `splice`) runs here with calls that may block.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use io_uring::opcode;

use super::attempt::{Step, attempt, cancelled};
use super::sqe::Sqe;
use super::tables::{Resolved, Tables};

/// One request's cancel state, shared by the worker running it and the cancels finding it.
/// A wait that may block gets an eventfd (made on the first such wait, closed when the run
/// ends: no fd outlives its request), which a cancel signals.
#[derive(Default)]
pub(super) struct OpState {
    cancelled: AtomicBool,
    efd: Mutex<Option<OwnedFd>>,
}

impl OpState {
    /// Marks it cancelled and interrupts its wait, if it waits.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        if let Some(fd) = lock(&self.efd).as_ref() {
            crate::sys::eventfd_signal(fd.as_raw_fd());
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// The eventfd a cancel signals, made if there is none (`None` if it cannot be made).
    fn armed(&self) -> Option<RawFd> {
        let mut efd = lock(&self.efd);
        if efd.is_none() {
            *efd = crate::sys::eventfd().ok();
        }
        efd.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// Closes the eventfd, if one was made (under the lock a cancel signals it under).
    pub fn disarm(&self) {
        lock(&self.efd).take();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What may end a wait early: a cancel of `state`, or the deadline of a linked timeout.
#[derive(Clone, Copy)]
pub(super) struct Interrupt<'a> {
    pub state: &'a OpState,
    pub deadline: Option<Instant>,
    /// The pool, told while the worker waits.
    pub workers: &'a std::sync::Arc<super::workers::Workers>,
}

/// Why a wait ended.
#[derive(PartialEq, Eq)]
enum Woke {
    Ready,
    Cancelled,
    TimedOut,
}

impl Interrupt<'_> {
    fn is_cancelled(&self) -> bool {
        self.state.is_cancelled()
    }

    /// Waits until `fd` (if any) has `events`, the operation is cancelled, or the deadline.
    fn wait(&self, fd: Option<RawFd>, events: i16) -> Woke {
        // Armed before the check below: a cancel either set the flag first or finds the fd.
        let efd = self.state.armed().unwrap_or(-1);
        let _blocked = self.workers.block();
        loop {
            if self.is_cancelled() {
                return Woke::Cancelled;
            }
            let left = self
                .deadline
                .map(|d| d.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) {
                return Woke::TimedOut;
            }
            let mut fds = [
                libc::pollfd {
                    fd: efd,
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: fd.unwrap_or(-1),
                    events,
                    revents: 0,
                },
            ];
            let ts = left.map(|d| libc::timespec {
                tv_sec: d.as_secs() as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            });
            let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
            // SAFETY: `fds` and `ts` are live locals; a negative fd is ignored by ppoll.
            let n = unsafe { libc::ppoll(fds.as_mut_ptr(), 2, ts_ptr, std::ptr::null()) };
            if n > 0 && fds[0].revents != 0 {
                crate::sys::eventfd_drain(efd);
                continue; // the flag says whether it was a cancel
            }
            if n > 0 {
                return Woke::Ready;
            }
        }
    }

    /// A read or write as io_uring does it: first an attempt that must not block
    /// (`RWF_NOWAIT`: an error such as `EBADF` comes back at once). If it would block: on a
    /// pipe or socket, waits for `events` (a cancel ends the wait) and tries again without
    /// blocking — another reader may have taken what made it ready; on a regular file or
    /// block device (always "ready": the attempt failed for a page-cache miss), and where
    /// `RWF_NOWAIT` is not supported, the call that may block.
    fn nowait_first(&self, fd: RawFd, events: i16, call: impl Fn(i32) -> isize) -> i32 {
        let mut res = result(call(libc::RWF_NOWAIT));
        if res == -libc::EAGAIN && !is_storage(fd) {
            while res == -libc::EAGAIN {
                if self.wait(Some(fd), events) != Woke::Ready {
                    return -libc::ECANCELED;
                }
                res = result(call(libc::RWF_NOWAIT));
            }
            return res;
        }
        if res != -libc::EAGAIN && res != -libc::EOPNOTSUPP {
            return res;
        }
        match self.wait(Some(fd), events) {
            Woke::Ready if is_storage(fd) => result(call(0)),
            Woke::Ready => {
                let _blocked = self.workers.block(); // a device without RWF_NOWAIT may block
                result(call(0))
            }
            Woke::Cancelled | Woke::TimedOut => -libc::ECANCELED,
        }
    }
}

/// Whether `fd` is a regular file or a block device: I/O that waits on storage, never on a
/// peer, so a blocking call cannot wait forever.
pub(super) fn is_storage(fd: RawFd) -> bool {
    // SAFETY: `stat` is plain data; all zeroes is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: writes a live local.
    let ok = unsafe { libc::fstat(fd, &mut st) } == 0;
    let kind = st.st_mode & libc::S_IFMT;
    ok && (kind == libc::S_IFREG || kind == libc::S_IFBLK)
}

/// `preadv2`/`pwritev2` at `off`, as io_uring reads: on a file that cannot seek (a pipe, a
/// socket, a terminal) the offset is ignored (`ESPIPE` from the positional call), and the
/// current position used.
pub(super) fn at_offset(
    off: libc::off_t,
    call: impl Fn(libc::off_t, i32) -> isize,
) -> impl Fn(i32) -> isize {
    move |flags| {
        let ret = call(off, flags);
        let espipe =
            ret < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESPIPE);
        if espipe && off != -1 {
            call(-1, flags)
        } else {
            ret
        }
    }
}

/// A system call's return as a CQE result: the count, or the negated errno.
pub(super) fn result(ret: isize) -> i32 {
    if ret < 0 {
        -std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    } else {
        ret.min(i32::MAX as isize) as i32
    }
}

/// `u64::MAX` as an offset means "the file position" (a NULL offset for splice).
fn offset_ptr(off: &mut u64) -> *mut libc::loff_t {
    if *off == u64::MAX {
        std::ptr::null_mut()
    } else {
        (off as *mut u64).cast()
    }
}

/// How a request run on a worker came out.
pub(super) enum Outcome {
    /// Its CQE's result and flags.
    Done(i32, u32),
    /// It waits for readiness (only when the caller may park it: see [`run`]).
    Waiting(Waiting),
}

/// A request waiting for its fd to be ready, with what it needs for its next attempt.
pub(super) struct Waiting {
    pub resolved: Resolved,
    pub fd: RawFd,
    pub events: i16,
    /// For a timer: when it fires (`fd` is then -1).
    pub until: Option<Instant>,
    /// Bytes a `MSG_WAITALL` stream moved so far.
    pub done: usize,
}

/// Runs `sqe`: attempts without blocking ([`attempt`]) and, when it must wait for its fd,
/// hands it back to be parked in the reactor if `may_park`, else waits here (a cancel or
/// `intr`'s deadline ends the wait); anything else runs here with plain, possibly
/// blocking, system calls. The operations are the ones the emulated backend's opcode set
/// lists; anything else is `-EINVAL`, as an unknown opcode is.
///
/// # Safety
///
/// As for the kernel: every pointer in `sqe` names memory its submitter keeps valid (and
/// unaliased, for what the operation writes) until the CQE is posted, and every fd stays
/// open until then (invariants 1–6).
pub(super) unsafe fn run(
    sqe: &Sqe,
    intr: &Interrupt<'_>,
    tables: &Tables,
    may_park: bool,
) -> Outcome {
    let resolved = match tables.resolve(sqe) {
        Ok(resolved) => resolved,
        Err(errno) => return Outcome::Done(-errno, 0),
    };
    let sqe = &resolved.sqe;
    let fixed = matches!(
        sqe.opcode,
        opcode::ReadFixed::CODE | opcode::WriteFixed::CODE
    );
    if fixed && !tables.covers(sqe.buf_index, sqe.addr, sqe.len) {
        return Outcome::Done(-libc::EFAULT, 0); // not inside the registered buffer it names
    }
    let mut done = 0;
    // SAFETY: forwarded from this function's contract.
    match unsafe { attempt(sqe, tables, &mut done) } {
        Step::Done(res, flags) => Outcome::Done(res, flags),
        // SAFETY: forwarded from this function's contract.
        Step::Blocking => Outcome::Done(unsafe { run_plain(sqe, intr) }, 0),
        step => {
            let (fd, events, until) = match step {
                Step::Wait(fd, events) => (fd, events, None),
                Step::Until(at) => (-1, 0, Some(at)),
                _ => unreachable!("matched above"),
            };
            let waiting = Waiting {
                resolved,
                fd,
                events,
                until,
                done,
            };
            if may_park {
                return Outcome::Waiting(waiting);
            }
            // SAFETY: forwarded from this function's contract.
            let (res, flags) = unsafe { wait_here(waiting, intr, tables) };
            Outcome::Done(res, flags)
        }
    }
}

/// Waits on this thread for `waiting`'s fd and attempts again, until it is done (a cancel
/// or `intr`'s deadline ends the wait).
///
/// # Safety
///
/// As [`run`], for the request `waiting` holds.
pub(super) unsafe fn wait_here(
    mut waiting: Waiting,
    intr: &Interrupt<'_>,
    tables: &Tables,
) -> (i32, u32) {
    if let Some(at) = waiting.until {
        let timer = Interrupt {
            deadline: Some(at),
            ..*intr
        };
        return match timer.wait(None, 0) {
            Woke::Cancelled => (-libc::ECANCELED, 0),
            _ => (-libc::ETIME, 0),
        };
    }
    loop {
        if intr.wait(Some(waiting.fd), waiting.events) != Woke::Ready {
            return (cancelled(waiting.done), 0);
        }
        let sqe = &waiting.resolved.sqe;
        // SAFETY: forwarded from this function's contract.
        match unsafe { attempt(sqe, tables, &mut waiting.done) } {
            Step::Done(res, flags) => return (res, flags),
            Step::Wait(fd, events) => (waiting.fd, waiting.events) = (fd, events),
            Step::Until(_) => unreachable!("only a timer waits for a time"),
            // SAFETY: forwarded from this function's contract.
            Step::Blocking => return (unsafe { run_plain(sqe, intr) }, 0),
        }
    }
}

/// Runs `sqe` (its fds resolved) with system calls that may block: what does not wait for
/// readiness, or a file always ready ([`Step::Blocking`]).
///
/// # Safety
///
/// As [`run`].
unsafe fn run_plain(sqe: &Sqe, intr: &Interrupt<'_>) -> i32 {
    let direct = sqe.splice_fd_in != 0; // a direct descriptor (file table slot): none here
    // Every arm: SAFETY: forwarded from this function's contract (invariants 1–6).
    match sqe.opcode {
        opcode::Nop::CODE => 0,
        opcode::Read::CODE
        | opcode::ReadFixed::CODE
        | opcode::Write::CODE
        | opcode::WriteFixed::CODE => {
            // SAFETY: see above.
            unsafe { read_write(sqe, intr) }
        }
        // SAFETY: see above.
        opcode::Readv::CODE | opcode::Writev::CODE => unsafe { vectored(sqe, intr) },
        opcode::Fsync::CODE | opcode::Fallocate::CODE | opcode::Shutdown::CODE => file_call(sqe),
        // SAFETY: see above.
        opcode::OpenAt::CODE | opcode::Statx::CODE if !direct => unsafe { path_call(sqe) },
        // SAFETY: see above; the fd is the submitter's to close (ownership passed with it).
        opcode::Close::CODE if !direct => result(unsafe { libc::close(sqe.fd) } as isize),
        // SAFETY: see above.
        opcode::Splice::CODE => unsafe { splice(sqe, intr) },
        // SAFETY: see above.
        opcode::Connect::CODE => unsafe { connect(sqe.fd, sqe.addr as *const _, sqe.off, intr) },
        _ => -libc::EINVAL,
    }
}

/// `IORING_OP_READ` / `IORING_OP_WRITE` (and their fixed-buffer forms): one buffer, as a
/// one-entry `readv`/`writev`.
///
/// # Safety
///
/// As [`run`]: `addr` names `len` bytes (writable, for a read) until the CQE.
unsafe fn read_write(sqe: &Sqe, intr: &Interrupt<'_>) -> i32 {
    let iov = libc::iovec {
        iov_base: sqe.addr as *mut libc::c_void,
        iov_len: sqe.len as usize,
    };
    let read = matches!(sqe.opcode, opcode::Read::CODE | opcode::ReadFixed::CODE);
    // SAFETY: `iov` names the SQE's buffer, by this function's contract.
    unsafe { transfer(sqe.fd, (&iov, 1), sqe.off, read, intr) }
}

/// `IORING_OP_READV` / `IORING_OP_WRITEV`.
///
/// # Safety
///
/// As [`run`]: `addr` names `len` iovecs, each naming memory valid until the CQE.
unsafe fn vectored(sqe: &Sqe, intr: &Interrupt<'_>) -> i32 {
    let iovs = (sqe.addr as *const libc::iovec, sqe.len as i32);
    // SAFETY: by this function's contract.
    unsafe {
        transfer(
            sqe.fd,
            iovs,
            sqe.off,
            sqe.opcode == opcode::Readv::CODE,
            intr,
        )
    }
}

/// `preadv2` (`read`) or `pwritev2` of `iovs` at `off` (`u64::MAX`: the file position).
///
/// # Safety
///
/// `iovs` names that many iovecs, each naming memory valid (writable, to read) until the
/// CQE (invariant 1).
unsafe fn transfer(
    fd: RawFd,
    (iov, n): (*const libc::iovec, i32),
    off: u64,
    read: bool,
    intr: &Interrupt<'_>,
) -> i32 {
    let off = off as libc::off_t; // u64::MAX is -1: the file position
    if read {
        // SAFETY: by this function's contract.
        let call = |off, nowait| unsafe { libc::preadv2(fd, iov, n, off, nowait) };
        return intr.nowait_first(fd, libc::POLLIN, at_offset(off, call));
    }
    // SAFETY: by this function's contract.
    let call = |off, nowait| unsafe { libc::pwritev2(fd, iov, n, off, nowait) };
    intr.nowait_first(fd, libc::POLLOUT, at_offset(off, call))
}

/// `fsync`/`fdatasync`, `fallocate`, `shutdown`: calls on an fd alone.
fn file_call(sqe: &Sqe) -> i32 {
    let (fd, off) = (sqe.fd, sqe.off as libc::off_t);
    let ret = match sqe.opcode {
        // SAFETY: no memory is named; the fd is the submitter's (invariant 6).
        opcode::Fsync::CODE if sqe.op_flags & 1 == 0 => unsafe { libc::fsync(fd) },
        // SAFETY: as above.
        opcode::Fsync::CODE => unsafe { libc::fdatasync(fd) },
        // SAFETY: as above (fallocate's length travels in `addr`, its mode in `len`).
        opcode::Fallocate::CODE => unsafe {
            libc::fallocate(fd, sqe.len as i32, off, sqe.addr as libc::off_t)
        },
        // SAFETY: as above.
        _ => unsafe { libc::shutdown(fd, sqe.len as i32) },
    };
    result(ret as isize)
}

/// `openat` and `statx`: calls on a path.
///
/// # Safety
///
/// As [`run`]: `addr` names a NUL-terminated path, and for `statx`, `off` a `statx` buffer,
/// until the CQE.
unsafe fn path_call(sqe: &Sqe) -> i32 {
    let path = sqe.addr as *const libc::c_char;
    let ret = match sqe.opcode {
        // SAFETY: by this function's contract (invariant 1).
        opcode::OpenAt::CODE => unsafe { libc::openat(sqe.fd, path, sqe.op_flags as i32, sqe.len) },
        // SAFETY: as above; the buffer is the submitter's, unaliased until the CQE.
        _ => unsafe {
            libc::statx(
                sqe.fd,
                path,
                sqe.op_flags as i32,
                sqe.len,
                sqe.off as *mut libc::statx,
            )
        },
    };
    result(ret as isize)
}

/// `fcntl(F_GETFL)`.
pub(super) fn fcntl_flags(fd: RawFd) -> i32 {
    // SAFETY: fcntl names no memory; an fd of the submitter's (or just accepted).
    unsafe { libc::fcntl(fd, libc::F_GETFL) }
}

/// `fcntl(F_SETFL)`.
pub(super) fn set_fcntl_flags(fd: RawFd, flags: i32) {
    // SAFETY: as [`fcntl_flags`].
    unsafe { libc::fcntl(fd, libc::F_SETFL, flags) };
}

/// `connect` that a cancel can end: the socket is non-blocking while it connects.
///
/// # Safety
///
/// `addr` points to `addr_len` bytes of a socket address, valid until this returns.
unsafe fn connect(
    fd: RawFd,
    addr: *const libc::sockaddr,
    addr_len: u64,
    intr: &Interrupt<'_>,
) -> i32 {
    let fl = fcntl_flags(fd);
    if fl < 0 {
        return result(fl as isize);
    }
    set_fcntl_flags(fd, fl | libc::O_NONBLOCK);
    // SAFETY: by this function's contract.
    let mut res = result(unsafe { libc::connect(fd, addr, addr_len as u32) } as isize);
    if res == -libc::EINPROGRESS {
        res = match intr.wait(Some(fd), libc::POLLOUT) {
            Woke::Ready => -socket_error(fd),
            _ => -libc::ECANCELED,
        };
    }
    set_fcntl_flags(fd, fl);
    res
}

/// `SO_ERROR` of a socket: how its non-blocking connect ended (0: connected).
fn socket_error(fd: RawFd) -> i32 {
    let mut err: libc::c_int = 0;
    let mut n = std::mem::size_of::<libc::c_int>() as u32;
    // SAFETY: writes `err` and `n`, live locals of the sizes given.
    unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&raw mut err).cast(),
            &mut n,
        )
    };
    err
}

/// `splice`, non-blocking on its pipe end and retried when an end is ready.
///
/// # Safety
///
/// As [`run`].
unsafe fn splice(sqe: &Sqe, intr: &Interrupt<'_>) -> i32 {
    let (fd_in, fd_out) = (sqe.splice_fd_in, sqe.fd);
    let (mut off_in, mut off_out) = (sqe.addr, sqe.off);
    let flags = sqe.op_flags | libc::SPLICE_F_NONBLOCK;
    let mut blocked = None;
    loop {
        // SAFETY: the fds are the submitter's, open until the CQE; the offsets are locals.
        let ret = unsafe {
            libc::splice(
                fd_in,
                offset_ptr(&mut off_in),
                fd_out,
                offset_ptr(&mut off_out),
                sqe.len as usize,
                flags,
            )
        };
        let res = result(ret);
        if res != -libc::EAGAIN {
            return res;
        }
        // It waits for a pipe's peer now, for as long as the peer takes.
        blocked.get_or_insert_with(|| intr.workers.block());
        // Which end is not ready is not said: wait for either to change.
        let mut fds = [
            libc::pollfd {
                fd: fd_in,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: fd_out,
                events: libc::POLLOUT,
                revents: 0,
            },
        ];
        // SAFETY: a live local array; a short timeout so a cancel is seen soon.
        unsafe { libc::poll(fds.as_mut_ptr(), 2, 10) };
        if intr.is_cancelled() {
            return -libc::ECANCELED;
        }
    }
}

/// When a timespec fires: `ts` from now, or at `ts` on the monotonic clock if `absolute`.
pub(super) fn deadline_of(ts: &libc::timespec, absolute: bool) -> Option<Instant> {
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return None;
    }
    let dur = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
    if !absolute {
        return Some(Instant::now() + dur);
    }
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes a live local.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let now = Duration::new(now.tv_sec as u64, now.tv_nsec as u32);
    Some(Instant::now() + dur.saturating_sub(now))
}

/// When the `IORING_OP_LINK_TIMEOUT` `timer` fires (`None` for a bad timespec).
///
/// # Safety
///
/// `timer.addr` points to a `__kernel_timespec` valid now.
pub(super) unsafe fn link_deadline(timer: &Sqe) -> Option<Instant> {
    // SAFETY: by this function's contract.
    let ts = unsafe { *(timer.addr as *const libc::timespec) };
    deadline_of(&ts, timer.op_flags & 1 != 0)
}
