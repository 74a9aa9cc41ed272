//! The submission and completion queues of an io_uring instance, mapped into this process
//! once more for the hot path. The `io-uring` crate keeps its own mapping (setup,
//! registration, probing); its queue views load and store the shared indices on every call.
//! Here the SQ tail is kept locally and published once per `io_uring_enter`, the kernel's SQ
//! head is re-read only when the queue looks full, and the CQ is drained from one load of its
//! tail.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering, fence};

use io_uring::{IoUring, squeue};

use super::slots::CqeResult;

/// `struct io_sqring_offsets`.
#[repr(C)]
#[derive(Clone, Copy)]
struct SqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    flags: u32,
    dropped: u32,
    array: u32,
    resv1: u32,
    user_addr: u64,
}

/// `struct io_cqring_offsets`.
#[repr(C)]
#[derive(Clone, Copy)]
struct CqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    overflow: u32,
    cqes: u32,
    flags: u32,
    resv1: u32,
    user_addr: u64,
}

/// `struct io_uring_params`, as the kernel filled it at setup.
#[repr(C)]
#[derive(Clone, Copy)]
struct Params {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
    sq_thread_cpu: u32,
    sq_thread_idle: u32,
    features: u32,
    wq_fd: u32,
    resv: [u32; 3],
    sq_off: SqOffsets,
    cq_off: CqOffsets,
}

const _: () = assert!(size_of::<Params>() == size_of::<io_uring::Parameters>());
const _: () = assert!(size_of::<squeue::Entry>() == 64);

/// `struct io_uring_cqe` (16 bytes: the ring is never set up with `CQE32`).
#[repr(C)]
struct Cqe {
    user_data: u64,
    res: i32,
    flags: u32,
}

const IORING_OFF_SQ_RING: libc::off_t = 0;
const IORING_OFF_CQ_RING: libc::off_t = 0x800_0000;
const IORING_OFF_SQES: libc::off_t = 0x1000_0000;
const IORING_FEAT_SINGLE_MMAP: u32 = 1 << 0;
const IORING_SETUP_SQE128: u32 = 1 << 10;
const IORING_SETUP_CQE32: u32 = 1 << 11;
const IORING_SQ_NEED_WAKEUP: u32 = 1 << 0;
const IORING_SQ_CQ_OVERFLOW: u32 = 1 << 1;

/// One shared mapping of the ring's memory, unmapped on drop.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn new(fd: RawFd, offset: libc::off_t, len: usize) -> io::Result<Self> {
        // SAFETY: a fresh shared mapping of the ring fd at one of the offsets the kernel
        // defines for it; nothing else is placed at the address the kernel picks.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Self { ptr, len })
    }

    /// The `u32` index at byte `offset` (an offset the kernel reported into this mapping).
    fn index(&self, offset: u32) -> NonNull<AtomicU32> {
        assert!(
            offset as usize + 4 <= self.len,
            "ring offset out of the mapping"
        );
        // SAFETY: in bounds (checked above) of a live mapping; the kernel aligns its indices.
        unsafe { self.ptr.add(offset as usize).cast() }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` made; nothing points into it any more
        // (its `Queues` is being dropped).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// The two queues, written and read in place.
pub(crate) struct Queues {
    sq_head: NonNull<AtomicU32>,
    sq_tail: NonNull<AtomicU32>,
    sq_flags: NonNull<AtomicU32>,
    sqes: NonNull<squeue::Entry>,
    sq_mask: u32,
    sq_entries: u32,
    /// The next SQE to write; published to `sq_tail` by [`Queues::publish`].
    tail: u32,
    /// The kernel's SQ head when last read (it only moves forward).
    head: u32,
    cq_head: NonNull<AtomicU32>,
    cq_tail: NonNull<AtomicU32>,
    cqes: NonNull<Cqe>,
    cq_mask: u32,
    // Kept last: the pointers above point into these.
    _rings: Mapping,
    _cq_ring: Option<Mapping>,
    _sqes: Mapping,
}

impl Queues {
    /// Maps the queues of `uring` (set up with 64-byte SQEs and 16-byte CQEs).
    pub fn map(uring: &IoUring) -> io::Result<Self> {
        // SAFETY: `Parameters` is a transparent wrapper of the kernel's `io_uring_params`
        // (documented so), which `Params` spells out field by field (sizes asserted above).
        let p: Params = unsafe { std::ptr::from_ref(uring.params()).cast::<Params>().read() };
        assert!(
            p.flags & (IORING_SETUP_SQE128 | IORING_SETUP_CQE32) == 0,
            "the ring uses 64-byte SQEs and 16-byte CQEs"
        );
        let fd = std::os::fd::AsRawFd::as_raw_fd(uring);
        let sq_len = p.sq_off.array as usize + p.sq_entries as usize * 4;
        let cq_len = p.cq_off.cqes as usize + p.cq_entries as usize * size_of::<Cqe>();
        let single = p.features & IORING_FEAT_SINGLE_MMAP != 0;
        let rings = Mapping::new(
            fd,
            IORING_OFF_SQ_RING,
            if single { sq_len.max(cq_len) } else { sq_len },
        )?;
        let cq_ring = match single {
            true => None,
            false => Some(Mapping::new(fd, IORING_OFF_CQ_RING, cq_len)?),
        };
        let sqes = Mapping::new(
            fd,
            IORING_OFF_SQES,
            p.sq_entries as usize * size_of::<squeue::Entry>(),
        )?;
        let cq = cq_ring.as_ref().unwrap_or(&rings);
        let read = |m: &Mapping, offset| {
            // SAFETY: an index of the live mapping, read once at setup.
            unsafe { m.index(offset).as_ref() }.load(Ordering::Acquire)
        };
        assert!(cq.len >= cq_len, "CQ mapping holds every CQE");
        Ok(Self {
            sq_head: rings.index(p.sq_off.head),
            sq_tail: rings.index(p.sq_off.tail),
            sq_flags: rings.index(p.sq_off.flags),
            sqes: sqes.ptr.cast(),
            sq_mask: read(&rings, p.sq_off.ring_mask),
            sq_entries: read(&rings, p.sq_off.ring_entries),
            tail: read(&rings, p.sq_off.tail),
            head: read(&rings, p.sq_off.head),
            cq_head: cq.index(p.cq_off.head),
            cq_tail: cq.index(p.cq_off.tail),
            // SAFETY: `cqes` is the CQE array's offset inside the CQ mapping (length checked).
            cqes: unsafe { cq.ptr.add(p.cq_off.cqes as usize).cast() },
            cq_mask: read(cq, p.cq_off.ring_mask),
            _rings: rings,
            _cq_ring: cq_ring,
            _sqes: sqes,
        })
    }

    fn shared(&self, index: NonNull<AtomicU32>) -> &AtomicU32 {
        // SAFETY: every index points into `self`'s live mappings (see `map`).
        unsafe { index.as_ref() }
    }

    /// Writes `entry` into the next free SQE; `false` if the queue is full.
    ///
    /// # Safety
    ///
    /// As [`Kernel::push`](super::kernel::Kernel::push): what `entry` names stays valid
    /// until its final CQE (invariants 1–6).
    #[inline]
    pub unsafe fn push(&mut self, entry: &squeue::Entry) -> bool {
        if self.tail.wrapping_sub(self.head) >= self.sq_entries {
            self.head = self.shared(self.sq_head).load(Ordering::Acquire);
            if self.tail.wrapping_sub(self.head) >= self.sq_entries {
                return false;
            }
        }
        let slot = (self.tail & self.sq_mask) as usize;
        // SAFETY: `slot` < the SQE array's length (`sq_mask` + 1 entries, mapped in `map`).
        let sqe = unsafe { self.sqes.add(slot) };
        // SAFETY: the SQE there is ours: the kernel has consumed everything before `head` and
        // reads nothing at or past the published tail.
        unsafe { sqe.write(entry.clone()) };
        self.tail = self.tail.wrapping_add(1);
        true
    }

    /// Publishes the written SQEs to the kernel (before `io_uring_enter`, or for `SQPOLL`'s
    /// thread to take) and returns how many it has not consumed yet.
    #[inline]
    pub fn publish(&mut self) -> u32 {
        self.shared(self.sq_tail)
            .store(self.tail, Ordering::Release);
        self.head = self.shared(self.sq_head).load(Ordering::Acquire);
        self.tail.wrapping_sub(self.head)
    }

    /// Free SQEs and the queue's size.
    pub fn sq_room(&mut self) -> (usize, usize) {
        self.head = self.shared(self.sq_head).load(Ordering::Acquire);
        let used = self.tail.wrapping_sub(self.head);
        ((self.sq_entries - used) as usize, self.sq_entries as usize)
    }

    /// `SQPOLL`: whether the kernel's thread sleeps and needs a wake-up call.
    pub fn sq_need_wakeup(&self) -> bool {
        // The kernel sets the flag, then re-checks the tail: order our tail store first.
        fence(Ordering::SeqCst);
        self.shared(self.sq_flags).load(Ordering::Relaxed) & IORING_SQ_NEED_WAKEUP != 0
    }

    /// Whether completions wait in the kernel's overflow list.
    #[inline]
    pub fn cq_overflow(&self) -> bool {
        self.shared(self.sq_flags).load(Ordering::Relaxed) & IORING_SQ_CQ_OVERFLOW != 0
    }

    /// Hands every CQE now in the queue to `f`, in order. Each is copied out and consumed
    /// before `f` sees it, so an unwinding `f` loses nor repeats none.
    #[inline]
    pub fn drain(&mut self, mut f: impl FnMut(u64, CqeResult)) {
        let tail = self.shared(self.cq_tail).load(Ordering::Acquire);
        let mut head = self.shared(self.cq_head).load(Ordering::Relaxed);
        while head != tail {
            let slot = (head & self.cq_mask) as usize;
            // SAFETY: `slot` < the CQE array's length (`cq_mask` + 1 entries, mapped in `map`).
            let cqe = unsafe { self.cqes.add(slot) };
            // SAFETY: the kernel wrote the CQEs before `tail` (acquire above) and leaves them
            // alone until the head passes them.
            let cqe = unsafe { cqe.as_ref() };
            let (user_data, res, flags) = (cqe.user_data, cqe.res, cqe.flags);
            head = head.wrapping_add(1);
            self.shared(self.cq_head).store(head, Ordering::Release);
            f(user_data, CqeResult { res, flags });
        }
    }
}
