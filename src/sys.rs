//! The few raw system interfaces the safe layers need, each behind a safe function.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Takes ownership of an fd the kernel just created for us (an `openat` CQE result).
///
/// # Safety
///
/// `fd` must be a freshly created open fd that nothing else owns or will close.
pub(crate) unsafe fn own_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: forwarded from this function's contract (invariant 6: the new fd has exactly
    // one owner, so it is closed exactly once).
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// A zeroed `statx` buffer for the kernel to fill.
pub(crate) fn zeroed_statx() -> Box<libc::statx> {
    // SAFETY: `statx` is a plain C struct of integers, for which all-zero bytes are valid.
    Box::new(unsafe { std::mem::zeroed() })
}

/// The soft `RLIMIT_MEMLOCK` in bytes; `None` when unlimited (or unreadable).
pub(crate) fn memlock_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit`, a live local.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &raw mut limit) };
    (rc == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// A non-blocking, close-on-exec eventfd.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: `eventfd` takes no pointers; a non-negative result is a new fd we own.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nobody else (invariant 6).
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A close-on-exec duplicate of `fd` (another reference to the same open file).
pub(crate) fn dup_cloexec(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: `fcntl(F_DUPFD_CLOEXEC)` takes no pointers; a non-negative result is a new fd
    // we own.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `dup` was just created and is owned by nobody else (invariant 6).
    Ok(unsafe { OwnedFd::from_raw_fd(dup) })
}

/// Adds one to an eventfd counter (a wake-up). Errors (counter saturated) are harmless.
pub(crate) fn eventfd_signal(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live local to an fd the caller keeps open.
    let _ = unsafe { libc::write(fd, (&raw const one).cast(), 8) };
}

/// Resets an eventfd counter. `EAGAIN` (already zero) is fine.
pub(crate) fn eventfd_drain(fd: RawFd) {
    let mut value: u64 = 0;
    // SAFETY: reads at most 8 bytes into a live local from an fd the caller keeps open.
    let _ = unsafe { libc::read(fd, (&raw mut value).cast(), 8) };
}

/// `IORING_REGISTER_RING_FDS` / `IORING_UNREGISTER_RING_FDS` (Linux 5.18).
const IORING_REGISTER_RING_FDS: libc::c_uint = 20;
const IORING_UNREGISTER_RING_FDS: libc::c_uint = 21;

/// `struct io_uring_rsrc_update`: one entry of a ring-fd (un)registration.
#[repr(C)]
struct RsrcUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}

fn ring_fds_op(ring_fd: RawFd, op: libc::c_uint, update: &mut RsrcUpdate) -> io::Result<()> {
    // SAFETY: the kernel reads and writes one `io_uring_rsrc_update`, a live exclusive local;
    // `ring_fd` is a ring the caller keeps open.
    let res = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            ring_fd as libc::c_long,
            op as libc::c_long,
            std::ptr::from_mut(update),
            1 as libc::c_long,
        )
    };
    if res < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Registers `ring_fd` in the calling thread's ring table, returning the index that
/// `io_uring_enter` accepts with `IORING_ENTER_REGISTERED_RING` (saving the kernel an fd
/// lookup per call). The table is per thread and holds at most 16 rings.
pub(crate) fn register_ring_fd(ring_fd: RawFd) -> io::Result<u32> {
    let mut update = RsrcUpdate {
        offset: u32::MAX, // any free index
        resv: 0,
        data: ring_fd as u64,
    };
    ring_fds_op(ring_fd, IORING_REGISTER_RING_FDS, &mut update)?;
    Ok(update.offset)
}

/// Releases a ring-table index from [`register_ring_fd`] (on the thread that registered it).
pub(crate) fn unregister_ring_fd(ring_fd: RawFd, index: u32) -> io::Result<()> {
    let mut update = RsrcUpdate {
        offset: index,
        resv: 0,
        data: 0,
    };
    ring_fds_op(ring_fd, IORING_UNREGISTER_RING_FDS, &mut update)
}

/// `IORING_REGISTER_FILE_ALLOC_RANGE` (Linux 6.0).
const IORING_REGISTER_FILE_ALLOC_RANGE: libc::c_uint = 25;

/// `struct io_uring_file_index_range`.
#[repr(C)]
struct FileIndexRange {
    off: u32,
    len: u32,
    resv: u64,
}

/// Restricts the slots the kernel picks for `IORING_FILE_INDEX_ALLOC` in `ring_fd`'s file
/// table to `off..off + len`.
pub(crate) fn register_file_alloc_range(ring_fd: RawFd, off: u32, len: u32) -> io::Result<()> {
    let range = FileIndexRange { off, len, resv: 0 };
    // SAFETY: the kernel reads one `io_uring_file_index_range`, a live local; `ring_fd` is a
    // ring the caller keeps open.
    let res = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            ring_fd as libc::c_long,
            IORING_REGISTER_FILE_ALLOC_RANGE as libc::c_long,
            std::ptr::from_ref(&range),
            0 as libc::c_long,
        )
    };
    if res < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `IORING_ENTER_EXT_ARG`: the last two arguments are an `io_uring_getevents_arg`.
const IORING_ENTER_EXT_ARG: u32 = 1 << 3;

/// `struct io_uring_getevents_arg` (Linux 5.11): no signal mask, an optional timeout.
#[repr(C)]
struct GeteventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    min_wait_usec: u32,
    ts: u64,
}

/// `io_uring_enter`: submits `to_submit` SQEs and, with `IORING_ENTER_GETEVENTS` in `flags`,
/// waits for `min_complete` CQEs — at most `timeout` if given (then `ETIME` when it ran out).
/// `fd` is the ring's fd, or its registered index with `IORING_ENTER_REGISTERED_RING` in
/// `flags`.
///
/// # Safety
///
/// Every SQE the kernel may consume must name memory and fds that stay valid until its
/// final CQE (invariants 1–6).
pub(crate) unsafe fn io_uring_enter(
    fd: RawFd,
    to_submit: u32,
    min_complete: u32,
    flags: u32,
    timeout: Option<std::time::Duration>,
) -> io::Result<usize> {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: libc::c_long::from(t.subsec_nanos() as i32),
    });
    let arg = ts.as_ref().map(|ts| GeteventsArg {
        sigmask: 0,
        sigmask_sz: 0,
        min_wait_usec: 0,
        ts: std::ptr::from_ref(ts) as u64,
    });
    let (flags, arg_ptr, arg_len) = match &arg {
        Some(arg) => (
            flags | IORING_ENTER_EXT_ARG,
            std::ptr::from_ref(arg).cast::<libc::c_void>(),
            size_of::<GeteventsArg>(),
        ),
        None => (flags, std::ptr::null(), 0),
    };
    // SAFETY: the argument, if any, is a live local `io_uring_getevents_arg` whose `ts`
    // points at a live local timespec, both outliving the call; what the kernel reads from
    // the SQ ring is the caller's contract.
    let res = unsafe {
        libc::syscall(
            libc::SYS_io_uring_enter,
            fd as libc::c_long,
            to_submit as libc::c_long,
            min_complete as libc::c_long,
            flags as libc::c_long,
            arg_ptr,
            arg_len as libc::c_long,
        )
    };
    if res < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(res as usize)
}

/// Pins the calling thread to CPU `cpu` (`sched_setaffinity`).
pub(crate) fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: `cpu_set_t` is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: `CPU_SET` writes one bit of `set`, which is alive and large enough for any
    // index below `CPU_SETSIZE` (checked above).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed; pid 0 is this thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &raw const set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
