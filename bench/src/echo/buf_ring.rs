//! A provided buffer ring (`IORING_REGISTER_PBUF_RING`) for the raw server and the load
//! client: page-aligned ring entries shared with the kernel, and the buffers they point into.
//!
//! The kernel keeps using the ring memory until the io_uring instance is closed, so whoever
//! owns a `BufRing` must drop (or leak) the `IoUring` it was registered with first.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::Submitter;
use io_uring::types::BufRingEntry;

/// Size of every buffer in a ring.
pub const BUF: usize = 4096;

pub struct BufRing {
    ring: *mut BufRingEntry,
    layout: Layout,
    count: u16,
    bufs: Vec<u8>,
    tail: u16,
}

impl BufRing {
    /// Registers a ring of `count` (a power of two) buffers of `BUF` bytes as group `bgid`,
    /// all of them given to the kernel.
    pub fn new(submitter: &Submitter<'_>, bgid: u16, count: u16) -> io::Result<BufRing> {
        assert!(count.is_power_of_two());
        let layout =
            Layout::from_size_align(count as usize * std::mem::size_of::<BufRingEntry>(), 4096)
                .expect("valid layout");
        // SAFETY: the layout has a non-zero size.
        let ring = unsafe { alloc_zeroed(layout) }.cast::<BufRingEntry>();
        if ring.is_null() {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        }
        let mut this = BufRing {
            ring,
            layout,
            count,
            bufs: vec![0u8; count as usize * BUF],
            tail: 0,
        };
        // SAFETY: `ring` is page aligned, zeroed and `count` entries long; it lives until
        // `this` drops, which its owner does only after the io_uring is closed (module doc).
        unsafe { submitter.register_buf_ring_with_flags(ring as u64, count, bgid, 0)? };
        for bid in 0..count {
            this.give(bid);
        }
        this.publish();
        Ok(this)
    }

    /// The first `len` bytes of buffer `bid`.
    pub fn buf(&self, bid: u16, len: usize) -> &[u8] {
        &self.bufs[bid as usize * BUF..][..len]
    }

    /// Puts buffer `bid` back at the (unpublished) tail.
    pub fn give(&mut self, bid: u16) {
        let index = self.tail & (self.count - 1);
        let addr = self.bufs[bid as usize * BUF..].as_ptr() as u64;
        // SAFETY: `index < count`, inside the ring allocation; the kernel reads entries only
        // up to the published tail, and this one is past it.
        let entry = unsafe { &mut *self.ring.add(index as usize) };
        entry.set_addr(addr);
        entry.set_len(BUF as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes every buffer given since the last call visible to the kernel.
    pub fn publish(&self) {
        // SAFETY: the ring base is the first entry of a live, initialised ring; the tail
        // field is a u16 the kernel reads with acquire semantics, aligned for AtomicU16.
        let tail = unsafe { &*BufRingEntry::tail(self.ring).cast::<AtomicU16>() };
        tail.store(self.tail, Ordering::Release);
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; the io_uring that used it is closed.
        unsafe { dealloc(self.ring.cast(), self.layout) };
    }
}
