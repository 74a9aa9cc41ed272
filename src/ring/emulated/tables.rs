//! What io_uring keeps registered, as the fallback keeps it: the file table (each slot its
//! own duplicate of the file, as the kernel holds its own reference), the registered buffers
//! (by address: a fixed-buffer read or write is a plain one checked against them), and the
//! provided-buffer rings, consumed as the kernel consumes them.
#![allow(unsafe_code)] // reads the entries of provided-buffer rings the library registered

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::sqe::{Sqe, flags};

/// `IORING_MAX_FIXED_FILES`.
const MAX_FILES: u32 = 1 << 20;
/// `SPLICE_F_FD_IN_FIXED`: the splice's input names a slot of the file table.
pub(super) const SPLICE_FD_IN_FIXED: u32 = 1 << 31;
/// `IORING_CQE_F_BUFFER`, and the shift of the buffer id in a CQE's flags.
const CQE_F_BUFFER: u32 = 1;
const CQE_BUFFER_SHIFT: u32 = 16;

/// A provided-buffer ring: where its entries are (`struct io_uring_buf`, 16 bytes each; the
/// tail the library moves lives in entry 0), and the head only this side moves.
struct ProvidedRing {
    entries: usize,
    mask: u16,
    head: u16,
}

/// One ring's registrations.
#[derive(Default)]
pub(crate) struct Tables {
    files: Mutex<Option<Vec<Option<Arc<OwnedFd>>>>>,
    buffers: Mutex<Option<Vec<(usize, usize)>>>,
    buf_rings: Mutex<HashMap<u16, ProvidedRing>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// The fds an SQE names, with the files of the slots it names held until it completes (a
/// slot replaced meanwhile does not close what the request uses, as in the kernel).
pub(super) struct Resolved {
    pub sqe: Sqe,
    _held: [Option<Arc<OwnedFd>>; 2],
}

impl Tables {
    /// `IORING_REGISTER_FILES` of `nr` empty slots.
    pub fn register_files_sparse(&self, nr: u32) -> io::Result<()> {
        let mut files = lock(&self.files);
        if files.is_some() {
            return Err(errno(libc::EBUSY));
        }
        if nr == 0 || nr > MAX_FILES {
            return Err(errno(if nr == 0 { libc::EINVAL } else { libc::EMFILE }));
        }
        *files = Some(vec![None; nr as usize]);
        Ok(())
    }

    /// `IORING_UNREGISTER_FILES`.
    pub fn unregister_files(&self) -> io::Result<()> {
        lock(&self.files).take().map(drop).ok_or(errno(libc::ENXIO))
    }

    /// `IORING_REGISTER_FILES_UPDATE`: slot `offset + i` gets a duplicate of `fds[i]`, or is
    /// emptied by `-1`.
    pub fn register_files_update(&self, offset: u32, fds: &[RawFd]) -> io::Result<usize> {
        let mut files = lock(&self.files);
        let table = files.as_mut().ok_or(errno(libc::ENXIO))?;
        let range = offset as usize..offset as usize + fds.len();
        let slots = table.get_mut(range).ok_or(errno(libc::EINVAL))?;
        for (slot, &fd) in slots.iter_mut().zip(fds) {
            *slot = match fd {
                -1 => None,
                fd => Some(Arc::new(crate::sys::dup_cloexec(fd)?)),
            };
        }
        Ok(fds.len())
    }

    /// `IORING_REGISTER_BUFFERS`.
    pub fn register_buffers(&self, iovecs: &[libc::iovec]) -> io::Result<()> {
        let mut buffers = lock(&self.buffers);
        if buffers.is_some() {
            return Err(errno(libc::EBUSY));
        }
        *buffers = Some(
            iovecs
                .iter()
                .map(|v| (v.iov_base as usize, v.iov_len))
                .collect(),
        );
        Ok(())
    }

    /// `IORING_UNREGISTER_BUFFERS`.
    pub fn unregister_buffers(&self) -> io::Result<()> {
        lock(&self.buffers)
            .take()
            .map(drop)
            .ok_or(errno(libc::ENXIO))
    }

    /// `IORING_REGISTER_PBUF_RING` of `count` entries at `entries` for group `bgid` (no
    /// flags: incremental consumption is not emulated).
    pub fn register_buf_ring(
        &self,
        entries: u64,
        count: u16,
        bgid: u16,
        ring_flags: u16,
    ) -> io::Result<()> {
        if !count.is_power_of_two() || ring_flags != 0 || !entries.is_multiple_of(4096) {
            return Err(errno(libc::EINVAL));
        }
        let mut rings = lock(&self.buf_rings);
        if rings.contains_key(&bgid) {
            return Err(errno(libc::EEXIST));
        }
        let ring = ProvidedRing {
            entries: entries as usize,
            mask: count - 1,
            head: 0,
        };
        rings.insert(bgid, ring);
        Ok(())
    }

    /// `sqe` with the fds of the table slots it names (`IOSQE_FIXED_FILE`, a splice's
    /// `SPLICE_F_FD_IN_FIXED`) in their place; `EBADF` for an empty or missing slot.
    pub(super) fn resolve(&self, sqe: &Sqe) -> Result<Resolved, i32> {
        let mut sqe = *sqe;
        let mut held = [None, None];
        if sqe.flags & flags::FIXED_FILE != 0 {
            let file = self.slot(sqe.fd)?;
            sqe.fd = file.as_raw_fd();
            sqe.flags &= !flags::FIXED_FILE;
            held[0] = Some(file);
        }
        let splice = sqe.opcode == io_uring::opcode::Splice::CODE;
        if splice && sqe.op_flags & SPLICE_FD_IN_FIXED != 0 {
            let file = self.slot(sqe.splice_fd_in)?;
            sqe.splice_fd_in = file.as_raw_fd();
            sqe.op_flags &= !SPLICE_FD_IN_FIXED;
            held[1] = Some(file);
        }
        Ok(Resolved { sqe, _held: held })
    }

    fn slot(&self, index: i32) -> Result<Arc<OwnedFd>, i32> {
        let files = lock(&self.files);
        let table = files.as_ref().ok_or(libc::EBADF)?;
        let slot = usize::try_from(index).ok().and_then(|i| table.get(i));
        slot.cloned().flatten().ok_or(libc::EBADF)
    }

    /// Whether `len` bytes at `addr` lie inside registered buffer `index` (what the kernel
    /// checks of `READ_FIXED` / `WRITE_FIXED`).
    pub(super) fn covers(&self, index: u16, addr: u64, len: u32) -> bool {
        let buffers = lock(&self.buffers);
        let Some(&(base, size)) = buffers.as_ref().and_then(|b| b.get(usize::from(index))) else {
            return false;
        };
        let (addr, end) = (addr as usize, addr as usize + len as usize);
        addr >= base && end <= base + size
    }

    /// Runs `call` with the next buffer of group `bgid` (its address and length), and takes
    /// the buffer from the ring only if `call` filled some of it; returns `call`'s result and
    /// the CQE flags naming the buffer taken. `-ENOBUFS` when the ring is empty (or there is
    /// no such group). Under the group's lock: two requests never pick the same buffer.
    ///
    /// # Safety
    ///
    /// The group's entries are the memory registered for it, kept alive by the library while
    /// registered (invariant 8), and the entries between head and tail are the library's
    /// published ones.
    pub(super) unsafe fn with_selected(
        &self,
        bgid: u16,
        call: impl FnOnce(u64, u32) -> i32,
    ) -> (i32, u32) {
        let mut rings = lock(&self.buf_rings);
        let Some(ring) = rings.get_mut(&bgid) else {
            return (-libc::ENOBUFS, 0);
        };
        // SAFETY: the tail is the `resv` u16 at byte 14 of entry 0, naturally aligned in the
        // page-aligned entries, which the library stores with release ordering.
        let tail = unsafe { &*((ring.entries + 14) as *const AtomicU16) }.load(Ordering::Acquire);
        if tail == ring.head {
            return (-libc::ENOBUFS, 0);
        }
        let entry = ring.entries + 16 * usize::from(ring.head & ring.mask);
        // Each read: SAFETY: the entry was published before the tail moved past it (acquire
        // above); `addr` (u64), `len` (u32) and `bid` (u16) are its first fields, aligned.
        // SAFETY: see above.
        let addr = unsafe { std::ptr::read(entry as *const u64) };
        // SAFETY: see above.
        let len = unsafe { std::ptr::read((entry + 8) as *const u32) };
        // SAFETY: see above.
        let bid = unsafe { std::ptr::read((entry + 12) as *const u16) };
        let res = call(addr, len);
        if res <= 0 {
            return (res, 0);
        }
        ring.head = ring.head.wrapping_add(1);
        (res, CQE_F_BUFFER | u32::from(bid) << CQE_BUFFER_SHIFT)
    }
}
